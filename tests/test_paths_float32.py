"""jaxreg.paths in float32 (JAX's default): every returned solution reaches ``tol``, or a warning says why not.

Reference: scikit-learn's float64 solvers on the same data (the float32 arrays, cast up), at the same
alphas and ``tol=1e-12``; objectives and duality gaps of the float32 coefficients are recomputed in
float64 here. The convention is scikit-learn's: per alpha, the duality gap of the objective
``1/(2n)‖y − Xw‖² + α·ρ‖w‖₁ + α(1 − ρ)/2‖w‖²`` is at most ``tol·‖y‖²/n``, and the suboptimality is at
most the gap. Problems are batched by shape (wide, square, tall; independent and correlated columns) so
that each class compiles once per solver setting.
"""

import re
import warnings

import jax
import numpy as np
import pytest
from sklearn.linear_model import ElasticNetCV
from sklearn.linear_model import enet_path as sk_enet_path

from jaxreg import paths


@pytest.fixture(autouse=True, scope="module")
def float32():
  old = jax.config.jax_enable_x64
  jax.config.update("jax_enable_x64", False)
  yield
  jax.config.update("jax_enable_x64", old)


TOL = 1e-4
# float32 rounding of a duality gap relative to ‖y‖²/n: the errors measured on these problems stay
# below ~1.1e-5 (Gram-form gaps are reported only where their bound is below tol/4, residual-form
# gaps are accurate to ~1e-6).
F32_GAP = 0.25 * TOL + 1e-6
SHAPES = {"wide": (10, 40), "square": (24, 24), "tall": (96, 16)}
N_PROBLEMS = 20
# The first problems of each class run in the fast loop, the rest with `pytest -m slow` (run by .ci/run).
SEEDS = [pytest.param(range(4), id="seeds0-3"), pytest.param(range(4, N_PROBLEMS), id="seeds4-19", marks=pytest.mark.slow)]


def problem(n, p, seed):
  """Gaussian columns, every other seed with a common factor (pairwise correlation 0.9); 3 true
  coefficients, unit noise; centered; float32."""
  rng = np.random.default_rng(seed)
  X = rng.standard_normal((n, p))
  if seed % 2:
    X = np.sqrt(0.1) * X + np.sqrt(0.9) * rng.standard_normal((n, 1))
  y = X[:, :3] @ rng.standard_normal(3) + rng.standard_normal(n)
  return (X - X.mean(0)).astype(np.float32), (y - y.mean()).astype(np.float32)


def objective(X, y, W, alphas, l1_ratio):
  """The objective of every row of ``W`` at its alpha, in float64."""
  n = X.shape[0]
  R = y[None] - W @ X.T
  return (np.sum(R * R, 1) / (2 * n) + alphas * l1_ratio * np.abs(W).sum(1)
          + alphas * (1 - l1_ratio) / 2 * np.sum(W * W, 1))


def duality_gap(X, y, W, alphas, l1_ratio):
  """scikit-learn's duality gap (formulation A of ``_cd_fast.pyx``) divided by ``n``, in float64."""
  n = X.shape[0]
  l1, l2 = n * alphas * l1_ratio, n * alphas * (1 - l1_ratio)
  R = y[None] - W @ X.T
  xta = R @ X - l2[:, None] * W
  dual_norm = np.abs(xta).max(1)
  s = np.where(dual_norm > l1, l1 / np.where(dual_norm > 0, dual_norm, 1), 1)
  a = np.sum(R * R, 1) + l2 * np.sum(W * W, 1)
  return (0.5 * a * (1 + s * s) + l1 * np.abs(W).sum(1) - s * (R @ y)) / n


def sklearn_objective(X, y, alphas, l1_ratio):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _, coefs, _ = sk_enet_path(X, y, l1_ratio=l1_ratio, alphas=alphas, tol=1e-12, max_iter=200_000)
  return objective(X, y, coefs.T, alphas, l1_ratio)


def _info(path):
  """The fields of a ``return_info=True`` result (a :class:`jaxreg.paths.PathInfo`), as a tuple."""
  assert isinstance(path, paths.PathInfo)
  return path.alphas, path.coefs, path.gaps, path.n_iter


def convergence_warnings(record):
  return [str(w.message) for w in record if issubclass(w.category, paths.ConvergenceWarning)]


