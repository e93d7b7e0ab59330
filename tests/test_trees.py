"""jaxreg._trees: validation of hyperparameters and of pytree structure (masks, per-leaf values)."""

import dataclasses
import math
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg
from jaxreg import _leaf, _trees


def _params():
  return {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2), "frozen": None}


# ----------------------------------------------------------------------------- check


@pytest.mark.parametrize("value", [0.0, 1.0, 3, np.float32(2.0), jnp.array(0.5), jnp.array([0.0, 1.0]),
                                   {"a": 1.0, "b": jnp.array(2.0)}, {"a": 1.0, "frozen": None},
                                   jnp.bfloat16(0.5), jnp.array([0.5, 1.0], jnp.bfloat16)])
def test_check_accepts_valid_values(value):
  _trees.check("alpha", value)  # no exception


@pytest.mark.parametrize("value", [-1.0, -1e-12, float("nan"), jnp.array(-0.5), jnp.array([1.0, float("nan")]),
                                   np.array([0.5, -2.0]), {"a": 1.0, "b": -3.0}, float("-inf"), float("inf"),
                                   jnp.array([1.0, jnp.inf]), {"a": 1.0, "b": float("inf")}])
def test_check_rejects_negative_nan_and_inf_naming_argument_and_value(value):
  with pytest.raises(ValueError, match=r"^alpha(\['b'\])? must be a finite number >= 0, got ") as info:
    _trees.check("alpha", value)
  if isinstance(value, dict):  # a per-leaf value: the message names the offending leaf
    assert str(info.value).startswith("alpha['b'] ")
  bad = [leaf for leaf in jax.tree_util.tree_leaves(value)
         if not np.isfinite(np.asarray(leaf)).all() or (np.asarray(leaf) < 0).any()][0]
  assert repr(bad) in str(info.value)


def test_check_interval_bounds_and_their_description():
  _trees.check("l1_ratio", 0.0, high=1.0)
  _trees.check("l1_ratio", 1.0, high=1.0)
  for bad in (-0.1, 1.1, float("nan"), float("inf")):
    with pytest.raises(ValueError, match=r"l1_ratio must be a finite number in \[0, 1\], got"):
      _trees.check("l1_ratio", bad, high=1.0)
  with pytest.raises(ValueError, match=r"max_norm must be a finite number > 0, got 0.0"):
    _trees.check("max_norm", 0.0, low_open=True)
  with pytest.raises(ValueError, match=r"p must be a finite number in \(0, 1\)"):
    _trees.check("p", 1.0, low_open=True, high=1.0, high_open=True)
  _trees.check("max_norm", 1e-30, low_open=True)
  _trees.check("logit", -1e30, low=-math.inf)
  for bad in (math.inf, -math.inf, math.nan):  # a finite number, whatever the bounds
    with pytest.raises(ValueError, match=r"^logit must be a finite number, got"):
      _trees.check("logit", bad, low=-math.inf)


@pytest.mark.parametrize("value", ["big", None, True, np.bool_(False), jnp.array(True), 1j, jnp.array([1j]),
                                   {"a": 1.0, "b": "x"}, {"a": True}])
def test_check_rejects_non_numbers_naming_argument(value):
  with pytest.raises(ValueError, match=r"^alpha(\['\w'\])? must be a (real )?number"):
    _trees.check("alpha", value)


def test_check_scalar_refuses_arrays_also_traced():
  _trees.check("rate", 0.5, scalar=True)
  _trees.check("rate", {"a": jnp.array(0.5)}, scalar=True)
  with pytest.raises(ValueError, match=r"^rate must be a scalar, got an array of shape \(3,\)"):
    _trees.check("rate", jnp.full(3, 0.5), scalar=True)
  with pytest.raises(ValueError, match=r"^rate\['a'\] must be a scalar"):
    _trees.check("rate", {"a": np.ones(2)}, scalar=True)
  with pytest.raises(ValueError, match=r"^rate must be a scalar"):
    jax.jit(lambda r: _trees.check("rate", r, scalar=True))(jnp.ones(3))
  with pytest.raises(ValueError, match=r"^rate must be a real number, got a traced value of dtype bool"):
    jax.jit(lambda r: _trees.check("rate", r))(jnp.array(True))


def test_check_int_and_check_ints():
  assert _trees.check_int("n", 3) == 3 and _trees.check_int("n", np.int64(3)) == 3
  assert _trees.check_int("n", None, allow_none=True) is None
  assert _trees.check_int("axis", -2, low=-5) == -2
  for bad in (0, 2.0, 1.5, True, "3", None, jnp.ones(2, jnp.int32)):
    with pytest.raises(ValueError, match=r"^n must be an integer"):
      _trees.check_int("n", bad)
  assert _trees.check_ints("dims", [1, -1]) == (1, -1)
  for bad in (1, "ab", (1, 2.0), (True,), None):
    with pytest.raises(ValueError, match=r"^dims(\[\d\])? must be"):
      _trees.check_ints("dims", bad)


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


