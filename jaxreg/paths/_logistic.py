"""Penalized logistic regression paths: FISTA vmapped over alphas."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg import _trees
from jaxreg._leaf import enet_shrink
from jaxreg.paths._cd import _alpha_grid, _sorted_alphas
from jaxreg.paths._checks import PathInfo, _check_alphas, _check_common, _check_xy, _warn_unconverged


@jax.jit(static_argnames=("n_alphas",))
def _logistic_path_jit(X, y, alphas, l1_ratio, eps, tol, max_iter, *, n_alphas):
  n, p = X.shape
  dt = X.dtype
  l1_ratio = jnp.asarray(l1_ratio, dt)
  if n_alphas:  # w = 0 is optimal iff max|∇f(0)| = max|Xᵀ(y − ½)|/n ≤ alpha·l1_ratio
    alphas = _alpha_grid(X.T @ (y - 0.5), n, l1_ratio, eps, n_alphas)
  else:
    alphas = _sorted_alphas(alphas, dt)
  A = alphas.shape[0]
  lip = jnp.linalg.norm(X, 2) ** 2 / (4 * n)  # L: the log-loss Hessian is ≤ XᵀX/(4n)
  step = 1 / jnp.where(lip > 0, lip, 1.0)     # X = 0: any step (the loss is flat), never inf

  def grad(W):
    return X.T @ (jax.nn.sigmoid(X @ W) - y[:, None]) / n

  def cond(c):
    return jnp.any(~c[4] & (c[3] < max_iter))

  def body(c):
    Wx, Wy, theta, it, done, gmap = c
    Wn = enet_shrink(Wy - step * grad(Wy), step * alphas, l1_ratio)  # prox of the whole penalty
    gm = jnp.max(jnp.abs(Wn - Wy), 0) / step  # prox-gradient mapping at Wy: 0 iff optimal
    # Gradient-based adaptive restart (O'Donoghue & Candès 2015): drop momentum when it points uphill.
    restart = jnp.sum((Wy - Wn) * (Wn - Wx), 0) > 0
    theta_n = (1 + jnp.sqrt(1 + 4 * theta**2)) / 2
    beta = jnp.where(restart, 0, (theta - 1) / theta_n)
    theta_n = jnp.where(restart, 1, theta_n)
    active = ~done & (it < max_iter)
    return (jnp.where(active, Wn, Wx), jnp.where(active, Wn + beta * (Wn - Wx), Wy),
            jnp.where(active, theta_n, theta), it + active, done | (active & (gm <= tol)),
            jnp.where(active, gm, gmap))

  W0 = jnp.zeros((p, A), dt)
  init = (W0, W0, jnp.ones(A, dt), jnp.zeros(A, jnp.int32), jnp.zeros(A, bool), jnp.full(A, jnp.inf, dt))
  W, _, _, it, _, gmap = lax.while_loop(cond, body, init)
  return alphas, W.T, gmap, it


def logistic_path(X, y, *, l1_ratio=1.0, alphas=100, eps=1e-3, tol=1e-6, max_iter=10_000,
                  return_info=False):
  r"""Penalized logistic regression path (binary, no intercept), all alphas in one program.

  For labels ``y ∈ {0, 1}`` and every alpha, solves

  .. math:: \min_w \frac{1}{n}\sum_i \bigl[\log(1 + e^{x_i^\top w}) - y_i x_i^\top w\bigr]
     + \alpha\rho\|w\|_1 + \frac{\alpha(1-\rho)}{2}\|w\|^2

  (mean log-loss + the :func:`enet_path` penalty). This is scikit-learn's
  ``LogisticRegression(l1_ratio=ρ, C=1/(n·alpha), fit_intercept=False)``
  (scikit-learn ≥ 1.8 spells the penalty with ``l1_ratio``; before, ``penalty="l1"``
  or ``"elasticnet"``). Add a column of ones to ``X`` for a (penalized) intercept.

  Solver: FISTA vmapped over alphas, from ``w = 0``, with the safe step
  ``1/L``, ``L = ‖X‖₂²/(4n)`` (the log-loss Hessian is ``≤ XᵀX/(4n)``), the whole
  penalty in the prox (``enet_shrink``, so its ridge part needs no
  step bound) and gradient-based adaptive restart. Stops per alpha when the
  prox-gradient mapping ``‖(y_k − prox(y_k − ∇f(y_k)/L))·L‖_∞`` (zero exactly at the
  optimum, in units of the gradient of the mean loss) is ``≤ tol``.

  Precision: in float64 (``jax_enable_x64``) coefficients match scikit-learn's
  ``saga`` at ``tol=1e-12`` to ~1e-6 relative with ``tol=1e-9`` here; in float32
  ``tol`` below ~1e-5 is not reachable (the solver stops at ``max_iter``, with a warning).

  Args:
    X: ``(n_samples, n_features)``.
    y: ``(n_samples,)`` of 0/1 labels.
    l1_ratio: ``ρ`` in ``[0, 1]``; may be traced.
    alphas: an int (a geometric grid from ``alpha_max = max|Xᵀ(y − ½)|/(n·ρ)``, the
      smallest alpha with solution ``w = 0``, down to ``eps·alpha_max``) or a 1-D
      array of alphas ``> 0`` (may be traced), returned sorted decreasing.
    eps: ``alpha_min / alpha_max`` of the automatic grid.
    tol: bound on the prox-gradient mapping's largest entry.
    max_iter: most FISTA iterations per alpha.
    return_info: return a :class:`PathInfo` that also holds the final prox-gradient
      mapping norms (``gaps``) and iteration counts.

  Returns:
    ``(alphas, coefs)`` with ``coefs`` of shape ``(n_alphas, n_features)``
    (with ``return_info``: a :class:`PathInfo`, which unpacks the same way).

  Example:
    >>> from sklearn.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = (X - X.mean(0)) / X.std(0)
    >>> alphas, coefs = jaxreg.paths.logistic_path(X, y, alphas=20)
    >>> coefs.shape
    (20, 30)

  References:
    Beck & Teboulle, SIAM J. Imaging Sci. 2(1), 2009; O'Donoghue & Candès,
    Found. Comput. Math. 15, 2015; ``sklearn.linear_model.LogisticRegression``.
  """
  X, y = _check_xy(X, y)
  if not _trees.is_traced(y):
    labels = np.unique(np.asarray(y))
    if not np.isin(labels, (0, 1)).all():
      raise ValueError(f"y must hold binary labels 0 and 1, got values {labels[:10]}.")
  max_iter = _check_common(l1_ratio, tol, max_iter)
  n_alphas = _check_alphas(alphas, l1_ratio, eps)
  alphas, W, gmap, it = _logistic_path_jit(
      X, y, None if n_alphas else alphas, l1_ratio, eps, tol, max_iter, n_alphas=n_alphas)
  if not _trees.is_traced(W) and not np.isfinite(np.asarray(W)).all():
    raise ValueError(
        f"logistic_path: the solver produced non-finite coefficients in {np.asarray(W).dtype} (max |X| = "
        f"{float(jnp.max(jnp.abs(X))):.3g}): rescale X (e.g. standardize it).")
  _warn_unconverged(it, max_iter, "logistic_path")
  return PathInfo(alphas, W, gmap, it) if return_info else (alphas, W)
