"""jaxreg.paths at scale: the working-set solver (wide and sparse X), ``positive=True`` and the automatic
choice of solver, against scikit-learn (float64, ``tol=1e-10``) and brute force.

References are scikit-learn's ``enet_path``/``ElasticNet``/``Lasso`` on the same data (dense, or the same
scipy.sparse matrix) and the objective/duality gap recomputed in numpy; never jaxreg itself.
"""

import re
import subprocess
import sys
import textwrap
import warnings

import jax
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import ElasticNet, Lasso
from sklearn.linear_model import enet_path as sk_enet_path

from jaxreg import paths
from jaxreg.paths import _linear, _residual

WS = paths.SolverOptions(method="working_set")
GRAM = paths.SolverOptions(method="gram")


pytestmark = pytest.mark.usefixtures("x64")   # float64, as scikit-learn computes (tests/conftest.py)


def wide(n, p, seed=0, k=5, rho=0.2):
  """Correlated Gaussian columns (a common factor, pairwise correlation ``rho``), ``k`` true
  coefficients, noise 0.5; centered."""
  rng = np.random.default_rng(seed)
  X = np.sqrt(1 - rho) * rng.standard_normal((n, p)) + np.sqrt(rho) * rng.standard_normal((n, 1))
  k = min(k, p)
  y = X[:, :k] @ rng.standard_normal(k) + 0.5 * rng.standard_normal(n)
  return X - X.mean(0), y - y.mean()


def numpy_gap(X, y, w, alpha, l1_ratio, positive=False):
  """scikit-learn's duality gap (formulation A of ``_cd_fast.pyx``) divided by ``n``, in numpy."""
  n = X.shape[0]
  l1, l2 = alpha * l1_ratio * n, alpha * (1 - l1_ratio) * n
  R = y - X @ w
  xta = X.T @ R - l2 * w
  dual_norm = xta.max() if positive else np.abs(xta).max()
  s = min(1.0, l1 / dual_norm) if dual_norm > l1 else 1.0
  primal = 0.5 * (R @ R + l2 * w @ w) + l1 * np.abs(w).sum()
  dual = -0.5 * s * s * (R @ R + l2 * w @ w) + s * (R @ y)
  return (primal - dual) / n


def rel_err(coefs, ref):
  return float(np.max(np.abs(np.asarray(coefs) - ref)) / np.max(np.abs(ref)))


@pytest.mark.parametrize("shape,l1_ratio", [((30, 200), 1.0), ((30, 200), 0.5), ((50, 500), 1.0)])
def test_working_set_equals_sklearn_on_wide_problems(shape, l1_ratio):
  X, y = wide(*shape)
  kw = dict(l1_ratio=l1_ratio, alphas=30, eps=1e-2, tol=1e-10, max_iter=100_000)
  sk_a, sk_c, _ = sk_enet_path(X, y, **kw)
  info = paths.enet_path(X, y, solver=WS, return_info=True, **kw)
  np.testing.assert_allclose(info.alphas, sk_a, rtol=1e-10)
  assert rel_err(info.coefs, sk_c.T) <= 1e-6
  tol_gap = 1e-10 * (y @ y) / len(y)
  gaps = [numpy_gap(X, y, np.asarray(w), a, l1_ratio) for w, a in zip(info.coefs, sk_a)]
  assert max(gaps) <= tol_gap * (1 + 1e-6)  # the certificate holds for the returned coefficients
  np.testing.assert_allclose(info.gaps, gaps, rtol=1e-6, atol=1e-3 * tol_gap)


def test_working_set_equals_gram_solver_and_sklearn_at_given_alphas():
  X, y = wide(40, 120, seed=3)
  alphas = np.array([0.5, 0.05, 0.2, 0.01])  # unsorted: sorted decreasing, as scikit-learn
  sk_a, sk_c, _ = sk_enet_path(X, y, l1_ratio=0.8, alphas=alphas, tol=1e-10, max_iter=100_000)
  a, c = paths.enet_path(X, y, l1_ratio=0.8, alphas=alphas, tol=1e-10, max_iter=100_000, solver=WS)
  np.testing.assert_allclose(a, sk_a)
  assert rel_err(c, sk_c.T) <= 1e-6


