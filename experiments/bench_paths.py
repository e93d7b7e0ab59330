"""Benchmark: ``jaxreg.paths`` (vectorized coordinate descent) vs scikit-learn, side by side.

Three workloads, all in float64 (``jax_enable_x64``), at the same tolerance (scikit-learn's
duality-gap rule, which ``jaxreg.paths`` implements too):

1. **diabetes path**: the 100-alpha lasso path on scikit-learn's diabetes data (442 × 10,
   centered), ``tol = 1e-10``: ``jaxreg.paths.lasso_path`` vs ``sklearn.linear_model.lasso_path``.
   jaxreg rows: all alphas in parallel from ``w = 0`` (the default for small ``p``) and warm starts
   along the path (``chunk=1``: a ``lax.scan`` over alphas, one at a time, each started from the
   previous solution, which is what scikit-learn does; with ``check_every=5, anderson=5``, its
   fastest settings).
2. **CV 2000 × 200**: a correlated design (rows ~ N(0, Σ), ``Σ_ij = 0.5^|i−j|``), 20 true
   nonzeros, unit noise; 5-fold × 100-alpha lasso cross-validation, ``tol = 1e-4``:
   ``jaxreg.paths.enet_cv`` vs ``sklearn.linear_model.LassoCV`` (same grid, same unshuffled folds).
   jaxreg rows: the default (chunks of 10 alphas warm-started one from the next, all folds in
   one batch) and all 100 alphas in parallel.
3. (``--cv-sizes 2000x200,10000x1000``) **CV 10000 × 1000**: the same with n = 10 000, p = 1 000.

plus, if ``skglm`` imports (``pip install skglm``), its Anderson-accelerated working-set CD
(``skglm.Lasso(fit_intercept=False, warm_start=True).path``, and a 5-fold loop around it for
workload 2; not timed on workload 3, where one call takes ~40 s). skglm stops on its own criterion (largest distance of ``−∇f`` to the subdifferential
``≤ tol``), not on the duality gap, so its rows are at *its* ``tol``, not a matched one.

Timing: **cold** is the first call after ``jax.clear_caches()`` (tracing + XLA compilation + run;
for scikit-learn and skglm, simply their first call — skglm's includes numba compilation).
**steady** is the median over ``--repeats`` rounds of an already-compiled call; rows are timed in
an order rotated each round, so machine drift hits all of them alike. scikit-learn runs twice: as
installed (OpenBLAS with its default threads) and with its BLAS limited to one thread — on a busy
2-core machine, OpenBLAS threads contending with other processes made ``LassoCV`` up to 4x slower,
and one thread was never slower here. Ratios are ``best scikit-learn steady / row steady``
(> 1: faster than scikit-learn at its best). The last column checks that the
rows solve the same problem: for the path, the largest coefficient difference to scikit-learn
relative to ``max|coef|``; for CV, against a converged reference (scikit-learn's ``LassoCV`` at
``tol = 1e-8``, untimed): whether the selected alpha is the reference's and the relative deviation
of the mean CV error curve (median and max over alphas). At ``tol = 1e-4`` every solver is a few
percent off the reference somewhere along the curve (the gap bound allows it), so the selected
alpha can differ by a grid point.

**At matched accuracy** (issue 12; ``--scale full|quick|none``): lasso paths without intercept (dense data
centered first, sparse data as they are) on the same alphas, every solver at the loosest of its own
tolerances ``1e-4, 1e-6, 1e-8, 1e-10`` whose largest relative objective suboptimality over the alphas,
``(P(w) − P*)/P*``, is ≤ ``1e-6``, ``P*`` the least objective any solver reached at its tightest tolerance;
cold = first call after ``jax.clear_caches()`` (numba/Cython peers: their first call), steady = median of
``--repeats`` (3 for these). Settings: scikit-learn ``lasso_path`` (tol on the duality gap ÷ ‖y‖²/n, one BLAS
thread), jaxreg ``lasso_path`` (the same rule, default ``SolverOptions``: the automatic choice of solver; in
float32 on float32 data, tol ≥ 1e-6), celer ``celer_path`` (duality gap, ``prune=True``), skglm
``Lasso.path`` (largest KKT violation, warm starts), glum ``GeneralizedLinearRegressor(alpha_search=True,
solver="irls-cd")`` (``gradient_tol``; only where ``n ≥ p`` and ``p·n_alphas ≤ 20 000``: elsewhere one call took
3-73 s). Workloads: diabetes 100-alpha path; a 10 000 × 1 000 Toeplitz(0.5) lasso with 100 true coefficients,
its 100-alpha path and one alpha with ~10 % nonzeros; a wide 72 × 7 129 Toeplitz(0.5) design (the leukemia
shape), 100-alpha path to ``α_max/100`` and a 5-fold CV (scikit-learn's ``LassoCV`` against jaxreg's ``enet_cv``,
which takes the working-set solver here, folds in turn; tol 1e-4; celer 0.7.4's ``LassoCV`` fails with
scikit-learn 1.9); a
sparse 20 000 × 5 000 CSC design of density 0.002; an L1 logistic path (no intercept, mean log-loss + α‖w‖₁) on
standardized breast_cancer, 100 alphas to ``α_max/100``: jaxreg ``logistic_path`` (FISTA, tol on the prox-gradient
mapping) against scikit-learn ``LogisticRegression(solver="liblinear", C=1/(n·α))`` one alpha at a time, celer
``celer_path(pb="logreg")`` (summed loss: alphas × n) and skglm ``SparseLogisticRegression`` (warm starts). Peak RSS of a fresh process running jaxreg's 100-alpha
path on 72 × 7 129 and 100 × 20 000 designs (``VmHWM``). The ratio is jaxreg steady / fastest matched peer
steady (≤ 1: jaxreg fastest).

Run: ``python -m experiments.bench_paths`` (about 8-10 minutes on a 2-core CPU);
``--cv-sizes ""`` skips the CV workload, ``--repeats N`` sets the rounds. Writes the record
``bench_paths.json`` (machine, versions, every row's cold and steady time, speedup and check) into
``--out``; ``python -m experiments.report`` renders it into the README. Float64 is switched on only
inside ``main`` (``jax.enable_x64``), not when the module is imported. ``--quick``: a smoke run for
the tests (the diabetes path only, one round; seconds, not a measurement).
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import jax
import numpy as np

import jaxreg
from experiments import _common

NAME = "bench_paths"
QUICK = {"repeats": 1, "cv_sizes": "", "scale": "quick"}


def toeplitz_design(n, p, rho=0.5, rng=None):
  """Rows ~ N(0, Σ) with Σ_ij = rho^|i−j|, by the AR(1) recursion over columns (O(n·p), no Cholesky)."""
  rng = np.random.default_rng(0) if rng is None else rng
  Z = rng.standard_normal((n, p))
  X = np.empty((n, p))
  X[:, 0] = Z[:, 0]
  c = np.sqrt(1 - rho * rho)
  for j in range(1, p):
    X[:, j] = rho * X[:, j - 1] + c * Z[:, j]
  return X


def toeplitz_problem(n, p, k=20, rho=0.5, seed=0):
  """Rows ~ N(0, Σ) with Σ_ij = rho^|i−j|, ``k`` nonzero coefficients ~ 2·N(0, 1), unit noise."""
  rng = np.random.default_rng(seed)
  X = toeplitz_design(n, p, rho, rng)
  w = np.zeros(p)
  w[rng.choice(p, k, replace=False)] = 2 * rng.standard_normal(k)
  return X, X @ w + rng.standard_normal(n)


def _block(out):
  return jax.block_until_ready(out)


def _skglm():
  try:
    import skglm
    return skglm
  except ImportError:
    return None


# --------------------------------------------------------------------------- solvers


def one_blas_thread(fn):
  """``fn`` with scikit-learn's BLAS (OpenBLAS/MKL) limited to one thread."""
  from threadpoolctl import threadpool_limits

  def run():
    with threadpool_limits(1):
      return fn()
  return run


