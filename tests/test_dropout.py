"""Tests for jaxreg.dropout against binomial/normal bounds, the papers' formulas and hand computation.

Statistical tests use fixed keys and state their bound: a count or mean must be
within 5 standard deviations of its exact expectation (a false failure has
probability < 1e-6 per check under the normal approximation), with the standard
deviation computed from the exact distribution (binomial, Bernoulli moments),
not from the code under test, except where the estimator's own spread is the
only available scale (stated where used).
"""

import math

import chex
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

import jaxreg

# Klambauer et al. 2017, Eq. 14 (written out here, independent of the library's constants).
LAMBDA, ALPHA = 1.0507009873554805, 1.6732632423543772
ALPHA_PRIME = -LAMBDA * ALPHA

KEY = jax.random.key(0)
RATES = [0.1, 0.5, 0.9]


def bits(a):
  """Bit pattern of a float array (so -0.0 != 0.0 and NaN payloads count)."""
  a = np.asarray(a)
  return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def within(value, expected, sd, k=5.0):
  assert abs(float(value) - float(expected)) <= k * float(sd), (float(value), float(expected), float(sd))


# --- dropout_mask / dropout: binomial bounds -------------------------------------------------

@pytest.mark.parametrize("rate", RATES)
def test_mask_kept_count_within_5_sigma_of_binomial_mean(rate):
  mask = jaxreg.dropout_mask(KEY, (1000, 1000), rate)
  assert mask.dtype == jnp.bool_ and mask.shape == (1000, 1000)
  n, q = mask.size, 1 - rate
  within(mask.sum(), n * q, math.sqrt(n * q * (1 - q)))


@pytest.mark.parametrize("rate", RATES)
def test_inverted_dropout_values_and_mean(rate):
  n = 1_000_000
  x = jnp.ones(n)
  y = np.asarray(jaxreg.dropout(KEY, x, rate))
  kept = y != 0
  # Kept units are exactly 1/(1 − rate) (to float32 rounding), the rest exactly 0.
  np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-6)
  within(kept.sum(), n * (1 - rate), math.sqrt(n * rate * (1 - rate)))
  # Mean preserved: each y_i has mean 1 and variance rate/(1 − rate).
  within(y.mean(), 1.0, math.sqrt(rate / (1 - rate) / n))


def test_vmap_over_four_rates_each_lane_keeps_one_minus_rate():
  rates = jnp.array([0.1, 0.3, 0.5, 0.9])
  masks = jax.jit(jax.vmap(lambda r: jaxreg.dropout_mask(KEY, (500, 500), r)))(rates)
  n = 500 * 500
  for m, r in zip(masks, [0.1, 0.3, 0.5, 0.9]):
    within(m.sum(), n * (1 - r), math.sqrt(n * r * (1 - r)))
  ys = jax.vmap(lambda r: jaxreg.dropout(KEY, jnp.ones((500, 500)), r))(rates)
  for y, r in zip(ys, [0.1, 0.3, 0.5, 0.9]):
    within(y.mean(), 1.0, math.sqrt(r / (1 - r) / n))


def test_same_key_same_mask_different_key_different_mask():
  a = jaxreg.dropout_mask(jax.random.key(1), (64, 64), 0.5)
  b = jaxreg.dropout_mask(jax.random.key(1), (64, 64), 0.5)
  c = jaxreg.dropout_mask(jax.random.key(2), (64, 64), 0.5)
  np.testing.assert_array_equal(a, b)
  assert (a != c).mean() > 0.4  # independent Bernoulli(½) masks differ in ~½ of entries


