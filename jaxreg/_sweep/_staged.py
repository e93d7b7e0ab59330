"""What successive halving, Hyperband and PBT share: the staged interface, its checks, and ranking.

A staged training run is three pure functions of traced hyperparameters:
``init(hparams, key) -> state``, ``train(state, hparams, key, steps) -> state``
(``steps`` a Python int) and ``evaluate(state, hparams) -> metrics``. They are
traced once per call (``train`` once per distinct ``steps``) into jaxprs; the
compiled programs run those very jaxprs, and checkpoints fingerprint them.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.extend import core as jex_core

from jaxreg import _trees
from jaxreg._sweep._fingerprints import _program_digest
from jaxreg._sweep._validation import _SEED, _key_parts, _metric_names


@contextlib.contextmanager
def _named(where: str):
  """Re-raises the sweep helpers' ``ValueError``s under the caller's name (``jaxreg.pbt: ...``)."""
  try:
    yield
  except ValueError as e:
    raise ValueError(str(e).replace("jaxreg.sweep", where)) from None


def _check_configs(configs, where: str, arg: str = "configs") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
  """``(labels as given, values in the dtype they are traced in)`` of a configuration list.

  A configuration list is a mapping ``{name: 1-D numbers}``, all of one length
  ``n >= 1``: configuration ``i`` is ``{name: values[i]}``.
  """
  if not isinstance(configs, Mapping):
    raise ValueError(f"{where}: {arg} must be a dict {{name: 1-D array of numbers}} (a configuration list, all "
                     f"of one length), got {type(configs).__name__}.")
  if len(configs) == 0:
    raise ValueError(f"{where}: {arg} is empty; give at least one hyperparameter, e.g. {{'alpha': [1e-4, 1e-3]}}.")
  labels, traced, n = {}, {}, None
  for name, values in configs.items():
    if not isinstance(name, str) or name == _SEED:
      raise ValueError(f"{where}: {arg} name {name!r} is not allowed: names are strings other than {_SEED!r}.")
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
      raise ValueError(f"{where}: {arg}[{name!r}] must be a non-empty 1-D array of numbers, got shape {arr.shape}.")
    if arr.dtype.kind not in "biuf":
      raise ValueError(f"{where}: {arg}[{name!r}] has dtype {arr.dtype}; hyperparameters are traced, so they must "
                       "be numbers (bool, int or float).")
    if n is not None and len(arr) != n:
      lengths = {k: len(np.asarray(v)) for k, v in configs.items()}
      raise ValueError(f"{where}: every entry of {arg} must have the same length (one value per configuration), "
                       f"got lengths {lengths}.")
    n = len(arr)
    dtype = np.dtype(jax.dtypes.canonicalize_dtype(arr.dtype))
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
      cast = arr.astype(dtype)
    if arr.dtype.kind in "iu" and not np.array_equal(cast.astype(arr.dtype), arr):
      raise ValueError(f"{where}: {arg}[{name!r}] holds integers that do not fit {dtype}, the dtype it is traced "
                       "in; use smaller values or enable x64.")
    if arr.dtype.kind == "f":
      lost = (np.isfinite(arr) & ~np.isfinite(cast)) | ((arr != 0) & (cast == 0))
      if lost.any():
        raise ValueError(f"{where}: {arg}[{name!r}] holds {arr[lost][0].item()!r}, which becomes "
                         f"{cast[lost][0].item()!r} in {dtype}, the dtype it is traced in; rescale it or enable x64.")
    labels[name], traced[name] = arr, cast
  return labels, traced


def _check_key(key, where: str) -> tuple[np.ndarray, str | None]:
  with _named(where):
    return _key_parts(key)


def _check_mode(mode, where: str) -> str:
  if mode not in ("min", "max"):
    raise ValueError(f"{where}: mode must be 'min' or 'max', got {mode!r}.")
  return mode


def _wrap(kd, key_impl: str | None):
  return kd if key_impl is None else jax.random.wrap_key_data(kd, impl=key_impl)


def _key_spec(key_data: np.ndarray, key_impl: str | None):
  spec = jax.ShapeDtypeStruct(key_data.shape, key_data.dtype)
  if key_impl is not None:
    spec = jax.eval_shape(lambda kd: jax.random.wrap_key_data(kd, impl=key_impl), spec)
  return spec


class _Fn(NamedTuple):
  """One traced stage: its closed jaxpr, output tree and per-run (shape, dtype) leaves, and its digest."""

  closed: Any
  treedef: Any
  info: list
  out: Any
  digest: str

  def __call__(self, *args):
    leaves = jex_core.jaxpr_as_fun(self.closed)(*jax.tree_util.tree_leaves(args))
    return jax.tree_util.tree_unflatten(self.treedef, leaves)


def _trace(f, *specs) -> _Fn:
  closed, out = jax.make_jaxpr(f, return_shape=True)(*specs)
  leaves, treedef = jax.tree_util.tree_flatten(out)
  info = [(tuple(x.shape), np.dtype(x.dtype)) for x in leaves]
  return _Fn(closed, treedef, info, out, _program_digest(closed, treedef, info))


class _Staged(NamedTuple):
  """``init``, ``train`` (one trace per distinct ``steps``) and ``evaluate``, traced and checked."""

  init: _Fn
  train: dict[int, _Fn]
  evaluate: _Fn
  metric_names: list[str]
  metric_index: int   # position of the ranking metric among the metric leaves

  @property
  def digest(self) -> list:
    return [self.init.digest, sorted((s, f.digest) for s, f in self.train.items()), self.evaluate.digest]


def _describe(info) -> str:
  return ", ".join(f"{d.name}{list(s)}" for s, d in info)


def _trace_staged(init, train, evaluate, traced_hp: dict[str, np.ndarray], key_data: np.ndarray,
                  key_impl: str | None, steps: list[int], metric: str, where: str) -> _Staged:
  """Traces the three stages for one configuration and checks them before anything runs.

  Raises ``ValueError`` when ``train`` returns a state of another structure,
  shape or dtype than it was given (for any of ``steps``), and when ``metric``
  is not a scalar metric that ``evaluate`` returns.
  """
  for name, f in (("init", init), ("train", train), ("evaluate", evaluate)):
    if not callable(f):
      raise ValueError(f"{where}: {name} must be a function, got {type(f).__name__}.")
  hp_spec = {n: jax.ShapeDtypeStruct((), v.dtype) for n, v in traced_hp.items()}
  key_spec = _key_spec(key_data, key_impl)
  fi = _trace(init, hp_spec, key_spec)
  state_spec, state_info = fi.out, fi.info
  trains = {}
  for s in sorted(set(steps)):
    ft = _trace(lambda st, h, k, s=s: train(st, h, k, s), state_spec, hp_spec, key_spec)
    if ft.treedef != fi.treedef or ft.info != state_info:
      raise ValueError(f"{where}: train(state, hparams, key, steps={s}) must return a state of the structure, shapes "
                       f"and dtypes it was given (init's: {fi.treedef} with leaves {_describe(state_info)}), got "
                       f"{ft.treedef} with leaves {_describe(ft.info)}. Keep every state array's shape and dtype "
                       "fixed (cast updates back to the parameter dtype; no growing buffers).")
    trains[s] = ft
  fe = _trace(evaluate, state_spec, hp_spec)
  names = _metric_names(fe.out)
  if metric not in names:
    raise ValueError(f"{where}: metric {metric!r} is not a metric evaluate returns; its metrics are {names} "
                     "(pytree paths joined with '.').")
  i = names.index(metric)
  if fe.info[i][0] != ():
    raise ValueError(f"{where}: metric {metric!r} must be a scalar per run to rank configurations, got shape "
                     f"{fe.info[i][0]}.")
  return _Staged(fi, trains, fe, names, i)


def _scores(metric: np.ndarray, mode: str) -> np.ndarray:
  """Float64 scores to sort ascending (best first): ``metric`` (``-metric`` for ``max``); non-finite -> +inf."""
  x = np.asarray(metric, np.float64)
  x = x if mode == "min" else -x
  return np.where(np.isfinite(x), x, np.inf)


def _rank(metric: np.ndarray, mode: str) -> np.ndarray:
  """Positions best first: by ``metric`` (``mode``), NaN/inf last, ties by position (a stable sort)."""
  return np.argsort(_scores(metric, mode), kind="stable")


def _check_positive_int(where: str, name: str, value, low: int = 1) -> int:
  return _trees.check_int(f"{where}: {name}", value, low=low)


def _check_eta(eta, where: str) -> float:
  if isinstance(eta, (bool, np.bool_)) or not isinstance(eta, (int, float, np.integer, np.floating)) \
      or not math.isfinite(eta) or eta < 2:
    raise ValueError(f"{where}: eta must be a number >= 2 (the factor by which each rung cuts the configurations "
                     f"and multiplies the steps), got {eta!r}.")
  return float(eta)
