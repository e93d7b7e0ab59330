"""Dropout and its variants as pure functions of a PRNG key.

Convention (kept by every function here): ``rate`` is the probability that a
unit is **dropped** — Oppermann's P, and what Keras, PyTorch and flax call
``rate``/``p``. Srivastava et al. (2014) write the *keep* probability
``p = 1 − rate``; their formulas are quoted with that ``p``.

``rate`` is data: a Python float, a jax scalar, or a tracer (so
``jax.vmap(lambda r: dropout(key, x, r))(rates)`` is one compiled program).
Concrete rates outside ``[0, 1]``, NaN, ``±inf``, ``None``, strings and bools
raise ``ValueError``, and so does a rate that is not a scalar (also when traced:
shapes are static); traced values are never inspected. Inputs ``x`` must be
floating-point arrays. At ``rate = 0`` every function returns its input bit for bit
(traced or not: the mask is all-true and the scale is exactly 1), at
``rate = 1`` it returns zeros (no NaN, no inf; divisions by ``1 − rate`` are
guarded), and ``deterministic=True`` (a Python bool) returns the input itself.
Outputs have the input's dtype; the arithmetic runs in at least float32 (float64
for float64 inputs), so a bf16 activation is scaled by the exactly rounded
``1/(1 − rate)``. Keep-masks compare float32 uniforms with ``rate``, so a mask
depends only on the key, the shape and the rate (resolution 2⁻²³), never on dtypes.

``broadcast_dims`` lists dimensions along which one draw is shared: for NHWC
images ``broadcast_dims=(1, 2)`` drops whole channels (spatial dropout,
Tompson et al. 2015); for ``(batch, time, features)`` ``broadcast_dims=(1,)``
uses one mask for every time step (variational / locked dropout, Gal &
Ghahramani 2016).

References:
  Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, *Dropout: A Simple
  Way to Prevent Neural Networks from Overfitting*, JMLR 15, 2014.
  Gal & Ghahramani, *Dropout as a Bayesian Approximation*, ICML 2016, and
  *A Theoretically Grounded Application of Dropout in Recurrent Neural
  Networks*, NeurIPS 2016.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import chex
import jax
import jax.numpy as jnp

from jaxreg import _leaf, _penalties, _trees
from jaxreg._typing import HParam, Mask, Params, PRNGKey, Scalar

# SELU constants (Klambauer et al. 2017, Eq. 14), and alpha' = -lambda * alpha.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946
ALPHA_PRIME = -SELU_LAMBDA * SELU_ALPHA


def _as_float(value):
  """``value`` as an array of at least float32 (for mask comparisons and the concrete regularizer)."""
  # result_type keeps weak types weak: a Python float stays float32 even with jax_enable_x64.
  return jnp.asarray(value, jnp.result_type(value, jnp.float32))


def _noisy_input(key, x, broadcast_dims, deterministic):
  """``None`` when ``deterministic`` (the caller returns ``x``); else ``(key, x as an array, compute dtype)``.

  ``broadcast_dims`` is checked either way; ``key=None`` is allowed only when deterministic.
  """
  _trees.check_ints("broadcast_dims", broadcast_dims)
  if deterministic:
    return None
  if key is None:
    raise ValueError("key is None, but a PRNG key (jax.random.key(0)) is needed unless deterministic=True.")
  x = jnp.asarray(x)
  return key, x, _compute_dtype(x)


def _compute_dtype(x):
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(f"x must be a floating-point array, got dtype {x.dtype}: dropout needs a floating-point input.")
  return jnp.promote_types(x.dtype, jnp.float32)


_safe_inv, _safe_sqrt = _leaf.safe_inv, _leaf.safe_sqrt


def _draw_shape(shape: Sequence[int], broadcast_dims: Sequence[int]) -> tuple[int, ...]:
  """``shape`` with 1 in every broadcast dimension (one draw shared along it)."""
  shape = tuple(int(s) for s in shape)
  draw = list(shape)
  for d in _trees.check_ints("broadcast_dims", broadcast_dims):
    if not -len(shape) <= d < len(shape):
      raise ValueError(f"broadcast_dims must hold integers in [{-len(shape)}, {len(shape)}) for an "
                       f"input of shape {shape}, got {tuple(broadcast_dims)!r}.")
    draw[d] = 1
  return tuple(draw)


def _keep(key, shape, rate, broadcast_dims):
  """The bool keep-mask drawn at the reduced shape (broadcasts against ``shape``)."""
  # ``u ≥ rate`` with u ~ U[0, 1): P(keep) = 1 − rate, exactly all-true at rate 0 and
  # all-false at rate 1, and no rounding of 1 − rate for small rates. u is always float32
  # (resolution 2⁻²³), so the mask depends on the key and shape only, not on dtypes.
  u = jax.random.uniform(key, _draw_shape(shape, broadcast_dims), jnp.float32)
  return u >= _as_float(rate)


def dropout_mask(key: PRNGKey, shape: Sequence[int], rate: Scalar, *, broadcast_dims: Sequence[int] = ()) -> jax.Array:
  r"""A boolean keep-mask: ``True`` = kept, with ``P(True) = 1 − rate``.

  Each entry is an independent Bernoulli(``1 − rate``) draw, except along
  ``broadcast_dims``, where one draw is shared (channel / locked dropout).

  Args:
    key: a PRNG key.
    shape: shape of the mask, a tuple of integers.
    rate: probability of **dropping** (``False``), in ``[0, 1]``; float or jax
      scalar (may be traced). Srivastava et al.'s keep probability is ``p = 1 − rate``.
    broadcast_dims: dimensions that share one draw.

  Returns:
    A bool array of shape ``shape``.

  Example:
    >>> m = jaxreg.dropout_mask(jax.random.key(0), (2, 8, 8, 3), 0.5, broadcast_dims=(1, 2))
    >>> bool((m == m[:, :1, :1, :]).all())  # whole channels kept or dropped
    True

  References:
    Srivastava et al., JMLR 2014 (§4, the Bernoulli mask ``r ~ Bernoulli(p)``).
    Tompson et al., *Efficient Object Localization Using Convolutional Networks*, CVPR 2015.
  """
  _trees.check("rate", rate, high=1.0, scalar=True)
  shape = _trees.check_ints("shape", shape, low=0)
  return jnp.broadcast_to(_keep(key, shape, rate, broadcast_dims), shape)


def dropout(key: PRNGKey | None, x: jax.Array, rate: Scalar, *, broadcast_dims: Sequence[int] = (),
            deterministic: bool = False) -> jax.Array:
  r"""Inverted dropout: zero each unit with probability ``rate``, scale the rest by ``1/(1 − rate)``.

  .. math:: y = \frac{r \odot x}{1 - \mathrm{rate}},\quad r_i \sim \mathrm{Bernoulli}(1 - \mathrm{rate}),
            \qquad \mathbb{E}[y] = x

  This is Srivastava et al.'s weight-scaling rule applied at training time, so
  the network is used unchanged at test time (``deterministic=True``).

  Args:
    key: a PRNG key.
    x: floating-point array.
    rate: probability of dropping a unit, in ``[0, 1]`` (keep probability
      ``p = 1 − rate`` in Srivastava et al.); float or jax scalar (may be traced).
    broadcast_dims: dimensions that share one mask draw (e.g. ``(1, 2)`` for NHWC
      channel dropout, ``(1,)`` for a mask shared over time).
    deterministic: Python bool; if ``True`` return ``x`` unchanged (evaluation).

  Returns:
    An array like ``x`` (same shape and dtype). ``rate = 0`` gives ``x`` bit for
    bit, ``rate = 1`` gives zeros.

  Example:
    >>> y = jaxreg.dropout(jax.random.key(0), jnp.ones(4), 0.5)  # entries are 0 or 2

  References:
    Srivastava et al., JMLR 2014; Hinton et al., arXiv:1207.0580, 2012.
  """
  _trees.check("rate", rate, high=1.0, scalar=True)
  noisy = _noisy_input(key, x, broadcast_dims, deterministic)
  if noisy is None:
    return x
  key, x, dt = noisy
  scale = _safe_inv(1 - jnp.asarray(rate, dt))
  keep = _keep(key, x.shape, rate, broadcast_dims)
  return jnp.where(keep, x.astype(dt) * scale, 0).astype(x.dtype)


def gaussian_dropout(key: PRNGKey | None, x: jax.Array, rate: Scalar, *, broadcast_dims: Sequence[int] = (),
                     deterministic: bool = False) -> jax.Array:
  r"""Multiplicative Gaussian noise with the mean and variance of inverted dropout.

  .. math:: y = x \odot (1 + \sigma\varepsilon),\quad \varepsilon \sim N(0, 1),\quad
            \sigma^2 = \frac{\mathrm{rate}}{1 - \mathrm{rate}} = \frac{1 - p}{p}

  (Srivastava et al. §10 with keep probability ``p = 1 − rate``; the
  "Gaussian dropout" of Wang & Manning 2013 and Kingma et al. 2015.)
  ``rate = 1`` (infinite noise variance) returns zeros, by the same
  convention as :func:`dropout`.

  Args:
    key: a PRNG key.
    x: floating-point array.
    rate: in ``[0, 1]``; float or jax scalar (may be traced).
    broadcast_dims: dimensions that share one noise draw.
    deterministic: Python bool; if ``True`` return ``x`` unchanged.

  Returns:
    An array like ``x``.

  References:
    Srivastava et al., JMLR 2014, §10 (Multiplicative Gaussian noise).
    Kingma, Salimans & Welling, *Variational Dropout and the Local
    Reparameterization Trick*, NeurIPS 2015.
  """
  _trees.check("rate", rate, high=1.0, scalar=True)
  noisy = _noisy_input(key, x, broadcast_dims, deterministic)
  if noisy is None:
    return x
  key, x, dt = noisy
  rate_f = jnp.asarray(rate, dt)
  keep_prob = 1 - rate_f
  std = _safe_sqrt(rate_f * _safe_inv(keep_prob))
  eps = jax.random.normal(key, _draw_shape(x.shape, broadcast_dims), dt)
  # At rate 0, std = 0 and 1 + 0·eps = 1 exactly, so y = x bit for bit.
  y = x.astype(dt) * (1 + std * eps)
  return jnp.where(keep_prob > 0, y, 0).astype(x.dtype)


def alpha_dropout(key: PRNGKey | None, x: jax.Array, rate: Scalar, *, broadcast_dims: Sequence[int] = (),
                  deterministic: bool = False) -> jax.Array:
  r"""Alpha dropout (Klambauer et al. 2017): keeps the mean and variance of SELU activations.

  Dropped units are set to the SELU's negative saturation
  ``α′ = −λα ≈ −1.7581`` (not to 0), then an affine map restores mean 0 and
  variance 1. With keep probability ``q = 1 − rate`` and ``d ~ Bernoulli(q)``:

  .. math:: y = a\,(d\,x + (1 - d)\,\alpha') + b,\qquad
            a = \bigl(q + \alpha'^2 q (1 - q)\bigr)^{-1/2},\qquad b = -a\,(1 - q)\,\alpha'

  For inputs with mean ``μ`` and variance ``ν``:
  ``E[y] = a(qμ + (1 − q)α′) + b`` and ``Var[y] = a²(qν + q(1 − q)(α′ − μ)²)``,
  which are 0 and 1 when ``μ = 0, ν = 1``.

  Args:
    key: a PRNG key.
    x: floating-point array (SELU activations).
    rate: probability of dropping, in ``[0, 1]``; float or jax scalar (may be traced).
    broadcast_dims: dimensions that share one mask draw.
    deterministic: Python bool; if ``True`` return ``x`` unchanged.

  Returns:
    An array like ``x``; ``rate = 0`` gives ``x`` bit for bit, ``rate = 1`` zeros
    (the ``q → 0`` limit of ``a·α′ + b = a·α′·q``).

  References:
    Klambauer, Unterthiner, Mayr & Hochreiter, *Self-Normalizing Neural Networks*,
    NeurIPS 2017, §"New Dropout Technique" (Eq. 14 for λ, α).
  """
  _trees.check("rate", rate, high=1.0, scalar=True)
  noisy = _noisy_input(key, x, broadcast_dims, deterministic)
  if noisy is None:
    return x
  key, x, dt = noisy
  q = 1 - jnp.asarray(rate, dt)
  a = _safe_inv(_safe_sqrt(q + ALPHA_PRIME**2 * q * (1 - q)))
  # b = −a(1 − q)α′ written as aα′·(q − 1): at q = 1 this is −0.0, so a·x + b = x bit for bit.
  b = a * ALPHA_PRIME * (q - 1)
  dropped = a * ALPHA_PRIME * q  # = a·α′ + b
  keep = _keep(key, x.shape, rate, broadcast_dims)
  return jnp.where(keep, a * x.astype(dt) + b, dropped).astype(x.dtype)


def drop_connect(key: PRNGKey, params: Params, rate: HParam, *, mask: Mask = None) -> Params:
  r"""DropConnect: drop individual weights (not units) with probability ``rate``.

  Applies :func:`dropout` to every (unmasked) leaf of ``params``, each with its
  own key from ``jax.random.split(key)``, so ``E[drop_connect(w)] = w``. Use the
  result in the forward pass only (``y = x @ drop_connect(key, W, rate)``).

  Wan et al. do not rescale the kept weights and use a Gaussian moment-matching
  approximation at test time; the inverted scaling here (as in PyTorch-based
  weight-drop implementations) keeps the mean so the plain weights are used at
  test time.

  Args:
    key: a PRNG key.
    params: an array or a pytree of arrays (``None`` leaves pass through).
    rate: probability of dropping a weight, in ``[0, 1]``; float, jax scalar (may
      be traced) or per-leaf pytree of scalars (shaped like ``params`` or a prefix of it).
    mask: optional bool pytree (shaped like ``params`` or a prefix of it) or callable
      ``params -> bool pytree`` (``False`` = leave the leaf alone, e.g. :func:`jaxreg.masks.weights_only`).

  Returns:
    A pytree like ``params`` (same dtypes).

  Example:
    >>> params = {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)}
    >>> W = jaxreg.drop_connect(jax.random.key(0), params, 0.5, mask=jaxreg.masks.weights_only)
    >>> sorted(set(W["kernel"].ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0]), W["bias"].tolist()
    (True, [1.0, 1.0, 1.0])

  References:
    Wan, Zeiler, Zhang, LeCun & Fergus, *Regularization of Neural Networks using
    DropConnect*, ICML 2013.
  """
  _trees.check("rate", rate, high=1.0, scalar=True)
  leaves, treedef = _trees.flatten(params)
  keys = treedef.unflatten(list(jax.random.split(key, max(len(leaves), 1))[:len(leaves)]))
  out, treedef = _trees.map_leaves(lambda w, k, rate: dropout(k, w, rate), params, {"rate": rate},
                                   mask=mask, skip=lambda w, k: w, others=(keys,))
  return treedef.unflatten(out)


def concrete_dropout(key: PRNGKey | None, x: jax.Array, rate_logit: Scalar, *, temperature: Scalar = 0.1,
                     broadcast_dims: Sequence[int] = (), deterministic: bool = False) -> jax.Array:
  r"""Concrete dropout: a relaxed (differentiable) Bernoulli mask with a learnable rate.

  With ``rate = sigmoid(rate_logit)`` and ``u ~ U(0, 1)``:

  .. math:: \tilde z = \operatorname{sigmoid}\Bigl(-\frac{\mathrm{rate\_logit} + \log u - \log(1 - u)}{t}\Bigr),
            \qquad y = \frac{\tilde z \odot x}{1 - \mathrm{rate}}

  ``z̃`` is the keep-mask relaxed with temperature ``t``; ``z̃ > ½`` with probability
  exactly ``1 − rate``, and ``z̃ → Bernoulli(1 − rate)`` as ``t → 0``. The
  gradient flows to ``rate_logit``. Learn it by adding
  :func:`concrete_dropout_regularizer` to the loss.

  This is Gal et al.'s reference code with the rate parametrized by its logit
  (``log p − log(1 − p)`` is then exactly ``rate_logit``), so the ``eps = 1e-7``
  inside their logs is not needed; ``log u − log(1 − u)`` is drawn with
  ``jax.random.logistic`` (finite), and ``z̃/(1 − rate)`` is computed in log space,
  so output and gradient are finite for every finite ``rate_logit`` (e.g. ±1e4)
  when ``t ≤ 1``. A concrete infinite ``rate_logit`` is refused (use
  :func:`dropout` with rate 0 or 1); a traced ``−inf`` returns ``x`` bit for bit
  and a traced ``+inf`` returns zeros.

  Args:
    key: a PRNG key.
    x: floating-point array.
    rate_logit: ``logit(rate)``, a finite float or jax scalar (may be traced and
      differentiated); NaN and ``±inf`` raise.
    temperature: ``t > 0`` of the relaxation, a scalar (Gal et al. use 0.1).
    broadcast_dims: dimensions that share one draw.
    deterministic: Python bool; if ``True`` return ``x`` unchanged.

  Returns:
    An array like ``x``.

  References:
    Gal, Hron & Kendall, *Concrete Dropout*, NeurIPS 2017 (Eq. 5 and their code,
    github.com/yaringal/ConcreteDropout). Maddison et al. / Jang et al., ICLR 2017.
  """
  _trees.check("rate_logit", rate_logit, low=-math.inf, scalar=True)
  _trees.check("temperature", temperature, low_open=True, scalar=True)
  noisy = _noisy_input(key, x, broadcast_dims, deterministic)
  if noisy is None:
    return x
  key, x, dt = noisy
  logit = jnp.asarray(rate_logit, dt)
  noise = jax.random.logistic(key, _draw_shape(x.shape, broadcast_dims), dt)
  # z̃/(1 − rate) = exp(log σ(−(logit + noise)/t) + softplus(logit)): no division by σ(−logit), which
  # underflows to 0 for large logits (and whose derivative overflows long before), so the value and
  # the gradient are finite for every finite logit (for t ≤ 1 the exponent is at most ≈ 88).
  scale = jnp.exp(jax.nn.log_sigmoid(-(logit + noise) / jnp.asarray(temperature, dt)) + jax.nn.softplus(logit))
  y = x.astype(dt) * scale
  return jnp.where(logit < jnp.inf, y, 0).astype(x.dtype)   # a traced +inf logit: rate 1, zeros


def concrete_dropout_regularizer(rate_logit: Scalar, weights: Params, *, input_dim: int,
                                 weight_regularizer: Scalar = 1e-6, dropout_regularizer: Scalar = 1e-5,
                                 mask: Mask = None) -> jax.Array:
  r"""The regularizer of concrete dropout (Gal, Hron & Kendall 2017), to add to the loss.

  With ``rate = sigmoid(rate_logit)``, ``W`` the weights of the layer that
  *receives* the dropped input and ``K = input_dim`` the number of dropped units:

  .. math:: R = \mathrm{weight\_regularizer}\,\frac{\|W\|^2}{1 - \mathrm{rate}}
            \;-\; \mathrm{dropout\_regularizer}\cdot K\cdot \mathcal H(\mathrm{rate}),
            \qquad \mathcal H(p) = -p\log p - (1 - p)\log(1 - p)

  exactly the term of the authors' reference code (``kernel_regularizer +
  dropout_regularizer``). The paper's choices are
  ``weight_regularizer = l²/N`` (prior length-scale ``l``, ``N`` training points)
  and ``dropout_regularizer = 2/N`` (``2/(τN)`` with model precision ``τ``);
  the defaults are their code's. The weight term grows with the rate
  (``1/(1 − rate)``) and so pushes it down; the entropy term pulls it toward ½.

  Args:
    rate_logit: ``logit(rate)``; a finite float or jax scalar (may be traced and differentiated).
    weights: array or pytree of the following layer's weights (``None`` leaves
      are ignored), e.g. its kernel.
    input_dim: ``K``, the number of units the dropout acts on (the layer's fan-in), an int ``≥ 1``.
    weight_regularizer: ``≥ 0``, ``l²/N``, a scalar.
    dropout_regularizer: ``≥ 0``, ``2/N``, a scalar.
    mask: optional mask for ``weights`` (see :func:`jaxreg.l2_penalty`).

  Returns:
    A scalar of at least float32. The entropy term and all gradients are finite
    for every finite ``rate_logit``; the weight term ``‖W‖²/(1 − rate) = ‖W‖²(1 +
    e^rate_logit)`` is too, until it exceeds the float range (``rate_logit`` above
    ≈ 88 in float32), where it is ``+inf`` — the true value, not a silent 0.

  Example:
    >>> logit = jnp.log(0.1 / 0.9)                  # rate 0.1
    >>> kernel = jnp.ones((4, 3))                   # the weights after the dropout layer
    >>> reg = jaxreg.concrete_dropout_regularizer(logit, kernel, input_dim=4, weight_regularizer=1e-2,
    ...                                           dropout_regularizer=1e-2)
    >>> round(float(reg), 4)  # 1e-2·12/0.9 − 1e-2·4·H(0.1)
    0.1203

  References:
    Gal, Hron & Kendall, *Concrete Dropout*, NeurIPS 2017, Eq. 3-4 and their code.
  """
  _trees.check("rate_logit", rate_logit, low=-math.inf, scalar=True)
  input_dim = _trees.check_int("input_dim", input_dim, low=1)
  _trees.check("weight_regularizer", weight_regularizer, scalar=True)
  _trees.check("dropout_regularizer", dropout_regularizer, scalar=True)
  logit = _as_float(rate_logit)
  sum_sq = _penalties.l2_penalty(weights, 2.0, mask=mask)  # alpha/2·Σw² with alpha = 2: Σw²
  # 1/(1 − rate) = 1 + e^logit = exp(softplus(logit)): no division by σ(−logit), which underflows to 0
  # for large logits. The double where keeps the gradient finite at sum_sq = 0.
  log_inv_keep = jnp.where(sum_sq > 0, jax.nn.softplus(logit), 0)
  weight_term = weight_regularizer * sum_sq * jnp.exp(log_inv_keep)
  # H(rate) = −p log p − (1 − p) log(1 − p) with log p = log σ(logit), log(1 − p) = log σ(−logit): both
  # finite for finite logits, so H and its gradient are finite (an entr-based form has log 0 there).
  entropy = -(jax.nn.sigmoid(logit) * jax.nn.log_sigmoid(logit)
              + jax.nn.sigmoid(-logit) * jax.nn.log_sigmoid(-logit))
  return jnp.asarray(weight_term - dropout_regularizer * input_dim * entropy)


def mc_predict(fn: Callable[[PRNGKey], chex.ArrayTree], key: PRNGKey, n_samples: int, *,
               batch_size: int | None = None) -> tuple[chex.ArrayTree, chex.ArrayTree]:
  r"""Monte-Carlo dropout prediction: mean and variance of ``fn(key_i)`` over split keys.

  .. math:: \hat\mu = \frac1T\sum_{i=1}^T f(k_i),\qquad
            \hat\sigma^2 = \frac1T\sum_{i=1}^T f(k_i)^2 - \hat\mu^2

  (Gal & Ghahramani 2016, Eq. 8 without the ``τ⁻¹`` observation noise; the
  variance divides by ``T``, not ``T − 1``). ``fn`` is evaluated on
  ``jax.random.split(key, n_samples)`` with ``jax.vmap`` (or in chunks of
  ``batch_size`` with ``jax.lax.map`` to bound memory).

  Args:
    fn: ``key -> array or pytree``, the stochastic forward pass (dropout on).
    key: a PRNG key.
    n_samples: ``T ≥ 1``, a Python int.
    batch_size: optional chunk size for ``jax.lax.map``; ``None`` vmaps all samples.

  Returns:
    ``(mean, variance)``, each shaped like ``fn``'s output.

  Example:
    >>> x = jnp.ones(4)
    >>> mean, var = jaxreg.mc_predict(lambda k: jaxreg.dropout(k, x, 0.5).sum(), jax.random.key(0), 1000)
    >>> bool(abs(mean - 4.0) < 0.3), bool(abs(var - 4.0) < 1.0)   # Σ of 4 units ×{0, 2}: mean 4, var 4
    (True, True)

    With a flax nnx model (modules from :mod:`jaxreg.nn` or ``nnx.Dropout``) built
    with a ``dropout`` stream, e.g. ``nnx.Rngs(params=0, dropout=1)``, reseed that
    stream in a copy of the model for each sample::

      graphdef, state = nnx.split(model)
      def fn(k):
        m = nnx.merge(graphdef, state, copy=True)
        nnx.reseed(m, dropout=k)
        return m(x)

  References:
    Gal & Ghahramani, *Dropout as a Bayesian Approximation: Representing Model
    Uncertainty in Deep Learning*, ICML 2016.
  """
  n_samples = _trees.check_int("n_samples", n_samples, low=1)
  batch_size = _trees.check_int("batch_size", batch_size, low=1, allow_none=True)
  if not callable(fn):
    raise ValueError(f"fn must be a callable key -> array or pytree, got {fn!r}.")
  keys = jax.random.split(key, n_samples)
  ys = jax.vmap(fn)(keys) if batch_size is None else jax.lax.map(fn, keys, batch_size=batch_size)
  mean = jax.tree_util.tree_map(lambda y: jnp.mean(y, axis=0), ys)
  var = jax.tree_util.tree_map(lambda y: jnp.var(y, axis=0), ys)
  return mean, var