def test_expand_single_value_matching_pytree_and_prefix():
  params = _params()
  assert _trees.expand("alpha", 0.5, params) == [0.5, 0.5, 0.5]
  per_leaf = {"kernel": 1.0, "bias": 2.0, "frozen": 3.0}
  assert _trees.expand("alpha", per_leaf, params) == [2.0, 3.0, 1.0]   # sorted-key order
  nested = {"enc": {"w": jnp.ones(2), "b": jnp.ones(1)}, "dec": [jnp.ones(3), None]}
  # a prefix (optax's rule for masks): one value for every leaf below a node
  assert _trees.expand("alpha", {"enc": 1.0, "dec": 2.0}, nested) == [2.0, 2.0, 1.0, 1.0]
  assert _trees.expand("alpha", {"enc": {"w": 1.0, "b": 3.0}, "dec": 2.0}, nested) == [2.0, 2.0, 3.0, 1.0]
  # a MaskedNode subtree has no leaves: the value above it is unused
  masked = {"enc": optax.MaskedNode(), "dec": [jnp.ones(3), None]}
  assert _trees.expand("alpha", {"enc": 1.0, "dec": 2.0}, masked) == [2.0, 2.0]


@pytest.mark.parametrize("bad", [
    {"kernel": 1.0, "bias": 2.0},                                # missing leaf
    {"kernel": 1.0, "bias": 2.0, "frozen": 3.0, "extra": 4.0},   # extra leaf
    [1.0, 2.0, 3.0],                                             # same number of leaves, other container
    {"kernel": 1.0, "bias": {"x": 2.0}, "frozen": 3.0},          # nested deeper
])
def test_expand_mismatched_pytree_raises_naming_argument(bad):
  with pytest.raises(ValueError, match=r"^alpha is a pytree whose structure .* does not match the structure of params"):
    _trees.expand("alpha", bad, _params())


def test_resolve_mask_bool_pytree_prefix_callable_and_none():
  params = _params()
  order = [k for k in sorted(params)]  # dict leaves are flattened in sorted-key order
  assert order == ["bias", "frozen", "kernel"]
  assert _trees.resolve_mask(None, params) == [True, True, True]
  mask = {"kernel": True, "bias": False, "frozen": True}
  assert _trees.resolve_mask(mask, params) == [False, True, True]
  assert _trees.resolve_mask(lambda p: mask, params) == [False, True, True]
  # a None mask leaf means "not regularized"
  assert _trees.resolve_mask({"kernel": True, "bias": True, "frozen": None}, params) == [True, False, True]
  # a prefix, as in optax.masked: a single bool for the whole tree, or one per subtree
  assert _trees.resolve_mask(True, params) == [True, True, True]
  assert _trees.resolve_mask(False, params) == [False, False, False]
  nested = {"enc": {"w": jnp.ones(2), "b": jnp.ones(1)}, "dec": jnp.ones(3)}
  assert _trees.resolve_mask({"enc": True, "dec": False}, nested) == [False, True, True]
  assert _trees.resolve_mask({"enc": None, "dec": np.bool_(True)}, nested) == [True, False, False]
  assert _trees.resolve_mask(jnp.array(True), nested) == [True, True, True]


@pytest.mark.parametrize("bad", [
    {"kernel": True, "bias": False},                  # missing leaf
    {"kernel": True},                                 # not a prefix: keys differ
    [True, False, True],                              # same number of leaves, other container
    lambda p: {"kernel": True, "bias": False},        # a callable returning a mismatched tree
])
def test_resolve_mask_mismatch_raises_naming_mask(bad):
  with pytest.raises(ValueError, match=r"^mask has structure .* which does not match the structure of params"):
    _trees.resolve_mask(bad, _params())


@pytest.mark.parametrize("bad, match", [
    ({"kernel": 1, "bias": True, "frozen": True}, r"mask\['kernel'\] must be a bool"),
    ({"kernel": jnp.array([True, False]), "bias": True, "frozen": True}, r"mask\['kernel'\] must be a bool"),
    ("kernel", r"^mask must be a bool"),
    (lambda p: None, r"mask function .* returned None"),
])
def test_resolve_mask_refuses_non_bool_values(bad, match):
  with pytest.raises(ValueError, match=match):
    _trees.resolve_mask(bad, _params())


def test_resolve_mask_refuses_traced_values():
  with pytest.raises(ValueError, match=r"traced value; a mask must be concrete"):
    jax.jit(lambda m: _trees.resolve_mask(m, {"a": jnp.ones(2)}))(jnp.array(True))


def test_a_callable_pytree_is_a_mask_not_a_function():
  # optax issue #913: an equinox-like Module (a pytree with __call__) is a mask pytree.
  @jax.tree_util.register_dataclass
  @dataclasses.dataclass
  class Module:
    w: object

    def __call__(self, x):
      raise AssertionError("a pytree mask must not be called")

  assert callable(Module(True)) and not _trees.is_mask_fn(Module(True))
  assert _trees.is_mask_fn(lambda p: p) and _trees.is_mask_fn(jaxreg.masks.weights_only)
  assert _trees.resolve_mask(Module(False), Module(jnp.ones(3))) == [False]
  assert _trees.resolve_mask(Module(True), Module(jnp.ones(3))) == [True]