@pytest.mark.parametrize("fmt", ["csc", "csr"])
def test_sparse_input_equals_sklearn_with_the_same_sparse_input(fmt):
  rng = np.random.default_rng(1)
  X = sp.random(60, 300, density=0.1, random_state=2, format="lil")
  X[:, 7] = 0  # an empty column: coefficient 0
  X = X.asformat(fmt)
  y = np.asarray(X[:, :5] @ rng.standard_normal(5)).ravel() + 0.1 * rng.standard_normal(60)
  sk_a, sk_c, _ = sk_enet_path(X, y, l1_ratio=0.7, alphas=30, tol=1e-10, max_iter=100_000)
  a, c = paths.enet_path(X, y, l1_ratio=0.7, alphas=30, tol=1e-10, max_iter=100_000)
  assert sp.issparse(X)  # untouched
  np.testing.assert_allclose(a, sk_a, rtol=1e-10)
  assert rel_err(c, sk_c.T) <= 1e-6
  assert np.all(np.asarray(c)[:, 7] == 0)


@pytest.mark.parametrize("n,p,density", [(80, 250, 0.08), (600, 200, 0.02)])  # working-set Gram: dense, from CSC
def test_sparse_centering_via_X_offset_equals_sklearn_fit_intercept(n, p, density):
  """scikit-learn centers sparse X implicitly (``X_offset`` inside its products); so does ``X_offset``."""
  rng = np.random.default_rng(4)
  X = sp.random(n, p, density=density, random_state=5, format="csc")
  assert (8 * np.diff(X.indptr).max() > n) == (n == 80)
  y = np.asarray(X[:, :4] @ (1 + rng.random(4))).ravel() + 2.0 + 0.1 * rng.standard_normal(n)
  x_mean, y_mean = np.asarray(X.mean(0)).ravel(), y.mean()
  a, c = paths.enet_path(X, y - y_mean, l1_ratio=0.9, alphas=20, tol=1e-10, max_iter=100_000, X_offset=x_mean)
  # The grid is scikit-learn's for fit_intercept=True.
  sk_a = ElasticNet(l1_ratio=0.9, fit_intercept=True).path(X, y - y_mean, l1_ratio=0.9, alphas=20, X_offset=x_mean,
                                                           X_scale=np.ones(p))[0]
  np.testing.assert_allclose(a, sk_a, rtol=1e-10)
  for i in (3, 10, 19):
    ref = ElasticNet(alpha=float(a[i]), l1_ratio=0.9, tol=1e-12, max_iter=100_000).fit(X, y)
    assert rel_err(c[i], ref.coef_) <= 1e-6
    np.testing.assert_allclose(y_mean - x_mean @ np.asarray(c[i]), ref.intercept_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", ["gram", "working_set"])
def test_positive_equals_sklearn_enet_path_positive(method):
  rng = np.random.default_rng(6)
  X = rng.standard_normal((40, 150))
  y = X[:, :6] @ rng.standard_normal(6) + 0.1 * rng.standard_normal(40)
  sk_a, sk_c, _ = sk_enet_path(X, y, l1_ratio=0.8, alphas=30, tol=1e-10, max_iter=100_000, positive=True)
  a, c = paths.enet_path(X, y, l1_ratio=0.8, alphas=30, tol=1e-10, max_iter=100_000, positive=True,
                         solver=paths.SolverOptions(method=method))
  np.testing.assert_allclose(a, sk_a, rtol=1e-10)  # alpha_max = max(Xᵀy)/(n·ρ), not max|Xᵀy|
  assert np.max(np.asarray(a)) < np.max(np.abs(X.T @ y)) / (40 * 0.8)
  assert np.all(np.asarray(c) >= 0)
  assert rel_err(c, sk_c.T) <= 1e-6


def test_positive_lasso_equals_sklearn_Lasso_positive_on_diabetes():
  from sklearn.datasets import load_diabetes
  X, y = load_diabetes(return_X_y=True)
  X, y = X - X.mean(0), y - y.mean()
  a, c = paths.lasso_path(X, y, alphas=20, tol=1e-10, max_iter=100_000, positive=True)
  for i in (2, 10, 19):
    ref = Lasso(alpha=float(a[i]), positive=True, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y)
    assert rel_err(c[i], ref.coef_) <= 1e-6


def test_positive_with_all_negative_correlations_gives_scikit_learns_constant_grid():
  X = np.abs(np.random.default_rng(7).standard_normal((20, 5)))
  y = -X @ np.ones(5)  # max(Xᵀy) < 0: w = 0 at every alpha
  a, c = paths.lasso_path(X, y, alphas=4, positive=True)
  sk_a = sk_enet_path(X, y, l1_ratio=1.0, alphas=4, positive=True)[0]
  np.testing.assert_allclose(a, sk_a)
  assert np.all(np.asarray(c) == 0)


def test_automatic_choice_of_solver(monkeypatch):
  choose = _linear._choose_method
  assert choose(442, 10, False, "auto") == "gram"
  assert choose(2000, 200, False, "auto") == "gram"
  assert choose(10_000, 1000, False, "auto") == "gram"
  assert choose(10_000, 1000, False, "auto", n_alphas=1) == "working_set"  # one alpha: no XᵀX
  assert choose(10_000, 400, False, "auto", n_alphas=1) == "gram"
  assert choose(10, 400, False, "auto") == "working_set"  # p ≥ 10·n, p ≥ 300
  assert choose(20, 250, False, "auto") == "gram"  # p ≤ _GRAM_MAX_P, p < 300
  assert choose(100, 450, False, "auto") == "gram"  # p ≤ _GRAM_MAX_P, p < 10·n
  assert choose(40, 800, False, "auto") == "working_set"
  assert choose(72, 7129, False, "auto") == "working_set"
  assert choose(20_000, 5000, True, "auto") == "working_set"  # sparse: always
  assert choose(72, 7129, False, "gram") == "gram"  # overridable
  # The dispatch runs the solver it names.
  ran = []
  orig = _residual._ws_path
  monkeypatch.setattr(_linear, "_ws_path", lambda *a, **k: ran.append("ws") or orig(*a, **k))
  X, y = wide(20, 1500)
  paths.lasso_path(X, y, alphas=3)
  paths.lasso_path(X[:, :30], y, alphas=3)
  assert ran == ["ws"]


def test_working_set_programs_hold_no_p_by_p_array():
  """The compiled programs of the working-set solver at p = 20 000: no array has two axes of length p."""
  n, p, A = 30, 20_000, 5
  X, y = np.zeros((n, p)), np.zeros(n)
  D = _residual._dense_design(jax.numpy.asarray(X))
  W, alphas, active = np.zeros((A, p)), np.ones(A), np.ones(A, bool)
  jaxprs = [jax.make_jaxpr(lambda *a: _residual._ws_check(*a, positive=False, bound=True))(
                D, y, W, alphas, 1.0, active, np.ones(p)),
            jax.make_jaxpr(_residual._col_norms2)(D),
            jax.make_jaxpr(lambda *a: _residual._ws_solve(*a, K=64, chunk=2, check_every=10, anderson=5,
                                                          positive=False))(
                D, y, W, alphas, 1.0, np.zeros(p), 20, np.full(A, 1e-6), np.full(A, 100), active)]
  text = "\n".join(str(j) for j in jaxprs)
  shapes = {tuple(int(d) for d in m.split(",") if d) for m in re.findall(r"\[([0-9,]+)\]", text)}
  assert shapes, "no shapes parsed"
  assert not [s for s in shapes if sum(d == p for d in s) >= 2]


@pytest.mark.slow
def test_peak_memory_of_a_100_by_20000_path_in_a_subprocess():
  code = textwrap.dedent("""
      import resource, jax, numpy as np
      jax.config.update("jax_enable_x64", True)
      from jaxreg import paths
      rng = np.random.default_rng(0)
      X = rng.standard_normal((100, 20_000)); X -= X.mean(0)
      y = X[:, :10] @ rng.standard_normal(10) + rng.standard_normal(100); y -= y.mean()
      paths.lasso_path(X, y, alphas=100, eps=1e-2, tol=1e-6)
      # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's peak across exec on Linux)
      import os
      hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")] if os.path.exists("/proc/self/status") else []
      print(int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  """)
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  peak_mb = float(out.stdout.strip().splitlines()[-1])
  assert peak_mb < 1500, peak_mb  # the Gram matrix alone would be 3.2 GB


def test_float32_wide_problem_is_certified_or_warns():
  jax.config.update("jax_enable_x64", False)
  try:
    X, y = wide(30, 400, seed=8)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      info = paths.lasso_path(X32, y32, alphas=20, tol=1e-4, solver=WS, return_info=True)
    assert info.coefs.dtype == np.float32
  finally:
    jax.config.update("jax_enable_x64", True)
  Xd, yd = X32.astype(np.float64), y32.astype(np.float64)
  tol_gap = 1e-4 * (yd @ yd) / len(yd)
  gaps = np.array([numpy_gap(Xd, yd, np.asarray(w, np.float64), float(a), 1.0)
                   for w, a in zip(info.coefs, info.alphas)])
  warned = [w for w in caught if issubclass(w.category, paths.ConvergenceWarning)]
  # Every alpha is certified (its float64 gap ≤ tol up to float32 rounding of the gap), or a warning says so.
  assert np.all(gaps <= tol_gap + 1e-6 * (yd @ yd) / len(yd)) or warned


# ------------------------------------------------------------------ bad input (ported from scikit-learn's tests)


def test_sparse_with_nan_or_inf_is_refused_naming_X():
  X = sp.random(10, 6, density=0.5, random_state=0, format="csr")
  X.data[0] = np.nan
  with pytest.raises(ValueError, match="X contains NaN or inf"):
    paths.lasso_path(X, np.ones(10))
  X.data[0] = np.inf
  with pytest.raises(ValueError, match="X contains NaN or inf"):
    paths.enet_path(X, np.ones(10))


def test_positive_with_l1_ratio_zero_is_refused():
  X, y = wide(10, 4)
  with pytest.raises(ValueError, match="positive=True needs l1_ratio > 0"):
    paths.enet_path(X, y, l1_ratio=0.0, alphas=[0.1], positive=True)
  with pytest.raises(ValueError, match="positive must be True or False"):
    paths.enet_path(X, y, positive="yes")


def test_bad_solver_method_and_offset_are_refused():
  X, y = wide(10, 4)
  with pytest.raises(ValueError, match="solver.method must be one of"):
    paths.lasso_path(X, y, solver=paths.SolverOptions(method="fast"))
  with pytest.raises(ValueError, match="method='gram' needs a dense X"):
    paths.lasso_path(sp.csc_matrix(X), y, solver=GRAM)
  with pytest.raises(ValueError, match="X_offset must be a concrete 1-D array"):
    paths.lasso_path(X, y, X_offset=np.zeros(3))
  with pytest.raises(ValueError, match="X_offset must hold finite"):
    paths.lasso_path(X, y, X_offset=np.full(4, np.nan))


def test_dense_X_offset_is_the_same_as_centering_first():
  X, y = wide(25, 40, seed=9)
  X = X + 3.0
  a1, c1 = paths.lasso_path(X, y, alphas=10, tol=1e-10, X_offset=X.mean(0))
  a2, c2 = paths.lasso_path(X - X.mean(0), y, alphas=10, tol=1e-10)
  np.testing.assert_allclose(a1, a2, rtol=1e-12)
  np.testing.assert_allclose(c1, c2, rtol=1e-9, atol=1e-12)


def test_under_jit_auto_takes_the_gram_solver_and_working_set_is_refused():
  X, y = wide(20, 600, seed=10)
  kw = dict(alphas=3, eps=0.1, tol=1e-10, max_iter=100_000)
  run = jax.jit(lambda X, y: paths.lasso_path(X, y, **kw)[1])
  sk_c = sk_enet_path(X, y, l1_ratio=1.0, **kw)[1].T
  assert rel_err(run(X, y), sk_c) <= 1e-6  # under jit: the Gram solver
  assert rel_err(paths.lasso_path(X, y, **kw)[1], sk_c) <= 1e-6  # outside: the working-set solver
  with pytest.raises(ValueError, match="needs concrete inputs"):
    jax.jit(lambda X, y: paths.lasso_path(X, y, alphas=3, solver=WS)[1])(X, y)


def test_sparse_with_sample_weight_equals_sklearn():
  rng = np.random.default_rng(11)
  X = sp.random(50, 80, density=0.2, random_state=12, format="csr")
  y, sw = rng.standard_normal(50), rng.random(50)
  a, c = paths.enet_path(X, y, l1_ratio=0.6, alphas=8, eps=0.05, tol=1e-10, max_iter=100_000, sample_weight=sw)
  for i in (2, 7):
    ref = ElasticNet(alpha=float(a[i]), l1_ratio=0.6, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(
        X, y, sample_weight=sw)
    assert rel_err(c[i], ref.coef_) <= 1e-6


# ----------------------------------------------------------------------------- enet_cv by the working-set solver

def _spy_cv(monkeypatch):
  from jaxreg.paths import _cv
  calls = []
  orig = _cv._enet_cv_ws
  monkeypatch.setattr(_cv, "_enet_cv_ws", lambda *a, **k: calls.append(1) or orig(*a, **k))
  return calls


def _assert_cv_equal(res, sk, coef_atol=1e-7):
  np.testing.assert_allclose(res.alphas, sk.alphas_, rtol=1e-10)
  np.testing.assert_allclose(res.mse_path, sk.mse_path_, rtol=1e-7)
  assert float(res.alpha) == pytest.approx(sk.alpha_, rel=1e-12)
  np.testing.assert_allclose(res.coef, sk.coef_, rtol=0, atol=coef_atol * np.abs(sk.coef_).max())
  assert float(res.intercept) == pytest.approx(sk.intercept_, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("l1_ratio,use_sw", [(1.0, False), ([0.3, 0.9], False), (1.0, True)])
def test_enet_cv_on_wide_data_takes_the_working_set_solver_and_equals_elasticnetcv(monkeypatch, l1_ratio, use_sw):
  from sklearn.linear_model import ElasticNetCV
  calls = _spy_cv(monkeypatch)
  rng = np.random.default_rng(0)
  n, p = 48, 600   # p > max(n_train, 500): the automatic choice is the working-set solver
  X = rng.standard_normal((n, p))
  y = X[:, :6] @ (2 * rng.standard_normal(6)) + 0.3 * rng.standard_normal(n) + 1.0
  sw = rng.uniform(0.2, 2.0, n) if use_sw else None
  kw = dict(alphas=12, eps=1e-2, tol=1e-10, max_iter=100_000)
  res = paths.enet_cv(X, y, l1_ratio=l1_ratio, folds=3, sample_weight=sw, **kw)
  sk = ElasticNetCV(l1_ratio=l1_ratio, cv=3, **kw).fit(X, y, sample_weight=sw)
  assert calls, "the working-set CV was not used"
  assert res.mse_path.shape == sk.mse_path_.shape
  _assert_cv_equal(res, sk)
  assert float(res.l1_ratio) == sk.l1_ratio_


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_enet_cv_on_sparse_X_equals_lassocv_with_the_same_sparse_input(fit_intercept):
  # scikit-learn's LassoCV on a CSR matrix centers each fold implicitly (X_offset); so does jaxreg's, with the
  # folds' means as the design's offset, X never densified.
  from sklearn.linear_model import LassoCV
  rng = np.random.default_rng(1)
  X = sp.random(150, 400, density=0.03, format="csr", random_state=1)
  y = np.asarray(X[:, :8] @ rng.standard_normal(8)).ravel() + 0.05 * rng.standard_normal(150) + 2.0
  kw = dict(alphas=12, eps=1e-2, tol=1e-10, max_iter=100_000, fit_intercept=fit_intercept)
  res = paths.enet_cv(X, y, folds=3, **kw)
  sk = LassoCV(cv=3, **kw).fit(X, y)
  _assert_cv_equal(res, sk)


def test_enet_cv_sparse_bad_inputs_are_refused():
  X = sp.random(40, 60, density=0.1, format="csr", random_state=0)
  y = np.arange(40.0)
  with pytest.raises(ValueError, match="sample_weight with a sparse X and fit_intercept=True"):
    paths.enet_cv(X, y, sample_weight=np.ones(40), folds=3, alphas=3)
  with pytest.raises(ValueError, match="method='gram' needs a dense X"):
    paths.enet_cv(X, y, folds=3, alphas=3, solver=GRAM)
  bad = X.copy()
  bad.data[0] = np.nan
  with pytest.raises(ValueError, match="X"):
    paths.enet_cv(bad, y, folds=3, alphas=3)
