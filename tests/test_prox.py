"""jaxreg.prox against brute-force argmins of ½‖w − v‖² + t·R(w), hand values and laws."""

import chex
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from hypothesis import example, given, settings
from hypothesis import strategies as st

import jaxreg

# ----------------------------------------------------------------------------- brute force

_GRID = np.linspace(-5.0, 5.0, 100_001)  # step 1e-4


def _argmin_1d(v, t, penalty):
  """Per element: the grid point minimizing ½(w − v)² + t·penalty(w) (a dense 1-D search, float64)."""
  v = np.asarray(v, np.float64).ravel()
  obj = 0.5 * (_GRID[None, :] - v[:, None]) ** 2 + t * penalty(_GRID)[None, :]
  return _GRID[np.argmin(obj, axis=1)]


def _argmin_scipy(v, objective, constraints=()):
  """A dense 2-D grid start (for 2-element groups) refined by scipy.optimize.minimize."""
  v = np.asarray(v, np.float64)
  x0 = v.copy()
  if v.size == 2:
    g = np.linspace(-5, 5, 1001)
    ww = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    vals = np.array([objective(w) for w in ww]) if constraints else objective(ww.T)
    x0 = ww[np.argmin(vals)]
  if constraints:
    res = scipy.optimize.minimize(objective, x0, method="SLSQP", constraints=constraints,
                                  options={"ftol": 1e-15, "maxiter": 1000})
  else:
    res = scipy.optimize.minimize(objective, x0, method="Nelder-Mead",
                                  options={"xatol": 1e-10, "fatol": 1e-15, "maxiter": 20_000})
  return res.x


V = jnp.array([-3.0, -1.2, -0.4, 0.0, 0.3, 0.7, 1.0, 2.5], jnp.float32)


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0, 2.0])
def test_prox_l1_equals_grid_argmin(t):
  expected = _argmin_1d(V, t, np.abs)
  np.testing.assert_allclose(np.asarray(jaxreg.prox_l1(V, t)), expected, atol=1e-4)


@pytest.mark.parametrize("t", [0.0, 0.5, 3.0])
def test_prox_l2_equals_grid_argmin(t):
  expected = _argmin_1d(V, t, lambda w: 0.5 * w**2)
  np.testing.assert_allclose(np.asarray(jaxreg.prox_l2(V, t)), expected, atol=1e-4)


@pytest.mark.parametrize("t, l1_ratio", [(0.5, 0.5), (1.0, 0.2), (2.0, 0.9), (1.0, 0.0), (1.0, 1.0)])
def test_prox_elastic_net_equals_grid_argmin(t, l1_ratio):
  expected = _argmin_1d(V, t, lambda w: l1_ratio * np.abs(w) + (1 - l1_ratio) / 2 * w**2)
  np.testing.assert_allclose(np.asarray(jaxreg.prox_elastic_net(V, t, l1_ratio)), expected, atol=1e-4)


@pytest.mark.parametrize("t", [0.3, 1.0])
def test_prox_group_lasso_equals_scipy_argmin(t):
  # Groups are columns (group_axis=-1), |g| = 2: the prox of t·√2·‖w_g‖ for each column.
  # Column norms: 3.16, 0.5, 1.41, 0 — with t·√2 = 0.42 or 1.41 some groups are zeroed, some shrunk.
  v = np.array([[1.0, 0.3, 1.0, 0.0], [-3.0, -0.4, 1.0, 0.0]])
  out = np.asarray(jaxreg.prox_group_lasso(jnp.asarray(v, jnp.float32), t))
  for j in range(v.shape[1]):
    vj = v[:, j]
    expected = _argmin_scipy(vj, lambda w, vj=vj: 0.5 * np.sum((w - vj[:, None] if w.ndim == 2 else w - vj) ** 2, 0)
                             + t * 2**0.5 * np.linalg.norm(w, axis=0))
    np.testing.assert_allclose(out[:, j], expected, atol=1e-5)


