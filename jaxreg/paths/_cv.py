"""K-fold cross-validation of the elastic net: all folds × alphas as one batch."""

from __future__ import annotations

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import _trees
from jaxreg.paths._cd import SolverOptions, _alpha_grid, _data_gaps, _gram_path, _schedule, _sorted_alphas
from jaxreg.paths._checks import (
  _check_alphas,
  _check_common,
  _check_finite,
  _check_sample_weight,
  _check_sparse_xy,
  _check_xy,
  _is_sparse,
  _normalized_sqrt_weights,
  _report,
  _Status,
)
from jaxreg.paths._linear import _choose_method, _solve
from jaxreg.paths._residual import _dense_design, _rmatvec, _sparse_design


class EnetCVResult(NamedTuple):
  """What :func:`enet_cv` returns (scikit-learn's ``ElasticNetCV`` attribute in brackets).

  Attributes:
    alpha: the selected alpha, minimizing the mean over folds of ``mse_path`` (``alpha_``).
    alphas: the grid, decreasing, ``(n_alphas,)``; with a list of ``l1_ratio``, one grid per
      ``l1_ratio``, ``(n_l1_ratio, n_alphas)`` (``alphas_``).
    mse_path: held-out mean squared error (weighted by ``sample_weight`` if given), ``(n_alphas,
      n_folds)``; with a list of ``l1_ratio``, ``(n_l1_ratio, n_alphas, n_folds)`` (``mse_path_``).
    coef: the fit on all data at ``alpha`` (and ``l1_ratio``), ``(n_features,)`` (``coef_``).
    intercept: its intercept, ``ȳ − x̄ᵀcoef`` with the (weighted) means (0 without intercept)
      (``intercept_``).
    l1_ratio: the selected ``l1_ratio`` (the given one when it is a scalar) (``l1_ratio_``).
  """
  alpha: jax.Array
  alphas: jax.Array
  mse_path: jax.Array
  coef: jax.Array
  intercept: jax.Array
  l1_ratio: jax.Array


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


def _best(mse_path):
  """The first ``(l1_ratio, alpha)`` (row-major, as ``ElasticNetCV``'s loops) of least mean error over
  folds, ``mse_path``: ``(L, A, k)``; NaN errors (possible only under a trace: outside one they raise)
  never win. Returns the two indices."""
  mean = jnp.mean(mse_path, -1)
  flat = jnp.argmin(jnp.where(jnp.isnan(mean), jnp.inf, mean).reshape(-1))
  return flat // mean.shape[1], flat % mean.shape[1]


def _best_alpha(mse_path):
  """The index of the first alpha of least mean error over folds (``mse_path``: ``(A, k)``), NaN never winning."""
  return _best(mse_path[None])[1]