def path_rows(X, y, tol):
  from sklearn.linear_model import lasso_path
  kw = dict(alphas=100, tol=tol, max_iter=100_000)
  sk = lambda: np.asarray(lasso_path(X, y, **kw)[1]).T
  rows = {
      "scikit-learn lasso_path": sk,
      "scikit-learn lasso_path (1 BLAS thread)": one_blas_thread(sk),
      "jaxreg lasso_path (all alphas in parallel; default)": lambda: np.asarray(
          _block(jaxreg.paths.lasso_path(X, y, **kw)[1])),
      "jaxreg lasso_path (warm starts one alpha at a time)": lambda: np.asarray(
          _block(jaxreg.paths.lasso_path(X, y, solver=jaxreg.paths.SolverOptions(chunk=1, check_every=5, anderson=5), **kw)[1])),
  }
  skglm = _skglm()
  if skglm is not None:
    alphas = lasso_path(X, y, alphas=100, max_iter=1)[0]
    est = skglm.Lasso(fit_intercept=False, tol=tol, warm_start=True)
    rows["skglm Lasso.path (its own tol)"] = lambda: np.asarray(est.path(X, y, alphas)[1]).T
  return rows


def cv_rows(X, y, tol, folds=5, skglm_too=True):
  from sklearn.linear_model import LassoCV
  sk = lambda: LassoCV(alphas=100, cv=folds, tol=tol).fit(X, y)
  rows = {
      "scikit-learn LassoCV": sk,
      "scikit-learn LassoCV (1 BLAS thread)": one_blas_thread(sk),
      "jaxreg enet_cv (default)": lambda: _block(jaxreg.paths.enet_cv(X, y, folds=folds, tol=tol)),
      "jaxreg enet_cv (all alphas in parallel)": lambda: _block(
          jaxreg.paths.enet_cv(X, y, folds=folds, tol=tol, solver=jaxreg.paths.SolverOptions(chunk=100))),
  }
  skglm = _skglm() if skglm_too else None
  if skglm is not None:
    from sklearn.linear_model._coordinate_descent import _alpha_grid
    from sklearn.model_selection import KFold
    alphas = _alpha_grid(X, y, fit_intercept=True, n_alphas=100)

    def skglm_cv():
      mse = []
      for tr, te in KFold(folds).split(X):
        mx, my = X[tr].mean(0), y[tr].mean()
        est = skglm.Lasso(fit_intercept=False, tol=tol, warm_start=True)
        coefs = est.path(X[tr] - mx, y[tr] - my, alphas)[1]
        mse.append((((X[te] - mx) @ coefs + my - y[te][:, None]) ** 2).mean(0))
      mse = np.array(mse).T
      return alphas[np.argmin(mse.mean(1))], mse
    rows["skglm Lasso.path, 5-fold loop (its own tol)"] = skglm_cv
  return rows


