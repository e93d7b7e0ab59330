"""jaxreg.penalties against hand computation (the seed article's Eq. 1-3 and 5-7) and laws."""

import chex
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxreg

# W of the seed's equations: sum of squares 1 + 4 + 9 + 0.25 + 0 + 16 = 30.25, sum of |w| = 1 + 2 + 3 + 0.5 + 0 + 4 = 10.5.
W = jnp.array([[1.0, -2.0, 3.0], [0.5, 0.0, -4.0]])
SUM_SQ = 30.25
SUM_ABS = 10.5


class SeedEquationsTest(chex.TestCase):
  """The seed article's equations, with the numbers worked out by hand."""

  @chex.variants(with_jit=True, without_jit=True)
  def test_eq1_eq2_l2_term_has_the_half(self):
    # Eq. 1: Ω(W) = Σ_ij w_ij² = 30.25.  Eq. 2: the loss gets α/2·Ω(W); α = 0.2 gives 0.1 · 30.25 = 3.025.
    penalty = self.variant(jaxreg.l2_penalty)
    chex.assert_trees_all_close(penalty(W, 2.0), jnp.array(SUM_SQ))        # α = 2 cancels the ½: exactly Ω
    chex.assert_trees_all_close(penalty(W, 0.2), jnp.array(3.025), rtol=1e-6)
    data_loss = lambda w: jnp.sum(w) ** 2 / 10  # any L(W): (Σw)² / 10 = (-1.5)²/10 = 0.225
    chex.assert_trees_all_close(self.variant(lambda w: penalty(w, 0.2) + data_loss(w))(W), jnp.array(3.25), rtol=1e-6)

  def test_eq3_gradient_is_alpha_w_plus_grad_l(self):
    # Eq. 3: ∇(α/2‖W‖² + L) = αW + ∇L, with L(W) = (Σw)²/10 so ∇L = 2·Σw/10 = -0.3 everywhere.
    alpha = 0.2
    grad = jax.grad(lambda w: jaxreg.l2_penalty(w, alpha) + jnp.sum(w) ** 2 / 10)(W)
    expected = np.array([[0.2, -0.4, 0.6], [0.1, 0.0, -0.8]]) - 0.3
    chex.assert_trees_all_close(grad, jnp.asarray(expected, jnp.float32), rtol=1e-6, atol=1e-7)

  @chex.variants(with_jit=True, without_jit=True)
  def test_eq5_eq6_l1_term(self):
    # Eq. 5: Ω(W) = Σ|w| = 10.5.  Eq. 6: α·Ω(W), α = 0.3 → 3.15.
    penalty = self.variant(jaxreg.l1_penalty)
    chex.assert_trees_all_close(penalty(W, 1.0), jnp.array(SUM_ABS))
    chex.assert_trees_all_close(penalty(W, 0.3), jnp.array(3.15), rtol=1e-6)

  def test_eq7_gradient_is_alpha_sign_w_plus_grad_l(self):
    # Eq. 7: ∇ = α·sign(W) + ∇L at the nonzero entries (|w| is not differentiable at 0).
    alpha = 0.3
    grad = jax.grad(lambda w: jaxreg.l1_penalty(w, alpha) + jnp.sum(w) ** 2 / 10)(W)
    expected = np.array([[0.3, -0.3, 0.3], [0.3, np.nan, -0.3]]) - 0.3
    nonzero = np.asarray(W) != 0
    np.testing.assert_allclose(np.asarray(grad)[nonzero], expected[nonzero], rtol=1e-6, atol=1e-7)
    # The leaf subgradient jaxreg's transforms use takes sign(0) = 0.
    chex.assert_trees_all_close(jaxreg._leaf.l1_grad(W, alpha),
                                jnp.array([[0.3, -0.3, 0.3], [0.3, 0.0, -0.3]]))
    chex.assert_trees_all_close(jaxreg._leaf.l2_grad(W, 0.5), 0.5 * W)


@pytest.mark.parametrize("l1_ratio, expected", [
    (0.5, 0.5 * 10.5 + 0.25 * 30.25),   # 5.25 + 7.5625 = 12.8125
    (1.0, 10.5),                        # lasso
    (0.0, 0.5 * 30.25),                 # ridge, with the ½
    (0.2, 0.2 * 10.5 + 0.4 * 30.25),    # 2.1 + 12.1 = 14.2
])
def test_elastic_net_penalty_hand_values(l1_ratio, expected):
  # alpha·(l1_ratio·Σ|w| + (1 − l1_ratio)/2·Σw²)  with alpha = 2: twice the above
  chex.assert_trees_all_close(jaxreg.elastic_net_penalty(W, 2.0, l1_ratio), jnp.array(2 * expected), rtol=1e-6)