@jax.jit(static_argnames=("n_alphas", "fit_intercept", "complement", "batch_refit", "solver", "multi"))
def _enet_cv_jit(X, y, sw, alphas, l1_ratio, eps, tol, max_iter, tr_idx, tr_w, te_idx, te_w, *,
                 n_alphas, fit_intercept, complement, batch_refit, solver, multi):
  n, p = X.shape
  dt = X.dtype
  sw, tr_w, te_w = sw.astype(dt), tr_w.astype(dt), te_w.astype(dt)
  l1s = jnp.reshape(jnp.asarray(l1_ratio, dt), (-1,))  # (L,)
  s_all = jnp.sum(sw)
  x_mean, y_mean = sw @ X / s_all, sw @ y / s_all  # weighted means (sw = 1: the plain ones)
  if fit_intercept:  # global centering; fold centering below is exact on top of it
    X, y = X - x_mean, y - y_mean
  Xw = X * sw[:, None]
  G, Xy, yy = Xw.T @ X, (sw * y) @ X, y @ (sw * y)  # v @ X: XLA's CPU Xᵀv is 20x slower
  if n_alphas:  # one grid per l1_ratio, on the full (weighted, centered) data, as ElasticNetCV
    alphas = jax.vmap(lambda r: _alpha_grid(Xy, s_all, r, eps, n_alphas))(l1s)
  else:
    alphas = jnp.broadcast_to(_sorted_alphas(alphas, dt), (l1s.shape[0], alphas.shape[0]))

  def fold_stats(tr_i, tr_m, te_i, te_m):
    # Weighted sums over the fold's training rows. The fold's loss is the weighted mean
    # Σ s_i r_i²/(2Σs_i): scikit-learn's rescaling of the training weights to sum to n_train,
    # written with n = Σ s_i (the same objective, gaps and tol).
    if complement:  # train = all rows minus the test rows: one small Gram per fold
      ws = sw[te_i] * te_m
      Xs, ys = X[te_i], y[te_i]
      Xsw = Xs * ws[:, None]
      s_tr = s_all - jnp.sum(ws)
      sx, sy = sw @ X - ws @ Xs, sw @ y - ws @ ys
      Q, q, yy_f = G - Xsw.T @ Xs, Xy - (ws * ys) @ Xs, yy - ys @ (ws * ys)
    else:
      wt = sw[tr_i] * tr_m
      Xt, yt = X[tr_i], y[tr_i]
      Xtw = Xt * wt[:, None]
      s_tr = jnp.sum(wt)
      sx, sy = wt @ Xt, wt @ yt
      Q, q, yy_f = Xtw.T @ Xt, (wt * yt) @ Xt, yt @ (wt * yt)
    mx, my = (sx / s_tr, sy / s_tr) if fit_intercept else (jnp.zeros(p, dt), jnp.zeros((), dt))
    Q = Q - s_tr * jnp.outer(mx, mx)
    q = q - s_tr * mx * my
    yy_f = yy_f - s_tr * my * my
    return Q, q, yy_f, s_tr, mx, my

  # batch_refit: the last "fold" is the full data (no test rows), its path holds the refit at every alpha
  # (one solver in the program, faster to compile; with all alphas in parallel and p ≤ 64 it costs about
  # as much as the separate refit).
  Q, q, yy_f, s_tr, mx, my = jax.vmap(fold_stats)(tr_idx, tr_w, te_idx, te_w)
  path = lambda a, r: _gram_path(Q, q, yy_f, s_tr, a, r, tol, max_iter, solver)
  if multi:  # every l1_ratio with its grid: (L, F, A, ...)
    W, gap, bound, it, stalled = jax.vmap(path)(alphas, l1s)
  else:
    W, gap, bound, it, stalled = (x[None] for x in path(alphas[0], l1s[0]))
  k = W.shape[1] - 1 if batch_refit else W.shape[1]  # the folds

  def fold_mse(W, mx, my, te_i, te_m):
    pred = X[te_i] @ W.T + (my - W @ mx)  # (n_test, A)
    wte = sw[te_i] * te_m  # scikit-learn: np.average(residues**2, weights=sw_test)
    return jnp.sum(wte[:, None] * (pred - y[te_i][:, None]) ** 2, 0) / jnp.sum(wte)

  mse = jax.vmap(lambda W: jax.vmap(fold_mse)(W[:k], mx[:k], my[:k], te_idx[:k], te_w[:k]))(W)  # (L, k, A)
  mse_path = jnp.swapaxes(mse, 1, 2)  # (L, A, k)
  bl, ba = _best(mse_path)
  alpha, l1_best = alphas[bl, ba], l1s[bl]
  scale = yy_f / s_tr
  finite = lambda *a: jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in a]))
  folds = (W[:, :k], gap[:, :k], _Status(bound[:, :k], it[:, :k], stalled[:, :k], scale[:k, None],
                                         finite(Q[:k], q[:k], yy_f[:k])))
  if batch_refit:
    pick = lambda x: x[bl, -1, ba][None]
    coef = W[bl, -1, ba]
    refit = (coef[None], pick(gap), _Status(pick(bound), pick(it), pick(stalled), scale[-1],
                                            finite(Q[-1], q[-1], yy_f[-1])))
  else:  # a path on the full data would cost as much as a fold's: refit at alpha only, from w = 0
    coef, *info = (x[0] for x in _gram_path(
        G[None], Xy[None], yy[None], s_all[None], alpha[None], l1_best, tol, max_iter, solver._replace(chunk=1)))
    coef = coef[0]
    refit = (coef[None], info[0], _Status(*info[1:], yy / s_all, finite(G, Xy, yy)))
  intercept = (y_mean - x_mean @ coef) if fit_intercept else jnp.zeros((), dt)
  if not multi:
    alphas, mse_path, l1_best = alphas[0], mse_path[0], jnp.reshape(jnp.asarray(l1_ratio, dt), ())
  return EnetCVResult(alpha, alphas, mse_path, coef, intercept, l1_best), folds, refit


