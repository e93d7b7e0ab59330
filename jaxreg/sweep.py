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
  ``(*static_lengths, *grid_lengths, seeds, *leaf_shape)``.
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
  program is compiled once (``fn`` is traced once per static combination).
  Between chunks, freed host memory is handed back to the OS (glibc's
  ``malloc_trim``), so resident memory stays that of one chunk. Like :func:`jax.jit`, programs are cached per ``fn`` object (weakly): a second
  sweep with the same ``fn`` and chunk layout (another key, another checkpoint
  directory) reuses the compiled program.
* **Devices.** The grid axis of each chunk (the seed axis when that wastes fewer
  lanes) is sharded over ``devices`` with a 1-D
  :class:`jax.sharding.NamedSharding`, padded to a multiple of the device
  count. After ``jax.distributed.initialize()``, ``jax.devices()`` spans every
  host, so the same call runs across hosts: every process calls ``sweep`` with
  the same arguments (as with any multi-process JAX program), each runs its
  devices' lanes, and every process gets the full result.
* **Lanes are independent.** A configuration that diverges to NaN/inf changes
  only its own entries (``fn`` is vmapped; padding repeats real configurations).
* **Checkpoints.** With ``checkpoint_dir``, each finished chunk is written
  atomically (temporary file + ``os.replace``) as an ``.npz`` of plain arrays and
  loaded with ``allow_pickle=False``: loading a checkpoint never runs code. A
  rerun skips finished chunks and, on the same devices, is bit-identical to an
  uninterrupted run. The directory's ``meta.json`` fingerprints the grid values,
  static values (by ``repr``), seeds, chunk blocks and key; a mismatch raises
  ``ValueError`` instead of mixing results. The fingerprint does **not** cover
  ``fn``'s code: use a fresh directory when you change ``fn``. A truncated or
  corrupt chunk (bad zip, bad CRC) is recomputed with a warning. With several
  processes every process writes its chunks and a chunk is skipped only when
  every process can read it.

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
  JAX documentation, "Distributed arrays and automatic parallelization" and
  "Multi-process" (``NamedSharding``, ``jax.distributed``).
  A. M. Law, *Simulation Modeling and Analysis*, 5th ed., McGraw-Hill 2015,
  §11.2 (common random numbers as a variance-reduction technique).
  optax issues #577 and #353 (Python-float hyperparameters recompile).
