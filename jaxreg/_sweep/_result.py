"""The labeled result of a sweep: axes, metrics, the best configuration, records, CSV and xarray."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from jaxreg._sweep._validation import _SEED, _check_names, _column_names, _path_name

_REDUCERS: dict[str, Callable[..., np.ndarray]] = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}


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
        cols[col] = x[(Ellipsis,) + tuple(idx)]
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
