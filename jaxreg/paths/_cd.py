"""The batched coordinate-descent solver on Gram matrices: alpha grid, duality gaps, CD epochs,
Anderson extrapolation and the path schedule (see the Solver and Precision sections of :mod:`jaxreg.paths`)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg import _trees
from jaxreg._leaf import soft_threshold

# ---------------------------------------------------------------------------
# Alpha grid


def _alpha_grid(Xy, n, l1_ratio, eps, n_alphas, positive=False):
  """scikit-learn's ``_alpha_grid`` from a precomputed ``Xy = Xᵀy`` (centered if needed); ``positive``:
  ``alpha_max = max(0, max Xy)/(n·l1_ratio)``, as scikit-learn's (``w = 0`` is optimal iff ``Xᵀy ≤ n·alpha·ρ``)."""
  alpha_max = (jnp.maximum(jnp.max(Xy), 0) if positive else jnp.max(jnp.abs(Xy))) / (n * l1_ratio)
  res = np.finfo(np.float64).resolution  # sklearn: alpha_max <= resolution -> constant grid
  alpha_min = alpha_max * jnp.asarray(eps, Xy.dtype)
  # np.geomspace(alpha_max, alpha_min, n): 10**linspace of the log10s, endpoints exact.
  grid = 10.0 ** jnp.linspace(jnp.log10(alpha_max), jnp.log10(alpha_min), n_alphas)
  grid = grid.at[0].set(alpha_max)
  if n_alphas > 1:
    grid = grid.at[-1].set(alpha_min)
  return jnp.where(alpha_max <= res, jnp.full_like(grid, res), grid)


def _sorted_alphas(alphas, dtype):
  """Explicit alphas in decreasing order (scikit-learn sorts them too)."""
  a = jnp.asarray(alphas, dtype)
  return jnp.sort(a)[::-1]


# ---------------------------------------------------------------------------
# Duality gaps, computed without cancellation


def _unit_roundoff(dtype):
  return float(jnp.finfo(dtype).eps) / 2


def _gap_from_xta(W, xta, r_norm2, l1, l2, positive=False):
  """scikit-learn's duality gap as a sum of terms that are each ``≥ 0`` (no cancellation).

  ``W, xta``: ``(F, p, B)`` with ``xta = Xᵀr − l2·w`` and ``r = y − Xw``; ``r_norm2 = ‖r‖²``,
  ``l1, l2``: ``(F, B)``, the ``n``-scaled penalties. Formulation A of ``_cd_fast.pyx`` (``l1 > 0``)
  takes the dual point ``s·r`` with ``s = min(1, l1 / max|xta|)``; with ``rᵀy = ‖r‖² + l2‖w‖² + xtaᵀw``
  its ``primal − dual`` is exactly

    ``½(1 − s)²(‖r‖² + l2‖w‖²) + Σ_j (l1|w_j| − s·xta_j·w_j)``,

  every term of which is ``≥ 0`` (``s·|xta_j| ≤ l1``), so the sum keeps its relative precision; the
  textbook ``primal − dual`` subtracts two numbers of size ``‖y‖²`` and loses ~7 digits in float32.
  Formulation B (``l1 = 0``, ridge) is likewise ``‖xta‖² / (2·l2)``. Returns ``(gap, s, max|xta|)``.
  ``positive`` (``w ≥ 0``): the dual norm is ``max_j xta_j`` (scikit-learn's ``gap_enet``), the terms stay
  ``≥ 0`` because ``w_j ≥ 0`` and ``s·xta_j ≤ l1``.
  """
  wl2 = jnp.sum(W * W, 1)
  dual_norm = jnp.max(xta, 1) if positive else jnp.max(jnp.abs(xta), 1)
  s = jnp.where(dual_norm > l1, l1 / jnp.where(dual_norm > 0, dual_norm, 1), 1)
  gap_a = (0.5 * (1 - s) ** 2 * (r_norm2 + l2 * wl2)
           + jnp.sum(l1[:, None] * jnp.abs(W) - s[:, None] * xta * W, 1))
  gap_b = jnp.sum(xta * xta, 1) / (2 * jnp.where(l2 > 0, l2, 1))
  return jnp.where(l1 > 0, gap_a, gap_b), s, dual_norm


