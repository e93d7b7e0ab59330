"""K-fold cross-validation of the elastic net: all folds × alphas as one batch."""

from __future__ import annotations

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import _trees
from jaxreg.paths._cd import _alpha_grid, _data_gaps, _gram_path, _schedule, _sorted_alphas
from jaxreg.paths._checks import _check_alphas, _check_common, _check_finite, _check_xy, _report, _Status


class EnetCVResult(NamedTuple):
  """What :func:`enet_cv` returns (scikit-learn's ``LassoCV`` attribute in brackets).

  Attributes:
    alpha: the selected alpha, minimizing the mean over folds of ``mse_path`` (``alpha_``).
    alphas: the grid, decreasing, ``(n_alphas,)`` (``alphas_``).
    mse_path: held-out mean squared error, ``(n_alphas, n_folds)`` (``mse_path_``).
    coef: the fit on all data at ``alpha``, ``(n_features,)`` (``coef_``).
    intercept: its intercept, ``mean(y) − mean(X)·coef`` (0 without intercept) (``intercept_``).
  """
  alpha: jax.Array
  alphas: jax.Array
  mse_path: jax.Array
  coef: jax.Array
  intercept: jax.Array


def _kfold(n, k):
  """scikit-learn's unshuffled ``KFold(k)``: contiguous test blocks, the first ``n % k`` one longer."""
  sizes = np.full(k, n // k)
  sizes[: n % k] += 1
  stops = np.cumsum(sizes)
  idx = np.arange(n)
  return [(np.concatenate([idx[: s - m], idx[s:]]), idx[s - m: s]) for s, m in zip(stops, sizes)]


def _check_folds(folds, n):
  scalar = folds is None or isinstance(folds, (numbers.Number, str, bytes, np.generic)) or (
      isinstance(folds, (np.ndarray, jax.Array)) and np.ndim(folds) == 0)
  if scalar:  # the number of folds
    try:
      k = _trees.check_int("folds", folds, low=2, high=n)
    except ValueError as err:
      raise ValueError(f"{err} An integer folds is the number of folds (at most n_samples={n}); else pass "
                       "a sequence of (train_indices, test_indices) pairs.") from None
    return _kfold(n, k)
  try:
    pairs = [(np.asarray(tr), np.asarray(te)) for tr, te in folds]
  except (TypeError, ValueError):
    raise ValueError("folds must be an integer or a sequence of (train_indices, test_indices) "
                     f"pairs, got {folds!r}.") from None
  if not pairs:
    raise ValueError("folds is an empty sequence; pass an integer or (train, test) index pairs.")
  for i, (tr, te) in enumerate(pairs):
    for name, ix in (("train", tr), ("test", te)):
      if ix.ndim != 1 or ix.size == 0 or not np.issubdtype(ix.dtype, np.integer):
        raise ValueError(f"folds[{i}] {name} indices must be a non-empty 1-D integer array, got {ix!r}.")
      if ix.min() < -n or ix.max() >= n:
        raise ValueError(f"folds[{i}] {name} indices must be in [0, {n}), got range [{ix.min()}, {ix.max()}].")
  return [(tr % n, te % n) for tr, te in pairs]


def _padded(index_sets):
  """Stacks index arrays of different lengths, padding with index 0 and weight 0."""
  m = max(1, max(len(ix) for ix in index_sets))
  idx = np.zeros((len(index_sets), m), np.int32)
  wts = np.zeros((len(index_sets), m))
  for i, ix in enumerate(index_sets):
    idx[i, : len(ix)] = ix
    wts[i, : len(ix)] = 1
  return idx, wts


def _is_partition(tr, te, n):
  both = np.concatenate([tr, te])
  return both.size == n and np.unique(both).size == n


def _best_alpha(mse_path):
  """The first alpha of least mean error over folds; NaN errors (possible only under a trace: outside
  one they raise) never win."""
  mean = jnp.mean(mse_path, 1)
  return jnp.argmin(jnp.where(jnp.isnan(mean), jnp.inf, mean))


@jax.jit(static_argnames=("n_alphas", "fit_intercept", "complement", "batch_refit", "solver"))
def _enet_cv_jit(X, y, alphas, l1_ratio, eps, tol, max_iter, tr_idx, tr_w, te_idx, te_w, *,
                 n_alphas, fit_intercept, complement, batch_refit, solver):
  n, p = X.shape
  dt = X.dtype
  tr_w, te_w = tr_w.astype(dt), te_w.astype(dt)
  l1_ratio = jnp.asarray(l1_ratio, dt)
  x_mean, y_mean = jnp.mean(X, 0), jnp.mean(y)
  if fit_intercept:  # global centering; fold centering below is exact on top of it
    X, y = X - x_mean, y - y_mean
  G, Xy = X.T @ X, X.T @ y
  alphas = _alpha_grid(Xy, n, l1_ratio, eps, n_alphas) if n_alphas else _sorted_alphas(alphas, dt)

  def fold_stats(tr_i, tr_m, te_i, te_m):
    if complement:  # train = all rows minus the test rows: one small Gram per fold
      Xs, ys = X[te_i] * te_m[:, None], y[te_i] * te_m
      n_tr = n - jnp.sum(te_m)
      sx, sy = jnp.sum(X, 0) - jnp.sum(Xs, 0), jnp.sum(y) - jnp.sum(ys)
      Q, q, yy = G - Xs.T @ Xs, Xy - Xs.T @ ys, y @ y - ys @ ys
    else:
      Xt, yt = X[tr_i] * tr_m[:, None], y[tr_i] * tr_m
      n_tr = jnp.sum(tr_m)
      sx, sy = jnp.sum(Xt, 0), jnp.sum(yt)
      Q, q, yy = Xt.T @ Xt, Xt.T @ yt, yt @ yt
    mx, my = (sx / n_tr, sy / n_tr) if fit_intercept else (jnp.zeros(p, dt), jnp.zeros((), dt))
    Q = Q - n_tr * jnp.outer(mx, mx)
    q = q - n_tr * mx * my
    yy = yy - n_tr * my * my
    return Q, q, yy, n_tr, mx, my

  # batch_refit: the last "fold" is the full data (no test rows), its path holds the refit at every alpha
  # (one solver in the program, faster to compile; with all alphas in parallel and p ≤ 64 it costs about
  # as much as the separate refit).
  Q, q, yy_f, n_tr, mx, my = jax.vmap(fold_stats)(tr_idx, tr_w, te_idx, te_w)
  W, gap, bound, it, stalled = _gram_path(Q, q, yy_f, n_tr, alphas, l1_ratio, tol, max_iter, solver)
  k = W.shape[0] - 1 if batch_refit else W.shape[0]  # the folds

  def fold_mse(W, mx, my, te_i, te_m):
    pred = X[te_i] @ W.T + (my - W @ mx)  # (n_test, A)
    return jnp.sum(te_m[:, None] * (pred - y[te_i][:, None]) ** 2, 0) / jnp.sum(te_m)

  mse = jax.vmap(fold_mse)(W[:k], mx[:k], my[:k], te_idx[:k], te_w[:k])
  mse_path = mse.T  # (n_alphas, n_folds)
  best = _best_alpha(mse_path)
  alpha = alphas[best]
  scale = yy_f / n_tr
  finite = lambda *a: jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in a]))
  folds = (W[:k], gap[:k], _Status(bound[:k], it[:k], stalled[:k], scale[:k, None], finite(Q[:k], q[:k], yy_f[:k])))
  if batch_refit:
    coef = W[-1, best]
    refit = (coef[None], gap[-1, best][None], _Status(bound[-1, best][None], it[-1, best][None],
                                                      stalled[-1, best][None], scale[-1], finite(Q[-1], q[-1], yy_f[-1])))
  else:  # a path on the full data would cost as much as a fold's: refit at alpha only, from w = 0
    yy = y @ y
    coef, *info = (x[0] for x in _gram_path(
        G[None], Xy[None], yy[None], jnp.full(1, n, dt), alpha[None], l1_ratio, tol, max_iter,
        solver._replace(chunk=1)))
    coef = coef[0]
    refit = (coef[None], info[0], _Status(*info[1:], yy / n, finite(G, Xy, yy)))
  intercept = (y_mean - x_mean @ coef) if fit_intercept else jnp.zeros((), dt)
  return EnetCVResult(alpha, alphas, mse_path, coef, intercept), folds, refit