def check_path(X, y, l1_ratio, alphas, coefs, gaps, n_iter, messages, max_iter):
  """Each returned solution is within tol (+ float32 rounding) of scikit-learn's optimum, its reported
  gap is its real gap, and every one that is not within tol is announced, with the true reason."""
  X64, y64 = X.astype(np.float64), y.astype(np.float64)
  alphas, W = np.asarray(alphas, np.float64), np.asarray(coefs, np.float64)
  assert np.isfinite(W).all()
  scale = y64 @ y64 / X.shape[0]
  subopt = (objective(X64, y64, W, alphas, l1_ratio) - sklearn_objective(X64, y64, alphas, l1_ratio)) / scale
  true_gap = duality_gap(X64, y64, W, alphas, l1_ratio) / scale
  np.testing.assert_array_less(np.asarray(gaps, np.float64) / scale - true_gap, F32_GAP)
  np.testing.assert_array_less(true_gap - np.asarray(gaps, np.float64) / scale, F32_GAP)
  assert np.all(subopt <= true_gap + 1e-6)  # a gap bounds the suboptimality (up to float32 rounding)
  unconverged = np.asarray(n_iter) >= max_iter
  if unconverged.any():  # max_iter ran out: said so, and still no runaway
    assert any(re.search(f"within max_iter={max_iter}", m) for m in messages), messages
    assert np.all(subopt[unconverged] <= 1e-2), subopt[unconverged]
  assert np.all(subopt[~unconverged] <= TOL + F32_GAP), subopt
  # without a warning, every gap reached tol (to float32 rounding)
  if not messages:
    assert np.all(true_gap <= TOL + F32_GAP), true_gap.max()
  return subopt.max()


# Anderson extrapolation on (the default) and off; off only where plain CD is slow (each setting is one
# more compiled program, ~3 s).
@pytest.mark.parametrize("shape, anderson", [("wide", None), ("wide", 0), ("square", None), ("square", 0),
                                             ("tall", None)], ids=["wide", "wide-plain", "square", "square-plain", "tall"])
@pytest.mark.parametrize("seeds", SEEDS)
def test_lasso_and_enet_paths_reach_tol_on_random_problems(shape, anderson, seeds):
  n, p = SHAPES[shape]
  max_iter = 5000
  for seed in seeds:
    X, y = problem(n, p, seed)
    for fn, l1_ratio in ((paths.lasso_path, 1.0), (paths.enet_path, 0.5)):
      kwargs = {} if fn is paths.lasso_path else {"l1_ratio": l1_ratio}
      with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        alphas, coefs, gaps, n_iter = _info(fn(X, y, alphas=10, eps=1e-2, tol=TOL, max_iter=max_iter,
                                         solver=paths.SolverOptions(anderson=anderson), return_info=True, **kwargs))
      assert coefs.dtype == np.float32
      check_path(X, y, l1_ratio, alphas, coefs, gaps, n_iter, convergence_warnings(record), max_iter)


