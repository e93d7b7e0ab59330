"""Tests for the flax nnx modules in jaxreg.nn: flax conventions, traced rates, learned concrete rate.

Statistical bounds are 5 standard deviations of the exact (binomial / normal) distribution.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxreg
from jaxreg import nn

RATES = jnp.array([0.0, 0.1, 0.5, 0.9])


def within(value, expected, sd, k=5.0):
  assert abs(float(value) - float(expected)) <= k * float(sd), (float(value), float(expected), float(sd))


def test_dropout_module_under_vmap_over_traced_rates():
  n = 100_000
  x = jnp.ones(n)
  ys = jax.jit(jax.vmap(lambda r: nn.Dropout(r, rngs=nnx.Rngs(0))(x)))(RATES)
  for y, r in zip(np.asarray(ys), np.asarray(RATES, np.float64)):
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - r), rtol=1e-6)
    within(kept.sum(), n * (1 - r), math.sqrt(n * r * (1 - r)) + 1e-9)
  np.testing.assert_array_equal(ys[0], x)  # traced rate 0: unchanged


def test_flax_nnx_dropout_cannot_take_a_traced_rate_but_ours_can():
  # The motivation of jaxreg.nn (issue #3): flax tests `self.rate == 0.0` in Python.
  x = jnp.ones(8)
  with pytest.raises(jax.errors.TracerBoolConversionError):
    jax.vmap(lambda r: nnx.Dropout(r, rngs=nnx.Rngs(0))(x))(RATES)
  assert jax.vmap(lambda r: nn.Dropout(r, rngs=nnx.Rngs(0))(x))(RATES).shape == (4, 8)


def test_gaussian_alpha_and_concrete_modules_under_vmap_over_rates():
  n = 100_000
  x = jnp.ones(n)
  rates = [0.1, 0.3, 0.5]
  r = jnp.array(rates)
  g = np.asarray(jax.vmap(lambda r: nn.GaussianDropout(r, rngs=nnx.Rngs(0))(x))(r), np.float64)
  for y, rate in zip(g, rates):
    var = rate / (1 - rate)
    within(y.var(ddof=1), var, var * math.sqrt(2 / (n - 1)))
  a = np.asarray(jax.vmap(lambda r: nn.AlphaDropout(r, rngs=nnx.Rngs(0))(x))(r))
  for y, rate in zip(a, rates):
    q = 1 - rate
    aa = (q + (1.0507009873554805 * 1.6732632423543772) ** 2 * q * (1 - q)) ** -0.5
    dropped_value = aa * -1.0507009873554805 * 1.6732632423543772 * q
    within(np.isclose(y, dropped_value, atol=1e-5).sum(), n * rate, math.sqrt(n * rate * (1 - rate)))
  c = np.asarray(jax.vmap(lambda r: nn.ConcreteDropout(r, rngs=nnx.Rngs(0))(x))(r))
  for y, rate in zip(c, rates):  # relaxed keep-mask z̃ = y·(1 − rate) exceeds ½ w.p. 1 − rate exactly
    within((y * (1 - rate) > 0.5).sum(), n * (1 - rate), math.sqrt(n * rate * (1 - rate)))


def test_module_with_call_time_key_equals_the_pure_function():
  x = jax.random.normal(jax.random.key(1), (16, 8))
  key = jax.random.key(5)
  for module, fn in [(nn.Dropout(0.3), jaxreg.dropout), (nn.GaussianDropout(0.3), jaxreg.gaussian_dropout),
                     (nn.AlphaDropout(0.3), jaxreg.alpha_dropout)]:
    np.testing.assert_array_equal(module(x, rngs=key), fn(key, x, 0.3))
  layer = nn.Dropout(0.5, broadcast_dims=(0,))
  np.testing.assert_array_equal(layer(x, rngs=key), jaxreg.dropout(key, x, 0.5, broadcast_dims=(0,)))


class Block(nnx.Module):
  def __init__(self, rate, *, rngs):
    self.linear = nnx.Linear(4, 3, rngs=rngs)
    self.drop = nn.Dropout(rate, rngs=rngs)
    self.gauss = nn.GaussianDropout(rate, rngs=rngs)

  def __call__(self, x):
    return self.gauss(self.linear(self.drop(x)))


def test_eval_train_view_and_call_time_deterministic_follow_flax():
  model = Block(0.5, rngs=nnx.Rngs(params=0, dropout=1))
  x = jnp.ones((2, 4))
  clean = model.linear(x)
  assert not np.allclose(model(x), clean)
  model.eval()
  assert model.drop.deterministic and model.gauss.deterministic
  np.testing.assert_array_equal(model(x), clean)
  model.train()
  assert not model.drop.deterministic
  assert not np.allclose(model(x), clean)
  view = nnx.view(model, deterministic=True)
  np.testing.assert_array_equal(view(x), clean)
  assert not model.drop.deterministic  # the view does not change the model
  layer = nn.Dropout(0.5, rngs=nnx.Rngs(0))
  assert layer(x, deterministic=True) is x
  layer_eval = nn.Dropout(0.5, deterministic=True, rngs=nnx.Rngs(0))
  assert layer_eval(x) is x
  assert not np.array_equal(layer_eval(x, deterministic=False), x)


def test_keys_advance_between_calls_and_under_nnx_jit():
  layer = nn.Dropout(0.5, rngs=nnx.Rngs(dropout=3))
  x = jnp.ones(256)
  assert not np.array_equal(layer(x), layer(x))
  step = nnx.jit(lambda m, x: m(x))
  assert not np.array_equal(step(layer, x), step(layer, x))
  # Same seed -> same sequence of masks (reproducible), as with nnx.Dropout.
  a, b = nn.Dropout(0.5, rngs=nnx.Rngs(dropout=7)), nn.Dropout(0.5, rngs=nnx.Rngs(dropout=7))
  np.testing.assert_array_equal(a(x), b(x))


def test_rngs_stream_and_errors_follow_flax():
  x = jnp.ones(8)
  assert nn.Dropout(0.5, rngs=nnx.Rngs(0).dropout)(x).shape == (8,)  # an RngStream
  assert nn.Dropout(0.5)(x, rngs=nnx.Rngs(dropout=0)).shape == (8,)   # Rngs at call time
  with pytest.raises(ValueError, match="no rngs"):
    nn.Dropout(0.5)(x)
  with pytest.raises(ValueError, match="deterministic"):
    nn.Dropout(0.5, deterministic=None, rngs=nnx.Rngs(0))(x)
  with pytest.raises(TypeError, match="rngs"):
    nn.Dropout(0.5, rngs=0)
  with pytest.raises(TypeError, match="rngs"):
    nn.Dropout(0.5)(x, rngs=0)
  for bad in (-0.5, 1.5, float("nan"), float("inf"), None, "0.5", True, jnp.full(3, 0.5)):
    for cls in (nn.Dropout, nn.GaussianDropout, nn.AlphaDropout):
      with pytest.raises(ValueError, match=r"^rate must be a (finite|real|number|scalar)"):
        cls(bad)
  for bad in (0.0, 1.0, float("inf")):
    with pytest.raises(ValueError, match=r"^rate must be a finite number in \(0, 1\)"):
      nn.ConcreteDropout(bad)
  for bad in (0.0, float("inf"), None, jnp.ones(2)):
    with pytest.raises(ValueError, match=r"^temperature must be a"):
      nn.ConcreteDropout(0.1, temperature=bad)
  for bad in ((1.5,), (True,), 1):
    with pytest.raises(ValueError, match=r"^broadcast_dims(\[0\])? must be"):
      nn.Dropout(0.5, broadcast_dims=bad)
  with pytest.raises(ValueError, match=r"^deterministic must be True, False or None"):
    nn.Dropout(0.5, deterministic="no")
  with pytest.raises(ValueError, match=r"^deterministic must be True, False or None"):
    nn.Dropout(0.5, rngs=nnx.Rngs(0))(x, deterministic=0)


def test_concrete_dropout_rate_is_a_learned_param_with_finite_nonzero_gradient():
  rngs = nnx.Rngs(params=0, dropout=1)

  class Net(nnx.Module):
    def __init__(self):
      self.drop = nn.ConcreteDropout(0.1, rngs=rngs)
      self.dense = nnx.Linear(8, 1, rngs=rngs)

    def __call__(self, x):
      return self.dense(self.drop(x))

  model = Net()
  np.testing.assert_allclose(model.drop.rate, 0.1, rtol=1e-6)
  assert isinstance(model.drop.rate_logit, nnx.Param)
  assert "rate_logit" in nnx.state(model, nnx.Param)["drop"]
  x = jax.random.normal(jax.random.key(2), (64, 8))
  t = jax.random.normal(jax.random.key(3), (64, 1))

  def loss(m):
    reg = m.drop.regularizer(m.dense.kernel[...], input_dim=8, weight_regularizer=1e-3,
                             dropout_regularizer=2 / 64)
    return jnp.mean((m(x) - t) ** 2) + reg

  opt = nnx.Optimizer(model, optax.adam(0.1), wrt=nnx.Param)

  @nnx.jit
  def step(model, opt):
    grads = nnx.grad(loss)(model)
    opt.update(model, grads)
    return grads["drop"]["rate_logit"][...]

  for _ in range(3):  # a few optimizer steps move the learned rate
    g = float(step(model, opt))
    assert np.isfinite(g) and g != 0
  assert abs(float(model.drop.rate) - 0.1) > 1e-3


def test_mc_predict_with_an_nnx_model_matches_closed_form():
  """The recipe in mc_predict's docstring: Dropout -> Linear, mean xW + b, var_j = r/(1−r)·Σ x_i² W_ij².

  Bounds: 5 standard errors with the exact 4th cumulant of the scaled-Bernoulli sum (as in test_dropout).
  """
  rate, T = 0.25, 8000

  class Net(nnx.Module):
    def __init__(self, rngs):
      self.drop = nn.Dropout(rate, rngs=rngs)
      self.dense = nnx.Linear(10, 2, rngs=rngs)

    def __call__(self, x):
      return self.dense(self.drop(x))

  model = Net(nnx.Rngs(params=0, dropout=1))
  x = jax.random.normal(jax.random.key(4), (10,))
  graphdef, state = nnx.split(model)

  def fn(k):
    m = nnx.merge(graphdef, state, copy=True)
    nnx.reseed(m, dropout=k)
    return m(x)

  mean, var = jaxreg.mc_predict(fn, jax.random.key(9), T)
  W = np.asarray(model.dense.kernel[...], np.float64)
  b = np.asarray(model.dense.bias[...], np.float64)
  xd = np.asarray(x, np.float64)
  q = 1 - rate
  c = xd[:, None] * W
  sigma2 = rate / q * np.sum(c**2, axis=0)
  kappa4 = np.sum((c / q) ** 4, axis=0) * q * (1 - q) * (1 - 6 * q * (1 - q))
  for j in range(2):
    within(mean[j], xd @ W[:, j] + b[j], math.sqrt(sigma2[j] / T))
    within(var[j], sigma2[j], math.sqrt((kappa4[j] + 2 * sigma2[j] ** 2) / T))
