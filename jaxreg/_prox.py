"""Proximal operators and projections: ``params -> params``.

The proximal operator of a penalty ``t·R`` is
``prox_{tR}(v) = argmin_w ½‖w − v‖² + t·R(w)``. Proximal gradient descent
(ISTA / FOBOS) takes a gradient step on the loss and then applies the prox with
``t = learning_rate · alpha``; unlike a subgradient step it lands on exact zeros.

All functions take any pytree of floating-point arrays (``None`` leaves and
``optax.MaskedNode`` subtrees pass through; Python floats are float leaves,
integer, bool and complex leaves are refused), a threshold that is a float, a
jax scalar (possibly traced) or a per-leaf pytree (shaped like ``params`` or a
prefix of it; a value may be an array that broadcasts to its leaf — for the
group operations, to its group shape — without changing the leaf's shape), and
an optional ``mask`` with ``optax.masked``'s rules (bool pytree shaped like
``params`` or a prefix of it, or a callable; ``False`` leaves are returned
unchanged). Output dtypes equal input dtypes. Infinite, NaN, negative, ``None``,
string and bool thresholds raise ``ValueError``.

References:
  Parikh & Boyd, *Proximal Algorithms*, Foundations and Trends in Optimization 1(3), 2014.
  Duchi & Singer, *Efficient Online and Batch Learning Using Forward Backward Splitting*, JMLR 2009.
"""

from __future__ import annotations

from jaxreg import _leaf, _trees
from jaxreg._typing import HParam, Mask, Params


def prox_l1(params: Params, threshold: HParam, *, mask: Mask = None) -> Params:
  r"""Soft-thresholding, the proximal operator of ``threshold·‖w‖₁``.

  .. math:: \operatorname{prox}(w)_i = \operatorname{sign}(w_i)\max(|w_i| - t, 0)

  Every weight with ``|w| ≤ t`` becomes exactly 0.

  Args:
    params: pytree of arrays.
    threshold: ``t ≥ 0``; a float, a jax scalar (may be traced) or a per-leaf pytree.
    mask: optional bool pytree or callable ``params -> bool pytree``.

  Returns:
    A pytree like ``params``.

  Example:
    >>> jaxreg.prox_l1(jnp.array([-2., 0.5, 3.]), 1.0)
    Array([-1.,  0.,  2.], dtype=float32)

  References:
    Donoho, *De-noising by soft-thresholding*, IEEE Trans. Inf. Theory 1995.
  """
  _trees.check("threshold", threshold)
  return _trees.tree_map(_leaf.soft_threshold, params, {"threshold": threshold}, mask=mask)


def prox_l2(params: Params, threshold: HParam, *, mask: Mask = None) -> Params:
  r"""Ridge shrinkage ``w / (1 + t)``, the proximal operator of ``t·½‖w‖²``.

  Never produces zeros (it only scales towards 0): Oppermann's "L2 encourages the
  weights towards zero, but not exactly zero".

  Args:
    params: pytree of arrays.
    threshold: ``t ≥ 0``; float, jax scalar or per-leaf pytree.
    mask: optional bool pytree or callable.

  Example:
    >>> jaxreg.prox_l2(jnp.array([2., -4.]), 1.0)
    Array([ 1., -2.], dtype=float32)
  """
  _trees.check("threshold", threshold)
  return _trees.tree_map(lambda w, threshold: w / (1 + threshold), params, {"threshold": threshold}, mask=mask)


