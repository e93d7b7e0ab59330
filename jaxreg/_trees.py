"""The one place that lifts leaf functions over pytrees and validates hyperparameters.

Every public function of jaxreg takes ``params`` (any pytree of arrays, ``None``
leaves allowed), hyperparameters that are either one value for all leaves or a
pytree with the structure of ``params`` (per-leaf values), and an optional
``mask`` (a bool pytree, or a callable ``params -> bool pytree``; ``False``
means "leave this leaf alone"). This module resolves those three things once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any


def _is_none(x: Any) -> bool:
  return x is None


def flatten(tree: PyTree):
  """Flattens ``tree`` keeping ``None`` as a leaf, so it lines up with masks."""
  return jax.tree_util.tree_flatten(tree, is_leaf=_is_none)


def is_traced(x: Any) -> bool:
  """True for an abstract value under ``jit``/``vmap``/``grad`` (never inspect its value)."""
  return isinstance(x, jax.core.Tracer)


def _key_name(k) -> str:
  for attr in ("key", "name", "idx"):
    if hasattr(k, attr):
      return str(getattr(k, attr))
  return str(k)


def path_str(path, sep: str = "/") -> str:
  """A key path as ``"a/b/0"`` (dict keys, attribute names and indices joined by ``sep``)."""
  return sep.join(_key_name(k) for k in path)


def check(name: str, value: Any, *, low: float = 0.0, high: float = math.inf,
          low_open: bool = False, high_open: bool = False) -> None:
  """Raises ``ValueError`` if a concrete hyperparameter is not a finite number in range.

  ``value`` may be a Python number, an array, a pytree of those (per-leaf
  values) or a schedule (callable). NaN, ``±inf``, ``None``, strings and bools
  are refused, naming ``name`` and the value. Tracers and schedules are not
  inspected: validation never branches on traced data (a traced NaN passes).
  """
  if value is None:
    raise ValueError(f"{name} must be a number, got None.")
  for path, leaf in jax.tree_util.tree_flatten_with_path(value, is_leaf=_is_none)[0]:
    if is_traced(leaf) or callable(leaf) or (leaf is None and path):  # None: a None leaf of params
      continue
    where = f"{name}[{path_str(path)!r}]" if path else name
    arr = _as_real(where, leaf)
    lo_ok = arr > low if low_open else arr >= low
    hi_ok = arr < high if high_open else arr <= high
    if not np.isfinite(arr).all() or not (lo_ok & hi_ok).all():
      raise ValueError(f"{where} must be {_describe(low, high, low_open, high_open)}, got {leaf!r}.")


def _as_real(where: str, leaf: Any) -> np.ndarray:
  """A concrete leaf as a float64 array; ``None``, bools, strings and complex numbers are refused."""
  dtype = getattr(leaf, "dtype", None)
  kind = np.dtype(dtype).kind if dtype is not None else None
  if leaf is None or isinstance(leaf, (bool, np.bool_, str, bytes)) or kind in ("b", "c", "U", "S", "O"):
    raise ValueError(f"{where} must be a real number or array of real numbers, got {leaf!r}.")
  try:
    arr = np.asarray(leaf)
  except (TypeError, ValueError):
    arr = None
  if arr is None or arr.dtype.kind not in "iuf":
    raise ValueError(f"{where} must be a real number or array of real numbers, got {leaf!r}.")
  return arr.astype(np.float64)


def check_int(name: str, value: Any, *, low: int = 1, high: int | None = None,
              allow_none: bool = False) -> int | None:
  """The one checker for integer arguments (sizes, counts, axes): returns ``int(value)``.

  Accepts Python and numpy integers (and integer-valued 0-d integer arrays);
  refuses bools, floats such as ``1.5`` or ``2.0``, strings and ``None``
  (unless ``allow_none``), and values outside ``[low, high]``, with a
  ``ValueError`` naming the argument and the value.
  """
  if value is None and allow_none:
    return None
  ok = (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))) or (
      isinstance(value, (np.ndarray, jax.Array)) and not is_traced(value) and np.ndim(value) == 0
      and np.asarray(value).dtype.kind in "iu")
  if not ok:
    raise ValueError(f"{name} must be an integer{' or None' if allow_none else ''}, got {value!r}.")
  v = int(value)
  if v < low or (high is not None and v > high):
    bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
    raise ValueError(f"{name} must be an integer {bound}, got {v}.")
  return v


def _describe(low, high, low_open, high_open) -> str:
  if high == math.inf:
    return f"a finite number {'>' if low_open else '>='} {low:g}"
  lb, hb = "(" if low_open else "[", ")" if high_open else "]"
  return f"a finite number in {lb}{low:g}, {high:g}{hb}"


def broadcast(name: str, value: Any, treedef, n: int) -> list:
  """One value per leaf: a single value is repeated, a pytree must match ``treedef``."""
  leaves, vdef = flatten(value)
  if jax.tree_util.treedef_is_leaf(vdef) and value is not None:
    return [value] * n
  if vdef != treedef:
    raise ValueError(
        f"{name} is a pytree whose structure {vdef} does not match the structure of "
        f"params {treedef}; pass one value for all leaves or a pytree shaped like params.")
  return leaves


def resolve_mask(mask: Any, params: PyTree, treedef, n: int) -> list[bool]:
  """The mask as one Python bool per leaf of ``params`` (``None`` = all True)."""
  if mask is None:
    return [True] * n
  if callable(mask):
    mask = mask(params)
  leaves, mdef = flatten(mask)
  if mdef != treedef:
    raise ValueError(
        f"mask has structure {mdef}, which does not match the structure of params "
        f"{treedef}; pass a bool pytree shaped like params or a callable params -> mask.")
  return [bool(m) if m is not None else False for m in leaves]


def map_leaves(fn: Callable, params: PyTree, hparams: dict[str, Any], *,
               mask: Any = None, skip: Callable = lambda w: w, others: tuple = ()):
  """Applies ``fn(w, *others_leaves, **hparams_leaf)`` to each regularized leaf.

  Leaves that are ``None`` or masked out get ``skip(w, *others_leaves)``
  (identity on ``w`` by default). ``others`` are extra pytrees with the structure
  of params (updates, optimizer state) passed leaf by leaf. Returns the list of
  per-leaf results and the treedef of ``params``.
  """
  leaves, treedef = flatten(params)
  n = len(leaves)
  per_leaf = {k: broadcast(k, v, treedef, n) for k, v in hparams.items()}
  other_leaves = []
  for i, o in enumerate(others):
    o_leaves, odef = flatten(o)
    if odef != treedef:
      raise ValueError(f"{'updates' if i == 0 else 'state'} has structure {odef}, which does not "
                       f"match the structure of params {treedef}.")
    other_leaves.append(o_leaves)
  keep = resolve_mask(mask, params, treedef, n)
  out = []
  for i, w in enumerate(leaves):
    extra = [o[i] for o in other_leaves]
    if w is None or not keep[i] or (extra and extra[0] is None):  # None update: a frozen leaf (optax)
      out.append(skip(w, *extra))
    else:
      out.append(fn(w, *extra, **{k: v[i] for k, v in per_leaf.items()}))
  return out, treedef


def tree_map(fn: Callable, params: PyTree, hparams: dict[str, Any], *, mask: Any = None,
             others: tuple = ()):
  """Like :func:`map_leaves`, returning a pytree shaped like ``params``.

  Outputs keep each leaf's dtype (bf16 in, bf16 out), whatever dtype the
  hyperparameters have. Masked-out leaves are returned unchanged.
  """
  def same_dtype(w, *extra, **h):
    return fn(w, *extra, **h).astype(jnp.result_type(extra[0] if extra else w))
  skip = (lambda w, *extra: extra[0]) if others else (lambda w: w)
  out, treedef = map_leaves(same_dtype, params, hparams, mask=mask, skip=skip, others=others)
  return treedef.unflatten(out)


def tree_sum(fn: Callable, params: PyTree, hparams: dict[str, Any], *, mask: Any = None):
  """Sum over regularized leaves of the scalar ``fn(w, **hparams_leaf)``."""
  out, _ = map_leaves(fn, params, hparams, mask=mask, skip=lambda w: None)
  terms = [t for t in out if t is not None]
  return sum(terms[1:], terms[0]) if terms else jnp.zeros((), jnp.float32)


def safe_inv(q):
  """``1/q`` where ``q > 0``, else 0 — finite values and finite gradients at ``q = 0``."""
  pos = q > 0
  return jnp.where(pos, 1 / jnp.where(pos, q, 1), 0)


def safe_sqrt(v):
  """``√v`` with a zero (not infinite, not NaN) gradient at ``v = 0`` (the double-where trick)."""
  pos = v > 0
  return jnp.where(pos, jnp.sqrt(jnp.where(pos, v, 1)), 0)


def accum_dtype(w: jax.Array):
  """Penalties accumulate in at least float32, so bf16 weights do not lose the sum."""
  return jnp.promote_types(jnp.result_type(w), jnp.float32)


def group_norm(w: jax.Array, group_axis: int):
  """Euclidean norm of each group (an index along ``group_axis``) and the group size.

  Returns ``(norms, size)`` where ``norms`` keeps the reduced axes (broadcasts
  against ``w``) and ``size`` is the number of weights in one group. A leaf
  with ndim 0 is one group; a 1-D leaf (a bias) has groups of size 1.
  """
  w = jnp.asarray(w)
  if w.ndim == 0:
    return jnp.abs(w.astype(accum_dtype(w))), 1
  if w.ndim >= 2 and not -w.ndim <= group_axis < w.ndim:
    raise ValueError(f"group_axis={group_axis} is out of range for a leaf of shape {w.shape}; "
                     f"use an axis in [{-w.ndim}, {w.ndim}).")
  axis = group_axis % w.ndim  # a 1-D leaf (bias) is groups of size 1 whatever the axis
  other = tuple(a for a in range(w.ndim) if a != axis)
  size = int(np.prod([w.shape[a] for a in other])) if other else 1
  sq = jnp.sum(jnp.square(w.astype(accum_dtype(w))), axis=other, keepdims=True)
  return safe_sqrt(sq), size
