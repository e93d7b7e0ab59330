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

Wide, large and sparse ``X`` (``SolverOptions(method=...)``): the Gram solver holds
``XᵀX``, ``p²`` floats (3.2 GB at ``p = 20 000``). The *working-set* solver never forms it:
``X`` enters only through the products ``Xw`` and ``Xᵀr``, memory is ``O(n·p + p·k + k²)``
for working sets of ``k`` features (``A·p`` for the returned path). Outer iterations (a loop
on the host): the duality gaps of the full problem from the residuals, for every alpha;
alphas whose gap is ``≤ tol·‖y‖²/n`` are final (so ``tol`` means what it means above, and
every returned gap is that of the returned coefficients); for the others a working set
is built from the union of their supports and then the features closest to violating
their dual constraints, ``(1 − |x_jᵀθ|)/‖x_j‖`` at the rescaled residual ``θ`` (as celer and
skglm do), excluding the features gap-safe screening proves 0 (scikit-learn's rule, the
sphere of radius ``√(2·gap)/(n·alpha·ρ)``), at least twice the support and doubled when a gap
did not halve; then all alphas are solved on the ``k × k`` Gram matrix of the working set
by the batched solver above (10 chunks of alphas warm-started one from the next, Anderson
extrapolation every 10 epochs), to 0.3 of their current gaps (celer's rule), warm-started
from the previous outer iteration. Working-set sizes are padded to 64, 256, 512, 1024, …
(and ``p``): one compiled program per size, compiled the first time it is needed (unused slots
are skipped blocks); the first holds ``2n`` features up to 256, as a lasso support has at
most ``n``. ``method="auto"`` (the default) takes the working-set solver for sparse ``X``
and when ``n_features > max(n_samples, 500)`` (measured: a 40 × 800 lasso path at
``tol=1e-6`` took 0.3 s with it, 9.2 s with the Gram solver), when ``n_features ≥ 300`` and
``n_features ≥ 10·n_samples`` (10 × 400, 100 alphas: 0.06 s against 0.58 s; at ``p ≤ 4n`` the
Gram solver was faster), or ``n_features > 500`` with
at most 5 alphas (10 000 × 1 000, one alpha: 0.27 s against 0.64 s, most of it forming
``XᵀX``), else the Gram solver (the small and tall paths, where batching every alpha wins:
the 100-alpha 10 000 × 1 000 path took 1.0 s with it, 2.6 s with working sets). :func:`enet_cv` makes the
same choice on the folds' training size: the Gram solver batches every fold and alpha in one program; the
working-set solver solves the folds one after another (each centered through the design's offset). Measured against celer and skglm (``experiments/bench_paths.py``), the
working-set solver is still several times slower on wide paths: its inner coordinate
descent pays XLA's per-operation overhead on CPU, where theirs is compiled scalar code, and it
needs more epochs on paths that go far into the non-unique regime: on a Toeplitz(0.5)
40 × 800 design to ``α_max/1000`` at ``tol=1e-6`` it ran 90 000 alpha-epochs in 3.4 s where
scikit-learn ran 18 000 in 0.13 s (celer: 0.05 s).

Sparse ``X``: a scipy.sparse matrix (CSC, CSR or any format) is accepted by
:func:`enet_path` and :func:`lasso_path` and never densified: it is held as its nonzeros
in column (CSC) and row (CSR) order, and ``Xw``, ``Xᵀr`` are CSR matrix products
(``jax.experimental.sparse.BCSR``, whose product has a native kernel on CPU and GPU; measured on a
20 000 × 5 000 matrix of density 0.002 with 100 coefficient vectors: 10 ms and 6 ms for the two
products, against 42 ms and 47 ms for segment sums over the nonzeros and 60 ms and 56 ms with
``BCOO``), and only the working set's columns are made dense (``n × k``). ``X_offset`` (scikit-learn's name) centers it implicitly, as
scikit-learn does for a sparse ``X`` with ``fit_intercept``: ``(X − 1·X_offsetᵀ)`` appears
only inside the products (and in column norms computed without cancellation). For an
intercept: ``enet_path(X, y − ȳ, X_offset=x̄)``, then ``intercept = ȳ − x̄ᵀw``. Explicit NaN
or inf among the stored entries raise a ``ValueError`` naming ``X``; empty columns get
coefficient 0. :func:`enet_cv` takes a sparse ``X`` too (each fold centered by its offset;
``sample_weight`` then only without intercept).

``positive=True`` (both solvers): coefficients ``≥ 0``, scikit-learn's step
``w_j ← max(tmp − n·alpha·ρ, 0)/(Q_jj + n·alpha·(1 − ρ))``, its dual norm ``max_j (Xᵀr − l2·w)_j``
in the gap, its grid ``alpha_max = max(0, max Xᵀy)/(n·ρ)``, and Anderson steps with a negative
coefficient rejected. ``positive=True`` with ``l1_ratio = 0`` is refused (scikit-learn runs it,
but its ridge duality gap does not hold under the constraint, so it can never certify ``tol``).

Compile time: the first call with new shapes (or a new working-set size) traces and
compiles its program, 1.5–6 s on a 2-core CPU (``experiments/bench_paths.py`` reports
cold and steady times); later calls with the same shapes reuse it. JAX's persistent
compilation cache keeps the programs across processes::

  jax.config.update("jax_compilation_cache_dir", "/path/to/cache")
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

after which a new process loads them from disk instead of compiling. The working-set
solver compiles one program per working-set size it needs (sizes are powers of 4 from 64,
so a path usually needs one or two) plus one for the gaps.

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

scikit-learn's arguments, with its semantics: ``sample_weight`` (:func:`enet_path`,
:func:`lasso_path`, :func:`enet_cv`, :func:`logistic_path`, :func:`multitask_enet_path`)
makes every loss a weighted *mean*, ``Σ s_i loss_i / Σ s_i`` (scikit-learn rescales the
weights to sum to ``n_samples``: the same objective; scaling the weights changes nothing; a
zero weight removes the row); the linear paths apply it as a preprocessing (rows scaled by
``√(s_i·n/Σs)``), :func:`enet_cv` with weighted Gram matrices and centering per fold and a
weighted held-out error, as ``ElasticNetCV``. :func:`enet_cv` takes a list of ``l1_ratio``
(``l1_ratio`` × folds × alphas in one program, one grid per ``l1_ratio``, ``ElasticNetCV``'s
selection). :func:`logistic_path` fits an unpenalized intercept with ``fit_intercept=True``
(the result is then a :class:`PathInfo` holding ``intercepts``). :func:`multitask_enet_path`
solves scikit-learn's ``MultiTaskElasticNet`` (ℓ2,1 penalty) for a 2-D ``Y``, coefficients
``(n_alphas, n_features, n_tasks)``.