def prox_elastic_net(params: Params, threshold: HParam, l1_ratio: HParam = 0.5, *, mask: Mask = None) -> Params:
  r"""Proximal operator of ``t·(l1_ratio·‖w‖₁ + (1 − l1_ratio)/2·‖w‖²)``.

  .. math:: \operatorname{prox}(w) = \frac{S(w,\ t\,\rho)}{1 + t(1-\rho)},\quad \rho = \text{l1\_ratio}

  where ``S`` is soft-thresholding (scikit-learn / glmnet convention for the
  penalty). ``l1_ratio = 1`` is :func:`prox_l1`, ``l1_ratio = 0`` is :func:`prox_l2`.

  Args:
    params: pytree of arrays.
    threshold: ``t ≥ 0``; float, jax scalar or per-leaf pytree.
    l1_ratio: in ``[0, 1]``; float, jax scalar or per-leaf pytree.
    mask: optional bool pytree or callable.

  Example:
    >>> jaxreg.prox_elastic_net(jnp.array([3., 0.2]), 1.0, 0.5)
    Array([1.6666667, 0.       ], dtype=float32)

  References:
    Zou & Hastie, *Regularization and variable selection via the elastic net*, JRSS-B 2005.
  """
  _trees.check("threshold", threshold)
  _trees.check("l1_ratio", l1_ratio, high=1.0)
  return _trees.tree_map(_leaf.enet_shrink, params, {"threshold": threshold, "l1_ratio": l1_ratio}, mask=mask)


def prox_group_lasso(params: Params, threshold: HParam, *, group_axis: int = -1, mask: Mask = None) -> Params:
  r"""Block soft-thresholding, the prox of ``t·Σ_g √|g|·‖w_g‖₂``.

  .. math:: w_g \mapsto w_g \max\Bigl(0,\ 1 - \frac{t\sqrt{|g|}}{\|w_g\|_2}\Bigr)

  Each index along ``group_axis`` of a leaf is one group (for a Dense kernel of
  shape ``(in, out)`` and ``group_axis=-1``, the incoming weights of one output
  neuron), ``|g|`` is the number of weights in a group. Whole groups become
  exactly zero: dead neurons.

  Args:
    params: pytree of arrays.
    threshold: ``t ≥ 0``; float, jax scalar or per-leaf pytree.
    group_axis: the axis that indexes groups (an int; negative counts from the end).
    mask: optional bool pytree or callable.

  Example:
    >>> jaxreg.prox_group_lasso(jnp.array([[3., 0.1], [4., 0.1]]), 1.0)  # groups are columns
    Array([[2.1514719, 0.       ],
           [2.8686292, 0.       ]], dtype=float32)

  References:
    Yuan & Lin, *Model selection and estimation in regression with grouped variables*, JRSS-B 2006.
  """
  _trees.check("threshold", threshold)
  group_axis = _trees.check_int("group_axis", group_axis, low=-_trees.MAX_NDIM)
  return _trees.tree_map(lambda w, threshold: _leaf.group_shrink(w, threshold, group_axis),
                         params, {"threshold": threshold}, mask=mask, hparam_shape=_trees.per_group(group_axis))


def project_max_norm(params: Params, max_value: HParam, *, group_axis: int = -1, mask: Mask = None) -> Params:
  r"""Projects every group onto the ball ``‖w_g‖₂ ≤ max_value``.

  .. math:: w_g \mapsto w_g \min\bigl(1,\ c / \|w_g\|_2\bigr)

  Groups are indices along ``group_axis`` (default: the incoming weight vector
  of each output unit of a Dense kernel, as in Srivastava et al. 2014 §5.1).
  Groups inside the ball are unchanged; the projection is idempotent.

  Args:
    params: pytree of arrays.
    max_value: the radius ``c > 0``; float, jax scalar or per-leaf pytree.
    group_axis: the axis that indexes groups (an int; negative counts from the end).
    mask: optional bool pytree or callable.

  Example:
    >>> jaxreg.project_max_norm(jnp.array([[3.], [4.]]), 1.0)
    Array([[0.6],
           [0.8]], dtype=float32)

  References:
    Srivastava et al., *Dropout: A Simple Way to Prevent Neural Networks from
    Overfitting*, JMLR 15, 2014, §5.1.
  """
  _trees.check("max_value", max_value, low_open=True)
  group_axis = _trees.check_int("group_axis", group_axis, low=-_trees.MAX_NDIM)
  return _trees.tree_map(lambda w, max_value: _leaf.max_norm_project(w, max_value, group_axis),
                         params, {"max_value": max_value}, mask=mask, hparam_shape=_trees.per_group(group_axis))
