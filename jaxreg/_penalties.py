"""Penalty terms: ``params -> scalar``, and their (sub)gradients.

Conventions (those of A. Oppermann, *Regularization in Deep Learning — L1, L2, and
Dropout*, the guide jaxreg grows out of; kept everywhere in jaxreg):

* L2 adds ``alpha/2 · Σ w²`` to the loss (gradient ``alpha·w``; Oppermann Eq. 1-3).
* L1 adds ``alpha · Σ |w|`` (subgradient ``alpha·sign(w)``, 0 at 0; Oppermann Eq. 5-7).
* Elastic net adds ``alpha·(l1_ratio·Σ|w| + (1 − l1_ratio)/2·Σ w²)``
  (scikit-learn / glmnet).
* Group lasso adds ``alpha · Σ_g √|g|·‖w_g‖₂`` (Yuan & Lin 2006).

``alpha`` is a float, a jax scalar (possibly a tracer, so penalties can be
vmapped and differentiated in alpha) or a per-leaf pytree (shaped like
``params`` or a prefix of it). A value may also be an array that broadcasts to
its leaf without changing the leaf's shape: it weights each entry (for group
lasso: one value per group); any other shape is refused, so a penalty is always
a scalar. ``params`` leaves must be floating-point (Python floats count; ints,
bools and complex numbers are refused). ``mask`` follows ``optax.masked``: a
bool pytree shaped like ``params`` or a prefix of it, or a callable ``params ->
bool pytree`` (``False`` = not penalized, e.g. :func:`jaxreg.masks.weights_only`).
Sums are accumulated in at least float32. Infinite, NaN, negative, ``None``,
string and bool hyperparameters raise ``ValueError``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxreg import _leaf, _trees
from jaxreg._typing import HParam, Mask, Params


def l2_penalty(params: Params, alpha: HParam = 1.0, *, mask: Mask = None) -> jax.Array:
  r"""``alpha/2 · Σ w²`` over all (unmasked) leaves — Oppermann Eq. 1-2, with its ½.

  .. math:: \Omega(W) = \frac{\alpha}{2}\|W\|_2^2,\qquad \nabla\Omega = \alpha W

  Keras' ``L2(l2)`` has no ½: ``l2 = alpha/2`` (see :mod:`jaxreg.conventions`).

  Args:
    params: pytree of arrays.
    alpha: strength ``≥ 0``; float, jax scalar (may be traced) or per-leaf pytree.
    mask: optional bool pytree or callable ``params -> bool pytree``.

  Returns:
    A scalar (float32, or float64 for float64 params).

  Example:
    >>> params = {"kernel": jnp.array([[1., 2.], [3., 4.]]), "bias": jnp.array([5., 6.])}
    >>> jaxreg.l2_penalty(params, 0.1, mask=jaxreg.masks.weights_only)  # 0.1/2·(1 + 4 + 9 + 16)
    Array(1.5, dtype=float32)
  """
  _trees.check("alpha", alpha)
  return _trees.tree_sum(_leaf.l2, params, {"alpha": alpha}, mask=mask)


def l1_penalty(params: Params, alpha: HParam = 1.0, *, mask: Mask = None) -> jax.Array:
  r"""``alpha · Σ |w|`` over all (unmasked) leaves — Oppermann Eq. 5-6 (lasso).

  .. math:: \Omega(W) = \alpha\|W\|_1,\qquad \partial\Omega \ni \alpha\,\mathrm{sign}(W)

  Differentiating this with ``jax.grad`` gives ``alpha·sign(w)`` except at
  exactly 0, where jax's derivative of ``|w|`` is 1: use :func:`jaxreg.add_l1`
  (sign(0) = 0) or, for exact zeros, :func:`jaxreg.proximal_l1`.

  Args:
    params: pytree of arrays.
    alpha: strength ``≥ 0``; float, jax scalar (may be traced) or per-leaf pytree.
    mask: optional bool pytree or callable.

  Example:
    >>> jaxreg.l1_penalty({"w": jnp.array([1., -2.])}, 0.5)
    Array(1.5, dtype=float32)
  """
  _trees.check("alpha", alpha)
  return _trees.tree_sum(_leaf.l1, params, {"alpha": alpha}, mask=mask)


def elastic_net_penalty(params: Params, alpha: HParam = 1.0, l1_ratio: HParam = 0.5, *,
                        mask: Mask = None) -> jax.Array:
  r"""``alpha·(l1_ratio·Σ|w| + (1 − l1_ratio)/2·Σ w²)`` (scikit-learn / glmnet).

  ``l1_ratio = 1`` is :func:`l1_penalty`, ``l1_ratio = 0`` is :func:`l2_penalty`.
  With a data term ``1/(2n)·‖y − Xw‖²`` this is exactly scikit-learn's
  ``ElasticNet(alpha, l1_ratio)`` objective and glmnet's (λ = alpha, α = l1_ratio).

  Args:
    params: pytree of arrays.
    alpha: strength ``≥ 0``; float, jax scalar or per-leaf pytree.
    l1_ratio: mixing in ``[0, 1]``; float, jax scalar or per-leaf pytree.
    mask: optional bool pytree or callable.

  Example:
    >>> jaxreg.elastic_net_penalty(jnp.array([1., -2.]), 1.0, 0.5)  # 0.5*3 + 0.25*5
    Array(2.75, dtype=float32)

  References:
    Zou & Hastie, JRSS-B 2005; Friedman, Hastie & Tibshirani, *Regularization paths
    for generalized linear models via coordinate descent*, JSS 2010.
  """
  _trees.check("alpha", alpha)
  _trees.check("l1_ratio", l1_ratio, high=1.0)
  return _trees.tree_sum(_leaf.enet, params, {"alpha": alpha, "l1_ratio": l1_ratio}, mask=mask)


def group_lasso_penalty(params: Params, alpha: HParam = 1.0, *, group_axis: int = -1,
                        mask: Mask = None) -> jax.Array:
  r"""``alpha · Σ_g √|g| · ‖w_g‖₂`` where each index along ``group_axis`` is a group.

  For a Dense kernel of shape ``(in, out)`` and ``group_axis=-1`` a group is the
  incoming weights of one output neuron, so the penalty switches whole neurons
  off (Oppermann's "hidden neurons become neglectable"). ``|g|`` is the number
  of weights in a group. The gradient at a zero group is 0 (not NaN).

  Args:
    params: pytree of arrays.
    alpha: strength ``≥ 0``; float, jax scalar or per-leaf pytree (an array value
      gives one strength per group: it must broadcast to the group shape, e.g.
      ``(out,)`` for an ``(in, out)`` kernel).
    group_axis: axis whose indices are the groups (an int; negative counts from the end).
    mask: optional bool pytree or callable.

  Example:
    >>> jaxreg.group_lasso_penalty(jnp.array([[3., 0.], [4., 0.]]), 1.0)  # √2·5 + 0
    Array(7.071068, dtype=float32)

  References:
    Yuan & Lin, *Model selection and estimation in regression with grouped
    variables*, JRSS-B 68(1), 2006. Scardapane et al., *Group sparse
    regularization for deep neural networks*, Neurocomputing 2017.
  """
  _trees.check("alpha", alpha)
  group_axis = _trees.check_int("group_axis", group_axis, low=-_trees.MAX_NDIM)

  def leaf(w, alpha):
    norm, size = _leaf.group_norm(w, group_axis)
    return size**0.5 * jnp.sum(alpha * norm)

  return _trees.tree_sum(leaf, params, {"alpha": alpha}, mask=mask, hparam_shape=_trees.per_group(group_axis))
