r"""Regularization paths for linear and logistic models, matched to scikit-learn.

Every function here solves many penalized problems at once: all the ``alphas`` of
a path (and, for :func:`enet_cv`, all cross-validation folds) run as one compiled,
vectorized program. The conventions are scikit-learn's, exactly:

.. math::
  \min_w\ \frac{1}{2n}\|y - Xw\|_2^2 + \alpha\,\rho\,\|w\|_1 + \frac{\alpha(1-\rho)}{2}\|w\|_2^2,
  \qquad \rho = \text{l1\_ratio}

(``l1_ratio = 1`` is the lasso, ``l1_ratio = 0`` ridge regression; jaxreg's
:func:`jaxreg.elastic_net_penalty` is the same penalty). An integer ``alphas``
means a geometric grid of that many values from
``alpha_max = max|Xᵀy| / (n·l1_ratio)`` (the smallest alpha whose solution is
``w = 0``) down to ``eps·alpha_max``, in decreasing order, as
``sklearn.linear_model._coordinate_descent._alpha_grid``. Coefficients are
returned as ``(n_alphas, n_features)`` (scikit-learn returns the transpose).

Solver (:func:`enet_path`, :func:`enet_cv`): cyclic coordinate descent on the
Gram matrix ``Q = XᵀX`` ("covariance updates", as scikit-learn does when
``n > p``), with every alpha of the path a column of one ``(p, n_alphas)`` state
updated in lockstep. Each coordinate step is scikit-learn's
``w_j ← S(q_j − (Qw)_j + Q_jj w_j, n·alpha·ρ) / (Q_jj + n·alpha·(1 − ρ))`` with
``S`` = :func:`jaxreg.prox.soft_threshold`. Coordinates are processed in blocks:
inside a block only the block's entries of ``Qw`` are updated (exact cyclic CD),
and after the block ``Qw`` is updated with one matrix product (BLAS-3). Blocks
whose coefficients are all zero and provably stay zero for every alpha are
skipped (exactly: ``|q_j − (Qw)_j| ≤ n·alpha·ρ``), and features are visited in
decreasing order of ``|Xᵀy|`` so that early-entering features share blocks. Every
``check_every`` epochs, Anderson extrapolation of the last iterates (Bertrand &
Massias 2021) is tried and kept where it lowers the objective, ``Qw`` is
recomputed in float32 (no drift of the rank-1 updates), and scikit-learn's stopping rule is
applied per alpha: the last epoch's largest coefficient change is
``≤ tol·max|w|`` and the duality gap (formulation A of
``sklearn/linear_model/_cd_fast.pyx``, divided by ``n``) is ``≤ tol·‖y‖²/n``.
Converged alphas are frozen while the others go on.

Parallel vs warm starts, measured (``experiments/bench_paths.py``): all alphas
in parallel from ``w = 0`` against warm starts along the path (a ``lax.scan``
over chunks of alphas, each chunk started from the previous chunk's last
solution; ``chunk=1`` is scikit-learn's one-alpha-at-a-time scheme). On CPU a
vectorized CD step costs about as much for 100 alphas as for 1 when ``p`` is
small, so the number of sequential epochs decides: ``max`` over alphas in
parallel (about 120 with Anderson for the diabetes path at ``tol=1e-10``) against
``Σ`` over alphas with warm starts (about 3 200): the parallel solve was ~3x
faster there and is the default for ``p ≤ 64``. For large ``p`` the epochs are
compute-bound (the block products dominate) and warm-started chunks do less
total work: chunks of ``⌈n_alphas·p/2000⌉`` alphas checked every 2 epochs
without extrapolation were fastest (10 at 2000 × 200, ~1.7x faster than all
alphas in parallel; 50 at 10 000 × 1 000). Unlike scikit-learn's scalar CD, which skips the ``Qw`` update of
a coefficient that stays 0, the vectorized sweep pays ``p²`` per alpha and epoch
(less the skipped blocks): on CPU it wins when ``p`` is small or the path is
ill-conditioned, and is about even with scikit-learn at ``p`` in the hundreds.

Precision: with ``jax.config.update("jax_enable_x64", True)`` and float64 inputs
everything runs in float64 and matches scikit-learn to ~1e-9 relative at
``tol=1e-10``. In float32 (JAX's default) the duality gap is computed from
``‖y‖² + wᵀQw − 2qᵀw`` and loses ~7 digits to cancellation, so a ``tol`` below
~1e-6 cannot be reached: the solver then stops at ``max_iter`` (a warning says
so) with coefficients accurate to ~1e-5 relative.

References:
  Friedman, Hastie & Tibshirani, *Regularization Paths for Generalized Linear
  Models via Coordinate Descent*, J. Stat. Softw. 33(1), 2010.
  Pedregosa et al., *Scikit-learn: Machine Learning in Python*, JMLR 12, 2011
  (``enet_path``, ``LassoCV``, ``_cd_fast.pyx``).
  Bertrand & Massias, *Anderson acceleration of coordinate descent*, AISTATS 2021.
  Beck & Teboulle, *A Fast Iterative Shrinkage-Thresholding Algorithm*, SIAM J.
  Imaging Sci. 2(1), 2009; O'Donoghue & Candès, *Adaptive Restart for
  Accelerated Gradient Schemes*, Found. Comput. Math. 15, 2015.
"""

