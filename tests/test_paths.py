"""jaxreg.paths against scikit-learn (enet_path, LassoCV, ElasticNetCV, saga) and closed forms.

Everything here runs in float64 (``jax_enable_x64`` on for this module only, restored after),
as a user who wants scikit-learn's precision would.
"""

import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import ElasticNetCV, LassoCV, LogisticRegression, enet_path, lasso_path
from sklearn.model_selection import KFold

import jaxreg
from jaxreg import paths

pytestmark = pytest.mark.usefixtures("x64")   # float64, as scikit-learn computes (tests/conftest.py)


X_RAW, Y_RAW = load_diabetes(return_X_y=True)
X = X_RAW - X_RAW.mean(0)
Y = Y_RAW - Y_RAW.mean()
N = X.shape[0]


def sk_path(l1_ratio, alphas=100, tol=1e-10, Xm=X, y=Y):
  a, c, _ = enet_path(Xm, y, l1_ratio=l1_ratio, alphas=alphas, tol=tol, max_iter=100_000)
  return a, c.T


def assert_coefs_close(coefs, ref, rel=1e-6):
  """Within ``rel·max|coef|`` (the issue's bound), all alphas at once."""
  coefs = np.asarray(coefs)
  assert coefs.shape == ref.shape
  err = np.max(np.abs(coefs - ref)) / np.max(np.abs(ref))
  assert err <= rel, err


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_enet_path_equals_sklearn_on_diabetes(l1_ratio):
  sk_a, sk_c = sk_path(l1_ratio)
  alphas, coefs = paths.enet_path(X, Y, l1_ratio=l1_ratio, alphas=100, tol=1e-10, max_iter=100_000)
  assert alphas.dtype == jnp.float64 and coefs.dtype == jnp.float64
  np.testing.assert_allclose(alphas, sk_a, rtol=1e-10, atol=0)
  assert np.all(np.diff(np.asarray(alphas)) < 0)
  np.testing.assert_allclose(alphas[0], np.max(np.abs(X.T @ Y)) / (N * l1_ratio), rtol=1e-12)
  assert_coefs_close(coefs, sk_c)


def test_lasso_path_equals_sklearn_lasso_path():
  sk_a, sk_c, _ = lasso_path(X, Y, alphas=100, eps=1e-2, tol=1e-10, max_iter=100_000)
  alphas, coefs = paths.lasso_path(X, Y, alphas=100, eps=1e-2, tol=1e-10, max_iter=100_000)
  np.testing.assert_allclose(alphas, sk_a, rtol=1e-10)
  assert_coefs_close(coefs, sk_c.T)


def test_explicit_alphas_are_sorted_decreasing_like_sklearn():
  given = np.array([0.01, 1.0, 0.1, 0.3, 0.003])
  sk_a, sk_c = sk_path(0.7, alphas=given)
  alphas, coefs = paths.enet_path(X, Y, l1_ratio=0.7, alphas=given, tol=1e-10, max_iter=100_000)
  np.testing.assert_array_equal(alphas, np.sort(given)[::-1])
  np.testing.assert_array_equal(alphas, sk_a)
  assert_coefs_close(coefs, sk_c)


def test_traced_alphas_and_l1_ratio_under_jit_and_vmap():
  given = np.array([1.0, 0.1, 0.01])
  fit = jax.jit(jax.vmap(
      lambda r, a: paths.enet_path(X, Y, l1_ratio=r, alphas=a, tol=1e-10, max_iter=100_000)[1],
      in_axes=(0, None)))
  coefs = fit(jnp.array([0.5, 1.0]), jnp.asarray(given))
  for i, r in enumerate([0.5, 1.0]):
    assert_coefs_close(coefs[i], sk_path(r, alphas=given)[1])


@pytest.mark.slow
def test_blocked_padded_chunked_solver_equals_sklearn():
  """p = 70 > 32: blocks of 16 with zero padding, warm-started chunks, Anderson on."""
  rng = np.random.default_rng(0)
  n, p = 150, 70
  Xs = rng.standard_normal((n, p)) @ np.linalg.cholesky(0.6 ** np.abs(np.subtract.outer(range(p), range(p)))).T
  ys = Xs[:, :5] @ np.array([3.0, -2.0, 1.5, 1.0, -1.0]) + rng.standard_normal(n)
  Xs, ys = Xs - Xs.mean(0), ys - ys.mean()
  sk_a, sk_c = sk_path(0.9, alphas=40, Xm=Xs, y=ys)
  for chunk in (40, 7):  # all 40 alphas in parallel; chunks of 7 with warm starts
    alphas, coefs = paths.enet_path(Xs, ys, l1_ratio=0.9, alphas=40, tol=1e-10, max_iter=100_000,
                                    solver=paths.SolverOptions(chunk=chunk, block=16))
    np.testing.assert_allclose(alphas, sk_a, rtol=1e-10)
    assert_coefs_close(coefs, sk_c)