References:
  Friedman, Hastie & Tibshirani, *Regularization Paths for Generalized Linear
  Models via Coordinate Descent*, J. Stat. Softw. 33(1), 2010.
  Pedregosa et al., *Scikit-learn: Machine Learning in Python*, JMLR 12, 2011
  (``enet_path``, ``LassoCV``, ``_cd_fast.pyx``).
  Bertrand & Massias, *Anderson acceleration of coordinate descent*, AISTATS 2021.
  Massias, Gramfort & Salmon, *Celer: a Fast Solver for the Lasso with Dual Extrapolation*, ICML 2018;
  Bertrand et al., *Beyond L1: Faster and Better Sparse Models with skglm*, NeurIPS 2022 (working sets).
  Fercoq, Gramfort & Salmon, *Mind the duality gap: safer rules for the Lasso*, ICML 2015; Ndiaye et al.,
  *Gap Safe Screening Rules for Sparsity Enforcing Penalties*, JMLR 18, 2017.
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
from jaxreg.paths._multitask import multitask_enet_path, multitask_lasso_path

__all__ = [
    "ConvergenceWarning", "EnetCVResult", "PathInfo", "SolverOptions", "enet_cv", "enet_path", "lasso_path",
    "logistic_path", "multitask_enet_path", "multitask_lasso_path", "ridge_path",
]