from __future__ import annotations

import numbers
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg import _trees
from jaxreg.prox import enet_shrink, soft_threshold

__all__ = [
    "ConvergenceWarning", "EnetCVResult", "enet_cv", "enet_path", "lasso_path",
    "logistic_path", "ridge_path",
]


class ConvergenceWarning(UserWarning):
  """Some alphas did not reach ``tol`` within ``max_iter``."""


class EnetCVResult(NamedTuple):
  """What :func:`enet_cv` returns (scikit-learn's ``LassoCV`` attribute in brackets).

  Attributes:
    alpha: the selected alpha, minimizing the mean over folds of ``mse_path`` (``alpha_``).
    alphas: the grid, decreasing, ``(n_alphas,)`` (``alphas_``).
    mse_path: held-out mean squared error, ``(n_alphas, n_folds)`` (``mse_path_``).
    coef: the refit on all data at ``alpha``, ``(n_features,)`` (``coef_``).
    intercept: its intercept, ``mean(y) − mean(X)·coef`` (0 without intercept) (``intercept_``).
  """
  alpha: jax.Array
  alphas: jax.Array
  mse_path: jax.Array
  coef: jax.Array
  intercept: jax.Array


# ---------------------------------------------------------------------------
# Validation


def _check_xy(X, y):
  """Shapes and finiteness of the data; returns jnp arrays of one float dtype."""
  X_shape, y_shape = np.shape(X), np.shape(y)
  if len(X_shape) != 2:
    raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {X_shape}.")
  if len(y_shape) != 1:
    raise ValueError(f"y must be a 1-D array (n_samples,), got shape {y_shape}.")
  if X_shape[0] != y_shape[0]:
    raise ValueError(
        f"X and y have different numbers of samples: X has {X_shape[0]} rows, y has {y_shape[0]}.")
  if X_shape[0] < 1 or X_shape[1] < 1:
    raise ValueError(f"X must have at least one sample and one feature, got shape {X_shape}.")
  for name, a in (("X", X), ("y", y)):
    if not _trees.is_traced(a) and not np.isfinite(np.asarray(a)).all():
      raise ValueError(f"{name} contains NaN or inf; remove or impute those entries first.")
  dtype = jnp.result_type(float, X, y)
  return jnp.asarray(X, dtype), jnp.asarray(y, dtype)


def _check_alphas(alphas, l1_ratio, eps):
  """Validates ``alphas`` (an int = grid size, or an array of strengths > 0)."""
  if isinstance(alphas, numbers.Integral) and not isinstance(alphas, bool):
    if alphas < 1:
      raise ValueError(f"alphas, as an integer, is the number of alphas and must be >= 1, got {alphas}.")
    _trees.check("eps", eps, low=0.0, low_open=True)
    if not _trees.is_traced(l1_ratio) and np.all(np.asarray(l1_ratio) == 0):
      raise ValueError(
          "alphas as an integer (an automatic grid) needs l1_ratio > 0, got l1_ratio=0: the grid "
          "starts at max|X^T y|/(n*l1_ratio); pass an explicit array of alphas instead.")
    return int(alphas)
  if np.ndim(alphas) != 1 or np.shape(alphas)[0] < 1:
    raise ValueError(f"alphas must be an integer or a non-empty 1-D array, got shape {np.shape(alphas)}.")
  _trees.check("alphas", alphas, low=0.0, low_open=True)
  return None