# Safety factor on the first-order rounding bounds below (the unit roundoff times the sum of the
# magnitudes of the terms): the errors measured on wide, square, tall and correlated float32 problems
# stayed below 0.4 of the bound.
_ROUNDING_SAFETY = 4.0


def _gram_gaps(W, QW, q, ynorm2, l1, l2, d=None, positive=False):
  """The duality gaps from the Gram quantities (``W, QW``: ``(F, p, B)``; ``q``: ``(F, p)``).

  With the column norms ``d = ‖x_j‖`` (``(F, p)``), also returns a bound on their distance to the
  gaps of the exact ``XᵀX``, ``_ROUNDING_SAFETY·u·(2·s_w·t + (1 − s)·t² + l1‖w‖₁ + l2‖w‖²)``
  (formulation A; ``s_w = Σ_j d_j|w_j|``, ``t = ‖y‖ + s_w``, the scales of ``XᵀXw`` and ``Xᵀy`` by
  Cauchy–Schwarz). It covers the rounding of ``XᵀX`` itself: the errors measured on wide, square,
  tall, correlated and badly scaled float32 problems stayed below ``3.4·u·s_w·t``.
  """
  xta = q[:, :, None] - QW - l2[:, None] * W
  r_norm2 = ynorm2[:, None] + jnp.sum(W * QW, 1) - 2 * jnp.einsum("fp,fpb->fb", q, W)
  gap, s, _ = _gap_from_xta(W, xta, jnp.maximum(r_norm2, 0), l1, l2, positive)
  if d is None:
    return gap
  ue = _ROUNDING_SAFETY * _unit_roundoff(W.dtype)
  s_w = jnp.einsum("fp,fpb->fb", d, jnp.abs(W))
  t = jnp.sqrt(ynorm2)[:, None] + s_w
  wl2 = jnp.sum(W * W, 1)
  bound_a = ue * (2 * s_w * t + (1 - s) * t * t + l1 * jnp.sum(jnp.abs(W), 1) + l2 * wl2)
  bound_b = ue * 2 * t * jnp.einsum("fp,fpb->fb", d, jnp.abs(xta)) / jnp.where(l2 > 0, l2, 1)
  return gap, jnp.where(l1 > 0, bound_a, bound_b)


def _residual_gaps(X, y, W, l1, l2, *, bound=True, positive=False):
  """Duality gaps of the coefficients ``W`` (``(A, p)``) from the residuals ``r = y − Xw`` in the data.

  ``l1, l2``: ``(A,)``, ``n``-scaled. Returns ``(gaps, bounds)`` (``n``-scaled): ``bounds`` bounds the
  rounding error of ``gaps`` to first order (the unit roundoff times the sum of the magnitudes of
  the terms that enter it, times ``_ROUNDING_SAFETY``), so the true gap of ``W`` lies within
  ``gaps ± bounds``. Unlike the Gram form, ``r`` is exact to the rounding of each ``x_iᵀw`` and
  the gap never inherits the rounding of ``XᵀX``. ``bound=False``: the gaps only. Costs two
  products ``(A, p) × (p, n)`` (three with the bound).
  """
  u = _unit_roundoff(X.dtype)
  R = y[None] - W @ X.T  # (A, n)
  xta = R @ X - l2[:, None] * W
  r_norm2 = jnp.sum(R * R, 1)
  gap, s, dual_norm = (g[0] for g in _gap_from_xta(W.T[None], xta.T[None], r_norm2[None], l1[None], l2[None],
                                                   positive))
  if not bound:
    return gap
  # Magnitudes: z = |X||w| bounds the terms of Xw, m = z + |y| + |r| those of r, |X|ᵀm those of Xᵀr.
  aX, aw, axta = jnp.abs(X), jnp.abs(W), jnp.abs(xta)
  z = aw @ aX.T
  m = z + jnp.abs(y)[None] + jnp.abs(R)
  wl2 = jnp.sum(W * W, 1)
  star = jnp.argmax(xta if positive else axta, 1)  # the coordinate that sets s
  e_star = jnp.sum(jnp.take(aX, star, axis=1).T * m, 1)  # |x_j*|ᵀm: the error scale of xta_j*
  ds = e_star / jnp.where(dual_norm > 0, dual_norm, 1)  # the relative error of s, over u
  bound_a = (jnp.sum(z * m, 1) + l1 * jnp.sum(aw, 1) + l2 * wl2
             + ds * (jnp.sum(axta * aw, 1) + (1 - s) * (r_norm2 + l2 * wl2))
             + (1 - s) ** 2 * jnp.sqrt(r_norm2 * jnp.sum(z * z, 1)) + u * ds**2 * r_norm2)
  d = jnp.sqrt(jnp.sum(X * X, 0))
  m_norm = jnp.sqrt(jnp.sum(m * m, 1))
  bound_b = (axta @ d * m_norm + l2 * jnp.sum(axta * aw, 1)) / jnp.where(l2 > 0, l2, 1)  # |x_j|ᵀm ≤ d_j‖m‖
  return gap, _ROUNDING_SAFETY * u * jnp.where(l1 > 0, bound_a, bound_b)