def _enet_cv_ws(X, y, sw, alphas, l1_ratio, multi, n_alphas, eps, tol, max_iter, pairs, fit_intercept, options):
  """:func:`enet_cv` by the working-set solver (wide or sparse ``X``): a loop on the host over ``l1_ratio`` ×
  folds, each fold's path solved by :func:`jaxreg.paths._linear._solve` with the fold's (weighted) column means
  as the design's offset (implicit for a sparse ``X``, never densified), then the refit at the selected pair.
  The same objectives, grids, selection rule and tolerances as the batched Gram program; the folds are not
  batched. Returns ``(result, folds, refit)`` as :func:`_enet_cv_jit` (the folds' arrays flattened over
  ``l1_ratio`` × folds)."""
  sparse = _is_sparse(X)
  n, p = X.shape
  dt = y.dtype
  Xr = X.tocsr() if sparse else X
  s = np.ones(n) if sw is None else np.asarray(sw, np.float64)
  options = (options or SolverOptions())._replace(method="working_set")
  l1s = np.reshape(np.asarray(l1_ratio, np.float64), (-1,))

  def prepared(rows):
    """The rows' centered, weighted problem: ``(X, y, offset)`` for :func:`_solve`, and ``(mx, my)``."""
    Xf, yf, w = Xr[rows], y[rows], s[rows]
    mx = np.asarray(w @ Xf).ravel() / w.sum() if fit_intercept else np.zeros(p)
    my = float(w @ np.asarray(yf)) / w.sum() if fit_intercept else 0.0
    mx_ = jnp.asarray(mx, dt)
    Xf, yf = (Xf.tocsc(), yf - my) if sparse else (Xf - mx_, yf - my)
    if sw is not None:  # the weighted mean of squares as a plain one, as enet_path
      root = _normalized_sqrt_weights(jnp.asarray(w, dt), len(rows))
      Xf, yf = (Xf.multiply(np.asarray(root)[:, None]).tocsc() if sparse else Xf * root[:, None]), yf * root
    return (Xf, yf, mx_ if sparse else None), (mx_, my)

  (Xa, ya, off), (x_mean, y_mean) = prepared(np.arange(n))
  if n_alphas:  # one grid per l1_ratio, on the full (weighted, centered) data, as ElasticNetCV
    q = _rmatvec(_sparse_design(Xa, dt, off) if sparse else _dense_design(Xa), ya)
    grids = jnp.stack([_alpha_grid(q, n, r, eps, n_alphas) for r in l1s])  # rows weighted to sum n
  else:
    grids = jnp.broadcast_to(_sorted_alphas(alphas, dt), (len(l1s), np.shape(alphas)[0]))
  Ws, gaps, stats, mse = [], [], [], np.zeros((len(l1s), grids.shape[1], len(pairs)))
  for i, r in enumerate(l1s):
    for j, (tr, te) in enumerate(pairs):
      (Xf, yf, off_f), (mx, my) = prepared(tr)
      _, W, gap, status = _solve(Xf, yf, r, grids[i], 0, eps, tol, max_iter, False, off_f, options, False)
      pred = np.asarray(Xr[te] @ np.asarray(W).T) - np.asarray(mx @ W.T)[None] + my  # (n_test, A)
      mse[i, :, j] = s[te] @ (pred - np.asarray(y[te])[:, None]) ** 2 / s[te].sum()
      Ws.append(W), gaps.append(gap), stats.append(status._replace(scale=jnp.reshape(status.scale, (1,))))
  stack = lambda *a: jnp.stack(a)
  folds = (jnp.stack(Ws), jnp.stack(gaps), jax.tree.map(stack, *stats))
  bl, ba = (int(v) for v in _best(jnp.asarray(mse)))
  alpha, l1_best = grids[bl, ba], l1s[bl]
  _, W, gap, status = _solve(Xa, ya, l1_best, alpha[None], 0, eps, tol, max_iter, False, off, options, False)
  coef = W[0]
  intercept = jnp.asarray(y_mean - x_mean @ coef if fit_intercept else 0.0, dt)
  mse_path = jnp.asarray(mse, dt)
  if not multi:
    grids, mse_path = grids[0], mse_path[0]
  res = EnetCVResult(alpha, grids, mse_path, coef, intercept, jnp.asarray(l1_best if multi else l1_ratio, dt))
  return res, folds, (W, gap, status)