def _check_common(l1_ratio, tol, max_iter):
  _trees.check("l1_ratio", l1_ratio, high=1.0)
  _trees.check("tol", tol)
  if not isinstance(max_iter, numbers.Integral) or max_iter < 1:
    raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}.")


def _warn_unconverged(n_iter, max_iter, what):
  if _trees.is_traced(n_iter):
    return
  n_bad = int(np.sum(np.asarray(n_iter) >= max_iter))
  if n_bad:
    warnings.warn(
        f"{what}: {n_bad} problem(s) did not reach tol within max_iter={max_iter}; increase "
        "max_iter or tol (in float32, tol below ~1e-6 cannot be reached).", ConvergenceWarning,
        stacklevel=3)


# ---------------------------------------------------------------------------
# Alpha grid


def _alpha_grid(Xy, n, l1_ratio, eps, n_alphas):
  """scikit-learn's ``_alpha_grid`` from a precomputed ``Xy = Xᵀy`` (centered if needed)."""
  alpha_max = jnp.max(jnp.abs(Xy)) / (n * l1_ratio)
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
# Coordinate descent on the Gram matrix, a batch of problems in lockstep


def _dual_gaps(W, QW, q, ynorm2, l1, l2):
  """scikit-learn's duality gap (``gap_enet_gram``), in the ``n``-scaled units of the CD problem.

  ``W, QW``: ``(F, p, B)``; ``q``: ``(F, p)``; ``ynorm2``: ``(F,)``; ``l1, l2``: ``(F, B)``,
  the ``n``-scaled penalties. Formulation A when ``l1 > 0``, formulation B (ridge) when ``l1 = 0``.
  """
  wl2 = jnp.sum(W * W, 1)
  qw = jnp.einsum("fp,fpb->fb", q, W)
  r_norm2 = ynorm2[:, None] + jnp.sum(W * QW, 1) - 2 * qw
  ry = ynorm2[:, None] - qw
  xta = q[:, :, None] - QW
  # Formulation A (alpha > 0): rescale the residual to a dual-feasible point.
  dual_norm = jnp.max(jnp.abs(xta - l2[:, None] * W), 1)
  scale = jnp.where(dual_norm > l1, l1 / jnp.where(dual_norm > 0, dual_norm, 1), 1)
  primal = 0.5 * (r_norm2 + l2 * wl2) + l1 * jnp.sum(jnp.abs(W), 1)
  gap_a = primal - (-0.5 * scale**2 * (r_norm2 + l2 * wl2) + scale * ry)
  # Formulation B (alpha = 0, beta > 0).
  safe_l2 = jnp.where(l2 > 0, l2, 1)
  gap_b = r_norm2 + 0.5 * l2 * wl2 - ry + jnp.sum(xta * xta, 1) / (2 * safe_l2)
  return jnp.where(l1 > 0, gap_a, gap_b)


