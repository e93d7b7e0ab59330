"""The labeled result of a sweep: axes, metrics, the best configuration, records, CSV and xarray."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from jaxreg._sweep._spaces import _CONFIG
from jaxreg._sweep._validation import _SEED, _check_names, _column_names, _path_name

_REDUCERS: dict[str, Callable[..., np.ndarray]] = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}


def _py(x):
  """A numpy scalar as the matching Python scalar (for records, CSV and ``best``)."""
  return x.item() if isinstance(x, np.generic) else x


def _hits(labels: np.ndarray, value) -> list[int]:
  """The positions of ``value`` among ``labels`` (exact; floats within a relative 1e-6 when nothing is exact)."""
  if labels.dtype == object:
    return [i for i, x in enumerate(labels) if x == value]
  hits = np.flatnonzero(labels == value)
  if not hits.size and labels.dtype.kind == "f" and isinstance(value, (int, float, np.number)):
    hits = np.flatnonzero(np.isclose(labels, value, rtol=1e-6, atol=0))
  return [int(i) for i in hits]


def _find(axis: str, labels: np.ndarray, value) -> int:
  """The position of ``value`` among an axis' labels (floats match within a relative 1e-6)."""
  hits = _hits(labels, value)
  if len(hits) != 1:
    raise ValueError(f"SweepResult.select: {axis}={value!r} matches {len(hits)} of the values "
                     f"{labels.tolist()}; give exactly one of them.")
  return int(hits[0])