def test_traced_rate_gives_the_same_result_as_a_concrete_rate():
  x = jax.random.normal(jax.random.key(3), (32, 16))
  for fn in (jaxreg.dropout, jaxreg.gaussian_dropout, jaxreg.alpha_dropout):
    chex.assert_trees_all_close(jax.jit(lambda r, fn=fn: fn(KEY, x, r))(0.3), fn(KEY, x, 0.3), rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(rate=st.floats(0.0, 1.0), seed=st.integers(0, 2**31 - 1))
def test_dropout_entries_are_zero_or_scaled_input(rate, seed):
  x = jax.random.normal(jax.random.key(seed), (40,))
  y = np.asarray(jaxreg.dropout(jax.random.key(seed + 1), x, rate))
  assert np.isfinite(y).all()
  scaled = np.asarray(x, np.float64) / (1 - rate) if rate < 1 else np.zeros(40)
  ok = (y == 0) | np.isclose(y, scaled, rtol=1e-5)
  assert ok.all()


# --- broadcast dims --------------------------------------------------------------------------

def test_channel_dropout_nhwc_shares_mask_over_height_and_width():
  x = jax.random.normal(jax.random.key(4), (8, 6, 6, 16)) + 10.0  # no zeros in x
  y = jaxreg.dropout(KEY, x, 0.5, broadcast_dims=(1, 2))
  kept = np.asarray(y != 0)
  np.testing.assert_array_equal(kept, np.broadcast_to(kept[:, :1, :1, :], kept.shape))
  per_channel = kept[:, 0, 0, :]
  assert 0 < per_channel.sum() < per_channel.size  # some channels kept, some dropped
  # Negative dims name the same axes.
  np.testing.assert_array_equal(y, jaxreg.dropout(KEY, x, 0.5, broadcast_dims=(-3, -2)))


def test_channel_mask_count_is_binomial_over_channels():
  mask = jaxreg.dropout_mask(KEY, (200, 4, 4, 100), 0.3, broadcast_dims=(1, 2))
  channels = np.asarray(mask[:, 0, 0, :])
  n = channels.size
  within(channels.sum(), n * 0.7, math.sqrt(n * 0.3 * 0.7))


def test_locked_dropout_shares_mask_over_time():
  x = jnp.ones((4, 10, 32))
  y = np.asarray(jaxreg.dropout(KEY, x, 0.5, broadcast_dims=(1,)))
  np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1, :], y.shape))


def test_gaussian_and_alpha_dropout_share_noise_along_broadcast_dims():
  x = jax.random.normal(jax.random.key(5), (3, 5, 7))
  for fn in (jaxreg.gaussian_dropout, jaxreg.alpha_dropout):
    y = fn(KEY, jnp.ones_like(x), 0.4, broadcast_dims=(1,))
    np.testing.assert_array_equal(y, jnp.broadcast_to(y[:, :1, :], y.shape))


# --- rate = 0, rate = 1, deterministic, dtypes -----------------------------------------------

SPECIAL = np.array([1.0, -0.0, 0.0, np.inf, -np.inf, np.nan, 3.5, -2.25, 1e-30, -3e4], np.float32)
NOISE_FNS = [jaxreg.dropout, jaxreg.gaussian_dropout, jaxreg.alpha_dropout]


