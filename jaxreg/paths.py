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
``S`` = ``soft_threshold``. Coordinates are processed in blocks:
inside a block only the block's entries of ``Qw`` are updated (exact cyclic CD),
and after the block ``Qw`` is updated with one matrix product (BLAS-3). Blocks
whose coefficients are all zero and provably stay zero for every alpha are
skipped (exactly: ``|q_j − (Qw)_j| ≤ n·alpha·ρ``), and features are visited in
decreasing order of ``|Xᵀy|`` so that early-entering features share blocks. Every
``check_every`` epochs, Anderson extrapolation of the last iterates (Bertrand &
Massias 2021) is tried and kept where it lowers the objective by more than
rounding could fake (see Precision), ``Qw`` is recomputed in float32 (no drift of
the rank-1 updates), and scikit-learn's stopping rule is applied per alpha: the
last epoch's largest coefficient change is ``≤ tol·max|w|`` and the duality gap
(formulation A of ``sklearn/linear_model/_cd_fast.pyx``, divided by ``n``) is
``≤ tol·‖y‖²/n``. Converged alphas are frozen while the others go on.

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
``tol=1e-10``. In float32 (JAX's default) every returned solution has a duality
gap ``≤ tol·‖y‖²/n`` up to float32 rounding of the gap (~1e-6·‖y‖²/n, up to
~1e-5 on wide or strongly correlated ``X``), or a :class:`ConvergenceWarning`
says which of two things happened: ``max_iter`` ran out ("increase max_iter"),
or float32 cannot certify a ``tol`` that small for this problem (typically below
~1e-6; the warning gives the level). Four things make that so:

* The duality gap is computed as a sum of non-negative terms,
  ``½(1 − s)²(‖r‖² + l2‖w‖²) + Σ_j (l1|w_j| − s·(Xᵀr − l2·w)_j·w_j)``, which equals
  scikit-learn's ``primal − dual`` but does not subtract two numbers of size
  ``‖y‖²`` (which lost ~7 digits in float32).
* ``XᵀX`` rounded to float32 is not positive semidefinite when ``X`` is wide or
  collinear (its eigenvalues reach ``≈ −u·tr(XᵀX)``, ``−2e-6`` for a 10 × 40
  Gaussian ``X``), so the Gram-form objective is unbounded below along those
  directions. Coordinate descent stays near the true solution, but Anderson
  extrapolation ran far along them and was kept because that objective fell:
  ``‖w‖₁ ≈ 1e5`` and objectives 1e7 times scikit-learn's. An extrapolation is now
  kept only where the objective change, computed from the step (not as a
  difference of objectives), is negative by more than its rounding error plus
  ``½ε·max(0, ‖w_new‖² − ‖w_old‖²)`` with ``ε ≥ ‖fl(XᵀX) − XᵀX‖₂``: every kept step
  lowers a convex objective, bounded below.
* The gaps reported (``return_info``) and checked for the warning are those of
  the returned coefficients: from the residuals ``r = y − Xw`` in the data where
  the Gram form's rounding bound is not below ``tol/4`` (float32 only; the Gram
  form inherits the rounding of ``XᵀX``), with a rounding bound of their own.
* Where an epoch no longer changes any coefficient by more than 4 units of
  roundoff (the fixed point of coordinate descent in that precision), the solver
  stops instead of running to ``max_iter``.

Non-finite results are never returned: a ``ValueError`` names the cause (``X`` or
``y`` non-finite or too large for the dtype, ``XᵀX``/``Xᵀy``/``‖y‖²`` overflowing, a
non-finite solution). Under ``jit`` nothing can be checked: a non-finite result
then comes back as it is (and :func:`enet_cv` skips NaN errors when it selects).

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
from jaxreg._leaf import enet_shrink, soft_threshold

__all__ = [
    "ConvergenceWarning", "EnetCVResult", "enet_cv", "enet_path", "lasso_path",
    "logistic_path", "ridge_path",
]


class ConvergenceWarning(UserWarning):
  """Some alphas did not reach ``tol``: ``max_iter`` ran out, or the dtype's rounding cannot certify it."""


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


# ---------------------------------------------------------------------------
# Validation