def test_lasso_entry_order_on_diabetes():
  """Default 100-alpha lasso path: coefficients first become nonzero in the order
  3, 9, 4, 7, 2, 10, 5, 8, 6, 1 (1-based; 3 and 9 at the same grid point), as sklearn's path."""
  def entry(coefs):
    first = np.argmax(np.asarray(coefs) != 0, axis=0)  # first alpha index where nonzero
    assert np.all(np.asarray(coefs)[first, np.arange(coefs.shape[1])] != 0)
    return first
  first = entry(paths.lasso_path(X, Y, tol=1e-10, max_iter=100_000)[1])
  sk_first = entry(sk_path(1.0)[1])
  np.testing.assert_array_equal(first, sk_first)
  order = list(np.argsort(first, kind="stable") + 1)
  assert order == [3, 9, 4, 7, 2, 10, 5, 8, 6, 1]
  assert first[2] == first[8] and first[2] < np.delete(first, [2, 8]).min()


def test_ridge_path_equals_closed_form():
  alphas = np.array([1e-4, 1e-2, 1.0, 30.0])
  out_alphas, coefs = paths.ridge_path(X, Y, alphas=alphas)
  np.testing.assert_array_equal(out_alphas, alphas)  # as given, not sorted
  ref = np.stack([np.linalg.solve(X.T @ X + N * a * np.eye(X.shape[1]), X.T @ Y) for a in alphas])
  chex.assert_trees_all_close(np.asarray(coefs), ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_enet_path_at_l1_ratio_0_equals_ridge_closed_form():
  """l1_ratio = 0 uses the ridge duality gap (formulation B) for stopping."""
  alphas = np.array([30.0, 1.0, 0.1, 1e-2, 1e-3])
  _, coefs = paths.enet_path(X, Y, l1_ratio=0.0, alphas=alphas, tol=1e-12, max_iter=100_000)
  ref = np.stack([np.linalg.solve(X.T @ X + N * a * np.eye(X.shape[1]), X.T @ Y) for a in alphas])
  assert_coefs_close(coefs, ref, rel=1e-6)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_enet_cv_equals_lasso_cv(fit_intercept):
  sk = LassoCV(alphas=100, cv=5, tol=1e-10, max_iter=100_000, fit_intercept=fit_intercept).fit(X_RAW, Y_RAW)
  res = paths.enet_cv(X_RAW, Y_RAW, l1_ratio=1.0, alphas=100, folds=5, tol=1e-10, max_iter=100_000,
                      fit_intercept=fit_intercept)
  np.testing.assert_allclose(res.alphas, sk.alphas_, rtol=1e-10)
  assert res.mse_path.shape == sk.mse_path_.shape == (100, 5)
  np.testing.assert_allclose(res.mse_path, sk.mse_path_, rtol=1e-4)
  assert np.argmin(np.abs(res.alphas - res.alpha)) == np.argmin(np.abs(sk.alphas_ - sk.alpha_))
  np.testing.assert_allclose(res.alpha, sk.alpha_, rtol=1e-12)
  assert_coefs_close(res.coef[None], sk.coef_[None])
  np.testing.assert_allclose(res.intercept, sk.intercept_, rtol=1e-6, atol=1e-6)


def test_enet_cv_explicit_folds_equal_elastic_net_cv():
  """Shuffled folds (a partition) and overlapping train sets (not a partition: the gather path)."""
  shuffled = list(KFold(5, shuffle=True, random_state=0).split(X_RAW))
  rng = np.random.default_rng(1)
  subsampled = [(np.sort(rng.choice(N, 300, replace=False)), np.arange(k * 100, k * 100 + 90)) for k in range(3)]
  for folds in (shuffled, subsampled):
    sk = ElasticNetCV(l1_ratio=0.5, alphas=100, cv=folds, tol=1e-10, max_iter=100_000).fit(X_RAW, Y_RAW)
    res = paths.enet_cv(X_RAW, Y_RAW, l1_ratio=0.5, alphas=100, folds=folds, tol=1e-10, max_iter=100_000)
    np.testing.assert_allclose(res.mse_path, sk.mse_path_, rtol=1e-4)
    assert np.argmin(np.abs(res.alphas - res.alpha)) == np.argmin(np.abs(sk.alphas_ - sk.alpha_))
    np.testing.assert_allclose(res.alpha, sk.alpha_, rtol=1e-12)
    assert_coefs_close(res.coef[None], sk.coef_[None])


BC_X, BC_Y = load_breast_cancer(return_X_y=True)
BC_X = (BC_X - BC_X.mean(0)) / BC_X.std(0)


@pytest.mark.parametrize("l1_ratio, alphas", [(1.0, [0.08]), (0.5, [0.05, 0.01])])
def test_logistic_path_equals_sklearn_saga(l1_ratio, alphas):
  n = BC_X.shape[0]
  got_a, coefs = paths.logistic_path(BC_X, BC_Y, l1_ratio=l1_ratio, alphas=np.array(alphas), tol=1e-10,
                                     max_iter=100_000)
  for a, c in zip(np.asarray(got_a), np.asarray(coefs)):
    sk = LogisticRegression(l1_ratio=l1_ratio, C=1 / (n * a), solver="saga", fit_intercept=False,
                            tol=1e-12, max_iter=100_000).fit(BC_X, BC_Y)
    ref = sk.coef_[0]
    np.testing.assert_allclose(c, ref, rtol=0, atol=1e-4 * np.abs(ref).max())
    np.testing.assert_array_equal(c != 0, ref != 0)


def test_logistic_path_grid_starts_where_w_is_zero():
  alphas, coefs = paths.logistic_path(BC_X, BC_Y, alphas=5, eps=0.1, tol=1e-8)
  n = BC_X.shape[0]
  np.testing.assert_allclose(alphas[0], np.abs(BC_X.T @ (BC_Y - 0.5)).max() / n, rtol=1e-12)
  np.testing.assert_allclose(alphas, alphas[0] * np.geomspace(1, 0.1, 5), rtol=1e-12)
  assert np.all(np.asarray(coefs[0]) == 0) and np.any(np.asarray(coefs[1]) != 0)


def test_zero_signal_grid_is_sklearns_constant_grid():
  sk_a, _ = sk_path(1.0, alphas=100, y=np.zeros(N))
  alphas, coefs = paths.lasso_path(X, np.zeros(N), alphas=100)
  np.testing.assert_array_equal(alphas, sk_a)
  assert np.all(np.asarray(coefs) == 0)


def test_float32_inputs_stay_float32_and_warn_at_unreachable_tol():
  with pytest.warns(paths.ConvergenceWarning, match="did not reach tol"):
    alphas, coefs = paths.lasso_path(X.astype(np.float32), Y.astype(np.float32), alphas=20, tol=1e-10,
                                     max_iter=200)
  assert coefs.dtype == jnp.float32
  sk_a, sk_c = sk_path(1.0, alphas=20)
  np.testing.assert_allclose(alphas, sk_a, rtol=1e-5)
  assert_coefs_close(coefs, sk_c, rel=1e-4)


def test_return_info_reports_gaps_below_tol():
  path = paths.enet_path(X, Y, alphas=100, tol=1e-8, return_info=True)
  alphas, coefs = path  # unpacks like the plain result
  plain_alphas, plain_coefs = paths.enet_path(X, Y, alphas=100, tol=1e-8)
  np.testing.assert_array_equal(alphas, plain_alphas)
  np.testing.assert_array_equal(coefs, plain_coefs)
  gaps, n_iter = path.gaps, path.n_iter
  assert np.all(np.asarray(gaps) <= 1e-8 * (Y @ Y) / N) and np.all(np.asarray(n_iter) < 1000)


def test_exported():
  assert jaxreg.paths is paths
  for name in ("enet_path", "lasso_path", "ridge_path", "enet_cv", "logistic_path"):
    assert callable(getattr(jaxreg.paths, name))


@pytest.mark.parametrize("call, match", [
    (lambda: paths.enet_path(X, Y[:-1]), "different numbers of samples"),
    (lambda: paths.enet_path(X[:, 0], Y), "X must be a 2-D"),
    (lambda: paths.enet_path(np.where(X > 0.1, np.nan, X), Y), "X contains NaN or inf"),
    (lambda: paths.enet_cv(X, np.where(Y > 100, np.inf, Y)), "y contains NaN or inf"),
    (lambda: paths.enet_path(X, Y, l1_ratio=1.5), "l1_ratio must be a finite number in"),
    (lambda: paths.lasso_path(X, Y, alphas=np.array([0.1, 0.0])), "alphas must be a finite number > 0"),
    (lambda: paths.ridge_path(X, Y, alphas=np.array([-1.0])), "alphas must be a finite number > 0"),
    (lambda: paths.enet_path(X, Y, l1_ratio=0.0, alphas=10), "needs l1_ratio > 0"),
    (lambda: paths.enet_path(X, Y, alphas=0), "number of alphas"),
    (lambda: paths.enet_path(X, Y, eps=0.0), "eps must be a finite number > 0"),
    (lambda: paths.enet_cv(X, Y, l1_ratio=-0.1), "l1_ratio must be a finite number in"),
    (lambda: paths.enet_cv(X, Y, folds=1), "folds"),
    (lambda: paths.enet_cv(X, Y, folds=[(np.arange(10), np.array([N]))]), "folds\\[0\\] test indices"),
    (lambda: paths.logistic_path(BC_X, BC_Y * 2.0), "binary labels"),
    (lambda: paths.logistic_path(BC_X, BC_Y, alphas=np.array([-0.1])), "alphas must be a finite number > 0"),
])
def test_bad_inputs_raise(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def test_unconverged_warns():
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    paths.lasso_path(X, Y, alphas=100, tol=1e-4)  # converges: no warning
  with pytest.warns(paths.ConvergenceWarning):
    paths.lasso_path(X, Y, alphas=100, tol=1e-12, max_iter=10)


def test_logistic_path_zero_design_gives_zero_coefficients_not_nan():
  # X = 0: the log-loss does not depend on w, so the minimizer of loss + penalty is w = 0 (the step bound L is 0).
  _, coefs = paths.logistic_path(np.zeros((5, 2)), np.array([0, 1, 0, 1, 1]), alphas=[0.1])
  np.testing.assert_array_equal(np.asarray(coefs), np.zeros((1, 2)))
