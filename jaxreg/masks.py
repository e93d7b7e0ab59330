"""Which leaves are regularized.

A mask follows ``optax.masked``'s rules: a bool pytree shaped like ``params``
or a prefix of it (``True`` at a node = every leaf below it; ``None`` leaves =
not regularized), or a function ``params -> such a pytree``. A callable that is
itself a pytree (an equinox ``Module``, a dataclass registered as a pytree with
``__call__``) is a mask pytree, not a function, as in optax. Every penalty,
prox and transform in jaxreg takes one as ``mask=``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import chex
import jax

from jaxreg import _trees
from jaxreg._typing import Params

__all__ = ["by_path", "path_str", "weights_only"]


def weights_only(params: Params) -> chex.ArrayTree:
  """``True`` for leaves with ``ndim ≥ 2`` (kernels), ``False`` for biases and norm scales.

  The default most users want: decaying biases or LayerNorm/BatchNorm scales
  rarely helps (optax issue #25, PyTorch issue #1402).

  Example:
    >>> jaxreg.masks.weights_only({"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)})
    {'bias': False, 'kernel': True}
  """
  return jax.tree_util.tree_map(lambda x: x is not None and getattr(x, "ndim", 0) >= 2,
                                params, is_leaf=lambda x: x is None)


path_str = _trees.path_str


def by_path(pattern: str) -> Callable[[Params], chex.ArrayTree]:
  """A mask callable: ``True`` for leaves whose "/"-joined key path matches ``pattern``.

  Matching uses :func:`re.search`, so ``by_path("kernel")`` selects every leaf
  with "kernel" anywhere in its path and ``by_path(r"^encoder/")`` only the
  encoder's. A pattern that matches no leaf of a non-empty tree warns
  (``UserWarning`` naming the pattern and some of the paths): a typo would
  otherwise regularize nothing.

  Example:
    >>> jaxreg.masks.by_path("kernel")({"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}})
    {'dense': {'bias': False, 'kernel': True}}
  """
  try:
    regex = re.compile(pattern)
  except (re.error, TypeError) as e:
    raise ValueError(f"by_path: pattern must be a valid regular expression, got {pattern!r} ({e}).") from None

  def mask(params):
    out = jax.tree_util.tree_map_with_path(
        lambda p, x: x is not None and regex.search(path_str(p)) is not None,
        params, is_leaf=lambda x: x is None)
    paths = [path_str(p) for p, x in jax.tree_util.tree_flatten_with_path(params, is_leaf=lambda x: x is None)[0]
             if x is not None]
    if paths and not any(jax.tree_util.tree_leaves(out)):
      shown = ", ".join(repr(p) for p in paths[:5]) + (", ..." if len(paths) > 5 else "")
      warnings.warn(f"by_path({pattern!r}) matches no leaf, so nothing is selected (a typo regularizes nothing); "
                    f"the leaf paths are {shown}.", UserWarning, stacklevel=2)
    return out

  return mask
