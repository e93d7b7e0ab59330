"""scikit-learn's arguments in jaxreg.paths: sample_weight, a list of l1_ratio in CV, a logistic intercept,
multi-task targets — against scikit-learn (1.9), with cases ported from its ``linear_model/tests``.

Everything runs in float64 (``jax_enable_x64`` on for this module only, restored after). Shapes are small;
each distinct call compiles once (a few seconds on a 2-core CPU).
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, make_classification, make_regression
from sklearn.linear_model import (
  ElasticNet,
  ElasticNetCV,
  LassoCV,
  LogisticRegression,
  MultiTaskElasticNet,
  MultiTaskLasso,
  enet_path,
)
from sklearn.model_selection import LeaveOneGroupOut

from jaxreg import paths

pytestmark = pytest.mark.usefixtures("x64")   # float64, as scikit-learn computes (tests/conftest.py)


def rel_err(got, ref):
  got, ref = np.asarray(got), np.asarray(ref)
  assert got.shape == ref.shape, (got.shape, ref.shape)
  return np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-300)


X_DIA, Y_DIA = load_diabetes(return_X_y=True)
X_DIA, Y_DIA = X_DIA[:120], Y_DIA[:120]          # small: fast to solve, still ill-conditioned


def _small(seed=0, n=10, p=5):
  rng = np.random.RandomState(seed)
  return rng.rand(n, p), rng.rand(n), rng


# ----------------------------------------------------------------------------- sample_weight: paths

def test_enet_path_sample_weight_equals_sklearn_elasticnet():
  # ElasticNet(fit_intercept=False).fit(X, y, sample_weight) at every alpha of the path (and the grid of the
  # weighted problem: alpha_max = max|X^T (s y)| / (sum(s) l1_ratio)).
  X, y = X_DIA - X_DIA.mean(0), Y_DIA - Y_DIA.mean()
  sw = np.random.default_rng(1).uniform(0, 3, size=len(y))
  sw[:10] = 0
  alphas, coefs = paths.enet_path(X, y, l1_ratio=0.5, alphas=8, eps=1e-2, sample_weight=sw, tol=1e-10,
                                  max_iter=100_000)
  np.testing.assert_allclose(alphas[0], np.abs(X.T @ (sw * y)).max() / (sw.sum() * 0.5), rtol=1e-12)
  for a, c in zip(np.asarray(alphas), np.asarray(coefs)):
    ref = ElasticNet(alpha=float(a), l1_ratio=0.5, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(
        X, y, sample_weight=sw).coef_
    assert rel_err(c, ref) < 1e-7


@pytest.mark.slow  # several compiled programs (> 5 s on a 2-core CPU)
def test_enet_sample_weight_consistency():
  # Ported from sklearn's test_enet_sample_weight_consistency (ElasticNet, fit_intercept=False, dense):
  # ones == None == a scalar; scaling the weights changes nothing; a zero weight == removing the row;
  # a weight of 2 == repeating the row. Each case is checked against scikit-learn's ElasticNet.
  X, y, rng = _small(0)
  y = y.copy()
  fit = lambda X, y, sw: np.asarray(paths.enet_path(X, y, l1_ratio=0.5, alphas=np.array([0.01]), sample_weight=sw,
                                                    tol=1e-12, max_iter=100_000)[1][0])
  ref = lambda X, y, sw: ElasticNet(alpha=0.01, l1_ratio=0.5, fit_intercept=False, tol=1e-12,
                                    max_iter=100_000).fit(X, y, sample_weight=sw).coef_
  coef = fit(X, y, None)
  assert np.sum(coef != 0) > 1
  assert rel_err(coef, ref(X, y, None)) < 1e-8
  np.testing.assert_allclose(fit(X, y, np.ones(10)), coef, rtol=1e-10)       # 1) ones
  np.testing.assert_allclose(fit(X, y, 123.0), coef, rtol=1e-10)             # 2) a number
  sw = rng.uniform(low=0.01, high=2, size=10)
  coef = fit(X, y, sw)
  assert rel_err(coef, ref(X, y, sw)) < 1e-8
  np.testing.assert_allclose(fit(X, y, np.pi * sw), coef, rtol=1e-8)         # 3) scale-free
  sw0 = sw.copy()
  sw0[-5:] = 0
  y[-5:] *= 1000                                                             # 4) zero weight = no row
  coef0 = fit(X, y, sw0)
  np.testing.assert_allclose(coef0, fit(X[:-5], y[:-5], sw[:-5]), rtol=1e-8)
  assert rel_err(coef0, ref(X, y, sw0)) < 1e-8
  sw1 = sw.copy()                                                            # 5) weight 2 = a repeated row
  sw1[:5] *= 2
  X2, y2, sw2 = np.r_[X, X[:5]], np.r_[y, y[:5]], np.r_[sw, sw[:5]]
  np.testing.assert_allclose(fit(X, y, sw1), fit(X2, y2, sw2), rtol=1e-8)


# ----------------------------------------------------------------------------- sample_weight: CV

@pytest.mark.slow  # several compiled programs (> 5 s on a 2-core CPU)
@pytest.mark.parametrize("method", ["auto", "working_set"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_enet_cv_sample_weight_correctness(fit_intercept, method):
  # Ported from sklearn's test_enet_cv_sample_weight_correctness (ElasticNetCV, dense): integer weights on
  # the first CV group equal repeating those rows (within that group's folds); checked against
  # scikit-learn fitted on the repeated data, and against ElasticNetCV with the weights. Both CV programs:
  # the batched Gram one (auto, at this size) and the working-set one (folds in turn, centered by offsets).
  rng = np.random.RandomState(0)
  n_splits, per_group, p = 3, 10, 5
  X = rng.rand(n_splits * per_group, p)
  beta = 10 * rng.rand(p)
  beta[0:2] = 0
  y = X @ beta + rng.rand(n_splits * per_group)
  sw = np.ones(len(y))
  sw[:per_group] = rng.randint(0, 5, size=per_group)
  sw[0] = 3  # at least one weight > 1 in the group
  groups = np.repeat(np.arange(n_splits), per_group)
  splits = list(LeaveOneGroupOut().split(X, groups=groups))
  res = paths.enet_cv(X, y, folds=splits, fit_intercept=fit_intercept, sample_weight=sw, tol=1e-10,
                      max_iter=100_000, alphas=20, solver=paths.SolverOptions(method=method))
  Xr, yr = np.repeat(X, sw.astype(int), 0), np.repeat(y, sw.astype(int), 0)
  splits_r = list(LeaveOneGroupOut().split(Xr, groups=np.repeat(groups, sw.astype(int))))
  rep = ElasticNetCV(cv=splits_r, fit_intercept=fit_intercept, tol=1e-10, max_iter=100_000, l1_ratio=1.0,
                     alphas=20).fit(Xr, yr)
  wtd = ElasticNetCV(cv=splits, fit_intercept=fit_intercept, tol=1e-10, max_iter=100_000, l1_ratio=1.0,
                     alphas=20).fit(X, y, sample_weight=sw)
  for sk in (rep, wtd):
    np.testing.assert_allclose(res.alphas, sk.alphas_, rtol=1e-10)
    np.testing.assert_allclose(res.mse_path, sk.mse_path_, rtol=1e-7)
    assert float(res.alpha) == pytest.approx(sk.alpha_, rel=1e-12)
    np.testing.assert_allclose(res.coef, sk.coef_, rtol=0, atol=1e-7 * np.abs(sk.coef_).max())
    assert float(res.intercept) == pytest.approx(sk.intercept_, rel=1e-7, abs=1e-9)
  assert np.sum(np.asarray(res.coef) != 0) > 1


def test_lasso_cv_sample_weight_equals_sklearn_with_contiguous_folds():
  # LassoCV(cv=3) with weights, some zero, on diabetes: alphas, mse_path (np.average with the test weights),
  # the selected alpha, coef and the weighted intercept.
  sw = np.random.default_rng(2).uniform(0, 2, size=len(Y_DIA))
  sw[5:15] = 0
  res = paths.enet_cv(X_DIA, Y_DIA, alphas=15, folds=3, sample_weight=sw, tol=1e-10, max_iter=100_000)
  sk = LassoCV(alphas=15, cv=3, tol=1e-10, max_iter=100_000).fit(X_DIA, Y_DIA, sample_weight=sw)
  np.testing.assert_allclose(res.alphas, sk.alphas_, rtol=1e-10)
  np.testing.assert_allclose(res.mse_path, sk.mse_path_, rtol=1e-7)
  assert float(res.alpha) == pytest.approx(sk.alpha_, rel=1e-12)
  assert rel_err(res.coef, sk.coef_) < 1e-7
  assert float(res.intercept) == pytest.approx(sk.intercept_, rel=1e-8)
  assert float(res.l1_ratio) == 1.0


# ----------------------------------------------------------------------------- a list of l1_ratio

@pytest.mark.parametrize("use_sw", [False, True])
def test_enet_cv_l1_ratio_list_equals_elasticnetcv(use_sw):
  # Ported from sklearn's test_enet_cv_grid_search (ElasticNetCV(l1_ratio=[...]) selects the pair of least
  # mean MSE): here against ElasticNetCV itself, with each l1_ratio's own automatic grid.
  X, y = make_regression(n_samples=60, n_features=6, effective_rank=4, n_informative=4, noise=10,
                         random_state=0)
  sw = np.linspace(1, 5, num=len(y)) if use_sw else None
  l1_ratios = [0.1, 0.5, 0.9]
  res = paths.enet_cv(X, y, l1_ratio=l1_ratios, alphas=10, folds=3, sample_weight=sw, tol=1e-10,
                      max_iter=100_000)
  sk = ElasticNetCV(l1_ratio=l1_ratios, alphas=10, cv=3, tol=1e-10, max_iter=100_000).fit(X, y, sample_weight=sw)
  assert res.mse_path.shape == sk.mse_path_.shape == (3, 10, 3)
  assert res.alphas.shape == sk.alphas_.shape == (3, 10)
  np.testing.assert_allclose(res.alphas, sk.alphas_, rtol=1e-10)
  np.testing.assert_allclose(res.mse_path, sk.mse_path_, rtol=1e-7)
  assert float(res.l1_ratio) == sk.l1_ratio_ and float(res.alpha) == pytest.approx(sk.alpha_, rel=1e-12)
  assert rel_err(res.coef, sk.coef_) < 1e-7
  assert float(res.intercept) == pytest.approx(sk.intercept_, rel=1e-8)


@pytest.mark.slow  # several compiled programs (> 5 s on a 2-core CPU)
def test_enet_cv_l1_ratio_list_with_given_alphas_and_scalar_shapes_unchanged():
  # Given alphas are shared by every l1_ratio (ElasticNetCV tiles them); a scalar l1_ratio keeps (A, k).
  alphas = np.logspace(-3, 0, 6)
  res = paths.enet_cv(X_DIA, Y_DIA, l1_ratio=np.array([0.2, 1.0]), alphas=alphas, folds=4, tol=1e-10,
                      max_iter=100_000)
  sk = ElasticNetCV(l1_ratio=[0.2, 1.0], alphas=alphas, cv=4, tol=1e-10, max_iter=100_000).fit(X_DIA, Y_DIA)
  assert res.mse_path.shape == (2, 6, 4)
  np.testing.assert_allclose(res.mse_path, sk.mse_path_, rtol=1e-7)
  assert float(res.l1_ratio) == sk.l1_ratio_ and float(res.alpha) == pytest.approx(sk.alpha_, rel=1e-12)
  one = paths.enet_cv(X_DIA, Y_DIA, l1_ratio=0.2, alphas=alphas, folds=4, tol=1e-10, max_iter=100_000)
  assert one.mse_path.shape == (6, 4) and one.alphas.shape == (6,) and one.l1_ratio.shape == ()
  np.testing.assert_allclose(one.mse_path, res.mse_path[0], rtol=1e-9)


@pytest.mark.slow  # several compiled programs (> 5 s on a 2-core CPU)
def test_enet_cv_traced_l1_ratio_list_under_jit():
  alphas = np.logspace(-2, 0, 4)
  run = jax.jit(lambda r: paths.enet_cv(X_DIA, Y_DIA, l1_ratio=r, alphas=alphas, folds=3, tol=1e-10,
                                        max_iter=100_000).mse_path)
  got = run(jnp.array([0.3, 0.8]))
  sk = ElasticNetCV(l1_ratio=[0.3, 0.8], alphas=alphas, cv=3, tol=1e-10, max_iter=100_000).fit(X_DIA, Y_DIA)
  np.testing.assert_allclose(got, sk.mse_path_, rtol=1e-7)


# ----------------------------------------------------------------------------- logistic: intercept, weights

BC_X, BC_Y = make_classification(n_samples=150, n_features=5, n_informative=3, n_redundant=0, random_state=0)
BC_X = BC_X + np.array([1.0, -2.0, 0.5, 3.0, 0.0])  # not centered: the intercept matters


@pytest.mark.parametrize("use_sw", [False, True])
def test_logistic_path_intercept_equals_sklearn_saga(use_sw):
  sw = np.random.default_rng(3).uniform(0, 2, size=len(BC_Y)) if use_sw else None
  s_sum = len(BC_Y) if sw is None else sw.sum()
  path = paths.logistic_path(BC_X, BC_Y, l1_ratio=0.5, alphas=np.array([0.05, 0.01, 0.002]), fit_intercept=True,
                             sample_weight=sw, tol=1e-10, max_iter=100_000)
  alphas, coefs = path                                   # still unpacks as (alphas, coefs)
  assert path.intercepts.shape == (3,)
  for a, c, b in zip(np.asarray(alphas), np.asarray(coefs), np.asarray(path.intercepts)):
    sk = LogisticRegression(l1_ratio=0.5, C=1 / (s_sum * a), solver="saga", fit_intercept=True, tol=1e-12,
                            max_iter=100_000).fit(BC_X, BC_Y, sample_weight=sw)
    assert rel_err(c, sk.coef_[0]) < 1e-5
    assert abs(b - sk.intercept_[0]) < 1e-5 * max(1, abs(sk.intercept_[0]))


def test_logistic_path_intercept_grid_starts_at_intercept_only_solution():
  sw = np.random.default_rng(4).uniform(0, 2, size=len(BC_Y))
  path = paths.logistic_path(BC_X, BC_Y, alphas=4, eps=0.1, fit_intercept=True, sample_weight=sw, tol=1e-10,
                             max_iter=100_000)
  ybar = sw @ BC_Y / sw.sum()
  np.testing.assert_allclose(path.alphas[0], np.abs(BC_X.T @ (sw * (BC_Y - ybar))).max() / sw.sum(), rtol=1e-10)
  # w = 0 at alpha_max, up to the rounding of the gradient there (scikit-learn's grid is computed the same way)
  assert np.abs(np.asarray(path.coefs[0])).max() < 1e-12 and np.abs(np.asarray(path.coefs[1])).max() > 1e-3
  np.testing.assert_allclose(path.intercepts[0], np.log(ybar / (1 - ybar)), rtol=1e-8)  # the intercept-only fit
  sk = LogisticRegression(l1_ratio=1.0, C=1 / (sw.sum() * float(path.alphas[1])), solver="saga", tol=1e-12,
                          max_iter=100_000).fit(BC_X, BC_Y, sample_weight=sw)
  assert rel_err(path.coefs[1], sk.coef_[0]) < 1e-5


def test_logistic_regression_sample_weights_equal_repetitions():
  # Ported from sklearn's test_logistic_regression_sample_weights ("single", saga, fit_intercept=False):
  # integer weights == repeated rows; here against scikit-learn fitted on the repeated rows.
  X, y = make_classification(n_samples=120, n_features=5, n_informative=3, n_classes=2, n_redundant=0,
                             random_state=0)
  rng = np.random.RandomState(0)
  sw = np.ones(len(y))
  sw[:40] = rng.randint(0, 5, size=40)
  Xr, yr = np.repeat(X, sw.astype(int), axis=0), np.repeat(y, sw.astype(int), axis=0)
  alphas, coefs = paths.logistic_path(X, y, l1_ratio=1.0, alphas=np.array([0.01]), sample_weight=sw, tol=1e-10,
                                      max_iter=100_000)
  sk = LogisticRegression(l1_ratio=1.0, C=1 / (len(yr) * float(alphas[0])), solver="saga", fit_intercept=False,
                          tol=1e-12, max_iter=100_000).fit(Xr, yr)
  np.testing.assert_allclose(coefs[0], sk.coef_[0], atol=1e-5)


@pytest.mark.filterwarnings("ignore::jaxreg.paths.ConvergenceWarning")   # max_iter=50: a quick call
def test_logistic_path_without_intercept_keeps_its_plain_tuple():
  out = paths.logistic_path(BC_X, BC_Y, alphas=3, max_iter=50)
  assert isinstance(out, tuple) and len(out) == 2


# ----------------------------------------------------------------------------- multi-task

def _mt_data(seed=0, n=40, p=8, k=3):
  rng = np.random.default_rng(seed)
  X = rng.normal(size=(n, p))
  X[:, 1] += X[:, 0]
  return X, X[:, :3] @ rng.normal(size=(3, k)) + rng.normal(size=(n, k))


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_multitask_enet_path_equals_sklearn_enet_path_2d(l1_ratio):
  X, Y = _mt_data()
  sk_a, sk_c, _ = enet_path(X, Y, l1_ratio=l1_ratio, alphas=12, tol=1e-10, max_iter=100_000)
  info = paths.multitask_enet_path(X, Y, l1_ratio=l1_ratio, alphas=12, tol=1e-10, max_iter=100_000,
                                   return_info=True)
  np.testing.assert_allclose(info.alphas, sk_a, rtol=1e-10)
  assert info.coefs.shape == (12, 8, 3)
  assert rel_err(info.coefs, np.transpose(sk_c, (2, 1, 0))) < 1e-7
  # the gaps are scikit-learn's multi-task duality gap / n: primal - dual at the dual point s R / n
  W = np.asarray(info.coefs[-1])
  a = float(info.alphas[-1])
  n = X.shape[0]
  l1, l2 = a * l1_ratio * n, a * (1 - l1_ratio) * n
  R = Y - X @ W
  XtA = X.T @ R - l2 * W
  s = min(1.0, l1 / np.sqrt((XtA**2).sum(1)).max())
  primal = 0.5 * (R**2).sum() + l1 * np.sqrt((W**2).sum(1)).sum() + 0.5 * l2 * (W**2).sum()
  dual = -0.5 * s**2 * ((R**2).sum() + l2 * (W**2).sum()) + s * (R * Y).sum()
  assert abs(info.gaps[-1] - (primal - dual) / n) < 1e-9 * (Y**2).sum() / n
  assert np.all(np.asarray(info.gaps) <= 1e-10 * (Y**2).sum() / n)


def test_multi_task_lasso_vs_skglm():
  # Ported from sklearn's test_multi_task_lasso_vs_skglm (the numbers are skglm 0.5's): centering X and Y
  # gives the intercept, as MultiTaskLasso does.
  n, p, k = 5, 4, 3
  X = np.vander(np.arange(n), p).astype(float)
  Y = np.arange(n * k).reshape(n, k).astype(float)
  xm, ym = X.mean(0), Y.mean(0)
  _, coefs = paths.multitask_lasso_path(X - xm, Y - ym, alphas=np.array([0.1]), tol=1e-12, max_iter=200_000)
  W = np.asarray(coefs[0])  # (n_features, n_tasks)
  intercept = ym - xm @ W
  np.testing.assert_allclose(intercept, [0.219942959407, 1.219942959407, 2.219942959407], rtol=1e-7)
  np.testing.assert_allclose(W.T, np.tile([-0.032075014794, 0.25430904614, 2.44785152982, 0], (k, 1)),
                             rtol=1e-6, atol=1e-12)


def test_multi_task_lasso_and_enet_identical_tasks():
  # Ported from sklearn's test_multi_task_lasso_and_enet: Y = [y, y] gives identical columns of W, a gap
  # below 1e-5, and equals MultiTaskLasso / MultiTaskElasticNet (alpha=1) on build_dataset's wide problem.
  rs = np.random.RandomState(0)
  w = rs.randn(200)
  w[10:] = 0.0
  X = rs.randn(50, 200)
  y = X @ w
  Y = np.c_[y, y]
  for path, est in ((paths.multitask_lasso_path, MultiTaskLasso), (paths.multitask_enet_path, MultiTaskElasticNet)):
    info = path(X, Y, alphas=np.array([1.0]), tol=1e-8, max_iter=10_000, return_info=True)
    W = np.asarray(info.coefs[0])
    np.testing.assert_allclose(W[:, 0], W[:, 1], atol=1e-12)
    assert 0 <= float(info.gaps[0]) < 1e-5
    sk = est(alpha=1.0, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, Y)
    assert rel_err(W, sk.coef_.T) < 1e-5


def test_multitask_sample_weight_equals_sklearn():
  X, Y = _mt_data(1)
  sw = np.random.default_rng(5).uniform(0, 2, size=len(X))
  sw[:4] = 0
  alphas, coefs = paths.multitask_enet_path(X, Y, l1_ratio=0.7, alphas=np.array([0.3, 0.03]), sample_weight=sw,
                                            tol=1e-10, max_iter=100_000)
  for a, c in zip(np.asarray(alphas), np.asarray(coefs)):
    sk = MultiTaskElasticNet(alpha=float(a), l1_ratio=0.7, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(
        X, Y, sample_weight=sw)
    assert rel_err(c, sk.coef_.T) < 1e-7


# ----------------------------------------------------------------------------- bad input

SW_BAD = [
    (lambda n: -np.ones(n), "must be >= 0"),
    (lambda n: np.r_[np.nan, np.ones(n - 1)], "NaN or inf"),
    (lambda n: np.zeros(n), "at least one non-zero"),
    (lambda n: np.ones(n - 1), "length n_samples"),
    (lambda n: np.ones((n, 1)), "length n_samples"),
    (lambda n: 0.0, "sample_weight must be"),
    (lambda n: np.array(["a"] * n), "real numbers"),
]


@pytest.mark.parametrize("make, msg", SW_BAD)
@pytest.mark.parametrize("fn", ["enet_path", "lasso_path", "enet_cv", "logistic_path", "multitask_enet_path"])
def test_bad_sample_weight_raises_naming_it(fn, make, msg):
  # sklearn's _check_sample_weight cases (wrong shape/length, NaN, all zero) plus negative weights.
  X, y = X_DIA[:20], Y_DIA[:20]
  args = {"enet_path": (X, y), "lasso_path": (X, y), "enet_cv": (X, y), "logistic_path": (X, (y > 100) * 1.0),
          "multitask_enet_path": (X, np.c_[y, y])}[fn]
  with pytest.raises(ValueError, match="sample_weight") as info:
    getattr(paths, fn)(*args, sample_weight=make(20))
  assert re.search(re.escape(msg), str(info.value)), str(info.value)


def test_enet_cv_fold_without_weight_raises():
  sw = np.ones(len(Y_DIA))
  sw[:40] = 0  # KFold(3): the first test fold has weight 0
  with pytest.raises(ValueError, match="sample_weight is 0 on every test row of fold 0"):
    paths.enet_cv(X_DIA, Y_DIA, folds=3, sample_weight=sw)


@pytest.mark.parametrize("l1_ratio, msg", [
    ([0.5, 1.5], "l1_ratio must be a finite number in"),
    ([-0.1, 0.5], "l1_ratio must be a finite number in"),
    ([0.5, np.nan], "l1_ratio must be a finite number in"),
    ([], "l1_ratio must be a number in \\[0, 1\\] or a non-empty 1-D list"),
    ([[0.5]], "l1_ratio must be a number in \\[0, 1\\] or a non-empty 1-D list"),
    ([0.0, 0.5], "needs every l1_ratio > 0"),
    (["a", "b"], "l1_ratio"),
])
def test_enet_cv_bad_l1_ratio_list(l1_ratio, msg):
  # sklearn: ElasticNetCV(l1_ratio=[...]) validates each entry in [0, 1]; l1_ratio=0 has no automatic grid.
  with pytest.raises(ValueError, match=msg):
    paths.enet_cv(X_DIA, Y_DIA, l1_ratio=l1_ratio, alphas=5)


def test_multitask_bad_targets():
  X, Y = _mt_data()
  Y = Y.copy()
  Y[3, 1] = np.nan
  with pytest.raises(ValueError, match=re.escape("y (Y) contains NaN or inf in column(s) [1]")):
    paths.multitask_enet_path(X, Y)
  with pytest.raises(ValueError, match="y \\(Y\\) must be a 2-D array"):
    paths.multitask_lasso_path(X, Y[:, 0])
  with pytest.raises(ValueError, match="X and y have different numbers of samples"):
    paths.multitask_lasso_path(X, np.zeros((3, 2)))


def test_logistic_single_class_with_intercept_raises():
  y = np.ones(len(BC_Y))
  with pytest.raises(ValueError, match="single class"):
    paths.logistic_path(BC_X, y, fit_intercept=True)
  sw = (BC_Y == 1) * 1.0  # only class 1 has weight
  with pytest.raises(ValueError, match="single class"):
    paths.logistic_path(BC_X, BC_Y, fit_intercept=True, sample_weight=sw)
