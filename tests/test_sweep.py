"""Tests for jaxreg.sweep: references are direct calls of fn, numpy reductions and hand-built grids."""

import csv
import functools
import gc
import importlib
import io
import os
import signal
import socket
import subprocess
import sys
import warnings
import weakref

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg

sys.path.insert(0, os.path.dirname(__file__))
import _sweep_worker as worker  # noqa: E402

sweep_module = importlib.import_module("jaxreg._sweep")   # the chunk loop: _to_host is patched here
checkpoints_module = importlib.import_module("jaxreg._sweep._checkpoints")

WORKER = os.path.join(os.path.dirname(__file__), "_sweep_worker.py")
KEY = jax.random.key(7)


def direct(fn, hp, seed, key=KEY):
  """The reference: one plain jitted call of fn for one configuration."""
  hp = {k: jnp.asarray(v, jnp.float32) for k, v in hp.items()}
  return jax.jit(fn)(hp, jax.random.fold_in(key, seed))


def assert_equal(a, b):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@functools.cache
def whole():
  """The unchunked single-device sweep of the worker's grid (computed once per test session)."""
  return worker.run()


def run_worker(*args, timeout=90, **popen):
  return subprocess.run([sys.executable, WORKER, *args], capture_output=True, text=True, timeout=timeout, **popen)


# ----------------------------------------------------------------------------- grid, keys, chunks


def test_grid_shape_and_equality_with_separate_calls():
  r = whole()
  assert list(r.axes) == ["alpha", "lr", "seed"]
  np.testing.assert_array_equal(r.axes["seed"], [0, 1, 2])
  assert r.shape == (5, 2, 3)
  assert r.values["loss"].shape == (5, 2, 3) and r.values["w"].shape == (5, 2, 3, 3)
  for i, a in enumerate(worker.GRID["alpha"]):
    for j, lr in enumerate(worker.GRID["lr"]):
      for s in range(worker.SEEDS):
        ref = direct(worker.ridge_gd, {"alpha": a, "lr": lr}, s)
        chex.assert_trees_all_close({k: v[i, j, s] for k, v in r.values.items()}, ref, rtol=1e-5, atol=1e-6)


def test_common_random_numbers_across_grid_and_fresh_noise_across_seeds():
  fn = lambda hp, key: {"z": jax.random.normal(key, (4,)) + 0 * hp["a"], "a_out": hp["a"] + 0 * hp["b"]}
  r = jaxreg.sweep(fn, {"a": [1.0, 2.0, 3.0], "b": [0.5, 0.25]}, key=KEY, seeds=4, progress=False)
  z = r.values["z"]   # (3, 2, 4, 4)
  for s in range(4):
    expected = np.asarray(jax.random.normal(jax.random.fold_in(KEY, s), (4,)))
    np.testing.assert_array_equal(z[:, :, s], np.broadcast_to(expected, (3, 2, 4)))
  for s in range(4):
    for t in range(s):
      assert np.all(z[0, 0, s] != z[0, 0, t])
  np.testing.assert_array_equal(r.values["a_out"][:, 0, 0], [1.0, 2.0, 3.0])


def test_raw_uint32_keys_and_explicit_seed_values():
  fn = lambda hp, key: jax.random.uniform(key) + 0 * hp["a"]
  legacy = jax.random.PRNGKey(3)
  r = jaxreg.sweep(fn, {"a": [1.0, 2.0]}, key=legacy, seeds=[5, 11], progress=False)
  np.testing.assert_array_equal(r.axes["seed"], [5, 11])
  for k, s in enumerate([5, 11]):
    np.testing.assert_array_equal(r.values[:, k], float(jax.random.uniform(jax.random.fold_in(legacy, s))))


def test_seeds_only_sweep_with_empty_grid():
  fn = lambda hp, key: jax.random.uniform(key, (2,))
  r = jaxreg.sweep(fn, {}, key=KEY, seeds=5, chunk_size=2, progress=False)
  assert list(r.axes) == ["seed"] and r.values.shape == (5, 2)
  for s in range(5):
    np.testing.assert_array_equal(r.values[s], jax.random.uniform(jax.random.fold_in(KEY, s), (2,)))


