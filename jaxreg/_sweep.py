r"""Sweeps: one compiled, vmapped program over a grid of hyperparameters × seeds.

:func:`sweep` runs ``fn(hparams, key)`` for every point of a Cartesian grid of
hyperparameters and every seed, as **one** compiled program per static setting
(``jit(vmap(vmap(fn)))``), instead of one Python loop iteration or one
compilation per configuration. It knows nothing about regularization: ``fn``
is any function of scalar hyperparameters and a PRNG key that returns a pytree
of arrays (a training run returning its validation loss, for instance).

Conventions
-----------
* **Grid.** ``grid = {"alpha": [...], "lr": [...]}`` is the Cartesian product in
  insertion order, then a final ``seed`` axis of length ``seeds``. A result leaf
  of per-run shape ``leaf_shape`` has shape
  ``(*static_lengths, *grid_lengths, seeds, *leaf_shape)``. Grid values are
  traced in JAX's default dtypes (float32 and int32 unless ``jax_enable_x64``);
  values that do not survive that cast (integers outside int32, floats that
  overflow or flush to zero in float32, distinct floats that become equal) are
  refused with a ``ValueError`` instead of being wrapped or merged.
* **Keys: common random numbers.** Seed ``s`` uses the key
  ``jax.random.fold_in(key, s)`` for **every** grid point. Configurations are
  compared on identical initializations, minibatch orders and dropout masks, so
  the difference between two alphas is not drowned in seed noise (the variance
  of a difference of positively correlated runs is smaller than that of
  independent ones). Different seeds get different keys, so spread across the
  ``seed`` axis measures seed noise. Because the key is shared within a seed,
  anything ``fn`` draws from it (minibatch indices, initial weights) is computed
  once per seed and broadcast across the grid instead of once per lane, which
  also makes the sweep faster than vmapping one key per lane.
* **Hyperparameters are data.** Each value ``hparams[name]`` that ``fn`` sees is
  a scalar array (a tracer), never a Python float: build optimizers from it
  inside ``fn`` (``optax.chain(jaxreg.add_l2(hp["alpha"]), optax.adam(1e-3))``)
  and never branch on it in Python. Axes that must be Python values (a width, a
  depth, an optimizer name) go in ``static``: they are looped over in Python,
  one compiled program per static combination, and ``fn`` receives those values
  as the Python objects themselves, in the same ``hparams`` dict.
* **Chunks.** ``chunk_size`` bounds the configurations (grid points × seeds) per
  compiled call. A chunk is a block of ``s_block`` seeds × ``g_block`` grid
  points (``g_block = min(G, chunk_size)``, ``s_block = chunk_size // g_block``
  clipped to ``[1, seeds]``). Ragged tail chunks are padded to the block shape
  by repeating their last real configuration and the padding is dropped, so the
  program is compiled once per call and static combination. Between chunks,
  freed host memory is handed back to the OS (glibc's ``malloc_trim``), so
  resident memory stays that of one chunk.
* **Tracing and compiling.** Every call traces ``fn`` afresh, once per static
  combination, into a jaxpr, and runs the program built from that very jaxpr.
  Nothing is cached per ``fn`` object, so a second call sees the current
  values of the globals and closure variables ``fn`` reads (functions that
  ``fn`` calls through their own ``jax.jit`` are cached by JAX, with
  ``jax.jit``'s rule: they must not read mutable globals). Compiled programs
  are kept in memory keyed on that trace (the jaxpr, its constants and literals
  by content, and the chunk layout), so a repeated call of an unchanged program
  in one process does not recompile, and a changed one always does. To skip
  recompiling across processes, turn on JAX's persistent compilation cache, also
  keyed on the program itself and so never returns a stale one::

    jax.config.update("jax_compilation_cache_dir", "/path/to/jax_cache")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)   # default 1 s: skips small programs

  (or the environment variables ``JAX_COMPILATION_CACHE_DIR`` and
  ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``).
* **Devices.** The grid axis of each chunk (the seed axis when that wastes fewer
  lanes) is sharded over ``devices`` with a 1-D
  :class:`jax.sharding.NamedSharding`, padded to a multiple of the device
  count. After ``jax.distributed.initialize()``, ``jax.devices()`` spans every
  host, so the same call runs across hosts: every process calls ``sweep`` with
  the same arguments (as with any multi-process JAX program), each runs its
  devices' lanes, and every process gets the full result.
* **Lanes are independent.** A configuration that diverges to NaN/inf changes
  only its own entries (``fn`` is vmapped; padding repeats real configurations).
* **Result names.** Metrics are named by their pytree path (see
  :class:`SweepResult`); a metric named like an axis (``alpha``, ``seed``, a
  static axis) would overwrite that axis in ``to_records``/``to_csv``/
  ``to_xarray``, so it is refused before anything runs.
* **Checkpoints.** With ``checkpoint_dir``, each finished chunk is written as
  an ``.npz`` of plain arrays (loaded with ``allow_pickle=False``: loading never
  runs code) under a unique temporary name, then renamed into place
  (``os.replace``, atomic): a reader sees a whole chunk or none, and threads or
  processes that share a directory do not clash. A rerun of the same call skips
  finished chunks and, on the same devices, is bit-identical to an
  uninterrupted run. What is guaranteed:

  - *A chunk is reused only for the same computation.* ``meta.json`` and every
    chunk carry a fingerprint of the grid values (bytes, dtype, shape), the
    static values by content (arrays by bytes, dtype and shape; functions and
    classes by module and qualified name; never a ``repr`` with a memory
    address or numpy's ``...`` abbreviation), the seeds, the chunk layout, the
    key, the JAX and jaxlib versions and, for every static combination, the
    program ``fn`` computes: its jaxpr, its constants (closed-over arrays) and
    literals by content, and its output structure. A changed grid, static
    value, ``fn`` (code, a closed-over array, a global it reads) or output
    raises ``ValueError`` naming what changed. The fingerprint holds no memory
    address or per-process counter, so a new process resumes.
  - *Damage is recomputed, never trusted.* Each chunk also carries a SHA-256 of
    its contents; a chunk that is damaged in any way (flipped bytes, truncated,
    an unsupported compression, a foreign file) is recomputed with a warning.
    A well-formed chunk of a different sweep raises ``ValueError``.
  - *Reading never writes.* A finished sweep is read back from a read-only
    directory. A failed write (disk full, no permission) removes its temporary
    file and warns; the sweep then continues without saving further chunks.
  - *Not covered:* what JAX does not trace. Host callbacks
    (``jax.pure_callback``, ``jax.debug.callback``) are fingerprinted by their
    function's name, not by what it does; functions ``fn`` calls through
    ``jax.jit`` are fingerprinted by the jaxpr JAX has cached for them. A run
    on other devices (another count or kind) reuses chunks: results then
    agree to floating-point accuracy, not bit for bit.

  With several processes every process writes its chunks and a chunk is
  skipped only when every process can read it.
* **Progress and interrupts.** On a terminal a tqdm bar shows configurations,
  configs/s and the ETA; without one (logs, CI) plain lines are printed to
  stderr, at most every 10 s and only after another 10% of the configurations
  or 30 s. Ctrl-C (``KeyboardInterrupt``) prints one line saying how many
  chunks are saved and that rerunning the same call resumes, then re-raises.

Example::

  def train(hp, key):                    # hp["alpha"], hp["lr"]: scalar arrays
    ...
    return {"val_loss": val_loss, "train_loss": train_loss}

  result = jaxreg.sweep(train, {"alpha": np.logspace(-5, -1, 16),
                                "lr": [1e-3, 3e-3]},
                        key=jax.random.key(0), seeds=4, chunk_size=64)
  result.values["val_loss"].shape        # (16, 2, 4)
  result.best("val_loss")                # {"alpha": ..., "lr": ...}
  result.to_csv("sweep.csv")

References:
  JAX documentation, "Distributed arrays and automatic parallelization",
  "Multi-process" (``NamedSharding``, ``jax.distributed``) and "Persistent
  compilation cache".
  A. M. Law, *Simulation Modeling and Analysis*, 5th ed., McGraw-Hill 2015,
  §11.2 (common random numbers as a variance-reduction technique).
  optax issues #577 and #353 (Python-float hyperparameters recompile).
"""

