"""Tests for search spaces that are not grids: jaxreg.configs, the samplers and sweeps over a flat config axis.

References: scipy.stats distributions (KS tests), scipy.stats.qmc's own points mapped by hand, numpy's
generator, direct jitted calls of fn one configuration at a time, and numpy reductions.
"""

import csv
import importlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.stats import qmc

import jaxreg

sweep_module = importlib.import_module("jaxreg._sweep")   # the chunk loop: _to_host is patched here
KEY = jax.random.key(3)


def ridge(hp, key):
  """15 gradient steps of ridge regression on data drawn from ``key``: depends on both hyperparameters and the key."""
  kx, kw = jax.random.split(key)
  x = jax.random.normal(kx, (12, 3))
  y = x @ jax.random.normal(kw, (3,))

  def step(_, w):
    return w - hp["lr"] * (x.T @ (x @ w - y) / 12 + hp["alpha"] * w)

  w = jax.lax.fori_loop(0, 15, step, jnp.zeros(3))
  return {"loss": jnp.mean((x @ w - y) ** 2), "w": w}


CONFIGS = {"alpha": [0.3, 0.01, 1.0, 0.01, 0.1], "lr": [0.1, 0.2, 0.05, 0.05, 0.2]}   # alpha 0.01 twice


def direct(hp, seed):
  """The reference: one plain jitted call of ``ridge`` for one configuration."""
  hp = {k: jnp.float32(v) for k, v in hp.items()}
  return jax.jit(ridge)(hp, jax.random.fold_in(KEY, seed))


def run(**kw):
  return jaxreg.sweep(ridge, jaxreg.configs(CONFIGS), key=KEY, seeds=2, progress=False, **kw)


# ----------------------------------------------------------------------------- samplers


def test_random_marginals_match_scipy_distributions():
  """KS tests at n = 4000: each marginal's p-value above 1e-3 (a fixed seed, so the outcome is deterministic)."""
  space = {"a": jaxreg.loguniform(1e-5, 1e-1), "b": jaxreg.uniform(-2.0, 3.0), "c": jaxreg.choice([1, 5, 7])}
  c = jaxreg.sample(space, 4000, seed=1)
  assert stats.kstest(c["a"], stats.loguniform(1e-5, 1e-1).cdf).pvalue > 1e-3
  assert stats.kstest(c["b"], stats.uniform(loc=-2.0, scale=5.0).cdf).pvalue > 1e-3
  counts = np.array([np.sum(c["c"] == v) for v in (1, 5, 7)])
  assert counts.sum() == 4000 and c["c"].dtype.kind == "i"
  assert np.all(np.abs(counts - 4000 / 3) < 5 * np.sqrt(4000 * (1 / 3) * (2 / 3)))   # within 5σ of the binomial mean
  assert c["a"].min() >= 1e-5 and c["a"].max() < 1e-1 and c["b"].min() >= -2.0 and c["b"].max() < 3.0


@pytest.mark.parametrize("method", ["random", "sobol", "halton"])
def test_points_are_the_documented_transform_of_the_generators_points(method):
  space = {"alpha": jaxreg.loguniform(1e-4, 10.0), "p": jaxreg.uniform(0.1, 0.5), "k": jaxreg.choice([8, 16, 32])}
  got = jaxreg.sample(space, 16, seed=11, method=method)
  if method == "random":
    u = np.random.default_rng(11).random((16, 3))
  else:
    engine = {"sobol": qmc.Sobol, "halton": qmc.Halton}[method]
    u = engine(3, scramble=True, rng=np.random.default_rng(11)).random(16)
  np.testing.assert_allclose(got["alpha"], 1e-4 * (10.0 / 1e-4) ** u[:, 0], rtol=1e-12)
  np.testing.assert_allclose(got["p"], 0.1 + 0.4 * u[:, 1], rtol=1e-15)
  np.testing.assert_array_equal(got["k"], np.array([8, 16, 32])[(u[:, 2] * 3).astype(int)])