# ---------------------------------------------------------------------------
# Coordinate descent on the Gram matrix, a batch of problems in lockstep


def _cd_block(Qcols, q, diag, W, QW, start, size, l1, l2, unroll, positive=False):
  """Cyclic CD over coordinates ``start .. start+size`` of every problem.

  ``Qcols``: the block's columns of the Gram matrices, ``Q_f[:, start:start+size]``,
  ``(F, p, size)`` and contiguous; ``W, QW``: ``(F, p, B)``. Inside the block only the block's
  rows of ``QW = Q @ W`` are updated (exactly); the other rows get one matrix
  product at the end. A block in which every coefficient is 0 and provably stays
  0 (``|q_j − (Qw)_j| ≤ l1`` for all its coordinates and problems) is skipped: the
  result is exactly that of the full sweep. ``positive``: the step is scikit-learn's
  ``w_j ← max(tmp − l1, 0)/(Q_jj + l2)`` (``w ≥ 0``).
  """
  F, p, B = W.shape
  Qbb = jnp.swapaxes(lax.dynamic_slice_in_dim(Qcols, start, size, 1), 1, 2)  # Q_f[block, block]
  qb = lax.dynamic_slice_in_dim(q, start, size, 1)
  db = lax.dynamic_slice_in_dim(diag, start, size, 1)
  Wb0 = lax.dynamic_slice_in_dim(W, start, size, 1)  # (F, size, B)
  Gb0 = lax.dynamic_slice_in_dim(QW, start, size, 1)

  # Block-local arrays with the coordinate axis first: row k is contiguous.
  qbt, dbt = qb.T[:, :, None], db.T[:, :, None]  # (size, F, 1)
  Qkj = jnp.transpose(Qbb, (1, 2, 0))[..., None]  # Qkj[k, j, f] = Q_f[k, j]: (size, size, F, 1)

  def new_value(k, wk, gk):
    d = dbt[k]
    tmp = qbt[k] - gk + wk * d
    shrunk = jnp.maximum(tmp - l1, 0) if positive else soft_threshold(tmp, l1)
    return jnp.where(d > 0, shrunk / jnp.where(d > 0, d + l2, 1), 0)

  def sweep(W, QW):
    Wt0, Gt0 = jnp.swapaxes(Wb0, 0, 1), jnp.swapaxes(Gb0, 0, 1)  # (size, F, B)
    if unroll >= size:  # a list of rows: fewer kernels per coordinate on CPU
      rows, Gt = [], Gt0
      for k in range(size):
        new = new_value(k, Wt0[k], Gt[k])
        Gt = Gt + Qkj[k] * (new - Wt0[k])[None]
        rows.append(new)
      Wt = jnp.stack(rows)
    else:
      def coord(k, c):
        Wt, Gt = c
        wk = Wt[k]
        new = new_value(k, wk, Gt[k])
        return Wt.at[k].set(new), Gt + Qkj[k] * (new - wk)[None]
      Wt, Gt = lax.fori_loop(0, size, coord, (Wt0, Gt0), unroll=unroll)
    Wb, Gb = jnp.swapaxes(Wt, 0, 1), jnp.swapaxes(Gt, 0, 1)
    if size == p:
      return Wb, Gb
    return (lax.dynamic_update_slice_in_dim(W, Wb, start, 1),
            QW + jnp.einsum("fpk,fkb->fpb", Qcols, Wb - Wb0))

  if size == p:
    return sweep(W, QW)
  idle = jnp.all(Wb0 == 0) & jnp.all(jnp.abs(qb[:, :, None] - Gb0) <= l1[:, None, :])
  return lax.cond(idle, lambda W, QW: (W, QW), sweep, W, QW)