def _check_xy(X, y):
  """Shapes, dtype and finiteness of the data; returns jnp arrays of one float dtype."""
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
    kind = np.dtype(a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype).kind
    if kind not in "biuf":
      raise ValueError(f"{name} must hold real numbers, got dtype {getattr(a, 'dtype', np.asarray(a).dtype)}.")
  dtype = jnp.result_type(float, X, y)
  for name, a in (("X", X), ("y", y)):
    if _trees.is_traced(a):
      continue
    if not np.isfinite(np.asarray(a)).all():
      raise ValueError(f"{name} contains NaN or inf; remove or impute those entries first.")
    with np.errstate(over="ignore"):
      overflows = not np.isfinite(np.asarray(a).astype(np.dtype(dtype))).all()
    if overflows:
      raise ValueError(
          f"{name} has values too large for {dtype} (max |{name}| = {np.max(np.abs(np.asarray(a))):.3g}, "
          f"{dtype} overflows above {float(jnp.finfo(dtype).max):.3g}): rescale it, or use float64 "
          "(jax.config.update('jax_enable_x64', True)).")
  return jnp.asarray(X, dtype), jnp.asarray(y, dtype)


def _check_alphas(alphas, l1_ratio, eps):
  """Validates ``alphas`` (an int = grid size, or an array of strengths > 0); returns the int or ``None``."""
  if np.ndim(alphas) == 0 and not _trees.is_traced(alphas):
    try:
      n_alphas = _trees.check_int("alphas", alphas, low=1)
    except ValueError as err:
      raise ValueError(f"{err} An integer alphas is the number of alphas of an automatic grid; pass given "
                       f"alphas as a 1-D array, e.g. [{alphas!r}].") from None
    _trees.check("eps", eps, low=0.0, low_open=True, scalar=True)
    if not _trees.is_traced(l1_ratio) and np.all(np.asarray(l1_ratio) == 0):
      raise ValueError(
          "alphas as an integer (an automatic grid) needs l1_ratio > 0, got l1_ratio=0: the grid "
          "starts at max|X^T y|/(n*l1_ratio); pass an explicit array of alphas instead.")
    return n_alphas
  if np.ndim(alphas) != 1 or np.shape(alphas)[0] < 1:
    raise ValueError(f"alphas must be an integer or a non-empty 1-D array, got shape {np.shape(alphas)}.")
  _trees.check("alphas", alphas, low=0.0, low_open=True)
  return None


def _check_common(l1_ratio, tol, max_iter):
  """Validates the float hyperparameters; returns ``max_iter`` as an int."""
  _trees.check("l1_ratio", l1_ratio, high=1.0, scalar=True)
  _trees.check("tol", tol, scalar=True)
  return _trees.check_int("max_iter", max_iter, low=1)


def _warn_unconverged(n_iter, max_iter, what):
  if _trees.is_traced(n_iter):
    return
  n_bad = int(np.sum(np.asarray(n_iter) >= max_iter))
  if n_bad:
    warnings.warn(
        f"{what}: {n_bad} problem(s) did not reach tol within max_iter={max_iter}; increase "
        "max_iter or tol (in float32, tol below ~1e-5 cannot be reached).", ConvergenceWarning,
        stacklevel=3)


class _Status(NamedTuple):
  """What a solve says about each of its problems (arrays shaped like its gaps), for :func:`_report`."""
  bounds: jax.Array  # rounding-error bounds of the gaps (0 where not estimated)
  n_iter: jax.Array
  stalled: jax.Array  # stopped at the fixed point of CD in the dtype, before tol
  scale: jax.Array  # ‖y‖²/n: tol·scale is the largest gap tol allows
  stats_finite: jax.Array  # XᵀX, Xᵀy and ‖y‖² are finite


def _check_finite(what, X, y, W, gaps, status):
  """Refuses (``ValueError``) a non-finite solution, naming the cause; silent when traced."""
  if any(_trees.is_traced(a) for a in (W, gaps, status.stats_finite)):
    return
  dtype = np.asarray(W).dtype
  if not np.all(np.asarray(status.stats_finite)):
    raise ValueError(
        f"{what}: X^T X, X^T y or y^T y overflows in {dtype} (max |X| = {float(jnp.max(jnp.abs(X))):.3g}, "
        f"max |y| = {float(jnp.max(jnp.abs(y))):.3g}), so no finite solution can be computed: rescale X "
        "and y (e.g. standardize them) or use float64 (jax.config.update('jax_enable_x64', True)).")
  W, gaps = np.asarray(W), np.asarray(gaps)
  bad = ~np.isfinite(W).all(-1) | ~np.isfinite(gaps)
  if bad.any():
    raise ValueError(
        f"{what}: coordinate descent produced non-finite coefficients or duality gaps for {int(bad.sum())} "
        f"of {bad.size} problem(s) in {dtype}: the data may contain values too large (or too small) for "
        "it; rescale X and y (e.g. standardize them).")