def _cd_block(Qcols, q, diag, W, QW, start, size, l1, l2, unroll):
  """Cyclic CD over coordinates ``start .. start+size`` of every problem.

  ``Qcols``: the block's columns of the Gram matrices, ``Q_f[:, start:start+size]``,
  ``(F, p, size)`` and contiguous; ``W, QW``: ``(F, p, B)``. Inside the block only the block's
  rows of ``QW = Q @ W`` are updated (exactly); the other rows get one matrix
  product at the end. A block in which every coefficient is 0 and provably stays
  0 (``|q_j − (Qw)_j| ≤ l1`` for all its coordinates and problems) is skipped: the
  result is exactly that of the full sweep.
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
    return jnp.where(d > 0, soft_threshold(tmp, l1) / jnp.where(d > 0, d + l2, 1), 0)

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


def _objective(W, QW, q, l1, l2):
  """``½wᵀQw − qᵀw + l1‖w‖₁ + l2/2‖w‖²`` per problem (``(F, B)``)."""
  return (0.5 * jnp.sum(W * QW, 1) - jnp.einsum("fp,fpb->fb", q, W) + l1 * jnp.sum(jnp.abs(W), 1)
          + 0.5 * l2 * jnp.sum(W * W, 1))


def _anderson(Ws, QWs, q, l1, l2):
  """Anderson extrapolation of the last CD iterates (Bertrand & Massias 2021, Alg. 1).

  ``Ws, QWs``: ``(K+1, F, p, B)``. Returns the extrapolated ``(W, QW)`` for the
  problems where it lowers the objective, the last iterate elsewhere (``QW`` is
  linear in ``W``, so it is extrapolated with the same weights).
  """
  K = Ws.shape[0] - 1
  U = Ws[1:] - Ws[:-1]
  C = jnp.einsum("ifpb,jfpb->ijfb", U, U)
  scale = jnp.max(jnp.abs(C), (0, 1))
  C = C / jnp.where(scale > 0, scale, 1) + 1e-12 * jnp.eye(K, dtype=C.dtype)[:, :, None, None]
  z = _solve_ones(C)
  c = z / jnp.sum(z, 0)
  W_acc = jnp.einsum("ifb,ifpb->fpb", c, Ws[1:])
  QW_acc = jnp.einsum("ifb,ifpb->fpb", c, QWs[1:])
  ok = jnp.all(jnp.isfinite(c), 0) & (_objective(W_acc, QW_acc, q, l1, l2)
                                      < _objective(Ws[-1], QWs[-1], q, l1, l2))
  return jnp.where(ok[:, None], W_acc, Ws[-1]), jnp.where(ok[:, None], QW_acc, QWs[-1])


def _cd_solve(Q, q, ynorm2, l1, l2, W0, tol, max_iter, *, block, unroll, check_every, anderson):
  """Minimizes ``½wᵀQ_f w − q_fᵀw + l1‖w‖₁ + l2/2‖w‖²`` for every problem ``(f, b)``.

  ``Q``: ``(F, p, p)`` with ``p`` a multiple of ``block``; ``q``: ``(F, p)``;
  ``ynorm2``: ``(F,)``; ``l1, l2``: ``(F, B)``; ``W0``: ``(F, p, B)``. Every
  ``check_every`` epochs: Anderson extrapolation from the last ``anderson + 1``
  iterates (``anderson = 0``: none), then scikit-learn's stopping rule per
  problem. Returns ``(W, gaps, n_iter)``.
  """
  F, p, B = W0.shape
  n_blocks = p // block
  diag = jnp.diagonal(Q, axis1=1, axis2=2)
  K = min(anderson, check_every)
  first = check_every - K  # iterates first .. check_every are kept for extrapolation
  matvec = lambda W: jnp.einsum("fpq,fqb->fpb", Q, W)

  # Q by blocks of columns, each contiguous: Qcols[b] = Q[:, :, b*block:(b+1)*block].
  Qcols = jnp.moveaxis(Q.reshape(F, p, n_blocks, block), 2, 0)

  def epoch(W, QW):
    if n_blocks == 1:
      return _cd_block(Qcols[0], q, diag, W, QW, 0, p, l1, l2, unroll)
    return lax.fori_loop(
        0, n_blocks, lambda b, c: _cd_block(Qcols[b], q, diag, *c, b * block, block, l1, l2, unroll), (W, QW))

  tol_gap = tol * ynorm2[:, None]
  QW0 = matvec(W0)
  gap0 = _dual_gaps(W0, QW0, q, ynorm2, l1, l2)
  done0 = (gap0 >= 0) & (gap0 <= tol_gap)  # sklearn: checked before the first epoch

  def cond(c):
    W, QW, it, done, gap = c
    return jnp.any(~done & (it < max_iter))

  def body(c):
    W, QW, it, done, gap = c
    def step(i, c):
      W1, W2, QW2, Ws, QWs = c
      W3, QW3 = epoch(W2, QW2)
      if K:
        slot = jnp.maximum(i + 1 - first, 0)
        Ws, QWs = Ws.at[slot].set(W3), QWs.at[slot].set(QW3)
      return W2, W3, QW3, Ws, QWs
    buf = (lambda a: jnp.broadcast_to(a, (K + 1,) + a.shape)) if K else (lambda a: a[:0])
    W1, W2, QW2, Ws, QWs = lax.fori_loop(0, check_every, step, (W, W, QW, buf(W), buf(QW)))
    W3, QW3 = _anderson(Ws, QWs, q, l1, l2) if K else (W2, QW2)
    if jnp.finfo(W3.dtype).bits < 64:  # float32: rounding in the rank-1 updates must not accumulate
      QW3 = matvec(W3)
    dw = jnp.max(jnp.abs(W2 - W1), 1)  # the last plain epoch's largest change
    wmax = jnp.max(jnp.abs(W2), 1)
    gap3 = _dual_gaps(W3, QW3, q, ynorm2, l1, l2)
    active = ~done & (it < max_iter)
    converged = ((wmax == 0) | (dw <= tol * wmax)) & (gap3 <= tol_gap)
    keep = active[:, None]
    return (jnp.where(keep, W3, W), jnp.where(keep, QW3, QW), it + check_every * active,
            done | (active & converged), jnp.where(active, gap3, gap))

  init = (W0, QW0, jnp.zeros((F, B), jnp.int32), done0, gap0)
  W, _, n_iter, _, gap = lax.while_loop(cond, body, init)
  return W, gap, n_iter


def _block_size(p, block):
  """Coordinates per block (measured: all if ``p ≤ 32``, 16 up to ``p = 256``, else 64) and
  how far the loop over a block is unrolled (fully for one block; else 4, for compile time)."""
  if block is None:
    block = p if p <= 32 else 16 if p <= 256 else 64
  block = min(int(block), p)
  return block, (block if block == p else 4)


def _gram_path(Q, q, ynorm2, n, alphas, l1_ratio, tol, max_iter, *, chunk, block, check_every,
               anderson):
  """Solves ``F`` paths (``Q: (F, p, p)``, ``q: (F, p)``, ``ynorm2, n: (F,)``) for decreasing ``alphas``.

  Returns ``(W (F, A, p), gaps (F, A), n_iter (F, A))``. ``chunk`` alphas are solved
  in parallel; successive chunks start from the previous chunk's last
  (smallest-alpha) solution (``chunk = A``: all in parallel from 0). Features are
  visited in decreasing order of ``Σ_f |q_f|``, so that the
  features that enter the path first share blocks and idle blocks are skipped.
  """
  F, p = q.shape
  A = alphas.shape[0]
  block, unroll = _block_size(p, block)
  order = jnp.argsort(-jnp.sum(jnp.abs(q), 0)) if p > block else jnp.arange(p)
  extra = -p % block
  Qp = jnp.pad(Q[:, order][:, :, order], ((0, 0), (0, extra), (0, extra)))
  qp = jnp.pad(q[:, order], ((0, 0), (0, extra)))
  chunk = A if chunk is None else max(1, min(int(chunk), A))
  n_chunks = -(-A // chunk)
  a = jnp.concatenate([alphas, jnp.broadcast_to(alphas[-1:], (n_chunks * chunk - A,))])
  a = a.reshape(n_chunks, chunk)
  l1_ratio = jnp.asarray(l1_ratio, alphas.dtype)
  n = jnp.asarray(n, alphas.dtype)[:, None]

  def solve(w0, a_chunk):
    W0 = jnp.broadcast_to(w0[:, :, None], w0.shape + (chunk,))
    W, gap, it = _cd_solve(Qp, qp, ynorm2, a_chunk * l1_ratio * n, a_chunk * (1 - l1_ratio) * n,
                           W0, tol, max_iter, block=block, unroll=unroll,
                           check_every=check_every, anderson=anderson)
    return W[:, :, -1], (W, gap, it)

  w0 = jnp.zeros(qp.shape, Q.dtype)
  if n_chunks == 1:
    _, (W, gap, it) = solve(w0, a[0])
  else:
    _, (W, gap, it) = lax.scan(solve, w0, a)  # (n_chunks, F, p, chunk)
    W = jnp.moveaxis(W, 0, 2).reshape(F, -1, n_chunks * chunk)
    gap, it = (jnp.moveaxis(x, 0, 1).reshape(F, -1) for x in (gap, it))
  W = jnp.swapaxes(W, 1, 2)[:, :A, :p]  # (F, A, p) in the visiting order
  W = W[:, :, jnp.argsort(order)]
  return W, gap[:, :A] / n, it[:, :A]


def _schedule(p, n_alphas, chunk, check_every, anderson):
  """The defaults, measured on CPU (``experiments/bench_paths.py``).

  ``p ≤ 64``: all alphas in parallel, checked every 10 epochs, with Anderson
  extrapolation (window 5). Larger ``p``: chunks of ``⌈n_alphas·p/2000⌉`` alphas
  (10 of 100 at ``p = 200``, 50 at ``p = 1000``) warm-started one from the next,
  checked every 2 epochs (a chunk runs at least that many), no extrapolation
  (warm starts already leave few epochs to save).
  """
  if chunk is None:
    chunk = n_alphas if p <= 64 else -(-n_alphas * p // 2000)
  chunk = max(1, min(int(chunk), n_alphas))
  parallel = chunk == n_alphas
  check_every = (10 if parallel else 2) if check_every is None else check_every
  anderson = (5 if parallel else 0) if anderson is None else anderson
  for name, v, low in (("check_every", check_every, 1), ("anderson", anderson, 0)):
    if not isinstance(v, numbers.Integral) or v < low:
      raise ValueError(f"{name} must be an integer >= {low}, got {v!r}.")
  return chunk, int(check_every), int(anderson)


@jax.jit(static_argnames=("n_alphas", "chunk", "block", "check_every", "anderson"))
def _enet_path_jit(X, y, alphas, l1_ratio, eps, tol, max_iter, *, n_alphas, chunk, block, check_every,
                   anderson):
  n = X.shape[0]
  Q, q, ynorm2 = X.T @ X, X.T @ y, y @ y
  l1_ratio = jnp.asarray(l1_ratio, X.dtype)
  alphas = _alpha_grid(q, n, l1_ratio, eps, n_alphas) if n_alphas else _sorted_alphas(alphas, X.dtype)
  W, gap, it = _gram_path(Q[None], q[None], ynorm2[None], jnp.full(1, n, X.dtype), alphas, l1_ratio, tol,
                          max_iter, chunk=chunk, block=block, check_every=check_every, anderson=anderson)
  return alphas, W[0], gap[0], it[0]


def enet_path(X, y, *, l1_ratio=0.5, alphas=100, eps=1e-3, tol=1e-4, max_iter=1000,
              chunk=None, block=None, check_every=None, anderson=None, return_info=False):
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
      ``≤ tol·‖y‖²/n`` after an epoch whose largest coefficient change is ``≤ tol·max|w|``.
    max_iter: most epochs (passes over all coordinates) per alpha.
    chunk: number of alphas solved in parallel; successive chunks are warm-started
      from the previous chunk's last solution (``chunk = n_alphas``: all in parallel
      from 0; ``chunk = 1``: scikit-learn's one-by-one warm starts). ``None``: all in
      parallel when ``n_features ≤ 64``, else chunks of ``⌈n_alphas·n_features/2000⌉``
      (measured fastest on CPU).
    block: coordinates per block of the blocked CD (``None``: all when ``≤ 32``,
      16 up to 256 features, else 64).
    check_every: epochs between convergence checks (``None``: 10 when all alphas
      run in parallel, else 2). Epoch counts are multiples of it.
    anderson: Anderson extrapolation from the last ``anderson + 1`` iterates at
      every check (0: off; ``None``: 5 when all alphas run in parallel, else 0). It
      is kept only where it lowers the objective, and cuts the epochs of
      ill-conditioned problems several-fold (diabetes at ``tol=1e-10``: about 120
      instead of about 1 090).
    return_info: also return the duality gaps (``/n``, as scikit-learn) and epoch counts.

  Returns:
    ``(alphas, coefs)`` with ``coefs`` of shape ``(n_alphas, n_features)``; with
    ``return_info``, ``(alphas, coefs, dual_gaps, n_iter)``. A
    :class:`ConvergenceWarning` is issued (outside of ``jit``) if some alpha hit ``max_iter``.

  Example:
    >>> jax.config.update("jax_enable_x64", True)
    >>> X, y = sklearn.datasets.load_diabetes(return_X_y=True)
    >>> X, y = X - X.mean(0), y - y.mean()
    >>> alphas, coefs = jaxreg.paths.enet_path(X, y, l1_ratio=1.0, alphas=100, tol=1e-10)
    >>> coefs.shape
    (100, 10)

  References:
    Friedman, Hastie & Tibshirani, J. Stat. Softw. 33(1), 2010;
    ``sklearn.linear_model.enet_path``.
  """
  X, y = _check_xy(X, y)
  _check_common(l1_ratio, tol, max_iter)
  n_alphas = _check_alphas(alphas, l1_ratio, eps)
  chunk, check_every, anderson = _schedule(X.shape[1], n_alphas or np.shape(alphas)[0], chunk, check_every,
                                          anderson)
  alphas, W, gap, it = _enet_path_jit(
      X, y, None if n_alphas else alphas, l1_ratio, eps, tol, max_iter,
      n_alphas=n_alphas, chunk=chunk, block=block, check_every=check_every, anderson=anderson)
  _warn_unconverged(it, max_iter, "enet_path")
  return (alphas, W, gap, it) if return_info else (alphas, W)