def test_prox_group_lasso_group_axis_zero_and_3d_hand_values():
  # group_axis=0 on a (2, 3) matrix: groups are rows of 3 weights; t·√3 with t = 1/√3 is 1.
  v = jnp.array([[3.0, 0.0, 4.0], [0.3, 0.4, 0.0]])  # row norms 5 and 0.5
  out = jaxreg.prox_group_lasso(v, 1 / 3**0.5, group_axis=0)
  chex.assert_trees_all_close(out, jnp.array([[3.0 * 0.8, 0.0, 4.0 * 0.8], [0.0, 0.0, 0.0]]), rtol=1e-6, atol=1e-7)
  # A (2, 2, 2) kernel with group_axis=-1: 2 groups of 4 weights; group 0 all 1 (norm 2), group 1 all 0.1 (norm 0.2).
  w = jnp.stack([jnp.ones((2, 2)), jnp.full((2, 2), 0.1)], axis=-1)
  out3 = jaxreg.prox_group_lasso(w, 0.25)   # t·√4 = 0.5: group 0 scaled by 1 − 0.5/2 = 0.75, group 1 zeroed
  chex.assert_trees_all_close(out3, jnp.stack([jnp.full((2, 2), 0.75), jnp.zeros((2, 2))], axis=-1), rtol=1e-6)


@pytest.mark.parametrize("c", [0.5, 2.0])
def test_project_max_norm_equals_scipy_constrained_argmin(c):
  # Groups are columns of 3 weights. Column norms 3.74, 0.41, 5, 0.
  v = np.array([[1.0, 0.1, 0.0, 0.0], [2.0, -0.2, 3.0, 0.0], [3.0, 0.3, -4.0, 0.0]])
  out = np.asarray(jaxreg.project_max_norm(jnp.asarray(v, jnp.float32), c))
  for j in range(v.shape[1]):
    vj = v[:, j]
    ball = {"type": "ineq", "fun": lambda w: c**2 - np.sum(w**2)}
    expected = _argmin_scipy(vj, lambda w, vj=vj: 0.5 * np.sum((w - vj) ** 2), constraints=[ball])
    np.testing.assert_allclose(out[:, j], expected, atol=1e-5)


class HandValuesTest(chex.TestCase):
  """The docstring examples, worked out by hand, with and without jit."""

  @chex.variants(with_jit=True, without_jit=True)
  def test_hand_values(self):
    chex.assert_trees_all_close(self.variant(jaxreg.prox_l1)(jnp.array([-2.0, 0.5, 3.0]), 1.0),
                                jnp.array([-1.0, 0.0, 2.0]))
    chex.assert_trees_all_close(self.variant(jaxreg.prox_l2)(jnp.array([2.0, -4.0]), 1.0), jnp.array([1.0, -2.0]))
    # S(3, 0.5) / (1 + 0.5) = 2.5 / 1.5; |0.2| ≤ 0.5 → 0
    chex.assert_trees_all_close(self.variant(jaxreg.prox_elastic_net)(jnp.array([3.0, 0.2]), 1.0, 0.5),
                                jnp.array([2.5 / 1.5, 0.0]), rtol=1e-6)
    # column 0: norm 5, factor 1 − √2/5; column 1: norm 0.14 ≤ √2 → 0
    f = 1 - 2**0.5 / 5
    chex.assert_trees_all_close(self.variant(jaxreg.prox_group_lasso)(jnp.array([[3.0, 0.1], [4.0, 0.1]]), 1.0),
                                jnp.array([[3 * f, 0.0], [4 * f, 0.0]]), rtol=1e-6)
    chex.assert_trees_all_close(self.variant(jaxreg.project_max_norm)(jnp.array([[3.0, 0.3], [4.0, 0.4]]), 1.0),
                                jnp.array([[0.6, 0.3], [0.8, 0.4]]), rtol=1e-6)


def test_exact_zeros():
  out = jaxreg.prox_l1(V, 1.0)
  assert np.array_equal(np.asarray(out) == 0.0, np.abs(np.asarray(V)) <= 1.0)
  out = jaxreg.prox_elastic_net(V, 2.0, 0.5)   # zero iff |v| ≤ t·l1_ratio = 1
  assert np.array_equal(np.asarray(out) == 0.0, np.abs(np.asarray(V)) <= 1.0)
  assert np.all(np.asarray(jaxreg.prox_l2(V, 10.0))[np.asarray(V) != 0] != 0.0)  # ridge shrinks, never zeroes
  gl = jaxreg.prox_group_lasso(jnp.array([[0.1, 5.0], [-0.1, 5.0]]), 1.0)
  assert np.all(np.asarray(gl[:, 0]) == 0.0) and np.all(np.asarray(gl[:, 1]) != 0.0)