@pytest.mark.parametrize("fn", NOISE_FNS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_rate_zero_returns_input_bit_for_bit_concrete_jitted_and_vmapped(fn, dtype):
  x = jnp.asarray(SPECIAL, dtype)
  outs = {
      "python 0.0": fn(KEY, x, 0.0),
      "jit, traced": jax.jit(lambda r: fn(KEY, x, r))(jnp.float32(0.0)),
      "vmap, traced": jax.vmap(lambda r: fn(KEY, x, r))(jnp.zeros(3))[2],
  }
  for name, y in outs.items():
    assert y.dtype == dtype, name
    np.testing.assert_array_equal(bits(y), bits(x), err_msg=name)


def test_concrete_dropout_traced_rate_logit_minus_inf_returns_input_bit_for_bit():
  # A concrete infinite logit is refused (like every infinite hyperparameter); a traced one is not
  # inspected and still gives the rate-0 limit.
  x = jnp.asarray(SPECIAL)
  with pytest.raises(ValueError, match=r"^rate_logit must be a finite number, got -inf"):
    jaxreg.concrete_dropout(KEY, x, -jnp.inf)
  y = jax.jit(lambda l: jaxreg.concrete_dropout(KEY, x, l))(-jnp.inf)
  np.testing.assert_array_equal(bits(y), bits(x))


@pytest.mark.parametrize("fn", NOISE_FNS + [jaxreg.concrete_dropout], ids=lambda f: f.__name__)
def test_deterministic_returns_the_input_itself(fn):
  x = jnp.asarray(SPECIAL)
  assert fn(KEY, x, 0.5, deterministic=True) is x


@pytest.mark.parametrize("fn", NOISE_FNS, ids=lambda f: f.__name__)
def test_rate_one_returns_zeros_without_nan_or_inf(fn):
  x = jnp.asarray(SPECIAL)
  for y in (fn(KEY, x, 1.0), jax.jit(lambda r: fn(KEY, x, r))(1.0)):
    np.testing.assert_array_equal(np.asarray(y) == 0, True)
  # Gradients at the end points are finite (the divisions by 1 − rate are guarded).
  xf = jnp.linspace(-2.0, 2.0, 16)
  grads = jax.jit(jax.vmap(jax.grad(lambda x, r: jnp.sum(fn(KEY, x, r) ** 2), argnums=(0, 1)), (None, 0)))
  g_x, g_rate = grads(xf, jnp.array([0.0, 1.0]))
  assert np.isfinite(g_rate).all() and np.isfinite(g_x).all()


def test_concrete_dropout_traced_rate_logit_plus_inf_returns_zeros():
  with pytest.raises(ValueError, match=r"^rate_logit must be a finite number, got inf"):
    jaxreg.concrete_dropout(KEY, jnp.asarray(SPECIAL), jnp.inf)
  y = jax.jit(lambda l: jaxreg.concrete_dropout(KEY, jnp.asarray(SPECIAL), l))(jnp.inf)
  np.testing.assert_array_equal(np.asarray(y) == 0, True)


def test_concrete_dropout_value_and_gradient_finite_for_extreme_finite_logits():
  # 1/σ(−logit) overflowed (and its derivative long before), giving inf/NaN gradients at large logits.
  x = jnp.linspace(-2.0, 2.0, 64)
  logits = jnp.array([-1e4, -100.0, -30.0, 0.0, 30.0, 88.0, 100.0, 1e4])
  f = lambda l, t: jnp.sum(jaxreg.concrete_dropout(KEY, x, l, temperature=t) ** 2)
  grid = jax.jit(jax.vmap(jax.vmap(jax.value_and_grad(f), (0, None)), (None, 0)))
  values, grads = grid(logits, jnp.array([0.1, 1.0]))
  assert np.isfinite(values).all() and np.isfinite(grads).all(), (values, grads)
  # rate → 0: the input; rate → 1 at t < 1: zeros (at t = 1, z̃/(1 − rate) → e^(−noise), finite)
  np.testing.assert_allclose(jaxreg.concrete_dropout(KEY, x, -1e4), x)
  np.testing.assert_array_equal(np.asarray(jaxreg.concrete_dropout(KEY, x, 1e4)), 0.0)


def test_concrete_dropout_regularizer_value_and_gradient_at_extreme_logits():
  W = jnp.ones((3, 2))
  reg = lambda l, w: jaxreg.concrete_dropout_regularizer(l, w, input_dim=3, weight_regularizer=1e-2,
                                                         dropout_regularizer=1e-2)
  vg = jax.jit(jax.vmap(jax.value_and_grad(reg, argnums=(0, 1)), (0, None)))
  # rate → 0: the weight term is ΣW², the entropy 0; gradients finite (entr's log 0 gave NaN)
  val, (g_l, g_w) = vg(jnp.array([-1e4, -100.0, -30.0, 0.0, 30.0, 80.0]), W)
  np.testing.assert_allclose(val[:2], 1e-2 * 6.0, rtol=1e-6)
  assert np.isfinite(val).all() and np.isfinite(g_l).all() and np.isfinite(np.asarray(g_w)).all()
  # zero weights: finite everywhere (the weight term is 0, not 0·inf)
  val, (g_l, _) = vg(jnp.array([-1e4, 0.0, 1e4]), jnp.zeros((3, 2)))
  assert np.isfinite(val).all() and np.isfinite(g_l).all()
  # rate → 1 with nonzero weights: ΣW²/(1 − rate) exceeds float32 — +inf, the true value, not the old silent 0
  assert float(reg(1e4, W)) == np.inf


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_dtypes_are_preserved(dtype):
  x = jnp.ones((8, 8), dtype)
  for fn in NOISE_FNS + [jaxreg.concrete_dropout]:
    assert fn(KEY, x, 0.3).dtype == dtype, fn.__name__
  assert jaxreg.drop_connect(KEY, {"w": x}, 0.3)["w"].dtype == dtype


def test_bf16_dropout_scale_is_exactly_rounded():
  # 1/(1 − 0.3) in float32, then one rounding to bf16 — not the bf16-rounded scale times x.
  x = jnp.full((4096,), 1.2890625, jnp.bfloat16)  # exactly representable in bf16
  y = np.asarray(jaxreg.dropout(KEY, x, 0.3).astype(jnp.float32))
  expected = np.float32(jnp.asarray(np.float32(1.2890625) * (np.float32(1) / np.float32(0.7)), jnp.bfloat16)
                        .astype(jnp.float32))
  np.testing.assert_array_equal(np.unique(y[y != 0]), [expected])


def test_float64_inputs_under_x64_keep_precision_and_masks_do_not_depend_on_dtypes():
  mask32 = np.asarray(jaxreg.dropout_mask(KEY, (1000,), 0.3))
  with jax.enable_x64(True):
    x = jnp.ones(1000, jnp.float64)
    y = np.asarray(jaxreg.dropout(KEY, x, 0.3))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y[y != 0], 1 / 0.7)  # the float64 scale, not a float32 one
    np.testing.assert_array_equal(y != 0, mask32)
    np.testing.assert_array_equal(jaxreg.dropout_mask(KEY, (1000,), np.float64(0.3)), mask32)
    for fn in NOISE_FNS + [jaxreg.concrete_dropout]:
      assert fn(KEY, x, 0.3).dtype == jnp.float64, fn.__name__