def cv_summary(out):
  """(alpha, mse_path) from any CV row's output."""
  if hasattr(out, "alpha_"):  # scikit-learn
    return float(out.alpha_), np.asarray(out.mse_path_)
  if hasattr(out, "mse_path"):  # jaxreg.paths.EnetCVResult
    return float(out.alpha), np.asarray(out.mse_path)
  return float(out[0]), np.asarray(out[1])  # the skglm loop


# --------------------------------------------------------------------------- matched accuracy (issue 12)
#
# Every solver solves the same lasso problems (no intercept: dense data are centered first, sparse data are
# used as they are), at the same alphas, and is timed at the loosest of its own tolerances at which its
# largest relative objective suboptimality over the alphas, (P(w) − P*)/P*, is ≤ MATCH; P* is the least
# objective any solver reached at its tightest tolerance.

MATCH = 1e-6
LADDER = (1e-4, 1e-6, 1e-8, 1e-10)  # each solver's own tolerance, loosest first (tightest: the reference runs)


def wide_problem(n, p, k=10, rho=0.5, seed=0):
  """A wide correlated design (Toeplitz(rho) columns, leukemia-like shape), ``k`` true coefficients; centered."""
  rng = np.random.default_rng(seed)
  X = toeplitz_design(n, p, rho, rng)
  w = np.zeros(p)
  w[rng.choice(p, k, replace=False)] = rng.standard_normal(k)
  y = X @ w + 0.5 * rng.standard_normal(n)
  return X - X.mean(0), y - y.mean()


def sparse_problem(n, p, density, k=50, seed=0):
  """scipy.sparse CSC with N(0, 1) nonzeros, ``k`` true coefficients, noise 0.1 (not centered: no intercept)."""
  import scipy.sparse as sp
  rng = np.random.default_rng(seed)
  X = sp.random(n, p, density=density, format="csc", random_state=seed, data_rvs=rng.standard_normal)
  w = np.zeros(p)
  w[rng.choice(p, k, replace=False)] = rng.standard_normal(k)
  return X, X @ w + 0.1 * rng.standard_normal(n)


def lasso_objectives(X, y, C, alphas):
  """``1/(2n)‖y − Xw‖² + α‖w‖₁`` for each row of ``C`` (float64), ``X`` dense or sparse."""
  C = np.asarray(C, np.float64)
  R = y[:, None] - np.asarray(X @ C.T)
  return (R * R).sum(0) / (2 * len(y)) + np.asarray(alphas) * np.abs(C).sum(1)


def lasso_grid(X, y, n_alphas, eps):
  from sklearn.linear_model._coordinate_descent import _alpha_grid
  return _alpha_grid(X, y, fit_intercept=False, n_alphas=n_alphas, eps=eps)


def matched_solvers(X, y, grid):
  """``{name: (settings, make(tol) -> callable returning coefs (A, p))}`` for every installed solver."""
  import scipy.sparse as sp
  from sklearn.linear_model import lasso_path
  sparse = sp.issparse(X)
  out = {
      "scikit-learn lasso_path": ("tol on the duality gap (÷‖y‖²/n), max_iter 1e5, 1 BLAS thread", lambda tol: one_blas_thread(
          lambda: np.asarray(lasso_path(X, y, alphas=grid, tol=tol, max_iter=100_000)[1]).T)),
  }
  X32 = X.astype(np.float32)
  y32 = y.astype(np.float32)
  out["jaxreg lasso_path (float64)"] = ("tol on the duality gap (÷‖y‖²/n), max_iter 1e5, default SolverOptions", lambda tol: (
      lambda: np.asarray(_block(jaxreg.paths.lasso_path(X, y, alphas=grid, tol=tol, max_iter=100_000)[1]))))
  out["jaxreg lasso_path (float32)"] = ("as float64, on float32 data (tol ≥ 1e-6: float32 certifies no less)", lambda tol: (
      lambda: np.asarray(_block(jaxreg.paths.lasso_path(X32, y32, alphas=grid.astype(np.float32), tol=max(tol, 1e-6),
                                                         max_iter=100_000)[1]))))
  try:
    from celer import celer_path
    out["celer celer_path"] = ("tol on the duality gap, prune=True", lambda tol: (
        lambda: np.asarray(celer_path(X, y, "lasso", alphas=grid, tol=tol, prune=True)[1]).T))
  except ImportError:
    pass
  skglm = _skglm()
  if skglm is not None:
    out["skglm Lasso.path"] = ("tol on max KKT violation, warm starts", lambda tol: (
        lambda: np.asarray(skglm.Lasso(fit_intercept=False, tol=tol, warm_start=True).path(X, y, grid)[1]).T))
  try:
    import glum
    if sparse or X.shape[1] > X.shape[0] or X.shape[1] * len(grid) > 20_000:
      raise ImportError("glum is timed on the dense n ≥ p workloads with p·n_alphas ≤ 20 000 only (its IRLS path took "
                        "3.4 s on the quick 40 × 800 wide stand-in, 14 s on the quick 2000 × 500 sparse one and 73 s "
                        "on the 10 000 × 1 000 100-alpha path, where it needed gradient_tol 1e-10: 12-800x celer)")
    def glum_run(tol):
      def run():
        est = glum.GeneralizedLinearRegressor(family="normal", l1_ratio=1.0, fit_intercept=False, alpha_search=True,
                                              alphas=grid, gradient_tol=tol, max_iter=1000, solver="irls-cd")
        return np.asarray(est.fit(X, y).coef_path_)
      return run
    out["glum (irls-cd, alpha_search)"] = ("gradient_tol, IRLS + CD along the path", glum_run)
  except ImportError:
    pass
  return out