def test_elastic_net_endpoints_are_l1_and_l2():
  chex.assert_trees_all_close(jaxreg.prox_elastic_net(V, 0.7, 1.0), jaxreg.prox_l1(V, 0.7))
  chex.assert_trees_all_close(jaxreg.prox_elastic_net(V, 0.7, 0.0), jaxreg.prox_l2(V, 0.7))


PARAMS = {"kernel": jnp.array([[3.0, 0.1], [4.0, -0.1]]), "bias": jnp.array([0.5, -2.0]), "frozen": None}

OPS = [
    ("prox_l1", lambda p, t, **kw: jaxreg.prox_l1(p, t, **kw)),
    ("prox_l2", lambda p, t, **kw: jaxreg.prox_l2(p, t, **kw)),
    ("prox_elastic_net", lambda p, t, **kw: jaxreg.prox_elastic_net(p, t, 0.5, **kw)),
    ("prox_group_lasso", lambda p, t, **kw: jaxreg.prox_group_lasso(p, t, **kw)),
    ("project_max_norm", lambda p, t, **kw: jaxreg.project_max_norm(p, jax.tree.map(lambda x: x + 0.1, t), **kw)),
]


@pytest.mark.parametrize("name, op", OPS)
def test_none_leaves_mask_and_per_leaf_threshold(name, op):
  out = op(PARAMS, 1.0)
  assert out["frozen"] is None
  # A masked-out leaf is returned unchanged, the others as without the mask.
  for mask in ({"kernel": True, "bias": False, "frozen": True}, jaxreg.masks.weights_only, jaxreg.masks.by_path("kern")):
    masked = op(PARAMS, 1.0, mask=mask)
    chex.assert_trees_all_equal(masked["bias"], PARAMS["bias"])
    chex.assert_trees_all_equal(masked["kernel"], out["kernel"])
  # A per-leaf threshold acts leaf by leaf like a scalar one.
  per_leaf = op(PARAMS, {"kernel": 1.0, "bias": 0.25, "frozen": 0.0})
  chex.assert_trees_all_equal(per_leaf["kernel"], out["kernel"])
  chex.assert_trees_all_equal(per_leaf["bias"], op(PARAMS["bias"], 0.25))


@pytest.mark.parametrize("name, op", OPS)
def test_bf16_in_bf16_out(name, op):
  p = jax.tree.map(lambda x: x.astype(jnp.bfloat16), PARAMS)
  out = op(p, jnp.float32(0.5))
  assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(out))
  ref = op(jax.tree.map(lambda x: x.astype(jnp.float32), p), 0.5)
  chex.assert_trees_all_close(jax.tree.map(lambda x: x.astype(jnp.float32), out), ref, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("name, op", OPS)
def test_traced_threshold_under_vmap(name, op):
  ts = jnp.linspace(0.0, 3.0, 8)
  batched = jax.vmap(lambda t: op(PARAMS, t))(ts)
  for i, t in enumerate(ts):
    chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], batched), op(PARAMS, float(t)), rtol=1e-6)


def test_gradient_in_threshold_hand_values():
  # d/dt sign(v)·max(|v| − t, 0) = −sign(v) where |v| > t, else 0.
  g = jax.jacfwd(lambda t: jaxreg.prox_l1(V, t))(0.9)
  chex.assert_trees_all_close(g, jnp.where(jnp.abs(V) > 0.9, -jnp.sign(V), 0.0))
  # d/dt v/(1+t) = −v/(1+t)²
  chex.assert_trees_all_close(jax.jacfwd(lambda t: jaxreg.prox_l2(V, t))(1.0), -V / 4)
  # max-norm: d/dc (c·v/‖v‖) = v/‖v‖ outside the ball, 0 inside.
  v = jnp.array([[3.0, 0.3], [4.0, 0.4]])
  chex.assert_trees_all_close(jax.jacfwd(lambda c: jaxreg.project_max_norm(v, c))(1.0),
                              jnp.array([[0.6, 0.0], [0.8, 0.0]]), rtol=1e-6)


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("name, op", OPS[:4])
@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), jnp.array(-0.1), jnp.array(jnp.inf)])
def test_negative_nan_or_inf_threshold_raises(name, op, bad):
  with pytest.raises(ValueError, match=r"^threshold(\[.*\])? must be a finite number >= 0, got"):
    op(PARAMS, bad)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), {"kernel": 1.0, "bias": 0.0, "frozen": 1.0}])