# --- Gaussian and alpha dropout moments ------------------------------------------------------

@pytest.mark.parametrize("rate", RATES)
def test_gaussian_dropout_mean_one_and_variance_rate_over_keep(rate):
  n = 1_000_000
  y = np.asarray(jaxreg.gaussian_dropout(KEY, jnp.ones(n), rate), np.float64)
  var = rate / (1 - rate)  # Srivastava et al. §10: σ² = (1 − p)/p with p = 1 − rate
  within(y.mean(), 1.0, math.sqrt(var / n))
  # Sample variance of n normals: standard error σ²·√(2/(n − 1)).
  within(y.var(ddof=1), var, var * math.sqrt(2 / (n - 1)))


def _selu(z):
  return LAMBDA * np.where(z > 0, z, ALPHA * np.expm1(np.minimum(z, 0)))


def _alpha_affine(rate):
  q = 1 - rate
  a = (q + ALPHA_PRIME**2 * q * (1 - q)) ** -0.5
  return a, -a * (1 - q) * ALPHA_PRIME


@pytest.mark.parametrize("rate", RATES)
def test_alpha_dropout_matches_paper_affine_map_and_keeps_selu_mean_and_variance(rate):
  n = 1_000_000
  h = _selu(np.asarray(jax.random.normal(jax.random.key(7), (n,)), np.float64))  # mean 0, variance 1
  y = np.asarray(jaxreg.alpha_dropout(KEY, jnp.asarray(h, jnp.float32), rate), np.float64)
  a, b = _alpha_affine(rate)
  dropped = np.isclose(y, a * ALPHA_PRIME + b, rtol=0, atol=1e-5)
  np.testing.assert_allclose(y[~dropped], a * h[~dropped] + b, rtol=1e-5, atol=1e-5)
  within(dropped.sum(), n * rate, math.sqrt(n * rate * (1 - rate)))
  # Klambauer et al.: E[y] = a(qμ + (1 − q)α') + b, Var[y] = a²(qν + q(1 − q)(α' − μ)²) = 0 and 1 at μ=0, ν=1.
  # Tolerances: 5 standard errors; the SE of a sample variance needs the 4th moment, taken from the sample.
  q, mu, nu = 1 - rate, h.mean(), h.var()
  within(y.mean(), a * (q * mu + (1 - q) * ALPHA_PRIME) + b, y.std() / math.sqrt(n))
  se_var = math.sqrt((np.mean((y - y.mean()) ** 4) - y.var() ** 2) / n)
  within(y.var(), a**2 * (q * nu + q * (1 - q) * (ALPHA_PRIME - mu) ** 2), se_var)
  within(y.mean(), 0.0, 5 * y.std() / math.sqrt(n))   # and those are ≈ 0 and ≈ 1 for SELU inputs
  within(y.var(), 1.0, 5 * se_var)


# --- Srivastava et al. §9.1: dropout on linear regression ------------------------------------