def enet_cv(X, y, *, l1_ratio=1.0, alphas=100, eps=1e-3, folds=5, tol=1e-4, max_iter=1000,
            fit_intercept=True, solver=None):
  r"""K-fold cross-validated elastic net: scikit-learn's ``LassoCV`` / ``ElasticNetCV``, one program.

  For every fold and every alpha, fits the :func:`enet_path` objective

  .. math:: \min_{w, b} \frac{1}{2n_{\mathrm{train}}}\|y - Xw - b\|^2 + \alpha\rho\|w\|_1 + \frac{\alpha(1-\rho)}{2}\|w\|^2

  on the training rows and records the mean squared error on the test rows; all
  folds × alphas run as one batch in one compiled program (the folds' Gram
  matrices are ``XᵀX − X_testᵀX_test`` when the folds partition the rows, so the
  data are multiplied twice, not once per fold). As in scikit-learn: the
  alpha grid is computed once on the full data (centered when
  ``fit_intercept``), each fold's training data is centered with its own means
  (the intercept ``b = ȳ_train − x̄_trainᵀw`` is not penalized), the selected
  alpha minimizes the mean over folds of the test MSE (the first such alpha), and
  ``coef`` is the fit on all data at that alpha, from ``w = 0`` (when all alphas
  run in parallel and ``n_features ≤ 64``, solved in the same batch as the folds,
  as one more path).

  Args:
    X: ``(n_samples, n_features)``.
    y: ``(n_samples,)``.
    l1_ratio: ``ρ`` in ``[0, 1]`` (``1``: ``LassoCV``); may be traced.
    alphas: an int (grid size, see :func:`enet_path`) or a 1-D array of alphas ``> 0``.
    eps: ``alpha_min / alpha_max`` of the automatic grid.
    folds: an int ``k`` (scikit-learn's unshuffled ``KFold(k)``: contiguous test
      blocks) or a sequence of ``(train_indices, test_indices)`` pairs.
    tol, max_iter, solver: as :func:`enet_path` (``tol``
      is relative to each fold's centered ``‖y_train‖²``; the folds' gaps are those of
      the Gram form, the refit's are checked as :func:`enet_path`'s).
    fit_intercept: center per fold and fit an intercept.

  Returns:
    :class:`EnetCVResult` ``(alpha, alphas, mse_path, coef, intercept)`` with
    ``mse_path`` of shape ``(n_alphas, n_folds)``. Warnings and errors as
    :func:`enet_path` (for the folds and for the refit); outside of ``jit`` never a
    non-finite result, and never a NaN error selected.

  Example:
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> res = jaxreg.paths.enet_cv(X, y, folds=5)   # lasso (l1_ratio=1), 100 alphas, 5 folds
    >>> res.mse_path.shape, res.coef.shape
    ((100, 5), (10,))

  References:
    ``sklearn.linear_model.LassoCV``; Hastie, Tibshirani & Friedman, *The
    Elements of Statistical Learning*, 2nd ed., §7.10.
  """
  X, y = _check_xy(X, y)
  max_iter = _check_common(l1_ratio, tol, max_iter)
  n_alphas = _check_alphas(alphas, l1_ratio, eps)
  n, p = X.shape
  pairs = _check_folds(folds, n)
  n_grid = n_alphas or np.shape(alphas)[0]
  solver = _schedule(p, n_grid, solver)
  batch_refit = solver.chunk == n_grid and p <= 64  # small p: one more family costs little; large p: ~1/k more flops
  if batch_refit:
    pairs.append((np.arange(n), np.zeros(0, int)))  # the full data, for the refit
  complement = all(_is_partition(tr, te, n) for tr, te in pairs)
  tr_idx, tr_w = _padded([tr for tr, _ in pairs])
  te_idx, te_w = _padded([te for _, te in pairs])
  res, folds_out, refit = _enet_cv_jit(
      X, y, None if n_alphas else alphas, l1_ratio, eps, tol, max_iter,
      tr_idx, tr_w, te_idx, te_w, n_alphas=n_alphas, fit_intercept=bool(fit_intercept),
      complement=complement, batch_refit=batch_refit, solver=solver)
  coef, gap, status = refit
  gap, bound = _data_gaps(X, y, coef, jnp.reshape(res.alpha, (1,)), l1_ratio, gap, status.bounds,
                          tol * status.scale, center=bool(fit_intercept))
  refit = (coef, gap, status._replace(bounds=bound))
  _check_finite("enet_cv (folds)", X, y, *folds_out)
  _check_finite("enet_cv (refit)", X, y, *refit)
  if not _trees.is_traced(res.mse_path) and not np.isfinite(np.asarray(res.mse_path)).all():
    raise ValueError("enet_cv: the held-out mean squared errors overflow although every fold's solution is "
                     f"finite (max |X| = {float(jnp.max(jnp.abs(X))):.3g}, max |y| = "
                     f"{float(jnp.max(jnp.abs(y))):.3g}): rescale X and y (e.g. standardize them).")
  _report("enet_cv (folds)", *folds_out[1:], tol, max_iter)
  _report("enet_cv (refit)", *refit[1:], tol, max_iter)
  return res
