"""Successive halving, Hyperband and PBT (jaxreg.successive_halving, jaxreg.hyperband, jaxreg.pbt).

The references are outside the code under test: ``jaxreg.sweep`` (or plain jitted calls, one
configuration at a time) running the same staged functions with the documented keys, schedules
computed by hand, and numpy rankings of the recorded metrics.
"""

import math
import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg

sys.path.insert(0, os.path.dirname(__file__))
import _search_worker as w  # noqa: E402

from jaxreg._sweep import _halving, _pbt  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "_search_worker.py")


def assert_trees_equal(a, b):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def by_index(n_configs):
  """A sweep fn factory: grid axis ``i`` looks configuration ``i`` up in w.CONFIGS (the same float32 values)."""
  table = {k: jnp.asarray(v) for k, v in w.CONFIGS.items()}
  return lambda h: {k: v[h["i"]] for k, v in table.items()}


# ----------------------------------------------------------------------------- successive halving


def test_each_rung_equals_sweep_of_the_same_configurations_with_the_documented_keys():
  r = w.halving()
  steps = [3, 9, 27]
  assert [rung.steps for rung in r.rungs] == steps
  lookup = by_index(len(w.CONFIGS["alpha"]))
  for i, rung in enumerate(r.rungs):
    def fn(hp, k, i=i):
      h = lookup(hp)
      s = w.init(h, k)
      for j in range(i + 1):
        s = w.train(s, h, jax.random.fold_in(k, j), steps[j] - (steps[j - 1] if j else 0))
      return w.evaluate(s, h)

    ref = jaxreg.sweep(fn, {"i": rung.index}, key=w.KEY, seeds=3, progress=False)
    for name in ("loss", "norm"):
      np.testing.assert_allclose(rung.metrics[name], ref.values[name], rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(rung.score, ref.values["loss"].astype(np.float64).mean(1), rtol=2e-6)


def test_survivors_are_the_best_ceil_n_over_eta_by_seed_mean():
  r = w.halving()
  assert [len(rung.index) for rung in r.rungs] == [10, 4, 2]
  np.testing.assert_array_equal(r.rungs[0].index, np.arange(10))
  for rung, nxt in zip(r.rungs, r.rungs[1:]):
    mean = rung.metrics["loss"].astype(np.float64).mean(1)   # numpy ranking of the recorded metrics
    want = rung.index[np.argsort(mean, kind="stable")[:math.ceil(len(rung.index) / 3)]]
    np.testing.assert_array_equal(nxt.index, want)
    np.testing.assert_array_equal(rung.index[rung.kept], want)
    for k, v in w.CONFIGS.items():
      np.testing.assert_array_equal(nxt.hparams[k], v[want])
  last = r.rungs[-1]
  b = int(np.argmin(last.metrics["loss"].mean(1)))
  assert r.best_index == last.index[b]
  assert r.best == {k: v[last.index[b]].item() for k, v in w.CONFIGS.items()}
  assert r.total_steps == 3 * (10 * 3 + 4 * 6 + 2 * 18)   # seeds × Σ n_i (r_i − r_{i−1})
  assert r.state["w"].shape == (2, 3, w.D)
  records = r.to_records()
  assert len(records) == 3 * (10 + 4 + 2) and set(records[0]) >= {"rung", "steps", "config", "alpha", "lr", "seed",
                                                                    "loss", "norm"}


@pytest.mark.parametrize("eta, min_steps, max_steps, n_rungs, want", [
    (3, 1, 27, None, [1, 3, 9, 27]),
    (3, 2, 27, None, [3, 9, 27]),     # 27/27 < 2: three rungs; round(27/9) = 3
    (2, 5, 40, None, [5, 10, 20, 40]),
    (3, None, 100, 3, [11, 33, 100]),  # round(100/9), round(100/3)
    (4, 7, 7, None, [7]),
])
def test_schedule_by_hand(eta, min_steps, max_steps, n_rungs, want):
  assert _halving._schedule(eta, min_steps, max_steps, n_rungs, "t") == want


def test_survivor_counts_by_hand():
  assert _halving._survivors(64, 3, 4) == [64, 22, 8, 3]
  assert _halving._survivors(10, 2, 5) == [10, 5, 3, 2, 1]


def test_one_compile_per_rung_and_none_on_a_repeated_call():
  c = np.float32(np.random.default_rng().uniform(1, 2))   # a constant unique to this test: no cached program

  def evaluate(s, h):
    return {"loss": w.evaluate(s, h)["loss"] * c}

  before = _halving.COMPILES[0]
  a = jaxreg.successive_halving(w.init, w.train, evaluate, w.CONFIGS, key=w.KEY, seeds=2, eta=3, min_steps=1,
                                max_steps=9, metric="loss")
  assert _halving.COMPILES[0] - before == len(a.rungs) == 3
  b = jaxreg.successive_halving(w.init, w.train, evaluate, w.CONFIGS, key=w.KEY, seeds=2, eta=3, min_steps=1,
                                max_steps=9, metric="loss")
  assert _halving.COMPILES[0] - before == 3
  for x, y in zip(a.rungs, b.rungs):
    assert_trees_equal(x.metrics, y.metrics)


def test_nan_configurations_rank_last_and_a_whole_nan_rung_raises():
  bad = np.array([0, 1, 1, 0, 1, 1, 1, 1, 1, 0], np.float32)   # 1: evaluate returns NaN for this configuration

  def evaluate(s, h):
    m = w.evaluate(s, h)
    return {**m, "loss": jnp.where(h["bad"] > 0, jnp.nan, m["loss"])}

  cfg = {**w.CONFIGS, "bad": bad}
  r = jaxreg.successive_halving(w.init, w.train, evaluate, cfg, key=w.KEY, seeds=2, eta=3, min_steps=3,
                                max_steps=27, metric="loss")
  kept = r.rungs[1].index
  assert len(kept) == 4 and set(np.flatnonzero(bad == 0)) <= set(kept.tolist())   # every finite one kept
  assert list(kept[:3]) == list(np.flatnonzero(bad == 0)[np.argsort(r.rungs[0].score[bad == 0])])
  assert kept[3] == 1   # then the first NaN one (ties: the earlier configuration)
  assert bad[r.best_index] == 0

  # One NaN seed (of two) fails the configuration: its seed mean is NaN, not the other seed's value.
  # The state carries u = uniform(seed key); configuration 0 is NaN only for the seed with the smaller u.
  u = [float(jax.random.uniform(jax.random.fold_in(w.KEY, seed))) for seed in (0, 1)]
  assert u[0] != u[1]
  init_u = lambda h, k: {**w.init(h, k), "u": jax.random.uniform(k)}
  train_u = lambda s, h, k, n: {**w.train({"w": s["w"], "opt": s["opt"]}, h, k, n), "u": s["u"]}

  def one_bad_seed(s, h):
    m = w.evaluate(s, h)
    return {**m, "loss": jnp.where((h["alpha"] == 0.0) & (s["u"] < max(u)), m["loss"] + jnp.nan, m["loss"])}
  r = jaxreg.successive_halving(init_u, train_u, one_bad_seed, w.CONFIGS, key=w.KEY, seeds=2, eta=3, min_steps=3,
                                max_steps=27, metric="loss")
  assert 0 not in r.rungs[1].index and np.isnan(r.rungs[0].score[0])
  assert np.isnan(r.rungs[0].metrics["loss"][0]).sum() == 1   # exactly one seed failed

  # NaN everywhere only at the last rung (27 steps): nothing to select there either.
  init_t = lambda h, k: {**w.init(h, k), "t": jnp.int32(0)}   # the state counts its steps
  train_t = lambda s, h, k, n: {**w.train({"w": s["w"], "opt": s["opt"]}, h, k, n), "t": s["t"] + n}
  late_nan = lambda s, h: {**w.evaluate(s, h), "loss": jnp.where(s["t"] >= 27, jnp.nan, 1.0)}
  with pytest.raises(ValueError, match=r"every configuration's metric 'loss'.*NaN.*rung 2"):
    jaxreg.successive_halving(init_t, train_t, late_nan, w.CONFIGS, key=w.KEY, eta=3, min_steps=3, max_steps=27,
                              metric="loss")

  with pytest.raises(ValueError, match=r"successive_halving: every configuration's metric 'loss'.*NaN.*rung 0"):
    jaxreg.successive_halving(w.init, w.train, evaluate, {**cfg, "bad": np.ones(10, np.float32)}, key=w.KEY,
                              min_steps=3, max_steps=27, metric="loss")


def test_mode_max_ranks_the_other_way():
  r = jaxreg.successive_halving(w.init, w.train, w.evaluate, w.CONFIGS, key=w.KEY, seeds=2, eta=3, min_steps=3,
                                max_steps=27, metric="norm", mode="max")
  mean = r.rungs[0].metrics["norm"].astype(np.float64).mean(1)
  np.testing.assert_array_equal(r.rungs[1].index, np.argsort(-mean, kind="stable")[:4])


def test_resume_after_sigkill_is_bit_identical(tmp_path, monkeypatch):
  ckpt = tmp_path / "ckpt"
  proc = subprocess.Popen([sys.executable, WORKER, "kill", str(ckpt)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  try:
    line = proc.stdout.readline()   # rungs 0 and 1 are on disk once rung 2 is about to run
    assert line.startswith("SAVED"), proc.stderr.read()[-3000:]
  finally:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
  assert sorted(f for f in os.listdir(ckpt) if f.startswith("chunk-")) == ["chunk-rung0.npz", "chunk-rung1.npz"]

  ran = []
  compiled = _halving._Runner.compiled
  monkeypatch.setattr(_halving._Runner, "compiled", lambda self, i, n: (ran.append(i), compiled(self, i, n))[1])
  resumed = w.halving(checkpoint_dir=ckpt)
  assert ran == [2]   # rungs 0 and 1 were read back, not run
  whole = w.halving()
  for a, b in zip(resumed.rungs, whole.rungs):
    np.testing.assert_array_equal(a.index, b.index)
    assert_trees_equal(a.metrics, b.metrics)
  assert_trees_equal(resumed.state, whole.state)

  ran.clear()
  again = w.halving(checkpoint_dir=ckpt)   # finished: everything read back, nothing runs
  assert ran == [] and again.best == whole.best
  assert_trees_equal(again.state, whole.state)


def test_checkpoint_of_another_search_is_refused(tmp_path):
  w.halving(checkpoint_dir=tmp_path, max_steps=9)
  with pytest.raises(ValueError, match="successive_halving: checkpoint_dir .* different configs"):
    jaxreg.successive_halving(w.init, w.train, w.evaluate, {k: v[:9] for k, v in w.CONFIGS.items()}, key=w.KEY,
                              seeds=3, eta=3, min_steps=3, max_steps=9, metric="loss", checkpoint_dir=tmp_path)

  def train2(s, h, k, steps):   # another program (one more step per call)
    return w.train(s, h, k, steps + 1)
  with pytest.raises(ValueError, match="different fn"):
    jaxreg.successive_halving(w.init, train2, w.evaluate, w.CONFIGS, key=w.KEY, seeds=3, eta=3, min_steps=3,
                              max_steps=9, metric="loss", checkpoint_dir=tmp_path)
  with pytest.raises(ValueError, match="different .*schedule"):
    w.halving(checkpoint_dir=tmp_path, max_steps=9, eta=2)


def test_hyperband_brackets_by_hand():
  n = 9 + 5 + 3   # eta 3, R = 9, r_min = 1: s_max = 2, n_s = ceil(3/(s+1) · 3**s)
  cfg = {"alpha": np.geomspace(1e-3, 1, n).astype(np.float32), "lr": np.full(n, 0.1, np.float32)}
  r = jaxreg.hyperband(w.init, w.train, w.evaluate, cfg, key=w.KEY, seeds=2, eta=3, min_steps=1, max_steps=9,
                       metric="loss")
  assert [[len(g.index) for g in b.rungs] for b in r.brackets] == [[9, 3, 1], [5, 2], [3]]
  assert [[g.steps for g in b.rungs] for b in r.brackets] == [[1, 3, 9], [3, 9], [9]]
  assert r.offsets == [0, 9, 14]
  assert r.total_steps == 2 * ((9 * 1 + 3 * 2 + 1 * 6) + (5 * 3 + 2 * 6) + 3 * 9)
  # Bracket s = 0 is a plain sweep of its 3 configurations for 9 steps.
  last = r.brackets[2].rungs[0]
  ref = jaxreg.sweep(lambda h, k: w.evaluate(w.train(w.init(h, k), h, jax.random.fold_in(k, 0), 9), h),
                     {"alpha": cfg["alpha"][14:]}, static={"lr": [0.1]}, key=w.KEY, seeds=2, progress=False)
  np.testing.assert_allclose(last.metrics["loss"], ref.values["loss"][0], rtol=2e-6)
  finals = [(b.best_score, off + b.best_index) for b, off in zip(r.brackets, r.offsets)]
  assert r.best_index == min(finals)[1] and r.best == {k: v[r.best_index].item() for k, v in cfg.items()}
  with pytest.raises(ValueError, match="must hold exactly 17, got 16"):
    jaxreg.hyperband(w.init, w.train, w.evaluate, {k: v[:16] for k, v in cfg.items()}, key=w.KEY, eta=3,
                     min_steps=1, max_steps=9, metric="loss")


def test_devices_shard_rungs_and_populations_with_the_same_results(tmp_path):
  out = tmp_path / "two.npz"
  run = subprocess.run([sys.executable, WORKER, "devices", str(out)], capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  two = np.load(out)
  h, p = w.halving(), w.run_pbt()
  for i, rung in enumerate(h.rungs):
    np.testing.assert_array_equal(two[f"rung{i}_index"], rung.index)
    np.testing.assert_allclose(two[f"rung{i}_loss"], rung.metrics["loss"], rtol=1e-5)
  np.testing.assert_array_equal(two["pbt_parents"], p.parents)
  np.testing.assert_array_equal(two["pbt_lr"], p.hparams["lr"])
  np.testing.assert_allclose(two["pbt_loss"], p.metrics["loss"], rtol=1e-5)


# ----------------------------------------------------------------------------- bad input


def sh(configs=None, **kw):
  args = dict(key=w.KEY, min_steps=3, max_steps=9, metric="loss")
  return jaxreg.successive_halving(w.init, w.train, w.evaluate, w.CONFIGS if configs is None else configs,
                                   **{**args, **kw})


@pytest.mark.parametrize("kw, match", [
    (dict(configs={}), "configs is empty"),
    (dict(configs={"alpha": []}), r"configs\['alpha'\] must be a non-empty 1-D"),
    (dict(configs={"alpha": [0.1, 0.2], "lr": [0.1]}), "same length"),
    (dict(configs={"alpha": ["a", "b"], "lr": [0.1, 0.2]}), r"configs\['alpha'\] has dtype"),
    (dict(configs=[0.1, 0.2]), "configs must be a dict"),
    (dict(eta=1), "eta must be a number >= 2"),
    (dict(eta=1.5), "eta must be a number >= 2"),
    (dict(min_steps=10), "min_steps=10 is larger than max_steps=9"),
    (dict(max_steps=0), "max_steps"),
    (dict(min_steps=0), "min_steps"),
    (dict(min_steps=None, n_rungs=4), "less than one step"),
    (dict(n_rungs=2), "exactly one of min_steps and n_rungs"),
    (dict(metric="acc"), r"metric 'acc' is not a metric evaluate returns; its metrics are \['loss', 'norm'\]"),
    (dict(mode="best"), "mode must be 'min' or 'max'"),
    (dict(seeds=0), "successive_halving: seeds"),
    (dict(key=0), "successive_halving: key must be a PRNG key"),
])
def test_halving_bad_input(kw, match):
  with pytest.raises(ValueError, match=match):
    sh(**kw)


@pytest.mark.parametrize("bad_train", [
    lambda s, h, k, n: {**s, "w": jnp.concatenate([s["w"], s["w"]])},          # shape
    lambda s, h, k, n: {**s, "w": s["w"].astype(jnp.bfloat16)},                  # dtype
    lambda s, h, k, n: {"w": s["w"]},                                            # structure
])
def test_a_state_that_changes_between_rungs_is_refused(bad_train):
  with pytest.raises(ValueError, match=r"train\(state, hparams, key, steps=.*\) must return a state"):
    jaxreg.successive_halving(w.init, bad_train, w.evaluate, w.CONFIGS, key=w.KEY, min_steps=3, max_steps=9,
                              metric="loss")


def test_a_non_scalar_metric_is_refused():
  with pytest.raises(ValueError, match="metric 'w' must be a scalar"):
    jaxreg.successive_halving(w.init, w.train, lambda s, h: {"w": s["w"]}, w.CONFIGS, key=w.KEY, min_steps=3,
                              max_steps=9, metric="w")


# ----------------------------------------------------------------------------- PBT


def ranks_with_nan_last(m):
  x = np.where(np.isfinite(m), m.astype(np.float64), np.inf)
  return np.argsort(x, kind="stable")


def check_exploit(r, n_q, metric="loss"):
  """Every recorded exploit step against a numpy ranking of the recorded metrics and the perturbation rule."""
  size, n_int = r.parents.shape[1], len(r.steps)
  ident = np.arange(size)
  for j in range(n_int):
    m, par = r.metrics[metric][j], r.parents[j]
    if j == n_int - 1:
      np.testing.assert_array_equal(par, ident)
      continue
    order = ranks_with_nan_last(m)
    top, bottom = order[:n_q], order[size - n_q:]
    finite_top = [t for t in top if np.isfinite(m[t])]
    others = np.setdiff1d(ident, bottom)
    np.testing.assert_array_equal(par[others], others)   # only the bottom quantile changes
    for b in bottom:
      if finite_top:
        assert par[b] in finite_top and np.isfinite(m[par[b]])   # a finite top member, never a NaN one
      else:
        assert par[b] == b
    for name, h in r.hparams.items():
      for i in range(size):
        if par[i] == i:
          assert h[j + 1, i] == h[j, i]
        else:   # exactly the parent's value times 0.8 or 1.25 (float32 products)
          f32 = np.float32(h[j, par[i]])
          assert h[j + 1, i] in (f32 * np.float32(0.8), f32 * np.float32(1.25)), (j, i, name)


def replay(r, pop):
  """The population one member at a time with plain jitted calls, following the recorded parents and hparams."""
  k_members, _ = jax.random.split(w.KEY)
  keys = [jax.random.fold_in(k_members, m) for m in range(len(pop["lr"]))]
  f32 = lambda h: {k: jnp.float32(v) for k, v in h.items()}
  init, train, evaluate = jax.jit(w.init), jax.jit(w.train, static_argnums=3), jax.jit(w.evaluate)
  states = [init(f32({k: v[m] for k, v in pop.items()}), keys[m]) for m in range(len(keys))]
  metrics = []
  for j in range(len(r.steps)):
    hs = [f32({k: v[j, m] for k, v in r.hparams.items()}) for m in range(len(keys))]
    states = [train(s, h, jax.random.fold_in(keys[m], j), 5) for m, (s, h) in enumerate(zip(states, hs))]
    metrics.append([float(evaluate(s, h)["loss"]) for s, h in zip(states, hs)])
    states = [states[p] for p in r.parents[j]]
  return np.array(metrics), states


def test_pbt_exploit_copies_exactly_the_chosen_members():
  r = w.run_pbt()
  assert r.parents.shape == (8, 8) and r.hparams["lr"].shape == (8, 8) and r.metrics["loss"].shape == (8, 8)
  for k, v in w.population().items():
    np.testing.assert_array_equal(r.hparams[k][0], v.astype(np.float32))
  check_exploit(r, n_q=2)
  assert (r.parents[:-1] != np.arange(8)).sum() == 7 * 2   # every step replaced the 2 worst
  metrics, states = replay(r, w.population())
  np.testing.assert_allclose(r.metrics["loss"], metrics, rtol=1e-5)
  np.testing.assert_allclose(r.state["w"], np.stack([s["w"] for s in states]), rtol=1e-5, atol=1e-7)


def test_pbt_ranks_by_the_metric_asked_for_even_when_the_program_is_cached():
  w.run_pbt(metric="loss")   # compiles and caches the program of these functions
  r = w.run_pbt(metric="norm")
  check_exploit(r, n_q=2, metric="norm")


def test_pbt_is_reproducible_and_key_dependent():
  a, b = w.run_pbt(), w.run_pbt()
  assert_trees_equal((a.hparams, a.parents, a.metrics, a.state), (b.hparams, b.parents, b.metrics, b.state))
  c = w.run_pbt(key=jax.random.key(8))
  assert not np.array_equal(a.parents, c.parents) or not np.array_equal(a.hparams["lr"], c.hparams["lr"])


def test_pbt_compiles_one_program():
  c = np.float32(np.random.default_rng().uniform(1, 2))
  before = _pbt.COMPILES[0]
  evaluate = lambda s, h: {"loss": w.evaluate(s, h)["loss"] * c}
  jaxreg.pbt(w.init, w.train, evaluate, w.population(), key=w.KEY, steps=40, interval=5, metric="loss")
  jaxreg.pbt(w.init, w.train, evaluate, w.population(), key=w.KEY, steps=40, interval=5, metric="loss")
  assert _pbt.COMPILES[0] - before == 1


def test_pbt_factors_are_exactly_the_perturbation_factors_and_both_occur():
  r = jaxreg.pbt(w.init, w.train, w.evaluate, w.population(16), key=w.KEY, steps=100, interval=5, metric="loss")
  check_exploit(r, n_q=4)
  seen = set()
  for j in range(len(r.steps) - 1):
    for i in np.flatnonzero(r.parents[j] != np.arange(16)):
      seen.add(r.hparams["alpha"][j + 1, i] / np.float32(r.hparams["alpha"][j, r.parents[j, i]]))
  assert {round(float(f), 5) for f in seen} == {0.8, 1.25}


def test_pbt_nan_members_are_never_parents():
  def evaluate(s, h):   # members whose lr is above 0.1 fail
    m = w.evaluate(s, h)
    return {**m, "loss": jnp.where(h["lr"] > 0.1, jnp.nan, m["loss"])}
  r = jaxreg.pbt(w.init, w.train, evaluate, w.population(), key=w.KEY, steps=40, interval=5, metric="loss",
                 quantile=0.5)
  check_exploit(r, n_q=4)
  for j in range(len(r.steps) - 1):
    assert np.isfinite(r.metrics["loss"][j][r.parents[j]]).all() or \
        (r.parents[j] == np.arange(8)).all()
  assert np.isfinite(r.best_score)
  # Every member NaN: nothing is copied.
  r = jaxreg.pbt(w.init, w.train, lambda s, h: {"loss": jnp.nan * s["w"][0]}, w.population(), key=w.KEY, steps=10,
                 interval=5, metric="loss")
  np.testing.assert_array_equal(r.parents, np.tile(np.arange(8), (2, 1)))


def test_pbt_lineage_and_schedule():
  r = w.run_pbt()
  m = r.best_member
  line = r.lineage(m)
  assert line[-1] == m
  for j in range(len(line) - 1):
    assert r.parents[j, line[j + 1]] == line[j]
  for k in r.hparams:
    np.testing.assert_array_equal(r.schedule(m)[k], r.hparams[k][np.arange(len(line)), line])
  assert r.best_member == int(ranks_with_nan_last(r.metrics["loss"][-1])[0])
  assert r.total_steps == 8 * 40
  assert len(r.to_records()) == 8 * 8


def test_pbt_resample_and_explore():
  space = {"lr": jaxreg.loguniform(0.5, 0.6)}   # far from every perturbed value
  r = jaxreg.pbt(w.init, w.train, w.evaluate, w.population(), key=w.KEY, steps=20, interval=5, metric="loss",
                 space=space, resample_probability=1.0, explore=["lr"])
  for j in range(len(r.steps) - 1):
    moved = np.flatnonzero(r.parents[j] != np.arange(8))
    assert len(moved) == 2
    assert ((r.hparams["lr"][j + 1, moved] >= 0.5) & (r.hparams["lr"][j + 1, moved] <= 0.6)).all()
    np.testing.assert_array_equal(r.hparams["alpha"][j + 1], r.hparams["alpha"][j][r.parents[j]])   # copied only
  lam = {"lr": lambda k: 0.55 + 0.0 * jax.random.uniform(k)}   # a jax function of a key works too
  r2 = jaxreg.pbt(w.init, w.train, w.evaluate, w.population(), key=w.KEY, steps=20, interval=5, metric="loss",
                  space=lam, resample_probability=1.0)
  moved = r2.parents[0] != np.arange(8)
  np.testing.assert_array_equal(r2.hparams["lr"][1][moved], np.float32(0.55))


def test_pbt_quantile_counts():
  assert [_pbt._n_quantile(n, q) for n, q in [(16, 0.25), (5, 0.5), (3, 0.25), (2, 0.5), (10, 0.2)]] == \
      [4, 2, 1, 1, 2]


def pb(**kw):
  args = dict(key=w.KEY, steps=10, interval=5, metric="loss")
  pop = kw.pop("population", w.population())
  return jaxreg.pbt(w.init, w.train, w.evaluate, pop, **{**args, **kw})


@pytest.mark.parametrize("kw, match", [
    (dict(quantile=0.0), r"quantile must be a number in \(0, 0.5\]"),
    (dict(quantile=0.6), r"quantile must be a number in \(0, 0.5\]"),
    (dict(population={}), "population is empty"),
    (dict(population={"lr": [0.1], "alpha": [0.1]}), "at least 2 members"),
    (dict(steps=0), "steps"),
    (dict(interval=0), "interval"),
    (dict(steps=12), "steps=12 must be a multiple of interval=5"),
    (dict(perturb=(0.8,)), "perturb must be two positive factors"),
    (dict(perturb=(0.0, 1.2)), "perturb must be two positive factors"),
    (dict(resample_probability=1.5), r"resample_probability must be a number in \[0, 1\]"),
    (dict(resample_probability=0.5), "needs a space"),
    (dict(space={"lr": "big"}, resample_probability=0.5), r"space\['lr'\] must be"),
    (dict(space={"beta": jaxreg.uniform(0, 1)}), r"space\['beta'\] names no explored"),
    (dict(explore=["steps"]), "explore names 'steps'"),
    (dict(metric="acc"), "metric 'acc' is not a metric"),
    (dict(mode="up"), "mode must be"),
])
def test_pbt_bad_input(kw, match):
  with pytest.raises(ValueError, match=match):
    pb(**kw)