def test_elastic_net_gradient_hand_values():
  # ∂/∂w [alpha·(ρ|w| + (1−ρ)/2 w²)] = alpha·(ρ sign(w) + (1−ρ) w); alpha = 2, ρ = 0.25.
  g = jaxreg._leaf.enet_grad(W, 2.0, 0.25)
  chex.assert_trees_all_close(g, 2.0 * (0.25 * jnp.sign(W) + 0.75 * W))
  auto = jax.grad(lambda w: jaxreg.elastic_net_penalty(w, 2.0, 0.25))(W)
  nz = np.asarray(W) != 0
  np.testing.assert_allclose(np.asarray(auto)[nz], np.asarray(g)[nz], rtol=1e-6)


def test_group_lasso_penalty_hand_values():
  # Groups = columns (group_axis=-1): |g| = 2, norms ‖(1, .5)‖ = √1.25, ‖(-2, 0)‖ = 2, ‖(3, -4)‖ = 5.
  expected = 2**0.5 * (1.25**0.5 + 2.0 + 5.0)
  chex.assert_trees_all_close(jaxreg.group_lasso_penalty(W, 1.0), jnp.array(expected), rtol=1e-6)
  # Groups = rows (group_axis=0): |g| = 3, norms √14 and √16.25.
  expected0 = 0.5 * 3**0.5 * (14**0.5 + 16.25**0.5)
  chex.assert_trees_all_close(jaxreg.group_lasso_penalty(W, 0.5, group_axis=0), jnp.array(expected0), rtol=1e-6)
  # A 1-D leaf has groups of size 1: the penalty is alpha·Σ|b|.
  b = jnp.array([-1.0, 2.0, 0.0])
  chex.assert_trees_all_close(jaxreg.group_lasso_penalty(b, 0.5), jnp.array(1.5))


def test_group_lasso_gradient_is_finite_and_zero_for_a_zero_group():
  w = jnp.array([[0.0, 3.0], [0.0, 4.0]])
  g = jax.grad(jaxreg.group_lasso_penalty)(w)
  # column 0 is a zero group: gradient 0 (a subgradient), column 1: √2 · w/‖w‖ = √2·(0.6, 0.8)
  chex.assert_trees_all_close(g, jnp.array([[0.0, 0.6 * 2**0.5], [0.0, 0.8 * 2**0.5]]), rtol=1e-6)


PARAMS = {"dense": {"kernel": W, "bias": jnp.array([1.0, -1.0, 2.0])}, "scale": jnp.array([3.0]), "frozen": None}


@pytest.mark.parametrize("name, alpha, expected", [
    # kernel Σw² = 30.25, bias Σb² = 6, scale 9; |.|: 10.5, 4, 3
    ("l2", 1.0, 0.5 * (30.25 + 6 + 9)),
    ("l1", 1.0, 10.5 + 4 + 3),
    ("l2", {"dense": {"kernel": 2.0, "bias": 0.0}, "scale": 1.0, "frozen": 5.0}, 30.25 + 4.5),
    ("l1", {"dense": {"kernel": 0.1, "bias": 1.0}, "scale": 0.0, "frozen": 5.0}, 1.05 + 4),
])
def test_pytree_params_none_leaves_and_per_leaf_alpha(name, alpha, expected):
  penalty = {"l1": jaxreg.l1_penalty, "l2": jaxreg.l2_penalty}[name]
  chex.assert_trees_all_close(penalty(PARAMS, alpha), jnp.array(expected), rtol=1e-6)


def test_masks_bool_pytree_and_callables():
  weights = {"dense": {"kernel": True, "bias": False}, "scale": False, "frozen": False}
  for mask in (weights, jaxreg.masks.weights_only, jaxreg.masks.by_path("kernel")):
    chex.assert_trees_all_close(jaxreg.l2_penalty(PARAMS, 1.0, mask=mask), jnp.array(0.5 * 30.25))
    chex.assert_trees_all_close(jaxreg.l1_penalty(PARAMS, 1.0, mask=mask), jnp.array(10.5))
  only_bias = jaxreg.masks.by_path("bias$")
  chex.assert_trees_all_close(jaxreg.elastic_net_penalty(PARAMS, 1.0, 0.5, mask=only_bias), jnp.array(0.5 * 4 + 0.25 * 6))
  none = {"dense": {"kernel": False, "bias": False}, "scale": False, "frozen": False}
  assert float(jaxreg.group_lasso_penalty(PARAMS, 1.0, mask=none)) == 0.0