def _report(what, gaps, status, tol, max_iter):
  """ConvergenceWarnings that say what is true of the problems whose gap is not certified ``≤ tol``.

  ``gaps`` and ``status`` are for one batch of problems (any shape). A gap reaches ``tol`` when it
  is ``≤ tol·‖y‖²/n`` up to its rounding bound, and that bound is itself ``≤ tol·‖y‖²/n``. The
  others either ran out of ``max_iter`` with a gap still well above its rounding bound ("increase
  max_iter"), or are limited by the rounding of the dtype: stalled at the fixed point of CD in
  that precision, a gap within twice its rounding bound, or a bound above ``tol`` ("cannot
  certify tol below ...").
  """
  if any(_trees.is_traced(a) for a in (gaps, *status)):
    return
  gaps, bounds, it, stalled, scale = (np.asarray(a, np.float64) for a in (gaps, *status[:4]))
  scale = np.broadcast_to(scale, gaps.shape)
  scale = np.where(scale > 0, scale, 1)
  tol_gap = tol * scale
  unmet = ~(gaps <= tol_gap + bounds) | ((bounds > tol_gap) & (gaps > tol_gap))
  slow = unmet & (it >= max_iter) & (stalled == 0) & ~(gaps <= 2 * bounds)  # still far above rounding
  limited = unmet & ~slow
  rel, rel_b = gaps / scale, bounds / scale
  dtype = np.asarray(status.bounds).dtype
  if limited.any():
    g, b = rel[limited].max(), rel_b[limited].max()
    top = max(g, b)
    unit = 10.0 ** np.floor(np.log10(top))
    limit = unit * np.ceil(top / unit * (1 - 1e-9))  # top rounded up to one significant digit
    hint = "" if dtype == np.float64 else " or float64 (jax.config.update('jax_enable_x64', True))"
    warnings.warn(
        f"{what}: {int(limited.sum())} of {gaps.size} problem(s) did not reach tol={tol:g}: {dtype} "
        f"cannot certify tol below ~{limit:.0e} here. Their duality gaps, relative to ||y||^2/n as tol is, "
        f"are up to {g:.2g} with a rounding error of up to {b:.1g}, which more epochs do not remove: "
        f"use tol >= {limit:.0e}{hint}.", ConvergenceWarning, stacklevel=3)
  if slow.any():
    floor = rel_b[slow].max()
    floor = f" (in {dtype}, gaps below ~{floor:.0e} cannot be certified here)" if floor > tol else ""
    warnings.warn(
        f"{what}: {int(slow.sum())} of {gaps.size} problem(s) did not reach tol={tol:g} within "
        f"max_iter={max_iter} epochs (duality gaps relative to ||y||^2/n, as tol is, up to "
        f"{rel[slow].max():.2g}); increase max_iter{floor}.", ConvergenceWarning, stacklevel=3)


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
# Duality gaps, computed without cancellation


def _unit_roundoff(dtype):
  return float(jnp.finfo(dtype).eps) / 2


