"""Linear paths: elastic net, lasso (coordinate descent) and ridge (one SVD)."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import _trees
from jaxreg.paths._cd import _alpha_grid, _data_gaps, _gram_path, _schedule, _sorted_alphas
from jaxreg.paths._checks import PathInfo, _check_alphas, _check_common, _check_finite, _check_xy, _report, _Status


@jax.jit(static_argnames=("n_alphas", "solver"))
def _enet_path_jit(X, y, alphas, l1_ratio, eps, tol, max_iter, *, n_alphas, solver):
  n = X.shape[0]
  dt = X.dtype
  Q, q, ynorm2 = X.T @ X, X.T @ y, y @ y
  l1_ratio = jnp.asarray(l1_ratio, dt)
  alphas = _alpha_grid(q, n, l1_ratio, eps, n_alphas) if n_alphas else _sorted_alphas(alphas, dt)
  W, gap, bound, it, stalled = (x[0] for x in _gram_path(
      Q[None], q[None], ynorm2[None], jnp.full(1, n, dt), alphas, l1_ratio, tol, max_iter, solver))
  stats_finite = jnp.all(jnp.isfinite(Q)) & jnp.all(jnp.isfinite(q)) & jnp.isfinite(ynorm2)
  return alphas, W, gap, _Status(bound, it, stalled, ynorm2 / n, stats_finite)


def enet_path(X, y, *, l1_ratio=0.5, alphas=100, eps=1e-3, tol=1e-4, max_iter=1000,
              solver=None, return_info=False):
  r"""Elastic-net regularization path: scikit-learn's ``enet_path``, all alphas in one program.

  Solves, for every alpha,

  .. math:: \min_w \frac{1}{2n}\|y - Xw\|^2 + \alpha\rho\|w\|_1 + \frac{\alpha(1-\rho)}{2}\|w\|^2

  with ``ρ = l1_ratio``. ``X`` and ``y`` are used as given (no centering, no
  intercept: center them first, as scikit-learn's path functions also expect).

  Args:
    X: ``(n_samples, n_features)``.
    y: ``(n_samples,)``.
    l1_ratio: ``ρ`` in ``[0, 1]``; may be a traced scalar.
    alphas: an int (a geometric grid of that many alphas from
      ``alpha_max = max|Xᵀy|/(n·ρ)`` down to ``eps·alpha_max``, decreasing) or a
      1-D array of alphas ``> 0`` (may be traced), returned sorted decreasing.
    eps: ``alpha_min / alpha_max`` of the automatic grid.
    tol: scikit-learn's tolerance: per alpha, stop when the duality gap is
      ``≤ tol·‖y‖²/n`` after an epoch whose largest coefficient change is ``≤ tol·max|w|``
      (in float32: up to the rounding of the gap; see Precision in :mod:`jaxreg.paths`).
    max_iter: most epochs (passes over all coordinates) per alpha; an integer ``≥ 1``.
    solver: a :class:`SolverOptions` (chunking of the alphas, block size, check interval,
      Anderson window) or ``None`` for the measured defaults.
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

  References:
    Friedman, Hastie & Tibshirani, J. Stat. Softw. 33(1), 2010;
    ``sklearn.linear_model.enet_path``.
  """
  X, y = _check_xy(X, y)
  max_iter = _check_common(l1_ratio, tol, max_iter)
  n_alphas = _check_alphas(alphas, l1_ratio, eps)
  solver = _schedule(X.shape[1], n_alphas or np.shape(alphas)[0], solver)
  alphas, W, gap, status = _enet_path_jit(
      X, y, None if n_alphas else alphas, l1_ratio, eps, tol, max_iter,
      n_alphas=n_alphas, solver=solver)
  gap, bound = _data_gaps(X, y, W, alphas, l1_ratio, gap, status.bounds, tol * status.scale)
  status = status._replace(bounds=bound)
  _check_finite("enet_path", X, y, W, gap, status)
  _report("enet_path", gap, status, tol, max_iter)
  return PathInfo(alphas, W, gap, status.n_iter) if return_info else (alphas, W)


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
  uty = U.T @ y
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