def test_max_norm_not_positive_raises(bad):
  with pytest.raises(ValueError, match=r"^max_value(\[.*\])? must be a finite number > 0, got"):
    jaxreg.project_max_norm(PARAMS, bad)


@pytest.mark.parametrize("bad", [-0.5, 1.01, float("nan"), float("inf")])
def test_l1_ratio_outside_unit_interval_raises(bad):
  with pytest.raises(ValueError, match=r"^l1_ratio must be a finite number in \[0, 1\]"):
    jaxreg.prox_elastic_net(PARAMS, 1.0, bad)


@pytest.mark.parametrize("name, op", OPS)
def test_threshold_that_would_change_a_leaf_shape_is_refused(name, op):
  # A (2, 2) threshold silently turned the (2,) bias into (2, 2); now refused, also when traced.
  with pytest.raises(ValueError, match=r"^(threshold|max_value) has shape \(2, 2\), which does not broadcast to params "
                                       r"leaf 'bias' of shape \(2,\)"):
    op(PARAMS, jnp.ones((2, 2)))
  with pytest.raises(ValueError, match=r"^(threshold|max_value) has shape \(3,\)"):
    jax.jit(lambda t: op(PARAMS, t))(jnp.ones(3))


def test_array_thresholds_elementwise_and_per_group():
  t = jnp.array([1.0, 0.0])
  chex.assert_trees_all_close(jaxreg.prox_l1(PARAMS["kernel"], t), jnp.array([[2.0, 0.1], [3.0, -0.1]]))
  # group operations take one value per group (here per column): (2,) or (1, 2), not (2, 2)
  chex.assert_trees_all_close(jaxreg.project_max_norm(PARAMS["kernel"], jnp.array([1.0, 10.0])),
                              jnp.array([[0.6, 0.1], [0.8, -0.1]]), rtol=1e-6)
  with pytest.raises(ValueError, match=r"one value per group: \(1, 2\)"):
    jaxreg.prox_group_lasso(PARAMS["kernel"], jnp.ones((2, 2)))
  with pytest.raises(ValueError, match=r"one value per group: \(2, 1\)"):
    jaxreg.project_max_norm(PARAMS["kernel"], jnp.ones(2), group_axis=0)


@pytest.mark.parametrize("name, op", OPS)
def test_params_float_leaves_only_and_python_floats_like_arrays(name, op):
  # prox_l1 used to truncate integer leaves silently; every function now refuses them, naming the leaf.
  for bad, where in ((jnp.array([3, 1]), "params"), ({"k": jnp.ones(2), "n": jnp.array([1, 2])}, "params leaf 'n'"),
                     ({"b": jnp.array([True, False])}, "params leaf 'b'"), ([2 + 1j], "params leaf '0'"), ([3], "params leaf '0'")):
    with pytest.raises(ValueError, match=rf"^{where} has dtype"):
      op(bad, 1.0)
  chex.assert_trees_all_close(op([3.0, -0.5], 1.0), op([jnp.array(3.0), jnp.array(-0.5)], 1.0))


@pytest.mark.parametrize("name", ["prox_group_lasso", "project_max_norm"])
def test_group_axis_must_be_an_integer(name):
  for bad in (0.0, "0", None, True):
    with pytest.raises(ValueError, match=r"^group_axis must be an integer"):
      getattr(jaxreg, name)(PARAMS, 1.0, group_axis=bad)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_group_ops_on_huge_weights_do_not_overflow(dtype):
  # ‖w‖² of 1e30-sized float32/bf16 weights overflows: the norm is computed as m·‖w/m‖.
  w = jnp.asarray(np.array([[3.0, 1.0], [4.0, 0.0]]) * 1e30, dtype)
  projected = np.asarray(jaxreg.project_max_norm(w, 3.0), np.float64)
  np.testing.assert_allclose(projected, [[1.8, 3.0], [2.4, 0.0]], rtol=1e-2)
  shrunk = np.asarray(jaxreg.prox_group_lasso(w, 2**0.5 * 1e30), np.float64)   # t·√|g| = 2e30
  np.testing.assert_allclose(shrunk, [[1.8e30, 0.0], [2.4e30, 0.0]], rtol=1e-2)
  g = jax.grad(lambda w: jnp.sum(jaxreg.project_max_norm(w, 3.0)))(w.astype(jnp.float32))
  assert np.isfinite(np.asarray(g)).all()