def _gap_from_xta(W, xta, r_norm2, l1, l2):
  """scikit-learn's duality gap as a sum of terms that are each ``≥ 0`` (no cancellation).

  ``W, xta``: ``(F, p, B)`` with ``xta = Xᵀr − l2·w`` and ``r = y − Xw``; ``r_norm2 = ‖r‖²``,
  ``l1, l2``: ``(F, B)``, the ``n``-scaled penalties. Formulation A of ``_cd_fast.pyx`` (``l1 > 0``)
  takes the dual point ``s·r`` with ``s = min(1, l1 / max|xta|)``; with ``rᵀy = ‖r‖² + l2‖w‖² + xtaᵀw``
  its ``primal − dual`` is exactly

    ``½(1 − s)²(‖r‖² + l2‖w‖²) + Σ_j (l1|w_j| − s·xta_j·w_j)``,

  every term of which is ``≥ 0`` (``s·|xta_j| ≤ l1``), so the sum keeps its relative precision; the
  textbook ``primal − dual`` subtracts two numbers of size ``‖y‖²`` and loses ~7 digits in float32.
  Formulation B (``l1 = 0``, ridge) is likewise ``‖xta‖² / (2·l2)``. Returns ``(gap, s, max|xta|)``.
  """
  wl2 = jnp.sum(W * W, 1)
  dual_norm = jnp.max(jnp.abs(xta), 1)
  s = jnp.where(dual_norm > l1, l1 / jnp.where(dual_norm > 0, dual_norm, 1), 1)
  gap_a = (0.5 * (1 - s) ** 2 * (r_norm2 + l2 * wl2)
           + jnp.sum(l1[:, None] * jnp.abs(W) - s[:, None] * xta * W, 1))
  gap_b = jnp.sum(xta * xta, 1) / (2 * jnp.where(l2 > 0, l2, 1))
  return jnp.where(l1 > 0, gap_a, gap_b), s, dual_norm


# Safety factor on the first-order rounding bounds below (the unit roundoff times the sum of the
# magnitudes of the terms): the errors measured on wide, square, tall and correlated float32 problems
# stayed below 0.4 of the bound.
_ROUNDING_SAFETY = 4.0


def _gram_gaps(W, QW, q, ynorm2, l1, l2, d=None):
  """The duality gaps from the Gram quantities (``W, QW``: ``(F, p, B)``; ``q``: ``(F, p)``).

  With the column norms ``d = ‖x_j‖`` (``(F, p)``), also returns a bound on their distance to the
  gaps of the exact ``XᵀX``, ``_ROUNDING_SAFETY·u·(2·s_w·t + (1 − s)·t² + l1‖w‖₁ + l2‖w‖²)``
  (formulation A; ``s_w = Σ_j d_j|w_j|``, ``t = ‖y‖ + s_w``, the scales of ``XᵀXw`` and ``Xᵀy`` by
  Cauchy–Schwarz). It covers the rounding of ``XᵀX`` itself: the errors measured on wide, square,
  tall, correlated and badly scaled float32 problems stayed below ``3.4·u·s_w·t``.
  """
  xta = q[:, :, None] - QW - l2[:, None] * W
  r_norm2 = ynorm2[:, None] + jnp.sum(W * QW, 1) - 2 * jnp.einsum("fp,fpb->fb", q, W)
  gap, s, _ = _gap_from_xta(W, xta, jnp.maximum(r_norm2, 0), l1, l2)
  if d is None:
    return gap
  ue = _ROUNDING_SAFETY * _unit_roundoff(W.dtype)
  s_w = jnp.einsum("fp,fpb->fb", d, jnp.abs(W))
  t = jnp.sqrt(ynorm2)[:, None] + s_w
  wl2 = jnp.sum(W * W, 1)
  bound_a = ue * (2 * s_w * t + (1 - s) * t * t + l1 * jnp.sum(jnp.abs(W), 1) + l2 * wl2)
  bound_b = ue * 2 * t * jnp.einsum("fp,fpb->fb", d, jnp.abs(xta)) / jnp.where(l2 > 0, l2, 1)
  return gap, jnp.where(l1 > 0, bound_a, bound_b)


def _residual_gaps(X, y, W, l1, l2, *, bound=True):
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
  gap, s, dual_norm = (g[0] for g in _gap_from_xta(W.T[None], xta.T[None], r_norm2[None], l1[None], l2[None]))
  if not bound:
    return gap
  # Magnitudes: z = |X||w| bounds the terms of Xw, m = z + |y| + |r| those of r, |X|ᵀm those of Xᵀr.
  aX, aw, axta = jnp.abs(X), jnp.abs(W), jnp.abs(xta)
  z = aw @ aX.T
  m = z + jnp.abs(y)[None] + jnp.abs(R)
  wl2 = jnp.sum(W * W, 1)
  star = jnp.argmax(axta, 1)  # the coordinate that sets s
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


def _anderson(Ws, QWs, q, l1, l2, d, ynorm, gram_err, matvec):
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
  return jnp.where(ok[:, None], Wa, Wl), jnp.where(ok[:, None], QWa, QWl)