def test_issue_9_wide_gaussian_10x40_no_runaway():
  """The reported case: 10 × 40 Gaussian, float32, default eps and tol. Anderson steps along the negative
  eigenvalues of the float32 XᵀX (≈ −2e-6) used to be accepted: this very call returned ‖w‖₁ = 6.1e5 at the
  smallest alphas (7.7e6 with the default 100 alphas), objectives up to 1e7 times scikit-learn's, and the
  only warning said "increase max_iter", which did not help. (10 alphas: the program of the wide tests.)"""
  rng = np.random.default_rng(0)
  X = rng.standard_normal((10, 40)).astype(np.float32)
  y = rng.standard_normal(10).astype(np.float32)
  for fn, l1_ratio in ((paths.lasso_path, 1.0), (paths.enet_path, 0.5)):
    kwargs = {} if fn is paths.lasso_path else {"l1_ratio": l1_ratio}
    for max_iter in (1000, 5000):
      with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        alphas, coefs, gaps, n_iter = _info(fn(X, y, alphas=10, max_iter=max_iter, return_info=True, **kwargs))
      assert np.abs(np.asarray(coefs)).sum(1).max() < 3  # was 6.1e5
      check_path(X, y, l1_ratio, alphas, coefs, gaps, n_iter, convergence_warnings(record), max_iter)
    assert not convergence_warnings(record)  # with the epochs it needs, every alpha reaches tol


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
@pytest.mark.parametrize("seeds", SEEDS)
def test_enet_cv_selects_sklearns_alpha_with_finite_errors(shape, seeds):
  n, p = SHAPES[shape]
  for seed in seeds:
    X, y = problem(n, p, seed)
    l1_ratio = 1.0 if seed % 4 < 2 else 0.5
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", paths.ConvergenceWarning)
      res = paths.enet_cv(X, y, l1_ratio=l1_ratio, alphas=10, eps=1e-2, folds=3, tol=TOL, max_iter=5000)
    mse = np.asarray(res.mse_path, np.float64)
    assert np.isfinite(mse).all() and np.isfinite(res.alpha) and np.isfinite(np.asarray(res.coef)).all()
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      sk = ElasticNetCV(l1_ratio=l1_ratio, alphas=np.asarray(res.alphas, np.float64), cv=3, tol=1e-12,
                        max_iter=200_000).fit(X.astype(np.float64), y.astype(np.float64))
    sk_mean = sk.mse_path_.mean(1)
    best = int(np.argmin(np.abs(np.asarray(res.alphas) - res.alpha)))
    # the selected alpha is as good as scikit-learn's by scikit-learn's own CV curve, and our curve agrees there
    assert sk_mean[best] <= sk_mean.min() * (1 + 1e-3), (seed, best, np.argmin(sk_mean))
    np.testing.assert_allclose(mse.mean(1)[best], sk_mean[best], rtol=0.05)
    # the refit reaches tol on the full (centered) data
    X64, y64 = X.astype(np.float64) - X.mean(0), y.astype(np.float64) - y.mean()
    coef = np.asarray(res.coef, np.float64)[None]
    a = np.array([float(res.alpha)])
    assert duality_gap(X64, y64, coef, a, l1_ratio)[0] <= (TOL + F32_GAP) * (y64 @ y64) / n


def test_returned_gaps_are_the_gaps_of_the_returned_coefficients():
  """Correlated, wide, small alphas: the Gram form would be off here; the reported gaps are recomputed
  from the residuals, and agree with float64 to float32 rounding of ‖y‖²/n."""
  X, y = problem(10, 40, 1)
  for tol in (1e-4, 1e-7):
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", paths.ConvergenceWarning)
      alphas, coefs, gaps, _ = _info(paths.enet_path(X, y, l1_ratio=0.5, alphas=10, eps=1e-2, tol=tol, max_iter=5000,
                                               return_info=True))
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    true = duality_gap(X64, y64, np.asarray(coefs, np.float64), np.asarray(alphas, np.float64), 0.5)
    np.testing.assert_allclose(np.asarray(gaps, np.float64), true, rtol=0, atol=1e-6 * (y64 @ y64) / 10)


def test_unreachable_tol_says_float32_cannot_certify_it():
  X, y = problem(96, 16, 0)
  with pytest.warns(paths.ConvergenceWarning, match=r"float32 cannot certify tol below ~\d") as record:
    _, _, gaps, n_iter = _info(paths.lasso_path(X, y, alphas=10, eps=1e-2, tol=1e-10, max_iter=5000, return_info=True))
  assert not any("within max_iter" in m for m in convergence_warnings(record))
  assert np.asarray(n_iter).max() < 5000  # stops once epochs change nothing, instead of running out
  assert np.asarray(gaps).max() <= 1e-5 * (y @ y) / 96


@pytest.mark.parametrize("call, match", [
    (lambda X, y: paths.lasso_path(X * np.float32(1e20), y, alphas=10), r"X\^T X, X\^T y or y\^T y overflows in float32"),
    (lambda X, y: paths.enet_path(X, y * np.float32(1e25), alphas=10), r"overflows in float32"),
    (lambda X, y: paths.enet_cv(X * np.float32(1e20), y, alphas=10, folds=3), r"overflows in float32"),
    (lambda X, y: paths.lasso_path(X.astype(np.float64) * 1e40, y), r"X has values too large for float32"),
    (lambda X, y: paths.enet_cv(X, np.where(y > 0, np.nan, y)), "y contains NaN or inf"),
    (lambda X, y: paths.lasso_path(np.where(X > 1, np.inf, X), y), "X contains NaN or inf"),
    (lambda X, y: paths.lasso_path(X + 0j, y), "X must hold real numbers"),
])
def test_non_finite_inputs_and_solutions_raise(call, match):
  X, y = problem(96, 16, 0)
  with pytest.raises(ValueError, match=match):
    call(X, y)