def test_sobol_points_are_balanced_and_seeds_reproduce():
  """Quasi-random: each of the 16 equal bins of a uniform axis gets exactly one of 16 scrambled Sobol' points."""
  c = jaxreg.sample({"x": jaxreg.uniform(0.0, 1.0)}, 16, seed=5, method="sobol")
  np.testing.assert_array_equal(np.sort(np.floor(c["x"] * 16)), np.arange(16))
  again = jaxreg.sample({"x": jaxreg.uniform(0.0, 1.0)}, 16, seed=5, method="sobol")
  other = jaxreg.sample({"x": jaxreg.uniform(0.0, 1.0)}, 16, seed=6, method="sobol")
  np.testing.assert_array_equal(c["x"], again["x"])
  assert not np.array_equal(c["x"], other["x"])


def test_configs_is_a_read_only_mapping():
  c = jaxreg.configs(CONFIGS)
  assert isinstance(c, jaxreg.Configs) and list(c) == ["alpha", "lr"] and len(c) == 2 and c.n_configs == 5
  np.testing.assert_array_equal(c["lr"], CONFIGS["lr"])
  with pytest.raises(ValueError):
    c["lr"][0] = 1.0
  assert "5 configurations" in repr(c)


@pytest.mark.parametrize("make, match", [
    (lambda: jaxreg.sample({}, 4), "space is empty"),
    (lambda: jaxreg.sample({"a": jaxreg.uniform(0, 1)}, 0), "n must be an integer >= 1"),
    (lambda: jaxreg.sample({"a": jaxreg.uniform(0, 1)}, 4, seed=-1), "seed"),
    (lambda: jaxreg.sample({"a": jaxreg.uniform(0, 1)}, 4, method="lhs"), "method"),
    (lambda: jaxreg.sample({"a": [0.1, 0.2]}, 4), r"space\['a'\]"),
    (lambda: jaxreg.sample({"seed": jaxreg.uniform(0, 1)}, 4), "'seed'"),
    (lambda: jaxreg.uniform(1.0, 1.0), "low must be smaller than high"),
    (lambda: jaxreg.uniform(2.0, 1.0), "low=2.0, high=1.0"),
    (lambda: jaxreg.uniform(0.0, float("inf")), "high must be a finite"),
    (lambda: jaxreg.uniform(float("nan"), 1.0), "low must be a finite"),
    (lambda: jaxreg.uniform("0", 1.0), "low must be a finite"),
    (lambda: jaxreg.loguniform(0.0, 1.0), "low must be > 0"),
    (lambda: jaxreg.loguniform(-1.0, 1.0), "low must be > 0"),
    (lambda: jaxreg.choice([]), "non-empty"),
    (lambda: jaxreg.choice([[1, 2]]), "1-D"),
    (lambda: jaxreg.choice(["adam", "sgd"]), "static="),
    (lambda: jaxreg.configs({}), "empty"),
    (lambda: jaxreg.configs([1.0, 2.0]), "dict"),
    (lambda: jaxreg.configs({"a": [1.0, 2.0], "b": [1.0]}), "lengths differ"),
    (lambda: jaxreg.configs({"a": [[1.0, 2.0]]}), r"values\['a'\].*1-D"),
    (lambda: jaxreg.configs({"a": 1.0}), "1-D"),
    (lambda: jaxreg.configs({"a": []}), "non-empty"),
    (lambda: jaxreg.configs({"opt": ["adam", "sgd"]}), "static="),
    (lambda: jaxreg.configs({"config": [1.0]}), "'config'"),
])
def test_bad_spaces_raise(make, match):
  with pytest.raises(ValueError, match=match):
    make()


# ----------------------------------------------------------------------------- sweeps over a list of configurations


def test_configs_sweep_equals_runs_one_by_one():
  r = run()
  assert list(r.axes) == ["config", "seed"] and r.shape == (5, 2) and r.values["w"].shape == (5, 2, 3)
  np.testing.assert_array_equal(r.axes["config"], np.arange(5))
  assert list(r.configs) == ["alpha", "lr"]
  np.testing.assert_array_equal(r.configs["alpha"], CONFIGS["alpha"])
  for i in range(5):
    for s in range(2):
      ref = direct({"alpha": CONFIGS["alpha"][i], "lr": CONFIGS["lr"][i]}, s)
      chex.assert_trees_all_close({k: v[i, s] for k, v in r.values.items()}, ref, rtol=1e-5, atol=1e-6)