def _solve_ones(C):
  """``z = C⁻¹·1`` for a batch of small SPD matrices ``C`` of shape ``(K, K, ...)``.

  Gauss-Jordan elimination without pivoting (fine for SPD), written as a loop of
  elementwise operations over the batch: for ``K = 5`` this is far faster than
  batched LAPACK calls on CPU. A singular ``C`` gives non-finite ``z``.
  """
  K = C.shape[0]
  eye = jnp.eye(K, dtype=C.dtype).reshape((K, K) + (1,) * (C.ndim - 2))

  def pivot(k, c):
    C, z = c
    row = C[k] / C[k, k]
    zk = z[k] / C[k, k]
    col = C[:, k] * (1 - eye[:, k])  # eliminate column k from every other row
    return (C - col[:, None] * row[None]).at[k].set(row), (z - col * zk).at[k].set(zk)

  _, z = lax.fori_loop(0, K, pivot, (C, jnp.ones(C.shape[1:], C.dtype)))
  return z


def _anderson(Ws, QWs, q, l1, l2, d, ynorm, gram_err, matvec, positive=False):
  """Anderson extrapolation of the last CD iterates (Bertrand & Massias 2021, Alg. 1), kept only
  where it lowers the objective by more than rounding can fake.

  ``Ws, QWs``: ``(K+1, F, p, B)``; ``d``: ``(F, p)``, the column norms ``‖x_j‖``; ``ynorm``:
  ``(F,)``; ``gram_err``: ``(F,)``, a bound ``ε`` on ``‖E‖₂``, ``E = fl(XᵀX) − XᵀX`` (see
  :func:`_cd_solve`). The change of the objective ``f̃`` of the rounded ``Q`` from the last iterate
  ``l`` to the extrapolation ``a`` is computed from the step ``D = a − l``,
  ``Dᵀ(½Q(a + l) − q + ½l2(a + l)) + l1(‖a‖₁ − ‖l‖₁)`` (not as the difference of two objectives of
  size ``‖y‖²``), and ``a`` is kept only where it is negative by more than
  ``½ε·max(0, ‖a‖² − ‖l‖²)`` plus the rounding of its own computation. That first term makes every
  kept step lower ``f̃ + ½ε‖w‖²`` too, whose quadratic form ``Q + E + εI`` is positive
  semidefinite: the objective the steps lower is bounded below. Without it, in float32 the rounded
  ``XᵀX`` of a wide or collinear ``X`` has negative eigenvalues (``≈ −2e-6`` at 10 × 40), along
  which an extrapolation far out lowers ``f̃`` while the true objective grows: accepted, such steps
  ran away to ``‖w‖₁ ≈ 1e5`` (issue 9).
  ``matvec``: recomputes ``QW`` of both candidates (float32, where the rank-1 updates of an epoch
  drift), or ``None``: ``QW`` is extrapolated with the same weights (it is linear in ``W``).
  ``positive``: an extrapolation with a negative coefficient is never kept.
  """
  K, p = Ws.shape[0] - 1, Ws.shape[2]
  u = _unit_roundoff(Ws.dtype)
  U = Ws[1:] - Ws[:-1]
  C = jnp.einsum("ifpb,jfpb->ijfb", U, U)
  scale = jnp.max(jnp.abs(C), (0, 1))
  C = C / jnp.where(scale > 0, scale, 1) + 1e-12 * jnp.eye(K, dtype=C.dtype)[:, :, None, None]
  z = _solve_ones(C)
  c = z / jnp.sum(z, 0)
  Wa, Wl = jnp.einsum("ifb,ifpb->fpb", c, Ws[1:]), Ws[-1]
  if matvec is None:
    QWa, QWl = jnp.einsum("ifb,ifpb->fpb", c, QWs[1:]), QWs[-1]
  else:
    QWa, QWl = jnp.split(matvec(jnp.concatenate([Wa, Wl], -1)), 2, -1)
  D, S = Wa - Wl, Wa + Wl
  g = 0.5 * (QWa + QWl) - q[:, :, None] + 0.5 * l2[:, None] * S
  change = jnp.sum(D * g, 1) + l1 * jnp.sum(jnp.abs(Wa) - jnp.abs(Wl), 1)
  dD, dS = d[:, :, None] * D, d[:, :, None] * S
  noise = u * (jnp.sqrt(jnp.sum(dD * dD, 1) * jnp.sum(dS * dS, 1))
               + np.sqrt(p) * (jnp.sum(jnp.abs(D * g), 1) + 2 * l1 * jnp.sum(jnp.abs(D), 1)))
  rounding = 0.5 * gram_err[:, None] * jnp.maximum(jnp.sum(D * S, 1), 0) + noise
  ok = jnp.all(jnp.isfinite(c), 0) & (change + rounding < 0)
  if positive:
    ok = ok & jnp.all(Wa >= 0, 1)
  return jnp.where(ok[:, None], Wa, Wl), jnp.where(ok[:, None], QWa, QWl)


