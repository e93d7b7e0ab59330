"""Each row of the conventions table (jaxreg/conventions.py) checked with numbers.

Keras and PyTorch by the formulas / algorithms their documentation writes out (re-implemented here
in numpy, float64); scikit-learn by fitting it and checking its solution against our objective;
glmnet by its documented objective.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize
from sklearn.datasets import load_diabetes, make_classification
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge

import jaxreg
from jaxreg import conventions

_rng = np.random.RandomState(0)
W = _rng.normal(size=(4, 3))
X = _rng.normal(size=(32, 4))
Y = _rng.normal(size=(32, 3))


def _grad_ls(w):
  """∇ of ½·mean_i ‖x_i W − y_i‖² (float64, by hand)."""
  return X.T @ (X @ w - Y) / len(X)


def _diabetes():
  x, y = load_diabetes(return_X_y=True)
  return x - x.mean(0), y - y.mean()


# ----------------------------------------------------------------------------- the seed and Keras


def test_seed_alpha_is_ours():
  # The seed: L̂ = α/2·Σw² + L (Eq. 2) and α·Σ|w| + L (Eq. 6).
  alpha = 0.3
  np.testing.assert_allclose(float(jaxreg.l2_penalty(jnp.asarray(W), alpha)), alpha / 2 * np.sum(W**2), rtol=1e-6)
  np.testing.assert_allclose(float(jaxreg.l1_penalty(jnp.asarray(W), alpha)), alpha * np.sum(np.abs(W)), rtol=1e-6)


def test_keras_l2():
  # Keras documents: "loss = l2 * reduce_sum(square(x))" (no ½), so its gradient is 2·l2·w.
  l2 = 0.01
  w = jnp.asarray(W, jnp.float32)
  keras_grad = jax.grad(lambda w: l2 * jnp.sum(jnp.square(w)))(w)
  chex.assert_trees_all_close(keras_grad, 2 * l2 * w, rtol=1e-6)
  u, _ = jaxreg.add_l2(conventions.from_keras_l2(l2)).update(jnp.zeros_like(w), optax.EmptyState(), w)
  chex.assert_trees_all_close(u, keras_grad, rtol=1e-6)
  # ... and the same penalty value.
  np.testing.assert_allclose(float(jaxreg.l2_penalty(w, conventions.from_keras_l2(l2))), l2 * np.sum(W**2), rtol=1e-6)


def test_keras_l1():
  # Keras documents: "loss = l1 * reduce_sum(abs(x))": subgradient l1·sign(w).
  l1 = 0.01
  w = jnp.asarray(W, jnp.float32)
  u, _ = jaxreg.add_l1(conventions.from_keras_l1(l1)).update(jnp.zeros_like(w), optax.EmptyState(), w)
  chex.assert_trees_all_close(u, l1 * jnp.sign(w), rtol=1e-6)
  np.testing.assert_allclose(float(jaxreg.l1_penalty(w, conventions.from_keras_l1(l1))), l1 * np.sum(np.abs(W)),
                             rtol=1e-6)


# ----------------------------------------------------------------------------- PyTorch, by its documented algorithms


def _run(tx, steps):
  w = jnp.asarray(W, jnp.float32)
  state = tx.init(w)
  for _ in range(steps):
    g = jnp.asarray(_grad_ls(np.asarray(w, np.float64)), jnp.float32)
    u, state = tx.update(g, state, w)
    w = optax.apply_updates(w, u)
  return np.asarray(w)


def test_torch_sgd_weight_decay_with_momentum():
  # torch.optim.SGD docs: g ← g + λθ;  b ← μb + (1 − τ)g (b₁ = g);  θ ← θ − γb   (τ = 0, no nesterov)
  lr, wd, mu, steps = 0.05, 0.1, 0.9, 20
  theta, b = W.copy(), None
  for _ in range(steps):
    g = _grad_ls(theta) + wd * theta
    b = g if b is None else mu * b + g
    theta = theta - lr * b
  ours = _run(optax.chain(jaxreg.add_l2(conventions.from_torch_weight_decay(wd)), optax.sgd(lr, momentum=mu)), steps)
  np.testing.assert_allclose(ours, theta, rtol=1e-5, atol=1e-6)


def _torch_adam(lr, wd, steps, decoupled, b1=0.9, b2=0.999, eps=1e-8):
  """torch.optim.Adam (decoupled=False) / AdamW (decoupled=True) as their docs write the algorithm."""
  theta, m, v = W.copy(), np.zeros_like(W), np.zeros_like(W)
  for t in range(1, steps + 1):
    g = _grad_ls(theta)
    if decoupled:
      theta = theta - lr * wd * theta          # AdamW: θ ← θ − γλθ, before the Adam step
    else:
      g = g + wd * theta                       # Adam: g ← g + λθ
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**2
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
  return theta


def test_torch_adam_weight_decay_is_coupled_l2_before_adam():
  lr, wd, steps = 0.01, 0.5, 30
  ours = _run(optax.chain(jaxreg.add_l2(conventions.from_torch_weight_decay(wd)), optax.adam(lr)), steps)
  np.testing.assert_allclose(ours, _torch_adam(lr, wd, steps, decoupled=False), rtol=1e-5, atol=1e-6)


def test_torch_adamw_is_decoupled_weight_decay_after_adam():
  lr, wd, steps = 0.01, 0.5, 30
  ref = _torch_adam(lr, wd, steps, decoupled=True)
  ours = _run(optax.chain(optax.adam(lr), jaxreg.decoupled_weight_decay(*conventions.from_torch_adamw(lr, wd))), steps)
  np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(_run(optax.adamw(lr, weight_decay=wd), steps), ref, rtol=1e-5, atol=1e-6)
  # AdamW is not Adam(weight_decay): the two PyTorch references differ, so the checks above can fail.
  assert np.max(np.abs(ref - _torch_adam(lr, wd, steps, decoupled=False))) > 1e-3


# ----------------------------------------------------------------------------- scikit-learn and glmnet


def _objective(x, y, penalty):
  """Our objective: the half-MSE data term 1/(2n)‖y − Xw‖² plus a jaxreg penalty."""
  xj, yj = jnp.asarray(x), jnp.asarray(y)
  return lambda w: 0.5 * jnp.mean((yj - xj @ w) ** 2) + penalty(w)


def _assert_kkt(objective, w, l1_strength, atol):
  """Optimality of a convex objective whose nonsmooth part is l1_strength·‖w‖₁, at w (float64).

  Nonzero coordinates: ∂F/∂w_j = 0. Zero coordinates: F does not decrease in either direction
  (one-sided difference quotients ≥ 0, i.e. |∂smooth/∂w_j| ≤ l1_strength).
  """
  w = jnp.asarray(w)
  grad = np.asarray(jax.grad(objective)(w))
  nz = np.asarray(w) != 0
  np.testing.assert_allclose(grad[nz], 0.0, atol=atol)
  f0, eps = float(objective(w)), 1e-6
  for j in np.flatnonzero(~nz):
    for sign in (1.0, -1.0):
      assert (float(objective(w.at[j].set(sign * eps))) - f0) / eps >= -atol
  return grad


@pytest.mark.parametrize("alpha, l1_ratio", [(0.5, 1.0), (0.05, 0.5), (0.02, 0.9)])
def test_sklearn_lasso_and_elastic_net_solutions_are_optimal_for_our_objective(alpha, l1_ratio):
  x, y = _diabetes()
  model = (Lasso(alpha=alpha) if l1_ratio == 1.0 else ElasticNet(alpha=alpha, l1_ratio=l1_ratio))
  coef = model.set_params(fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(x, y).coef_
  a, r = conventions.from_sklearn_elastic_net(alpha, l1_ratio)
  with jax.enable_x64(True):
    objective = _objective(x, y, lambda w: jaxreg.elastic_net_penalty(w, a, r))
    _assert_kkt(objective, coef, l1_strength=a * r, atol=1e-6 * alpha)
    # A wrong convention (alpha doubled, as a plain-MSE data term 1/n‖r‖² would need) fails the check.
    wrong = _objective(x, y, lambda w: jaxreg.elastic_net_penalty(w, 2 * a, r))
    assert np.max(np.abs(np.asarray(jax.grad(wrong)(jnp.asarray(coef)))[coef != 0])) > 1e-3 * alpha
  assert (coef == 0).any() and (coef != 0).any()


def test_sklearn_elastic_net_equals_our_proximal_ista():
  # Minimize our objective with jaxreg.proximal_elastic_net (full-batch ISTA) and compare coefficients.
  alpha, l1_ratio = 0.05, 0.5
  x, y = _diabetes()
  ref = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(x, y).coef_
  a, r = conventions.from_sklearn_elastic_net(alpha, l1_ratio)
  lr = 1.0 / np.linalg.eigvalsh(x.T @ x / len(y)).max()
  data = _objective(x.astype(np.float32), y.astype(np.float32), lambda w: 0.0)
  tx = optax.chain(optax.sgd(lr), jaxreg.proximal_elastic_net(a, r, lr))

  @jax.jit
  def fit():
    def step(carry, _):
      w, s = carry
      u, s = tx.update(jax.grad(data)(w), s, w)
      return (optax.apply_updates(w, u), s), None
    w0 = jnp.zeros(10)
    return jax.lax.scan(step, (w0, tx.init(w0)), None, length=20_000)[0][0]

  w = np.asarray(fit())
  np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-2)   # coefficients are O(100)
  np.testing.assert_array_equal(w == 0, ref == 0)
  assert (ref == 0).any()


def test_sklearn_ridge():
  # Ridge(alpha) minimizes ‖y − Xw‖² + alpha‖w‖². Ours: 1/(2n)‖y − Xw‖² + l2_penalty(w, a) with
  # a = alpha/n, whose minimizer solves (XᵀX/n + a·I) w = Xᵀy/n.
  alpha = 0.1
  x, y = _diabetes()
  n = len(y)
  a = conventions.from_sklearn_ridge(alpha, n)
  coef = Ridge(alpha=alpha, fit_intercept=False, solver="cholesky").fit(x, y).coef_
  closed = np.linalg.solve(x.T @ x / n + a * np.eye(x.shape[1]), x.T @ y / n)
  np.testing.assert_allclose(coef, closed, rtol=1e-8)
  with jax.enable_x64(True):
    grad = jax.grad(_objective(x, y, lambda w: jaxreg.l2_penalty(w, a)))(jnp.asarray(coef))
    np.testing.assert_allclose(np.asarray(grad), 0.0, atol=1e-8)
  wrong = np.linalg.solve(x.T @ x / n + alpha * np.eye(x.shape[1]), x.T @ y / n)   # forgetting the 1/n
  assert np.max(np.abs(wrong - coef)) > 1.0


def test_sklearn_logistic_regression_C():
  # LogisticRegression(C) (L2, lbfgs) minimizes ½‖w‖² + C·Σ logloss; ours: mean logloss + l2_penalty(w, 1/(C·n)).
  x, y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=0)
  x = (x - x.mean(0)) / x.std(0)
  n, C = len(y), 0.05
  coef = LogisticRegression(C=C, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(x, y).coef_.ravel()
  a = conventions.from_sklearn_logistic_C(C, n)
  with jax.enable_x64(True):
    xj, s = jnp.asarray(x), jnp.asarray(2.0 * y - 1.0)
    objective = lambda w: jnp.mean(jnp.logaddexp(0.0, -s * (xj @ w))) + jaxreg.l2_penalty(w, a)
    vg = jax.jit(jax.value_and_grad(objective))
    res = scipy.optimize.minimize(lambda w: tuple(np.asarray(t) for t in vg(jnp.asarray(w))), np.zeros(5), jac=True,
                                  method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000})
    np.testing.assert_allclose(res.x, coef, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(vg(jnp.asarray(coef))[1]), 0.0, atol=1e-7)
  assert np.max(np.abs(coef)) > 0.1   # not shrunk to nothing: the penalty and the data both matter


def test_glmnet_objective_is_ours():
  # glmnet (gaussian): 1/(2n)·Σ(y_i − x_iᵀβ)² + λ·[(1 − α)/2·‖β‖² + α·‖β‖₁]
  lam, alpha = 0.3, 0.7
  x, y = X, Y[:, 0]
  a, r = conventions.from_glmnet(lam, alpha)
  assert (a, r) == conventions.from_sklearn_elastic_net(lam, alpha)
  with jax.enable_x64(True):
    ours = _objective(x, y, lambda w: jaxreg.elastic_net_penalty(w, a, r))
    for beta in _rng.normal(size=(5, 4)):
      glmnet = np.sum((y - x @ beta) ** 2) / (2 * len(y)) + lam * ((1 - alpha) / 2 * np.sum(beta**2)
                                                                  + alpha * np.sum(np.abs(beta)))
      np.testing.assert_allclose(float(ours(jnp.asarray(beta))), glmnet, rtol=1e-12)


# ----------------------------------------------------------------------------- the helpers themselves


def test_helpers_values():
  assert conventions.from_keras_l2(0.01) == 0.02
  assert conventions.from_keras_l1(0.01) == 0.01
  assert conventions.from_torch_weight_decay(1e-4) == 1e-4
  np.testing.assert_allclose(conventions.from_torch_adamw(1e-3, 1e-2), (1e-2, 1e-3))
  assert conventions.from_sklearn_ridge(10.0, 100) == 0.1
  assert conventions.from_sklearn_elastic_net(0.1) == (0.1, 1.0)
  assert conventions.from_sklearn_logistic_C(2.0, 50) == 0.01
  assert conventions.from_glmnet(0.2, 0.3) == (0.2, 0.3)


def test_helpers_accept_traced_values():
  l2s = jnp.array([0.0, 0.1, 0.2])
  chex.assert_trees_all_close(jax.vmap(conventions.from_keras_l2)(l2s), 2 * l2s)
  chex.assert_trees_all_close(jax.jit(conventions.from_sklearn_logistic_C)(2.0, 50), jnp.array(0.01))
  g = jax.grad(lambda c: conventions.from_sklearn_logistic_C(c, 10))(2.0)   # d/dC 1/(C·n) = −1/(C²n)
  np.testing.assert_allclose(float(g), -1 / 40, rtol=1e-6)


@pytest.mark.parametrize("call, arg", [
    (lambda: conventions.from_keras_l2(-0.1), "l2"),
    (lambda: conventions.from_keras_l1(float("nan")), "l1"),
    (lambda: conventions.from_torch_weight_decay(-1e-4), "weight_decay"),
    (lambda: conventions.from_torch_adamw(-1e-3, 0.1), "lr"),
    (lambda: conventions.from_torch_adamw(1e-3, -0.1), "weight_decay"),
    (lambda: conventions.from_sklearn_ridge(-1.0, 10), "alpha"),
    (lambda: conventions.from_sklearn_ridge(1.0, 0), "n_samples"),
    (lambda: conventions.from_sklearn_elastic_net(0.1, 1.5), "l1_ratio"),
    (lambda: conventions.from_sklearn_logistic_C(0.0, 10), "C"),
    (lambda: conventions.from_sklearn_logistic_C(1.0, 0), "n_samples"),
    (lambda: conventions.from_glmnet(-0.1), "lambda_"),
    (lambda: conventions.from_glmnet(0.1, 1.2), "alpha"),
])
def test_helpers_reject_bad_values_naming_the_argument(call, arg):
  with pytest.raises(ValueError, match=rf"^{arg} must be "):
    call()


def test_helpers_convert_lists_and_never_do_sequence_arithmetic():
  # `2 * [1, 2]` is [1, 2, 1, 2] in Python: lists and tuples become numpy arrays first.
  np.testing.assert_array_equal(conventions.from_keras_l2([1.0, 2.0]), [2.0, 4.0])
  np.testing.assert_array_equal(conventions.from_keras_l2((0.5,)), [1.0])
  np.testing.assert_allclose(conventions.from_torch_adamw([1e-3, 1e-2], 0.1)[1], [1e-3, 1e-2])
  np.testing.assert_allclose(conventions.from_sklearn_ridge([1.0, 2.0], 4), [0.25, 0.5])
  alpha, l1_ratio = conventions.from_glmnet([0.1, 0.2], (0.5, 1.0))
  assert isinstance(alpha, np.ndarray) and isinstance(l1_ratio, np.ndarray)
  np.testing.assert_array_equal(conventions.from_keras_l2(np.array([0.1, 0.2])), [0.2, 0.4])


@pytest.mark.parametrize("call, arg", [
    (lambda bad: conventions.from_keras_l2(bad), "l2"),
    (lambda bad: conventions.from_keras_l1(bad), "l1"),
    (lambda bad: conventions.from_torch_weight_decay(bad), "weight_decay"),
    (lambda bad: conventions.from_torch_adamw(bad, 0.1), "lr"),
    (lambda bad: conventions.from_torch_adamw(1e-3, bad), "weight_decay"),
    (lambda bad: conventions.from_sklearn_ridge(bad, 10), "alpha"),
    (lambda bad: conventions.from_sklearn_elastic_net(bad), "alpha"),
    (lambda bad: conventions.from_sklearn_logistic_C(bad, 10), "C"),
    (lambda bad: conventions.from_glmnet(bad), "lambda_"),
])
@pytest.mark.parametrize("bad", [float("inf"), -float("inf"), float("nan"), None, "0.1", True, {"a": 0.1},
                                 [0.1, "x"], [[0.1], [0.1, 0.2]], [0.1, float("inf")]], ids=repr)
def test_helpers_reject_inf_none_strings_bools_and_containers(call, arg, bad):
  with pytest.raises(ValueError, match=rf"^{arg} must be "):
    call(bad)


@pytest.mark.parametrize("bad", [0, -3, 10.0, 2.5, True, None, "10", [10]], ids=repr)
def test_n_samples_must_be_an_integer_at_least_one(bad):
  for call in (lambda n: conventions.from_sklearn_ridge(1.0, n), lambda n: conventions.from_sklearn_logistic_C(1.0, n)):
    with pytest.raises(ValueError, match=r"^n_samples must be an integer"):
      call(bad)
  with pytest.raises(ValueError, match=r"^n_samples must be an integer, got a traced value of dtype float32"):
    jax.jit(conventions.from_sklearn_ridge)(1.0, 10.0)