def test_non_finite_solver_output_is_refused_not_returned(monkeypatch):
  X, y = problem(96, 16, 0)
  from jaxreg.paths import _linear
  solve = _linear._enet_path_jit

  def poisoned(*args, **kwargs):
    alphas, W, gap, status = solve(*args, **kwargs)
    return alphas, W.at[3, 0].set(np.nan), gap, status

  monkeypatch.setattr(_linear, "_enet_path_jit", poisoned)
  with pytest.raises(ValueError, match="non-finite coefficients"):
    paths.lasso_path(X, y, alphas=10, eps=1e-2)


def test_enet_cv_never_selects_a_nan_alpha():
  """Outside jit a non-finite fold error raises (above); under jit nothing can, and the selection skips NaN."""
  mse_path = np.array([[np.nan, 1.0], [2.0, 2.0], [1.5, 1.0], [np.nan, np.nan]], np.float32)
  from jaxreg.paths._cv import _best_alpha
  assert int(_best_alpha(jax.numpy.asarray(mse_path))) == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"max_iter": 1.5}, "max_iter must be an integer"),
    ({"max_iter": 2.0}, "max_iter must be an integer"),
    ({"max_iter": True}, "max_iter must be an integer"),
    ({"max_iter": "100"}, "max_iter must be an integer"),
    ({"max_iter": None}, "max_iter must be an integer"),
    ({"max_iter": 0}, "max_iter must be an integer >= 1"),
    ({"solver": paths.SolverOptions(block=2.0)}, "solver.block must be an integer or None"),
    ({"solver": paths.SolverOptions(block=0)}, "solver.block must be an integer >= 1"),
    ({"solver": paths.SolverOptions(chunk=True)}, "solver.chunk must be an integer or None"),
    ({"solver": paths.SolverOptions(check_every=0)}, "solver.check_every must be an integer >= 1"),
    ({"solver": paths.SolverOptions(check_every=10.0)}, "solver.check_every must be an integer or None"),
    ({"solver": paths.SolverOptions(anderson=-1)}, "solver.anderson must be an integer >= 0"),
    ({"solver": paths.SolverOptions(anderson=5.0)}, "solver.anderson must be an integer or None"),
    ({"solver": {"chunk": 2}}, "solver must be a jaxreg.paths.SolverOptions or None"),
    ({"alphas": 2.0}, "alphas must be an integer.*number of alphas.*e.g. \\[2.0\\]"),
    ({"alphas": True}, "alphas must be an integer"),
    ({"alphas": np.array([0.1, np.inf])}, "alphas must be a finite number > 0"),
    ({"l1_ratio": None}, "l1_ratio must be a number"),
    ({"l1_ratio": True}, "l1_ratio must be a real number"),
    ({"l1_ratio": "0.5"}, "l1_ratio must be a real number"),
    ({"l1_ratio": np.inf}, "l1_ratio must be a finite number in"),
    ({"l1_ratio": np.array([0.5, 0.5])}, "l1_ratio must be a scalar"),
    ({"tol": np.inf}, "tol must be a finite number >= 0"),
    ({"tol": None}, "tol must be a number"),
    ({"eps": None}, "eps must be a number"),
    ({"eps": np.inf}, "eps must be a finite number > 0"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
  X, y = problem(96, 16, 0)
  with pytest.raises(ValueError, match=match):
    paths.enet_path(X, y, **kwargs)


@pytest.mark.parametrize("folds, match", [
    (2.0, "folds must be an integer"), (True, "folds must be an integer"), (1, r"folds must be an integer in \[2, 96\]"),
    (97, r"folds must be an integer in \[2, 96\]"), (None, "folds must be an integer"),
])
def test_bad_folds_name_the_argument(folds, match):
  X, y = problem(96, 16, 0)
  with pytest.raises(ValueError, match=match):
    paths.enet_cv(X, y, folds=folds)