from __future__ import annotations

import collections
import csv
import ctypes
import dataclasses
import functools
import hashlib
import itertools
import json
import math
import os
import re
import secrets
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.extend import core as jex_core
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxreg import _trees

__all__ = ["SweepResult", "sweep"]

_AXIS = "sweep"   # the mesh axis the configurations are sharded along
_SEED = "seed"
_REDUCERS = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}
_FORMAT = "jaxreg.sweep/2"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")   # memory addresses in reprs (JAX's printer already masks its own)
_CACHE_SIZE = 16   # compiled programs kept in memory, keyed by what they compute (see _cached)
_COMPILED: collections.OrderedDict = collections.OrderedDict()
_now = time.monotonic   # the progress clock (tests replace it)


# ----------------------------------------------------------------------------- validation


def _labels(name: str, values, what: str) -> np.ndarray:
  """A 1-D, non-empty numpy array of axis labels (object dtype when numpy cannot type them)."""
  arr = None
  if not isinstance(values, (str, bytes, Mapping)) and hasattr(values, "__iter__"):
    if what == "grid":
      arr = np.asarray(values)
    else:
      values = list(values)
      arr = np.empty(len(values), dtype=object)
      arr[:] = values
      try:
        typed = np.asarray(values)
        arr = typed if typed.ndim == 1 and typed.dtype != object else arr
      except (ValueError, TypeError):
        pass
  if arr is None or arr.ndim != 1 or arr.size == 0:
    raise ValueError(f"jaxreg.sweep: {what}[{name!r}] must be a non-empty 1-D sequence of values, got {values!r}.")
  return arr


def _traced_values(name: str, arr: np.ndarray) -> np.ndarray:
  """``arr`` in the dtype ``fn`` will see it in; refuses values that do not survive the cast."""
  dtype = np.dtype(jax.dtypes.canonicalize_dtype(arr.dtype))
  x64 = "" if jax.config.jax_enable_x64 else " (jax_enable_x64 is off)"
  if arr.dtype.kind in "iu":
    info = np.iinfo(dtype)
    bad = arr[(arr < info.min) | (arr > info.max)]
    if bad.size:
      raise ValueError(f"jaxreg.sweep: grid[{name!r}] holds {bad[0].item()!r}, outside the range "
                       f"[{info.min}, {info.max}] of {dtype}, the dtype it is traced in{x64}; it would wrap around. "
                       "Use smaller values, floats, or enable x64.")
    return arr.astype(dtype)
  with np.errstate(over="ignore", under="ignore"):
    cast = arr.astype(dtype)
  if arr.dtype.kind == "f":
    lost = (np.isfinite(arr) & ~np.isfinite(cast)) | ((arr != 0) & (cast == 0))
    if lost.any():
      v, c = arr[lost][0].item(), cast[lost][0].item()
      raise ValueError(f"jaxreg.sweep: grid[{name!r}] holds {v!r}, which becomes {c!r} in {dtype}, the "
                       f"dtype it is traced in{x64}. Rescale the axis (e.g. sweep log10 of it) or enable x64.")
    if len(np.unique(cast)) < len(np.unique(arr)):
      raise ValueError(f"jaxreg.sweep: grid[{name!r}] holds distinct values that become equal in {dtype}, the dtype "
                       f"it is traced in{x64}: {arr.tolist()!r}. Space them further apart or enable x64.")
  return cast


def _check_axes(grid, static):
  if not isinstance(grid, Mapping):
    raise ValueError(f"jaxreg.sweep: grid must be a dict name -> 1-D values, got {type(grid).__name__}.")
  static = {} if static is None else static
  if not isinstance(static, Mapping):
    raise ValueError(f"jaxreg.sweep: static must be a dict name -> values or None, got {type(static).__name__}.")
  axes_grid, hp = {}, {}
  for name, values in grid.items():
    if not isinstance(name, str) or name == _SEED or name in static:
      raise ValueError(f"jaxreg.sweep: grid axis name {name!r} is not allowed: names are strings, "
                       f"not {_SEED!r} (the seed axis) and not also in static.")
    arr = _labels(name, values, "grid")
    if arr.dtype.kind not in "biuf":
      raise ValueError(f"jaxreg.sweep: grid[{name!r}] has dtype {arr.dtype}; grid values must be numbers "
                       "(they are traced) that fit int64 or float64. Put non-numeric or shape-changing axes in "
                       "static=.")
    axes_grid[name] = arr
    hp[name] = _traced_values(name, arr)
  axes_static, raw_static = {}, {}
  for name, values in static.items():
    if not isinstance(name, str) or name == _SEED:
      raise ValueError(f"jaxreg.sweep: static axis name {name!r} is not allowed (strings other than {_SEED!r}).")
    if not isinstance(values, (str, bytes, Mapping)) and hasattr(values, "__iter__"):
      values = list(values)
    axes_static[name] = _labels(name, values, "static")
    raw_static[name] = values   # fn gets the user's Python objects, not numpy scalars
  return axes_static, raw_static, axes_grid, hp


