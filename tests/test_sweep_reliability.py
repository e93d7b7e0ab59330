"""jaxreg.sweep never returns stale or mixed-up results (issue 9 §4).

Fingerprints (a changed fn, closed-over array, global or static value is never
served from old chunks; the fingerprint is stable across processes), fresh
traces per call, metric names, traced dtypes, integer arguments, damaged or
shared checkpoint directories, Ctrl-C and plain progress lines. Most tests use
one tiny fn so that every sweep is cheap to trace and compile.
"""

import importlib
import itertools
import os
import re
import subprocess
import sys
import threading
import warnings
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg
from jaxreg import _trees

sys.path.insert(0, os.path.dirname(__file__))
import _sweep_worker as worker  # noqa: E402

sweep_module = importlib.import_module("jaxreg._sweep")   # the chunk loop: _to_host, _release_freed_host_memory
checkpoints_module = importlib.import_module("jaxreg._sweep._checkpoints")
fingerprints_module = importlib.import_module("jaxreg._sweep._fingerprints")
progress_module = importlib.import_module("jaxreg._sweep._progress")
WORKER = os.path.join(os.path.dirname(__file__), "_sweep_worker.py")
KEY = jax.random.key(7)
GRID = {"a": [1.0, 2.0, 3.0, 4.0]}
SCALE = 1.0   # a global that `scaled` reads (rebound by a test)


def tiny(hp, key):
  return {"y": hp["a"] * jax.random.uniform(key), "v": hp["a"] + jnp.arange(2.0)}


def scaled(hp, key):
  return {"y": hp["a"] * SCALE}


def run(path=None, fn=tiny, **kw):
  kw = {"seeds": 2, "chunk_size": 1, "progress": False, **kw}
  return jaxreg.sweep(fn, kw.pop("grid", GRID), key=KEY, checkpoint_dir=path, **kw)


def assert_equal(a, b):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def count_runs(monkeypatch) -> list:
  """Patches the sweep so that every executed chunk appends to the returned list (and nothing else runs)."""
  ran = []
  to_host = sweep_module._to_host
  monkeypatch.setattr(sweep_module, "_to_host", lambda out: (ran.append(1), to_host(out))[1])
  return ran


def tmp_files(path) -> list:
  return sorted(f for f in os.listdir(path) if f.endswith(".tmp"))


@pytest.fixture(scope="module")
def reference():
  return run()


# ----------------------------------------------------------------------------- fingerprints


X_BIG = np.linspace(0.0, 1.0, 2000)


@pytest.mark.parametrize("change", ["code", "closed-over array", "global", "outputs"])
def test_a_changed_fn_never_reuses_chunks(tmp_path, monkeypatch, change):
  arr = X_BIG.copy()
  closed = lambda hp, key: {"y": hp["a"] * jnp.sum(arr)}
  before, after = {"code": (lambda hp, key: {"y": hp["a"] * 2.0}, lambda hp, key: {"y": hp["a"] * 3.0}),
                   "outputs": (lambda hp, key: {"y": hp["a"]}, lambda hp, key: {"y": hp["a"], "z": hp["a"]}),
                   "closed-over array": (closed, closed), "global": (scaled, scaled)}[change]
  run(tmp_path, before, seeds=1, chunk_size=None)
  if change == "closed-over array":
    arr[1000] += 1e-3   # in place; numpy's repr abbreviates the array to the same text as before
    assert repr(arr) == repr(X_BIG) and not np.array_equal(arr, X_BIG)
  elif change == "global":
    monkeypatch.setattr(sys.modules[__name__], "SCALE", 2.0)
  with pytest.raises(ValueError, match="different fn"):
    run(tmp_path, after, seeds=1, chunk_size=None)


def test_static_arrays_are_fingerprinted_by_content(tmp_path):
  big = X_BIG.copy()
  big[1000] += 1e-3
  fn = lambda hp, key: {"y": hp["a"] * hp["x"][1000]}
  run(tmp_path, fn, seeds=1, chunk_size=None, static={"x": [X_BIG]})
  with pytest.raises(ValueError, match="different fn, static"):
    run(tmp_path, fn, seeds=1, chunk_size=None, static={"x": [big]})