def logistic_objectives(X, y, C, alphas):
  """``mean log(1 + exp(−y±·Xw)) + α‖w‖₁`` (``y`` in {0, 1}) for each row of ``C`` (float64)."""
  z = (2.0 * y - 1)[:, None] * (X @ np.asarray(C, np.float64).T)
  return np.logaddexp(0, -z).mean(0) + np.asarray(alphas) * np.abs(np.asarray(C, np.float64)).sum(1)


def logistic_solvers(X, y, grid):
  """The L1 logistic path (no intercept, mean log-loss + α‖w‖₁) by every installed solver: ``{name: (settings,
  make(tol))}``."""
  from sklearn.linear_model import LogisticRegression
  n = len(y)

  def sk(tol):
    return one_blas_thread(lambda: np.array([LogisticRegression(
        l1_ratio=1.0, C=1 / (n * a), solver="liblinear", fit_intercept=False, tol=tol, max_iter=100_000).fit(X, y)
        .coef_[0] for a in grid]))
  out = {"scikit-learn LogisticRegression (liblinear)": ("C = 1/(n·alpha), one fit per alpha, tol, 1 BLAS thread", sk)}
  X32, y32 = X.astype(np.float32), y.astype(np.float32)
  out["jaxreg logistic_path (float64)"] = ("FISTA over all alphas, tol on the prox-gradient mapping", lambda tol: (
      lambda: np.asarray(_block(jaxreg.paths.logistic_path(X, y, alphas=grid, tol=tol, max_iter=100_000)[1]))))
  out["jaxreg logistic_path (float32)"] = ("as float64, on float32 data (tol ≥ 1e-5, float32's floor here)", lambda tol: (
      lambda: np.asarray(_block(jaxreg.paths.logistic_path(X32, y32, alphas=grid.astype(np.float32), tol=max(tol, 1e-5),
                                                            max_iter=100_000)[1]))))
  try:
    from celer import celer_path
    out["celer celer_path (logreg)"] = ("summed log-loss: alphas × n; tol on the duality gap, prune=True", lambda tol: (
        lambda: np.asarray(celer_path(X, 2.0 * y - 1, "logreg", alphas=grid * n, tol=tol, prune=True)[1]).T))
  except ImportError:
    pass
  skglm = _skglm()
  if skglm is not None:
    def sg(tol):
      def run():
        est = skglm.SparseLogisticRegression(alpha=grid[0], fit_intercept=False, tol=tol, warm_start=True)
        out = []
        for a in grid:
          est.alpha = a
          out.append(est.fit(X, y).coef_.ravel().copy())
        return np.array(out)
      return run
    out["skglm SparseLogisticRegression"] = ("warm starts along the path, tol on the KKT violation", sg)
  return out


def _time_once(fn):
  t = time.perf_counter()
  out = fn()
  return time.perf_counter() - t, out


def matched_workload(title, X, y, grid, repeats, budget_s=60.0, make_solvers=None, objectives=None):
  """Calibrates every solver's tolerance to MATCH, then times it cold and steady. Returns table rows.
  ``make_solvers``/``objectives``: :func:`matched_solvers`/:func:`lasso_objectives` (the lasso) by default."""
  import scipy.sparse as sp
  X = X.copy() if sp.issparse(X) else np.array(X, order="F")  # writable (celer), Fortran (scikit-learn's CD)
  y = np.array(y)
  solvers = (make_solvers or matched_solvers)(X, y, grid)
  objectives = objectives or lasso_objectives
  tight, runtimes = {}, {}
  for name, (_, make) in solvers.items():  # the reference runs, at each solver's tightest tolerance
    jax.clear_caches()
    t, C = _time_once(make(LADDER[-1]))
    runtimes[name] = t
    if np.all(np.isfinite(C)):
      tight[name] = objectives(X, y, C, grid)
  ref = np.min(np.stack(list(tight.values())), 0)
  rows = []
  for name, (settings, make) in solvers.items():
    chosen, sub = None, None
    for tol in LADDER:  # loosest first: the first that matches wins
      if tol == LADDER[-1]:
        C = None
        obj = tight.get(name)
      else:
        if runtimes[name] > budget_s:
          continue
        _, C = _time_once(make(tol))
        obj = objectives(X, y, C, grid)
      if obj is None:
        continue
      s_ = max(0.0, float(np.max((obj - ref) / np.maximum(ref, np.finfo(float).tiny))))  # < 0: rounding
      if s_ <= MATCH:
        chosen, sub = tol, s_
        break
      sub = s_
    if chosen is None:
      chosen = LADDER[-1]
    fn = make(chosen)
    jax.clear_caches()
    cold, _ = _time_once(fn)
    times = [_time_once(fn)[0] for _ in range(repeats if runtimes[name] <= budget_s else 1)]
    rows.append({"solver": name, "settings": settings, "tol": chosen, "rel_subopt": sub,
                 "matched": bool(sub is not None and sub <= MATCH), "cold_s": cold, "steady_s": statistics.median(times)})
  peers = [r for r in rows if not r["solver"].startswith("jaxreg")]
  fastest = min(r["steady_s"] for r in ([r for r in peers if r["matched"]] or peers))
  for r in rows:
    r["ratio_vs_fastest_peer"] = r["steady_s"] / fastest
  return _common.table(title, rows)