ALL = [
    ("l2_penalty", lambda p, a, **kw: jaxreg.l2_penalty(p, a, **kw)),
    ("l1_penalty", lambda p, a, **kw: jaxreg.l1_penalty(p, a, **kw)),
    ("elastic_net_penalty", lambda p, a, **kw: jaxreg.elastic_net_penalty(p, a, 0.3, **kw)),
    ("group_lasso_penalty", lambda p, a, **kw: jaxreg.group_lasso_penalty(p, a, **kw)),
]


@pytest.mark.parametrize("name, penalty", ALL)
def test_traced_alpha_under_jit_vmap_grad(name, penalty):
  alphas = jnp.linspace(0.0, 2.0, 5)
  batched = jax.vmap(lambda a: penalty(PARAMS, a))(alphas)
  separate = jnp.stack([penalty(PARAMS, float(a)) for a in alphas])
  chex.assert_trees_all_close(batched, separate, rtol=1e-6)
  # Penalties are linear in alpha: d/dalpha P(alpha) = P(1).
  chex.assert_trees_all_close(jax.grad(lambda a: penalty(PARAMS, a))(0.7), penalty(PARAMS, 1.0), rtol=1e-6)
  chex.assert_trees_all_close(jax.jit(penalty)(PARAMS, 0.7), penalty(PARAMS, 0.7), rtol=1e-6)


@pytest.mark.parametrize("name, penalty", ALL)
def test_bf16_params_accumulate_in_float32(name, penalty):
  w = jnp.linspace(-1.0, 1.0, 4096).reshape(64, 64)
  out = penalty(w.astype(jnp.bfloat16), 1.0)
  assert out.dtype == jnp.float32
  ref = penalty(w.astype(jnp.bfloat16).astype(jnp.float32), 1.0)  # the same weights, summed in float32
  chex.assert_trees_all_close(out, ref, rtol=1e-6)


@pytest.mark.parametrize("name, penalty", ALL)
@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), jnp.array(-0.5), jnp.array(jnp.inf),
                                 {"dense": {"kernel": 1.0, "bias": -1.0}, "scale": 1.0, "frozen": 1.0}])
def test_bad_alpha_raises_naming_alpha(name, penalty, bad):
  with pytest.raises(ValueError, match=r"^alpha(\[.*\])? must be a finite number >= 0, got"):
    penalty(PARAMS, bad)


@pytest.mark.parametrize("name, penalty", ALL)
@pytest.mark.parametrize("bad", [None, "a", True])
def test_non_number_alpha_raises_value_error_naming_alpha(name, penalty, bad):
  with pytest.raises(ValueError, match=r"^alpha must be a (real )?number"):
    penalty(PARAMS, bad)


@pytest.mark.parametrize("name, penalty", ALL)
def test_alpha_that_would_change_a_shape_is_refused(name, penalty):
  # A (3,) alpha made l2_penalty return a (3,) "penalty"; a (2, 2) one turned a (2,) bias into (2, 2).
  for bad in (jnp.ones(3), jnp.ones((2, 3, 3))):
    with pytest.raises(ValueError, match=r"^alpha has shape .* does not broadcast to params leaf"):
      penalty({"w": jnp.ones((2, 3)), "b": jnp.ones(2)}, bad)
  with pytest.raises(ValueError, match=r"^alpha has shape \(3,\)"):   # static: also refused when traced
    jax.jit(lambda a: penalty({"b": jnp.ones(2)}, a))(jnp.ones(3))


def test_array_alpha_that_broadcasts_weights_each_entry_and_keeps_the_penalty_scalar():
  w = jnp.array([[1.0, -2.0, 3.0], [0.5, 0.0, -4.0]])
  a = jnp.array([1.0, 0.0, 2.0])   # one strength per column
  assert jaxreg.l2_penalty(w, a).shape == ()
  chex.assert_trees_all_close(jaxreg.l2_penalty(w, a), jnp.array(0.5 * (1 + 0.25) + 1.0 * (9 + 16)))
  chex.assert_trees_all_close(jaxreg.l1_penalty(w, a), jnp.array(1.5 + 2 * 7.0))
  chex.assert_trees_all_close(jaxreg.elastic_net_penalty(w, a, 1.0), jaxreg.l1_penalty(w, a))
  # group lasso: one strength per group (column norms √1.25 and 5 count, the middle one has strength 0)
  chex.assert_trees_all_close(jaxreg.group_lasso_penalty(w, a), jnp.array(2**0.5 * (1.25**0.5 + 2 * 5.0)), rtol=1e-6)
  with pytest.raises(ValueError, match=r"one value per group: \(1, 3\)"):
    jaxreg.group_lasso_penalty(w, jnp.ones((2, 3)))   # per-entry strengths are not a group penalty