"""

from __future__ import annotations

import csv
import ctypes
import functools
import hashlib
import itertools
import json
import math
import os
import sys
import warnings
import weakref
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxreg import _trees

__all__ = ["SweepResult", "sweep"]

_AXIS = "sweep"   # the mesh axis the configurations are sharded along
_SEED = "seed"
_REDUCERS = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}
_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # fn -> {layout: jitted program}
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError)


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
                       "(they are traced). Put non-numeric or shape-changing axes in static=.")
    axes_grid[name] = arr
    hp[name] = arr.astype(jax.dtypes.canonicalize_dtype(arr.dtype))
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
  if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
    if seeds < 1:
      raise ValueError(f"jaxreg.sweep: seeds must be a positive int or a sequence of ints, got {seeds}.")
    return np.arange(seeds, dtype=np.int32)
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
  if chunk_size is None:
    return S, G
  if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
    raise ValueError(f"jaxreg.sweep: chunk_size must be a positive int or None, got {chunk_size!r}.")
  g_block = min(G, int(chunk_size))
  return max(1, min(S, int(chunk_size) // g_block)), g_block


def _pad_to(n: int, m: int) -> int:
  return -(-n // m) * m


# ----------------------------------------------------------------------------- checkpoints


def _digest(*parts) -> str:
  h = hashlib.sha256()
  for p in parts:
    h.update(p if isinstance(p, bytes) else repr(p).encode())
    h.update(b"\x00")
  return h.hexdigest()


class _Checkpoints:
  """``meta.json`` + one atomic ``.npz`` per finished chunk, in ``directory``."""

  def __init__(self, directory, fields: dict[str, str]):
    self.dir = os.fspath(directory)
    self.fingerprint = _digest(*sorted(fields.items()))
    os.makedirs(self.dir, exist_ok=True)
    meta_path = os.path.join(self.dir, "meta.json")
    meta = {"format": "jaxreg.sweep/1", "fingerprint": self.fingerprint, "fields": fields}
    if os.path.exists(meta_path):
      try:
        with open(meta_path) as f:
          old = json.load(f)
      except (OSError, ValueError):
        old = None   # a torn meta.json: the chunks still carry their own fingerprint
      if old is not None and old.get("fingerprint") != self.fingerprint:
        diff = sorted(k for k in set(fields) | set(old.get("fields", {}))
                      if old.get("fields", {}).get(k) != fields.get(k))
        raise ValueError(f"jaxreg.sweep: checkpoint_dir {self.dir!r} holds a sweep with a different "
                         f"{', '.join(diff) or 'fingerprint'}; use another directory (or delete it) "
                         "instead of mixing results.")
    if jax.process_index() == 0 or not os.path.exists(meta_path):
      self._atomic(meta_path, lambda f: f.write(json.dumps(meta, indent=1).encode()))

  def _atomic(self, path, write):
    tmp = f"{path}.{jax.process_index()}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)

  def path(self, name: str) -> str:
    return os.path.join(self.dir, f"chunk-{name}.npz")

  def load(self, name: str, expected: list[tuple[tuple[int, ...], np.dtype]]):
    """The chunk's leaves, or ``None`` when absent or corrupt; ``ValueError`` if it belongs elsewhere."""
    path = self.path(name)
    if not os.path.exists(path):
      return None
    try:
      with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}   # reading checks each member's CRC
    except _CORRUPT as e:
      warnings.warn(f"jaxreg.sweep: checkpoint {path!r} is unreadable ({type(e).__name__}: {e}); recomputing it.",
                    stacklevel=3)
      return None
    if "fingerprint" not in data or str(data["fingerprint"]) != self.fingerprint:
      raise ValueError(f"jaxreg.sweep: checkpoint {path!r} was written by a different sweep (fingerprint "
                       "mismatch); use another checkpoint_dir instead of mixing results.")
    leaves = [data.get(f"leaf_{i}") for i in range(len(expected))]
    got = [None if x is None else (x.shape, x.dtype) for x in leaves]
    if got != [(tuple(s), np.dtype(d)) for s, d in expected]:
      raise ValueError(f"jaxreg.sweep: checkpoint {path!r} holds leaves {got}, expected {expected}: fn's "
                       "outputs changed since it was written; use another checkpoint_dir.")
    return leaves

  def save(self, name: str, leaves: list[np.ndarray]):
    arrays = {f"leaf_{i}": x for i, x in enumerate(leaves)}
    self._atomic(self.path(name), lambda f: np.savez(f, fingerprint=np.array(self.fingerprint), **arrays))


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


def _progress_bar(total: int, enabled: bool):
  isatty = getattr(sys.stderr, "isatty", None)
  if not (enabled and isatty is not None and isatty() and jax.process_index() == 0):
    return None
  try:
    from tqdm import tqdm
  except ImportError:
    return None
  return tqdm(total=total, unit="config", desc="jaxreg.sweep", dynamic_ncols=True)


# ----------------------------------------------------------------------------- sweep