def test_configs_sweep_chunked_static_and_two_hyperparameter_kinds():
  whole = run()
  chex.assert_trees_all_close(run(chunk_size=3).values, whole.values, rtol=1e-6, atol=1e-7)
  fn = lambda hp, key: {"out": hp["scale"] * hp["a"] + hp["k"]}   # an int hyperparameter stays int-valued
  c = jaxreg.sample({"a": jaxreg.uniform(0.0, 1.0), "k": jaxreg.choice([1, 2])}, 6, seed=2)
  r = jaxreg.sweep(fn, c, key=KEY, static={"scale": [1.0, 10.0]}, chunk_size=4, progress=False)
  assert list(r.axes) == ["scale", "config", "seed"]
  expected = np.array([[s * a + k for a, k in zip(c["a"], c["k"])] for s in (1.0, 10.0)])[..., None]
  np.testing.assert_allclose(r.values["out"], expected, rtol=1e-6)


def test_configurations_may_repeat_a_value_even_after_the_float32_cast():
  # Distinct float64 values that round to one float32 label nothing in a list (unlike a grid axis), so they are kept.
  a = np.array([0.1, 0.1 + 1e-12, 0.3])
  fn = lambda hp, key: {"out": 2 * hp["a"]}
  r = jaxreg.sweep(fn, jaxreg.configs({"a": a}), key=KEY, progress=False)
  np.testing.assert_allclose(r.values["out"][:, 0], 2 * a.astype(np.float32), rtol=1e-7)
  with pytest.raises(ValueError, match="distinct values that become equal"):
    jaxreg.sweep(fn, {"a": a}, key=KEY, progress=False)


def test_flat_axis_best_and_select():
  r = run()
  mean = r.values["loss"].mean(-1)   # reference: numpy over the seed axis
  i = int(np.argmin(mean))
  assert r.best("loss") == {"config": i, "alpha": CONFIGS["alpha"][i], "lr": CONFIGS["lr"][i]}
  j, s = np.unravel_index(np.argmin(r.values["loss"]), (5, 2))
  assert r.best("loss", reduce_seeds=None) == {"config": j, "alpha": CONFIGS["alpha"][j], "lr": CONFIGS["lr"][j],
                                               "seed": s}
  one = r.select(config=3)
  assert list(one.axes) == ["seed"] and one.configs == {}
  np.testing.assert_array_equal(one.values["loss"], r.values["loss"][3])
  twice = r.select(alpha=0.01)   # a hyperparameter: every matching configuration, the config axis kept
  np.testing.assert_array_equal(twice.axes["config"], [1, 3])
  np.testing.assert_array_equal(twice.configs["lr"], [0.2, 0.05])
  np.testing.assert_array_equal(twice.values["w"], r.values["w"][[1, 3]])
  assert twice.best("loss") == {"config": int([1, 3][np.argmin(mean[[1, 3]])]),
                                "alpha": 0.01, "lr": [0.2, 0.05][np.argmin(mean[[1, 3]])]}
  both = r.select(lr=[0.05, 0.1 + 1e-9], seed=1)   # a list matches any of its values; floats within 1e-6
  np.testing.assert_array_equal(both.axes["config"], [0, 2, 3])
  np.testing.assert_array_equal(both.values["loss"], r.values["loss"][[0, 2, 3], 1])
  np.testing.assert_array_equal(r.select(config=[4, 0]).configs["alpha"], [0.1, 0.3])
  with pytest.raises(ValueError, match="no configuration has alpha=0.5"):
    r.select(alpha=0.5)
  with pytest.raises(ValueError, match="hyperparameters"):
    r.select(beta=1.0)