def _enet_cv_gram(X, y, sw, alphas, l1_ratio, multi, n_alphas, eps, tol, max_iter, pairs, fit_intercept, solver):
  """:func:`enet_cv` by the batched Gram program :func:`_enet_cv_jit`, the refit's gaps checked from the data."""
  n, p = X.shape
  n_grid = n_alphas or np.shape(alphas)[0]
  batch_refit = solver.chunk == n_grid and p <= 64  # small p: one more family costs little; large p: ~1/k more flops
  if batch_refit:
    pairs = pairs + [(np.arange(n), np.zeros(0, int))]  # the full data, for the refit
  complement = all(_is_partition(tr, te, n) for tr, te in pairs)
  tr_idx, tr_w = _padded([tr for tr, _ in pairs])
  te_idx, te_w = _padded([te for _, te in pairs])
  res, folds_out, refit = _enet_cv_jit(
      X, y, jnp.ones(n, X.dtype) if sw is None else sw, None if n_alphas else alphas, l1_ratio, eps, tol,
      max_iter, tr_idx, tr_w, te_idx, te_w, n_alphas=n_alphas, fit_intercept=fit_intercept,
      complement=complement, batch_refit=batch_refit, solver=solver, multi=multi)
  coef, gap, status = refit
  Xg, yg, center = X, y, fit_intercept
  if sw is not None:  # the refit's data as enet_path's: weighted centering, rows scaled by √(s·n/Σs)
    root = _normalized_sqrt_weights(sw, n)
    if center:
      xm, ym = sw @ X / jnp.sum(sw), sw @ y / jnp.sum(sw)
      Xg, yg = X - xm, y - ym
    Xg, yg, center = Xg * root[:, None], yg * root, False
  gap, bound = _data_gaps(Xg, yg, coef, jnp.reshape(res.alpha, (1,)), res.l1_ratio, gap, status.bounds,
                          tol * status.scale, center=center)
  return res, folds_out, (coef, gap, status._replace(bounds=bound))


def _check_l1_ratios(l1_ratio, integer_alphas):
  """A scalar ``l1_ratio`` (returned as is) or a non-empty 1-D list of them (returned as an array);
  each in ``[0, 1]`` (checked when concrete), and ``> 0`` with an automatic grid. Returns
  ``(l1_ratio, is_list)``."""
  if np.ndim(l1_ratio) == 0 or isinstance(l1_ratio, (str, bytes)):
    return l1_ratio, False
  if _trees.is_traced(l1_ratio):
    arr = l1_ratio
  else:
    try:
      arr = np.asarray(l1_ratio)
    except (TypeError, ValueError):
      raise ValueError(f"l1_ratio must be a number in [0, 1] or a 1-D list of them, got {l1_ratio!r}.") from None
  if arr.ndim != 1 or arr.shape[0] < 1:
    raise ValueError(f"l1_ratio must be a number in [0, 1] or a non-empty 1-D list of them, got shape "
                     f"{np.shape(arr)}.")
  if not _trees.is_traced(arr):
    if arr.dtype == object:
      raise ValueError(f"l1_ratio must be a list of numbers in [0, 1], got {l1_ratio!r}.")
    _trees.check("l1_ratio", arr, high=1.0)
    if integer_alphas and np.any(arr == 0):
      raise ValueError(
          f"alphas as an integer (an automatic grid) needs every l1_ratio > 0, got l1_ratio={l1_ratio!r}: the "
          "grid starts at max|X^T y|/(n*l1_ratio); pass an explicit array of alphas instead.")
  else:
    _trees.check("l1_ratio", arr)  # dtype only
  return arr, True