# An epoch that changes no coefficient by more than this many units of roundoff (relative to
# max|w|) has reached the fixed point of CD in that precision: more epochs cannot lower the gap.
_STALL_ULPS = 4.0


def _cd_solve(Q, q, ynorm2, l1, l2, W0, tol, max_iter, *, block, unroll, check_every, anderson):
  """Minimizes ``½wᵀQ_f w − q_fᵀw + l1‖w‖₁ + l2/2‖w‖²`` for every problem ``(f, b)``.

  ``Q``: ``(F, p, p)`` with ``p`` a multiple of ``block``; ``q``: ``(F, p)``; ``ynorm2``:
  ``(F,)``; ``l1, l2``: ``(F, B)``; ``W0``: ``(F, p, B)``. Every ``check_every`` epochs: Anderson
  extrapolation from the last ``anderson + 1`` iterates (``anderson = 0``: none), then
  scikit-learn's stopping rule per problem (last epoch's ``max|Δw| ≤ tol·max|w|`` and the gap of
  :func:`_gram_gaps` ``≤ tol·‖y‖²``). A problem also stops, *stalled*, when an epoch changed no
  coefficient by more than ``_STALL_ULPS`` units of roundoff of ``max|w|`` (the fixed point of CD
  in that precision) before reaching ``tol``; and the ``max|Δw|`` rule is not asked below
  ``4·_STALL_ULPS`` units of roundoff. Returns ``(W, gaps, bounds, n_iter, stalled)``, those of
  :func:`_gram_gaps`.
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
      return _cd_block(Qcols[0], q, diag, W, QW, 0, p, l1, l2, unroll)
    return lax.fori_loop(
        0, n_blocks, lambda b, c: _cd_block(Qcols[b], q, diag, *c, b * block, block, l1, l2, unroll), (W, QW))

  tol_gap = tol * ynorm2[:, None]
  QW0 = matvec(W0)
  gap0 = _gram_gaps(W0, QW0, q, ynorm2, l1, l2)
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
      W3, QW3 = _anderson(Ws, QWs, q, l1, l2, d, ynorm, gram_err, matvec if low_precision else None)
    else:  # float32: rounding in the rank-1 updates must not accumulate
      W3, QW3 = W2, (matvec(W2) if low_precision else QW2)
    dw = jnp.max(jnp.abs(W2 - W1), 1)  # the last plain epoch's largest change
    wmax = jnp.max(jnp.abs(W2), 1)
    gap3 = _gram_gaps(W3, QW3, q, ynorm2, l1, l2)
    active = ~done & (it < max_iter)
    reached = ((wmax == 0) | (dw <= jnp.maximum(tol, 4 * _STALL_ULPS * u) * wmax)) & (gap3 <= tol_gap)
    stuck = ~reached & (dw <= _STALL_ULPS * u * wmax)
    keep = active[:, None]
    return (jnp.where(keep, W3, W), jnp.where(keep, QW3, QW), it + check_every * active,
            done | (active & (reached | stuck)), jnp.where(active, gap3, gap), stalled | (active & stuck))

  init = (W0, QW0, jnp.zeros((F, B), jnp.int32), done0, gap0, jnp.zeros((F, B), bool))
  W, QW, n_iter, _, gap, stalled = lax.while_loop(cond, body, init)
  _, bound = _gram_gaps(W, QW, q, ynorm2, l1, l2, d)
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


def _data_gaps(X, y, W, alphas, l1_ratio, gap, bound, tol_gap, *, center=False):
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
    gaps = (_residual_gaps_jit if jit else _residual_gaps)(X, y, W, alphas * l1_ratio_ * n,
                                                           alphas * (1 - l1_ratio_) * n)
    return tuple(x / n for x in gaps)

  if any(_trees.is_traced(a) for a in (X, y, W, alphas, l1_ratio, gap, bound, tol_gap)):
    return lax.cond(jnp.any(bound > _GRAM_TRUST * tol_gap), lambda: resid(False), lambda: (gap, bound))
  if not np.any(np.asarray(bound) > _GRAM_TRUST * np.asarray(tol_gap)):
    return gap, bound
  return resid(True)


_residual_gaps_jit = jax.jit(_residual_gaps)


def _gram_path(Q, q, ynorm2, n, alphas, l1_ratio, tol, max_iter, *, chunk, block, check_every,
               anderson):
  """Solves ``F`` paths (``Q: (F, p, p)``, ``q: (F, p)``, ``ynorm2, n: (F,)``) for decreasing ``alphas``.

  Returns ``(W (F, A, p), gaps, bounds, n_iter, stalled)`` (each ``(F, A)``), the gaps and
  bounds of :func:`_gram_gaps` divided by ``n``. ``chunk`` alphas are solved in parallel;
  successive chunks start from the previous chunk's last
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
  chunk = A if chunk is None else min(chunk, A)
  n_chunks = -(-A // chunk)
  a = jnp.concatenate([alphas, jnp.broadcast_to(alphas[-1:], (n_chunks * chunk - A,))])
  a = a.reshape(n_chunks, chunk)
  l1_ratio = jnp.asarray(l1_ratio, alphas.dtype)
  n = jnp.asarray(n, alphas.dtype)[:, None]

  def solve(w0, a_chunk):
    W0 = jnp.broadcast_to(w0[:, :, None], w0.shape + (chunk,))
    out = _cd_solve(Qp, qp, ynorm2, a_chunk * l1_ratio * n, a_chunk * (1 - l1_ratio) * n, W0, tol,
                    max_iter, block=block, unroll=unroll, check_every=check_every, anderson=anderson)
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


def _schedule(p, n_alphas, chunk, block, check_every, anderson):
  """The defaults, measured on CPU (``experiments/bench_paths.py``).

  ``p ≤ 64``: all alphas in parallel, checked every 10 epochs, with Anderson
  extrapolation (window 5). Larger ``p``: chunks of ``⌈n_alphas·p/2000⌉`` alphas
  (10 of 100 at ``p = 200``, 50 at ``p = 1000``) warm-started one from the next,
  checked every 2 epochs (a chunk runs at least that many), no extrapolation
  (warm starts already leave few epochs to save).
  """
  chunk = _trees.check_int("chunk", chunk, low=1, allow_none=True)
  block = _trees.check_int("block", block, low=1, allow_none=True)
  check_every = _trees.check_int("check_every", check_every, low=1, allow_none=True)
  anderson = _trees.check_int("anderson", anderson, low=0, allow_none=True)
  if chunk is None:
    chunk = n_alphas if p <= 64 else -(-n_alphas * p // 2000)
  chunk = min(chunk, n_alphas)
  parallel = chunk == n_alphas
  check_every = (10 if parallel else 2) if check_every is None else check_every
  anderson = (5 if parallel else 0) if anderson is None else anderson
  return chunk, block, check_every, anderson


@jax.jit(static_argnames=("n_alphas", "chunk", "block", "check_every", "anderson"))
def _enet_path_jit(X, y, alphas, l1_ratio, eps, tol, max_iter, *, n_alphas, chunk, block, check_every,
                   anderson):
  n = X.shape[0]
  dt = X.dtype
  Q, q, ynorm2 = X.T @ X, X.T @ y, y @ y
  l1_ratio = jnp.asarray(l1_ratio, dt)
  alphas = _alpha_grid(q, n, l1_ratio, eps, n_alphas) if n_alphas else _sorted_alphas(alphas, dt)
  W, gap, bound, it, stalled = (x[0] for x in _gram_path(
      Q[None], q[None], ynorm2[None], jnp.full(1, n, dt), alphas, l1_ratio, tol, max_iter, chunk=chunk,
      block=block, check_every=check_every, anderson=anderson))
  stats_finite = jnp.all(jnp.isfinite(Q)) & jnp.all(jnp.isfinite(q)) & jnp.isfinite(ynorm2)
  return alphas, W, gap, _Status(bound, it, stalled, ynorm2 / n, stats_finite)


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
      ``≤ tol·‖y‖²/n`` after an epoch whose largest coefficient change is ``≤ tol·max|w|``
      (in float32: up to the rounding of the gap; see Precision in :mod:`jaxreg.paths`).
    max_iter: most epochs (passes over all coordinates) per alpha; an integer ``≥ 1``.
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
      is kept only where it lowers the objective by more than rounding could fake, and
      cuts the epochs of ill-conditioned problems several-fold (diabetes at
      ``tol=1e-10``: about 120 instead of about 1 090).
    return_info: also return the duality gaps of the returned coefficients (``/n``, as
      scikit-learn) and the epoch counts.

  Returns:
    ``(alphas, coefs)`` with ``coefs`` of shape ``(n_alphas, n_features)``; with
    ``return_info``, ``(alphas, coefs, dual_gaps, n_iter)``. Outside of ``jit``: a
    :class:`ConvergenceWarning` if some alpha's gap is not certified ``≤ tol·‖y‖²/n``
    (saying whether ``max_iter`` ran out or the dtype's rounding is the limit), and a
    ``ValueError`` instead of a non-finite solution.

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
  chunk, block, check_every, anderson = _schedule(X.shape[1], n_alphas or np.shape(alphas)[0], chunk, block,
                                                  check_every, anderson)
  alphas, W, gap, status = _enet_path_jit(
      X, y, None if n_alphas else alphas, l1_ratio, eps, tol, max_iter,
      n_alphas=n_alphas, chunk=chunk, block=block, check_every=check_every, anderson=anderson)
  gap, bound = _data_gaps(X, y, W, alphas, l1_ratio, gap, status.bounds, tol * status.scale)
  status = status._replace(bounds=bound)
  _check_finite("enet_path", X, y, W, gap, status)
  _report("enet_path", gap, status, tol, max_iter)
  return (alphas, W, gap, status.n_iter) if return_info else (alphas, W)


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
    ``coefs`` of shape ``(n_alphas, n_features)``.

  Example:
    >>> X = jax.random.normal(jax.random.key(0), (50, 5))
    >>> y = X @ jnp.arange(5.0)
    >>> coefs = jaxreg.paths.ridge_path(X, y, alphas=jnp.logspace(-4, 1, 20))
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


@jax.jit(static_argnames=("n_alphas", "fit_intercept", "complement", "batch_refit", "chunk", "block", "check_every",
                          "anderson"))
def _enet_cv_jit(X, y, alphas, l1_ratio, eps, tol, max_iter, tr_idx, tr_w, te_idx, te_w, *,
                 n_alphas, fit_intercept, complement, batch_refit, chunk, block, check_every, anderson):
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
  W, gap, bound, it, stalled = _gram_path(Q, q, yy_f, n_tr, alphas, l1_ratio, tol, max_iter, chunk=chunk,
                                          block=block, check_every=check_every, anderson=anderson)
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
        G[None], Xy[None], yy[None], jnp.full(1, n, dt), alpha[None], l1_ratio, tol, max_iter, chunk=1,
        block=block, check_every=check_every, anderson=anderson))
    coef = coef[0]
    refit = (coef[None], info[0], _Status(*info[1:], yy / n, finite(G, Xy, yy)))
  intercept = (y_mean - x_mean @ coef) if fit_intercept else jnp.zeros((), dt)
  return EnetCVResult(alpha, alphas, mse_path, coef, intercept), folds, refit


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
    tol, max_iter, chunk, block, check_every, anderson: as :func:`enet_path` (``tol``
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
  chunk, block, check_every, anderson = _schedule(p, n_grid, chunk, block, check_every, anderson)
  batch_refit = chunk == n_grid and p <= 64  # small p: one more family costs little; large p: ~1/k more flops
  if batch_refit:
    pairs.append((np.arange(n), np.zeros(0, int)))  # the full data, for the refit
  complement = all(_is_partition(tr, te, n) for tr, te in pairs)
  tr_idx, tr_w = _padded([tr for tr, _ in pairs])
  te_idx, te_w = _padded([te for _, te in pairs])
  res, folds_out, refit = _enet_cv_jit(
      X, y, None if n_alphas else alphas, l1_ratio, eps, tol, max_iter,
      tr_idx, tr_w, te_idx, te_w, n_alphas=n_alphas, fit_intercept=bool(fit_intercept),
      complement=complement, batch_refit=batch_refit, chunk=chunk, block=block, check_every=check_every,
      anderson=anderson)
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
    return_info: also return the final prox-gradient mapping norms and iteration counts.

  Returns:
    ``(alphas, coefs)`` with ``coefs`` of shape ``(n_alphas, n_features)``
    (with ``return_info``: ``(alphas, coefs, grad_map_norms, n_iter)``).

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
  return (alphas, W, gmap, it) if return_info else (alphas, W)
