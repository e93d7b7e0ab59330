"""jaxreg.transforms against hand computation, optax, scikit-learn and the seed's Eq. 4.

Every transform is also checked as data: built inside ``jax.vmap`` over 8 strengths, differentiated in
its strength, fed bf16, ``None`` leaves, per-leaf strengths, masks and schedules, and fed bad inputs.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso

import jaxreg

# ----------------------------------------------------------------------------- a small problem

_rng = np.random.RandomState(0)
X = jnp.asarray(_rng.normal(size=(32, 4)), jnp.float32)
Y = jnp.asarray(_rng.normal(size=(32, 3)), jnp.float32)
XV = jnp.asarray(_rng.normal(size=(16, 4)), jnp.float32)   # validation inputs
YV = jnp.asarray(_rng.normal(size=(16, 3)), jnp.float32)
P0 = {"w": jnp.asarray(_rng.normal(size=(4, 3)), jnp.float32), "b": jnp.asarray(_rng.normal(size=3), jnp.float32)}
LR = 0.1


def loss(params, x=X, y=Y):
  return 0.5 * jnp.mean(jnp.sum((x @ params["w"] + params["b"] - y) ** 2, axis=-1))


G0 = jax.grad(loss)(P0)

# Each transform on its own, as a function of its strength (the argument a sweep varies).
SINGLE = {
    "add_l2": lambda a: jaxreg.add_l2(a),
    "add_l1": lambda a: jaxreg.add_l1(a),
    "add_elastic_net": lambda a: jaxreg.add_elastic_net(a, 0.5),
    "decoupled_weight_decay": lambda a: jaxreg.decoupled_weight_decay(a),
    "proximal_l1": lambda a: jaxreg.proximal_l1(a, LR),
    "proximal_elastic_net": lambda a: jaxreg.proximal_elastic_net(a, 0.5, LR),
    "proximal_group_lasso": lambda a: jaxreg.proximal_group_lasso(a, LR),
    "cumulative_l1": lambda a: jaxreg.cumulative_l1(a, LR),
    "max_norm": lambda a: jaxreg.max_norm(a),
}
COUPLED = ("add_l2", "add_l1", "add_elastic_net")
NAMES = list(SINGLE)
# Strengths to sweep: max_norm's is a radius (> 0; the columns of P0 have norms 0.9-2.9).
ALPHAS = {name: np.linspace(0.0, 0.7, 8) for name in NAMES}
ALPHAS["max_norm"] = np.linspace(0.5, 3.0, 8)
# One strength per transform that is active on both leaves (max_norm: a radius below most norms).
A = {name: float(ALPHAS[name][5]) for name in NAMES}
A["max_norm"] = 0.5


def chain(name, alpha, opt=None):
  """The transform in its documented place: coupled before sgd(LR), the others after it."""
  opt = optax.sgd(LR) if opt is None else opt
  tx = SINGLE[name](alpha)
  return optax.chain(tx, opt) if name in COUPLED else optax.chain(opt, tx)


def train(tx, params=P0, steps=5):
  state = tx.init(params)
  for _ in range(steps):
    updates, state = tx.update(jax.grad(loss)(params), state, params)
    params = optax.apply_updates(params, updates)
  return params


def scan_train(tx, loss_fn, params, steps):
  def step(carry, _):
    p, s = carry
    u, s = tx.update(jax.grad(loss_fn)(p), s, p)
    return (optax.apply_updates(p, u), s), None
  return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[0][0]


# ----------------------------------------------------------------------------- the seed's Eq. 4 and optax


class SeedEq4Test(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_sgd_with_add_l2_is_eq4_for_50_steps(self):
    # Eq. 4: W_new = (1 − εα)·W_old − ε·∇L(W_old), with ∇L of ½·mean‖XW − y‖² written out by hand (float64).
    eps, alpha = 0.05, 0.3
    x, y = np.asarray(X, np.float64), np.asarray(Y[:, 0], np.float64)
    w_ref = np.asarray(P0["w"][:, 0], np.float64)
    tx = optax.chain(jaxreg.add_l2(alpha), optax.sgd(eps))

    @self.variant
    def step(w, state):
      g = jax.grad(lambda w: 0.5 * jnp.mean((X @ w - Y[:, 0]) ** 2))(w)
      u, state = tx.update(g, state, w)
      return optax.apply_updates(w, u), state

    w, state = P0["w"][:, 0], tx.init(P0["w"][:, 0])
    for _ in range(50):
      w, state = step(w, state)
      w_ref = (1 - eps * alpha) * w_ref - eps * x.T @ (x @ w_ref - y) / len(y)
    np.testing.assert_allclose(np.asarray(w), w_ref, rtol=1e-5, atol=1e-6)


def test_coupled_l2_equals_decoupled_decay_for_sgd_but_not_for_adam():
  alpha = 0.5
  coupled = scan_train(optax.chain(jaxreg.add_l2(alpha), optax.sgd(LR)), loss, P0, 50)
  decoupled = scan_train(optax.chain(optax.sgd(LR), jaxreg.decoupled_weight_decay(alpha, LR)), loss, P0, 50)
  chex.assert_trees_all_close(coupled, decoupled, rtol=1e-5, atol=1e-6)
  # Adam rescales the penalty's gradient by its preconditioner: L2 is not weight decay there
  # (Loshchilov & Hutter 2019). The gap is O(1e-1), five orders above float error.
  coupled = scan_train(optax.chain(jaxreg.add_l2(alpha), optax.adam(LR)), loss, P0, 50)
  decoupled = scan_train(optax.chain(optax.adam(LR), jaxreg.decoupled_weight_decay(LR * alpha)), loss, P0, 50)
  gap = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(coupled), jax.tree.leaves(decoupled)))
  assert gap > 1e-2, gap


@pytest.mark.parametrize("mask", [None, jaxreg.masks.weights_only])
def test_adam_then_decoupled_weight_decay_equals_optax_adamw(mask):
  # optax.adamw computes u = −lr·(adam_u + wd·w); the chain computes −lr·adam_u − (lr·wd)·w: the same
  # real number with a different rounding (≤ 1 ulp per step), so over 1000 steps the two agree to
  # ~1e-8 absolute but not bitwise. rtol 1e-5 / atol 1e-6 leaves a 100x margin and still catches any
  # wrong placement (e.g. decay without lr, or decay before adam: differences ≥ 1e-3).
  lr, wd = 1e-2, 0.1
  ours = scan_train(optax.chain(optax.adam(lr), jaxreg.decoupled_weight_decay(wd, lr, mask=mask)), loss, P0, 1000)
  ref = scan_train(optax.adamw(lr, weight_decay=wd, mask=mask), loss, P0, 1000)
  chex.assert_trees_all_close(ours, ref, rtol=1e-5, atol=1e-6)
  # The fully decoupled form (learning_rate=1, Loshchilov & Hutter) with the pre-multiplied factor is the same.
  fully = scan_train(optax.chain(optax.adam(lr), jaxreg.decoupled_weight_decay(lr * wd, mask=mask)), loss, P0, 1000)
  chex.assert_trees_all_close(fully, ref, rtol=1e-5, atol=1e-6)
  # A learning-rate schedule is followed step by step, as optax.adamw does with the same schedule.
  sched = optax.linear_schedule(lr, lr / 10, 1000)
  ours = scan_train(optax.chain(optax.adam(sched), jaxreg.decoupled_weight_decay(wd, sched, mask=mask)), loss, P0, 1000)
  ref = scan_train(optax.adamw(sched, weight_decay=wd, mask=mask), loss, P0, 1000)
  chex.assert_trees_all_close(ours, ref, rtol=1e-5, atol=1e-6)
  plain = scan_train(optax.adam(lr), loss, P0, 1000)
  assert float(jnp.max(jnp.abs(plain["w"] - ref["w"]))) > 1e-3  # the decay matters: the check can fail


@pytest.mark.parametrize("alpha, mask", [
    (0.3, None),
    (0.3, jaxreg.masks.weights_only),
    (optax.linear_schedule(0.0, 1.0, 10), None),
])
def test_add_l2_equals_optax_add_decayed_weights(alpha, mask):
  ours = optax.chain(jaxreg.add_l2(alpha, mask=mask), optax.adam(LR))
  ref = optax.chain(optax.add_decayed_weights(alpha, mask=mask), optax.adam(LR))
  chex.assert_trees_all_close(scan_train(ours, loss, P0, 100), scan_train(ref, loss, P0, 100), rtol=1e-6, atol=1e-7)
  u_ours, _ = jaxreg.add_l2(0.3).update(G0, optax.EmptyState(), P0)
  u_ref, _ = optax.add_decayed_weights(0.3).update(G0, optax.EmptyState(), P0)
  chex.assert_trees_all_equal(u_ours, u_ref)


# ----------------------------------------------------------------------------- lasso against scikit-learn


def _diabetes():
  x, y = load_diabetes(return_X_y=True)
  return x - x.mean(0), y - y.mean()


@pytest.mark.parametrize("alpha", [0.1, 0.5])
def test_sgd_proximal_l1_converges_to_sklearn_lasso(alpha):
  # Full-batch ISTA on 1/(2n)‖y − Xw‖² + α‖w‖₁ (scikit-learn's Lasso objective), step 1/L with
  # L = λ_max(XᵀX/n). The condition number of XᵀX is ~470, so 20000 steps converge to float32 precision.
  x, y = _diabetes()
  n = len(y)
  ref = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=1_000_000).fit(x, y).coef_
  lr = 1.0 / np.linalg.eigvalsh(x.T @ x / n).max()
  xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
  data = lambda w: 0.5 * jnp.mean((xj @ w - yj) ** 2)
  fit = lambda tx: np.asarray(jax.jit(lambda: scan_train(tx, data, jnp.zeros(10), 20_000))())
  w = fit(optax.chain(optax.sgd(lr), jaxreg.proximal_l1(alpha, lr)))
  np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-2)   # coefficients are O(100)
  np.testing.assert_array_equal(w == 0, ref == 0)           # the same exact zeros
  assert (ref == 0).sum() >= 3
  # The subgradient add_l1 on the same problem: weights oscillate around 0 and never land on it.
  w_sub = fit(optax.chain(jaxreg.add_l1(alpha), optax.sgd(lr)))
  assert np.all(w_sub[ref == 0] != 0), w_sub


# ----------------------------------------------------------------------------- cumulative_l1 by hand


class CumulativeL1HandTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_three_steps_by_hand(self):
    # Tsuruoka, Tsujii & Ananiadou (ACL 2009), Fig. 2: for each step k
    #   u ← u + η·C/N;   z ← w (after the gradient step);
    #   w > 0: w ← max(0, w − (u + q));   w < 0: w ← min(0, w + (u − q));   q ← q + (w − z).
    # Here η = 0.5 (optax.sgd(0.5), steps −0.5·g) and C/N = alpha = 0.1, so u = 0.05, 0.10, 0.15.
    eta, alpha = 0.5, 0.1
    tx = optax.chain(optax.sgd(eta), jaxreg.cumulative_l1(alpha, eta))
    update = self.variant(tx.update)
    w = jnp.array([0.3, -0.2, 0.02, 0.0])
    grads = [jnp.array([0.0, 0.0, 0.0, -0.2]),    # sgd steps [0, 0, 0, +0.1]
             jnp.array([0.2, 0.0, -0.1, 0.0]),    # sgd steps [-0.1, 0, +0.05, 0]
             jnp.array([0.0, 0.6, -0.4, 0.0])]    # sgd steps [0, -0.3, +0.2, 0]
    expected_w = [
        # k=1, u=0.05, q=0: z = [0.3, -0.2, 0.02, 0.1]
        #   0.3 − 0.05 = 0.25;  −0.2 + 0.05 = −0.15;  0.02 − 0.05 < 0 → clipped at 0;  0.1 − 0.05 = 0.05
        [0.25, -0.15, 0.0, 0.05],
        # k=2, u=0.10, q = [−0.05, 0.05, −0.02, −0.05]: z = [0.15, −0.15, 0.05, 0.05]
        #   0.15 − (0.10 − 0.05) = 0.10;  −0.15 + (0.10 − 0.05) = −0.10;
        #   0.05 − (0.10 − 0.02) < 0 → 0;  0.05 − (0.10 − 0.05) = 0 → 0
        [0.10, -0.10, 0.0, 0.0],
        # k=3, u=0.15, q = [−0.10, 0.10, −0.07, −0.10]: z = [0.10, −0.40, 0.20, 0.0]
        #   0.10 − (0.15 − 0.10) = 0.05;  −0.40 + (0.15 − 0.10) = −0.35;
        #   0.20 − (0.15 − 0.07) = 0.12 (the penalty it missed while clipped is caught up);  z = 0 stays 0
        [0.05, -0.35, 0.12, 0.0],
    ]
    expected_q = [[-0.05, 0.05, -0.02, -0.05], [-0.10, 0.10, -0.07, -0.10], [-0.15, 0.15, -0.15, -0.10]]
    state = tx.init(w)
    for k in range(3):
      u, state = update(grads[k], state, w)
      w = optax.apply_updates(w, u)
      chex.assert_trees_all_close(w, jnp.array(expected_w[k]), atol=1e-6)
      cum = state[1]
      chex.assert_trees_all_close(cum.applied, jnp.array(expected_q[k]), atol=1e-6)
      chex.assert_trees_all_close(cum.total, jnp.array(0.05 * (k + 1)), atol=1e-7)
    assert float(w[3]) == 0.0 and float(jnp.asarray(w)[2]) != 0.0  # exact zero; a weight came back


def test_cumulative_l1_penalty_never_crosses_zero():
  # The penalty (total 1.0 ≫ |w|) pulls each weight to 0 and stops there; a gradient step may cross
  # 0 (z = ∓0.15 below), and then the penalty pulls from z's side: −0.15 + 0.01 = −0.14.
  tx = jaxreg.cumulative_l1(1.0, 1.0)
  w = jnp.array([0.05, -0.05])
  u, _ = tx.update(jnp.zeros(2), tx.init(w), w)
  chex.assert_trees_all_equal(optax.apply_updates(w, u), jnp.zeros(2))
  tx = jaxreg.cumulative_l1(0.01, 1.0)
  u, _ = tx.update(jnp.array([-0.2, 0.2]), tx.init(w), w)
  chex.assert_trees_all_close(optax.apply_updates(w, u), jnp.array([-0.14, 0.14]), rtol=1e-6)


def test_one_proximal_step_by_hand():
  # new w = prox(w + u, lr·alpha): soft-threshold with lr·alpha = 0.1·1 = 0.1, written out.
  # Shape (4, 1): for the group transforms (group_axis=-1) one group of 4 weights.
  w, u = jnp.array([[0.5], [-0.5], [0.05], [1.0]]), jnp.array([[-0.1], [0.0], [0.0], [0.5]])
  z = np.array([[0.4], [-0.5], [0.05], [1.5]])
  for tx, expected in [
      (jaxreg.proximal_l1(1.0, 0.1), np.sign(z) * np.maximum(np.abs(z) - 0.1, 0)),
      (jaxreg.proximal_elastic_net(1.0, 0.5, 0.1), np.sign(z) * np.maximum(np.abs(z) - 0.05, 0) / 1.05),
      (jaxreg.proximal_group_lasso(1.0, 0.1), z * (1 - 0.1 * 2 / np.linalg.norm(z))),  # factor 1 − t·√4/‖z‖
      (jaxreg.max_norm(1.0), z / np.linalg.norm(z)),
  ]:
    new = optax.apply_updates(w, tx.update(u, tx.init(w), w)[0])
    np.testing.assert_allclose(np.asarray(new), expected, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- hyperparameters are data


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_8_alphas_equals_8_separate_runs(name):
  alphas = jnp.asarray(ALPHAS[name], jnp.float32)
  run = lambda a: train(chain(name, a), steps=3)   # the transform is built inside the vmapped function
  batched = jax.jit(jax.vmap(run))(alphas)
  run_one = jax.jit(run)
  for i, a in enumerate(alphas):
    chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], batched), run_one(a), rtol=1e-5, atol=1e-6)
  # The strength matters (so this test could fail): first and last runs differ.
  assert float(jnp.max(jnp.abs(batched["w"][0] - batched["w"][-1]))) > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_grad_of_validation_loss_wrt_alpha_is_finite_and_matches_finite_differences(name):
  val_grad = jax.jit(jax.value_and_grad(lambda a: loss(train(chain(name, a), steps=3), XV, YV)))
  a0 = A[name]
  g = float(val_grad(jnp.float32(a0))[1])
  assert np.isfinite(g) and g != 0.0
  h = 1e-2 * a0
  fd = (float(val_grad(jnp.float32(a0 + h))[0]) - float(val_grad(jnp.float32(a0 - h))[0])) / (2 * h)
  np.testing.assert_allclose(g, fd, rtol=2e-2, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_bf16_params_and_updates_stay_bf16(name):
  p16 = jax.tree.map(lambda x: x.astype(jnp.bfloat16), P0)
  a = jnp.float32(A[name])   # a float32 strength must not promote bf16 updates
  tx = chain(name, a)
  state = tx.init(p16)
  p = p16
  for _ in range(3):
    g = jax.grad(lambda q: loss(jax.tree.map(lambda x: x.astype(jnp.float32), q)))(p)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(g))
    u, state = tx.update(g, state, p)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u)), jax.tree.map(lambda x: x.dtype, u)
    p = optax.apply_updates(p, u)
  assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(p))
  ref = train(chain(name, a), steps=3)
  chex.assert_trees_all_close(jax.tree.map(lambda x: x.astype(jnp.float32), p), ref, rtol=5e-2, atol=5e-2)


@pytest.mark.parametrize("name", NAMES)
def test_none_params_leaves_pass_through(name):
  params = {**P0, "frozen": None}
  grads = {**G0, "frozen": None}
  tx = SINGLE[name](A[name])
  u, _ = tx.update(jax.tree.map(lambda g: -LR * g, grads), tx.init(params), params)
  assert u["frozen"] is None
  ref, _ = tx.update(jax.tree.map(lambda g: -LR * g, G0), tx.init(P0), P0)
  chex.assert_trees_all_equal({"w": u["w"], "b": u["b"]}, ref)


@pytest.mark.parametrize("name", NAMES)
def test_none_update_leaf_passes_through_like_optax(name):
  # optax's convention (e.g. add_decayed_weights): a None update (a frozen leaf) stays None even
  # where params holds an array.
  tx = SINGLE[name](A[name])
  updates = {"w": -LR * G0["w"], "b": None}
  u, _ = tx.update(updates, tx.init(P0), P0)
  assert u["b"] is None
  ref, _ = tx.update({"w": -LR * G0["w"], "b": -LR * G0["b"]}, tx.init(P0), P0)
  chex.assert_trees_all_equal(u["w"], ref["w"])


def _one_update(tx, updates=None, params=P0):
  updates = jax.tree.map(lambda g: -LR * g, G0) if updates is None else updates
  return tx.update(updates, tx.init(params), params)[0]


@pytest.mark.parametrize("name", NAMES)
def test_per_leaf_alpha_acts_leaf_by_leaf(name):
  a_w, a_b = A[name], (0.3 if name == "max_norm" else float(ALPHAS[name][1]))
  per_leaf = _one_update(SINGLE[name]({"w": a_w, "b": a_b}))
  only_w = _one_update(SINGLE[name](a_w), {"w": -LR * G0["w"]}, {"w": P0["w"]})
  only_b = _one_update(SINGLE[name](a_b), {"b": -LR * G0["b"]}, {"b": P0["b"]})
  chex.assert_trees_all_close(per_leaf, {**only_w, **only_b}, rtol=1e-6, atol=1e-7)
  assert not np.allclose(np.asarray(per_leaf["b"]), np.asarray(_one_update(SINGLE[name](a_w))["b"]))


@pytest.mark.parametrize("name", NAMES)
def test_masks_bool_pytree_and_callables(name):
  a = A[name]
  full = _one_update(SINGLE[name](a))
  plain = jax.tree.map(lambda g: -LR * g, G0)
  assert not np.allclose(np.asarray(full["b"]), np.asarray(plain["b"]))   # the transform acts on b unmasked
  for mask in ({"w": True, "b": False}, jaxreg.masks.weights_only, jaxreg.masks.by_path("^w$")):
    masked = _one_update(_with_mask(name, a, mask))
    chex.assert_trees_all_equal(masked["b"], plain["b"])
    chex.assert_trees_all_equal(masked["w"], full["w"])


def _with_mask(name, a, mask):
  return {
      "add_l2": lambda: jaxreg.add_l2(a, mask=mask),
      "add_l1": lambda: jaxreg.add_l1(a, mask=mask),
      "add_elastic_net": lambda: jaxreg.add_elastic_net(a, 0.5, mask=mask),
      "decoupled_weight_decay": lambda: jaxreg.decoupled_weight_decay(a, mask=mask),
      "proximal_l1": lambda: jaxreg.proximal_l1(a, LR, mask=mask),
      "proximal_elastic_net": lambda: jaxreg.proximal_elastic_net(a, 0.5, LR, mask=mask),
      "proximal_group_lasso": lambda: jaxreg.proximal_group_lasso(a, LR, mask=mask),
      "cumulative_l1": lambda: jaxreg.cumulative_l1(a, LR, mask=mask),
      "max_norm": lambda: jaxreg.max_norm(a, mask=mask),
  }[name]()


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_mask_raises(name):
  tx = _with_mask(name, A[name], {"w": True})
  with pytest.raises(ValueError, match=r"^mask has structure"):
    _one_update(tx)


# ----------------------------------------------------------------------------- schedules


def _has_count(state):
  """Whether a (possibly chained) optax state holds a step counter."""
  if isinstance(state, tuple) and hasattr(state, "_fields"):
    if "count" in state._fields and state.count is not None:
      return True
    return any(_has_count(s) for s in state)
  if isinstance(state, (tuple, list)):
    return any(_has_count(s) for s in state)
  return False


@pytest.mark.parametrize("name", NAMES)
def test_schedule_follows_the_step_count_and_only_then_a_count_exists(name):
  lo, hi = float(ALPHAS[name][1]), float(ALPHAS[name][7])
  sched = optax.linear_schedule(lo, hi, 4)
  scheduled = SINGLE[name](sched)
  assert _has_count(scheduled.init(P0))
  assert not _has_count(SINGLE[name](lo).init(P0)), SINGLE[name](lo).init(P0)
  updates = jax.tree.map(lambda g: -LR * g, G0)
  state = scheduled.init(P0)
  for k in range(6):
    u, state = jax.jit(scheduled.update)(updates, state, P0)   # the count is traced under jit
    if name != "cumulative_l1":  # stateless transforms: step k equals a constant strength sched(k)
      chex.assert_trees_all_close(u, _one_update(SINGLE[name](float(sched(k)))), rtol=1e-6, atol=1e-7)
  if name == "cumulative_l1":  # u accumulates Σ_k lr·alpha_k with alpha_k = lo + (hi − lo)·min(k, 4)/4
    total = sum(LR * (lo + (hi - lo) * min(k, 4) / 4) for k in range(6))
    chex.assert_trees_all_close(state.total["w"], jnp.array(total), rtol=1e-6)


def test_schedules_by_hand_for_add_l2_and_proximal_l1():
  tx = jaxreg.add_l2(optax.linear_schedule(0.0, 0.4, 4))     # alpha_k = 0.1·k, then 0.4
  state = tx.init(P0)
  for k in range(6):
    u, state = tx.update(G0, state, P0)
    chex.assert_trees_all_close(u["w"], G0["w"] + 0.1 * min(k, 4) * P0["w"], rtol=1e-6, atol=1e-7)
  tx = jaxreg.proximal_l1(2.0, optax.linear_schedule(0.5, 0.0, 2))   # thresholds 1.0, 0.5, 0, 0
  state = tx.init(P0)
  for t in [1.0, 0.5, 0.0, 0.0]:
    u, state = tx.update(jax.tree.map(jnp.zeros_like, P0), state, P0)
    w = np.asarray(P0["w"])
    np.testing.assert_allclose(np.asarray(P0["w"] + u["w"]), np.sign(w) * np.maximum(np.abs(w) - t, 0),
                               rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- bad inputs


BAD = [
    # (transform, argument named in the error, constructor taking the bad value)
    ("add_l2", "alpha", lambda v: jaxreg.add_l2(v)),
    ("add_l1", "alpha", lambda v: jaxreg.add_l1(v)),
    ("add_elastic_net", "alpha", lambda v: jaxreg.add_elastic_net(v, 0.5)),
    ("add_elastic_net", "l1_ratio", lambda v: jaxreg.add_elastic_net(0.1, v)),
    ("decoupled_weight_decay", "weight_decay", lambda v: jaxreg.decoupled_weight_decay(v)),
    ("proximal_l1", "alpha", lambda v: jaxreg.proximal_l1(v, 0.1)),
    ("proximal_l1", "learning_rate", lambda v: jaxreg.proximal_l1(0.1, v)),
    ("proximal_elastic_net", "alpha", lambda v: jaxreg.proximal_elastic_net(v, 0.5, 0.1)),
    ("proximal_elastic_net", "l1_ratio", lambda v: jaxreg.proximal_elastic_net(0.1, v, 0.1)),
    ("proximal_elastic_net", "learning_rate", lambda v: jaxreg.proximal_elastic_net(0.1, 0.5, v)),
    ("proximal_group_lasso", "alpha", lambda v: jaxreg.proximal_group_lasso(v, 0.1)),
    ("proximal_group_lasso", "learning_rate", lambda v: jaxreg.proximal_group_lasso(0.1, v)),
    ("cumulative_l1", "alpha", lambda v: jaxreg.cumulative_l1(v, 0.1)),
    ("cumulative_l1", "learning_rate", lambda v: jaxreg.cumulative_l1(0.1, v)),
    ("max_norm", "max_value", lambda v: jaxreg.max_norm(v)),
    ("decoupled_weight_decay", "learning_rate", lambda v: jaxreg.decoupled_weight_decay(0.1, v)),
]


@pytest.mark.parametrize("name, arg, make", BAD)
@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), jnp.array(-0.5), jnp.array(-jnp.inf),
                                 {"w": 0.1, "b": -2.0}, {"w": 0.1, "b": float("inf")}, None, "0.1", True])
def test_bad_hyperparameter_raises_naming_it(name, arg, make, bad):
  # learning rates included: inf is refused like NaN and negatives; None/str/bool give a ValueError too.
  with pytest.raises(ValueError, match=rf"^{arg}(\[.*\])? must be "):
    make(bad)


@pytest.mark.parametrize("name, arg, make", [b for b in BAD if b[1] == "l1_ratio"])
@pytest.mark.parametrize("bad", [1.5, 1.0 + 1e-6])
def test_l1_ratio_above_one_raises(name, arg, make, bad):
  with pytest.raises(ValueError, match=r"^l1_ratio must be a finite number in \[0, 1\]"):
    make(bad)


@pytest.mark.parametrize("bad", [0.0, jnp.array(0.0), {"w": 1.0, "b": 0.0}])
def test_max_norm_not_positive_raises(bad):
  with pytest.raises(ValueError, match=r"^max_value(\[.*\])? must be a finite number > 0"):
    jaxreg.max_norm(bad)


@pytest.mark.parametrize("name, arg, make", BAD)
def test_hyperparameter_that_would_change_a_leaf_shape_is_refused(name, arg, make):
  good = 0.5 if arg == "l1_ratio" else 0.1
  for bad in (jnp.full((4, 3, 3), good), {"w": good, "b": jnp.full((3, 3), good)}):   # b has shape (3,)
    with pytest.raises(ValueError, match=rf"^{arg} has shape .* does not broadcast to params leaf"):
      _one_update(make(bad))
  sched = lambda count: jnp.full((2,), good)   # a schedule's value is checked when it is evaluated
  with pytest.raises(ValueError, match=rf"^{arg} has shape \(2,\)"):
    _one_update(make(sched))


def test_array_hyperparameters_per_entry_and_per_group():
  a = jnp.array([0.0, 0.1, 0.2])   # one strength per output column of w (4, 3) and per entry of b (3,)
  u, _ = jaxreg.add_l2(a).update(G0, jaxreg.add_l2(a).init(P0), P0)
  chex.assert_trees_all_close(u, jax.tree.map(lambda g, w: g + a * w, G0, P0))
  tx = jaxreg.cumulative_l1(a, LR)   # its state holds one total per strength
  state = tx.init(P0)
  assert state.total["w"].shape == (3,)
  _, state = tx.update(G0, state, P0)
  chex.assert_trees_all_close(state.total["w"], LR * a)
  tx = jaxreg.max_norm(jnp.array([0.5, 1.0, 100.0]))   # one radius per group (column)
  u, _ = tx.update(jax.tree.map(jnp.zeros_like, P0), tx.init(P0), P0)
  norms = np.linalg.norm(np.asarray(P0["w"] + u["w"]), axis=0)
  assert np.all(norms <= np.array([0.5, 1.0, 100.0]) * (1 + 1e-6))
  with pytest.raises(ValueError, match=r"one value per group"):
    _one_update(jaxreg.proximal_group_lasso({"w": jnp.ones((4, 3)), "b": 0.1}, LR))


@pytest.mark.parametrize("name", ["proximal_group_lasso", "max_norm"])
def test_group_axis_must_be_an_integer(name):
  for bad in (0.5, "0", None, True):
    with pytest.raises(ValueError, match=r"^group_axis must be an integer"):
      getattr(jaxreg, name)(*([0.1, 0.1] if name == "proximal_group_lasso" else [1.0]), group_axis=bad)


@pytest.mark.parametrize("name", NAMES)
def test_non_float_params_and_updates_are_refused(name):
  tx = SINGLE[name](A[name])
  params = {"w": P0["w"], "b": jnp.array([1, 2, 3])}
  with pytest.raises(ValueError, match=r"^params leaf 'b' has dtype int32"):
    tx.update(G0, tx.init(params), params)
  with pytest.raises(ValueError, match=r"^updates leaf 'b' has dtype int32"):
    tx.update({"w": G0["w"], "b": jnp.array([1, 2, 3])}, tx.init(P0), P0)


@pytest.mark.parametrize("name, arg, make", BAD)
def test_mismatched_per_leaf_hparam_raises_naming_it(name, arg, make):
  good = 0.5 if arg == "l1_ratio" else 0.1
  tx = make({"w": good})
  with pytest.raises(ValueError, match=rf"^{arg} is a pytree whose structure .* does not match"):
    _one_update(tx)


@pytest.mark.parametrize("name", NAMES)
def test_update_without_params_raises(name):
  tx = SINGLE[name](A[name])
  with pytest.raises(ValueError, match=rf"jaxreg.{name} needs the current parameters.*params"):
    tx.update(G0, tx.init(P0))