# An epoch that changes no coefficient by more than this many units of roundoff (relative to
# max|w|) has reached the fixed point of CD in that precision: more epochs cannot lower the gap.
_STALL_ULPS = 4.0


def _cd_solve(Q, q, ynorm2, l1, l2, W0, tol, max_iter, *, block, unroll, check_every, anderson, positive=False,
              gap_only=False):
  """Minimizes ``½wᵀQ_f w − q_fᵀw + l1‖w‖₁ + l2/2‖w‖²`` for every problem ``(f, b)``.

  ``Q``: ``(F, p, p)`` with ``p`` a multiple of ``block``; ``q``: ``(F, p)``; ``ynorm2``:
  ``(F,)``; ``l1, l2``: ``(F, B)``; ``W0``: ``(F, p, B)``. Every ``check_every`` epochs: Anderson
  extrapolation from the last ``anderson + 1`` iterates (``anderson = 0``: none), then
  scikit-learn's stopping rule per problem (last epoch's ``max|Δw| ≤ tol·max|w|`` and the gap of
  :func:`_gram_gaps` ``≤ tol·‖y‖²``). A problem also stops, *stalled*, when an epoch changed no
  coefficient by more than ``_STALL_ULPS`` units of roundoff of ``max|w|`` (the fixed point of CD
  in that precision) before reaching ``tol``; and the ``max|Δw|`` rule is not asked below
  ``4·_STALL_ULPS`` units of roundoff. Returns ``(W, gaps, bounds, n_iter, stalled)``, those of
  :func:`_gram_gaps`. ``positive``: ``w ≥ 0`` (scikit-learn's ``positive=True``). ``gap_only``: stop on
  the gap alone, without the ``max|Δw|`` rule (the inner solves of the working-set solver, whose ``tol``
  is a fraction of the full problem's gap; the full problem's certificate is its gap).
  """
  F, p, B = W0.shape
  u = _unit_roundoff(W0.dtype)
  low_precision = jnp.finfo(W0.dtype).bits < 64
  n_blocks = p // block
  diag = jnp.diagonal(Q, axis1=1, axis2=2)
  d = jnp.sqrt(jnp.maximum(diag, 0))
  # ‖fl(XᵀX) − XᵀX‖₂ (plus the rounding of a product with it), measured on 40 wide, tall, correlated,
  # offset and badly scaled float32 designs: at most 1.5·u·tr(Q) and at most 4.6·u·max_j d_j·‖d‖.
  gram_err = 4 * u * jnp.minimum(jnp.sum(diag, 1), 4 * jnp.max(d, 1) * jnp.sqrt(jnp.sum(diag, 1)))
  ynorm = jnp.sqrt(ynorm2)
  K = min(anderson, check_every)
  first = check_every - K  # iterates first .. check_every are kept for extrapolation
  matvec = lambda W: jnp.einsum("fpq,fqb->fpb", Q, W)

  # Q by blocks of columns, each contiguous: Qcols[b] = Q[:, :, b*block:(b+1)*block].
  Qcols = jnp.moveaxis(Q.reshape(F, p, n_blocks, block), 2, 0)

  def epoch(W, QW):
    if n_blocks == 1:
      return _cd_block(Qcols[0], q, diag, W, QW, 0, p, l1, l2, unroll, positive)
    return lax.fori_loop(
        0, n_blocks, lambda b, c: _cd_block(Qcols[b], q, diag, *c, b * block, block, l1, l2, unroll, positive),
        (W, QW))

  tol_gap = tol * ynorm2[:, None]
  QW0 = matvec(W0)
  gap0 = _gram_gaps(W0, QW0, q, ynorm2, l1, l2, positive=positive)
  done0 = gap0 <= tol_gap  # sklearn: checked before the first epoch

  def cond(c):
    W, QW, it, done, gap, stalled = c
    return jnp.any(~done & (it < max_iter))

  def body(c):
    W, QW, it, done, gap, stalled = c
    def step(i, c):
      W1, W2, QW2, Ws, QWs = c
      W3, QW3 = epoch(W2, QW2)
      if K:
        slot = jnp.maximum(i + 1 - first, 0)
        Ws, QWs = Ws.at[slot].set(W3), QWs.at[slot].set(QW3)
      return W2, W3, QW3, Ws, QWs
    buf = (lambda a: jnp.broadcast_to(a, (K + 1,) + a.shape)) if K else (lambda a: a[:0])
    W1, W2, QW2, Ws, QWs = lax.fori_loop(0, check_every, step, (W, W, QW, buf(W), buf(QW)))
    if K:
      W3, QW3 = _anderson(Ws, QWs, q, l1, l2, d, ynorm, gram_err, matvec if low_precision else None, positive)
    else:  # float32: rounding in the rank-1 updates must not accumulate
      W3, QW3 = W2, (matvec(W2) if low_precision else QW2)
    dw = jnp.max(jnp.abs(W2 - W1), 1)  # the last plain epoch's largest change
    wmax = jnp.max(jnp.abs(W2), 1)
    gap3 = _gram_gaps(W3, QW3, q, ynorm2, l1, l2, positive=positive)
    active = ~done & (it < max_iter)
    reached = (gap_only | (wmax == 0) | (dw <= jnp.maximum(tol, 4 * _STALL_ULPS * u) * wmax)) & (gap3 <= tol_gap)
    stuck = ~reached & (dw <= _STALL_ULPS * u * wmax)
    keep = active[:, None]
    return (jnp.where(keep, W3, W), jnp.where(keep, QW3, QW), it + check_every * active,
            done | (active & (reached | stuck)), jnp.where(active, gap3, gap), stalled | (active & stuck))

  init = (W0, QW0, jnp.zeros((F, B), jnp.int32), done0, gap0, jnp.zeros((F, B), bool))
  W, QW, n_iter, _, gap, stalled = lax.while_loop(cond, body, init)
  _, bound = _gram_gaps(W, QW, q, ynorm2, l1, l2, d, positive=positive)
  return W, gap, bound, n_iter, stalled


