"""The working-set solver: coordinate descent with working sets and gap-safe screening, every alpha of the
path batched on one working set (in chunks warm-started along the path), for wide (``p > n``), large-``p``
and sparse ``X``.

Memory is ``O(n·p + p·k)`` for a working set of ``k`` features: the full design enters only through
the products ``Xw`` and ``Xᵀr`` (dense, or a scipy.sparse matrix as flat COO arrays in column order
with segment sums, its column offsets subtracted inside the products, never materialized), and the
only Gram matrix ever formed is the ``k × k`` one of the working set. See the Solver section of
:mod:`jaxreg.paths`.

References:
  Massias, Gramfort & Salmon, *Celer: a Fast Solver for the Lasso with Dual Extrapolation*, ICML 2018.
  Bertrand, Klopfenstein, Massias, Blondel, Vaiter, Gramfort & Salmon, *Beyond L1: Faster and Better
  Sparse Models with skglm*, NeurIPS 2022.
  Fercoq, Gramfort & Salmon, *Mind the duality gap: safer rules for the Lasso*, ICML 2015; Ndiaye,
  Fercoq, Gramfort & Salmon, *Gap Safe Screening Rules for Sparsity Enforcing Penalties*, JMLR 18, 2017.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg.paths._cd import _ROUNDING_SAFETY, _block_size, _cd_solve, _gap_from_xta, _unit_roundoff

# ---------------------------------------------------------------------------
# The design as an operator: dense, or sparse (COO in column order), with implicit column offsets


class _Design(NamedTuple):
  """``X − 1·offsetᵀ`` as products (a pytree). Dense: ``dense`` ``(n, p)``; sparse: the nonzeros in column
  order (CSC: ``data, rows, cols`` ``(nnz,)`` and ``indptr`` ``(p + 1,)``) and in row order (CSR: ``rdata,
  rcols`` ``(nnz,)``, ``rindptr`` ``(n + 1,)``), for products with ``X`` and ``Xᵀ`` as CSR matrix products
  (jax's ``bcsr_dot_general``: a native sparse kernel on CPU and GPU, 4-6 times faster here than segment sums
  over the nonzeros). ``offset``: ``(p,)`` (zeros: none)."""
  dense: jax.Array | None
  offset: jax.Array
  data: jax.Array | None = None
  rows: jax.Array | None = None
  cols: jax.Array | None = None
  indptr: jax.Array | None = None
  rdata: jax.Array | None = None
  rcols: jax.Array | None = None
  rindptr: jax.Array | None = None

  @property
  def shape(self):
    n = self.dense.shape[0] if self.dense is not None else self.rindptr.shape[0] - 1
    return n, self.offset.shape[0]

  @property
  def dtype(self):
    return self.offset.dtype

  def sparse_products(self, absolute=False):
    """``(X, Xᵀ)`` as :class:`jax.experimental.sparse.BCSR` matrices (``|X|``, ``|X|ᵀ`` if ``absolute``)."""
    n, p = self.shape
    a = jnp.abs if absolute else (lambda v: v)
    return (_bcsr()((a(self.rdata), self.rcols, self.rindptr), shape=(n, p)),
            _bcsr()((a(self.data), self.rows, self.indptr), shape=(p, n)))


def _dense_design(X, offset=None):
  return _Design(X, jnp.zeros(X.shape[1], X.dtype) if offset is None else offset)


def _sparse_design(X, dtype, offset=None):
  """A scipy.sparse matrix (any format) as a :class:`_Design`: its nonzeros in column (CSC) and row (CSR) order."""
  Xc, Xr = X.tocsc(), X.tocsr()
  Xc.sort_indices()
  Xr.sort_indices()
  n, p = Xc.shape
  cols = np.repeat(np.arange(p, dtype=np.int32), np.diff(Xc.indptr))
  off = jnp.zeros(p, dtype) if offset is None else jnp.asarray(offset, dtype)
  i32 = lambda a: jnp.asarray(a, np.int32)
  return _Design(None, off, jnp.asarray(Xc.data, dtype), i32(Xc.indices), i32(cols), i32(Xc.indptr),
                 jnp.asarray(Xr.data, dtype), i32(Xr.indices), i32(Xr.indptr))


def _max_col_nnz(D):
  """The most nonzeros of a column of a sparse design (0 for a dense one): a static size of the programs."""
  return 0 if D.dense is not None else int(np.max(np.diff(np.asarray(D.indptr))))


def _bcsr():
  """``jax.experimental.sparse.BCSR``, imported when a sparse design is used (it imports scipy, which importing
  jaxreg must not)."""
  from jax.experimental.sparse import BCSR
  return BCSR


def _ws_gram(D, idx, y, m):
  """``(Q, q)``: the Gram matrix ``X_Sᵀ X_S`` and ``X_Sᵀ y`` of the columns ``S = idx`` of ``X − 1·offsetᵀ``.

  Dense, or sparse with columns of up to ``m`` nonzeros where ``8m > n``: from the dense ``n × k`` columns
  (``n·k²``). Sparse otherwise: the columns' nonzeros, read through the CSC pointers as a ``(k, m)`` block,
  form a CSR matrix ``X_Sᵀ`` whose product with the dense uncentered columns is ``Q`` (``k²·m`` flops, not
  ``n·k²``; 3 times faster than gathering the block's rows at 20 000 × 5 000, density 0.002, ``k = 1024``),
  the offsets applied as rank-one corrections.
  """
  n, p = D.shape
  k = idx.shape[0]
  if D.dense is not None or 8 * m > n:
    cols = _columns(D, idx)
    return cols.T @ cols, y @ cols
  start = D.indptr[idx]
  t = jnp.arange(m)
  valid = t[None] < (D.indptr[idx + 1] - start)[:, None]
  e = jnp.where(valid, start[:, None] + t[None], 0)
  r, v = D.rows[e], jnp.where(valid, D.data[e], 0)  # (k, m): the rows and values of each column's nonzeros
  raw = jnp.zeros((n, k), D.dtype).at[r, jnp.arange(k)[:, None]].add(v)  # the uncentered columns
  XsT = _bcsr()((v.ravel(), r.ravel(), jnp.arange(0, (k + 1) * m, m, dtype=r.dtype)), shape=(k, n))
  Q = XsT @ raw
  q = XsT @ y
  off, colsum = D.offset[idx], jnp.sum(v, 1)
  Q = Q - colsum[:, None] * off[None] - off[:, None] * colsum[None] + n * off[:, None] * off[None]
  return Q, q - off * jnp.sum(y)


def _matvec(D, w, absolute=False):
  """``(X − 1·offsetᵀ) w`` (``absolute``: an upper bound of ``|X − 1·offsetᵀ|·w`` for ``w ≥ 0``); ``w``
  ``(p,)`` or ``(p, A)``."""
  if D.dense is not None:
    Xw = (jnp.abs(D.dense) if absolute else D.dense) @ w
  else:
    Xw = D.sparse_products(absolute)[0] @ w
  off = jnp.abs(D.offset) if absolute else D.offset
  return Xw + off @ w if absolute else Xw - off @ w


def _rmatvec(D, r, absolute=False):
  """``(X − 1·offsetᵀ)ᵀ r`` (``absolute``: an upper bound of ``|X − 1·offsetᵀ|ᵀ r`` for ``r ≥ 0``); ``r``
  ``(n,)`` or ``(n, A)``."""
  if D.dense is not None:
    Xr = (r.T @ (jnp.abs(D.dense) if absolute else D.dense)).T  # not Xᵀr: XLA's CPU matvec with Xᵀ is 20x slower
  else:
    Xr = D.sparse_products(absolute)[1] @ r
  off = jnp.abs(D.offset) if absolute else D.offset
  off = off if r.ndim == 1 else off[:, None]
  return Xr + off * jnp.sum(r, 0) if absolute else Xr - off * jnp.sum(r, 0)


def _columns(D, idx):
  """The columns ``idx`` (``(k,)``) of ``X − 1·offsetᵀ`` as a dense ``(n, k)`` array."""
  n, p = D.shape
  k = idx.shape[0]
  if D.dense is not None:
    cols = jnp.take(D.dense, idx, axis=1)
  else:  # scatter the nonzeros of the chosen columns; the others land in a dropped extra column
    pos = jnp.full(p, k, jnp.int32).at[idx].set(jnp.arange(k, dtype=jnp.int32))
    cols = jnp.zeros((n, k + 1), D.dtype).at[D.rows, pos[D.cols]].add(D.data)[:, :k]
  return cols - D.offset[idx]


def _col_norms2(D):
  """``‖x_j − offset_j‖²`` for every column, without cancellation (sparse: over the nonzeros, plus
  ``(n − nnz_j)·offset_j²`` for the zeros, as scikit-learn's sparse solver)."""
  n, p = D.shape
  if D.dense is not None:
    return jnp.sum((D.dense - D.offset) ** 2, 0)
  seg = functools.partial(jax.ops.segment_sum, segment_ids=D.cols, num_segments=p, indices_are_sorted=True)
  nnz = seg(jnp.ones_like(D.data))
  return seg((D.data - D.offset[D.cols]) ** 2) + (n - nnz) * D.offset ** 2


_col_norms2_jit = jax.jit(_col_norms2)


# ---------------------------------------------------------------------------
# Duality gaps of the full problem, from the residuals, for all alphas at once


def _full_gaps(D, y, W, l1, l2, positive, bound):
  """scikit-learn's duality gaps (``n``-scaled) of the rows of ``W`` (``(A, p)``) on the full problem,
  from ``r = y − Xw``. Returns ``(gaps, bounds, xta, s)`` with ``xta = Xᵀr − l2·w`` ``(A, p)`` and ``s``
  the dual scalings; ``bounds`` (when asked, else 0) bound the rounding errors of the gaps to first
  order, as :func:`jaxreg.paths._cd._residual_gaps` (with ``|X|`` as products of the operator)."""
  R = y[:, None] - _matvec(D, W.T)  # (n, A)
  xta = _rmatvec(D, R).T - l2[:, None] * W
  r2 = jnp.sum(R * R, 0)
  gap, s, dual_norm = (g[0] for g in _gap_from_xta(W.T[None], xta.T[None], r2[None], l1[None], l2[None], positive))
  if not bound:
    return gap, jnp.zeros_like(gap), xta, s
  u = _unit_roundoff(W.dtype)
  aW, axta = jnp.abs(W), jnp.abs(xta)
  z = _matvec(D, aW.T, absolute=True)  # (n, A)
  m = z + jnp.abs(y)[:, None] + jnp.abs(R)
  wl2 = jnp.sum(W * W, 1)
  e = _rmatvec(D, m, absolute=True).T  # (A, p): the error scales of xta
  star = jnp.argmax(xta if positive else axta, 1)
  ds = jnp.take_along_axis(e, star[:, None], 1)[:, 0] / jnp.where(dual_norm > 0, dual_norm, 1)
  bound_a = (jnp.sum(z * m, 0) + l1 * jnp.sum(aW, 1) + l2 * wl2
             + ds * (jnp.sum(axta * aW, 1) + (1 - s) * (r2 + l2 * wl2))
             + (1 - s) ** 2 * jnp.sqrt(r2 * jnp.sum(z * z, 0)) + u * ds ** 2 * r2)
  bound_b = (jnp.sum(axta * e, 1) + l2 * jnp.sum(axta * aW, 1)) / jnp.where(l2 > 0, l2, 1)
  return gap, _ROUNDING_SAFETY * u * jnp.where(l1 > 0, bound_a, bound_b), xta, s


# ---------------------------------------------------------------------------
# The path: all alphas batched on one working set, grown from the violations of the dual constraints

# Working sets have at least this many features; each outer iteration the size is at least twice the
# support (the union over the unsolved alphas) and twice the previous size (Massias et al. 2018;
# Bertrand et al. 2022).
_WS_MIN = 16
# Outer iterations before the unsolved alphas are given up as stalled (sizes double each time: reached
# only when rounding stalls the inner solves).
_MAX_OUTER = 40
# The inner solves run the alphas in this many chunks, warm-started one from the next, with Anderson
# extrapolation every 10 epochs (measured on a 50 × 500 lasso path at tol 1e-10: 1.1 s against 2.7 s for 4
# chunks, 1.4 s for 20, 6.5 s for all alphas in parallel, 5.5 s without extrapolation).
_WS_CHUNKS = 10
# Inner solves stop at this fraction of each alpha's current full gap (celer's 0.3), or at tol/2.
_INNER_FRACTION = 0.3


# Working-set sizes compiled for (each size is one program, ~1.5-5 s to compile on a 2-core CPU): 64, then
# powers of 2 from 256, the last one p. Unused slots cost little in the CD epochs (their blocks of the inner
# Gram matrix are skipped) but the Gram matrix itself costs K²: a support of 170 on the sparse 20 000 × 5 000
# path asks for 340 features, and K = 1024 instead of 512 made that solve twice as slow (0.09 s against 0.05 s).
_BUCKET_MIN = 64


def _buckets(p):
  """Working-set sizes compiled for: ``64, 256, 512, 1024, …`` below ``p``, then ``p``."""
  sizes, k = [], _BUCKET_MIN
  while k < p:
    sizes.append(k)
    k = 4 * k if k < 256 else 2 * k
  return sizes + [p]


def _bucket(p, need):
  return next(k for k in _buckets(p) if k >= min(need, p))


@functools.partial(jax.jit, static_argnames=("positive", "bound"))
def _ws_check(D, y, W, alphas, l1_ratio, active, norms2, *, positive, bound):
  """The full gaps of ``W`` and the working-set priorities of the features over the ``active`` alphas
  (``norms2``: :func:`_col_norms2`).

  Returns ``(gaps, bounds, Wz, priority, n_support, n_free)``: ``Wz`` is ``W`` with the coefficients that
  gap-safe screening (Fercoq et al. 2015; scikit-learn's rule, the radius widened by the gap's rounding
  bound and a few units of roundoff) proves 0 set to 0, to continue from (the gaps are those of ``W``);
  ``priority`` per feature, ``+inf`` on the support of an active alpha, else minus
  the smallest distance of ``x_j`` to its dual constraint over the active alphas where it is not screened
  (``−inf``: screened at all of them).
  """
  n, p = D.shape
  l1 = alphas * l1_ratio * n
  l2 = alphas * (1 - l1_ratio) * n
  gaps, bounds, xta, s = _full_gaps(D, y, W, l1, l2, positive, bound)
  l1_ = jnp.where(l1 > 0, l1, 1)[:, None]
  corr = xta if positive else jnp.abs(xta)  # positive: the dual constraint is one-sided, x_jᵀθ ≤ 1
  dist = (1 - corr * s[:, None] / l1_) / jnp.sqrt(norms2[None] + l2[:, None])  # (A, p)
  radius = jnp.sqrt(2 * (gaps + bounds))[:, None] / l1_
  slack = 8 * _unit_roundoff(W.dtype) / jnp.sqrt(norms2[None] + l2[:, None] + jnp.finfo(W.dtype).tiny)
  screened = ((l1[:, None] > 0) & (dist > radius + slack)) | (norms2 == 0)[None]
  W = jnp.where(screened & active[:, None], 0, W)
  support = jnp.any((W != 0) & active[:, None], 0)
  live = ~screened & active[:, None]
  closest = jnp.min(jnp.where(live, dist, jnp.inf), 0)
  priority = jnp.where(support, jnp.inf, jnp.where(jnp.any(live, 0), -closest, -jnp.inf))
  return (gaps, bounds, W, priority, jnp.sum(support, dtype=jnp.int32),
          jnp.sum(priority > -jnp.inf, dtype=jnp.int32))


@functools.partial(jax.jit, static_argnames=("K", "chunk", "check_every", "anderson", "positive", "block", "m"))
def _ws_solve(D, y, W, alphas, l1_ratio, priority, k, tol_in, budget, active, *, K, chunk, check_every, anderson,
              positive, block=None, m=0):
  """Solves the path restricted to the ``k ≤ K`` features of highest ``priority``: their ``k × k`` Gram
  matrix, all alphas batched (chunks of ``chunk`` alphas in a ``lax.scan``), warm-started from ``W``
  (an alpha still at 0 starts from the previous chunk's last solution). Returns ``(W, epochs, stalled)``;
  the rows of inactive alphas are returned unchanged."""
  n, p = D.shape
  A = alphas.shape[0]
  block, unroll = _block_size(K, block)
  Kp = -(-K // block) * block  # a multiple of the block (the padded slots are unused)
  _, idx = lax.top_k(priority, K)
  Q, q = _ws_gram(D, idx, y, m)  # distinct indices (the padding below repeats idx 0)
  idx = jnp.pad(idx, (0, Kp - K))
  use = (jnp.arange(Kp) < jnp.minimum(k, K)) & (priority[idx] > -jnp.inf)
  Q = jnp.pad(Q, ((0, Kp - K), (0, Kp - K))) * use[:, None] * use[None]
  q = jnp.pad(q, (0, Kp - K)) * use
  ynorm2 = y @ y
  l1, l2 = alphas * l1_ratio * n, alphas * (1 - l1_ratio) * n
  n_chunks = -(-A // chunk)
  pad = n_chunks * chunk - A
  padded = lambda a: jnp.concatenate([a, jnp.broadcast_to(a[-1:], (pad,) + a.shape[1:])]).reshape(
      (n_chunks, chunk) + a.shape[1:])
  W0 = jnp.where(use[None], W[:, idx], 0)  # (A, Kp)
  xs = (padded(W0), padded(l1), padded(l2), padded(tol_in), padded(budget))

  def one(last, x):
    w0, l1c, l2c, tolc, budc = x
    cold = jnp.all(w0 == 0, 1, keepdims=True)
    w0 = jnp.where(cold, last[None], w0)
    Wc, _, _, it, st = _cd_solve(Q[None], q[None], ynorm2[None], l1c[None], l2c[None], w0.T[None], tolc[None],
                                 budc[None], block=block, unroll=unroll, check_every=check_every,
                                 anderson=anderson, positive=positive, gap_only=True)
    Wc = Wc[0].T  # (chunk, Kp)
    return Wc[-1], (Wc, it[0], st[0])

  _, (Wn, it, st) = lax.scan(one, jnp.zeros(Kp, W.dtype), xs)
  Wn, it, st = (a.reshape((n_chunks * chunk,) + a.shape[2:])[:A] for a in (Wn, it, st))
  Wfull = jnp.zeros_like(W).at[:, idx].add(jnp.where(use[None], Wn, 0))  # add: padded slots repeat idx 0
  return jnp.where(active[:, None], Wfull, W), jnp.where(active, it, 0), st & active


def _ws_path(D, y, alphas, l1_ratio, tol, max_iter, solver, positive=False):
  """The working-set path of :func:`jaxreg.paths.enet_path`: returns ``(W (A, p), gaps, bounds, n_iter,
  stalled)``, the gaps and their rounding bounds divided by ``n``: those of the returned coefficients,
  from the residuals on the full problem.

  Outer iterations (a loop on the host, one compiled program per working-set size ``K``, a power of 2,
  compiled the first time it is needed): the full gaps of every alpha; alphas whose gap is ``≤ tol·‖y‖²``
  are final; the others get a working set (their supports, then the features closest to violating their
  dual constraints, gap-safe screened features never) on which the path is solved again, batched, to
  ``_INNER_FRACTION`` of the current gaps. Needs concrete inputs (:func:`jaxreg.paths.enet_path` takes the
  Gram solver under a trace).
  """
  n, p = D.shape
  dt = D.dtype
  A = alphas.shape[0]
  bound = jnp.finfo(dt).bits < 64
  l1_ratio = jnp.asarray(l1_ratio, dt)
  ynorm2 = float(y @ y)
  tol_gap = tol * ynorm2
  W = jnp.zeros((A, p), dt)
  epochs = np.zeros(A, np.int64)
  final = np.zeros(A, bool)
  stalled = np.zeros(A, bool)
  gaps = bounds = np.zeros(A)
  prev_gaps = np.full(A, np.inf)
  inner_stalled = np.zeros(A, bool)
  check_every = 10 if solver.check_every is None else solver.check_every
  anderson = 5 if solver.anderson is None else solver.anderson
  k_prev = 0
  m = _max_col_nnz(D)
  norms2 = _col_norms2_jit(D)  # once: a pass over X in every check cost 1/4 of it on a 10 000 × 1 000 X
  K_first = _bucket(p, min(2 * n, 256))
  k_first = max(_WS_MIN, min(n, 128))  # the first working set: n features (a lasso support has at most n), ≤ 128
  for t in range(_MAX_OUTER + 1):
    active = jnp.asarray(~final)
    g, b, Wz, priority, n_support, n_free = _ws_check(D, y, W, alphas, l1_ratio, active, norms2, positive=positive,
                                                     bound=bound)
    g, b = np.asarray(g, np.float64), np.asarray(b, np.float64)
    gaps, bounds = np.where(final, gaps, g), np.where(final, bounds, b)
    ok = gaps <= tol_gap
    limited = (bounds > 0.5 * tol_gap) & (gaps <= 2 * bounds)  # low precision: more epochs cannot certify
    stuck = inner_stalled & (gaps >= 0.9 * prev_gaps)
    out = (epochs >= max_iter) | (t == _MAX_OUTER) | ~np.isfinite(gaps)
    newly = ~final & (ok | limited | stuck | out)
    stalled |= newly & ~ok & (limited | stuck | (t == _MAX_OUTER))
    final |= newly
    if final.all():
      break
    W = jnp.where(jnp.asarray(final)[:, None], W, Wz)
    # The size doubles when some unsolved alpha's gap did not at least halve (the working set missed
    # features), else it follows the support.
    slow_progress = bool(np.any(~final & (gaps > 0.5 * prev_gaps)))
    k = min(max(k_first, 2 * int(n_support), 2 * k_prev if slow_progress else k_prev), int(n_free))
    k = max(k, int(n_support))
    # The first program holds 2·n features (a lasso support has at most n), up to 256: usually the only one.
    K = max(_bucket(p, k), K_first)
    chunk = -(-A // _WS_CHUNKS) if solver.chunk is None else min(solver.chunk, A)
    tol_in = np.maximum(_INNER_FRACTION * gaps, 0.5 * tol_gap) / (ynorm2 if ynorm2 > 0 else 1)
    W, it, st = _ws_solve(D, y, W, alphas, l1_ratio, priority, k, jnp.asarray(tol_in, dt),
                          jnp.asarray(np.maximum(max_iter - epochs, 1), jnp.int32), jnp.asarray(~final),
                          K=K, chunk=chunk, check_every=check_every, anderson=anderson, block=solver.block, m=m,
                          positive=positive)
    epochs += np.asarray(it)
    inner_stalled = np.asarray(st)
    prev_gaps = gaps
    k_prev = k
  n_iter = np.where(final & ~(gaps <= tol_gap) & (epochs >= max_iter), np.maximum(epochs, max_iter), epochs)
  return (W, jnp.asarray(gaps / n, dt), jnp.asarray(bounds / n, dt), jnp.asarray(n_iter, jnp.int32),
          jnp.asarray(stalled))