def sweep(fn: Callable[[dict[str, Any], jax.Array], Any], grid: Mapping[str, Any], *, key, seeds=1,
          chunk_size: int | None = None, devices: Sequence[Any] | None = None, checkpoint_dir=None,
          progress: bool = True, static: Mapping[str, Sequence[Any]] | None = None) -> SweepResult:
  r"""Runs ``fn`` on every point of ``grid`` × ``seeds`` as one compiled vmapped program.

  For grid point ``g`` (a dict of scalars) and seed ``s`` it computes
  ``fn({**static_point, **g}, jax.random.fold_in(key, s))``: the **same key for
  every grid point** of a seed (common random numbers, see the module docs).

  Args:
    fn: ``fn(hparams, key) -> pytree of arrays``, one run for one configuration.
      ``hparams[name]`` is a scalar array for grid axes (traced: build
      optimizers from it, never branch on it in Python) and the Python value
      for static axes. ``key`` is a PRNG key of the same kind as ``key``.
    grid: ``{name: 1-D numbers}``; the Cartesian product in insertion order.
      Floats are passed to ``fn`` in JAX's default dtype (float32 unless x64).
    key: a PRNG key (``jax.random.key(0)`` or ``jax.random.PRNGKey(0)``).
    seeds: number of seeds (values ``0..seeds-1``) or a 1-D sequence of
      distinct int seed values; forms the final ``seed`` axis.
    chunk_size: at most this many configurations (grid points × seeds) per
      compiled call, to bound memory; ``None`` runs everything in one call. The
      last chunk is padded, so the program compiles once.
    devices: devices to shard the configurations over; ``None`` means all of
      ``jax.devices()`` (every host's after ``jax.distributed.initialize()``).
    checkpoint_dir: directory for resumable per-chunk ``.npz`` checkpoints, or
      ``None``.
    progress: show a tqdm bar over configurations (configs/s, ETA) when stderr
      is a terminal; ``False`` silences it.
    static: ``{name: values}`` of axes looped in Python (shapes, depths,
      optimizer names): one compiled program per combination. They come first
      in the result's axes.

  Returns:
    A :class:`SweepResult` whose ``values`` leaves (numpy arrays) have shape
    ``(*static_lengths, *grid_lengths, len(seeds), *leaf_shape)``.

  Raises:
    ValueError: for a malformed grid, seeds, chunk_size or key, for static
      combinations whose outputs differ in structure or shape, or when
      ``checkpoint_dir`` holds a different sweep.

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

  ckpt = None
  if checkpoint_dir is not None:
    ckpt = _Checkpoints(checkpoint_dir, {
        "grid": _digest(*[(n, str(v.dtype), v.shape, v.tobytes()) for n, v in axes_grid.items()]),
        "static": _digest(*[(n, [repr(x) for x in v]) for n, v in axes_static.items()]),
        "seeds": _digest(seed_values.tobytes()),
        "chunks": _digest(chunk_size, s_block, g_block),
        "key": _digest(key_impl, str(key_data.dtype), key_data.tobytes()),
    })

  key_sharding = NamedSharding(mesh, P())
  key_arr = jax.make_array_from_callback(key_data.shape, key_sharding, lambda idx: key_data[idx])
  specs = ({n: jax.ShapeDtypeStruct((g_pad,), v.dtype, sharding=hp_sharding) for n, v in flat_hp.items()},
           jax.ShapeDtypeStruct((s_pad,), np.int32, sharding=seed_sharding),
           jax.ShapeDtypeStruct(key_data.shape, key_data.dtype, sharding=key_sharding))

  def program(static_point):
    """The jitted ``(hp (g_pad,), seeds (s_pad,), key data) -> leaves (s_pad, g_pad, ...)``, cached per fn."""
    try:
      cache = _PROGRAMS.setdefault(fn, {})
      fn_ref = weakref.ref(fn)   # the cache must not keep fn alive
      cache_key = (tuple((k, type(v), v) for k, v in static_point.items()), s_pad, g_pad, key_impl, hp_sharding, seed_sharding, out_sharding)
      hash(cache_key)
    except TypeError:   # fn not weak-referenceable or a static value not hashable: no cache
      cache, fn_ref, cache_key = {}, (lambda: fn), None
    if cache_key in cache:
      return cache[cache_key]

    def body(hp, seeds, kd):
      f = fn_ref()
      base = kd if key_impl is None else jax.random.wrap_key_data(kd, impl=key_impl)

      def per_seed(hp, seed):
        k = jax.random.fold_in(base, seed)   # one key per seed, shared by every grid point
        return jax.vmap(lambda h: f({**static_point, **h}, k), axis_size=g_pad)(hp)

      if s_pad == 1:   # no size-1 vmap: the same program a user would write for one seed
        return jax.tree_util.tree_map(lambda x: x[None], per_seed(hp, seeds[0]))
      return jax.vmap(per_seed, in_axes=(None, 0))(hp, seeds)

    jitted = jax.jit(body, in_shardings=(hp_sharding, seed_sharding, key_sharding), out_shardings=out_sharding)
    if cache_key is not None:
      cache[cache_key] = jitted
    return jitted

  static_points = list(itertools.product(*raw_static.values()))
  bar = _progress_bar(len(static_points) * S * G, progress)
  treedef, buffers, leaf_info = None, None, None
  try:
    for t, point in enumerate(static_points):
      static_point = dict(zip(axes_static, point))
      jitted = program(static_point)
      out_leaves, out_def = jax.tree_util.tree_flatten(jitted.eval_shape(*specs))   # traces fn (once)
      info = [(tuple(x.shape[2:]), np.dtype(x.dtype)) for x in out_leaves]
      if treedef is None:
        treedef, leaf_info = out_def, info
        buffers = [np.empty((len(static_points), S, G, *shape), dtype) for shape, dtype in info]
      elif (out_def, info) != (treedef, leaf_info):
        raise ValueError(f"jaxreg.sweep: fn returns {out_def} with leaves {info} for static values {static_point}, "
                         f"but {treedef} with leaves {leaf_info} for {dict(zip(axes_static, static_points[0]))}; "
                         "every static combination must return the same structure and per-run shapes.")

      def bounds(i, j):
        return i * s_block, min(S, (i + 1) * s_block), j * g_block, min(G, (j + 1) * g_block)

      names = [f"s{t}-{i}-{j}" for i, j in chunks]
      done = np.zeros(len(chunks), bool)
      loaded = {}
      if ckpt is not None:
        for c, (i, j) in enumerate(chunks):
          s0, s1, g0, g1 = bounds(i, j)
          leaves = ckpt.load(names[c], [((s1 - s0, g1 - g0, *shape), dtype) for shape, dtype in info])
          if leaves is not None:
            loaded[c] = leaves
            done[c] = True
        done = _all_processes(done)
      for c, (i, j) in enumerate(chunks):
        s0, s1, g0, g1 = bounds(i, j)
        if done[c]:
          leaves = loaded[c]
        else:
          g_idx = np.minimum(np.arange(g0, g0 + g_pad), g1 - 1)   # pad by repeating the last real config
          s_idx = np.minimum(np.arange(s0, s0 + s_pad), s1 - 1)
          hp = {n: jax.make_array_from_callback((g_pad,), hp_sharding, lambda idx, a=v[g_idx]: a[idx])
                for n, v in flat_hp.items()}
          seed_arr = jax.make_array_from_callback((s_pad,), seed_sharding, lambda idx, a=seed_values[s_idx]: a[idx])
          out = _to_host(jitted(hp, seed_arr, key_arr))   # compiles on the first chunk only
          leaves = [x[: s1 - s0, : g1 - g0] for x in jax.tree_util.tree_leaves(out)]
          if ckpt is not None:
            ckpt.save(names[c], leaves)
          if len(chunks) > 1:
            _release_freed_host_memory()
        for buf, x in zip(buffers, leaves):
          buf[t, s0:s1, g0:g1] = x
        if bar is not None:
          bar.update((s1 - s0) * (g1 - g0))
  finally:
    if bar is not None:
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
  ``"metrics.acc"``, ``"0"``; ``"value"`` for a bare array).
  """

  def __init__(self, axes: Mapping[str, Any], values):
    self.axes = {str(k): np.asarray(v) for k, v in axes.items()}
    self.values = values
    shape = self.shape
    for path, leaf in jax.tree_util.tree_flatten_with_path(values)[0]:
      if np.shape(leaf)[: len(shape)] != shape:
        raise ValueError(f"SweepResult: leaf {_path_name(path)!r} has shape {np.shape(leaf)}, which does not "
                         f"start with the axes' shape {shape}.")

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
      if x.ndim == n:
        cols[name] = x
      else:
        for idx in np.ndindex(*x.shape[n:]):
          cols[f"{name}[{','.join(map(str, idx))}]"] = x[(Ellipsis, *idx)]
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
      raise ValueError(f"SweepResult.best: reduce_seeds must be one of {list(_REDUCERS)} or None, got {reduce_seeds!r}.")
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
