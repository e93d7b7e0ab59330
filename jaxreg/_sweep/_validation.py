"""Checks of sweep's arguments, the dtypes grid values are traced in, and the names of its metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import numpy as np

from jaxreg import _trees
from jaxreg._sweep._spaces import _CONFIG, Configs

_SEED = "seed"   # the name of the final axis


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


def _traced_values(name: str, arr: np.ndarray, labels: bool = True) -> np.ndarray:
  """``arr`` in the dtype ``fn`` will see it in; refuses values that do not survive the cast, and (``labels``: the
  values of a grid axis, which label its points) distinct values that the cast makes equal. Configurations of a
  list may repeat a value."""
  dtype = np.dtype(jax.dtypes.canonicalize_dtype(arr.dtype))
  x64 = "" if jax.config.read("jax_enable_x64") else " (jax_enable_x64 is off)"
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
    if labels and len(np.unique(cast)) < len(np.unique(arr)):
      raise ValueError(f"jaxreg.sweep: grid[{name!r}] holds distinct values that become equal in {dtype}, the dtype "
                       f"it is traced in{x64}: {arr.tolist()!r}. Space them further apart or enable x64.")
  return cast


def _check_axes(grid, static):
  """``(static labels, static values as given, grid labels, grid values in their traced dtypes, configs)``.

  Each is a dict name -> values. For a :class:`~jaxreg._sweep._spaces.Configs` the grid labels are
  ``{"config": 0..n-1}``, the traced values are its columns (already flat) and ``configs`` holds its
  columns as given (the per-configuration hyperparameters of the result); ``configs`` is empty for a grid.
  """
  if isinstance(grid, Configs):
    return _check_configs(grid, static)
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
  return axes_static, raw_static, axes_grid, hp, {}


def _check_configs(configs: Configs, static):
  """:func:`_check_axes` for a list of configurations: one flat ``config`` axis, no Cartesian product."""
  static = {} if static is None else static
  clash = [name for name in static if name in configs or name == _CONFIG] if isinstance(static, Mapping) else []
  if clash:
    raise ValueError(f"jaxreg.sweep: static axis name {clash[0]!r} is not allowed with a Configs grid: it is a "
                     f"hyperparameter of the configurations or {_CONFIG!r}, the configurations' axis.")
  axes_static, raw_static, _, _, _ = _check_axes({}, static)
  hp = {name: _traced_values(name, values, labels=False) for name, values in configs.items()}
  return axes_static, raw_static, {_CONFIG: np.arange(configs.n_configs)}, hp, dict(configs)


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


def _check_devices(devices) -> list:
  devices = list(jax.devices() if devices is None else devices)
  if not devices:
    raise ValueError("jaxreg.sweep: devices must name at least one device, got an empty sequence.")
  return devices


def _check_chunk_size(chunk_size) -> int | None:
  return _trees.check_int("jaxreg.sweep: chunk_size", chunk_size, low=1, allow_none=True)


def _path_name(path) -> str:
  """The name of a metric: its pytree path joined with ``.``, or ``"value"`` for a bare array."""
  return _trees.path_str(path, ".") or "value"


def _metric_names(tree) -> list[str]:
  return [_path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _column_names(name: str, leaf_shape: tuple[int, ...]) -> list[str]:
  """The record/CSV columns of one metric: its name, or ``name[i,j]`` per element of a non-scalar leaf."""
  if not leaf_shape:
    return [name]
  return [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*leaf_shape)]


def _check_names(axes: Sequence[str], leaves: Mapping[str, tuple[int, ...]], names: Sequence[str], where: str):
  """Refuses metric names (and CSV columns) that repeat or equal an axis name: they would overwrite it."""
  axis_set, seen = set(axes), set()
  for name in names:
    if name in seen:
      raise ValueError(f"{where}: two leaves of fn's output are both named {name!r}; metric names (pytree paths "
                       "joined with '.') must be unique.")
    seen.add(name)
  for name in names:
    clash = [c for c in _column_names(name, leaves[name]) if c in axis_set]
    if clash:
      column = "" if clash[0] == name else f" (column {clash[0]!r})"
      raise ValueError(f"{where}: the metric {name!r}{column} has the name of an axis (axes: {sorted(axis_set)}); it "
                       "would overwrite the axis in to_records/to_csv/to_xarray. Rename the output leaf (e.g. "
                       f"{name + '_out'!r}) or the axis.")
