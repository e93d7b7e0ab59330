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
``SolverOptions.check_every`` epochs, Anderson extrapolation of the last iterates (Bertrand &
Massias 2021) is tried and kept where it lowers the objective by more than
rounding could fake (see Precision), ``Qw`` is recomputed in float32 (no drift of
the rank-1 updates), and scikit-learn's stopping rule is applied per alpha: the
last epoch's largest coefficient change is ``≤ tol·max|w|`` and the duality gap
(formulation A of ``sklearn/linear_model/_cd_fast.pyx``, divided by ``n``) is
``≤ tol·‖y‖²/n``. Converged alphas are frozen while the others go on.

Parallel vs warm starts, measured (``experiments/bench_paths.py``): all alphas
in parallel from ``w = 0`` against warm starts along the path (a ``lax.scan``
over chunks of alphas, each chunk started from the previous chunk's last
solution; ``SolverOptions(chunk=1)`` is scikit-learn's one-alpha-at-a-time scheme). On CPU a
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

from jaxreg.paths._cd import SolverOptions
from jaxreg.paths._checks import ConvergenceWarning, PathInfo
from jaxreg.paths._cv import EnetCVResult, enet_cv
from jaxreg.paths._linear import enet_path, lasso_path, ridge_path
from jaxreg.paths._logistic import logistic_path

__all__ = [
    "ConvergenceWarning", "EnetCVResult", "PathInfo", "SolverOptions", "enet_cv", "enet_path", "lasso_path",
    "logistic_path", "ridge_path",
]