def lasso_path(X, y, *, alphas=100, eps=1e-3, tol=1e-4, max_iter=1000, **kwargs):
  r"""Lasso path: :func:`enet_path` with ``l1_ratio = 1``.

  .. math:: \min_w \frac{1}{2n}\|y - Xw\|^2 + \alpha\|w\|_1

  Args and returns as :func:`enet_path`.

  Example:
    >>> alphas, coefs = jaxreg.paths.lasso_path(X, y)   # 100 alphas, (100, n_features)

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
    ``coefs`` of shape ``(n_alphas, n_features)``.

  Example:
    >>> coefs = jaxreg.paths.ridge_path(X, y, alphas=jnp.logspace(-4, 1, 20))

  References:
    Hoerl & Kennard, *Ridge Regression*, Technometrics 12(1), 1970; Hastie,
    Tibshirani & Friedman, *The Elements of Statistical Learning*, 2nd ed., §3.4.1.
  """
  X, y = _check_xy(X, y)
  if isinstance(alphas, numbers.Number) or np.ndim(alphas) != 1 or np.shape(alphas)[0] < 1:
    raise ValueError(f"alphas must be a non-empty 1-D array of alphas > 0, got {alphas!r}.")
  _trees.check("alphas", alphas, low=0.0, low_open=True)
  return _ridge_path_jit(X, y, jnp.asarray(alphas, X.dtype))


