"""What every path solver shares: input checks, convergence reports and :class:`PathInfo`."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import _trees


class ConvergenceWarning(UserWarning):
  """Some alphas did not reach ``tol``: ``max_iter`` ran out, or the dtype's rounding cannot certify it."""



@functools.partial(jax.tree_util.register_dataclass, data_fields=["alphas", "coefs", "gaps", "n_iter", "intercepts"],
                   meta_fields=[])
@dataclasses.dataclass(frozen=True)
class PathInfo:
  """A path with how well each of its problems was solved (``return_info=True``).

  It unpacks like the plain result, ``alphas, coefs = path``, so asking for the
  information never changes the shape of the call; the rest is by name. A pytree,
  so it can be returned from ``jit``.

  Attributes:
    alphas: ``(n_alphas,)``, decreasing.
    coefs: ``(n_alphas, n_features)``.
    gaps: per alpha, what the stopping rule measured: the duality gap ``/n`` of the
      returned coefficients (:func:`enet_path`, scikit-learn's ``dual_gaps``), or the
      largest entry of the prox-gradient mapping (:func:`logistic_path`).
    n_iter: per alpha, epochs (:func:`enet_path`) or iterations (:func:`logistic_path`).
    intercepts: per alpha, the unpenalized intercept (``(n_alphas,)``; ``(n_alphas, n_tasks)`` for
      several targets) where the path fits one (:func:`logistic_path` with ``fit_intercept=True``),
      else ``None``.

  Example:
    >>> X = np.random.default_rng(0).normal(size=(30, 4)); y = X @ np.arange(4.0)
    >>> path = jaxreg.paths.lasso_path(X, y, alphas=5, return_info=True)
    >>> alphas, coefs = path
    >>> path.gaps.shape, path.n_iter.shape
    ((5,), (5,))
  """
  alphas: jax.Array
  coefs: jax.Array
  gaps: jax.Array
  n_iter: jax.Array
  intercepts: jax.Array | None = None

  def __iter__(self):
    return iter((self.alphas, self.coefs))


def _check_shapes(X_shape, y_shape):
  if len(X_shape) != 2:
    raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {X_shape}.")
  if len(y_shape) != 1:
    raise ValueError(f"y must be a 1-D array (n_samples,), got shape {y_shape}.")
  if X_shape[0] != y_shape[0]:
    raise ValueError(
        f"X and y have different numbers of samples: X has {X_shape[0]} rows, y has {y_shape[0]}.")
  if X_shape[0] < 1 or X_shape[1] < 1:
    raise ValueError(f"X must have at least one sample and one feature, got shape {X_shape}.")


def _check_xy(X, y):
  """Shapes, dtype and finiteness of the data; returns jnp arrays of one float dtype."""
  _check_shapes(np.shape(X), np.shape(y))
  for name, a in (("X", X), ("y", y)):
    kind = np.dtype(a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype).kind
    if kind not in "biuf":
      raise ValueError(f"{name} must hold real numbers, got dtype {getattr(a, 'dtype', np.asarray(a).dtype)}.")
  dtype = jnp.result_type(float, X, y)
  for name, a in (("X", X), ("y", y)):
    if _trees.is_traced(a):
      continue
    a = np.asarray(a)
    if not np.isfinite(a).all():
      raise ValueError(f"{name} contains NaN or inf; remove or impute those entries first.")
    with np.errstate(over="ignore"):  # only a narrowing cast (float64 data, float32 computation) can overflow
      overflows = not np.can_cast(a.dtype, dtype) and not np.isfinite(a.astype(np.dtype(dtype))).all()
    if overflows:
      raise ValueError(
          f"{name} has values too large for {dtype} (max |{name}| = {np.max(np.abs(a)):.3g}, "
          f"{dtype} overflows above {float(jnp.finfo(dtype).max):.3g}): rescale it, or use float64 "
          "(jax.config.update('jax_enable_x64', True)).")
  return jnp.asarray(X, dtype), jnp.asarray(y, dtype)


def _check_alphas(alphas, l1_ratio, eps):
  """Validates ``alphas`` (an int = grid size, or an array of strengths > 0); returns the int or ``None``."""
  if np.ndim(alphas) == 0 and not _trees.is_traced(alphas):
    try:
      n_alphas = _trees.check_int("alphas", alphas, low=1)
    except ValueError as err:
      raise ValueError(f"{err} An integer alphas is the number of alphas of an automatic grid; pass given "
                       f"alphas as a 1-D array, e.g. [{alphas!r}].") from None
    _trees.check("eps", eps, low=0.0, low_open=True, scalar=True)
    if not _trees.is_traced(l1_ratio) and np.all(np.asarray(l1_ratio) == 0):
      raise ValueError(
          "alphas as an integer (an automatic grid) needs l1_ratio > 0, got l1_ratio=0: the grid "
          "starts at max|X^T y|/(n*l1_ratio); pass an explicit array of alphas instead.")
    return n_alphas
  if np.ndim(alphas) != 1 or np.shape(alphas)[0] < 1:
    raise ValueError(f"alphas must be an integer or a non-empty 1-D array, got shape {np.shape(alphas)}.")
  _trees.check("alphas", alphas, low=0.0, low_open=True)
  return None