@pytest.mark.parametrize("name, arg, call", [
    ("prox_l1", "threshold", lambda bad: jaxreg.prox_l1(PARAMS, bad)),
    ("prox_l2", "threshold", lambda bad: jaxreg.prox_l2(PARAMS, bad)),
    ("prox_elastic_net", "threshold", lambda bad: jaxreg.prox_elastic_net(PARAMS, bad, 0.5)),
    ("prox_elastic_net", "l1_ratio", lambda bad: jaxreg.prox_elastic_net(PARAMS, 1.0, bad)),
    ("prox_group_lasso", "threshold", lambda bad: jaxreg.prox_group_lasso(PARAMS, bad)),
    ("project_max_norm", "max_value", lambda bad: jaxreg.project_max_norm(PARAMS, bad)),
])
def test_mismatched_per_leaf_value_raises_naming_the_argument(name, arg, call):
  with pytest.raises(ValueError, match=rf"^{arg} is a pytree whose structure .* does not match"):
    call({"kernel": 0.5, "bias": 0.5})


@pytest.mark.parametrize("name, op", OPS)
def test_mismatched_mask_raises(name, op):
  with pytest.raises(ValueError, match=r"^mask has structure"):
    op(PARAMS, 1.0, mask={"kernel": True, "bias": False})


# ----------------------------------------------------------------------------- properties

@st.composite
def _pairs(draw):
  shape = draw(st.sampled_from([(3, 4), (1, 2)]))  # few shapes: one compile each
  floats = st.floats(-10, 10, width=32)
  a = draw(hnp.arrays(np.float32, shape, elements=floats))
  b = draw(hnp.arrays(np.float32, shape, elements=floats))
  return jnp.asarray(a), jnp.asarray(b)


@jax.jit
def _distances(a, b, t, l1_ratio, c):
  """‖op(a) − op(b)‖ for every prox / projection, hyperparameters traced (one compile per shape)."""
  ops = (lambda x: jaxreg.prox_l1(x, t), lambda x: jaxreg.prox_l2(x, t),
         lambda x: jaxreg.prox_elastic_net(x, t, l1_ratio), lambda x: jaxreg.prox_group_lasso(x, t),
         lambda x: jaxreg.prox_group_lasso(x, t, group_axis=0), lambda x: jaxreg.project_max_norm(x, c))
  return jnp.stack([jnp.linalg.norm(op(a) - op(b)) for op in ops])


@settings(max_examples=60, deadline=None)
@given(pair=_pairs(), t=st.floats(0.0, 5.0, width=32), l1_ratio=st.floats(0.0, 1.0, width=32),
       c=st.floats(0.015625, 10.0, width=32))
def test_prox_and_projection_are_nonexpansive(pair, t, l1_ratio, c):
  a, b = pair
  dist = float(jnp.linalg.norm(a - b))
  out = np.asarray(_distances(a, b, t, l1_ratio, c))
  assert np.all(out <= dist * (1 + 1e-5) + 1e-5), out


@settings(max_examples=60, deadline=None)
@given(pair=_pairs(), c=st.floats(0.015625, 10.0, width=32), axis=st.sampled_from([0, -1]))
# Found by hypothesis: a group whose squared norm underflows float32 is inside the ball, so it must
# come back unchanged (not zeroed).
@example(pair=(jnp.array([[7.536468e-26]]), jnp.array([[0.0]])), c=1.0, axis=0)
def test_projection_is_idempotent_and_lands_in_the_ball(pair, c, axis):
  v = pair[0] * 3
  once = jaxreg.project_max_norm(v, c, group_axis=axis)
  twice = jaxreg.project_max_norm(once, c, group_axis=axis)
  chex.assert_trees_all_close(twice, once, rtol=1e-6, atol=1e-6)
  norms = np.linalg.norm(np.asarray(once, np.float64), axis=1 - (axis % 2))
  assert np.all(norms <= c * (1 + 1e-6))
  # groups already inside the ball are untouched
  inside = np.linalg.norm(np.asarray(v, np.float64), axis=1 - (axis % 2)) <= c * (1 - 1e-6)
  sel = (slice(None), inside) if axis % 2 else (inside, slice(None))
  np.testing.assert_array_equal(np.asarray(once)[sel], np.asarray(v)[sel])