def enet_cv(X, y, *, l1_ratio=1.0, alphas=100, eps=1e-3, folds=5, tol=1e-4, max_iter=1000,
            fit_intercept=True, sample_weight=None, solver=None):
  r"""K-fold cross-validated elastic net: scikit-learn's ``LassoCV`` / ``ElasticNetCV``, one program.

  For every fold, every alpha (and every ``l1_ratio`` of a list), fits the :func:`enet_path` objective

  .. math:: \min_{w, b} \frac{1}{2\sum_i s_i}\sum_i s_i (y_i - x_i^\top w - b)^2
     + \alpha\rho\|w\|_1 + \frac{\alpha(1-\rho)}{2}\|w\|^2

  on the training rows (``s_i = 1`` without ``sample_weight``: the mean squared error over
  ``n_train``) and records the (``s``-weighted) mean squared error on the test rows; all
  ``l1_ratio`` × folds × alphas run as one batch in one compiled program (the folds' Gram
  matrices are ``XᵀSX − X_testᵀS_testX_test`` when the folds partition the rows, so the
  data are multiplied twice, not once per fold). As in scikit-learn's ``ElasticNetCV``: the
  alpha grid is computed on the full data (centered with the weighted means when
  ``fit_intercept``), one grid per ``l1_ratio``; each fold's training data is centered with
  its own weighted means (the intercept ``b = ȳ_train − x̄_trainᵀw`` is not penalized); the
  selected ``(l1_ratio, alpha)`` minimizes the mean over folds of the test MSE (the first
  such pair, ``l1_ratio`` major); and ``coef`` is the fit on all data at that pair, from
  ``w = 0`` (when all alphas run in parallel and ``n_features ≤ 64``, solved in the same
  batch as the folds, as one more path). Sample weights follow ``ElasticNetCV.fit``: the
  training loss of each fold is the weighted mean (scikit-learn rescales the training
  weights to sum to ``n_train``: the same objective), the held-out error is
  ``np.average(residuals², weights=s_test)``, and the refit uses all weights.

  Where :func:`enet_path` would take its working-set solver for the folds' training size (wide
  data, see Solver in :mod:`jaxreg.paths`), on a scipy.sparse ``X`` and with
  ``solver.method="working_set"``, the folds are not one batch: each fold's path (and each
  ``l1_ratio``'s) is solved in turn by :func:`enet_path`'s working-set solver, with the fold's
  (weighted) column means as the design's offset (a sparse ``X`` is never densified, as
  scikit-learn's implicit centering); the objectives, grids, selection and refit are the same.

  Args:
    X: ``(n_samples, n_features)``: an array, or a scipy.sparse matrix (any format; then
      ``sample_weight`` only with ``fit_intercept=False``).
    y: ``(n_samples,)``.
    l1_ratio: ``ρ`` in ``[0, 1]`` (``1``: ``LassoCV``), or a 1-D list of them (then the result's
      ``alphas`` and ``mse_path`` gain a leading ``n_l1_ratio`` axis, scikit-learn's layout); may be
      traced.
    alphas: an int (grid size, see :func:`enet_path`; with a list of ``l1_ratio`` every one of
      them must be ``> 0``) or a 1-D array of alphas ``> 0`` (then shared by every ``l1_ratio``).
    eps: ``alpha_min / alpha_max`` of the automatic grid.
    folds: an int ``k`` (scikit-learn's unshuffled ``KFold(k)``: contiguous test
      blocks) or a sequence of ``(train_indices, test_indices)`` pairs.
    tol, max_iter, solver: as :func:`enet_path` (``tol``
      is relative to each fold's centered, weighted ``Σs y²/Σs``; the folds' gaps are those of
      the Gram form, the refit's are checked as :func:`enet_path`'s).
    fit_intercept: center per fold (with the weighted means) and fit an intercept.
    sample_weight: ``None``, a positive scalar (the same as ``None``) or ``(n_samples,)`` weights
      ``≥ 0``, not all 0; every fold needs training and test rows of positive total weight.

  Returns:
    :class:`EnetCVResult` ``(alpha, alphas, mse_path, coef, intercept, l1_ratio)`` with
    ``mse_path`` of shape ``(n_alphas, n_folds)`` (a list of ``l1_ratio``:
    ``(n_l1_ratio, n_alphas, n_folds)``). Warnings and errors as
    :func:`enet_path` (for the folds and for the refit); outside of ``jit`` never a
    non-finite result, and never a NaN error selected.

  Raises:
    ValueError: bad arguments (named; an ``l1_ratio`` outside ``[0, 1]``, a negative, NaN or
      all-zero ``sample_weight`` or one of the wrong length), non-finite ``X``/``y``, or a
      non-finite solution.

  Example:
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> res = jaxreg.paths.enet_cv(X, y, folds=5)   # lasso (l1_ratio=1), 100 alphas, 5 folds
    >>> res.mse_path.shape, res.coef.shape
    ((100, 5), (10,))
    >>> res = jaxreg.paths.enet_cv(X, y, l1_ratio=[0.1, 0.5, 1.0], alphas=20, folds=3)
    >>> res.mse_path.shape, res.alphas.shape   # ElasticNetCV(l1_ratio=[...])'s layout
    ((3, 20, 3), (3, 20))

  References:
    ``sklearn.linear_model.ElasticNetCV``, ``LassoCV``; Hastie, Tibshirani & Friedman, *The
    Elements of Statistical Learning*, 2nd ed., §7.10.
  """
  sparse = _is_sparse(X)
  X, y = _check_sparse_xy(X, y) if sparse else _check_xy(X, y)
  n, p = X.shape
  sw = _check_sample_weight(sample_weight, n, y.dtype)
  integer_alphas = np.ndim(alphas) == 0 and not _trees.is_traced(alphas)
  l1_ratio, multi = _check_l1_ratios(l1_ratio, integer_alphas)
  max_iter = _check_common(0.5 if multi else l1_ratio, tol, max_iter)
  n_alphas = _check_alphas(alphas, 1.0 if multi else l1_ratio, eps)
  pairs = _check_folds(folds, n)
  if sw is not None and not _trees.is_traced(sw):
    s = np.asarray(sw)
    for i, (tr, te) in enumerate(pairs):
      if not (s[tr].sum() > 0 and s[te].sum() > 0):
        raise ValueError(f"sample_weight is 0 on every {'training' if not s[tr].sum() > 0 else 'test'} row of "
                         f"fold {i}: every fold needs rows of positive weight on both sides.")
  if sparse and sw is not None and fit_intercept:
    raise ValueError("sample_weight with a sparse X and fit_intercept=True is not supported: the weighted "
                     "centering would make X dense; pass fit_intercept=False, or a dense X.")
  n_grid = n_alphas or np.shape(alphas)[0]
  options = solver
  solver = _schedule(p, n_grid, solver)
  traced = any(_trees.is_traced(a) for a in (X, y, alphas, l1_ratio, tol, sw))
  method = _choose_method(min(len(tr) for tr, _ in pairs), p, sparse, solver.method, traced, n_grid)
  if method == "working_set":
    res, folds_out, refit = _enet_cv_ws(X, y, sw, alphas, l1_ratio, multi, n_alphas, eps, tol, max_iter, pairs,
                                        bool(fit_intercept), options)
  else:
    res, folds_out, refit = _enet_cv_gram(X, y, sw, alphas, l1_ratio, multi, n_alphas, eps, tol, max_iter, pairs,
                                          bool(fit_intercept), solver._replace(method="gram"))
  X = jnp.asarray(X.data) if sparse else X
  _check_finite("enet_cv (folds)", X, y, *folds_out)
  _check_finite("enet_cv (refit)", X, y, *refit)
  if not _trees.is_traced(res.mse_path) and not np.isfinite(np.asarray(res.mse_path)).all():
    raise ValueError("enet_cv: the held-out mean squared errors overflow although every fold's solution is "
                     f"finite (max |X| = {float(jnp.max(jnp.abs(X))):.3g}, max |y| = "
                     f"{float(jnp.max(jnp.abs(y))):.3g}): rescale X and y (e.g. standardize them).")
  _report("enet_cv (folds)", *folds_out[1:], tol, max_iter)
  _report("enet_cv (refit)", *refit[1:], tol, max_iter)
  return res
