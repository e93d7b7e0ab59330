"""Regularizers as optax gradient transformations.

Placement is explicit (optax's named optimizers are not consistent about it):

* **Coupled** transforms (:func:`add_l2`, :func:`add_l1`, :func:`add_elastic_net`)
  add the penalty's gradient to the loss gradient, so they go **before** the
  optimizer: ``optax.chain(jaxreg.add_l2(alpha), optax.adam(lr))``.
* **Decoupled / proximal / projection** transforms (:func:`decoupled_weight_decay`,
  :func:`proximal_l1`, :func:`proximal_elastic_net`, :func:`proximal_group_lasso`,
  :func:`cumulative_l1`, :func:`max_norm`) act on the step itself, so they go
  **last**, after the learning rate has been applied:
  ``optax.chain(optax.sgd(lr), jaxreg.proximal_l1(alpha, lr))``.

Every strength and learning rate is data: a Python float, a jax scalar (also a
tracer, so the transform can be built inside ``jax.vmap``/``jax.grad``), a
per-leaf pytree (shaped like ``params`` or a prefix of it; a value may be an
array that broadcasts to its leaf — for the group transforms, to its group
shape — without changing the leaf's shape), or an optax schedule (a callable of
the step count; only then does the transform keep a step counter). Infinite,
NaN, negative, ``None``, string and bool values raise ``ValueError``.

Every transform takes ``mask=`` with ``optax.masked``'s rules (a bool pytree
shaped like ``params`` or a prefix of it, or a callable ``params -> mask``;
``False`` = leave the leaf alone) and needs ``params``, whose leaves must be
floating-point. The transforms also work *inside* ``optax.masked`` and
``optax.multi_transform``: the ``optax.MaskedNode`` subtrees those hand over
pass through untouched. Update dtypes are preserved; ``None`` leaves (and
``None`` updates, frozen leaves) pass through.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxreg import _leaf, _trees
from jaxreg._typing import HParamOrSchedule, Mask


class CountState(NamedTuple):
  """Step counter, kept only when a hyperparameter is a schedule."""
  count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as optax's states do


class CumulativeL1State(NamedTuple):
  """State of :func:`cumulative_l1` (Tsuruoka et al. 2009)."""
  count: jax.Array | None  # type: ignore[assignment]  # only when a hyperparameter is a schedule
  total: Any     # u: per leaf, the total L1 penalty each weight could have received
  applied: Any   # q: per weight, the penalty actually applied so far


def _has_schedule(hparams: dict) -> bool:
  return any(callable(x) for h in hparams.values() for x in _trees.flatten(h)[0])


def _at(hparams: dict, count) -> dict:
  """Evaluates schedules (callables of the step count) at ``count``."""
  return {k: jax.tree_util.tree_map(lambda x: x(count) if callable(x) else x, v)
          for k, v in hparams.items()}


def _require_params(name, params):
  if params is None:
    raise ValueError(f"jaxreg.{name} needs the current parameters: call "
                     "update(updates, state, params) with params.")


def _leafwise(name: str, leaf_fn, hparams: dict, mask, hparam_shape=None) -> optax.GradientTransformation:
  """A transform whose new update leaf is ``leaf_fn(w, u, **hparams_at_step)``."""
  counted = _has_schedule(hparams)

  def init_fn(params):
    del params
    return CountState(jnp.zeros([], jnp.int32)) if counted else optax.EmptyState()

  def update_fn(updates, state, params=None):
    _require_params(name, params)
    h = _at(hparams, state.count) if counted else hparams
    updates = _trees.tree_map(leaf_fn, params, h, mask=mask, updates=updates, hparam_shape=hparam_shape)
    return updates, (CountState(optax.safe_increment(state.count)) if counted else state)

  return optax.GradientTransformation(init_fn, update_fn)


def add_l2(alpha: HParamOrSchedule, *, mask: Mask = None) -> optax.GradientTransformation:
  r"""Coupled L2: ``u ← u + alpha·w``. Chain it **before** the optimizer.

  Adds the gradient of ``alpha/2·‖w‖²`` (Oppermann Eq. 2-3). With plain SGD of
  learning rate ε this is Oppermann Eq. 4, ``W ← (1 − εα)W − ε∇L``; with Adam
  it is *not* weight decay (the penalty's gradient is rescaled by Adam's
  preconditioner — see :func:`decoupled_weight_decay`).

  Args:
    alpha: strength ``≥ 0``: float, jax scalar/tracer, per-leaf pytree or schedule.
    mask: optional bool pytree or callable (e.g. :func:`jaxreg.masks.weights_only`).

  Returns:
    An ``optax.GradientTransformation``.

  Example:
    >>> opt = optax.chain(jaxreg.add_l2(1e-4, mask=jaxreg.masks.weights_only), optax.adam(1e-3))

  References:
    Krogh & Hertz, *A simple weight decay can improve generalization*, NeurIPS 1991.
    optax's ``add_decayed_weights`` (the same update; jaxreg adds traced/per-leaf alphas).
  """
  _trees.check("alpha", alpha)
  return _leafwise("add_l2", lambda w, u, alpha: u + _leaf.l2_grad(w, alpha),
                   {"alpha": alpha}, mask)


def add_l1(alpha: HParamOrSchedule, *, mask: Mask = None) -> optax.GradientTransformation:
  r"""Coupled L1: ``u ← u + alpha·sign(w)`` (Oppermann Eq. 7). Chain it **before** the optimizer.

  A subgradient method: weights oscillate around 0 and are almost never exactly
  0. For exact zeros use :func:`proximal_l1` or :func:`cumulative_l1`.

  Args:
    alpha: strength ``≥ 0``: float, jax scalar/tracer, per-leaf pytree or schedule.
    mask: optional bool pytree or callable.

  Example:
    >>> opt = optax.chain(jaxreg.add_l1(1e-5), optax.sgd(0.1))
  """
  _trees.check("alpha", alpha)
  return _leafwise("add_l1", lambda w, u, alpha: u + _leaf.l1_grad(w, alpha),
                   {"alpha": alpha}, mask)


def add_elastic_net(alpha: HParamOrSchedule, l1_ratio: HParamOrSchedule = 0.5, *, mask: Mask = None) -> optax.GradientTransformation:
  r"""Coupled elastic net: ``u ← u + alpha·(l1_ratio·sign(w) + (1 − l1_ratio)·w)``.

  The (sub)gradient of ``alpha·(l1_ratio·‖w‖₁ + (1 − l1_ratio)/2·‖w‖²)``
  (scikit-learn/glmnet convention). Chain it **before** the optimizer.

  Args:
    alpha: strength ``≥ 0``: float, jax scalar/tracer, per-leaf pytree or schedule.
    l1_ratio: in ``[0, 1]``, same kinds.
    mask: optional bool pytree or callable.

  Example:
    >>> opt = optax.chain(jaxreg.add_elastic_net(1e-4, 0.5), optax.adam(1e-3))
  """
  _trees.check("alpha", alpha)
  _trees.check("l1_ratio", l1_ratio, high=1.0)
  return _leafwise("add_elastic_net",
                   lambda w, u, alpha, l1_ratio: u + _leaf.enet_grad(w, alpha, l1_ratio),
                   {"alpha": alpha, "l1_ratio": l1_ratio}, mask)


def decoupled_weight_decay(weight_decay: HParamOrSchedule, learning_rate: HParamOrSchedule = 1.0, *,
                           mask: Mask = None) -> optax.GradientTransformation:
  r"""Decoupled weight decay: ``u ← u − learning_rate·weight_decay·w``. Chain it **after** the optimizer.

  .. math:: w_{t+1} = w_t + u_t - \eta_t\,\lambda\,w_t

  where ``u_t`` is the optimizer's step (already scaled by its learning rate),
  ``λ = weight_decay`` and ``η_t = learning_rate`` (a float, jax scalar or
  schedule). Every transform that needs the step size takes it the same way,
  as ``learning_rate`` (see :func:`proximal_l1`):

  * ``learning_rate=lr`` (the optimizer's, or its schedule) is PyTorch's
    ``AdamW(lr, weight_decay=wd)`` and ``optax.adamw(lr, weight_decay=wd)``:
    ``optax.chain(optax.adam(lr), jaxreg.decoupled_weight_decay(wd, lr))``.
  * ``learning_rate=1`` (the default) is Loshchilov & Hutter's fully decoupled
    form, where ``weight_decay`` is the per-step shrink factor itself.

  Args:
    weight_decay: ``λ ≥ 0``: float, jax scalar/tracer, per-leaf pytree or schedule.
    learning_rate: ``η ≥ 0`` multiplying ``weight_decay``, the same kinds (default 1).
    mask: optional bool pytree or callable.

  Returns:
    An ``optax.GradientTransformation``.

  Example:
    >>> opt = optax.chain(optax.adam(1e-3), jaxreg.decoupled_weight_decay(1e-2, learning_rate=1e-3))

  References:
    Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.
    PyTorch ``torch.optim.AdamW``; optax ``adamw`` (the same update).
  """
  _trees.check("weight_decay", weight_decay)
  _trees.check("learning_rate", learning_rate)
  return _leafwise("decoupled_weight_decay",
                   lambda w, u, weight_decay, learning_rate: u - _leaf.l2_grad(w, learning_rate * weight_decay),
                   {"weight_decay": weight_decay, "learning_rate": learning_rate}, mask)


def _proximal(name, prox_leaf, hparams, learning_rate, mask, hparam_shape=None):
  """``u ← prox(w + u, learning_rate·alpha) − w``: a proximal-gradient (FOBOS) step (hyperparameters checked by the caller)."""

  def leaf(w, u, learning_rate, alpha, **rest):
    return prox_leaf(w + u, learning_rate * alpha, **rest) - w

  return _leafwise(name, leaf, {"learning_rate": learning_rate, **hparams}, mask, hparam_shape)


def proximal_l1(alpha: HParamOrSchedule, learning_rate: HParamOrSchedule, *, mask: Mask = None) -> optax.GradientTransformation:
  r"""Proximal L1 (ISTA/FOBOS): ``w_new = soft_threshold(w + u, lr·alpha)``. Chain it **last**.

  The step ``u`` comes from any optimizer (already multiplied by its learning
  rate); this transform replaces it with ``prox_l1(w + u, learning_rate·alpha) − w``.
  Weights with ``|w + u| ≤ lr·alpha`` become exactly 0 — Oppermann's "L1 forces
  the weights to zero", which the subgradient :func:`add_l1` does not achieve.
  Pass the optimizer's learning rate (or schedule) as ``learning_rate``.

  Args:
    alpha: strength ``≥ 0`` of ``alpha·‖w‖₁``: float, jax scalar/tracer, per-leaf pytree or schedule.
    learning_rate: ``≥ 0``, the same kinds.
    mask: optional bool pytree or callable.

  Example:
    >>> opt = optax.chain(optax.sgd(0.1), jaxreg.proximal_l1(1e-3, 0.1))

  References:
    Duchi & Singer, JMLR 2009 (FOBOS); Beck & Teboulle, SIAM J. Imaging Sci. 2009 (ISTA).
  """
  _trees.check("alpha", alpha)
  _trees.check("learning_rate", learning_rate)
  return _proximal("proximal_l1", _leaf.soft_threshold, {"alpha": alpha}, learning_rate, mask)


def proximal_elastic_net(alpha: HParamOrSchedule, l1_ratio: HParamOrSchedule, learning_rate: HParamOrSchedule,
                         *, mask: Mask = None) -> optax.GradientTransformation:
  r"""Proximal elastic net: ``w_new = prox_elastic_net(w + u, lr·alpha, l1_ratio)``. Chain it **last**.

  Penalty ``alpha·(l1_ratio·‖w‖₁ + (1 − l1_ratio)/2·‖w‖²)``; see :func:`jaxreg.prox_elastic_net`.

  Args:
    alpha: strength ``≥ 0``.
    l1_ratio: in ``[0, 1]``.
    learning_rate: ``≥ 0``. Each a float, jax scalar/tracer, per-leaf pytree or schedule.
    mask: optional bool pytree or callable.

  Example:
    >>> opt = optax.chain(optax.sgd(0.1), jaxreg.proximal_elastic_net(1e-3, 0.5, 0.1))
  """
  _trees.check("alpha", alpha)
  _trees.check("l1_ratio", l1_ratio, high=1.0)
  _trees.check("learning_rate", learning_rate)
  return _proximal("proximal_elastic_net", _leaf.enet_shrink,
                   {"alpha": alpha, "l1_ratio": l1_ratio}, learning_rate, mask)


def proximal_group_lasso(alpha: HParamOrSchedule, learning_rate: HParamOrSchedule, *, group_axis: int = -1,
                         mask: Mask = None) -> optax.GradientTransformation:
  r"""Proximal group lasso: block soft-thresholding of ``w + u`` with ``lr·alpha``. Chain it **last**.

  Penalty ``alpha·Σ_g √|g|·‖w_g‖₂`` with groups along ``group_axis`` (default:
  one group per output neuron of a Dense kernel); whole groups become exactly
  zero (dead neurons). Apply it with ``mask=jaxreg.masks.weights_only`` so
  biases (1-D leaves, groups of size 1) are left alone.

  Args:
    alpha: strength ``≥ 0``.
    learning_rate: ``≥ 0``. Each a float, jax scalar/tracer, per-leaf pytree or schedule.
    group_axis: the axis that indexes groups (an int; negative counts from the end).
    mask: optional bool pytree or callable.

  Example:
    >>> opt = optax.chain(optax.adam(1e-3), jaxreg.proximal_group_lasso(1e-3, 1e-3, mask=jaxreg.masks.weights_only))

  References:
    Yuan & Lin, JRSS-B 2006; Scardapane et al., Neurocomputing 2017.
  """
  _trees.check("alpha", alpha)
  _trees.check("learning_rate", learning_rate)
  group_axis = _trees.check_int("group_axis", group_axis, low=-_trees.MAX_NDIM)
  return _proximal("proximal_group_lasso",
                   lambda v, t: _leaf.group_shrink(v, t, group_axis),
                   {"alpha": alpha}, learning_rate, mask, _trees.per_group(group_axis))


def max_norm(max_value: HParamOrSchedule, *, group_axis: int = -1, mask: Mask = None) -> optax.GradientTransformation:
  r"""Max-norm constraint: projects ``w + u`` onto ``‖w_g‖₂ ≤ max_value``. Chain it **last**.

  Each group (index along ``group_axis``; default the incoming weights of one
  output unit) is rescaled onto the ball when the step leaves it (Srivastava et
  al. 2014 §5.1, typical ``max_value`` 3-4; Keras ``constraints.MaxNorm(max_value)``, used with dropout).

  Args:
    max_value: the radius ``c``,  ``> 0``: float, jax scalar/tracer, per-leaf pytree or schedule.
    group_axis: the axis that indexes groups (an int; negative counts from the end).
    mask: optional bool pytree or callable (usually :func:`jaxreg.masks.weights_only`).

  Example:
    >>> opt = optax.chain(optax.sgd(0.1, momentum=0.9), jaxreg.max_norm(3.0, mask=jaxreg.masks.weights_only))

  References:
    Srebro & Shraibman, COLT 2005; Srivastava et al., JMLR 15, 2014.
  """
  _trees.check("max_value", max_value, low_open=True)
  group_axis = _trees.check_int("group_axis", group_axis, low=-_trees.MAX_NDIM)
  return _leafwise("max_norm",
                   lambda w, u, max_value: _leaf.max_norm_project(w + u, max_value, group_axis) - w,
                   {"max_value": max_value}, mask, _trees.per_group(group_axis))


def cumulative_l1(alpha: HParamOrSchedule, learning_rate: HParamOrSchedule, *, mask: Mask = None) -> optax.GradientTransformation:
  r"""Cumulative-penalty L1 (Tsuruoka, Tsujii & Ananiadou 2009). Chain it **last**.

  Keeps ``u_k = Σ_{t≤k} lr_t·alpha`` (the total L1 penalty a weight could have
  received) and, per weight, ``q`` (the penalty actually applied). After the
  optimizer's step ``z = w + u_step``:

  .. math::
     w \leftarrow \begin{cases} \max(0,\ z - (u_k + q)) & z > 0 \\
                               \min(0,\ z + (u_k - q)) & z < 0 \\ 0 & z = 0\end{cases},
     \qquad q \leftarrow q + (w - z)

  Weights are pulled towards zero and clipped at it, never crossing, and the
  penalty missed while a weight sat at zero is caught up, so noisy SGD
  gradients do not keep weights away from 0. Gives exact zeros.

  Args:
    alpha: strength ``≥ 0`` (the paper's ``C/N``): float, jax scalar/tracer, per-leaf pytree or schedule.
    learning_rate: ``≥ 0``, the same kinds (the paper's ``η_k``).
    mask: optional bool pytree or callable.

  Example:
    >>> opt = optax.chain(optax.sgd(0.1), jaxreg.cumulative_l1(1e-4, 0.1))

  References:
    Tsuruoka, Tsujii & Ananiadou, *Stochastic Gradient Descent Training for
    L1-regularized Log-linear Models with Cumulative Penalty*, ACL 2009.
  """
  _trees.check("alpha", alpha)
  _trees.check("learning_rate", learning_rate)
  hparams = {"alpha": alpha, "learning_rate": learning_rate}
  counted = _has_schedule(hparams)

  def init_fn(params):
    # u has the shape of lr·alpha on each leaf: () for scalars, more for array values (which
    # map_leaves checks to broadcast to the leaf); q has the leaf's shape.
    count = jnp.zeros([], jnp.int32)
    shapes, treedef = _trees.map_leaves(
        lambda w, alpha, learning_rate: jnp.broadcast_shapes(jnp.shape(alpha), jnp.shape(learning_rate)),
        params, _at(hparams, count) if counted else hparams, mask=mask, skip=lambda w: ())
    leaves = _trees.flatten(params)[0]

    def zeros(w, shape):   # accumulators in at least float32 (float32 for masked-out non-float leaves)
      floating = jnp.issubdtype(jnp.result_type(w), jnp.floating)
      return None if w is None else jnp.zeros(shape, _leaf.accum_dtype(w) if floating else jnp.float32)
    return CumulativeL1State(
        count=count if counted else None,  # a step counter only for schedules
        total=treedef.unflatten([zeros(w, s) for w, s in zip(leaves, shapes)]),
        applied=treedef.unflatten([zeros(w, () if w is None else jnp.shape(w)) for w in leaves]))

  def leaf(w, u, total, applied, alpha, learning_rate):
    total = (total + learning_rate * alpha).astype(total.dtype)
    z = (w + u).astype(applied.dtype)
    new = jnp.where(z > 0, jnp.maximum(0, z - (total + applied)),
                    jnp.where(z < 0, jnp.minimum(0, z + (total - applied)), z))
    return (new - w).astype(u.dtype), total, applied + (new - z)

  def update_fn(updates, state, params=None):
    _require_params("cumulative_l1", params)
    out, treedef = _trees.map_leaves(
        leaf, params, _at(hparams, state.count) if counted else hparams, mask=mask,
        skip=lambda w, u, total, applied: (u, total, applied), updates=updates,
        others=(state.total, state.applied))
    new_u, total, applied = (treedef.unflatten(list(x)) for x in zip(*out)) if out else (updates, state.total, state.applied)
    count = optax.safe_increment(state.count) if counted else None
    return new_u, CumulativeL1State(count, total, applied)

  return optax.GradientTransformation(init_fn, update_fn)
