"""jaxreg._trees: validation of hyperparameters and of pytree structure (masks, per-leaf values)."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxreg import _trees


def _params():
  return {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2), "frozen": None}


# ----------------------------------------------------------------------------- check


@pytest.mark.parametrize("value", [0.0, 1.0, 3, np.float32(2.0), jnp.array(0.5), jnp.array([0.0, 1.0]),
                                   {"a": 1.0, "b": jnp.array(2.0)}, None])
def test_check_accepts_valid_values(value):
  _trees.check("alpha", value)  # no exception


@pytest.mark.parametrize("value", [-1.0, -1e-12, float("nan"), jnp.array(-0.5), jnp.array([1.0, float("nan")]),
                                   np.array([0.5, -2.0]), {"a": 1.0, "b": -3.0}, float("-inf")])
def test_check_rejects_negative_and_nan_naming_argument_and_value(value):
  with pytest.raises(ValueError, match=r"^alpha(\['b'\])? must be >= 0 \(and not NaN\), got ") as info:
    _trees.check("alpha", value)
  if isinstance(value, dict):  # a per-leaf value: the message names the offending leaf
    assert str(info.value).startswith("alpha['b'] ")
  bad = [leaf for leaf in jax.tree_util.tree_leaves(value)
         if np.isnan(np.asarray(leaf)).any() or (np.asarray(leaf) < 0).any()][0]
  assert repr(bad) in str(info.value)


def test_check_interval_bounds_and_their_description():
  _trees.check("l1_ratio", 0.0, high=1.0)
  _trees.check("l1_ratio", 1.0, high=1.0)
  for bad in (-0.1, 1.1, float("nan")):
    with pytest.raises(ValueError, match=r"l1_ratio must be in \[0, 1\] \(and not NaN\)"):
      _trees.check("l1_ratio", bad, high=1.0)
  with pytest.raises(ValueError, match=r"max_norm must be > 0 \(and not NaN\), got 0.0"):
    _trees.check("max_norm", 0.0, low_open=True)
  with pytest.raises(ValueError, match=r"p must be in \(0, 1\) \(and not NaN\)"):
    _trees.check("p", 1.0, low_open=True, high=1.0, high_open=True)
  _trees.check("max_norm", 1e-30, low_open=True)
  _trees.check("x", math.inf)  # inf is allowed when the upper bound is inf


def test_check_rejects_non_numbers_naming_argument():
  with pytest.raises(ValueError, match=r"alpha must be a number or array of numbers, got 'big'"):
    _trees.check("alpha", "big")


def test_check_skips_tracers_and_schedules():
  # A traced negative value must not raise (and must not be concretized): validation never
  # branches on traced data.
  out = jax.jit(lambda a: (_trees.check("alpha", a), a * 2)[1])(-1.0)
  assert float(out) == -2.0
  jax.vmap(lambda a: _trees.check("alpha", a))(jnp.array([-1.0, 2.0]))
  _trees.check("alpha", optax.linear_schedule(-1.0, 1.0, 10))
  _trees.check("alpha", {"a": lambda count: -1.0, "b": 0.5})


# ----------------------------------------------------------------------------- structure


def test_flatten_keeps_none_leaves():
  leaves, treedef = _trees.flatten(_params())
  assert len(leaves) == 3 and treedef.num_leaves == 3
  assert sum(leaf is None for leaf in leaves) == 1


def test_broadcast_single_value_and_matching_pytree():
  leaves, treedef = _trees.flatten(_params())
  assert _trees.broadcast("alpha", 0.5, treedef, 3) == [0.5, 0.5, 0.5]
  per_leaf = {"kernel": 1.0, "bias": 2.0, "frozen": 3.0}
  assert sorted(_trees.broadcast("alpha", per_leaf, treedef, 3)) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("bad", [
    {"kernel": 1.0, "bias": 2.0},                                # missing leaf
    {"kernel": 1.0, "bias": 2.0, "frozen": 3.0, "extra": 4.0},   # extra leaf
    [1.0, 2.0, 3.0],                                             # same number of leaves, other container
    {"kernel": 1.0, "bias": {"x": 2.0}, "frozen": 3.0},          # nested deeper
])
def test_broadcast_mismatched_pytree_raises_naming_argument(bad):
  _, treedef = _trees.flatten(_params())
  with pytest.raises(ValueError, match=r"^alpha is a pytree whose structure .* does not match the structure of params"):
    _trees.broadcast("alpha", bad, treedef, 3)


def test_resolve_mask_bool_pytree_callable_and_none():
  params = _params()
  leaves, treedef = _trees.flatten(params)
  order = [k for k in sorted(params)]  # dict leaves are flattened in sorted-key order
  assert order == ["bias", "frozen", "kernel"]
  assert _trees.resolve_mask(None, params, treedef, 3) == [True, True, True]
  mask = {"kernel": True, "bias": False, "frozen": True}
  assert _trees.resolve_mask(mask, params, treedef, 3) == [False, True, True]
  assert _trees.resolve_mask(lambda p: mask, params, treedef, 3) == [False, True, True]
  # a None mask leaf means "not regularized"
  assert _trees.resolve_mask({"kernel": True, "bias": True, "frozen": None}, params, treedef, 3) == [True, False, True]


@pytest.mark.parametrize("bad", [
    {"kernel": True, "bias": False},                  # missing leaf
    {"kernel": True},                                 # a prefix: optax would broadcast it, jaxreg refuses
    True,                                             # a single bool for a tree
    lambda p: {"kernel": True, "bias": False},        # a callable returning a mismatched tree
])
def test_resolve_mask_mismatch_raises_naming_mask(bad):
  params = _params()
  _, treedef = _trees.flatten(params)
  with pytest.raises(ValueError, match=r"^mask has structure .* which does not match the structure of params"):
    _trees.resolve_mask(bad, params, treedef, 3)


# ----------------------------------------------------------------------------- mapping


def test_tree_map_skips_none_and_masked_leaves_and_keeps_dtypes():
  params = {"a": jnp.full((2,), 2.0, jnp.bfloat16), "b": jnp.full((2,), 3.0), "c": None}
  out = _trees.tree_map(lambda w, s: w * s, params, {"s": jnp.float32(10.0)}, mask={"a": True, "b": False, "c": True})
  assert out["c"] is None
  assert out["a"].dtype == jnp.bfloat16
  chex.assert_trees_all_equal(out["a"], jnp.full((2,), 20.0, jnp.bfloat16))
  chex.assert_trees_all_equal(out["b"], params["b"])


def test_tree_map_with_others_returns_other_leaf_when_skipped():
  params = {"a": jnp.ones(2), "b": jnp.ones(2)}
  updates = {"a": jnp.full((2,), 5.0), "b": jnp.full((2,), 7.0)}
  out = _trees.tree_map(lambda w, u, s: u + s * w, params, {"s": 1.0}, mask={"a": False, "b": True}, others=(updates,))
  chex.assert_trees_all_equal(out, {"a": jnp.full((2,), 5.0), "b": jnp.full((2,), 8.0)})


def test_tree_map_mismatched_updates_raises_naming_updates():
  params = {"a": jnp.ones(2), "b": jnp.ones(2)}
  with pytest.raises(ValueError, match="^updates has structure"):
    _trees.tree_map(lambda w, u: u, params, {}, others=({"a": jnp.ones(2)},))


def test_tree_sum_per_leaf_values_and_all_masked():
  params = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([3.0]), "c": None}
  total = _trees.tree_sum(lambda w, s: s * jnp.sum(w), params, {"s": {"a": 1.0, "b": 10.0, "c": 0.0}})
  assert float(total) == 1.0 + 2.0 + 30.0
  zero = _trees.tree_sum(lambda w: jnp.sum(w), params, {}, mask={"a": False, "b": False, "c": False})
  assert zero.dtype == jnp.float32 and float(zero) == 0.0


def test_accum_dtype():
  assert _trees.accum_dtype(jnp.ones(2, jnp.bfloat16)) == jnp.float32
  assert _trees.accum_dtype(jnp.ones(2, jnp.float16)) == jnp.float32
  assert _trees.accum_dtype(jnp.ones(2, jnp.float32)) == jnp.float32


def test_group_norm_hand_values():
  w = jnp.array([[3.0, 0.0, 1.0], [4.0, 0.0, 1.0]])   # columns: norms 5, 0, sqrt(2)
  norms, size = _trees.group_norm(w, -1)
  assert size == 2 and norms.shape == (1, 3)
  chex.assert_trees_all_close(norms, jnp.array([[5.0, 0.0, 2**0.5]]))
  norms0, size0 = _trees.group_norm(w, 0)           # rows: sqrt(10), sqrt(17)
  assert size0 == 3
  chex.assert_trees_all_close(norms0, jnp.array([[10**0.5], [17**0.5]]))
  n1, s1 = _trees.group_norm(jnp.array([-2.0, 3.0]), -1)   # 1-D: groups of size 1
  assert s1 == 1
  chex.assert_trees_all_close(n1, jnp.array([2.0, 3.0]))
  n0, s0 = _trees.group_norm(jnp.array(-4.0), -1)
  assert s0 == 1 and float(n0) == 4.0
  w3 = jnp.ones((2, 3, 4))
  n3, s3 = _trees.group_norm(w3, 1)                  # groups along axis 1: 2*4 = 8 weights each
  assert s3 == 8 and n3.shape == (1, 3, 1)
  chex.assert_trees_all_close(n3, jnp.full((1, 3, 1), 8**0.5))


def test_group_norm_gradient_at_zero_group_is_zero_not_nan():
  g = jax.grad(lambda w: jnp.sum(_trees.group_norm(w, -1)[0]))(jnp.zeros((2, 2)))
  chex.assert_trees_all_equal(g, jnp.zeros((2, 2)))


def test_group_axis_out_of_range_raises_for_matrices():
  with pytest.raises(ValueError, match=r"group_axis=2 is out of range for a leaf of shape \(2, 3\)"):
    _trees.group_norm(jnp.ones((2, 3)), 2)
  norms, size = _trees.group_norm(jnp.ones(3), 5)  # a bias: groups of size 1 whatever the axis
  assert size == 1 and norms.shape == (3,)