def _regression_problem():
  rng = np.random.default_rng(0)
  X = rng.normal(size=(12, 5)).astype(np.float32)
  w = rng.normal(size=5).astype(np.float32)
  y = (X @ w + 0.3 * rng.normal(size=12)).astype(np.float32)
  return X, w, y


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_srivastava_linear_regression_identity_unscaled_and_inverted(rate):
  """E_R‖y − (R∗X)w‖² = ‖y − pXw‖² + p(1 − p)‖Γw‖², Γ = diag(XᵀX)^½, p = 1 − rate (JMLR 2014, §9.1).

  With inverted dropout (R∗X/p) the identity becomes ‖y − Xw‖² + rate/(1 − rate)·‖Γw‖².
  Monte Carlo: the average over M = 20 000 independent masks must be within 5 standard errors
  (sample std of the per-mask losses / √M) of the closed form. The test also checks that the
  variance term is > 10× that tolerance, so a missing or wrong penalty would fail.
  """
  X, w, y = _regression_problem()
  p = 1 - rate
  gamma_w_sq = float(np.sum(np.diag(X.T.astype(np.float64) @ X) * w.astype(np.float64) ** 2))
  keys = jax.random.split(jax.random.key(11), 20_000)

  def unscaled(k):
    return jnp.sum((y - (jaxreg.dropout_mask(k, X.shape, rate) * X) @ w) ** 2)

  def inverted(k):
    return jnp.sum((y - jaxreg.dropout(k, jnp.asarray(X), rate) @ w) ** 2)

  Xd, wd, yd = X.astype(np.float64), w.astype(np.float64), y.astype(np.float64)
  cases = [
      (unscaled, np.sum((yd - p * Xd @ wd) ** 2) + p * (1 - p) * gamma_w_sq, p * (1 - p) * gamma_w_sq),
      (inverted, np.sum((yd - Xd @ wd) ** 2) + rate / (1 - rate) * gamma_w_sq, rate / (1 - rate) * gamma_w_sq),
  ]
  for loss, closed_form, penalty in cases:
    losses = np.asarray(jax.jit(jax.vmap(loss))(keys), np.float64)
    se = losses.std(ddof=1) / math.sqrt(len(losses))
    assert penalty > 10 * 5 * se, (penalty, se)
    within(losses.mean(), closed_form, se)


# --- MC dropout prediction -------------------------------------------------------------------

def test_mc_predict_mean_and_variance_match_closed_form():
  """fn(k) = dropout(k, x)·W: mean xW, variance_j = rate/(1 − rate)·Σ_i x_i² W_ij².

  Bounds: 5 standard errors. For the mean, SE = √(var/T). For the variance estimate,
  SE ≈ √((κ₄ + 2σ⁴)/T) with κ₄ = Σ_i (c_ij/q)⁴·q(1−q)(1 − 6q(1−q)) the exact 4th
  cumulant of the sum of scaled Bernoulli terms (c_ij = x_i W_ij, q = 1 − rate).
  """
  rng = np.random.default_rng(1)
  x = rng.normal(size=20).astype(np.float32)
  W = rng.normal(size=(20, 3)).astype(np.float32)
  rate, T = 0.3, 20_000
  q = 1 - rate
  mean, var = jaxreg.mc_predict(lambda k: jaxreg.dropout(k, jnp.asarray(x), rate) @ W, KEY, T)
  c = x.astype(np.float64)[:, None] * W.astype(np.float64)
  sigma2 = rate / (1 - rate) * np.sum(c**2, axis=0)
  kappa4 = np.sum((c / q) ** 4, axis=0) * q * (1 - q) * (1 - 6 * q * (1 - q))
  for j in range(3):
    within(mean[j], x @ W[:, j], math.sqrt(sigma2[j] / T))
    within(var[j], sigma2[j], math.sqrt((kappa4[j] + 2 * sigma2[j] ** 2) / T))


def test_mc_predict_batched_equals_vmapped_and_handles_pytrees():
  fn = lambda k: {"a": jaxreg.dropout(k, jnp.arange(1.0, 5.0), 0.5), "b": jax.random.normal(k, ())}
  m1, v1 = jaxreg.mc_predict(fn, KEY, 64)
  m2, v2 = jaxreg.mc_predict(fn, KEY, 64, batch_size=16)
  chex.assert_trees_all_close((m1, v1), (m2, v2), rtol=1e-6)
  # By hand from the 64 samples:
  ys = jax.vmap(fn)(jax.random.split(KEY, 64))
  np.testing.assert_allclose(v1["a"], np.var(np.asarray(ys["a"]), axis=0), rtol=1e-5)


# --- drop_connect ----------------------------------------------------------------------------