def _check_seeds(seeds) -> np.ndarray:
  if np.ndim(seeds) == 0:
    return np.arange(_trees.check_int("jaxreg.sweep: seeds", seeds, low=1, high=2**31), dtype=np.int32)
  arr = np.asarray(seeds)
  if (arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu" or len(set(arr.tolist())) != arr.size
      or arr.min() < 0 or arr.max() >= 2**31):
    raise ValueError("jaxreg.sweep: seeds must be a positive int or a 1-D sequence of distinct ints in "
                     f"[0, 2**31), got {seeds!r}.")
  return arr.astype(np.int32)


def _key_parts(key):
  """``(key data as numpy, impl name or None for a raw uint32 key)``."""
  if _trees.is_traced(key):
    raise ValueError("jaxreg.sweep: key must be a concrete PRNG key (sweep drives compiled programs; "
                     "do not call it under jit/vmap).")
  if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
    if key.shape != ():
      raise ValueError(f"jaxreg.sweep: key must be a single PRNG key, got a key array of shape {key.shape}.")
    return np.asarray(jax.random.key_data(key)), str(jax.random.key_impl(key))
  arr = np.asarray(key)
  if arr.dtype != np.uint32 or arr.ndim != 1:
    raise ValueError(f"jaxreg.sweep: key must be a PRNG key (jax.random.key(0) or jax.random.PRNGKey(0)), "
                     f"got {type(key).__name__} with dtype {arr.dtype} and shape {arr.shape}.")
  return arr, None


