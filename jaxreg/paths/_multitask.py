"""Multi-task elastic-net paths (the ℓ2,1 penalty of ``MultiTaskElasticNet``): batched block coordinate
descent on the Gram matrix, all alphas in one program, scikit-learn's multi-task duality gap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg import _trees
from jaxreg._leaf import group_shrink
from jaxreg.paths._cd import (
  _ROUNDING_SAFETY,
  _STALL_ULPS,
  _alpha_grid,
  _checked_options,
  _sorted_alphas,
  _unit_roundoff,
)
from jaxreg.paths._checks import (
  PathInfo,
  _check_alphas,
  _check_common,
  _check_finite,
  _check_sample_weight,
  _check_xy,
  _normalized_sqrt_weights,
  _report,
  _Status,
)


def _check_xY(X, Y):
  """``X`` as :func:`_check_xy` does; ``Y`` must be ``(n_samples, n_tasks)`` and finite (a NaN column is named)."""
  Y_shape = np.shape(Y)
  if len(Y_shape) != 2 or Y_shape[1] < 1:
    raise ValueError(f"y (Y) must be a 2-D array (n_samples, n_tasks) with n_tasks >= 1, got shape {Y_shape}; "
                     "for one target use enet_path.")
  if not _trees.is_traced(Y):
    Ya = np.asarray(Y)
    if Ya.dtype.kind in "biuf":
      bad = np.flatnonzero(~np.isfinite(Ya).all(0))
      if bad.size:
        raise ValueError(f"y (Y) contains NaN or inf in column(s) {bad[:10].tolist()} (task(s)); remove or impute "
                         "those entries first.")
  X, _ = _check_xy(X, Y[:, 0])  # X's checks, the number of rows, Y's dtype kind
  dtype = jnp.result_type(float, X, Y)
  if not _trees.is_traced(Y):
    with np.errstate(over="ignore"):
      if not np.isfinite(np.asarray(Y).astype(np.dtype(dtype))).all():
        raise ValueError(f"y (Y) has values too large for {dtype}: rescale it, or use float64 "
                         "(jax.config.update('jax_enable_x64', True)).")
  return jnp.asarray(X, dtype), jnp.asarray(Y, dtype)


def _mt_gaps(W, QW, q, ynorm2, l1, l2, d=None):
  """scikit-learn's multi-task duality gap (``gap_enet_multi_task``, formulation A), from the Gram
  quantities, as a sum of terms that are each ``≥ 0``.

  ``W, QW, q``: ``(p, k, B)`` / ``(p, k)``; ``ynorm2 = ‖Y‖_F²``; ``l1, l2``: ``(B,)``, ``n``-scaled.
  With ``xta = q − QW − l2·W`` (``XᵀR − l2·W``, ``R = Y − XW``), ``s = min(1, l1 / max_j‖xta_j‖)``
  and ``Σ R∘Y = ‖R‖² + l2‖W‖² + Σ_j xta_jᵀW_j``, scikit-learn's ``primal − dual`` is exactly

    ``½(1 − s)²(‖R‖² + l2‖W‖²) + Σ_j (l1‖W_j‖ − s·xta_jᵀW_j)``,

  every term ``≥ 0`` (Cauchy–Schwarz and ``s‖xta_j‖ ≤ l1``); ``l1 = 0``: ``‖xta‖²/(2·l2)``. With the
  column norms ``d``, also returns a bound on the rounding error (as the single-task Gram form's).
  """
  xta = q[:, :, None] - QW - l2 * W
  r_norm2 = jnp.maximum(ynorm2 + jnp.sum(W * QW, (0, 1)) - 2 * jnp.einsum("pk,pkb->b", q, W), 0)
  wl2 = jnp.sum(W * W, (0, 1))
  row = jnp.sqrt(jnp.sum(xta * xta, 1))  # (p, B)
  wrow = jnp.sqrt(jnp.sum(W * W, 1))
  dual_norm = jnp.max(row, 0)
  s = jnp.where(dual_norm > l1, l1 / jnp.where(dual_norm > 0, dual_norm, 1), 1)
  gap_a = 0.5 * (1 - s) ** 2 * (r_norm2 + l2 * wl2) + jnp.sum(l1 * wrow - s * jnp.sum(xta * W, 1), 0)
  gap_b = jnp.sum(xta * xta, (0, 1)) / (2 * jnp.where(l2 > 0, l2, 1))
  gap = jnp.where(l1 > 0, gap_a, gap_b)
  if d is None:
    return gap
  ue = _ROUNDING_SAFETY * _unit_roundoff(W.dtype)
  s_w = jnp.einsum("p,pb->b", d, wrow)
  t = jnp.sqrt(ynorm2) + s_w
  bound_a = ue * (2 * s_w * t + (1 - s) * t * t + l1 * jnp.sum(wrow, 0) + l2 * wl2)
  bound_b = ue * 2 * t * jnp.einsum("p,pb->b", d, row) / jnp.where(l2 > 0, l2, 1)
  return gap, jnp.where(l1 > 0, bound_a, bound_b)


def _mt_solve(Q, q, ynorm2, l1, l2, W0, tol, max_iter, check_every):
  """Minimizes ``½tr(WᵀQW) − tr(qᵀW) + l1·Σ_j‖W_j‖ + l2/2‖W‖²`` for every alpha ``b`` (``W0``: ``(p, k, B)``).

  Cyclic block CD, scikit-learn's ``enet_coordinate_descent_multi_task`` step on the Gram matrix:
  ``W_j ← group_shrink(t_j, l1) / (Q_jj + l2)`` with ``t_j = q_j − (QW)_j + Q_jj W_j``. Every
  ``check_every`` epochs, scikit-learn's stopping rule per alpha (last epoch's ``max|ΔW| ≤ tol·max|W|``
  and the gap of :func:`_mt_gaps` ``≤ tol·‖Y‖²``), or *stalled* (an epoch that changed nothing by more
  than ``_STALL_ULPS`` units of roundoff). Returns ``(W, gaps, bounds, n_iter, stalled)``.
  """
  p, k, B = W0.shape
  u = _unit_roundoff(W0.dtype)
  diag = jnp.diagonal(Q)
  d = jnp.sqrt(jnp.maximum(diag, 0))
  t_scale = l1 / np.sqrt(k)  # group_shrink thresholds at t·√(group size)

  def coord(j, c):
    W, QW = c
    dj, wj = diag[j], W[j]
    tmp = q[j][:, None] - QW[j] + dj * wj  # (k, B)
    new = jnp.where(dj > 0, group_shrink(tmp, t_scale, group_axis=1) / jnp.where(dj > 0, dj + l2, 1), 0)
    return W.at[j].set(new), QW + Q[:, j][:, None, None] * (new - wj)[None]

  def epoch(W, QW):
    return lax.fori_loop(0, p, coord, (W, QW))

  tol_gap = tol * ynorm2
  QW0 = jnp.einsum("pq,qkb->pkb", Q, W0)
  done0 = _mt_gaps(W0, QW0, q, ynorm2, l1, l2) <= tol_gap

  def cond(c):
    return jnp.any(~c[3] & (c[2] < max_iter))

  def body(c):
    W, QW, it, done, gap, stalled = c
    def step(i, c):
      W1, W2, QW2 = c
      W3, QW3 = epoch(W2, QW2)
      return W2, W3, QW3
    W1, W2, QW2 = lax.fori_loop(0, check_every, step, (W, W, QW))
    QW2 = jnp.einsum("pq,qkb->pkb", Q, W2)  # no drift of the rank-1 updates
    dw = jnp.max(jnp.abs(W2 - W1), (0, 1))
    wmax = jnp.max(jnp.abs(W2), (0, 1))
    gap2 = _mt_gaps(W2, QW2, q, ynorm2, l1, l2)
    active = ~done & (it < max_iter)
    reached = ((wmax == 0) | (dw <= jnp.maximum(tol, 4 * _STALL_ULPS * u) * wmax)) & (gap2 <= tol_gap)
    stuck = ~reached & (dw <= _STALL_ULPS * u * wmax)
    keep = active[None, None]
    return (jnp.where(keep, W2, W), jnp.where(keep, QW2, QW), it + check_every * active,
            done | (active & (reached | stuck)), jnp.where(active, gap2, gap), stalled | (active & stuck))

  init = (W0, QW0, jnp.zeros(B, jnp.int32), done0, jnp.zeros(B, W0.dtype), jnp.zeros(B, bool))
  W, QW, n_iter, _, _, stalled = lax.while_loop(cond, body, init)
  gap, bound = _mt_gaps(W, QW, q, ynorm2, l1, l2, d)
  return W, gap, bound, n_iter, stalled


@jax.jit(static_argnames=("n_alphas", "chunk", "check_every"))
def _mt_path_jit(X, Y, alphas, l1_ratio, eps, tol, max_iter, *, n_alphas, chunk, check_every):
  n, p = X.shape
  k = Y.shape[1]
  dt = X.dtype
  Q, q, ynorm2 = X.T @ X, X.T @ Y, jnp.sum(Y * Y)
  l1_ratio = jnp.asarray(l1_ratio, dt)
  if n_alphas:  # scikit-learn: alpha_max = max_j ‖(XᵀY)_j‖ / (n·l1_ratio)
    alphas = _alpha_grid(jnp.sqrt(jnp.sum(q * q, 1)), n, l1_ratio, eps, n_alphas)
  else:
    alphas = _sorted_alphas(alphas, dt)
  A = alphas.shape[0]
  n_chunks = -(-A // chunk)
  a = jnp.concatenate([alphas, jnp.broadcast_to(alphas[-1:], (n_chunks * chunk - A,))]).reshape(n_chunks, chunk)

  def solve(w0, a_chunk):
    W0 = jnp.broadcast_to(w0[:, :, None], (p, k, chunk))
    out = _mt_solve(Q, q, ynorm2, a_chunk * l1_ratio * n, a_chunk * (1 - l1_ratio) * n, W0, tol, max_iter,
                    check_every)
    return out[0][:, :, -1], out

  _, (W, gap, bound, it, stalled) = lax.scan(solve, jnp.zeros((p, k), dt), a)  # W: (n_chunks, p, k, chunk)
  W = jnp.moveaxis(W, 3, 1).reshape(n_chunks * chunk, p, k)[:A]
  gap, bound, it, stalled = (x.reshape(-1)[:A] for x in (gap, bound, it, stalled))
  stats_finite = jnp.all(jnp.isfinite(Q)) & jnp.all(jnp.isfinite(q)) & jnp.isfinite(ynorm2)
  return alphas, W, gap / n, _Status(bound / n, it, stalled, ynorm2 / n, stats_finite)


def multitask_enet_path(X, Y, *, l1_ratio=0.5, alphas=100, eps=1e-3, tol=1e-4, max_iter=1000,
                        sample_weight=None, solver=None, return_info=False):
  r"""Multi-task elastic-net path: scikit-learn's ``enet_path`` with a 2-D ``Y`` (``MultiTaskElasticNet``).

  For targets ``Y`` of shape ``(n, k)`` and every alpha, solves

  .. math:: \min_W \frac{1}{2n}\|Y - XW\|_F^2 + \alpha\rho\sum_j \|W_{j\cdot}\|_2
     + \frac{\alpha(1-\rho)}{2}\|W\|_F^2

  with ``ρ = l1_ratio`` and ``W`` of shape ``(n_features, n_tasks)``: the ℓ2,1 penalty selects
  features jointly for all tasks (a row ``W_j`` is zero or not as a whole). ``X`` and ``Y`` are used
  as given (no centering: center them first for an intercept). With ``sample_weight`` ``s``, the
  loss is the weighted mean ``1/(2Σs)·Σ_i s_i‖y_i − Wᵀx_i‖²`` (scikit-learn's
  ``MultiTaskElasticNet(fit_intercept=False).fit(X, Y, sample_weight=s)``), applied as
  :func:`enet_path` does, by scaling the rows by ``√(s_i·n/Σs)``.

  Solver: scikit-learn's cyclic block coordinate descent
  (``enet_coordinate_descent_multi_task``), on the Gram matrix ``Q = XᵀX`` with all alphas (of a
  chunk) as one batch: ``W_j ← group_shrink(q_j − (QW)_j + Q_jj W_j, n·α·ρ) / (Q_jj + n·α(1 − ρ))``
  (``group_shrink`` = block soft-thresholding, from jaxreg's leaf layer). Every
  ``check_every`` epochs, scikit-learn's stopping rule per alpha: the last epoch's largest
  coefficient change ``≤ tol·max|W|`` and the multi-task duality gap (``gap_enet_multi_task``,
  formulation A with the dual norm ``max_j ‖(XᵀR − n·α(1 − ρ)W)_j‖₂``, computed as a sum of
  non-negative terms, divided by ``n``) ``≤ tol·‖Y‖_F²/n``. Memory ``O(p² + p·k·n_alphas)``: meant
  for ``n_features`` up to a few hundred.

  Args:
    X: ``(n_samples, n_features)``.
    Y: ``(n_samples, n_tasks)``; every column finite (a NaN column is named).
    l1_ratio: ``ρ`` in ``[0, 1]``; may be a traced scalar.
    alphas: an int (a geometric grid of that many alphas from
      ``alpha_max = max_j ‖(XᵀY)_j‖₂/(n·ρ)`` down to ``eps·alpha_max``, decreasing) or a 1-D array
      of alphas ``> 0`` (may be traced), returned sorted decreasing.
    eps: ``alpha_min / alpha_max`` of the automatic grid.
    tol: scikit-learn's tolerance (above).
    max_iter: most epochs per alpha.
    sample_weight: ``None``, a positive scalar (the same as ``None``) or ``(n_samples,)`` weights
      ``≥ 0``, not all 0.
    solver: a :class:`SolverOptions`; ``chunk`` (alphas solved in parallel, successive chunks
      warm-started; default all) and ``check_every`` (default 10) are used, ``block`` and
      ``anderson`` must be ``None``.
    return_info: return a :class:`PathInfo` with the duality gaps (``/n``) and epoch counts.

  Returns:
    ``(alphas, coefs)`` with ``coefs`` of shape ``(n_alphas, n_features, n_tasks)`` (``coefs[i]`` is
    the ``W`` with ``Y ≈ X @ W``; scikit-learn's ``enet_path`` returns ``(n_tasks, n_features,
    n_alphas)``, its ``coef_`` ``(n_tasks, n_features)``); with ``return_info``, a :class:`PathInfo`.
    Outside of ``jit``, a :class:`ConvergenceWarning` where a gap is not certified ``≤ tol·‖Y‖²/n``
    and a ``ValueError`` instead of a non-finite solution, as :func:`enet_path`.

  Raises:
    ValueError: bad arguments (named), a ``Y`` that is not 2-D, non-finite ``X`` or ``Y`` (the
      columns named), a non-finite solution.

  Example:
    >>> X = np.random.default_rng(0).normal(size=(40, 6))
    >>> Y = X[:, :2] @ np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 1.0]])   # 3 tasks, 2 relevant features
    >>> alphas, coefs = jaxreg.paths.multitask_enet_path(X, Y, l1_ratio=0.9, alphas=10)
    >>> coefs.shape
    (10, 6, 3)

  References:
    Obozinski, Taskar & Jordan, *Joint covariate selection and joint subspace selection for multiple
    classification problems*, Stat. Comput. 20, 2010; ``sklearn.linear_model.MultiTaskElasticNet``,
    ``enet_path``.
  """
  X, Y = _check_xY(X, Y)
  n = X.shape[0]
  sw = _check_sample_weight(sample_weight, n, X.dtype)
  if sw is not None:
    root = _normalized_sqrt_weights(sw, n)
    X, Y = X * root[:, None], Y * root[:, None]
  max_iter = _check_common(l1_ratio, tol, max_iter)
  n_alphas = _check_alphas(alphas, l1_ratio, eps)
  A = n_alphas or np.shape(alphas)[0]
  solver = _checked_options(solver)
  chunk, check_every = solver.chunk, solver.check_every
  if solver.block is not None or solver.anderson not in (None, 0):
    raise ValueError(f"solver.block and solver.anderson are not used by multitask_enet_path; leave them None, "
                     f"got {solver!r}.")
  chunk = A if chunk is None else min(chunk, A)
  alphas, W, gap, status = _mt_path_jit(
      X, Y, None if n_alphas else alphas, l1_ratio, eps, tol, max_iter, n_alphas=n_alphas, chunk=chunk,
      check_every=10 if check_every is None else check_every)
  _check_finite("multitask_enet_path", X, Y, W.reshape(W.shape[0], -1), gap, status)
  _report("multitask_enet_path", gap, status, tol, max_iter)
  return PathInfo(alphas, W, gap, status.n_iter) if return_info else (alphas, W)


def multitask_lasso_path(X, Y, *, alphas=100, eps=1e-3, tol=1e-4, max_iter=1000, **kwargs):
  r"""Multi-task lasso path: :func:`multitask_enet_path` with ``l1_ratio = 1`` (``MultiTaskLasso``).

  .. math:: \min_W \frac{1}{2n}\|Y - XW\|_F^2 + \alpha\sum_j \|W_{j\cdot}\|_2

  Args and returns as :func:`multitask_enet_path`.

  Example:
    >>> X = np.random.default_rng(0).normal(size=(40, 6))
    >>> Y = X[:, :2] @ np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 1.0]])
    >>> alphas, coefs = jaxreg.paths.multitask_lasso_path(X, Y, alphas=5)
    >>> bool((coefs[0] == 0).all())   # alpha_max: every row of W is zero
    True

  References:
    Obozinski, Taskar & Jordan, Stat. Comput. 20, 2010; ``sklearn.linear_model.MultiTaskLasso``.
  """
  return multitask_enet_path(X, Y, l1_ratio=1.0, alphas=alphas, eps=eps, tol=tol, max_iter=max_iter, **kwargs)