def test_drop_connect_drops_weights_with_binomial_count_and_keeps_mean():
  W = jnp.full((1000, 1000), 2.0)
  out = np.asarray(jaxreg.drop_connect(KEY, W, 0.4))
  kept = out != 0
  np.testing.assert_allclose(out[kept], 2.0 / 0.6, rtol=1e-6)
  n = W.size
  within(kept.sum(), n * 0.6, math.sqrt(n * 0.4 * 0.6))


def test_drop_connect_pytree_masks_none_and_per_leaf_rates():
  params = {"k1": jnp.ones((64, 64)), "k2": jnp.ones((64, 64)), "bias": jnp.ones(64), "none": None}
  out = jaxreg.drop_connect(KEY, params, 0.5, mask=jaxreg.masks.weights_only)
  assert out["none"] is None
  np.testing.assert_array_equal(out["bias"], params["bias"])  # masked out: untouched
  assert (np.asarray(out["k1"] != 0) != np.asarray(out["k2"] != 0)).mean() > 0.4  # own key per leaf
  per_leaf = jaxreg.drop_connect(KEY, {"a": jnp.ones(8), "b": jnp.ones(8)}, {"a": 0.0, "b": 1.0})
  np.testing.assert_array_equal(per_leaf["a"], 1.0)
  np.testing.assert_array_equal(per_leaf["b"], 0.0)


# --- concrete dropout ------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_concrete_mask_exceeds_half_with_probability_one_minus_rate(rate):
  # z̃ = sigmoid(−(logit + L)/t) > ½  ⇔  L < −logit, and P(L < −logit) = sigmoid(−logit) = 1 − rate
  # for standard logistic L — exact at any temperature, so a binomial 5σ bound applies.
  n = 1_000_000
  logit = math.log(rate / (1 - rate))
  z = np.asarray(jaxreg.concrete_dropout(KEY, jnp.ones(n), logit, temperature=0.1)) * (1 - rate)
  assert ((0 <= z) & (z <= 1 + 1e-6)).all()
  within((z > 0.5).sum(), n * (1 - rate), math.sqrt(n * rate * (1 - rate)))


def test_concrete_dropout_gradient_wrt_rate_is_finite_and_nonzero():
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(32, 8)), jnp.float32)
  W = jnp.asarray(rng.normal(size=(8, 1)), jnp.float32)
  t = jnp.asarray(rng.normal(size=(32, 1)), jnp.float32)

  def loss(logit):
    pred = jaxreg.concrete_dropout(KEY, x, logit) @ W
    reg = jaxreg.concrete_dropout_regularizer(logit, W, input_dim=8, weight_regularizer=1e-2,
                                              dropout_regularizer=1e-2)
    return jnp.mean((pred - t) ** 2) + reg

  logits = jnp.array([-4.0, -2.2, 0.0, 2.0])
  grads = jax.jit(jax.vmap(jax.grad(loss)))(logits)  # traced logits
  assert np.isfinite(grads).all() and (grads != 0).all(), grads
  g = jax.grad(loss)(-2.2)  # a concrete logit, eagerly
  assert np.isfinite(g) and g != 0


def test_concrete_dropout_regularizer_matches_reference_code_formula():
  # Gal et al.'s code: weight_regularizer·ΣW²/(1 − p) + dropout_regularizer·K·(p log p + (1 − p) log(1 − p)).
  rng = np.random.default_rng(3)
  W = rng.normal(size=(6, 4))
  wr, dr, K = 1e-3, 2e-2, 6
  for logit in (-3.0, 0.0, 1.5):
    p = 1 / (1 + math.exp(-logit))
    ref = wr * np.sum(W**2) / (1 - p) + dr * K * (p * math.log(p) + (1 - p) * math.log(1 - p))
    got = jaxreg.concrete_dropout_regularizer(logit, {"kernel": jnp.asarray(W, jnp.float32)}, input_dim=K,
                                              weight_regularizer=wr, dropout_regularizer=dr)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
  # Finite at extreme logits (entropy 0·log 0 = 0).
  for logit in (-50.0, 50.0):
    val = jaxreg.concrete_dropout_regularizer(logit, W, input_dim=K)
    assert np.isfinite(val)


# --- bad inputs ------------------------------------------------------------------------------

BAD_RATES = [-0.1, 1.5, float("nan"), float("inf"), jnp.array(2.0), jnp.array(-jnp.inf)]