def peak_rss_mb(n, p, dtype="float64"):
  """Peak RSS (MB) of a fresh process (jax, jaxreg and numpy imported: ~170 MB before any array) that runs the
  100-alpha lasso path (to α_max/100, tol 1e-6) on an n × p wide design."""
  import subprocess
  code = (
      "import resource, jax, numpy as np\n"
      f"jax.config.update('jax_enable_x64', {dtype == 'float64'})\n"
      "from jaxreg import paths\n"
      "rng = np.random.default_rng(0)\n"  # wide_problem's design, without importing the benchmark's harness
      f"Z = rng.standard_normal(({n}, {p})); X = np.empty_like(Z); X[:, 0] = Z[:, 0]\n"
      f"for j in range(1, {p}): X[:, j] = 0.5 * X[:, j - 1] + np.sqrt(0.75) * Z[:, j]\n"
      "w = np.zeros(X.shape[1]); w[rng.choice(X.shape[1], 10, replace=False)] = rng.standard_normal(10)\n"
      "y = X @ w + 0.5 * rng.standard_normal(X.shape[0]); X -= X.mean(0); y -= y.mean()\n"
      f"paths.lasso_path(X.astype('{dtype}'), y.astype('{dtype}'), alphas=100, eps=1e-2, tol=1e-6)\n"
      # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's peak across exec on Linux)
      "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')] if __import__('os').path.exists("
      "'/proc/self/status') else []\n"
      "print(int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  return float(out.stdout.strip().splitlines()[-1])


def matched_markdown(t) -> str:
  lines = [f"**{t['title']}**", "", "| solver | tol | rel. subopt. | cold (s) | steady (s) | ratio vs fastest peer |",
           "|---|---:|---:|---:|---:|---:|"]
  for r in t["rows"]:
    lines.append(f"| {r['solver']} | {r['tol']:g} | {r['rel_subopt']:.0e}{'' if r['matched'] else ' ✗'} | "
                 f"{r['cold_s']:.2f} | {r['steady_s']:.4f} | {r['ratio_vs_fastest_peer']:.2f} |")
  return "\n".join(lines)


def wide_cv_rows(X, y, tol, folds=5):
  """5-fold × 100-alpha lasso CV on a wide design: scikit-learn's LassoCV and jaxreg's ``enet_cv`` (whose
  automatic choice here is the working-set solver, the folds one after another), on the same grid and folds."""
  from sklearn.linear_model import LassoCV
  grid = lasso_grid(X, y, 100, 1e-2)
  rows = {"scikit-learn LassoCV (1 BLAS thread)": one_blas_thread(lambda: LassoCV(alphas=grid, cv=folds, tol=tol).fit(X, y)),
          "jaxreg enet_cv (working set, folds in turn)": lambda: _block(jaxreg.paths.enet_cv(X, y, alphas=grid,
                                                                                             folds=folds, tol=tol))}
  # celer 0.7.4's LassoCV passes n_alphas to scikit-learn 1.9's LassoCV, which no longer takes it: not timed.
  return rows


# --------------------------------------------------------------------------- timing


def time_rows(rows, repeats):
  cold, outs = {}, {}
  for name, fn in rows.items():
    jax.clear_caches()
    t = time.perf_counter()
    outs[name] = fn()
    cold[name] = time.perf_counter() - t
  for fn in rows.values():   # untimed: each cold call above cleared the caches, evicting the other rows' programs
    fn()
  steady = {name: [] for name in rows}
  names = list(rows)
  for r in range(repeats):
    for name in names[r % len(names):] + names[: r % len(names)]:
      t = time.perf_counter()
      rows[name]()
      steady[name].append(time.perf_counter() - t)
  return cold, {k: statistics.median(v) for k, v in steady.items()}, outs


def table_rows(cold, steady, checks):
  """Rows ``{solver, cold_s, steady_s, speedup_vs_best_sklearn, **check}``; the speedup is against the faster
  scikit-learn row (steady)."""
  ref = min((k for k in steady if k.startswith("scikit-learn")), key=steady.get)
  return [{"solver": name, "cold_s": cold[name], "steady_s": steady[name],
           "speedup_vs_best_sklearn": steady[ref] / steady[name], **checks[name]} for name in steady]


def _check_text(row) -> str:
  if "max_coef_diff" in row:
    return f"max coef diff {row['max_coef_diff']:.1e} of max coef"
  return (f"alpha {'=' if row['alpha_matches_reference'] else '≠'} reference; mean CV MSE vs reference: "
          f"median {row['cv_mse_dev_median']:.0e}, max {row['cv_mse_dev_max']:.0e}")


def markdown(title, rows) -> str:
  lines = [f"**{title}**", "", "| solver | cold (s) | steady (s) | speedup vs best scikit-learn row (steady) | check |",
           "|---|---:|---:|---:|---|"]
  for r in rows:
    lines.append(f"| {r['solver']} | {r['cold_s']:.3f} | {r['steady_s']:.4f} | {r['speedup_vs_best_sklearn']:.2f}x | "
                 f"{_check_text(r)} |")
  return "\n".join(lines)


def options(parser):
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--cv-sizes", default="2000x200",
                      help="the CV workloads, n x p, comma-separated (default 2000x200)")
  parser.add_argument("--scale", default="full", choices=["full", "quick", "none"],
                      help="the matched-accuracy workloads of issue 12 (quick: small stand-ins; none: skip)")


