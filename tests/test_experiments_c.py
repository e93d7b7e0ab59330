"""Experiments double_descent, mc_uncertainty and concrete_rate: quick runs, outputs, claims, and their helpers.

The quick runs (``quick_runs`` fixture of ``conftest.py``) are marked slow, like the other experiments'
tests. The helpers are tested fast against outside references: the masked-width MLP against a truly
narrow network trained alone, the ECE against a hand computation and a plain loop, the ridge risk
formulas against their known limits, the good region against a hand example.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import _common, concrete_rate, double_descent, mc_uncertainty

slow = pytest.mark.slow   # quick runs of whole experiments: `pytest -m slow` (run by .ci/run)

ENV_FIELDS = ("name", "claim", "held", "measured", "quick", "seeds", "command", "wall_time_s", "cpu_time_s",
              "jax_version", "jaxreg_version", "device", "cpu", "files", "claims")


# ----------------------------------------------------------------------------- masking equivalence


def _toy_data(n=60, n_test=30, d=40, k=10, seed=0):
  rng = np.random.default_rng(seed)
  x, xt = rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n_test, d)).astype(np.float32)
  return _common.Data(x, rng.integers(0, k, n).astype(np.int32), xt, rng.integers(0, k, n_test).astype(np.int32))


def test_masked_init_is_the_narrow_init():
  key = jax.random.key(3)
  wide = double_descent.init_masked(key, 40, 16, 10, 5)
  narrow = double_descent.init_masked(key, 40, 5, 10, 5)
  np.testing.assert_array_equal(wide["w1"][:, :5], narrow["w1"])
  np.testing.assert_array_equal(wide["w2"][:5], narrow["w2"])
  assert not np.any(wide["w1"][:, 5:]) and not np.any(wide["w2"][5:])
  # He-normal with the fan-in of the live width: outgoing std √(2/5), incoming √(2/40)
  big = double_descent.init_masked(key, 40, 4000, 10, 4000)
  assert np.std(big["w2"]) == pytest.approx(math.sqrt(2 / 4000), rel=0.05)
  assert np.std(big["w1"]) == pytest.approx(math.sqrt(2 / 40), rel=0.05)


@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_masked_width_trains_like_a_truly_narrow_network(alpha):
  # The width-5 network inside a width-16 one (width traced, as in the sweep) against a 5-wide network
  # trained alone with the same key: same parameters and outputs up to float rounding; masked weights stay 0.
  data, key, w, steps = _toy_data(), jax.random.key(7), 5, 40
  kw = dict(data=data, steps=steps, batch_size=20, lr=1e-2, return_params=True)

  @jax.jit
  def masked(width, a):
    return double_descent.train_masked({"width": width, "alpha": a}, key, max_width=16, **kw)

  out_m = masked(jnp.int32(w), jnp.float32(alpha))
  out_n = double_descent.train_masked({"width": w, "alpha": jnp.float32(alpha)}, key, max_width=w, **kw)
  pm, pn = out_m["params"], out_n["params"]
  np.testing.assert_allclose(pm["w1"][:, :w], pn["w1"], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(pm["b1"][:w], pn["b1"], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(pm["w2"][:w], pn["w2"], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(pm["b2"], pn["b2"], rtol=1e-5, atol=1e-6)
  assert not np.any(pm["w1"][:, w:]) and not np.any(pm["b1"][w:]) and not np.any(pm["w2"][w:])
  x = jnp.asarray(data.x_test)
  np.testing.assert_allclose(double_descent.apply_masked(pm, x, w), double_descent.apply_masked(pn, x, w),
                             rtol=1e-5, atol=1e-5)
  for m in ("train_error", "test_error"):
    assert float(out_m[m]) == float(out_n[m])
  np.testing.assert_allclose(out_m["test_loss"], out_n["test_loss"], rtol=1e-5)
  # the training moved the weights (the comparison is not between two initializations)
  assert not np.allclose(pn["w2"], double_descent.init_masked(jax.random.split(key)[0], 40, w, 10, w)["w2"])


def test_masked_units_do_not_affect_output_or_gradient():
  key = jax.random.key(0)
  p = double_descent.init_masked(key, 40, 8, 10, 3)
  noise = jax.random.normal(jax.random.key(1), (40, 8))
  q = dict(p, w1=p["w1"] + noise * (jnp.arange(8) >= 3), w2=p["w2"] + 1.0 * (jnp.arange(8) >= 3)[:, None])
  x = jax.random.normal(jax.random.key(2), (5, 40))
  np.testing.assert_array_equal(double_descent.apply_masked(p, x, 3), double_descent.apply_masked(q, x, 3))
  g = jax.grad(lambda p: jnp.sum(jnp.sin(double_descent.apply_masked(p, x, 3))))(q)
  assert not np.any(g["w1"][:, 3:]) and not np.any(g["b1"][3:]) and not np.any(g["w2"][3:])


# ----------------------------------------------------------------------------- ridge formulas and claim helpers


def test_lambda_opt_in_both_conventions():
  # the paper: argmin ‖Xβ − y‖² + λ‖β‖²; jaxreg: (1/2n)‖y − Xw‖² + (α/2)‖w‖², so λ = n·α
  assert double_descent.lambda_opt(500, 0.5, 1.0) == 125.0
  rng = np.random.default_rng(0)
  X, y, lam = rng.normal(size=(30, 8)), rng.normal(size=30), 7.0
  paper = np.linalg.solve(X.T @ X + lam * np.eye(8), X.T @ y)
  with jax.enable_x64(True):
    ours = double_descent.ridge_coefs(X, y, np.array([lam / 30]))[0]
    # zero-padded rows leave the solution unchanged when alpha = λ / n_padded
    Xp, yp = np.vstack([X, np.zeros((20, 8))]), np.concatenate([y, np.zeros(20)])
    padded = double_descent.ridge_coefs(Xp, yp, np.array([lam / 50]))[0]
  np.testing.assert_allclose(ours, paper, rtol=1e-10)
  np.testing.assert_allclose(padded, paper, rtol=1e-10)


def test_mp_risk_limits():
  d, sigma, r = 500, 0.5, 1.0
  # λ → 0: the asymptotic min-norm risk, σ²γ/(1 − γ) (+σ²) below the threshold, r²(1 − 1/γ) + σ²/(γ − 1) above
  for n in (250, 1000):
    g = d / n
    want = sigma**2 + (sigma**2 * g / (1 - g) if g < 1 else r**2 * (1 - 1 / g) + sigma**2 / (g - 1))
    assert double_descent.mp_risk(1e-7, n, d, sigma, r) == pytest.approx(want, rel=1e-4)
  # λ → ∞: ŵ → 0, risk ‖β‖² + σ²
  assert double_descent.mp_risk(1e9, 300, d, sigma, r) == pytest.approx(r**2 + sigma**2, rel=1e-4)
  # minimized at λ_opt = dσ²/r², and equal there to σ²(1 + γ m(−α_opt))
  lams = np.geomspace(1, 1e4, 4001)
  for n in (100, 500, 900):
    risks = double_descent.mp_risk(lams, n, d, sigma, r)
    assert lams[np.argmin(risks)] == pytest.approx(125, rel=0.01)
    opt = sigma**2 * (1 + d / n * double_descent.mp_stieltjes(125 / n, d / n))
    assert double_descent.mp_risk(125, n, d, sigma, r) == pytest.approx(opt, rel=1e-6)


def test_minnorm_exact_risk_by_monte_carlo():
  rng = np.random.default_rng(0)
  d, sigma = 20, 0.5
  for n in (8, 40):
    risks = []
    for _ in range(4000):
      X = rng.normal(size=(n, d))
      beta = rng.normal(size=d)
      beta /= np.linalg.norm(beta)
      w = np.linalg.pinv(X) @ (X @ beta + sigma * rng.normal(size=n))
      risks.append(np.sum((w - beta) ** 2) + sigma**2)
    se = np.std(risks) / math.sqrt(len(risks))
    assert abs(np.mean(risks) - double_descent.minnorm_risk(n, d, sigma, 1.0)) < 5 * se
  assert math.isnan(double_descent.minnorm_risk(20, 20, sigma, 1.0))


def test_noisy_labels_flip_exactly_the_fraction_to_other_classes():
  y = np.arange(1000) % 10
  z = double_descent.noisy_labels(y, 0.15, 10)
  assert (z != y).sum() == 150 and z.min() >= 0 and z.max() <= 9
  np.testing.assert_array_equal(z, double_descent.noisy_labels(y, 0.15, 10))   # fixed seed


def test_rise_helpers_by_hand():
  curves = np.array([[3.0, 3.2], [2.0, 2.2], [2.6, 2.8], [1.0, 1.2]])   # means 3.1, 2.1, 2.7, 1.1
  i, rise, z = double_descent.rise_over_best_before(curves)
  assert (i, rise) == (2, pytest.approx(0.6)) and z == pytest.approx(0.6 / (np.std([2.6, 2.8], ddof=1) / math.sqrt(2)))
  assert double_descent.rise_over_best_before(curves[[0, 1, 3]])[1] == 0.0
  rise, z = double_descent.monotone_rises(np.array([[1.0, 1.0], [1.5, 1.7], [0.2, 0.2]]))
  assert rise == pytest.approx(0.6) and z == pytest.approx(0.6 / (np.std([0.5, 0.7], ddof=1) / math.sqrt(2)))


def test_good_region_by_hand():
  rates = np.array([0.0, 0.1, 0.2, 0.3])
  err = np.array([[0.40, 0.42], [0.30, 0.32], [0.29, 0.33], [0.35, 0.37]])   # means .41 .31 .31 .36
  best, lo, hi, good = concrete_rate.good_region(rates, err)
  se = np.std([0.30, 0.32], ddof=1) / math.sqrt(2)      # the first minimum (rate 0.1); rate 0.2 ties
  assert best == 1 and (lo, hi) == (0.1, 0.2) and list(good) == [False, True, True, False]
  assert 0.31 + se < 0.36


# ----------------------------------------------------------------------------- ECE


def _ece_loop(probs, labels, n_bins=15):
  """A plain reference: bins ((b − 1)/n, b/n], confidence 0 in the first bin."""
  total, n = 0.0, len(labels)
  conf, pred = probs.max(1), probs.argmax(1)
  for b in range(n_bins):
    lo, hi = b / n_bins, (b + 1) / n_bins
    idx = [i for i in range(n) if (lo < conf[i] <= hi) or (b == 0 and conf[i] == 0)]
    if idx:
      acc = np.mean([pred[i] == labels[i] for i in idx])
      total += len(idx) / n * abs(acc - np.mean(conf[idx]))
  return total


def test_ece_by_hand():
  # confidences 0.9 ✓, 0.95 ✗, 1.0 ✓, 0.5 ✓, 0.52 ✗, 0.38 ✓ over 3 classes; bins of width 1/15:
  # (13/15, 14/15]: {0.9 ✓} → |1 − 0.9| = 0.1;  (14/15, 1]: {0.95 ✗, 1.0 ✓} → 2·|0.5 − 0.975| = 0.95
  # (7/15, 8/15]: {0.5 ✓, 0.52 ✗} → 2·|0.5 − 0.51| = 0.02;  (5/15, 6/15]: {0.38 ✓} → 0.62.  ECE = 1.69 / 6
  conf = [0.9, 0.95, 1.0, 0.5, 0.52, 0.38]
  pred = [0, 1, 2, 0, 1, 2]
  labels = np.array([0, 0, 2, 0, 2, 2])
  probs = np.full((6, 3), 0.0, np.float32)
  for i, (c, k) in enumerate(zip(conf, pred)):
    probs[i] = (1 - c) / 2
    probs[i, k] = c
  assert float(mc_uncertainty.ece(probs, labels)) == pytest.approx(1.69 / 6, abs=1e-6)
  assert _ece_loop(probs, labels) == pytest.approx(1.69 / 6, abs=1e-6)


def test_ece_matches_a_loop_on_random_predictions():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(500, 10)) * 3
  probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  labels = rng.integers(0, 10, 500)
  assert float(mc_uncertainty.ece(probs.astype(np.float32), labels)) == pytest.approx(
      _ece_loop(probs.astype(np.float32), labels), abs=1e-5)


def test_metrics_rejection_curve_and_nll():
  probs = jnp.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.5, 0.5]])
  labels = jnp.array([0, 1, 1, 1])
  m = mc_uncertainty.metrics(probs, labels, (0.25, 0.5, 0.75, 1.0))
  # entropies: 0.325, 0.673, 0.500, 0.693 → order 0 (✓), 2 (✓), 1 (✗), 3 (argmax 0: ✗)
  np.testing.assert_allclose(m["rejection"], [1.0, 1.0, 2 / 3, 0.5], rtol=1e-6)
  assert float(m["accuracy"]) == 0.5
  assert float(m["nll"]) == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.5])), rel=1e-6)


# ----------------------------------------------------------------------------- quick runs


def _check_common(run, name):
  js = run.json
  for suffix in (".csv", ".png", ".json"):
    assert (run.out / f"{name}{suffix}").stat().st_size > 0
  assert (run.out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  for field in ENV_FIELDS:
    assert field in js, field
  assert js["name"] == name and js["quick"] is True and isinstance(js["held"], bool)
  assert js["held"] == all(c["held"] for c in js["claims"])
  assert all({"claim", "held"} <= set(c) for c in js["claims"])
  assert js["command"] == f"python -m experiments.{name} --quick"


@slow
def test_double_descent_quick(quick_runs):
  run = quick_runs["double_descent"]
  _check_common(run, "double_descent")
  cfg = double_descent.QUICK
  lin, mlp = cfg["linear"], cfg["mlp"]
  assert run.columns == double_descent.COLUMNS
  ridge = [r for r in run.rows if r["part"] == "ridge"]
  mlp_rows = [r for r in run.rows if r["part"] == "mlp"]
  n_lambdas = len(double_descent.linear_lambdas(lin))
  assert len(ridge) == len(lin["ns"]) * lin["seeds"] * n_lambdas
  assert len(mlp_rows) == len(mlp["widths"]) * len(mlp["alphas"]) * mlp["seeds"]
  assert len(run.json["claims"]) == 5
  assert run.json["lambda_opt"] == lin["d"] * lin["sigma"] ** 2
  for r in ridge:   # alpha is jaxreg's convention: λ / n
    assert float(r["alpha"]) == pytest.approx(float(r["lambda"]) / int(r["n"]), rel=1e-5)
  # even the quick run shows the sample-wise peak at n = d without regularization
  assert run.json["claims"][0]["held"] is True


@slow
def test_mc_uncertainty_quick(quick_runs):
  run = quick_runs["mc_uncertainty"]
  _check_common(run, "mc_uncertainty")
  cfg = mc_uncertainty.QUICK
  assert run.columns[:4] == ["dropout", "seed", "method", "T"]
  assert len(run.rows) == len(cfg["rates"]) * cfg["seeds"] * (1 + len(cfg["ts"]))
  assert {r["method"] for r in run.rows} == {"weight_scaling", *[f"mc_T{t}" for t in cfg["ts"]]}
  for r in run.rows:
    assert 0 <= float(r["ece"]) <= 1 and float(r["nll"]) > 0 and 0 <= float(r["accuracy"]) <= 1
  assert run.json["best_rate"] in cfg["rates"]
  assert [c["claim"].split(",")[0] for c in run.json["claims"]] == ["at the best rate"] * 2


@slow
def test_concrete_rate_quick(quick_runs):
  run = quick_runs["concrete_rate"]
  _check_common(run, "concrete_rate")
  cfg = concrete_rate.QUICK
  assert run.columns == concrete_rate.COLUMNS
  grid = [r for r in run.rows if r["method"] == "grid"]
  conc = [r for r in run.rows if r["method"] == "concrete"]
  assert len(grid) == len(cfg["rates"]) * cfg["seeds"] and len(conc) == len(cfg["lengthscales"]) * cfg["seeds"]
  for r in conc:
    assert 0 < float(r["learned_rate_1"]) < 1 and 0 < float(r["learned_rate_2"]) < 1
  lo, hi = run.json["good_region"]
  assert lo <= run.json["best_rate"] <= hi
  halving = run.json["halving"]   # jaxreg.successive_halving over the same rates
  assert halving["best_rate"] in cfg["rates"] and 0 < halving["steps_fraction_of_grid"] < 1
  assert [len(r["rates"]) for r in halving["rungs"]] == [len(cfg["rates"]), 1]