@pytest.mark.parametrize("bad", BAD_RATES, ids=repr)
@pytest.mark.parametrize("call", [
    lambda r: jaxreg.dropout_mask(KEY, (3,), r),
    lambda r: jaxreg.dropout(KEY, jnp.ones(3), r),
    lambda r: jaxreg.dropout(KEY, jnp.ones(3), r, deterministic=True),
    lambda r: jaxreg.gaussian_dropout(KEY, jnp.ones(3), r),
    lambda r: jaxreg.alpha_dropout(KEY, jnp.ones(3), r),
    lambda r: jaxreg.drop_connect(KEY, {"w": jnp.ones(3)}, r),
], ids=["mask", "dropout", "dropout_det", "gaussian", "alpha", "drop_connect"])
def test_bad_rates_raise_naming_rate_and_value(call, bad):
  with pytest.raises(ValueError, match=r"rate must be a finite number in \[0, 1\], got") as err:
    call(bad)
  assert repr(bad) in str(err.value)


@pytest.mark.parametrize("bad", [None, "0.5", True, jnp.full(3, 0.5)], ids=repr)
@pytest.mark.parametrize("fn", NOISE_FNS + [jaxreg.concrete_dropout], ids=lambda f: f.__name__)
def test_non_number_or_non_scalar_rates_raise_naming_the_argument(fn, bad):
  arg = "rate_logit" if fn is jaxreg.concrete_dropout else "rate"
  with pytest.raises(ValueError, match=rf"^{arg} must be a (real number|number|scalar)"):
    fn(KEY, jnp.ones(3), bad)
  with pytest.raises(ValueError, match=rf"^{arg} must be a (real number|number|scalar)"):
    fn(KEY, jnp.ones(3), bad, deterministic=True)   # validated before the early return


def test_other_bad_inputs_raise():
  with pytest.raises(ValueError, match="temperature"):
    jaxreg.concrete_dropout(KEY, jnp.ones(3), 0.0, temperature=0.0)
  with pytest.raises(ValueError, match="rate_logit"):
    jaxreg.concrete_dropout(KEY, jnp.ones(3), float("nan"))
  with pytest.raises(ValueError, match="weight_regularizer"):
    jaxreg.concrete_dropout_regularizer(0.0, jnp.ones(3), input_dim=3, weight_regularizer=-1.0)
  with pytest.raises(ValueError, match="broadcast_dims"):
    jaxreg.dropout(KEY, jnp.ones((2, 3)), 0.5, broadcast_dims=(2,))
  for bad in ((1.5,), (True,), ("0",), 1, None):
    with pytest.raises(ValueError, match=r"^broadcast_dims(\[0\])? must be"):
      jaxreg.dropout(KEY, jnp.ones((2, 3)), 0.5, broadcast_dims=bad)
  for bad in ((3, 2.0), (3, -1), 3, None, (True,)):
    with pytest.raises(ValueError, match=r"^shape(\[\d\])? must be"):
      jaxreg.dropout_mask(KEY, bad, 0.5)
  for fn in NOISE_FNS + [jaxreg.concrete_dropout]:
    with pytest.raises(ValueError, match="^x must be a floating-point array, got dtype int32"):
      fn(KEY, jnp.ones(3, jnp.int32), 0.5)
  with pytest.raises(ValueError, match=r"^params leaf 'w' has dtype int32"):
    jaxreg.drop_connect(KEY, {"w": jnp.ones(3, jnp.int32)}, 0.5)
  with pytest.raises(ValueError, match=r"^rate\['w'\] must be a scalar"):
    jaxreg.drop_connect(KEY, {"w": jnp.ones(3)}, {"w": jnp.full(3, 0.5)})
  for n in (0, -1, 2.5, True, None, "4"):
    with pytest.raises(ValueError, match="^n_samples must be an integer"):
      jaxreg.mc_predict(lambda k: jnp.zeros(()), KEY, n)
  for b in (0, 1.0, True, "2"):
    with pytest.raises(ValueError, match="^batch_size must be an integer"):
      jaxreg.mc_predict(lambda k: jnp.zeros(()), KEY, 4, batch_size=b)
  for kw, arg in (({"input_dim": 0}, "input_dim"), ({"input_dim": 2.0}, "input_dim"),
                  ({"input_dim": 3, "dropout_regularizer": float("inf")}, "dropout_regularizer"),
                  ({"input_dim": 3, "weight_regularizer": jnp.ones(2)}, "weight_regularizer")):
    with pytest.raises(ValueError, match=rf"^{arg} must be"):
      jaxreg.concrete_dropout_regularizer(0.0, jnp.ones(3), **kw)
