"""Penalized logistic regression paths: FISTA vmapped over alphas, with an optional unpenalized intercept."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg import _trees
from jaxreg._leaf import enet_shrink
from jaxreg.paths._cd import _alpha_grid, _sorted_alphas
from jaxreg.paths._checks import (
  PathInfo,
  _check_alphas,
  _check_common,
  _check_sample_weight,
  _check_xy,
  _warn_unconverged,
)


@jax.jit(static_argnames=("n_alphas", "fit_intercept"))
def _logistic_path_jit(X, y, sw, alphas, l1_ratio, eps, tol, max_iter, *, n_alphas, fit_intercept):
  p = X.shape[1]
  dt = X.dtype
  v = sw.astype(dt) / jnp.sum(sw)  # the loss is the v-weighted sum: a weighted mean
  l1_ratio = jnp.asarray(l1_ratio, dt)
  if fit_intercept:
    # Solve in the centered X (the intercept's column is then v-orthogonal to the others: a better
    # conditioned problem, same minimizer), b = b_c − x̄ᵀw; start b at the intercept-only optimum.
    x_mean, y_mean = v @ X, v @ y
    X = X - x_mean
    b0 = jnp.log(y_mean) - jnp.log1p(-y_mean)
    resid0 = y - y_mean  # −∇ at (w = 0, b = b0): the grid's alpha_max is computed there
  else:
    x_mean, b0, resid0 = jnp.zeros(p, dt), jnp.zeros((), dt), y - 0.5
  if n_alphas:  # w = 0 is optimal iff max|∇_w f(0, b0)| = max|Xᵀ(v·(y − σ(b0)))| ≤ alpha·l1_ratio
    alphas = _alpha_grid(X.T @ (v * resid0), 1.0, l1_ratio, eps, n_alphas)  # as the gradient (w = 0 at alpha_max)
  else:
    alphas = _sorted_alphas(alphas, dt)
  A = alphas.shape[0]
  # L: the Hessian of the weighted mean log-loss is ≤ [X 1]ᵀdiag(v)[X 1]/4; centered, block diagonal.
  lip = jnp.linalg.norm(X * jnp.sqrt(v)[:, None], 2) ** 2 / 4
  if fit_intercept:
    lip = jnp.maximum(lip, 0.25)
  step = 1 / jnp.where(lip > 0, lip, 1.0)  # X = 0: any step (the loss is flat), never inf

  def grad(W, b):
    g = v[:, None] * (jax.nn.sigmoid(X @ W + b) - y[:, None])  # (n, A)
    return X.T @ g, (jnp.sum(g, 0) if fit_intercept else jnp.zeros_like(b))

  def cond(c):
    return jnp.any(~c[6] & (c[5] < max_iter))

  def body(c):
    Wx, bx, Wy, by, theta, it, done, gmap = c
    gW, gb = grad(Wy, by)
    Wn = enet_shrink(Wy - step * gW, step * alphas, l1_ratio)  # prox of the whole penalty
    bn = by - step * gb  # the intercept is not penalized: a plain gradient step
    gm = jnp.maximum(jnp.max(jnp.abs(Wn - Wy), 0), jnp.abs(bn - by)) / step  # prox-gradient mapping: 0 iff optimal
    # Gradient-based adaptive restart (O'Donoghue & Candès 2015): drop momentum when it points uphill.
    restart = jnp.sum((Wy - Wn) * (Wn - Wx), 0) + (by - bn) * (bn - bx) > 0
    theta_n = (1 + jnp.sqrt(1 + 4 * theta**2)) / 2
    beta = jnp.where(restart, 0, (theta - 1) / theta_n)
    theta_n = jnp.where(restart, 1, theta_n)
    active = ~done & (it < max_iter)
    return (jnp.where(active, Wn, Wx), jnp.where(active, bn, bx),
            jnp.where(active, Wn + beta * (Wn - Wx), Wy), jnp.where(active, bn + beta * (bn - bx), by),
            jnp.where(active, theta_n, theta), it + active, done | (active & (gm <= tol)),
            jnp.where(active, gm, gmap))

  W0 = jnp.zeros((p, A), dt)
  B0 = jnp.full(A, b0, dt)
  init = (W0, B0, W0, B0, jnp.ones(A, dt), jnp.zeros(A, jnp.int32), jnp.zeros(A, bool), jnp.full(A, jnp.inf, dt))
  W, b, _, _, _, it, _, gmap = lax.while_loop(cond, body, init)
  return alphas, W.T, b - x_mean @ W, gmap, it


def logistic_path(X, y, *, l1_ratio=1.0, alphas=100, eps=1e-3, tol=1e-6, max_iter=10_000,
                  fit_intercept=False, sample_weight=None, return_info=False):
  r"""Penalized logistic regression path (binary), all alphas in one program.

  For labels ``y ∈ {0, 1}`` and every alpha, solves

  .. math:: \min_{w, b} \frac{1}{\sum_i s_i}\sum_i s_i\bigl[\log(1 + e^{z_i}) - y_i z_i\bigr]
     + \alpha\rho\|w\|_1 + \frac{\alpha(1-\rho)}{2}\|w\|^2, \qquad z_i = x_i^\top w + b

  (the weighted mean log-loss + the :func:`enet_path` penalty; ``s_i = 1`` without
  ``sample_weight``, ``b = 0`` without ``fit_intercept``; the intercept ``b`` is never
  penalized). This is scikit-learn's
  ``LogisticRegression(l1_ratio=ρ, C=1/(Σs·alpha), fit_intercept=...).fit(X, y, sample_weight=s)``
  (``C = 1/(n·alpha)`` without weights; scikit-learn minimizes ``C·Σ s_i loss_i + penalty``, so
  unlike here, scaling its weights changes its solution; scikit-learn ≥ 1.8 spells the penalty with
  ``l1_ratio``; before, ``penalty="l1"`` or ``"elasticnet"``).

  Solver: FISTA vmapped over alphas, with the safe step ``1/L``, ``L`` the largest eigenvalue of
  ``[X 1]ᵀdiag(s/Σs)[X 1]/4`` (a bound on the log-loss Hessian), the whole penalty in the prox
  (``enet_shrink``, so its ridge part needs no step bound; the intercept takes a plain gradient
  step) and gradient-based adaptive restart, from ``w = 0`` (and, with an intercept, from the
  intercept-only solution ``b = log(ȳ/(1 − ȳ))``, ``ȳ`` the weighted mean label; internally ``X``
  is centered with the weighted means, which leaves the minimizer unchanged and decouples ``b``).
  Stops per alpha when the prox-gradient mapping (zero exactly at the optimum, in units of the
  gradient of the mean loss; its intercept entry is the intercept's gradient) has largest entry
  ``≤ tol``.

  Precision: in float64 (``jax_enable_x64``) coefficients match scikit-learn's
  ``saga`` at ``tol=1e-12`` to ~1e-6 relative with ``tol=1e-9`` here; in float32
  ``tol`` below ~1e-5 is not reachable (the solver stops at ``max_iter``, with a warning).

  Args:
    X: ``(n_samples, n_features)``.
    y: ``(n_samples,)`` of 0/1 labels (both present among the rows of positive weight when
      ``fit_intercept``: else the intercept is infinite).
    l1_ratio: ``ρ`` in ``[0, 1]``; may be traced.
    alphas: an int (a geometric grid from ``alpha_max``, the smallest alpha with solution
      ``w = 0``, down to ``eps·alpha_max``) or a 1-D array of alphas ``> 0`` (may be traced),
      returned sorted decreasing. ``alpha_max = max|Xᵀ(s·(y − σ(b₀)))|/(Σs·ρ)``, the gradient at
      ``w = 0`` and the intercept-only solution: ``σ(b₀) = ½`` without intercept, the weighted mean
      label ``ȳ`` with one.
    eps: ``alpha_min / alpha_max`` of the automatic grid.
    tol: bound on the prox-gradient mapping's largest entry.
    max_iter: most FISTA iterations per alpha.
    fit_intercept: fit an unpenalized intercept ``b`` per alpha.
    sample_weight: ``None``, a positive scalar (the same as ``None``) or ``(n_samples,)``
      weights ``≥ 0``, not all 0.
    return_info: return a :class:`PathInfo` that also holds the final prox-gradient
      mapping norms (``gaps``) and iteration counts.

  Returns:
    ``(alphas, coefs)`` with ``coefs`` of shape ``(n_alphas, n_features)``. With
    ``fit_intercept=True`` (and with ``return_info``) a :class:`PathInfo`, which unpacks the same
    way, ``alphas, coefs = path``, and holds the intercepts, ``path.intercepts``
    (``(n_alphas,)``): an intercept is part of the fit, so it is never dropped.

  Raises:
    ValueError: bad arguments (named), labels other than 0/1, a single class with
      ``fit_intercept``, non-finite ``X``, non-finite coefficients.

  Example:
    >>> from sklearn.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = (X - X.mean(0)) / X.std(0)
    >>> alphas, coefs = jaxreg.paths.logistic_path(X, y, alphas=20)
    >>> coefs.shape
    (20, 30)
    >>> path = jaxreg.paths.logistic_path(X, y, alphas=20, fit_intercept=True)
    >>> path.coefs.shape, path.intercepts.shape
    ((20, 30), (20,))

  References:
    Beck & Teboulle, SIAM J. Imaging Sci. 2(1), 2009; O'Donoghue & Candès,
    Found. Comput. Math. 15, 2015; ``sklearn.linear_model.LogisticRegression``.
  """
  X, y = _check_xy(X, y)
  n = X.shape[0]
  sw = _check_sample_weight(sample_weight, n, X.dtype)
  if not _trees.is_traced(y):
    labels = np.unique(np.asarray(y))
    if not np.isin(labels, (0, 1)).all():
      raise ValueError(f"y must hold binary labels 0 and 1, got values {labels[:10]}.")
    if fit_intercept:
      yy = np.asarray(y)
      if sw is not None and not _trees.is_traced(sw):
        yy = yy[np.asarray(sw) > 0]
      if np.unique(yy).size < 2:
        raise ValueError(
            f"y holds a single class ({yy[0]:g}) among the samples of positive weight: with fit_intercept=True the "
            "intercept would be infinite; pass both classes (or fit_intercept=False).")
  max_iter = _check_common(l1_ratio, tol, max_iter)
  n_alphas = _check_alphas(alphas, l1_ratio, eps)
  alphas, W, b, gmap, it = _logistic_path_jit(
      X, y, jnp.ones(n, X.dtype) if sw is None else sw, None if n_alphas else alphas, l1_ratio, eps, tol,
      max_iter, n_alphas=n_alphas, fit_intercept=bool(fit_intercept))
  if not _trees.is_traced(W) and not (np.isfinite(np.asarray(W)).all() and np.isfinite(np.asarray(b)).all()):
    raise ValueError(
        f"logistic_path: the solver produced non-finite coefficients in {np.asarray(W).dtype} (max |X| = "
        f"{float(jnp.max(jnp.abs(X))):.3g}): rescale X (e.g. standardize it).")
  _warn_unconverged(it, max_iter, "logistic_path")
  if fit_intercept:
    return PathInfo(alphas, W, gmap, it, b)
  return PathInfo(alphas, W, gmap, it) if return_info else (alphas, W)