@pytest.mark.parametrize("name, penalty", ALL)
def test_params_python_floats_and_lists_are_float_leaves_and_ints_are_refused(name, penalty):
  chex.assert_trees_all_close(penalty([1.0, -2.0], 1.0), penalty([jnp.array(1.0), jnp.array(-2.0)], 1.0))
  chex.assert_trees_all_close(penalty(1.5, 1.0), penalty(jnp.array(1.5), 1.0))
  for bad, where in ((jnp.array([1, 2]), "params"), ({"a": jnp.ones(2), "n": [3]}, "params leaf 'n/0'"),
                     ({"b": jnp.array([True])}, "params leaf 'b'"), ([1j], "params leaf '0'")):
    with pytest.raises(ValueError, match=rf"^{where} has dtype"):
      penalty(bad, 1.0)


def test_group_lasso_group_axis_must_be_an_integer():
  for bad in (1.0, "0", None, True):
    with pytest.raises(ValueError, match=r"^group_axis must be an integer"):
      jaxreg.group_lasso_penalty(W, 1.0, group_axis=bad)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_group_lasso_penalty_of_huge_weights_does_not_overflow(dtype):
  w = jnp.asarray(np.array([[3.0, 1.0], [4.0, 0.0]]) * 1e30, dtype)   # Σw² = 2.5e61 overflows float32
  got = float(jaxreg.group_lasso_penalty(w, 1e-30))
  np.testing.assert_allclose(got, 2**0.5 * (5.0 + 1.0), rtol=1e-2)
  g = jax.grad(lambda w: jaxreg.group_lasso_penalty(w, 1.0))(w.astype(jnp.float32))
  assert np.isfinite(np.asarray(g)).all()


@pytest.mark.parametrize("name, penalty", ALL)
def test_mismatched_per_leaf_alpha_and_mask_raise(name, penalty):
  with pytest.raises(ValueError, match=r"^alpha is a pytree whose structure"):
    penalty(PARAMS, {"dense": {"kernel": 1.0, "bias": 1.0}, "scale": 1.0})
  with pytest.raises(ValueError, match=r"^mask has structure"):
    penalty(PARAMS, 1.0, mask={"dense": True, "scale": True})
  with pytest.raises(ValueError, match=r"^mask has structure"):
    penalty(PARAMS, 1.0, mask={"dense": {"kernel": True}, "scale": True, "frozen": False})


@pytest.mark.parametrize("name, penalty", ALL)
def test_prefix_mask_and_prefix_alpha_as_in_optax(name, penalty):
  # optax.masked's rule: a mask (and here a per-leaf alpha) may be a prefix of params.
  full = penalty(PARAMS, 1.0, mask={"dense": {"kernel": True, "bias": True}, "scale": False, "frozen": False})
  chex.assert_trees_all_close(penalty(PARAMS, 1.0, mask={"dense": True, "scale": False, "frozen": None}), full)
  chex.assert_trees_all_close(penalty(PARAMS, {"dense": 1.0, "scale": 0.0, "frozen": 0.0}), full)
  chex.assert_trees_all_close(penalty(PARAMS, 1.0, mask=True), penalty(PARAMS, 1.0))
  chex.assert_trees_all_close(penalty(PARAMS, 1.0, mask=False), jnp.zeros(()))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf")])
def test_elastic_net_l1_ratio_outside_unit_interval_raises(bad):
  with pytest.raises(ValueError, match=r"^l1_ratio must be a finite number in \[0, 1\]"):
    jaxreg.elastic_net_penalty(W, 1.0, bad)


# ----------------------------------------------------------------------------- properties

_arrays = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                     elements=st.floats(-100, 100, width=32))
_alphas = st.floats(0.0, 1e3, width=32)


@settings(max_examples=40, deadline=None)
@given(w=_arrays, alpha=_alphas, l1_ratio=st.floats(0.0, 1.0))
def test_penalties_nonnegative_and_homogeneous_in_alpha(w, alpha, l1_ratio):
  w = jnp.asarray(w)
  for penalty in (lambda a: jaxreg.l2_penalty(w, a), lambda a: jaxreg.l1_penalty(w, a),
                  lambda a: jaxreg.elastic_net_penalty(w, a, l1_ratio), lambda a: jaxreg.group_lasso_penalty(w, a)):
    p1, p2 = float(penalty(alpha)), float(penalty(2 * alpha))
    assert p1 >= 0.0 and p2 >= 0.0
    # atol: XLA flushes float32 subnormals (< 1.2e-38) to zero, in intermediates such as alpha/2 too, so p1 may
    # lose up to ~1e-38 times the penalty's weight factor (Σw², Σ|w|) where 2·p1 would be normal.
    scale = 1 + float(jnp.sum(w * w)) + float(jnp.sum(jnp.abs(w)))
    np.testing.assert_allclose(p2, 2 * p1, rtol=1e-6, atol=1e-37 * scale)