def _blocks(G: int, S: int, chunk_size) -> tuple[int, int]:
  """``(s_block, g_block)``: seeds × grid points per chunk, at most ``chunk_size`` configurations."""
  chunk_size = _trees.check_int("jaxreg.sweep: chunk_size", chunk_size, low=1, allow_none=True)
  if chunk_size is None:
    return S, G
  g_block = min(G, chunk_size)
  return max(1, min(S, chunk_size // g_block)), g_block


def _pad_to(n: int, m: int) -> int:
  return -(-n // m) * m


def _column_names(name: str, leaf_shape: tuple[int, ...]) -> list[str]:
  """The record/CSV columns of one metric: its name, or ``name[i,j]`` per element of a non-scalar leaf."""
  if not leaf_shape:
    return [name]
  return [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*leaf_shape)]


def _check_names(axes: Sequence[str], leaves: Mapping[str, tuple[int, ...]], names: Sequence[str], where: str):
  """Refuses metric names (and CSV columns) that repeat or equal an axis name: they would overwrite it."""
  axes, seen = set(axes), set()
  for name in names:
    if name in seen:
      raise ValueError(f"{where}: two leaves of fn's output are both named {name!r}; metric names (pytree paths "
                       "joined with '.') must be unique.")
    seen.add(name)
  for name in names:
    clash = [c for c in _column_names(name, leaves[name]) if c in axes]
    if clash:
      column = "" if clash[0] == name else f" (column {clash[0]!r})"
      raise ValueError(f"{where}: the metric {name!r}{column} has the name of an axis (axes: {sorted(axes)}); it "
                       "would overwrite the axis in to_records/to_csv/to_xarray. Rename the output leaf (e.g. "
                       f"{name + '_out'!r}) or the axis.")


# ----------------------------------------------------------------------------- fingerprints


def _feed(h, x, depth: int = 0) -> None:
  """Feeds ``h`` a stable encoding of ``x`` by content: the same in every process, never a memory address.

  Arrays by dtype, shape and bytes (numpy's ``repr`` abbreviates large ones);
  numbers, strings and containers by value; functions, classes and other
  callables by module and qualified name; other objects by their type and
  their ``repr`` with addresses removed.
  """
  def put(tag: str, text: str = "") -> None:
    h.update(f"{tag}:{text}".encode("utf-8", "backslashreplace") + b"\x00")

  if depth > 64:
    return put("deep")
  if isinstance(x, np.generic) and x.dtype.kind in "biufc":
    x = x.item()   # a number by value, whatever its numpy type
  if x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
    return put(type(x).__name__, repr(x))   # repr of a float round-trips exactly
  if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    put("key", str(jax.random.key_impl(x)))
    x = jax.random.key_data(x)
  if isinstance(x, (np.ndarray, np.generic, jax.Array)):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      from jax.experimental import multihost_utils
      x = multihost_utils.process_allgather(x, tiled=True)
    a = np.asarray(x)
    put("array", f"{a.dtype.str}{a.shape}")
    if a.dtype == object:
      for e in a.flat:
        _feed(h, e, depth + 1)
    else:
      h.update(np.ascontiguousarray(a).tobytes())
    return None
  if isinstance(x, Mapping):
    put("map", f"{type(x).__qualname__}{len(x)}")
    for k, v in x.items():
      _feed(h, k, depth + 1)
      _feed(h, v, depth + 1)
    return None
  if isinstance(x, (set, frozenset)):   # iteration order depends on PYTHONHASHSEED: sort the members' digests
    put("set", str(len(x)))
    for d in sorted(_digest_of(e) for e in x):
      put("member", d)
    return None
  if isinstance(x, (tuple, list)):
    put("seq", f"{type(x).__module__}.{type(x).__qualname__}{len(x)}")
    for e in x:
      _feed(h, e, depth + 1)
    return None
  if isinstance(x, functools.partial):
    put("partial")
    for part in (x.func, x.args, x.keywords):
      _feed(h, part, depth + 1)
    return None
  if isinstance(x, types.MethodType):
    put("method")
    _feed(h, x.__func__, depth + 1)
    return _feed(h, x.__self__, depth + 1)
  if dataclasses.is_dataclass(x) and not isinstance(x, type):
    put("dataclass", f"{type(x).__module__}.{type(x).__qualname__}")
    for field in dataclasses.fields(x):
      put("field", field.name)
      _feed(h, getattr(x, field.name), depth + 1)
    return None
  name = getattr(x, "__qualname__", None)
  if callable(x) and isinstance(name, str):
    return put("callable", f"{getattr(x, '__module__', None)}.{name}")
  put("object", f"{type(x).__module__}.{type(x).__qualname__} {_ADDRESS.sub('0x?', repr(x))}")


def _digest_of(*xs) -> str:
  h = hashlib.sha256()
  for x in xs:
    _feed(h, x)
  return h.hexdigest()


def _feed_jaxpr(h, jaxpr, seen: set) -> None:
  """Feeds the values the jaxpr's printout may abbreviate: literals (``[...]``) and array parameters."""
  if id(jaxpr) in seen:
    return
  seen.add(id(jaxpr))
  for eqn in jaxpr.eqns:
    for v in eqn.invars:
      if isinstance(v, jex_core.Literal):
        _feed(h, v.val)
    for p in eqn.params.values():
      _feed_param(h, p, seen)
  for v in jaxpr.outvars:
    if isinstance(v, jex_core.Literal):
      _feed(h, v.val)


def _feed_param(h, p, seen: set) -> None:
  if isinstance(p, jex_core.ClosedJaxpr):
    for c in p.consts:
      _feed(h, c)
    _feed_jaxpr(h, p.jaxpr, seen)
  elif isinstance(p, jex_core.Jaxpr):
    _feed_jaxpr(h, p, seen)
  elif isinstance(p, (tuple, list)):
    for q in p:
      _feed_param(h, q, seen)
  elif isinstance(p, (np.ndarray, jax.Array)):
    _feed(h, p)


def _program_digest(closed, out_tree, out_info) -> str:
  """A digest of what one configuration computes: jaxpr text, constants and literals by content, outputs."""
  h = hashlib.sha256()
  h.update(_ADDRESS.sub("0x?", str(closed.jaxpr)).encode())
  for c in closed.consts:
    _feed(h, c)
  _feed_jaxpr(h, closed.jaxpr, set())
  h.update(_ADDRESS.sub("0x?", str(out_tree)).encode())
  _feed(h, [(shape, dtype.str) for shape, dtype in out_info])
  return h.hexdigest()


def _jax_versions() -> str:
  import jaxlib
  flags = {k: getattr(jax.config, k, None) for k in ("jax_threefry_partitionable", "jax_default_matmul_precision")}
  return f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, {flags}"


# ----------------------------------------------------------------------------- checkpoints


class _Damaged(Exception):
  """A chunk file that is not an intact chunk of this format."""


def _chunk_checksum(fingerprint: str, name: str, leaves) -> str:
  h = hashlib.sha256()
  _feed(h, (_FORMAT, fingerprint, name))
  for x in leaves:
    _feed(h, np.asarray(x))
  return h.hexdigest()


class _Checkpoints:
  """``meta.json`` + one atomically written ``.npz`` per finished chunk, in ``directory``."""

  def __init__(self, directory, fields: dict[str, str]):
    self.dir = os.fspath(directory)
    self.fields = {"format": _FORMAT, **fields}
    self.fingerprint = _digest_of(sorted(self.fields.items()))
    self.writable = True
    self.saved: set[str] = set()   # chunks this call verified or wrote
    self._lock = threading.Lock()
    os.makedirs(self.dir, exist_ok=True)
    meta_path = os.path.join(self.dir, "meta.json")
    meta = {"format": _FORMAT, "fingerprint": self.fingerprint, "fields": self.fields}
    old = None
    try:
      with open(meta_path) as f:
        old = json.load(f)
      if not isinstance(old, dict):
        old = None
    except FileNotFoundError:
      pass
    except (OSError, ValueError):
      old = None   # a damaged meta.json: rewritten; the chunks still carry their own fingerprint
    if old is not None and old.get("fingerprint") != self.fingerprint:
      old_fields = old.get("fields") if isinstance(old.get("fields"), dict) else {}
      diff = sorted(k for k in set(self.fields) | set(old_fields) if old_fields.get(k) != self.fields.get(k))
      raise ValueError(f"jaxreg.sweep: checkpoint_dir {self.dir!r} holds a sweep with a different "
                       f"{', '.join(diff) or 'fingerprint'}; use another directory (or delete it) "
                       "instead of mixing results.")
    if old is None:   # a matching meta.json is never rewritten: a finished sweep reads back from read-only storage
      self._write(meta_path, lambda f: f.write(json.dumps(meta, indent=1).encode()))

  def _write(self, path: str, write) -> bool:
    """Writes ``path`` atomically (unique temporary + ``os.replace``); on failure warns and stops saving."""
    if not self.writable:
      return False
    tmp = f"{path}.{os.getpid()}-{threading.get_ident()}-{secrets.token_hex(4)}.tmp"
    try:
      fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
      try:
        with os.fdopen(fd, "wb") as f:
          write(f)
          f.flush()
          os.fsync(f.fileno())
        os.replace(tmp, path)
      except BaseException:
        try:
          os.unlink(tmp)
        except OSError:
          pass
        raise
    except OSError as e:
      self.writable = False
      warnings.warn(f"jaxreg.sweep: could not write {path!r} ({type(e).__name__}: {e}); the sweep goes on, but "
                    "no further chunks of this call are saved.", stacklevel=4)
      return False
    return True

  def path(self, name: str) -> str:
    return os.path.join(self.dir, f"chunk-{name}.npz")

  def load(self, name: str, expected: list[tuple[tuple[int, ...], np.dtype]]):
    """The chunk's leaves, or ``None`` when absent or damaged; ``ValueError`` if it belongs to another sweep."""
    path = self.path(name)
    try:
      with open(path, "rb") as f:
        z = np.load(f, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
          raise _Damaged("not an .npz archive")
        with z:
          want = {"format", "fingerprint", "name", "checksum", *(f"leaf_{i}" for i in range(len(expected)))}
          if set(z.files) != want:
            raise _Damaged(f"its members are {sorted(z.files)}")
          data = {k: z[k] for k in want}
      leaves = [data[f"leaf_{i}"] for i in range(len(expected))]
      meta = {k: data[k] for k in ("format", "fingerprint", "name", "checksum")}
      if any(v.shape != () or v.dtype.kind != "U" for v in meta.values()):
        raise _Damaged("its metadata are not strings")
      meta = {k: str(v) for k, v in meta.items()}
      if meta["checksum"] != _chunk_checksum(meta["fingerprint"], meta["name"], leaves) or meta["format"] != _FORMAT:
        raise _Damaged("its checksum does not match its contents")
    except FileNotFoundError:
      return None
    except Exception as e:   # any damage at all: a chunk is recomputed rather than trusted or crashed on
      warnings.warn(f"jaxreg.sweep: checkpoint {path!r} is damaged ({type(e).__name__}: {e}); recomputing it.",
                    stacklevel=3)
      return None
    if meta["fingerprint"] != self.fingerprint:
      raise ValueError(f"jaxreg.sweep: checkpoint {path!r} was written by a different sweep (fingerprint "
                       "mismatch); use another checkpoint_dir instead of mixing results.")
    got = [(x.shape, x.dtype) for x in leaves]
    if meta["name"] != name or got != [(tuple(s), np.dtype(d)) for s, d in expected]:
      warnings.warn(f"jaxreg.sweep: checkpoint {path!r} holds chunk {meta['name']!r} with leaves {got}, expected "
                    f"chunk {name!r} with {expected}; recomputing it.", stacklevel=3)
      return None
    with self._lock:
      self.saved.add(name)
    return leaves

  def save(self, name: str, leaves: list[np.ndarray]) -> bool:
    leaves = [np.ascontiguousarray(x) for x in leaves]
    meta = {"format": np.array(_FORMAT), "fingerprint": np.array(self.fingerprint), "name": np.array(name),
            "checksum": np.array(_chunk_checksum(self.fingerprint, name, leaves))}
    arrays = {**meta, **{f"leaf_{i}": x for i, x in enumerate(leaves)}}
    ok = self._write(self.path(name), lambda f: np.savez(f, **arrays))
    if ok:
      with self._lock:
        self.saved.add(name)
    return ok


def _all_processes(flags: np.ndarray) -> np.ndarray:
  """Logical AND of a bool vector over processes (each one must be able to read a chunk to skip it)."""
  if jax.process_count() == 1:
    return flags
  from jax.experimental import multihost_utils
  return np.asarray(multihost_utils.process_allgather(flags.astype(np.int32))).min(axis=0).astype(bool)


def _to_host(tree):
  leaves = jax.tree_util.tree_leaves(tree)
  if all(x.is_fully_addressable for x in leaves):
    return jax.tree_util.tree_map(np.asarray, tree)
  from jax.experimental import multihost_utils
  return jax.tree_util.tree_map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


@functools.cache
def _malloc_trim():
  """glibc's ``malloc_trim``, or ``None`` off glibc."""
  if not sys.platform.startswith("linux"):
    return None
  try:
    return ctypes.CDLL(None).malloc_trim
  except (OSError, AttributeError):
    return None


def _release_freed_host_memory():
  """Returns freed heap memory to the OS between chunks.

  XLA's CPU runtime frees each call's temporary buffers, but glibc keeps them
  cached in per-thread arenas, so without this the resident memory of a long
  chunked sweep creeps up by a few chunks' worth (measured: +30% after 16
  chunks of the digits benchmark, +1% with it).
  """
  trim = _malloc_trim()
  if trim is not None:
    trim(0)


class _Progress:
  """A tqdm bar on a terminal; plain lines on stderr otherwise (logs, CI); nothing when disabled."""

  MIN_S, MAX_S, STEP = 10.0, 30.0, 0.1   # a line at most every MIN_S, after STEP of the work or MAX_S

  def __init__(self, total: int, enabled: bool):
    self.total, self.done, self.bar, self.plain = total, 0, None, False
    if not enabled or jax.process_index() != 0:
      return
    isatty = getattr(sys.stderr, "isatty", None)
    if isatty is not None and isatty():
      try:
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit="config", desc="jaxreg.sweep", dynamic_ncols=True)
      except ImportError:
        pass
    self.plain = self.bar is None
    self.start = self.last = _now()
    self.last_done = 0

  def update(self, n: int) -> None:
    self.done += n
    if self.bar is not None:
      self.bar.update(n)
    elif self.plain:
      t = _now()
      if t - self.last >= self.MAX_S or (t - self.last >= self.MIN_S
                                         and self.done - self.last_done >= self.STEP * self.total):
        self._line(t)

  def _line(self, t: float) -> None:
    elapsed = t - self.start
    left = f", about {elapsed * (self.total - self.done) / self.done:.0f} s left" if 0 < self.done < self.total else ""
    print(f"jaxreg.sweep: {self.done}/{self.total} configurations ({100 * self.done / self.total:.0f}%), "
          f"{elapsed:.0f} s{left}", file=sys.stderr, flush=True)
    self.last, self.last_done = t, self.done

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()
    elif self.plain and self.done == self.total != self.last_done and _now() - self.start >= self.MIN_S:
      self._line(_now())   # a long sweep ends its log with a 100% line
    self.bar, self.plain = None, False


# ----------------------------------------------------------------------------- sweep


def _cached(key, build):
  """The compiled program for ``key`` (what it computes by content, and the chunk layout), built once.

  Keyed on the program's digest, never on the function object: a sweep of a
  changed ``fn`` (or of one that reads a rebound global) has another digest and
  compiles anew. The last :data:`_CACHE_SIZE` programs are kept.
  """
  if key in _COMPILED:
    _COMPILED.move_to_end(key)
    return _COMPILED[key]
  program = _COMPILED[key] = build()
  while len(_COMPILED) > _CACHE_SIZE:
    _COMPILED.popitem(last=False)
  return program


def _trace(fn, static_point: dict, hp_spec: dict, key_spec):
  """``fn`` for one configuration as a closed jaxpr, with its output treedef and per-run (shape, dtype)s."""
  closed, out = jax.make_jaxpr(lambda h, k: fn({**static_point, **h}, k), return_shape=True)(hp_spec, key_spec)
  leaves, treedef = jax.tree_util.tree_flatten(out)
  return closed, treedef, [(tuple(x.shape), np.dtype(x.dtype)) for x in leaves], out


def sweep(fn: Callable[[dict[str, Any], jax.Array], Any], grid: Mapping[str, Any], *, key, seeds=1,
          chunk_size: int | None = None, devices: Sequence[Any] | None = None, checkpoint_dir=None,
          progress: bool = True, static: Mapping[str, Sequence[Any]] | None = None) -> SweepResult:
  r"""Runs ``fn`` on every point of ``grid`` × ``seeds`` as one compiled vmapped program.

  For grid point ``g`` (a dict of scalars) and seed ``s`` it computes
  ``fn({**static_point, **g}, jax.random.fold_in(key, s))``: the **same key for
  every grid point** of a seed (common random numbers, see the module docs).

  Each call traces ``fn`` afresh (once per static combination), so it sees the
  current values of the globals it reads; the compiled program is reused only
  for the same trace (by content). To reuse compiled programs across
  processes, turn on JAX's persistent compilation cache (keyed on the program,
  so never stale)::

    jax.config.update("jax_compilation_cache_dir", "/path/to/jax_cache")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

  Args:
    fn: ``fn(hparams, key) -> pytree of arrays``, one run for one configuration.
      ``hparams[name]`` is a scalar array for grid axes (traced: build
      optimizers from it, never branch on it in Python) and the Python value
      for static axes. ``key`` is a PRNG key of the same kind as ``key``.
      Output leaves are named by their pytree path; no name may equal an axis.
    grid: ``{name: 1-D numbers}``; the Cartesian product in insertion order.
      Values are traced in JAX's default dtypes (float32/int32 unless x64);
      values that do not fit them are refused.
    key: a PRNG key (``jax.random.key(0)`` or ``jax.random.PRNGKey(0)``).
    seeds: number of seeds (values ``0..seeds-1``) or a 1-D sequence of
      distinct int seed values; forms the final ``seed`` axis.
    chunk_size: at most this many configurations (grid points × seeds) per
      compiled call, to bound memory; ``None`` runs everything in one call. The
      last chunk is padded, so the program compiles once.
    devices: devices to shard the configurations over; ``None`` means all of
      ``jax.devices()`` (every host's after ``jax.distributed.initialize()``).
    checkpoint_dir: directory for resumable per-chunk ``.npz`` checkpoints, or
      ``None``. Rerunning the same call resumes; chunks are reused only for
      the same grid, static values, seeds, layout, key and traced program of
      ``fn`` (see the module docs for exactly what is and is not covered).
    progress: report progress: a tqdm bar when stderr is a terminal, else a
      plain line at most every 10 s (after 10% more of the work, or 30 s);
      ``False`` silences it.
    static: ``{name: values}`` of axes looped in Python (shapes, depths,
      optimizer names): one compiled program per combination. They come first
      in the result's axes.

  Returns:
    A :class:`SweepResult` whose ``values`` leaves (numpy arrays) have shape
    ``(*static_lengths, *grid_lengths, len(seeds), *leaf_shape)``.

  Raises:
    ValueError: for a malformed grid (or values that do not fit the traced
      dtype), seeds, chunk_size or key, for static combinations whose outputs
      differ in structure or shape, for a metric named like an axis, or when
      ``checkpoint_dir`` holds a different sweep.
    KeyboardInterrupt: re-raised after one line on stderr that says how many
      chunks are saved and that rerunning the same call resumes from them.

  Example::

    >>> def fn(hp, key):
    ...   return {"loss": (hp["alpha"] - 0.3) ** 2 + 0.01 * jax.random.normal(key)}
    >>> r = sweep(fn, {"alpha": [0.1, 0.3, 1.0]}, key=jax.random.key(0), seeds=2, progress=False)
    >>> r.values["loss"].shape, r.best("loss")
    ((3, 2), {'alpha': 0.3})
  """
  axes_static, raw_static, axes_grid, hp_axes = _check_axes(grid, static)
  seed_values = _check_seeds(seeds)
  key_data, key_impl = _key_parts(key)
  devices = list(jax.devices() if devices is None else devices)
  if not devices:
    raise ValueError("jaxreg.sweep: devices must name at least one device, got an empty sequence.")

  grid_shape = tuple(len(v) for v in axes_grid.values())
  static_shape = tuple(len(v) for v in axes_static.values())
  G, S = math.prod(grid_shape), len(seed_values)
  s_block, g_block = _blocks(G, S, chunk_size)
  n_dev = len(devices)
  # Shard the grid axis of a chunk, unless sharding the seed axis pads fewer lanes.
  shard_seeds = s_block * _pad_to(g_block, n_dev) > _pad_to(s_block, n_dev) * g_block
  s_pad = _pad_to(s_block, n_dev) if shard_seeds else s_block
  g_pad = g_block if shard_seeds else _pad_to(g_block, n_dev)
  mesh = Mesh(np.array(devices), (_AXIS,))
  hp_sharding = NamedSharding(mesh, P() if shard_seeds else P(_AXIS))
  seed_sharding = NamedSharding(mesh, P(_AXIS) if shard_seeds else P())
  out_sharding = NamedSharding(mesh, P(_AXIS) if shard_seeds else P(None, _AXIS))

  # Flat grid points in C order (the last named axis fastest).
  mesh_idx = [m.ravel() for m in np.meshgrid(*[np.arange(n) for n in grid_shape], indexing="ij")]
  flat_hp = {name: v[i] for (name, v), i in zip(hp_axes.items(), mesh_idx)}
  chunks = [(i, j) for i in range(-(-S // s_block)) for j in range(-(-G // g_block))]

  key_sharding = NamedSharding(mesh, P())
  key_arr = jax.make_array_from_callback(key_data.shape, key_sharding, lambda idx: key_data[idx])
  specs = ({n: jax.ShapeDtypeStruct((g_pad,), v.dtype, sharding=hp_sharding) for n, v in flat_hp.items()},
           jax.ShapeDtypeStruct((s_pad,), np.int32, sharding=seed_sharding),
           jax.ShapeDtypeStruct(key_data.shape, key_data.dtype, sharding=key_sharding))
  hp_spec = {n: jax.ShapeDtypeStruct((), v.dtype) for n, v in flat_hp.items()}
  key_spec = jax.ShapeDtypeStruct(key_data.shape, key_data.dtype)
  if key_impl is not None:
    key_spec = jax.eval_shape(lambda kd: jax.random.wrap_key_data(kd, impl=key_impl), key_spec)

  # Trace fn once per static combination (this call's globals, closures and static values), before running anything.
  static_points = [dict(zip(axes_static, point)) for point in itertools.product(*raw_static.values())]
  traced = [_trace(fn, point, hp_spec, key_spec) for point in static_points]
  _, treedef, leaf_info, out_shape = traced[0]
  for point, (_, out_def, info, _) in zip(static_points, traced):
    if (out_def, info) != (treedef, leaf_info):
      raise ValueError(f"jaxreg.sweep: fn returns {out_def} with leaves {info} for static values {point}, "
                       f"but {treedef} with leaves {leaf_info} for {static_points[0]}; "
                       "every static combination must return the same structure and per-run shapes.")
  paths = [_path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(out_shape)[0]]
  axis_names = [*axes_static, *axes_grid, _SEED]
  _check_names(axis_names, dict(zip(paths, (shape for shape, _ in leaf_info))), paths, "jaxreg.sweep")

  digests = [_program_digest(closed, out_def, info) for closed, out_def, info, _ in traced]
  ckpt = None
  if checkpoint_dir is not None:
    ckpt = _Checkpoints(checkpoint_dir, {
        "grid": _digest_of([(n, v) for n, v in axes_grid.items()]),
        "static": _digest_of([(n, v) for n, v in raw_static.items()]),
        "seeds": _digest_of(seed_values),
        "chunks": _digest_of((s_block, g_block)),
        "key": _digest_of(key_impl, key_data),
        "fn": _digest_of(digests),
        "jax": _jax_versions(),
    })

  def compile_program(closed):
    """``(hp (g_pad,), seeds (s_pad,), key data) -> leaves (s_pad, g_pad, ...)``, built from the traced jaxpr."""
    run = jex_core.jaxpr_as_fun(closed)

    def body(hp, seeds, kd):
      base = kd if key_impl is None else jax.random.wrap_key_data(kd, impl=key_impl)

      def per_seed(hp, seed):
        k = jax.random.fold_in(base, seed)   # one key per seed, shared by every grid point
        return jax.vmap(lambda h: run(*jax.tree_util.tree_leaves((h, k))), axis_size=g_pad)(hp)

      if s_pad == 1:   # no size-1 vmap: the same program a user would write for one seed
        return jax.tree_util.tree_map(lambda x: x[None], per_seed(hp, seeds[0]))
      return jax.vmap(per_seed, in_axes=(None, 0))(hp, seeds)

    jitted = jax.jit(body, in_shardings=(hp_sharding, seed_sharding, key_sharding), out_shardings=out_sharding)
    return jitted.lower(*specs).compile()

  layout = (s_pad, g_pad, key_impl, key_data.dtype.str, key_data.shape, tuple(devices), shard_seeds)

  def bounds(i, j):
    return i * s_block, min(S, (i + 1) * s_block), j * g_block, min(G, (j + 1) * g_block)

  buffers = [np.empty((len(static_points), S, G, *shape), dtype) for shape, dtype in leaf_info]
  bar = _Progress(len(static_points) * S * G, progress)
  finished, t = 0, 0
  try:
    for t, (closed, *_) in enumerate(traced):
      names = [f"s{t}-{i}-{j}" for i, j in chunks]
      done = np.zeros(len(chunks), bool)
      loaded = {}
      if ckpt is not None:
        for c, (i, j) in enumerate(chunks):
          s0, s1, g0, g1 = bounds(i, j)
          leaves = ckpt.load(names[c], [((s1 - s0, g1 - g0, *shape), dtype) for shape, dtype in leaf_info])
          if leaves is not None:
            loaded[c] = leaves
            done[c] = True
        done = _all_processes(done)
      compiled = None if done.all() else _cached(   # a finished sweep compiles nothing
          (digests[t], layout), lambda closed=closed: compile_program(closed))
      for c, (i, j) in enumerate(chunks):
        s0, s1, g0, g1 = bounds(i, j)
        if done[c]:
          leaves = loaded.pop(c)
        else:
          g_idx = np.minimum(np.arange(g0, g0 + g_pad), g1 - 1)   # pad by repeating the last real config
          s_idx = np.minimum(np.arange(s0, s0 + s_pad), s1 - 1)
          hp = {n: jax.make_array_from_callback((g_pad,), hp_sharding, lambda idx, a=v[g_idx]: a[idx])
                for n, v in flat_hp.items()}
          seed_arr = jax.make_array_from_callback((s_pad,), seed_sharding, lambda idx, a=seed_values[s_idx]: a[idx])
          out = _to_host(compiled(hp, seed_arr, key_arr))
          leaves = [x[: s1 - s0, : g1 - g0] for x in out]
          if ckpt is not None:
            ckpt.save(names[c], leaves)
        for buf, x in zip(buffers, leaves):
          buf[t, s0:s1, g0:g1] = x
        finished += 1
        bar.update((s1 - s0) * (g1 - g0))
        if not done[c] and len(chunks) > 1:
          _release_freed_host_memory()
  except KeyboardInterrupt:
    bar.close()
    total = len(static_points) * len(chunks)
    if ckpt is None:
      line = (f"jaxreg.sweep: interrupted after {finished} of {total} chunks; nothing is saved (pass "
              "checkpoint_dir= to make a sweep resumable).")
    else:   # verified or written by this call, or (static combinations not reached yet) on disk from an earlier one
      later = [f"s{u}-{i}-{j}" for u in range(t + 1, len(static_points)) for i, j in chunks]
      saved = len(ckpt.saved) + sum(os.path.exists(ckpt.path(n)) for n in later)
      line = (f"jaxreg.sweep: interrupted; {saved} of {total} chunks are saved in {ckpt.dir!r}; "
              "rerun the same call to resume from them.")
    print(line, file=sys.stderr, flush=True)
    raise
  finally:
    bar.close()

  n_lead = len(static_shape) + len(grid_shape)
  values = []
  for buf in buffers:
    x = buf.reshape(*static_shape, S, *grid_shape, *buf.shape[3:])
    values.append(np.moveaxis(x, len(static_shape), n_lead))
  axes = {**axes_static, **axes_grid, _SEED: seed_values}
  return SweepResult(axes, jax.tree_util.tree_unflatten(treedef, values))


# ----------------------------------------------------------------------------- results


def _py(x):
  """A numpy scalar as the matching Python scalar (for records, CSV and ``best``)."""
  return x.item() if isinstance(x, np.generic) else x


def _find(axis: str, labels: np.ndarray, value) -> int:
  """The position of ``value`` among an axis' labels (floats match within a relative 1e-6)."""
  if labels.dtype == object:
    hits = [i for i, x in enumerate(labels) if x == value]
  else:
    hits = list(np.flatnonzero(labels == value))
    if not hits and labels.dtype.kind == "f" and isinstance(value, (int, float, np.number)):
      hits = list(np.flatnonzero(np.isclose(labels, value, rtol=1e-6, atol=0)))
  if len(hits) != 1:
    raise ValueError(f"SweepResult.select: {axis}={value!r} matches {len(hits)} of the values "
                     f"{labels.tolist()}; give exactly one of them.")
  return int(hits[0])


def _path_name(path) -> str:
  return _trees.path_str(path, ".") or "value"


class SweepResult:
  """The labeled result of :func:`sweep`.

  Attributes:
    axes: ordered ``{name: 1-D numpy array of values}``: static axes, grid axes,
      then ``seed``.
    values: the pytree ``fn`` returns, each leaf a numpy array of shape
      ``(*[len(v) for v in axes.values()], *leaf_shape)``.

  Metrics are named by their pytree path joined with ``.`` (``"val_loss"``,
  ``"metrics.acc"``, ``"0"``; ``"value"`` for a bare array). A metric name
  that repeats, or equals an axis name, is refused (``ValueError``): it would
  overwrite that column in :meth:`to_records`, :meth:`to_csv` and
  :meth:`to_xarray`.
  """

  def __init__(self, axes: Mapping[str, Any], values):
    self.axes = {str(k): np.asarray(v) for k, v in axes.items()}
    self.values = values
    shape = self.shape
    names, extra = [], {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(values)[0]:
      if np.shape(leaf)[: len(shape)] != shape:
        raise ValueError(f"SweepResult: leaf {_path_name(path)!r} has shape {np.shape(leaf)}, which does not "
                         f"start with the axes' shape {shape}.")
      names.append(_path_name(path))
      extra[names[-1]] = np.shape(leaf)[len(shape):]
    _check_names(list(self.axes), extra, names, "SweepResult")

  @property
  def shape(self) -> tuple[int, ...]:
    """The lengths of the axes, in order."""
    return tuple(len(v) for v in self.axes.values())

  def __repr__(self):
    axes = ", ".join(f"{k}: {len(v)}" for k, v in self.axes.items())
    return f"SweepResult(axes={{{axes}}}, metrics={list(self._leaves())})"

  def _leaves(self) -> dict[str, np.ndarray]:
    return {_path_name(p): np.asarray(x) for p, x in jax.tree_util.tree_flatten_with_path(self.values)[0]}

  def _columns(self) -> dict[str, np.ndarray]:
    """One array of shape ``self.shape`` per scalar; non-scalar leaves expand to ``name[i,j]``."""
    cols, n = {}, len(self.axes)
    for name, x in self._leaves().items():
      for col, idx in zip(_column_names(name, x.shape[n:]), np.ndindex(*x.shape[n:])):
        cols[col] = x[(Ellipsis, *idx)]
    return cols

  def _metric(self, metric) -> np.ndarray:
    leaves = self._leaves()
    if callable(metric):
      m = np.asarray(metric(self.values))
    elif metric is None:
      if len(leaves) != 1:
        raise ValueError(f"SweepResult: name the metric, one of {list(leaves)}.")
      m = next(iter(leaves.values()))
    elif metric in leaves:
      m = leaves[metric]
    else:
      raise ValueError(f"SweepResult: metric={metric!r} is not one of {list(leaves)}.")
    if m.shape != self.shape:
      raise ValueError(f"SweepResult: metric {metric!r} has shape {m.shape}; it must be one scalar per "
                       f"configuration, shape {self.shape}.")
    return m

  def best(self, metric=None, mode: str = "min", reduce_seeds: str | None = "mean") -> dict[str, Any]:
    """The hyperparameters whose metric is best, ignoring failed (NaN/inf) configurations.

    Args:
      metric: a metric name, a callable ``values -> array of shape self.shape``,
        or ``None`` when there is a single leaf.
      mode: ``"min"`` or ``"max"``.
      reduce_seeds: how seeds are combined before comparing: ``"mean"``,
        ``"median"``, ``"min"``, ``"max"``; ``None`` picks the best single run
        (and returns its ``seed`` too). A configuration with a NaN/inf in any
        seed counts as failed under every reduction.

    Returns:
      ``{axis name: value}`` of the best configuration (Python scalars).

    Raises:
      ValueError: for an unknown metric, mode or reduction, or when every
        configuration failed.
    """
    if mode not in ("min", "max"):
      raise ValueError(f"SweepResult.best: mode must be 'min' or 'max', got {mode!r}.")
    if reduce_seeds is not None and reduce_seeds not in _REDUCERS:
      raise ValueError(f"SweepResult.best: reduce_seeds must be one of {list(_REDUCERS)} or None, "
                       f"got {reduce_seeds!r}.")
    m = self._metric(metric).astype(np.float64)
    names = list(self.axes)
    if reduce_seeds is not None and _SEED in names:
      m = _REDUCERS[reduce_seeds](m, axis=names.index(_SEED))   # NaN propagates: a failed seed fails the config
      names.remove(_SEED)
    m = np.where(np.isfinite(m), m, np.nan)
    if np.isnan(m).all():
      raise ValueError(f"SweepResult.best: every configuration's {metric!r} is NaN or inf.")
    flat = np.nanargmin(m) if mode == "min" else np.nanargmax(m)
    idx = np.unravel_index(flat, m.shape)
    return {n: _py(self.axes[n][i]) for n, i in zip(names, idx)}

  def select(self, **selection) -> SweepResult:
    """The sub-sweep at the given axis values.

    A scalar (``alpha=1e-3``) fixes the axis and drops it; a list keeps the axis
    with those values in that order. Float labels match within a relative
    1e-6 (so ``1e-3`` finds ``np.logspace``'s ``0.0010000000000000002``).

    Example: ``result.select(lr=1e-3, seed=[0, 1]).values["val_loss"]``.
    """
    axes, values = dict(self.axes), self.values
    for axis, value in selection.items():
      if axis not in axes:
        raise ValueError(f"SweepResult.select: no axis {axis!r}; the axes are {list(axes)}.")
      pos = list(axes).index(axis)
      if isinstance(value, (list, tuple, np.ndarray)):
        idx = [_find(axis, axes[axis], v) for v in value]
        axes[axis] = axes[axis][idx]
        values = jax.tree_util.tree_map(lambda x, i=idx, p=pos: np.take(x, i, axis=p), values)
      else:
        i = _find(axis, axes[axis], value)
        del axes[axis]
        values = jax.tree_util.tree_map(lambda x, i=i, p=pos: np.take(x, i, axis=p), values)
    return SweepResult(axes, values)

  def to_records(self) -> list[dict[str, Any]]:
    """One dict per configuration: the axis values, then every metric (Python scalars)."""
    cols = self._columns()
    return [{**{n: _py(self.axes[n][i]) for n, i in zip(self.axes, idx)},
             **{c: _py(x[idx]) for c, x in cols.items()}}
            for idx in np.ndindex(*self.shape)]

  def to_csv(self, path) -> None:
    """Writes :meth:`to_records` to ``path`` as CSV (header row; floats written exactly, shortest repr)."""
    records = self.to_records()
    with open(path, "w", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=list(records[0]))
      writer.writeheader()
      writer.writerows(records)

  def to_xarray(self):
    """A labeled ``xarray.Dataset``: one variable per leaf, coordinates = the axes.

    Extra per-run dimensions of a leaf ``name`` are named ``name_dim0``, ...
    Needs the optional dependency ``xarray`` (``pip install xarray``).
    """
    try:
      import xarray as xr
    except ImportError as e:
      raise ImportError("SweepResult.to_xarray needs xarray: pip install xarray") from e
    dims, n = list(self.axes), len(self.axes)
    data = {name: (dims + [f"{name}_dim{k}" for k in range(x.ndim - n)], x) for name, x in self._leaves().items()}
    return xr.Dataset(data, coords=dict(self.axes))