def _block_size(p, block):
  """Coordinates per block (measured: all if ``p ≤ 32``, 16 up to ``p = 256``, else 64) and
  how far the loop over a block is unrolled (fully for one block; else 4, for compile time)."""
  if block is None:
    block = p if p <= 32 else 16 if p <= 256 else 64
  block = min(block, p)
  return block, (block if block == p else 4)


# Gram-form gaps whose rounding bound is at most this fraction of tol·‖y‖² are trusted as they are;
# the others are recomputed from the residuals (which costs products with X).
_GRAM_TRUST = 0.25


def _data_gaps(X, y, W, alphas, l1_ratio, gap, bound, tol_gap, *, center=False, positive=False):
  """The gaps to report for ``W`` (``(A, p)``, at ``alphas`` ``(A,)``; ``gap, bound, tol_gap`` divided
  by ``n``): those of the Gram form, unless their bound exceeds ``_GRAM_TRUST·tol_gap`` (never in
  float64), then those of :func:`_residual_gaps` (a separate, small program, compiled only when
  needed; inline under a trace), on ``X, y`` centered if ``center``."""
  if jnp.finfo(X.dtype).bits >= 64:
    return gap, bound
  n = X.shape[0]

  def resid(jit):
    nonlocal X, y
    if center:
      X, y = X - jnp.mean(X, 0), y - jnp.mean(y)
    l1_ratio_ = jnp.asarray(l1_ratio, W.dtype)
    fn = _residual_gaps_jit if jit else functools.partial(_residual_gaps, positive=positive)
    gaps = fn(X, y, W, alphas * l1_ratio_ * n, alphas * (1 - l1_ratio_) * n, *((positive,) if jit else ()))
    return tuple(x / n for x in gaps)

  if any(_trees.is_traced(a) for a in (X, y, W, alphas, l1_ratio, gap, bound, tol_gap)):
    return lax.cond(jnp.any(bound > _GRAM_TRUST * tol_gap), lambda: resid(False), lambda: (gap, bound))
  if not np.any(np.asarray(bound) > _GRAM_TRUST * np.asarray(tol_gap)):
    return gap, bound
  return resid(True)


