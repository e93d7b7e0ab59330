"""Experiments dropout_mnist1d, regularizer_table and adamw_vs_l2: quick runs, outputs, claims, helpers.

Each experiment runs once per test session (the ``quick_runs`` fixture of ``conftest.py``:
``main(["--quick", "--out", tmp])`` in this process); the tests then read the files it wrote, as a
user would. The outputs every experiment shares are checked in ``test_experiments.py``.
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats

from experiments import adamw_vs_l2, dropout_mnist1d, regularizer_table

pytestmark = pytest.mark.slow   # quick runs of whole experiments/benchmarks: `pytest -m slow` (run by .ci/run)

ENV_FIELDS = ("name", "claim", "held", "measured", "quick", "seeds", "command", "wall_time_s", "jax_version",
              "jaxreg_version", "device", "cpu", "files", "claims")


def _run(quick_runs, name):
  run = quick_runs[name]
  return {"out": run.out, "record": run.record, "rows": run.rows, "columns": run.columns, "json": run.json}


@pytest.fixture
def dropout_run(quick_runs):
  return _run(quick_runs, "dropout_mnist1d")


@pytest.fixture
def table_run(quick_runs):
  return _run(quick_runs, "regularizer_table")


@pytest.fixture
def adamw_run(quick_runs):
  return _run(quick_runs, "adamw_vs_l2")


def _check_common(run, name):
  out, js = run["out"], run["json"]
  for suffix in (".csv", ".png", ".json"):
    assert (out / f"{name}{suffix}").stat().st_size > 0
  assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  for field in ENV_FIELDS:
    assert field in js, field
  assert js["name"] == name and js["quick"] is True and isinstance(js["held"], bool)
  assert js["held"] == all(c["held"] for c in js["claims"])
  assert js["command"] == f"python -m experiments.{name} --quick"


# ----------------------------------------------------------------------------- dropout_mnist1d


def test_dropout_outputs(dropout_run):
  _check_common(dropout_run, "dropout_mnist1d")
  cfg = dropout_mnist1d.QUICK
  rows, cols = dropout_run["rows"], dropout_run["columns"]
  assert cols[:2] == ["dropout", "seed"]
  assert {"train_accuracy", "test_accuracy", "train_test_gap", "test_error"} <= set(cols)
  assert [c for c in cols if c.startswith("mc_")] == [f"mc_test_error_k{k}" for k in cfg["ks"]]
  assert len(rows) == len(cfg["rates"]) * cfg["seeds"]          # one row per rate × seed
  assert sorted({float(r["dropout"]) for r in rows}) == pytest.approx(sorted(cfg["rates"]))
  for r in rows:
    assert float(r["train_test_gap"]) == pytest.approx(float(r["train_accuracy"]) - float(r["test_accuracy"]),
                                                       abs=1e-5)
    assert float(r["test_error"]) == pytest.approx(1 - float(r["test_accuracy"]), abs=1e-5)


def test_dropout_rate_zero_mc_equals_deterministic(dropout_run):
  # Dropout with rate 0 is the identity, so every MC average is the deterministic prediction.
  for r in dropout_run["rows"]:
    if float(r["dropout"]) == 0.0:
      for k in dropout_mnist1d.QUICK["ks"]:
        assert r[f"mc_test_error_k{k}"] == r["test_error"]


def test_dropout_quick_shows_the_qualitative_claims(dropout_run):
  rows = dropout_run["rows"]
  by_rate = {}
  for r in rows:
    by_rate.setdefault(float(r["dropout"]), []).append(r)
  gap = {rate: np.mean([float(r["train_test_gap"]) for r in rs]) for rate, rs in by_rate.items()}
  rates = sorted(gap)
  assert gap[rates[0]] > gap[rates[-1]]                         # more dropout, smaller gap
  mid = by_rate[rates[1]]                                        # one MC mask is a worse predictor than the mean net
  assert np.mean([float(r["mc_test_error_k1"]) for r in mid]) > np.mean([float(r["test_error"]) for r in mid])
  assert dropout_run["json"]["claims"][0]["held"] in (True, False)


def test_matching_k_by_hand():
  ks = (1, 5, 20, 50)
  ws = np.array([0.30, 0.32])                    # mean 0.31, std (ddof 1) = 0.01414
  mc = np.array([[0.40, 0.33, 0.33, 0.31], [0.42, 0.35, 0.31, 0.31]])   # means .41 .34 .32 .31
  assert dropout_mnist1d.matching_k(mc, ws, ks) == (20, pytest.approx(np.sqrt(2e-4)))
  # Within the noise at k=5 but not after: the match must hold from k on.
  mc2 = np.array([[0.40, 0.31, 0.40, 0.31], [0.40, 0.31, 0.40, 0.31]])
  assert dropout_mnist1d.matching_k(mc2, ws, ks)[0] == 50
  assert dropout_mnist1d.matching_k(mc2 + 1, ws, ks)[0] is None


def test_spearman_matches_scipy():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=12), rng.normal(size=12)
  assert dropout_mnist1d.spearman(x, y) == pytest.approx(scipy.stats.spearmanr(x, y).statistic)


# ----------------------------------------------------------------------------- regularizer_table


def test_table_outputs(table_run):
  _check_common(table_run, "regularizer_table")
  rows, cols, js = table_run["rows"], table_run["columns"], table_run["json"]
  assert cols[:3] == ["method", "stage", "eval_set"]
  assert {"dropout", "l2", "l1", "max_norm", "group", "seed", "test_error", "train_error"} <= set(cols)
  grids = regularizer_table.grids(quick=True)
  n_tune = sum(math.prod(len(v) for v in g.values()) for g in grids.values() if g)
  tune = [r for r in rows if r["stage"] == "tune"]
  test = [r for r in rows if r["stage"] == "test"]
  assert len(tune) == n_tune and all(r["eval_set"] == "validation" for r in tune)
  assert len(test) == len(grids) * regularizer_table.QUICK["seeds"] and all(r["eval_set"] == "test" for r in test)
  assert set(js["methods"]) == set(grids) == set(regularizer_table.PAPER)
  assert sorted(js["ordering"]) == sorted(regularizer_table.PAPER_ORDER)
  assert -1 <= js["kendall_tau"] <= 1
  md = (table_run["out"] / "regularizer_table.md").read_text()
  for method, paper in regularizer_table.PAPER.items():
    assert f"| {method} |" in md
    if paper is not None:
      assert f"{paper:.2f}" in md


def test_table_selection_is_the_validation_argmin(table_run):
  # Recompute each method's choice from the CSV's tuning rows; the test rows must use it.
  rows, hp = table_run["rows"], regularizer_table.HP
  for method, grid in regularizer_table.grids(quick=True).items():
    test = [r for r in rows if r["method"] == method and r["stage"] == "test"]
    chosen = {tuple(float(r[k]) for k in hp) for r in test}
    assert len(chosen) == 1
    if not grid:
      assert chosen == {tuple(regularizer_table.OFF[k] for k in hp)}
      continue
    tune = [r for r in rows if r["method"] == method and r["stage"] == "tune"]
    best = min(tune, key=lambda r: float(r["test_error"]))
    assert chosen == {tuple(float(best[k]) for k in hp)}
    # the method's own axes vary in its tuning rows; every other regularizer is off
    for k in hp:
      values = {float(r[k]) for r in tune}
      assert values == ({float(v) for v in grid[k]} if k in grid else {regularizer_table.OFF[k]})


def test_kendall_tau_matches_scipy():
  a, b = [3.0, 1.0, 2.0, 5.0, 4.0], [1.62, 1.60, 1.35, 1.25, 1.05]
  assert regularizer_table.kendall_tau(a, b) == pytest.approx(scipy.stats.kendalltau(a, b).statistic)


def test_table_off_values_leave_adam_unchanged():
  # The unified optimizer with every regularizer off is Adam (up to float rounding of max-norm/prox). The
  # "off" values are data, traced as in the experiment's sweep: max_norm's radius ∞ is refused only as a
  # concrete value (a concrete radius must be finite), a traced one is never inspected.
  params = [{"w": jax.random.normal(jax.random.key(0), (4, 3)), "b": jnp.ones(3)}]
  grads = jax.tree_util.tree_map(lambda p: 0.1 * jnp.cos(p), params)
  cfg = dict(regularizer_table.QUICK)
  wo = regularizer_table.jaxreg.masks.weights_only
  h = {k: jnp.asarray(v, jnp.float32) for k, v in regularizer_table.OFF.items()}

  @jax.jit
  def three_updates(h):
    jr = regularizer_table.jaxreg
    opt = optax.chain(jr.add_l2(h["l2"], mask=wo), jr.add_l1(h["l1"], mask=wo), optax.adam(cfg["lr"]),
                      jr.max_norm(h["max_norm"], mask=wo), jr.proximal_group_lasso(h["group"], cfg["lr"], mask=wo))
    s, out = opt.init(params), []
    for _ in range(3):
      u, s = opt.update(grads, s, params)
      out.append(u)
    return out

  ref = optax.adam(cfg["lr"])
  r, ref_update = ref.init(params), jax.jit(ref.update)
  for u in three_updates(h):
    v, r = ref_update(grads, r, params)
    chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- adamw_vs_l2


def test_adamw_outputs(adamw_run):
  _check_common(adamw_run, "adamw_vs_l2")
  rows, cols = adamw_run["rows"], adamw_run["columns"]
  assert cols[:5] == ["optimizer", "lr", "decay_kind", "weight_decay", "seed"]
  assert {"test_error", "train_error", "test_loss"} <= set(cols)
  grids = adamw_vs_l2.QUICK["grids"]
  n_ref = len(grids["SGD + L2"][0]) * len(grids["SGD + L2"][1])       # the lr + 1 ulp rerun of SGD + L2
  assert len(rows) == sum(len(lr) * len(wd) for lr, wd in grids.values()) + n_ref   # one row per run
  assert {r["optimizer"] for r in rows} == {*adamw_vs_l2.OPTIMIZERS, adamw_vs_l2.ULP_REFERENCE}
  ref = sorted(np.float32(r["lr"]) for r in rows if r["optimizer"] == adamw_vs_l2.ULP_REFERENCE)
  base = sorted(np.float32(r["lr"]) for r in rows if r["optimizer"] == "SGD + L2")
  assert ref == [np.nextafter(x, np.float32(np.inf)) for x in base]


def test_adamw_sgd_coupled_equals_decoupled(adamw_run):
  # Loshchilov & Hutter Prop. 1 (α = λ with per-step decay lr·λ): in a short run float32 rounding has not
  # grown enough to flip a prediction: the same test errors, and test losses equal to 1e-4.
  rows = adamw_run["rows"]
  cell = lambda name: {(r["lr"], r["weight_decay"]): r for r in rows if r["optimizer"] == name}
  a, b = cell("SGD + L2"), cell("SGD + decoupled")
  assert a.keys() == b.keys() and a
  for k in a:
    assert a[k]["test_error"] == b[k]["test_error"]
    assert float(a[k]["test_loss"]) == pytest.approx(float(b[k]["test_loss"]), rel=1e-4)
  assert adamw_run["json"]["claims"][0]["held"] is True
  assert adamw_run["json"]["sgd_pair_abs_test_error_diff"]["max"] == 0


@jax.jit
def _run_steps(h, params):
  # jitted: four optax steps of the experiment's optimizer on a toy problem (gradient sin(w + t))
  opt = adamw_vs_l2.make_optimizer(h)

  def step(carry, t):
    p, s = carry
    u, s = opt.update(jax.tree_util.tree_map(lambda x: jnp.sin(x + t), p), s, p)
    return (optax.apply_updates(p, u), s), None

  return jax.lax.scan(step, (params, opt.init(params)), jnp.arange(4.0))[0][0]


def _ref_steps(ref, params, n=4):
  s = ref.init(params)
  update = jax.jit(ref.update)
  for t in range(n):
    u, s = update(jax.tree_util.tree_map(lambda x: jnp.sin(x + t), params), s, params)
    params = optax.apply_updates(params, u)
  return params


@pytest.mark.parametrize("adam, l2, wd, ref", [
    (1.0, 0.0, 0.3, lambda lr: optax.adamw(lr, weight_decay=0.3)),                      # AdamW
    (1.0, 0.01, 0.0, lambda lr: optax.chain(optax.add_decayed_weights(0.01), optax.adam(lr))),  # Adam + L2
    (0.0, 0.01, 0.0, lambda lr: optax.chain(optax.add_decayed_weights(0.01), optax.sgd(lr))),   # SGD + L2
    (0.0, 0.0, 0.01, lambda lr: optax.chain(optax.add_decayed_weights(0.01), optax.sgd(lr))),   # Prop. 1
])
def test_adamw_optimizers_match_optax(adam, l2, wd, ref):
  lr = 0.05
  h = {"adam": jnp.float32(adam), "lr": jnp.float32(lr), "l2": jnp.float32(l2), "wd": jnp.float32(wd)}
  params = {"w": jax.random.normal(jax.random.key(0), (5, 4)), "b": jnp.linspace(-1, 1, 4)}
  chex.assert_trees_all_close(_run_steps(h, params), _ref_steps(ref(lr), params), rtol=1e-5, atol=1e-6)


def test_switch_keeps_the_chosen_update_bit_for_bit():
  params = {"w": jnp.arange(6.0).reshape(2, 3)}
  grads = {"w": jnp.ones((2, 3)) * 0.3}
  for flag, ref in ((1.0, optax.adam(0.1)), (0.0, optax.sgd(0.1))):
    opt = adamw_vs_l2.switch(jnp.float32(flag), optax.adam(0.1), optax.sgd(0.1))
    u, _ = opt.update(grads, opt.init(params), params)
    v, _ = ref.update(grads, ref.init(params), params)
    assert jnp.array_equal(u["w"], v["w"])