# ----------------------------------------------------------------------------- params and hyperparameter shapes


@pytest.mark.parametrize("params, path, dtype", [
    (jnp.array([1, 2]), "params", "int32"),
    ({"a": jnp.ones(2), "b": jnp.array([True])}, "'b'", "bool"),
    ({"a": [3]}, "'a/0'", "int32"),
    ([jnp.ones(2, jnp.complex64)], "'0'", "complex64"),
    ({"a": True}, "'a'", "bool"),
])
def test_non_float_params_leaves_are_refused_naming_path_and_dtype(params, path, dtype):
  with pytest.raises(ValueError, match=rf"^params( leaf {path})? has dtype {dtype}"):
    _trees.tree_map(lambda w: w, params, {})


def test_python_floats_and_lists_are_float_leaves_and_masked_out_leaves_are_not_checked():
  out = _trees.tree_map(lambda w, s: w * s, [1.5, {"a": -2.0}], {"s": 2.0})
  chex.assert_trees_all_equal(out, [jnp.asarray(3.0), {"a": jnp.asarray(-4.0)}])
  out = _trees.tree_map(lambda w: w * 2, {"w": jnp.ones(2), "step": 3}, {}, mask={"w": True, "step": False})
  assert out["step"] == 3   # an int leaf that is masked out passes through untouched


@pytest.mark.parametrize("value, where", [
    (jnp.ones((2, 2)), "'bias' of shape (2,)"),         # would turn the (2,) bias into (2, 2)
    (jnp.ones(3), "'bias' of shape (2,)"),              # does not broadcast to the bias
    ({"kernel": jnp.ones((1, 3, 2)), "bias": 1.0, "frozen": 1.0}, "'kernel' of shape (3, 2)"),  # adds a dim
    ({"kernel": 1.0, "bias": jnp.ones((2, 1)), "frozen": 1.0}, "'bias'"),
])
def test_hyperparameter_that_would_change_a_leaf_shape_is_refused(value, where):
  with pytest.raises(ValueError, match=rf"^alpha has shape .* which does not broadcast to params leaf {re.escape(where)}"):
    _trees.tree_map(lambda w, alpha: w * alpha, _params(), {"alpha": value})
  with pytest.raises(ValueError, match=r"^alpha has shape"):   # the check is static: it holds for tracers
    jax.jit(lambda a: _trees.tree_sum(lambda w, alpha: jnp.sum(w * alpha), _params(), {"alpha": a}))(value)


def test_hyperparameters_that_broadcast_to_each_leaf_are_accepted():
  out = _trees.tree_map(lambda w, alpha: w * alpha, _params(), {"alpha": jnp.array([1.0, 2.0])})
  chex.assert_trees_all_equal(out["kernel"], jnp.tile(jnp.array([1.0, 2.0]), (3, 1)))
  # group shapes: one value per group
  with pytest.raises(ValueError, match=r"one value per group: \(1, 2\)"):
    _trees.tree_map(lambda w, alpha: w, {"k": jnp.ones((3, 2))}, {"alpha": jnp.ones((3, 1))},
                    hparam_shape=lambda s: _leaf.group_shape(s, -1))


def test_updates_must_be_float_and_shaped_like_params():
  params = {"a": jnp.ones(2)}
  with pytest.raises(ValueError, match=r"^updates leaf 'a' has dtype int32"):
    _trees.tree_map(lambda w, u: u, params, {}, updates={"a": jnp.ones(2, jnp.int32)})
  with pytest.raises(ValueError, match=r"^updates leaf 'a' has shape \(1,\), but the params leaf has shape \(2,\)"):
    _trees.tree_map(lambda w, u: u, params, {}, updates={"a": jnp.ones(1)})


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
  out = _trees.tree_map(lambda w, u, s: u + s * w, params, {"s": 1.0}, mask={"a": False, "b": True}, updates=updates)
  chex.assert_trees_all_equal(out, {"a": jnp.full((2,), 5.0), "b": jnp.full((2,), 8.0)})


def test_tree_map_mismatched_updates_raises_naming_updates():
  params = {"a": jnp.ones(2), "b": jnp.ones(2)}
  with pytest.raises(ValueError, match="^updates has structure"):
    _trees.tree_map(lambda w, u: u, params, {}, updates={"a": jnp.ones(2)})


def test_tree_sum_per_leaf_values_and_all_masked():
  params = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([3.0]), "c": None}
  total = _trees.tree_sum(lambda w, s: s * jnp.sum(w), params, {"s": {"a": 1.0, "b": 10.0, "c": 0.0}})
  assert float(total) == 1.0 + 2.0 + 30.0
  zero = _trees.tree_sum(lambda w: jnp.sum(w), params, {}, mask={"a": False, "b": False, "c": False})
  assert zero.dtype == jnp.float32 and float(zero) == 0.0