class SweepResult:
  """The labeled result of :func:`sweep`.

  Attributes:
    axes: ordered ``{name: 1-D numpy array of values}``: static axes, grid axes
      (or the flat ``config`` axis), then ``seed``.
    values: the pytree ``fn`` returns, each leaf a numpy array of shape
      ``(*[len(v) for v in axes.values()], *leaf_shape)``.
    configs: for a sweep over a :class:`jaxreg.Configs`, ``{hyperparameter:
      1-D numpy array}`` with one value per entry of ``axes["config"]`` (whose
      labels are the configurations' positions in the ``Configs``); ``{}`` for
      a grid.

  Metrics are named by their pytree path joined with ``.`` (``"val_loss"``,
  ``"metrics.acc"``, ``"0"``; ``"value"`` for a bare array). A metric name
  that repeats, or equals an axis or hyperparameter name, is refused
  (``ValueError``): it would overwrite that column in :meth:`to_records`,
  :meth:`to_csv` and :meth:`to_xarray`.

  **A flat configuration axis.** With ``configs``, :meth:`best` returns the
  best configuration's ``config`` label and all its hyperparameters;
  :meth:`select` takes ``config=`` labels like any axis, and a hyperparameter
  name keeps the configurations with that value (see there);
  :meth:`to_records` and :meth:`to_csv` have one column per hyperparameter
  after ``config``; :meth:`to_xarray` has the dimension ``config`` with one
  non-dimension coordinate per hyperparameter.
  """

  def __init__(self, axes: Mapping[str, Any], values, configs: Mapping[str, Any] | None = None):
    self.axes = {str(k): np.asarray(v) for k, v in axes.items()}
    self.values = values
    self.configs = {str(k): np.asarray(v) for k, v in (configs or {}).items()}
    if self.configs and _CONFIG not in self.axes:
      raise ValueError(f"SweepResult: configs needs an axis {_CONFIG!r} (the configurations' axis); the axes are "
                       f"{list(self.axes)}.")
    for k, v in self.configs.items():
      if k in self.axes or v.shape != (len(self.axes[_CONFIG]),):
        raise ValueError(f"SweepResult: configs[{k!r}] must be named unlike every axis and hold one value per "
                         f"configuration, shape ({len(self.axes[_CONFIG])},); got shape {v.shape}.")
    shape = self.shape
    names, extra = [], {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(values)[0]:
      if np.shape(leaf)[: len(shape)] != shape:
        raise ValueError(f"SweepResult: leaf {_path_name(path)!r} has shape {np.shape(leaf)}, which does not "
                         f"start with the axes' shape {shape}.")
      names.append(_path_name(path))
      extra[names[-1]] = np.shape(leaf)[len(shape):]
    _check_names([*self.axes, *self.configs], extra, names, "SweepResult")

  @property
  def shape(self) -> tuple[int, ...]:
    """The lengths of the axes, in order."""
    return tuple(len(v) for v in self.axes.values())

  def __repr__(self):
    axes = ", ".join(f"{k}: {len(v)}" for k, v in self.axes.items())
    configs = f", configs={list(self.configs)}" if self.configs else ""
    return f"SweepResult(axes={{{axes}}}{configs}, metrics={list(self._leaves())})"

  def _labels(self, names, idx) -> dict[str, Any]:
    """``{axis: label}`` at position ``idx`` along ``names``, with the hyperparameters after ``config``."""
    out = {}
    for n, i in zip(names, idx):
      out[n] = _py(self.axes[n][i])
      if n == _CONFIG:
        out.update({h: _py(v[i]) for h, v in self.configs.items()})
    return out

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
      ``{axis name: value}`` of the best configuration (Python scalars); for a
      flat ``config`` axis, its label followed by every hyperparameter's value.

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
    return self._labels(names, np.unravel_index(flat, m.shape))

  def select(self, **selection) -> SweepResult:
    """The sub-sweep at the given axis values.

    A scalar (``alpha=1e-3``) fixes the axis and drops it; a list keeps the axis
    with those values in that order. Float labels match within a relative
    1e-6 (so ``1e-3`` finds ``np.logspace``'s ``0.0010000000000000002``).

    On a flat ``config`` axis (a sweep over :class:`jaxreg.Configs`),
    ``config=`` takes the configurations' labels (their positions in the
    ``Configs``) like any axis; a hyperparameter name (``lr=1e-3``, or a list
    of values) keeps every configuration whose value matches (same float
    tolerance), in order, and keeps the ``config`` axis with their labels, as
    any number of configurations may match. ``ValueError`` when none does.

    Example: ``result.select(lr=1e-3, seed=[0, 1]).values["val_loss"]``.
    """
    axes, values, configs = dict(self.axes), self.values, dict(self.configs)
    for axis, value in selection.items():
      idx: list[int] | int
      if axis in configs:   # a hyperparameter of a flat config axis: the matching configurations
        wanted = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
        idx = sorted({i for v in wanted for i in _hits(configs[axis], v)})
        if not idx:
          raise ValueError(f"SweepResult.select: no configuration has {axis}={value!r}; its values are "
                           f"{configs[axis].tolist()}.")
        axis = _CONFIG
      elif axis in axes:
        idx = [_find(axis, axes[axis], v) for v in value] if isinstance(value, (list, tuple, np.ndarray)) else \
            _find(axis, axes[axis], value)
      else:
        more = f" and the hyperparameters {list(configs)}" if configs else ""
        raise ValueError(f"SweepResult.select: no axis {axis!r}; the axes are {list(axes)}{more}.")
      pos = list(axes).index(axis)
      values = jax.tree_util.tree_map(lambda x, i=idx, p=pos: np.take(x, i, axis=p), values)
      if isinstance(idx, list):
        axes[axis] = axes[axis][idx]
        if axis == _CONFIG:
          configs = {h: v[idx] for h, v in configs.items()}
      else:
        del axes[axis]
        if axis == _CONFIG:
          configs = {}
    return SweepResult(axes, values, configs=configs)

  def to_records(self) -> list[dict[str, Any]]:
    """One dict per configuration: the axis values (hyperparameters after ``config``), then every metric."""
    cols = self._columns()
    return [{**self._labels(self.axes, idx), **{c: _py(x[idx]) for c, x in cols.items()}}
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

    A flat ``config`` axis also gets one non-dimension coordinate per
    hyperparameter (``ds["alpha"]`` along ``config``). Extra per-run
    dimensions of a leaf ``name`` are named ``name_dim0``, ...
    Needs the optional dependency ``xarray`` (``pip install xarray``).
    """
    try:
      import xarray as xr
    except ImportError as e:
      raise ImportError("SweepResult.to_xarray needs xarray: pip install xarray") from e
    dims, n = list(self.axes), len(self.axes)
    data = {name: (dims + [f"{name}_dim{k}" for k in range(x.ndim - n)], x) for name, x in self._leaves().items()}
    coords: dict[str, Any] = {**self.axes, **{h: (_CONFIG, v) for h, v in self.configs.items()}}
    return xr.Dataset(data, coords=coords)