@pytest.mark.parametrize("chunk_size", [1, 7, 13])
def test_chunked_equals_unchunked(chunk_size):
  chunked = worker.run(chunk_size=chunk_size)
  chex.assert_trees_all_close(chunked.values, whole().values, rtol=1e-6, atol=1e-7)


def test_padding_never_retraces_and_each_call_traces_once_per_static_value():
  traces = []

  def fn(hp, key):
    traces.append(1)   # runs once per trace, never at execution
    return worker.ridge_gd(hp, key)

  r = jaxreg.sweep(fn, worker.GRID, key=KEY, seeds=3, chunk_size=4, progress=False)   # 9 chunks, ragged tail
  assert len(traces) == 1
  chex.assert_trees_all_close(r.values, whole().values, rtol=1e-6, atol=1e-7)
  other_key = jaxreg.sweep(fn, worker.GRID, key=jax.random.key(8), seeds=3, chunk_size=4, progress=False)
  assert len(traces) == 2   # a new call traces fn again (it may read globals that changed); the key is an argument
  ref = direct(worker.ridge_gd, {"alpha": 0.1, "lr": 0.2}, 2, key=jax.random.key(8))
  chex.assert_trees_all_close(other_key.values["loss"][2, 1, 2], ref["loss"], rtol=1e-5)


def test_sweep_does_not_keep_fn_alive():
  fn = lambda hp, key: hp["a"] * 2
  jaxreg.sweep(fn, {"a": [1.0, 2.0]}, key=KEY, progress=False)
  ref = weakref.ref(fn)
  del fn
  gc.collect()
  assert ref() is None


# ----------------------------------------------------------------------------- devices and hosts