def test_fingerprints_hold_no_memory_address():
  digest = fingerprints_module._digest_of
  assert digest(lambda x: x) == digest(lambda x: x)   # two lambdas: same module and qualified name
  assert digest(jax.nn.relu) != digest(jax.nn.gelu)
  assert digest(np.arange(3.0)) != digest(np.arange(3))   # dtype counts
  assert digest({"b", "a"}) == digest({"a", "b"})
  import functools

  import optax
  assert digest(functools.partial(optax.adam, 0.1)) == digest(functools.partial(optax.adam, 0.1))
  assert digest(functools.partial(optax.adam, 0.1)) != digest(functools.partial(optax.adam, 0.2))
  assert digest(optax.adam(0.1)) == digest(optax.adam(0.1))   # a NamedTuple of closures


def test_functions_as_static_values_resume(tmp_path, monkeypatch):
  static = lambda: {"act": [jax.nn.relu, lambda x: 2 * x]}   # a new lambda object (new address) every call
  fn = lambda hp, key: {"y": hp["act"](hp["a"] - 2.5)}
  first = run(tmp_path, fn, seeds=1, chunk_size=None, static=static())
  ran = count_runs(monkeypatch)
  again = run(tmp_path, fn, seeds=1, chunk_size=None, static=static())
  assert ran == []
  assert_equal(again.values, first.values)