def _check_common(l1_ratio, tol, max_iter):
  """Validates the float hyperparameters; returns ``max_iter`` as an int."""
  _trees.check("l1_ratio", l1_ratio, high=1.0, scalar=True)
  _trees.check("tol", tol, scalar=True)
  return _trees.check_int("max_iter", max_iter, low=1)


def _warn_unconverged(n_iter, max_iter, what):
  if _trees.is_traced(n_iter):
    return
  n_bad = int(np.sum(np.asarray(n_iter) >= max_iter))
  if n_bad:
    warnings.warn(
        f"{what}: {n_bad} problem(s) did not reach tol within max_iter={max_iter}; increase "
        "max_iter or tol (in float32, tol below ~1e-5 cannot be reached).", ConvergenceWarning,
        stacklevel=3)


class _Status(NamedTuple):
  """What a solve says about each of its problems (arrays shaped like its gaps), for :func:`_report`."""
  bounds: jax.Array  # rounding-error bounds of the gaps (0 where not estimated)
  n_iter: jax.Array
  stalled: jax.Array  # stopped at the fixed point of CD in the dtype, before tol
  scale: jax.Array  # ‖y‖²/n: tol·scale is the largest gap tol allows
  stats_finite: jax.Array  # XᵀX, Xᵀy and ‖y‖² are finite


def _check_finite(what, X, y, W, gaps, status):
  """Refuses (``ValueError``) a non-finite solution, naming the cause; silent when traced."""
  if any(_trees.is_traced(a) for a in (W, gaps, status.stats_finite)):
    return
  dtype = np.asarray(W).dtype
  if not np.all(np.asarray(status.stats_finite)):
    raise ValueError(
        f"{what}: X^T X, X^T y or y^T y overflows in {dtype} (max |X| = {float(jnp.max(jnp.abs(X))):.3g}, "
        f"max |y| = {float(jnp.max(jnp.abs(y))):.3g}), so no finite solution can be computed: rescale X "
        "and y (e.g. standardize them) or use float64 (jax.config.update('jax_enable_x64', True)).")
  W, gaps = np.asarray(W), np.asarray(gaps)
  bad = ~np.isfinite(W).all(-1) | ~np.isfinite(gaps)
  if bad.any():
    raise ValueError(
        f"{what}: coordinate descent produced non-finite coefficients or duality gaps for {int(bad.sum())} "
        f"of {bad.size} problem(s) in {dtype}: the data may contain values too large (or too small) for "
        "it; rescale X and y (e.g. standardize them).")


def _report(what, gaps, status, tol, max_iter):
  """ConvergenceWarnings that say what is true of the problems whose gap is not certified ``≤ tol``.

  ``gaps`` and ``status`` are for one batch of problems (any shape). A gap reaches ``tol`` when it
  is ``≤ tol·‖y‖²/n`` up to its rounding bound, and that bound is itself ``≤ tol·‖y‖²/n``. The
  others either ran out of ``max_iter`` with a gap still well above its rounding bound ("increase
  max_iter"), or are limited by the rounding of the dtype: stalled at the fixed point of CD in
  that precision, a gap within twice its rounding bound, or a bound above ``tol`` ("cannot
  certify tol below ...").
  """
  if any(_trees.is_traced(a) for a in (gaps, *status)):
    return
  gaps, bounds, it, stalled, scale = (np.asarray(a, np.float64) for a in (gaps, *status[:4]))
  scale = np.broadcast_to(scale, gaps.shape)
  scale = np.where(scale > 0, scale, 1)
  tol_gap = tol * scale
  unmet = ~(gaps <= tol_gap + bounds) | ((bounds > tol_gap) & (gaps > tol_gap))
  slow = unmet & (it >= max_iter) & (stalled == 0) & ~(gaps <= 2 * bounds)  # still far above rounding
  limited = unmet & ~slow
  rel, rel_b = gaps / scale, bounds / scale
  dtype = np.asarray(status.bounds).dtype
  if limited.any():
    g, b = rel[limited].max(), rel_b[limited].max()
    top = max(g, b)
    unit = 10.0 ** np.floor(np.log10(top))
    limit = unit * np.ceil(top / unit * (1 - 1e-9))  # top rounded up to one significant digit
    hint = "" if dtype == np.float64 else " or float64 (jax.config.update('jax_enable_x64', True))"
    warnings.warn(
        f"{what}: {int(limited.sum())} of {gaps.size} problem(s) did not reach tol={tol:g}: {dtype} "
        f"cannot certify tol below ~{limit:.0e} here. Their duality gaps, relative to ||y||^2/n as tol is, "
        f"are up to {g:.2g} with a rounding error of up to {b:.1g}, which more epochs do not remove: "
        f"use tol >= {limit:.0e}{hint}.", ConvergenceWarning, stacklevel=3)
  if slow.any():
    floor = rel_b[slow].max()
    floor = f" (in {dtype}, gaps below ~{floor:.0e} cannot be certified here)" if floor > tol else ""
    warnings.warn(
        f"{what}: {int(slow.sum())} of {gaps.size} problem(s) did not reach tol={tol:g} within "
        f"max_iter={max_iter} epochs (duality gaps relative to ||y||^2/n, as tol is, up to "
        f"{rel[slow].max():.2g}); increase max_iter{floor}.", ConvergenceWarning, stacklevel=3)


