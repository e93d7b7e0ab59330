"""Linear paths: elastic net, lasso (coordinate descent) and ridge (one SVD)."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import _trees
from jaxreg.paths._cd import SolverOptions, _alpha_grid, _data_gaps, _gram_path, _schedule, _sorted_alphas
from jaxreg.paths._checks import (
  PathInfo,
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
from jaxreg.paths._residual import _dense_design, _rmatvec, _sparse_design, _ws_path


def _gram_matrix(X):
  """``XᵀX``: by the host's BLAS for a concrete ``X`` held on the CPU (numpy's ``X.T @ X`` is a symmetric
  rank-k update, half the flops: 0.12 s against 0.43 s for XLA's product at 10 000 × 1 000 in float64 on 2
  cores), else by XLA (under a trace, or on an accelerator)."""
  if _trees.is_traced(X) or (isinstance(X, jax.Array) and any(d.platform != "cpu" for d in X.devices())):
    return X.T @ X
  A = np.asarray(X)
  with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported with its cause by _check_finite
    return jnp.asarray(A.T @ A)


@jax.jit(static_argnames=("n_alphas", "solver", "positive"))
def _enet_path_jit(X, Q, y, alphas, l1_ratio, eps, tol, max_iter, *, n_alphas, solver, positive=False):
  n = X.shape[0]
  dt = X.dtype
  q, ynorm2 = y @ X, y @ y  # y @ X, not Xᵀy: XLA's CPU matvec with Xᵀ is 20x slower
  l1_ratio = jnp.asarray(l1_ratio, dt)
  alphas = _alpha_grid(q, n, l1_ratio, eps, n_alphas, positive) if n_alphas else _sorted_alphas(alphas, dt)
  W, gap, bound, it, stalled = (x[0] for x in _gram_path(
      Q[None], q[None], ynorm2[None], jnp.full(1, n, dt), alphas, l1_ratio, tol, max_iter, solver, positive))
  stats_finite = jnp.all(jnp.isfinite(Q)) & jnp.all(jnp.isfinite(q)) & jnp.isfinite(ynorm2)
  return alphas, W, gap, _Status(bound, it, stalled, ynorm2 / n, stats_finite)


@jax.jit(static_argnames=("n_alphas", "positive"))
def _ws_grid(D, y, alphas, l1_ratio, eps, *, n_alphas, positive):
  """The alphas (a grid from ``Xᵀy``, or the given ones sorted), ``‖y‖²`` and whether ``Xᵀy, ‖y‖²`` are finite."""
  n = y.shape[0]
  q, ynorm2 = _rmatvec(D, y), y @ y
  l1_ratio = jnp.asarray(l1_ratio, y.dtype)
  alphas = _alpha_grid(q, n, l1_ratio, eps, n_alphas, positive) if n_alphas else _sorted_alphas(alphas, y.dtype)
  return alphas, ynorm2, jnp.all(jnp.isfinite(q)) & jnp.isfinite(ynorm2)


# The automatic choice (measured, see Solver in jaxreg.paths): the batched Gram solver while n_features ≤
# max(n_samples, _GRAM_MAX_P); the working-set solver beyond, for at most _FEW_ALPHAS alphas once n_features >
# _GRAM_MAX_P, for n_features ≥ _VERY_WIDE·n_samples once n_features ≥ _VERY_WIDE_MIN_P, and always for sparse X.
# Measured: a 40 × 800 lasso path (tol 1e-6), working set 0.3 s, Gram 9.2 s; 100-alpha paths to α_max/100 on
# Toeplitz(0.5) designs (tol 1e-4 / 1e-8), working set against Gram: 10 × 400: 0.06 / 0.24 s against 0.58 / 1.0 s; 24 × 300: 0.07 / 0.09 s against 0.18 / 0.68 s; 30 × 300:
# 0.40 / 0.60 against 0.48 / 4.7 s; but 20 × 250: 0.65 / 4.7 s against 0.20 / 2.8 s, and at p ≤ 4n (100 × 300,
# 50 × 200) Gram was faster; 10 000 × 1 000, one alpha: 0.27 s against 0.64 s (forming XᵀX dominates), a
# 100-alpha path: 2.6 s against 1.0 s.
_GRAM_MAX_P = 500
_FEW_ALPHAS = 5
_VERY_WIDE, _VERY_WIDE_MIN_P = 10, 300


def _choose_method(n, p, sparse, method, traced=False, n_alphas=100):
  """``"gram"`` or ``"working_set"`` for ``SolverOptions.method`` (validated) on an ``n × p`` design and
  ``n_alphas`` alphas (``traced``: some input is a tracer; the working-set solver's host loop needs concrete
  values)."""
  if method == "auto":
    wide = (p > max(n, _GRAM_MAX_P) or (p > _GRAM_MAX_P and n_alphas <= _FEW_ALPHAS)
            or (p >= _VERY_WIDE_MIN_P and p >= _VERY_WIDE * n))
    method = "working_set" if sparse or (wide and not traced) else "gram"
  if method == "gram" and sparse:
    raise ValueError("solver.method='gram' needs a dense X (it forms the p x p matrix X^T X); X is a "
                     "scipy.sparse matrix: use method='working_set' or 'auto', or pass X.toarray() yourself.")
  if method == "working_set" and traced:
    raise ValueError("the working-set solver (solver.method='working_set', or 'auto' for a sparse X) needs concrete "
                     "inputs: it grows its working sets on the host, between compiled programs. Call enet_path "
                     "outside of jit, or use method='gram' with a dense X.")
  return method


def _check_positive(positive, l1_ratio):
  if not isinstance(positive, (bool, np.bool_)):
    raise ValueError(f"positive must be True or False, got {positive!r}.")
  if positive and not _trees.is_traced(l1_ratio) and np.all(np.asarray(l1_ratio) == 0):
    raise ValueError(
        "positive=True needs l1_ratio > 0, got l1_ratio=0: the duality gap that certifies tol (scikit-learn's "
        "formulation B for ridge) does not hold under the constraint w >= 0 (scikit-learn runs it and warns "
        "that it did not converge); use a small l1_ratio > 0 instead.")
  return bool(positive)


def _check_offset(X_offset, p, dtype, sparse, sw):
  if X_offset is None:
    return None
  if _trees.is_traced(X_offset) or np.shape(X_offset) != (p,):
    raise ValueError(f"X_offset must be a concrete 1-D array of length n_features={p}, got shape "
                     f"{np.shape(X_offset)}.")
  off = np.asarray(X_offset)
  if off.dtype.kind not in "biuf" or not np.isfinite(off).all():
    raise ValueError("X_offset must hold finite real numbers (the column means to subtract from X).")
  if sparse and sw is not None:
    raise ValueError("X_offset with sample_weight and a sparse X is not supported: the row weights would make "
                     "the offset a dense matrix; center a dense X yourself, or fit without sample_weight.")
  return jnp.asarray(off, dtype)


def enet_path(X, y, *, l1_ratio=0.5, alphas=100, eps=1e-3, tol=1e-4, max_iter=1000,
              sample_weight=None, positive=False, X_offset=None, solver=None, return_info=False):
  r"""Elastic-net regularization path: scikit-learn's ``enet_path``, all alphas in one program.

  Solves, for every alpha,

  .. math:: \min_w \frac{1}{2n}\|y - Xw\|^2 + \alpha\rho\|w\|_1 + \frac{\alpha(1-\rho)}{2}\|w\|^2

  with ``ρ = l1_ratio``. ``X`` and ``y`` are used as given (no centering, no
  intercept: center them first, as scikit-learn's path functions also expect).

  With ``sample_weight`` ``s``, the loss is the weighted mean
  ``1/(2Σs)·Σ_i s_i(y_i − x_iᵀw)²``: scikit-learn's
  ``ElasticNet(fit_intercept=False).fit(X, y, sample_weight=s)`` at every alpha
  (its weights are rescaled to sum to ``n``, so scaling ``s`` changes nothing). It is
  applied as a preprocessing: the rows of ``X`` and ``y`` are multiplied by
  ``√(s_i·n/Σs)`` and the unweighted path is solved (the grid's ``alpha_max`` is then
  ``max|Σ_i s_i x_i y_i|/(Σs·ρ)`` and ``tol`` is relative to the weighted ``Σs_i y_i²/Σs``).
  For an intercept, center ``X`` and ``y`` with the *weighted* means first.

  Args:
    X: ``(n_samples, n_features)``: an array, or a scipy.sparse matrix (any format; never
      densified: the working-set solver takes its products, see Sparse in :mod:`jaxreg.paths`).
    y: ``(n_samples,)``.
    l1_ratio: ``ρ`` in ``[0, 1]``; may be a traced scalar.
    alphas: an int (a geometric grid of that many alphas from
      ``alpha_max = max|Xᵀy|/(n·ρ)`` (``max(0, max Xᵀy)/(n·ρ)`` with ``positive``) down to
      ``eps·alpha_max``, decreasing) or a 1-D array of alphas ``> 0`` (may be traced),
      returned sorted decreasing.
    eps: ``alpha_min / alpha_max`` of the automatic grid.
    tol: scikit-learn's tolerance: per alpha, stop when the duality gap is
      ``≤ tol·‖y‖²/n`` after an epoch whose largest coefficient change is ``≤ tol·max|w|``
      (in float32: up to the rounding of the gap; see Precision in :mod:`jaxreg.paths`).
    max_iter: most epochs (passes over all coordinates) per alpha; an integer ``≥ 1``.
    sample_weight: ``None``, a positive scalar (the same as ``None``) or ``(n_samples,)``
      weights ``≥ 0``, not all 0 (may be traced; then only its shape is checked).
    positive: constrain the coefficients to be ``≥ 0`` (scikit-learn's ``positive=True``);
      needs ``l1_ratio > 0``.
    X_offset: ``None`` or ``(n_features,)`` column offsets (e.g. the means) to subtract from
      ``X``: the path of ``X − 1·X_offsetᵀ``, for a sparse ``X`` without forming it (scikit-learn's
      implicit centering; center ``y`` yourself). Not with ``sample_weight`` and a sparse ``X``.
    solver: a :class:`SolverOptions` (the solver, ``method``: ``"auto"``, ``"gram"`` or
      ``"working_set"``; chunking of the alphas, block size, check interval, Anderson
      window) or ``None`` for the measured defaults.
    return_info: return a :class:`PathInfo` that also holds the duality gaps of the
      returned coefficients (``/n``, as scikit-learn) and the epoch counts.

  Returns:
    ``(alphas, coefs)`` with ``coefs`` of shape ``(n_alphas, n_features)``; with
    ``return_info``, a :class:`PathInfo` ``(alphas, coefs, gaps, n_iter)``. Outside of
    ``jit``: a :class:`ConvergenceWarning` if some alpha's gap is not certified
    ``≤ tol·‖y‖²/n`` (saying whether ``max_iter`` ran out or the dtype's rounding is the
    limit), and a ``ValueError`` instead of a non-finite solution.

  Raises:
    ValueError: bad arguments (named), non-finite or complex ``X``/``y``, values too large
      for the dtype, or a non-finite solution (with its cause).

  Example:
    >>> from sklearn.datasets import load_diabetes
    >>> jax.config.update("jax_enable_x64", True)
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X, y = X - X.mean(0), y - y.mean()
    >>> alphas, coefs = jaxreg.paths.enet_path(X, y, l1_ratio=1.0, alphas=100, tol=1e-10)
    >>> coefs.shape
    (100, 10)
    >>> import scipy.sparse
    >>> Xs = scipy.sparse.random(200, 3000, density=0.01, format="csr", random_state=0)
    >>> ys = Xs[:, :5] @ np.ones(5) + 0.01 * np.random.default_rng(0).normal(size=200)
    >>> alphas, coefs = jaxreg.paths.lasso_path(Xs, ys, alphas=10, eps=1e-2, positive=True)  # working-set solver
    >>> coefs.shape, bool((coefs >= 0).all())
    ((10, 3000), True)

  References:
    Friedman, Hastie & Tibshirani, J. Stat. Softw. 33(1), 2010;
    ``sklearn.linear_model.enet_path``.
  """
  sparse = _is_sparse(X)
  X, y = _check_sparse_xy(X, y) if sparse else _check_xy(X, y)
  n, p = X.shape
  sw = _check_sample_weight(sample_weight, n, y.dtype)
  offset = _check_offset(X_offset, p, y.dtype, sparse, sw)
  if offset is not None and not sparse:
    X = X - offset
  if sw is not None:  # the weighted mean of squares as a plain one: rows scaled by √(s·n/Σs)
    root = _normalized_sqrt_weights(sw, n)
    X, y = (X.multiply(np.asarray(root)[:, None]).tocsc() if sparse else X * root[:, None]), y * root
  max_iter = _check_common(l1_ratio, tol, max_iter)
  n_alphas = _check_alphas(alphas, l1_ratio, eps)
  positive = _check_positive(positive, l1_ratio)
  traced = any(_trees.is_traced(a) for a in (X, y, alphas, l1_ratio, tol, sw))
  alphas, W, gap, status = _solve(X, y, l1_ratio, alphas, n_alphas, eps, tol, max_iter, positive, offset, solver,
                                  traced)
  _check_finite("enet_path", jnp.asarray(X.data) if sparse else X, y, W, gap, status)
  _report("enet_path", gap, status, tol, max_iter)
  return PathInfo(alphas, W, gap, status.n_iter) if return_info else (alphas, W)


def _solve(X, y, l1_ratio, alphas, n_alphas, eps, tol, max_iter, positive, offset, options, traced):
  """The path of checked inputs (``X`` dense with its offset applied, or CSC with ``offset`` implicit; rows
  already weighted) by the solver :func:`_choose_method` picks. Returns ``(alphas, W, gaps, status)``."""
  sparse = _is_sparse(X)
  n, p = X.shape
  solver = _schedule(p, n_alphas or np.shape(alphas)[0], options)
  method = _choose_method(n, p, sparse, solver.method, traced, n_alphas or np.shape(alphas)[0])
  given = None if n_alphas else alphas
  if method == "gram":
    alphas, W, gap, status = _enet_path_jit(
        X, _gram_matrix(X), y, given, l1_ratio, eps, tol, max_iter, n_alphas=n_alphas,
        solver=solver._replace(method="gram"), positive=positive)
    gap, bound = _data_gaps(X, y, W, alphas, l1_ratio, gap, status.bounds, tol * status.scale, positive=positive)
    return alphas, W, gap, status._replace(bounds=bound)
  D = _sparse_design(X, y.dtype, offset) if sparse else _dense_design(X)
  alphas, ynorm2, stats_finite = _ws_grid(D, y, given, l1_ratio, eps, n_alphas=n_alphas, positive=positive)
  W, gap, bound, it, stalled = _ws_path(D, y, alphas, l1_ratio, tol, max_iter, options or SolverOptions(), positive)
  return alphas, W, gap, _Status(bound, it, stalled, ynorm2 / n, stats_finite)


def lasso_path(X, y, *, alphas=100, eps=1e-3, tol=1e-4, max_iter=1000, **kwargs):
  r"""Lasso path: :func:`enet_path` with ``l1_ratio = 1``.

  .. math:: \min_w \frac{1}{2n}\|y - Xw\|^2 + \alpha\|w\|_1

  Args and returns as :func:`enet_path`.

  Example:
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> alphas, coefs = jaxreg.paths.lasso_path(X - X.mean(0), y - y.mean())
    >>> alphas.shape, coefs.shape   # 100 alphas from alpha_max down to alpha_max/1000
    ((100,), (100, 10))

  References:
    Tibshirani, *Regression shrinkage and selection via the lasso*, JRSS-B 1996;
    ``sklearn.linear_model.lasso_path``.
  """
  return enet_path(X, y, l1_ratio=1.0, alphas=alphas, eps=eps, tol=tol, max_iter=max_iter, **kwargs)


@jax.jit
def _ridge_path_jit(X, y, alphas):
  n = X.shape[0]
  U, s, Vt = jnp.linalg.svd(X, full_matrices=False)
  uty = y @ U
  def one(alpha):
    return (s / (s * s + n * alpha) * uty) @ Vt
  return jax.vmap(one)(alphas)


def ridge_path(X, y, *, alphas):
  r"""Ridge path from one SVD: the ``l1_ratio = 0`` objective for every alpha, in closed form.

  .. math:: \min_w \frac{1}{2n}\|y - Xw\|^2 + \frac{\alpha}{2}\|w\|^2
     \quad\Rightarrow\quad w = V\,\mathrm{diag}\Bigl(\frac{s_i}{s_i^2 + n\alpha}\Bigr)U^\top y

  with ``X = U diag(s) Vᵀ`` computed once and the formula vmapped over alphas.
  scikit-learn's ``Ridge(alpha=a)`` has no ``1/n`` on the loss: it equals this
  with ``alpha = a / n``. No centering (center ``X`` and ``y`` first for an intercept).

  Args:
    X: ``(n_samples, n_features)``.
    y: ``(n_samples,)``.
    alphas: 1-D array of alphas ``> 0`` (may be traced); kept in the given order.

  Returns:
    ``(alphas, coefs)`` like the other paths: ``alphas`` as given (not sorted: each
    alpha is solved independently) in ``X``'s float dtype, ``coefs`` of shape
    ``(n_alphas, n_features)``.

  Example:
    >>> X = jax.random.normal(jax.random.key(0), (50, 5))
    >>> y = X @ jnp.arange(5.0)
    >>> alphas, coefs = jaxreg.paths.ridge_path(X, y, alphas=jnp.logspace(-4, 1, 20))
    >>> coefs.shape
    (20, 5)

  References:
    Hoerl & Kennard, *Ridge Regression*, Technometrics 12(1), 1970; Hastie,
    Tibshirani & Friedman, *The Elements of Statistical Learning*, 2nd ed., §3.4.1.
  """
  X, y = _check_xy(X, y)
  if isinstance(alphas, numbers.Number) or np.ndim(alphas) != 1 or np.shape(alphas)[0] < 1:
    raise ValueError(f"alphas must be a non-empty 1-D array of alphas > 0, got {alphas!r}.")
  _trees.check("alphas", alphas, low=0.0, low_open=True)
  alphas = jnp.asarray(alphas, X.dtype)
  return alphas, _ridge_path_jit(X, y, alphas)
