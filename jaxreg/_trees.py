"""The one place that lifts leaf functions over pytrees and validates hyperparameters.

Every public function of jaxreg takes ``params`` (any pytree of floating-point
arrays; ``None`` leaves and ``optax.MaskedNode`` subtrees pass through),
hyperparameters that are one value for all leaves or a pytree shaped like
``params`` or a prefix of it (per-leaf values, each a scalar or an array that
broadcasts to its leaf without changing the leaf's shape), and an optional
``mask`` with ``optax.masked``'s rules (a bool pytree shaped like ``params`` or
a prefix of it, or a function ``params -> such a pytree``; ``False`` means
"leave this leaf alone"). This module resolves and validates those once
(:func:`map_leaves`); concrete hyperparameter values are checked by
:func:`check` and integer arguments by :func:`check_int`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, overload

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import _leaf

PyTree = Any
MAX_NDIM = 64   # numpy's limit on array dimensions: bounds axis arguments such as group_axis


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
          low_open: bool = False, high_open: bool = False, scalar: bool = False) -> None:
  """Raises ``ValueError`` if a concrete hyperparameter is not a finite number in range.

  ``value`` may be a Python number, an array, a pytree of those (per-leaf
  values) or a schedule (callable). NaN, ``±inf``, ``None``, strings and bools
  are refused, naming ``name`` and the value. With ``scalar=True`` every value
  (each leaf of a per-leaf pytree) must have shape ``()`` — a static check that
  also covers tracers. Tracers' values and schedules are not inspected:
  validation never branches on traced data (a traced NaN passes).
  """
  if value is None:
    raise ValueError(f"{name} must be a number, got None.")
  for path, leaf in jax.tree_util.tree_flatten_with_path(value, is_leaf=_is_none)[0]:
    if callable(leaf) or (leaf is None and path):  # None: a None leaf of params
      continue
    where = f"{name}[{path_str(path)!r}]" if path else name
    if scalar and not isinstance(leaf, (str, bytes)) and np.shape(leaf) != ():
      raise ValueError(f"{where} must be a scalar, got an array of shape {np.shape(leaf)}.")
    if is_traced(leaf):   # its dtype is static: a traced bool or complex value is refused too
      if not jnp.issubdtype(leaf.dtype, jnp.integer) and not jnp.issubdtype(leaf.dtype, jnp.floating):
        raise ValueError(f"{where} must be a real number, got a traced value of dtype {leaf.dtype}.")
      continue
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
  if arr is None or not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
    raise ValueError(f"{where} must be a real number or array of real numbers, got {leaf!r}.")
  return arr.astype(np.float64)


@overload
def check_int(name: str, value: Any, *, low: int = ..., high: int | None = ...,
              allow_none: Literal[False] = ...) -> int: ...
@overload
def check_int(name: str, value: Any, *, low: int = ..., high: int | None = ...,
              allow_none: bool = ...) -> int | None: ...
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


def check_ints(name: str, values: Any, *, low: int = -MAX_NDIM) -> tuple[int, ...]:
  """A list or tuple of integers (axes, a shape) as a tuple of ints, each checked by :func:`check_int`.

  ``low`` bounds every entry (axes may be negative by default); ranges that
  depend on an input's ndim are the caller's to check.
  """
  if not isinstance(values, (list, tuple)):
    raise ValueError(f"{name} must be a tuple of integers, got {values!r}.")
  return tuple(check_int(f"{name}[{i}]", v, low=low) for i, v in enumerate(values))


def _describe(low, high, low_open, high_open) -> str:
  if low == -math.inf and high == math.inf:
    return "a finite number"
  if high == math.inf:
    return f"a finite number {'>' if low_open else '>='} {low:g}"
  lb, hb = "(" if low_open else "[", ")" if high_open else "]"
  return f"a finite number in {lb}{low:g}, {high:g}{hb}"


_NO_UPDATES = object()


def is_mask_fn(mask: Any) -> bool:
  """Whether ``mask`` is a function ``params -> mask`` rather than a mask pytree.

  As in ``optax.masked`` (its issue #913): a callable that is itself a pytree
  node (an equinox ``Module``, a registered dataclass with ``__call__``) is a
  pytree of mask values, not a function. Only a callable that JAX treats as a
  leaf (a function, a lambda, a bound method) is called.
  """
  return callable(mask) and jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(mask))


def expand(name: str, value: Any, params: PyTree, *, what: str = "hyperparameter") -> list:
  """One value per leaf of ``params`` (``None`` leaves included, as :func:`flatten` lists them).

  ``value`` is a single value (used for every leaf), a pytree shaped like
  ``params``, or a **prefix** of it — optax's rule for masks: a value at an
  inner node of ``params`` applies to every leaf below it (``{"encoder": 0.1,
  "decoder": 0.0}``). ``None`` inside ``value`` is a value (a leaf), and
  ``optax.MaskedNode`` subtrees of ``params`` have no leaves, so whatever value
  sits above one is simply unused. Any other mismatch raises ``ValueError``
  naming ``name``.
  """
  leaves, vdef = flatten(value)
  try:
    subtrees = vdef.flatten_up_to(params)
  except (ValueError, TypeError) as e:
    pdef = flatten(params)[1]
    if what == "mask":
      head = f"mask has structure {vdef}, which does not match the structure of params {pdef}"
      hint = "pass a bool pytree shaped like params (or a prefix of it) or a callable params -> mask"
    else:
      head = f"{name} is a pytree whose structure {vdef} does not match the structure of params {pdef}"
      hint = "pass one value for all leaves, or a pytree shaped like params (or a prefix of it)"
    raise ValueError(f"{head} ({e}); {hint}.") from None
  out = []
  for v, sub in zip(leaves, subtrees):
    out.extend([v] * flatten(sub)[1].num_leaves)
  return out


def _mask_value(m: Any, path) -> bool:
  where = f"mask[{path_str(path)!r}]" if path else "mask"
  if m is None:
    return False
  if isinstance(m, (bool, np.bool_)):
    return bool(m)
  if is_traced(m):
    raise ValueError(f"{where} is a traced value; a mask must be concrete (static), like optax's: compute it "
                     "from the tree's structure, paths and shapes, not from traced values.")
  if isinstance(m, (np.ndarray, jax.Array)) and m.ndim == 0 and m.dtype == bool:
    return bool(m)
  raise ValueError(f"{where} must be a bool (True = regularize) or None, got {m!r}.")


def resolve_mask(mask: Any, params: PyTree) -> list[bool]:
  """The mask as one Python bool per leaf of ``params`` (``None`` = every leaf).

  ``mask`` follows ``optax.masked``: a bool pytree shaped like ``params`` or a
  prefix of it (``True`` at a node = every leaf below it), or a function
  ``params -> such a pytree`` (see :func:`is_mask_fn`). ``None`` mask leaves
  mean "not regularized". Mask values must be concrete bools.
  """
  if mask is None:
    return [True] * flatten(params)[1].num_leaves
  if is_mask_fn(mask):
    fn, mask = mask, mask(params)
    if mask is None:
      raise ValueError(f"the mask function {fn!r} returned None; it must return a bool pytree.")
  bools = jax.tree_util.tree_unflatten(flatten(mask)[1], [
      _mask_value(m, p) for p, m in jax.tree_util.tree_flatten_with_path(mask, is_leaf=_is_none)[0]])
  return expand("mask", bools, params, what="mask")


def _float_leaf(what: str, path, x):
  """``x`` as a jax array with a floating dtype, or a ``ValueError`` naming the leaf and its dtype."""
  where = f"{what} leaf {path_str(path)!r}" if path else what
  try:
    arr = jnp.asarray(x)
  except (TypeError, ValueError):
    raise ValueError(f"{where} must be a floating-point array, got {x!r}.") from None
  if not jnp.issubdtype(arr.dtype, jnp.floating):
    raise ValueError(f"{where} has dtype {arr.dtype}: jaxreg regularizes floating-point leaves only (integer, "
                     "bool and complex leaves would be truncated or are not ordered); cast it to a float dtype "
                     "or leave it out with mask=.")
  return arr


def _check_hparam_shape(name: str, value: Any, path, w_shape, target) -> None:
  shape = tuple(np.shape(value))   # static, also for tracers
  try:
    ok = np.broadcast_shapes(shape, target) == tuple(target)
  except ValueError:
    ok = False
  if not ok:
    where = f"params leaf {path_str(path)!r}" if path else "params"
    per = "" if tuple(target) == tuple(w_shape) else f" (one value per group: {tuple(target)})"
    raise ValueError(
        f"{name} has shape {shape}, which does not broadcast to {where} of shape {tuple(w_shape)}{per} without "
        f"changing its shape; pass a scalar, a per-leaf pytree of scalars, or arrays that broadcast to {tuple(target)}.")


def map_leaves(fn: Callable, params: PyTree, hparams: dict[str, Any], *, mask: Any = None,
               skip: Callable = lambda w, *extra: w, updates: Any = _NO_UPDATES, others: tuple = (),
               hparam_shape: Callable | None = None):
  """Applies ``fn(w, [u], *others_leaves, **hparams_leaf)`` to each regularized leaf.

  The rules every public function of jaxreg follows, in one place:

  * ``params`` is any pytree; its leaves are converted with ``jnp.asarray`` and
    must have a floating dtype (Python floats are float leaves; ints, bools and
    complex numbers are refused). ``None`` leaves and ``optax.MaskedNode``
    subtrees (what ``optax.masked`` / ``optax.multi_transform`` hand to an
    inner transform) pass through untouched.
  * ``mask``: see :func:`resolve_mask` (optax's rules).
  * each hyperparameter is one value, a pytree shaped like ``params`` or a
    prefix of it (:func:`expand`); each leaf's value must broadcast to
    ``hparam_shape(w.shape)`` (default: the leaf's shape) without changing it —
    a static shape check, so it holds for tracers too.
  * ``updates`` (optional) is a pytree with the structure of ``params`` whose
    leaves are floating arrays of the leaf's shape; a ``None`` update leaf is a
    frozen leaf (optax) and is skipped. ``others`` are further pytrees with the
    structure of ``params`` passed leaf by leaf (optimizer state, keys).

  Leaves that are ``None``, masked out or frozen get ``skip(w, [u], *others_leaves)``.
  Returns the list of per-leaf results and the treedef of ``params``.
  """
  flat, treedef = jax.tree_util.tree_flatten_with_path(params, is_leaf=_is_none)
  keep = resolve_mask(mask, params)
  per_leaf = {k: expand(k, v, params) for k, v in hparams.items()}
  extras = ([("updates", updates)] if updates is not _NO_UPDATES else []) + [("state", o) for o in others]
  extra_leaves = []
  for what, tree in extras:
    leaves, tdef = flatten(tree)
    if tdef != treedef:
      raise ValueError(f"{what} has structure {tdef}, which does not match the structure of params {treedef}.")
    extra_leaves.append(leaves)
  target_of = hparam_shape or (lambda shape: shape)
  out = []
  for i, (path, w) in enumerate(flat):
    extra = [leaves[i] for leaves in extra_leaves]
    frozen = updates is not _NO_UPDATES and extra[0] is None   # a None update: a frozen leaf (optax)
    if w is None or not keep[i] or frozen:
      out.append(skip(w, *extra))
      continue
    w = _float_leaf("params", path, w)
    if updates is not _NO_UPDATES:
      extra[0] = _float_leaf("updates", path, extra[0])
      if extra[0].shape != w.shape:
        raise ValueError(f"updates leaf {path_str(path)!r} has shape {extra[0].shape}, but the params leaf has "
                         f"shape {w.shape}.")
    target = target_of(w.shape)
    h = {}
    for k, values in per_leaf.items():
      v = values[i]
      if v is None:
        raise ValueError(f"{k} is None for params leaf {path_str(path)!r}, which is regularized; give it a "
                         "number or leave the leaf out with mask=.")
      _check_hparam_shape(k, v, path, w.shape, target)
      h[k] = v
    out.append(fn(w, *extra, **h))
  return out, treedef


def tree_map(fn: Callable, params: PyTree, hparams: dict[str, Any], *, mask: Any = None,
             updates: Any = _NO_UPDATES, hparam_shape: Callable | None = None):
  """Like :func:`map_leaves`, returning a pytree shaped like ``params``.

  Outputs keep each leaf's dtype (bf16 in, bf16 out), whatever dtype the
  hyperparameters have: with ``updates``, ``fn(w, u, **h)`` returns the new
  update, in ``u``'s dtype; masked-out leaves are returned unchanged (``u``
  with ``updates``, else ``w``).
  """
  with_u = updates is not _NO_UPDATES

  def same_dtype(w, *extra, **h):
    return fn(w, *extra, **h).astype(jnp.result_type(extra[0] if with_u else w))
  skip = (lambda w, u: u) if with_u else (lambda w: w)
  out, treedef = map_leaves(same_dtype, params, hparams, mask=mask, skip=skip, updates=updates,
                            hparam_shape=hparam_shape)
  return treedef.unflatten(out)


def tree_sum(fn: Callable, params: PyTree, hparams: dict[str, Any], *, mask: Any = None,
             hparam_shape: Callable | None = None):
  """Sum over regularized leaves of the scalar ``fn(w, **hparams_leaf)``."""
  out, _ = map_leaves(fn, params, hparams, mask=mask, skip=lambda w: None, hparam_shape=hparam_shape)
  terms = [t for t in out if t is not None]
  return sum(terms[1:], terms[0]) if terms else jnp.zeros((), jnp.float32)


def per_group(group_axis: int) -> Callable:
  """The ``hparam_shape`` of group operations: one value per group, broadcasting to :func:`group_shape`."""
  return lambda shape: _leaf.group_shape(shape, group_axis)
