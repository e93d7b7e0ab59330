"""Elementwise and group math on one array: the one place each formula lives.

Everything here acts on a single array ``w`` (a leaf of ``params``) with
hyperparameters already resolved for that leaf; :mod:`jaxreg._trees` lifts
these functions over pytrees, masks and per-leaf hyperparameters. Penalties,
proximal operators, transforms, dropout and the path solvers import their math
from here, never from each other.

Conventions: L2 is ``alpha/2·Σw²`` (gradient ``alpha·w``), L1 ``alpha·Σ|w|``
(subgradient ``alpha·sign(w)``, 0 at 0), elastic net
``alpha·(l1_ratio·Σ|w| + (1 − l1_ratio)/2·Σw²)``; a group is one index along
``group_axis`` (see :func:`group_shape`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def group_shape(shape, group_axis: int) -> tuple[int, ...]:
  """Shape of the per-group values of a leaf of ``shape`` (reduced axes kept as 1).

  A 0-d leaf is one group; a 1-D leaf (a bias) has groups of size 1 whatever
  ``group_axis``; for ``ndim ≥ 2`` each index along ``group_axis`` is a group
  and an axis outside ``[-ndim, ndim)`` raises ``ValueError``.
  """
  shape = tuple(shape)
  if len(shape) <= 1:
    return shape
  if not -len(shape) <= group_axis < len(shape):
    raise ValueError(f"group_axis={group_axis} is out of range for a leaf of shape {shape}; "
                     f"use an axis in [{-len(shape)}, {len(shape)}).")
  axis = group_axis % len(shape)
  return tuple(s if a == axis else 1 for a, s in enumerate(shape))


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

  Returns ``(norms, size)`` where ``norms`` has shape :func:`group_shape` (it
  broadcasts against ``w``) and ``size`` is the number of weights in one group.
  A leaf with ndim 0 is one group; a 1-D leaf (a bias) has groups of size 1.

  The norm is computed as ``m·‖w/m‖`` with ``m = max|w|`` over the group, so it
  neither overflows for large finite weights (float32 ``1e30``, bf16) nor
  underflows to 0 for tiny ones; ``m`` is held constant under differentiation
  (the norm does not depend on it), and an all-zero group has norm 0 with a
  zero (not NaN) gradient.
  """
  w = jnp.asarray(w)
  group_shape(w.shape, group_axis)   # validates group_axis against this leaf
  wa = w.astype(accum_dtype(w))
  if w.ndim <= 1:
    return jnp.abs(wa), 1
  axis = group_axis % w.ndim
  other = tuple(a for a in range(w.ndim) if a != axis)
  size = int(np.prod([w.shape[a] for a in other]))
  m = jax.lax.stop_gradient(jnp.max(jnp.abs(wa), axis=other, keepdims=True))
  scale = jnp.where((m > 0) & (m < jnp.inf), m, 1)   # 0 (a zero group), inf and NaN: divide by 1
  norm = scale * safe_sqrt(jnp.sum(jnp.square(wa / scale), axis=other, keepdims=True))
  return norm, size


def l1(w, alpha):
  # alpha inside the sum: an array alpha (validated to broadcast to w's shape) weights each entry.
  return jnp.sum(alpha * jnp.abs(w.astype(accum_dtype(w))))


def l2(w, alpha):
  return jnp.sum(alpha / 2 * jnp.square(w.astype(accum_dtype(w))))


def enet(w, alpha, l1_ratio):
  return l1(w, alpha * l1_ratio) + l2(w, alpha * (1 - l1_ratio))


def l1_grad(w, alpha):
  """Subgradient ``alpha·sign(w)`` of ``alpha·Σ|w|`` for one array (0 at w = 0; Oppermann Eq. 7)."""
  return alpha * jnp.sign(w)


def l2_grad(w, alpha):
  """Gradient ``alpha·w`` of ``alpha/2·Σw²`` for one array (Oppermann Eq. 3)."""
  return alpha * w


def enet_grad(w, alpha, l1_ratio):
  """(Sub)gradient of the elastic-net term for one array."""
  return l1_grad(w, alpha * l1_ratio) + l2_grad(w, alpha * (1 - l1_ratio))


def soft_threshold(w, threshold):
  """Elementwise ``sign(w)·max(|w| − threshold, 0)`` on one array: the prox of ``threshold·|w|``."""
  return jnp.sign(w) * jnp.maximum(jnp.abs(w) - threshold, 0)


def enet_shrink(w, threshold, l1_ratio):
  """``S(w, t·l1_ratio) / (1 + t·(1 − l1_ratio))`` with ``t = threshold``, on one array: the elastic-net prox."""
  return soft_threshold(w, threshold * l1_ratio) / (1 + threshold * (1 - l1_ratio))


def _group_scale(w, factor_fn, group_axis, at_zero):
  # ``at_zero``: the factor for a group whose computed norm is 0 (all zeros, or so small that its
  # squared norm underflows): 0 for shrinkage, 1 for the projection (such a group is inside the ball).
  norm, size = group_norm(w, group_axis)
  safe = jnp.where(norm > 0, norm, 1.0)  # factor_fn divides by the norm: keep it finite at 0
  return w * jnp.where(norm > 0, factor_fn(safe, size), at_zero).astype(w.dtype)


def group_shrink(w, t, group_axis=-1):
  """Block soft-thresholding of one array (groups = indices along ``group_axis``)."""
  return _group_scale(w, lambda norm, size: jnp.maximum(0.0, 1 - t * size**0.5 / norm), group_axis, 0.0)


def max_norm_project(w, c, group_axis=-1):
  """Rescales each group of one array with ``‖w_g‖ > c`` onto the sphere of radius ``c``."""
  return _group_scale(w, lambda norm, size: jnp.minimum(1.0, c / norm), group_axis, 1.0)