_residual_gaps_jit = jax.jit(lambda X, y, W, l1, l2, positive: _residual_gaps(X, y, W, l1, l2, positive=positive),
                             static_argnums=5)


def _gram_path(Q, q, ynorm2, n, alphas, l1_ratio, tol, max_iter, solver, positive=False):
  """Solves ``F`` paths (``Q: (F, p, p)``, ``q: (F, p)``, ``ynorm2, n: (F,)``) for decreasing ``alphas``.

  Returns ``(W (F, A, p), gaps, bounds, n_iter, stalled)`` (each ``(F, A)``), the gaps and
  bounds of :func:`_gram_gaps` divided by ``n``. ``chunk`` alphas are solved in parallel;
  successive chunks start from the previous chunk's last
  (smallest-alpha) solution (``chunk = A``: all in parallel from 0). Features are
  visited in decreasing order of ``Σ_f |q_f|``, so that the
  features that enter the path first share blocks and idle blocks are skipped.
  """
  chunk, block, check_every, anderson = solver.chunk, solver.block, solver.check_every, solver.anderson
  F, p = q.shape
  A = alphas.shape[0]
  block, unroll = _block_size(p, block)
  order = jnp.argsort(-jnp.sum(jnp.abs(q), 0)) if p > block else jnp.arange(p)
  extra = -p % block
  Qp = jnp.pad(Q[:, order][:, :, order], ((0, 0), (0, extra), (0, extra)))
  qp = jnp.pad(q[:, order], ((0, 0), (0, extra)))
  chunk = A if chunk is None else min(chunk, A)
  n_chunks = -(-A // chunk)
  a = jnp.concatenate([alphas, jnp.broadcast_to(alphas[-1:], (n_chunks * chunk - A,))])
  a = a.reshape(n_chunks, chunk)
  l1_ratio = jnp.asarray(l1_ratio, alphas.dtype)
  n = jnp.asarray(n, alphas.dtype)[:, None]

  def solve(w0, a_chunk):
    W0 = jnp.broadcast_to(w0[:, :, None], w0.shape + (chunk,))
    out = _cd_solve(Qp, qp, ynorm2, a_chunk * l1_ratio * n, a_chunk * (1 - l1_ratio) * n, W0, tol,
                    max_iter, block=block, unroll=unroll, check_every=check_every, anderson=anderson,
                    positive=positive)
    return out[0][:, :, -1], out

  w0 = jnp.zeros(qp.shape, Q.dtype)
  if n_chunks == 1:
    _, (W, *info) = solve(w0, a[0])
  else:
    _, (W, *info) = lax.scan(solve, w0, a)  # (n_chunks, F, p, chunk)
    W = jnp.moveaxis(W, 0, 2).reshape(F, -1, n_chunks * chunk)
    info = [jnp.moveaxis(x, 0, 1).reshape(F, -1) for x in info]
  W = jnp.swapaxes(W, 1, 2)[:, :A, :p]  # (F, A, p) in the visiting order
  W = W[:, :, jnp.argsort(order)]
  gap, bound, it, stalled = (x[:, :A] for x in info)
  return W, gap / n, bound / n, it, stalled


class SolverOptions(NamedTuple):
  """Knobs of the coordinate-descent solver of :func:`enet_path` and :func:`enet_cv`; ``None`` picks the
  measured default (see the Solver section of :mod:`jaxreg.paths`).

  Attributes:
    chunk: number of alphas solved in parallel; successive chunks are warm-started
      from the previous chunk's last solution (``chunk = n_alphas``: all in parallel
      from 0; ``chunk = 1``: scikit-learn's one-by-one warm starts). Default: all in
      parallel when ``n_features ≤ 64``, else chunks of ``⌈n_alphas·n_features/2000⌉``.
    block: coordinates per block of the blocked CD (default: all when ``≤ 32``, 16 up
      to 256 features, else 64).
    check_every: epochs between convergence checks (default: 10 when all alphas run in
      parallel, else 2). Epoch counts are multiples of it.
    anderson: Anderson extrapolation from the last ``anderson + 1`` iterates at every
      check (0: off; default: 5 when all alphas run in parallel, else 0). It is kept
      only where it lowers the objective by more than rounding could fake, and cuts
      the epochs of ill-conditioned problems several-fold (diabetes at ``tol=1e-10``:
      about 120 instead of about 1 090).
    method: ``"gram"`` (the batched solver on ``XᵀX`` above), ``"working_set"`` (coordinate
      descent on ``X`` with working sets and gap-safe screening, warm-started along the path:
      memory ``O(n·p + p·k)``, never a ``p × p`` array) or ``"auto"`` (the default): the Gram
      solver when ``X`` is dense and ``n_features ≤ max(n_samples, 500)`` (``≤ 500`` for at most 5
      alphas), else the working-set solver (see :mod:`jaxreg.paths`). For the working-set solver, the four knobs
      above apply to its inner solves, with other defaults: chunks of ``⌈n_alphas/10⌉`` alphas,
      checks every 10 epochs, Anderson window 5.

  Example:
    >>> opts = jaxreg.paths.SolverOptions(chunk=1, anderson=0)   # scikit-learn's warm starts
    >>> wide = jaxreg.paths.SolverOptions(method="working_set")
  """
  chunk: int | None = None
  block: int | None = None
  check_every: int | None = None
  anderson: int | None = None
  method: str = "auto"


_METHODS = ("auto", "gram", "working_set")


def _checked_options(solver):
  """``solver`` (``SolverOptions`` or ``None``) validated, ``None`` fields kept: every field named in its error."""
  if solver is None:
    solver = SolverOptions()
  if not isinstance(solver, SolverOptions):
    raise ValueError(f"solver must be a jaxreg.paths.SolverOptions or None, got {solver!r}.")
  if not isinstance(solver.method, str) or solver.method not in _METHODS:
    raise ValueError(f"solver.method must be one of {', '.join(map(repr, _METHODS))}, got {solver.method!r}.")
  return SolverOptions(_trees.check_int("solver.chunk", solver.chunk, low=1, allow_none=True),
                       _trees.check_int("solver.block", solver.block, low=1, allow_none=True),
                       _trees.check_int("solver.check_every", solver.check_every, low=1, allow_none=True),
                       _trees.check_int("solver.anderson", solver.anderson, low=0, allow_none=True),
                       solver.method)


def _schedule(p, n_alphas, solver):
  """``solver`` (``SolverOptions`` or ``None``) validated, with the measured defaults filled in.

  ``p ≤ 64``: all alphas in parallel, checked every 10 epochs, with Anderson
  extrapolation (window 5). Larger ``p``: chunks of ``⌈n_alphas·p/2000⌉`` alphas
  (10 of 100 at ``p = 200``, 50 at ``p = 1000``) warm-started one from the next,
  checked every 2 epochs (a chunk runs at least that many), no extrapolation
  (warm starts already leave few epochs to save).
  """
  chunk, block, check_every, anderson, method = _checked_options(solver)
  if chunk is None:
    chunk = n_alphas if p <= 64 else -(-n_alphas * p // 2000)
  chunk = min(chunk, n_alphas)
  parallel = chunk == n_alphas
  check_every = (10 if parallel else 2) if check_every is None else check_every
  anderson = (5 if parallel else 0) if anderson is None else anderson
  return SolverOptions(chunk, block, check_every, anderson, method)