def test_fingerprint_is_stable_across_processes_sharing_a_directory(tmp_path, monkeypatch):
  ckpt, out = tmp_path / "ckpt", tmp_path / "theirs.npz"
  seen = []
  init = checkpoints_module._Checkpoints.__init__
  monkeypatch.setattr(checkpoints_module._Checkpoints, "__init__",
                      lambda self, *a: (init(self, *a), seen.append(self.fingerprint))[0])
  proc = subprocess.Popen([sys.executable, WORKER, "share", str(ckpt), str(out)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  try:
    assert proc.stdout.readline().startswith("READY"), proc.stderr.read()[-3000:]
    mine = worker.run_static(chunk_size=1, checkpoint_dir=ckpt)   # while the worker writes the same chunks
    stdout, stderr = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 0, stderr[-3000:]
  theirs = re.search(r"FINGERPRINT (\w+)", stdout).group(1)
  assert seen == [theirs]   # functions (relu, a lambda, optax.adam) as static values, a closed-over constant
  np.testing.assert_array_equal(np.load(out)["loss"], mine.values["loss"])
  assert tmp_files(ckpt) == []
  ran = count_runs(monkeypatch)
  assert_equal(worker.run_static(chunk_size=1, checkpoint_dir=ckpt).values, mine.values)
  assert ran == []


# ----------------------------------------------------------------------------- fresh traces, names, dtypes, ints


def test_a_second_sweep_sees_a_rebound_global(monkeypatch):
  compiled = importlib.import_module("jaxreg._sweep._program")._COMPILED
  compiled.clear()
  np.testing.assert_array_equal(run(None, scaled, seeds=1).values["y"][:, 0], GRID["a"])
  np.testing.assert_array_equal(run(None, scaled, seeds=1).values["y"][:, 0], GRID["a"])
  assert len(compiled) == 1   # an unchanged program is compiled once
  monkeypatch.setattr(sys.modules[__name__], "SCALE", 3.0)
  np.testing.assert_array_equal(run(None, scaled, seeds=1).values["y"][:, 0], 3 * np.array(GRID["a"]))
  assert len(compiled) == 2   # a changed program compiles anew


@pytest.mark.parametrize("fn, static, match", [
    (lambda hp, key: {"a": hp["a"]}, None, "'a'"),
    (lambda hp, key: {"seed": hp["a"]}, None, "'seed'"),
    (lambda hp, key: {"width": hp["a"]}, {"width": [1]}, "'width'"),
    (lambda hp, key: hp["a"], {"value": [1]}, "'value'"),   # a bare output is named "value"
    (lambda hp, key: {"w": hp["a"] + jnp.zeros(2)}, {"w[1]": [1]}, "column 'w\\[1\\]'"),
    (lambda hp, key: {"m": {"x": hp["a"]}, "m.x": hp["a"]}, None, "both named 'm.x'"),
])
def test_a_metric_named_like_an_axis_is_refused_before_running(monkeypatch, fn, static, match):
  ran = count_runs(monkeypatch)
  with pytest.raises(ValueError, match=match):
    run(None, fn, seeds=1, static=static)
  assert ran == []
  with pytest.raises(ValueError, match="name of an axis"):
    jaxreg.SweepResult({"a": [1, 2]}, {"a": np.zeros(2)})


@pytest.mark.skipif(jax.config.jax_enable_x64, reason="the limits below are those of float32/int32")
@pytest.mark.parametrize("values, match", [
    ([0, 2**31], "outside the range .* of int32"),
    ([-(2**31) - 1], "outside the range .* of int32"),
    (np.array([2**32], np.uint64), "outside the range .* of uint32"),
    ([1.0, 1e39], "becomes inf in float32"),
    ([1e-50, 1.0], "becomes 0.0 in float32"),
    ([1.0, 1.0 + 1e-12], "become equal in float32"),
])
def test_grid_values_that_do_not_fit_the_traced_dtype_are_refused(values, match):
  with pytest.raises(ValueError, match=match):
    jaxreg.sweep(lambda hp, key: hp["a"], {"a": values}, key=KEY, progress=False)


def test_grid_values_at_the_limits_of_the_traced_dtype_are_exact():
  r = jaxreg.sweep(lambda hp, key: hp["a"], {"a": [-(2**31), 2**31 - 1]}, key=KEY, progress=False)
  np.testing.assert_array_equal(r.values[:, 0], [-(2**31), 2**31 - 1])


@pytest.mark.parametrize("kwargs, name", [
    (dict(chunk_size=2.0), "chunk_size"), (dict(chunk_size=True), "chunk_size"), (dict(chunk_size="3"), "chunk_size"),
    (dict(chunk_size=-1), "chunk_size"), (dict(seeds=2.0), "seeds"), (dict(seeds=True), "seeds"),
    (dict(seeds=np.float32(2)), "seeds"),
])
def test_integer_arguments_go_through_check_int(monkeypatch, kwargs, name):
  names = []
  check_int = _trees.check_int
  monkeypatch.setattr(_trees, "check_int", lambda n, *a, **k: (names.append(n), check_int(n, *a, **k))[1])
  with pytest.raises(ValueError, match=f"jaxreg.sweep: {name} must be an integer"):
    jaxreg.sweep(lambda hp, key: hp["a"], {"a": [1.0]}, key=KEY, progress=False, **kwargs)
  assert f"jaxreg.sweep: {name}" in names


# ----------------------------------------------------------------------------- damaged and shared checkpoints


def _set_compression(data: bytes, method: int) -> bytes:
  """The zip bytes with every member's compression method (local and central headers) set to ``method``."""
  out = bytearray(data)
  for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
    for m in re.finditer(re.escape(signature), data):
      out[m.start() + offset: m.start() + offset + 2] = method.to_bytes(2, "little")
  return bytes(out)


def test_every_kind_of_damaged_chunk_is_recomputed_with_a_warning(tmp_path, reference, monkeypatch):
  run(tmp_path)
  chunk = lambda i, j: tmp_path / f"chunk-s0-{i}-{j}.npz"   # 8 chunks, s0-{seed}-{grid point}: one per config
  good = chunk(0, 0).read_bytes()
  damage = {
      (0, 1): chunk(0, 1).read_bytes()[:-1],                                  # truncated by one byte
      (0, 2): bytes(b ^ (0x10 if k == len(good) // 2 else 0) for k, b in enumerate(chunk(0, 2).read_bytes())),
      (0, 3): _set_compression(chunk(0, 3).read_bytes(), 99),                 # an unsupported compression method
      (1, 0): good,                                                           # another chunk's file (misplaced)
      (1, 1): b"",                                                            # empty
  }
  for where, data in damage.items():
    chunk(*where).write_bytes(data)
  np.savez(chunk(1, 2), leaf_0=np.zeros((1, 1)))                             # a foreign npz with other arrays
  with zipfile.ZipFile(chunk(1, 3), "w") as z:                               # a foreign zip
    z.writestr("notes.txt", "hello")
  ran = count_runs(monkeypatch)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    again = run(tmp_path)
  warned = {m.group(1) for w in caught if (m := re.search(r"chunk-s0-(\d-\d)\.npz.*recomputing", str(w.message)))}
  assert warned == {"0-1", "0-2", "0-3", "1-0", "1-1", "1-2", "1-3"}
  assert len(ran) == 7
  assert_equal(again.values, reference.values)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert_equal(run(tmp_path).values, reference.values)   # rewritten whole
  assert len(ran) == 7


def test_fuzzed_chunk_files_load_intact_or_are_recomputed(tmp_path):
  ckpt = checkpoints_module._Checkpoints(tmp_path, {"test": "fuzz"})
  leaves = [np.arange(6, dtype=np.float32).reshape(1, 2, 3), np.array([[7]], np.int32)]
  expected = [((1, 2, 3), np.dtype(np.float32)), ((1, 1), np.dtype(np.int32))]
  assert ckpt.save("s0-0-0", leaves)
  path = ckpt.path("s0-0-0")
  with open(path, "rb") as f:
    good = f.read()
  rng = np.random.default_rng(0)
  outcomes = {"intact": 0, "recomputed": 0}
  for case in range(240):
    data = bytearray(good)
    if case % 3 == 0:
      data[rng.integers(len(data))] ^= int(rng.integers(1, 256))                  # one flipped byte
    elif case % 3 == 1:
      data = data[: rng.integers(len(data))]                                      # truncated
    else:
      start = int(rng.integers(len(data)))
      data[start: start + 8] = rng.integers(0, 256, len(data[start: start + 8]), dtype=np.uint8).tobytes()
    with open(path, "wb") as f:
      f.write(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      got = ckpt.load("s0-0-0", expected)   # must never raise
    if got is None:
      assert any("recomputing" in str(w.message) for w in caught), case
      outcomes["recomputed"] += 1
    else:
      assert_equal(got, leaves)   # a harmless change (a zip timestamp, say): the data are verified intact
      outcomes["intact"] += 1
  assert outcomes["recomputed"] > 150, outcomes


def test_two_threads_share_a_checkpoint_dir(tmp_path, reference):
  results, errors = [None, None], []

  def go(i):
    try:
      results[i] = run(tmp_path)
    except BaseException as e:  # noqa: BLE001 (reported below)
      errors.append(e)

  threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=120)
  assert errors == []
  for r in results:
    assert_equal(r.values, reference.values)
  assert tmp_files(tmp_path) == []


def test_a_finished_sweep_reads_back_from_a_read_only_directory(tmp_path, reference, monkeypatch):
  run(tmp_path)
  monkeypatch.setattr(checkpoints_module._Checkpoints, "_write", lambda *a: pytest.fail("wrote to a finished sweep"))
  paths = [tmp_path / f for f in os.listdir(tmp_path)]
  for p in paths:
    p.chmod(0o444)
  tmp_path.chmod(0o555)   # (root ignores modes: the _write patch above is the real check)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("error")
      assert_equal(run(tmp_path).values, reference.values)
  finally:
    tmp_path.chmod(0o755)
    for p in paths:
      p.chmod(0o644)


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_warns_leaves_no_tmp_file_and_the_result_is_right(tmp_path, reference, monkeypatch, failing):
  real = getattr(os, failing)
  calls = []

  def disk_full(*args):
    calls.append(1)
    if len(calls) > 1:   # meta.json is written; then the disk is full
      raise OSError(28, "No space left on device")
    return real(*args)

  monkeypatch.setattr(os, failing, disk_full)
  with pytest.warns(UserWarning, match="could not write .*No space left"):
    result = run(tmp_path)
  assert_equal(result.values, reference.values)
  assert sorted(os.listdir(tmp_path)) == ["meta.json"]   # no chunk, no temporary file
  monkeypatch.setattr(os, failing, real)
  run(tmp_path)
  assert len(os.listdir(tmp_path)) == 1 + 8


@pytest.mark.parametrize("where", ["meta", "chunk", "load"])
def test_checkpoint_warnings_point_at_the_line_that_called_sweep(tmp_path, monkeypatch, where):
  if where == "load":
    run(tmp_path)
    (tmp_path / "chunk-s0-0-0.npz").write_bytes(b"not a chunk")
  else:   # writing meta.json, or the first chunk, fails
    real, writes = os.replace, []

    def replace(*args):
      writes.append(1)
      if len(writes) == (1 if where == "meta" else 2):
        raise OSError(28, "No space left on device")
      return real(*args)

    monkeypatch.setattr(os, "replace", replace)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    run(tmp_path)
  assert caught and {w.filename for w in caught} == {__file__}, [(w.filename, str(w.message)) for w in caught]


# ----------------------------------------------------------------------------- Ctrl-C and progress


def test_ctrl_c_says_how_many_chunks_are_saved_and_the_rerun_resumes(tmp_path, reference, monkeypatch, capsys):
  fsyncs = []
  real_fsync = os.fsync

  def interrupted_fsync(fd):
    fsyncs.append(fd)
    if len(fsyncs) == 4:   # meta.json, two chunks, then Ctrl-C while the third chunk is being written
      raise KeyboardInterrupt
    return real_fsync(fd)

  monkeypatch.setattr(os, "fsync", interrupted_fsync)
  with pytest.raises(KeyboardInterrupt):
    run(tmp_path)
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1] == (f"jaxreg.sweep: interrupted; 2 of 8 chunks are saved in {str(tmp_path)!r}; rerun the same "
                     "call to resume from them.")
  assert tmp_files(tmp_path) == []
  monkeypatch.setattr(os, "fsync", real_fsync)
  ran = count_runs(monkeypatch)
  assert_equal(run(tmp_path).values, reference.values)
  assert len(ran) == 6

  monkeypatch.setattr(sweep_module, "_release_freed_host_memory", lambda: (_ for _ in ()).throw(KeyboardInterrupt))
  with pytest.raises(KeyboardInterrupt):
    run(None)
  assert capsys.readouterr().err.strip().splitlines()[-1] == (
      "jaxreg.sweep: interrupted after 1 of 8 chunks; nothing is saved (pass checkpoint_dir= to make a sweep "
      "resumable).")


def test_plain_progress_lines_without_a_terminal(monkeypatch, capsys):
  clock = itertools.count(0, 4)   # every reading of the clock is 4 s later
  monkeypatch.setattr(progress_module, "_now", lambda: next(clock))
  run(None, seeds=1, progress=True, grid={"a": np.arange(1.0, 11.0)})
  lines = capsys.readouterr().err.splitlines()
  pattern = r"jaxreg\.sweep: (\d+)/10 configurations \((\d+)%\), \d+ s(, about \d+ s left)?"
  assert all(re.fullmatch(pattern, line) for line in lines), lines
  assert [int(re.match(pattern, line).group(1)) for line in lines] == [3, 6, 9, 10]   # every >= 10 s and 10%
  assert lines[-1].startswith("jaxreg.sweep: 10/10 configurations (100%)")
  run(None, seeds=1, progress=False, grid={"a": np.arange(1.0, 11.0)})
  assert capsys.readouterr().err == ""