# ---------------------------------------------------------------------------
# Cross-validation


def _kfold(n, k):
  """scikit-learn's unshuffled ``KFold(k)``: contiguous test blocks, the first ``n % k`` one longer."""
  sizes = np.full(k, n // k)
  sizes[: n % k] += 1
  stops = np.cumsum(sizes)
  idx = np.arange(n)
  return [(np.concatenate([idx[: s - m], idx[s:]]), idx[s - m: s]) for s, m in zip(stops, sizes)]


def _check_folds(folds, n):
  if isinstance(folds, numbers.Integral) and not isinstance(folds, bool):
    if not 2 <= folds <= n:
      raise ValueError(f"folds, as an integer, must be in [2, n_samples={n}], got {folds}.")
    return _kfold(n, int(folds))
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


@jax.jit(static_argnames=("n_alphas", "fit_intercept", "complement", "chunk", "block", "check_every", "anderson"))
def _enet_cv_jit(X, y, alphas, l1_ratio, eps, tol, max_iter, tr_idx, tr_w, te_idx, te_w, *,
                 n_alphas, fit_intercept, complement, chunk, block, check_every, anderson):
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

  Q, q, yy, n_tr, mx, my = jax.vmap(fold_stats)(tr_idx, tr_w, te_idx, te_w)
  W, _, it = _gram_path(Q, q, yy, n_tr, alphas, l1_ratio, tol, max_iter,
                        chunk=chunk, block=block, check_every=check_every, anderson=anderson)

  def fold_mse(W, mx, my, te_i, te_m):
    pred = X[te_i] @ W.T + (my - W @ mx)  # (n_test, A)
    return jnp.sum(te_m[:, None] * (pred - y[te_i][:, None]) ** 2, 0) / jnp.sum(te_m)

  mse = jax.vmap(fold_mse)(W, mx, my, te_idx, te_w)
  mse_path = mse.T  # (n_alphas, n_folds)
  best = jnp.argmin(jnp.mean(mse_path, 1))
  alpha = alphas[best]
  # Refit on all rows at the selected alpha, from w = 0 (scikit-learn's refit).
  coef = _gram_path(G[None], Xy[None], (y @ y)[None], jnp.full(1, n, dt), alpha[None], l1_ratio, tol,
                    max_iter, chunk=1, block=block, check_every=check_every, anderson=anderson)[0][0, 0]
  intercept = (y_mean - x_mean @ coef) if fit_intercept else jnp.zeros((), dt)
  return EnetCVResult(alpha, alphas, mse_path, coef, intercept), it


def enet_cv(X, y, *, l1_ratio=1.0, alphas=100, eps=1e-3, folds=5, tol=1e-4, max_iter=1000,
            fit_intercept=True, chunk=None, block=None, check_every=None, anderson=None):
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
  ``coef`` is the refit on all data at that alpha, from ``w = 0``.

  Args:
    X: ``(n_samples, n_features)``.
    y: ``(n_samples,)``.
    l1_ratio: ``ρ`` in ``[0, 1]`` (``1``: ``LassoCV``); may be traced.
    alphas: an int (grid size, see :func:`enet_path`) or a 1-D array of alphas ``> 0``.
    eps: ``alpha_min / alpha_max`` of the automatic grid.
    folds: an int ``k`` (scikit-learn's unshuffled ``KFold(k)``: contiguous test
      blocks) or a sequence of ``(train_indices, test_indices)`` pairs.
    tol, max_iter, chunk, block, check_every, anderson: as :func:`enet_path` (``tol``
      is relative to each fold's centered ``‖y_train‖²``).
    fit_intercept: center per fold and fit an intercept.

  Returns:
    :class:`EnetCVResult` ``(alpha, alphas, mse_path, coef, intercept)`` with
    ``mse_path`` of shape ``(n_alphas, n_folds)``.

  Example:
    >>> res = jaxreg.paths.enet_cv(X, y, folds=5)
    >>> res.alpha, res.coef, res.intercept

  References:
    ``sklearn.linear_model.LassoCV``; Hastie, Tibshirani & Friedman, *The
    Elements of Statistical Learning*, 2nd ed., §7.10.
  """
  X, y = _check_xy(X, y)
  _check_common(l1_ratio, tol, max_iter)
  n_alphas = _check_alphas(alphas, l1_ratio, eps)
  n, p = X.shape
  pairs = _check_folds(folds, n)
  complement = all(_is_partition(tr, te, n) for tr, te in pairs)
  tr_idx, tr_w = _padded([tr for tr, _ in pairs])
  te_idx, te_w = _padded([te for _, te in pairs])
  chunk, check_every, anderson = _schedule(p, n_alphas or np.shape(alphas)[0], chunk, check_every, anderson)
  res, it = _enet_cv_jit(
      X, y, None if n_alphas else alphas, l1_ratio, eps, tol, max_iter,
      tr_idx, tr_w, te_idx, te_w, n_alphas=n_alphas, fit_intercept=bool(fit_intercept),
      complement=complement, chunk=chunk, block=block, check_every=check_every, anderson=anderson)
  _warn_unconverged(it, max_iter, "enet_cv")
  return res


# ---------------------------------------------------------------------------
# Logistic regression


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
  penalty in the prox (:func:`jaxreg.prox.enet_shrink`, so its ridge part needs no
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
    return_info: also return the final prox-gradient mapping norms and iteration counts.

  Returns:
    ``(alphas, coefs)`` with ``coefs`` of shape ``(n_alphas, n_features)``
    (with ``return_info``: ``(alphas, coefs, grad_map_norms, n_iter)``).

  Example:
    >>> X, y = sklearn.datasets.load_breast_cancer(return_X_y=True)
    >>> X = (X - X.mean(0)) / X.std(0)
    >>> alphas, coefs = jaxreg.paths.logistic_path(X, y, alphas=20)

  References:
    Beck & Teboulle, SIAM J. Imaging Sci. 2(1), 2009; O'Donoghue & Candès,
    Found. Comput. Math. 15, 2015; ``sklearn.linear_model.LogisticRegression``.
  """
  X, y = _check_xy(X, y)
  if not _trees.is_traced(y):
    labels = np.unique(np.asarray(y))
    if not np.isin(labels, (0, 1)).all():
      raise ValueError(f"y must hold binary labels 0 and 1, got values {labels[:10]}.")
  _check_common(l1_ratio, tol, max_iter)
  n_alphas = _check_alphas(alphas, l1_ratio, eps)
  alphas, W, gmap, it = _logistic_path_jit(
      X, y, None if n_alphas else alphas, l1_ratio, eps, tol, max_iter, n_alphas=n_alphas)
  _warn_unconverged(it, max_iter, "logistic_path")
  return (alphas, W, gmap, it) if return_info else (alphas, W)