def _check_sample_weight(sample_weight, n, dtype):
  """scikit-learn's checks of ``sample_weight`` (``_check_sample_weight``, plus non-negativity).

  Returns ``None`` for ``None`` or a positive scalar (a constant weight changes nothing: every objective
  here is a weighted *mean*), else the weights as a ``(n,)`` array of ``dtype``. Refuses, naming
  ``sample_weight``: a wrong shape or length, non-real values, NaN or inf, negative weights, all weights
  zero. Traced weights are checked for shape only.
  """
  if sample_weight is None:
    return None
  if np.ndim(sample_weight) == 0 and not _trees.is_traced(sample_weight):
    _trees.check("sample_weight", sample_weight, low=0.0, low_open=True, scalar=True)
    return None
  shape = np.shape(sample_weight)
  if shape != (n,):
    raise ValueError(f"sample_weight must be a scalar or a 1-D array of length n_samples={n}, got shape {shape}.")
  if _trees.is_traced(sample_weight):
    _trees.check("sample_weight", sample_weight)  # dtype only
    return jnp.asarray(sample_weight, dtype)
  kind = np.asarray(sample_weight).dtype.kind
  if kind not in "biuf" or kind == "b":
    raise ValueError(f"sample_weight must hold real numbers, got dtype {np.asarray(sample_weight).dtype}.")
  sw = np.asarray(sample_weight, np.float64)
  if not np.isfinite(sw).all():
    raise ValueError("sample_weight contains NaN or inf; every weight must be a finite number >= 0.")
  if (sw < 0).any():
    raise ValueError(f"sample_weight must be >= 0, got {int((sw < 0).sum())} negative weight(s) "
                     f"(min {sw.min():.3g}).")
  if not (sw > 0).any():
    raise ValueError("sample_weight must contain at least one non-zero weight, got all zeros.")
  return jnp.asarray(sw, dtype)


def _normalized_sqrt_weights(sw, n):
  """``√(sw·n/Σsw)``: the row scaling that turns a weighted mean of squares into a plain one over ``n``
  (scikit-learn rescales the weights to sum to ``n_samples`` before its path, ``ElasticNet.fit``)."""
  return jnp.sqrt(sw * (n / jnp.sum(sw)))


def _is_sparse(X):
  """Whether ``X`` is a scipy.sparse matrix or array (scipy imported only if it is already loaded)."""
  import sys
  sp = sys.modules.get("scipy.sparse")
  return sp is not None and sp.issparse(X)


def _check_sparse_xy(X, y):
  """:func:`_check_xy` for a scipy.sparse ``X``: returns ``X`` as CSC of one float dtype (a copy only
  where the format or dtype changes; never dense) and ``y`` as a jnp array of that dtype."""
  _check_shapes(X.shape, np.shape(y))
  for name, dt in (("X", X.dtype), ("y", getattr(y, "dtype", np.asarray(y).dtype))):
    if np.dtype(dt).kind not in "biuf":
      raise ValueError(f"{name} must hold real numbers, got dtype {dt}.")
  if _trees.is_traced(y):
    raise ValueError("y must be concrete (not traced) when X is a scipy.sparse matrix: sparse X is converted "
                     "on the host, outside of jit.")
  dtype = np.dtype(jnp.result_type(float, X.dtype, np.asarray(y).dtype))
  X = X.tocsc()
  if not np.isfinite(X.data).all():
    raise ValueError("X contains NaN or inf (in its stored entries of the sparse matrix); remove or impute "
                     "those entries first.")
  if not np.isfinite(np.asarray(y)).all():
    raise ValueError("y contains NaN or inf; remove or impute those entries first.")
  for name, a in (("X", X.data), ("y", np.asarray(y))):
    with np.errstate(over="ignore"):
      if not np.isfinite(a.astype(dtype)).all():
        raise ValueError(
            f"{name} has values too large for {dtype} (max |{name}| = {np.max(np.abs(a)):.3g}): rescale it, or "
            "use float64 (jax.config.update('jax_enable_x64', True)).")
  if X.dtype != dtype:
    X = X.astype(dtype)
  return X, jnp.asarray(y, dtype)