def test_eight_forced_host_devices_equal_one_device(tmp_path):
  out = tmp_path / "devices.npz"
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
  proc = run_worker("devices", str(out), env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  got = np.load(out)
  assert int(got["n_devices"]) == 8
  ref = whole()   # this process has one CPU device
  chex.assert_trees_all_close({"loss": got["loss"], "w": got["w"]}, ref.values, rtol=1e-5, atol=1e-6)


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_with_jax_distributed(tmp_path):
  port = _free_port()
  outs = [tmp_path / f"p{i}.npz" for i in range(2)]
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  procs = [subprocess.Popen([sys.executable, WORKER, "distributed", str(port), str(i), str(outs[i])], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
  try:
    logs = [p.communicate(timeout=120) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for p, (_, err) in zip(procs, logs):
    assert p.returncode == 0, err[-3000:]
  ref = whole()
  for out in outs:
    got = np.load(out)
    assert int(got["n_devices"]) == 2
    chex.assert_trees_all_close({"loss": got["loss"], "w": got["w"]}, ref.values, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- checkpoints


def test_resume_after_sigkill_is_bit_identical(tmp_path, monkeypatch):
  ckpt = tmp_path / "ckpt"
  proc = subprocess.Popen([sys.executable, WORKER, "kill", str(ckpt)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  try:
    line = proc.stdout.readline()   # blocks until the first chunk is on disk (or the worker dies)
    assert line.startswith("SAVED"), proc.stderr.read()[-3000:]
  finally:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
  assert proc.returncode == -signal.SIGKILL
  chunks = sorted(f for f in os.listdir(ckpt) if f.startswith("chunk-"))
  assert chunks == ["chunk-s0-0-0.npz"]
  (ckpt / "chunk-s0-0-1.npz.0.999.tmp").write_bytes(b"half a chunk")   # a write torn by a crash

  saved = []
  save_chunk = checkpoints_module._Checkpoints.save
  monkeypatch.setattr(checkpoints_module._Checkpoints, "save",
                      lambda self, n, x: (saved.append(n), save_chunk(self, n, x)))
  resumed = worker.run(chunk_size=4, checkpoint_dir=ckpt)
  assert len(saved) == 8 and "s0-0-0" not in saved   # 9 chunks, the first one reused
  assert_equal(resumed.values, worker.run(chunk_size=4).values)


def test_finished_checkpoint_is_reused_without_running_fn(tmp_path, monkeypatch):
  first = worker.run(chunk_size=4, checkpoint_dir=tmp_path)
  ran = []
  monkeypatch.setattr(sweep_module, "_to_host", lambda out: ran.append("run"))   # once per executed chunk
  again = worker.run(chunk_size=4, checkpoint_dir=tmp_path)
  assert ran == []
  assert_equal(again.values, first.values)


@pytest.mark.parametrize("change", ["grid", "seeds", "chunk_size", "key", "static"])
def test_mismatched_checkpoint_raises(tmp_path, change):
  fn = lambda hp, key: hp["a"] * jax.random.uniform(key)
  kw = dict(grid={"a": [1.0, 2.0, 3.0]}, key=KEY, seeds=2, chunk_size=2, progress=False, checkpoint_dir=tmp_path)
  jaxreg.sweep(fn, **kw)
  kw.update({"grid": {"grid": {"a": [1.0, 2.0, 4.0]}}, "seeds": {"seeds": 3}, "chunk_size": {"chunk_size": 3},
             "key": {"key": jax.random.key(8)}, "static": {"static": {"w": [1]}}}[change])
  with pytest.raises(ValueError, match="different"):
    jaxreg.sweep(fn, **kw)


def test_chunk_from_another_sweep_raises_even_without_meta(tmp_path):
  fn = lambda hp, key: hp["a"] * jax.random.uniform(key)
  jaxreg.sweep(fn, {"a": [1.0, 2.0]}, key=KEY, chunk_size=1, checkpoint_dir=tmp_path / "one", progress=False)
  os.makedirs(tmp_path / "two")
  os.replace(tmp_path / "one" / "chunk-s0-0-0.npz", tmp_path / "two" / "chunk-s0-0-0.npz")
  with pytest.raises(ValueError, match="different sweep"):
    jaxreg.sweep(fn, {"a": [1.0, 5.0]}, key=KEY, chunk_size=1, checkpoint_dir=tmp_path / "two", progress=False)


def test_corrupt_chunk_is_recomputed(tmp_path):
  """(Every other kind of damage, and a fuzz test: tests/test_sweep_reliability.py.)"""
  first = worker.run(chunk_size=4, checkpoint_dir=tmp_path)
  path = tmp_path / "chunk-s0-1-1.npz"
  with open(path, "wb") as f:   # an object array needs pickle to load: it must never be loaded, only recomputed
    np.savez(f, fingerprint=np.array("x"), leaf_0=np.array([print], dtype=object))
  with pytest.warns(UserWarning, match="recomputing"):
    again = worker.run(chunk_size=4, checkpoint_dir=tmp_path)
  assert_equal(again.values, first.values)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert_equal(worker.run(chunk_size=4, checkpoint_dir=tmp_path).values, first.values)   # rewritten whole


# ----------------------------------------------------------------------------- NaN lanes, static axes


def test_nan_lane_is_isolated_and_ignored_by_best():
  grid = {"alpha": [0.0, 0.1], "lr": [0.05, 0.2, 100.0]}   # lr = 100 diverges: |1 - lr·λ| > 1 for the data's λ
  r = jaxreg.sweep(worker.ridge_gd, grid, key=KEY, seeds=2, chunk_size=4, progress=False)
  loss = r.values["loss"]
  assert not np.isfinite(loss[:, 2]).any()
  assert np.isfinite(loss[:, :2]).all()
  for i, a in enumerate(grid["alpha"]):
    for j, lr in enumerate(grid["lr"][:2]):
      for s in range(2):
        chex.assert_trees_all_close(loss[i, j, s], direct(worker.ridge_gd, {"alpha": a, "lr": lr}, s)["loss"],
                                    rtol=1e-5)
  mean = loss[:, :2].mean(axis=-1)
  i, j = np.unravel_index(np.argmin(mean), mean.shape)
  assert r.best("loss") == {"alpha": grid["alpha"][i], "lr": grid["lr"][j]}


def test_best_fails_a_config_with_one_nan_seed_and_reductions_match_numpy():
  m = np.array([[1.0, 2.0, 9.0], [0.5, np.nan, 0.1], [3.0, 0.2, 0.3]])   # (a, seed)
  r = jaxreg.SweepResult({"a": [10, 20, 30], "seed": [0, 1, 2]}, {"m": m, "neg": -m})
  assert r.best("m") == {"a": 30}                              # means 4, nan, 1.17
  assert r.best("m", reduce_seeds="median") == {"a": 30}       # medians 2, nan, 0.3
  assert r.best("m", reduce_seeds="min") == {"a": 30}          # mins 1, nan, 0.2
  assert r.best("m", reduce_seeds="max") == {"a": 30}          # max 9, nan, 3
  assert r.best("m", reduce_seeds=None) == {"a": 20, "seed": 2}  # single runs: 0.1 is the smallest
  assert r.best("neg", mode="max") == {"a": 30}
  assert r.best(lambda v: v["m"] * np.array([[1.0], [1.0], [10.0]])) == {"a": 10}
  with pytest.raises(ValueError, match="NaN"):
    jaxreg.SweepResult({"seed": [0]}, np.array([np.inf])).best()
  with pytest.raises(ValueError, match="mode"):
    r.best("m", mode="lowest")
  with pytest.raises(ValueError, match="metric"):
    r.best("nope")


def test_static_axes_are_python_values_and_labeled():
  seen = []

  def fn(hp, key):
    seen.append((type(hp["width"]), hp["opt"]))
    w = jnp.ones(hp["width"])   # a shape: only possible with a Python int
    scale = {"sgd": 1.0, "adam": 2.0}[hp["opt"]]
    return {"out": scale * hp["a"] * w.sum()}

  r = jaxreg.sweep(fn, {"a": [1.0, 2.0]}, key=KEY, static={"width": [2, 5], "opt": ["sgd", "adam"]},
                   chunk_size=1, progress=False)
  assert seen == [(int, "sgd"), (int, "adam"), (int, "sgd"), (int, "adam")]
  assert list(r.axes) == ["width", "opt", "a", "seed"]
  assert r.values["out"].shape == (2, 2, 2, 1)
  expected = np.array([[[[2 * a] for a in (1, 2)], [[4 * a] for a in (1, 2)]],
                       [[[5 * a] for a in (1, 2)], [[10 * a] for a in (1, 2)]]])
  np.testing.assert_array_equal(r.values["out"], expected)
  assert r.best("out", mode="max") == {"width": 5, "opt": "adam", "a": 2.0}
  np.testing.assert_array_equal(r.select(opt="adam", width=2).values["out"], [[4.0], [8.0]])


def test_static_outputs_must_agree():
  fn = lambda hp, key: jnp.ones(hp["n"]) * hp["a"]
  with pytest.raises(ValueError, match="same structure"):
    jaxreg.sweep(fn, {"a": [1.0]}, key=KEY, static={"n": [2, 3]}, progress=False)


# ----------------------------------------------------------------------------- SweepResult


def test_select_and_records():
  r = whole()
  sub = r.select(alpha=0.1, seed=[2, 0])
  assert list(sub.axes) == ["lr", "seed"]
  np.testing.assert_array_equal(sub.values["loss"], r.values["loss"][2][:, [2, 0]])
  np.testing.assert_array_equal(r.select(lr=0.2 + 1e-9).values["loss"], r.values["loss"][:, 1])   # float tolerance
  with pytest.raises(ValueError, match="alpha=0.5"):
    r.select(alpha=0.5)
  with pytest.raises(ValueError, match="no axis"):
    r.select(beta=1.0)
  records = r.to_records()
  assert len(records) == 30
  assert records[7] == {"alpha": 0.01, "lr": 0.05, "seed": 1, "loss": float(r.values["loss"][1, 0, 1]),
                        **{f"w[{k}]": float(r.values["w"][1, 0, 1, k]) for k in range(3)}}


def test_to_csv_round_trip(tmp_path):
  r = whole()
  r.to_csv(tmp_path / "sweep.csv")
  with open(tmp_path / "sweep.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert list(rows[0]) == ["alpha", "lr", "seed", "loss", "w[0]", "w[1]", "w[2]"]
  back = np.array([[float(row[c]) for c in rows[0]] for row in rows]).reshape(5, 2, 3, 7)
  np.testing.assert_array_equal(back[..., 0], np.broadcast_to(np.array(worker.GRID["alpha"])[:, None, None], (5, 2, 3)))
  np.testing.assert_array_equal(back[..., 2], np.broadcast_to(np.arange(3), (5, 2, 3)))
  np.testing.assert_array_equal(back[..., 3].astype(np.float32), r.values["loss"])   # exact: repr round-trips
  np.testing.assert_array_equal(back[..., 4:].astype(np.float32), r.values["w"])


def test_to_xarray():
  xr = pytest.importorskip("xarray")
  r = whole()
  ds = r.to_xarray()
  assert isinstance(ds, xr.Dataset)
  assert ds["loss"].dims == ("alpha", "lr", "seed") and ds["w"].dims == ("alpha", "lr", "seed", "w_dim0")
  np.testing.assert_array_equal(ds["loss"].sel(alpha=0.1, lr=0.2).values, r.values["loss"][2, 1])


# ----------------------------------------------------------------------------- progress and validation


class _Terminal(io.StringIO):
  def isatty(self):
    return True


def test_progress_bar_only_on_a_terminal(monkeypatch, capsys):
  fn = lambda hp, key: hp["a"] * 2
  jaxreg.sweep(fn, {"a": [1.0, 2.0, 3.0]}, key=KEY, chunk_size=1)   # not a TTY, and too short for a plain line
  assert capsys.readouterr().err == ""
  terminal = _Terminal()
  monkeypatch.setattr(sys, "stderr", terminal)
  jaxreg.sweep(fn, {"a": [1.0, 2.0, 3.0]}, key=KEY, chunk_size=1, progress=False)
  assert terminal.getvalue() == ""
  jaxreg.sweep(fn, {"a": [1.0, 2.0, 3.0]}, key=KEY, chunk_size=1)
  assert "3/3" in terminal.getvalue() and "config/s" in terminal.getvalue()


@pytest.mark.parametrize("kwargs, match", [
    (dict(grid={"a": [[1.0, 2.0]]}), "1-D"),
    (dict(grid={"a": []}), "non-empty"),
    (dict(grid={"a": "abc"}), "1-D"),
    (dict(grid={"a": ["x", "y"]}), "static"),
    (dict(grid={"seed": [1.0]}), "seed"),
    (dict(grid={"a": [1.0]}, static={"a": [1]}), "static"),
    (dict(seeds=0), "seeds"),
    (dict(seeds=[1, 1]), "distinct"),
    (dict(seeds=[-1]), "2\\*\\*31"),
    (dict(chunk_size=0), "chunk_size"),
    (dict(key=np.zeros(2, np.float32)), "PRNG key"),
    (dict(key=jax.random.split(KEY, 2)), "single PRNG key"),
    (dict(devices=[]), "devices"),
])
def test_bad_arguments_raise(kwargs, match):
  kw = dict(grid={"a": [1.0]}, key=KEY, progress=False)
  kw.update(kwargs)
  with pytest.raises(ValueError, match=match):
    jaxreg.sweep(lambda hp, key: 0.0, **kw)


def test_sweep_under_jit_is_refused():
  with pytest.raises(ValueError, match="concrete"):
    jax.jit(lambda k: jaxreg.sweep(lambda hp, key: 0.0, {"a": [1.0]}, key=k, progress=False))(KEY)