JAX_PATH, JAX_PATH_WARM = ("jaxreg lasso_path (all alphas in parallel; default)",
                           "jaxreg lasso_path (warm starts one alpha at a time)")
JAX_CV = "jaxreg enet_cv (default)"


def main(argv=None):
  args = _common.apply_quick(_common.parse_args(argv, NAME, __doc__, options=options), QUICK)
  rec = _common.Recorder(NAME, args)
  warnings.simplefilter("ignore")  # scikit-learn / skglm convergence chatter at tol 1e-10
  import sklearn
  from sklearn.linear_model import LassoCV
  skglm = _skglm()
  tables = {}
  with jax.enable_x64(True):
    X, y, _ = _common.diabetes()
    cold, steady, outs = time_rows(path_rows(X, y, 1e-10), args.repeats)
    ref = outs["scikit-learn lasso_path"]
    checks = {k: {"max_coef_diff": float(np.max(np.abs(v - ref)) / np.max(np.abs(ref)))} for k, v in outs.items()}
    title = "(1) diabetes, 100-alpha lasso path, tol 1e-10"
    tables["path"] = _common.table(title, table_rows(cold, steady, checks))
    tables["path"]["workload"] = "diabetes, 100-alpha lasso path, tol 1e-10"
    print(markdown(title, tables["path"]["rows"]) + "\n")

    sizes = [tuple(int(v) for v in w.lower().split("x")) for w in args.cv_sizes.split(",") if w]
    for i, (n, p) in enumerate(sizes):
      reps = args.repeats if p <= 200 else max(3, args.repeats // 2)
      X, y = toeplitz_problem(n, p)
      # skglm's 5-fold loop takes ~40 s per call at 10 000 x 1 000: only timed on the smaller workloads.
      cold, steady, outs = time_rows(cv_rows(X, y, 1e-4, skglm_too=p <= 200), reps)
      ref = LassoCV(alphas=100, cv=5, tol=1e-8, max_iter=100_000).fit(X, y)  # converged reference, untimed
      a_ref, m_ref = float(ref.alpha_), ref.mse_path_.mean(1)
      checks = {}
      for k, v in outs.items():
        a, m = cv_summary(v)
        dev = np.abs(m.mean(1) - m_ref) / m_ref
        checks[k] = {"alpha_matches_reference": bool(np.isclose(a, a_ref, rtol=1e-9)),
                     "cv_mse_dev_median": float(np.median(dev)), "cv_mse_dev_max": float(dev.max())}
      workload = f"{n} × {p} Toeplitz(0.5), 20 nonzeros, 5-fold × 100-alpha LassoCV, tol 1e-4"
      title = f"({i + 2}) {workload}"
      tables[f"cv_{n}x{p}"] = {**_common.table(title, table_rows(cold, steady, checks)), "workload": workload,
                               "repeats": reps}
      print(markdown(title, tables[f"cv_{n}x{p}"]["rows"]) + "\n")
    extra = scale_workloads(args, tables)
  return _common.finish_benchmark(
      rec, settings={"repeats": args.repeats, "cv_sizes": [list(s) for s in sizes], "float64": True,
                     "sklearn_blas_threads": "default and 1"},
      tables=tables, versions={"jaxreg": jaxreg.__version__, "scikit-learn": sklearn.__version__,
                               "skglm": getattr(skglm, "__version__", None), **_peer_versions()}, **extra)


def _peer_versions():
  out = {}
  for mod in ("celer", "glum"):
    try:
      out[mod] = __import__(mod).__version__
    except ImportError:
      out[mod] = None
  return out


def scale_workloads(args, tables):
  """The matched-accuracy workloads (issue 12): tables keyed ``m_*``; returns ``{"peak_rss_mb": ...}``."""
  if args.scale == "none":
    return {}
  quick = args.scale == "quick"
  reps = 1 if quick else 3
  work = []
  X, y, _ = _common.diabetes()
  work.append(("m_diabetes", "diabetes (442 × 10), 100-alpha lasso path to α_max/1000", X, y, lasso_grid(X, y, 100, 1e-3)))
  work += [] if quick else tall_workloads()
  n, p = (30, 300) if quick else (72, 7129)
  Xw, yw = wide_problem(n, p)
  work.append(("m_wide_path", f"wide {n} × {p} Toeplitz(0.5), 100-alpha lasso path to α_max/100", Xw, yw,
               lasso_grid(Xw, yw, 100, 1e-2)))
  n, p, dens = (500, 300, 0.02) if quick else (20_000, 5000, 0.002)
  Xs, ys = sparse_problem(n, p, dens)
  work.append(("m_sparse_path", f"sparse {n} × {p} (density {dens}), 100-alpha lasso path to α_max/100", Xs, ys,
               lasso_grid(Xs, ys, 100, 1e-2)))
  from sklearn.datasets import load_breast_cancer
  Xb, yb = load_breast_cancer(return_X_y=True)
  Xb = (Xb - Xb.mean(0)) / Xb.std(0)
  amax = np.max(np.abs(Xb.T @ (yb - 0.5))) / len(yb)  # the smallest alpha with w = 0 (no intercept), all rows
  m, k = (150, 10) if quick else (len(yb), 100)
  work.append(("m_logistic", f"breast_cancer ({m} × 30, standardized), {k}-alpha L1 logistic path to α_max/100",
               Xb[:m], yb[:m].astype(float), amax * np.geomspace(1, 1e-2, k), logistic_solvers, logistic_objectives))
  for key, title, X_, y_, grid_, *how in work:
    t = time.perf_counter()
    tables[key] = {**matched_workload(title, X_, y_, grid_, reps, 60.0, *how), "workload": title,
                   "matched": MATCH}
    print(matched_markdown(tables[key]) + f"\n({time.perf_counter() - t:.0f} s)\n")
  # Wide CV (tol 1e-4 for all, as the other CV tables).
  from sklearn.linear_model import LassoCV
  cold, steady, outs = time_rows(wide_cv_rows(Xw, yw, 1e-4), reps)
  grid = lasso_grid(Xw, yw, 100, 1e-2)
  ref = LassoCV(alphas=grid, cv=5, tol=1e-8, max_iter=100_000).fit(Xw, yw)  # a converged reference, untimed
  at = lambda a: int(np.argmin(np.abs(grid - a)))
  tables["wide_cv"] = {**_common.table(f"wide {Xw.shape[0]} × {Xw.shape[1]}, 5-fold × 100-alpha lasso CV, tol 1e-4",
                                       [{"solver": k, "cold_s": cold[k], "steady_s": steady[k],
                                         "alpha": cv_summary(outs[k])[0], "alpha_index": at(cv_summary(outs[k])[0]),
                                         "reference_alpha_index": at(ref.alpha_)} for k in steady]),
                       "workload": f"wide {Xw.shape[0]} × {Xw.shape[1]} 5-fold × 100-alpha CV"}
  print(tables["wide_cv"])
  rss = {}
  for n, p in ([] if quick else [(72, 7129), (100, 20_000)]):
    rss[f"{n}x{p}"] = peak_rss_mb(n, p)
  print("peak RSS (MB) of a 100-alpha jaxreg path in a fresh process:", rss)
  return {"peak_rss_mb": rss}


def tall_workloads():
  """The 10 000 × 1 000 correlated Gaussian lasso: a 100-alpha path, and one alpha with ~10 % nonzeros."""
  work = []
  n, p = 10_000, 1000
  Xb, yb = toeplitz_problem(n, p, k=p // 10)
  Xb, yb = Xb - Xb.mean(0), yb - yb.mean()
  grid = lasso_grid(Xb, yb, 100, 1e-3)
  work.append(("m_tall_path", f"{n} × {p} Toeplitz(0.5), 100-alpha lasso path to α_max/1000", Xb, yb, grid))
  # One alpha with ~10 % nonzeros: read off a (loose, untimed) scikit-learn path on the same grid.
  from sklearn.linear_model import lasso_path
  nnz = (np.abs(lasso_path(Xb, yb, alphas=grid, tol=1e-4)[1]) > 0).sum(0)
  a10 = grid[int(np.argmin(np.abs(nnz - p // 10)))]
  work.append(("m_tall_single", f"{n} × {p} Toeplitz(0.5), one alpha ({int(nnz[np.argmin(np.abs(nnz - p // 10))])} nonzeros)",
               Xb, yb, np.array([a10])))
  return work


def readme(record: dict) -> str:
  """The README's block for this benchmark, from its record."""
  versions = record.get("versions") or {}
  lead = (f"**Regularization paths** (`python -m experiments.bench_paths`, float64, scikit-learn "
          f"{versions.get('scikit-learn')}; steady = median of compiled calls, cold = first call including XLA "
          "compilation; ratio against scikit-learn's faster configuration, default BLAS threads or one thread).")
  lines = ["| workload | scikit-learn steady (s) | jaxreg steady (s) | jaxreg cold (s) | speedup (steady) |",
           "|---|---:|---:|---:|---:|"]
  notes, speedups = [], []
  for key, t in record["tables"].items():
    if key != "path" and not key.startswith("cv_"):
      continue
    rows = {r["solver"]: r for r in t["rows"]}
    sk = min((r for name, r in rows.items() if name.startswith("scikit-learn")), key=lambda r: r["steady_s"])
    ours = rows[JAX_PATH if key == "path" else JAX_CV]
    lines.append(f"| {t['workload']} | {sk['steady_s']:.4f} | {ours['steady_s']:.4f} | {ours['cold_s']:.2f} | "
                 f"{ours['speedup_vs_best_sklearn']:.2f}× |")
    speedups.append((t["workload"], ours["speedup_vs_best_sklearn"]))
    if key == "path" and JAX_PATH_WARM in rows:
      notes.append(f"On the diabetes path, warm starts one alpha at a time (scikit-learn's strategy) would be "
                   f"{rows[JAX_PATH_WARM]['speedup_vs_best_sklearn']:.2f}× instead of "
                   f"{ours['speedup_vs_best_sklearn']:.2f}×; jaxreg's coefficients differ from scikit-learn's by "
                   f"{ours['max_coef_diff']:.0e} of max|coef|.")
    elif key != "path":
      picks = [name for name, r in rows.items() if r["alpha_matches_reference"]]
      notes.append(f"{t['workload'].split(' Toeplitz')[0]}: the alpha of a converged reference (LassoCV at tol 1e-8) "
                   f"was picked by {', '.join(picks) if picks else 'no solver'}.")
  slower = [f"{w.split(' Toeplitz')[0].split(',')[0]} ({x:.2f}×)" for w, x in speedups if x < 1]
  notes.append("Compilation (the cold column) dominates a single call. "
               + (f"scikit-learn's scalar coordinate descent (which skips coefficients that stay zero) was faster on "
                  f"{', '.join(slower)}." if slower else "jaxreg was faster than scikit-learn at its best on every "
                                                         "workload."))
  return "\n".join([_common.wrap(lead), "", *lines, "", _common.bench_caption(record), "",
                    _common.wrap(" ".join(notes)), *_matched_readme(record)])


def _matched_readme(record):
  """The matched-accuracy table (issue 12): per workload, the fastest peer and jaxreg's ratio to it."""
  keys = [k for k in record["tables"] if k.startswith("m_")]
  if not keys:
    return []
  lines = ["", _common.wrap(
      f"**At matched accuracy** (every solver at the loosest of its tolerances {', '.join(f'{t:g}' for t in LADDER)} "
      f"whose largest relative objective suboptimality over the alphas is ≤ {MATCH:g} against the best objective any "
      "solver reached; float64 unless stated; ratio = jaxreg steady / fastest peer steady, ≤ 1 means jaxreg is "
      "fastest):"), "",
      "| workload | fastest peer (steady s) | jaxreg float64 steady (s) | ratio | jaxreg float32 ratio | jaxreg cold (s) |",
      "|---|---|---:|---:|---:|---:|"]
  for key in keys:
    t = record["tables"][key]
    rows = {r["solver"]: r for r in t["rows"]}
    peers = [r for n, r in rows.items() if not n.startswith("jaxreg") and r["matched"]]
    best = min(peers, key=lambda r: r["steady_s"]) if peers else None
    j64, j32 = (next(r for n, r in rows.items() if n.startswith("jaxreg") and f"({d})" in n)
                for d in ("float64", "float32"))
    peer = f"{best['solver']} ({best['steady_s']:.4f})" if best else "none matched"
    f32 = f"{j32['ratio_vs_fastest_peer']:.2f}{'' if j32['matched'] else ' (✗ ' + format(j32['rel_subopt'], '.0e') + ')'}"
    lines.append(f"| {t['workload']} | {peer} | {j64['steady_s']:.4f} | {j64['ratio_vs_fastest_peer']:.2f} | {f32} | "
                 f"{j64['cold_s']:.2f} |")
  cv = record["tables"].get("wide_cv")
  if cv:
    r = {row["solver"].split(" (")[0]: row for row in cv["rows"]}
    sk, jx = r.get("scikit-learn LassoCV"), r.get("jaxreg enet_cv")
    if sk and jx:
      lines += ["", f"{cv['title']}: scikit-learn `LassoCV` {sk['steady_s']:.3f} s, jaxreg `enet_cv` "
                f"{jx['steady_s']:.3f} s steady ({jx['cold_s']:.1f} s cold), ratio {jx['steady_s'] / sk['steady_s']:.2f}; "
                f"selected grid index: scikit-learn {sk['alpha_index']}, jaxreg {jx['alpha_index']}, converged reference "
                f"(LassoCV at tol 1e-8) {sk['reference_alpha_index']}."]
  rss = record.get("peak_rss_mb") or {}
  if rss:
    lines += ["", "Peak RSS of a fresh process running jaxreg's 100-alpha path on a wide design: "
              + ", ".join(f"{k.replace('x', ' × ')}: {v:.0f} MB" for k, v in rss.items()) + "."]
  return lines


if __name__ == "__main__":
  sys.exit(0 if main() else 1)