def test_flat_axis_csv_and_xarray(tmp_path):
  r = run()
  r.to_csv(tmp_path / "s.csv")
  with open(tmp_path / "s.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert list(rows[0]) == ["config", "alpha", "lr", "seed", "loss", "w[0]", "w[1]", "w[2]"]
  assert len(rows) == 10
  for row in rows:
    i, s = int(row["config"]), int(row["seed"])
    assert (float(row["alpha"]), float(row["lr"])) == (CONFIGS["alpha"][i], CONFIGS["lr"][i])
    assert np.float32(row["loss"]) == r.values["loss"][i, s]
  xr = pytest.importorskip("xarray")
  ds = r.to_xarray()
  assert isinstance(ds, xr.Dataset) and ds["loss"].dims == ("config", "seed")
  assert ds["alpha"].dims == ("config",) and "alpha" not in ds.dims
  np.testing.assert_array_equal(ds["lr"].values, CONFIGS["lr"])
  np.testing.assert_array_equal(ds["loss"].where(ds["alpha"] == 0.01, drop=True).values, r.values["loss"][[1, 3]])


def test_metric_named_like_a_hyperparameter_and_clashing_static_axes_raise():
  c = jaxreg.configs({"a": [1.0, 2.0]})
  with pytest.raises(ValueError, match="name of an axis"):
    jaxreg.sweep(lambda hp, key: {"a": hp["a"]}, c, key=KEY, progress=False)
  for static in ({"a": [1]}, {"config": [1]}):
    with pytest.raises(ValueError, match="static axis name"):
      jaxreg.sweep(lambda hp, key: hp["a"], c, key=KEY, static=static, progress=False)
  with pytest.raises(ValueError, match="float32"):   # values the traced dtype cannot hold, as for a grid
    jaxreg.sweep(lambda hp, key: hp["a"], jaxreg.configs({"a": [1e-50, 1.0]}), key=KEY, progress=False)


def test_configs_checkpoints_resume_and_cover_the_values(tmp_path, monkeypatch):
  first = run(chunk_size=3, checkpoint_dir=tmp_path)
  chunks = sorted(p.name for p in tmp_path.glob("chunk-*.npz"))
  assert len(chunks) == 4   # 2 seeds × 5 configs in blocks of 3 configs × 1 seed
  (tmp_path / chunks[1]).unlink()   # as if killed before this chunk was written
  ran = []
  to_host = sweep_module._to_host
  monkeypatch.setattr(sweep_module, "_to_host", lambda out: (ran.append(1), to_host(out))[1])
  again = run(chunk_size=3, checkpoint_dir=tmp_path)
  assert len(ran) == 1   # only the missing chunk runs
  for a, b in zip(jax.tree_util.tree_leaves(again.values), jax.tree_util.tree_leaves(first.values)):
    np.testing.assert_array_equal(a, b)   # bit-identical
  changed = {**CONFIGS, "lr": [0.1, 0.2, 0.05, 0.05, 0.3]}   # one value of one configuration
  with pytest.raises(ValueError, match="different grid"):
    jaxreg.sweep(ridge, jaxreg.configs(changed), key=KEY, seeds=2, chunk_size=3, checkpoint_dir=tmp_path,
                 progress=False)
  as_grid = {"alpha": [0.3, 0.01, 1.0, 0.02, 0.1]}   # a Cartesian grid of the same length is another sweep
  with pytest.raises(ValueError, match="different"):
    jaxreg.sweep(lambda hp, key: ridge({**hp, "lr": 0.1}, key), as_grid, key=KEY, seeds=2, chunk_size=3,
                 checkpoint_dir=tmp_path, progress=False)


def test_sweep_result_checks_its_configs():
  with pytest.raises(ValueError, match="needs an axis 'config'"):
    jaxreg.SweepResult({"seed": [0]}, np.zeros(1), configs={"a": [1.0]})
  with pytest.raises(ValueError, match="one value per configuration"):
    jaxreg.SweepResult({"config": [0, 1], "seed": [0]}, np.zeros((2, 1)), configs={"a": [1.0]})
  m = np.array([[[3.0], [1.0]], [[2.0], [4.0]]])
  r = jaxreg.SweepResult({"w": [8, 16], "config": [0, 1], "seed": [0]}, {"m": m}, configs={"a": [0.1, 0.2]})
  assert r.best("m") == {"w": 8, "config": 1, "a": 0.2}   # a static axis first, then the configuration
  assert r.to_records()[0] == {"w": 8, "config": 0, "a": 0.1, "seed": 0, "m": 3.0}
