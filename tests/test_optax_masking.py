"""Masks behave as optax's do: optax's masking tests (optax/transforms/_masking_test.py) ported onto jaxreg.

Two directions are covered. A jaxreg transform *inside* ``optax.masked`` / ``optax.multi_transform`` receives
``optax.MaskedNode`` subtrees in params and updates, which must pass through untouched. And jaxreg's own
``mask=`` follows ``optax.masked``'s rules: a bool pytree shaped like params or a prefix of it, ``None`` leaves
(not regularized), a function ``params -> mask``, a callable *pytree* (an equinox-like Module, optax issue
#913) treated as a pytree, and mismatched structures raise. Every expected value is computed by hand from
the transform's formula (here ``add_l2``: ``u + alpha·w``, and ``decoupled_weight_decay``: ``u − wd·w``)
or from optax's own ``add_decayed_weights`` (the same update as ``add_l2``).
"""

import copy
import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg

ALPHA = 0.1


def _params():
  params = {"a": 1.0, "b": [2.0, 3.0], "c": {"d": 4.0, "e": (5.0, 6.0)}}
  return jax.tree.map(jnp.asarray, params)


def _decayed(mask, updates, params, alpha=ALPHA):
  """``u + alpha·w`` where the (full) mask is True, ``u`` elsewhere."""
  return jax.tree.map(lambda m, u, p: u + alpha * p if m else u, mask, updates, params)


MASK = {"a": True, "b": [False, True], "c": {"d": True, "e": (False, True)}}


# ----------------------------------------------------------------------------- jaxreg inside optax.masked


@pytest.mark.parametrize("use_fn", [False, True])
def test_jaxreg_transform_inside_optax_masked(use_fn):
  # optax's test_masked / test_update_requires_params, with add_l2 as the inner transform.
  params = _params()
  updates = jax.tree.map(lambda x: x / 10.0, params)
  tx = optax.masked(jaxreg.add_l2(ALPHA), (lambda _: MASK) if use_fn else MASK)
  state = jax.jit(tx.init)(params)
  got, state = jax.jit(tx.update)(updates, state, params)
  chex.assert_trees_all_close(got, _decayed(MASK, updates, params))
  # and equal to jaxreg's own mask= and to optax's add_decayed_weights in the same wrapper
  own = jaxreg.add_l2(ALPHA, mask=MASK)
  chex.assert_trees_all_close(own.update(updates, own.init(params), params)[0], got)
  ref = optax.masked(optax.add_decayed_weights(ALPHA), MASK)
  chex.assert_trees_all_close(ref.update(updates, ref.init(params), params)[0], got)
  # repeated application with new params
  params = optax.apply_updates(params, got)
  again, _ = jax.jit(tx.update)(got, state, params)
  chex.assert_trees_all_close(again, _decayed(MASK, got, params))


def test_inner_transform_needs_params_inside_masked_too():
  tx = optax.masked(jaxreg.add_l2(ALPHA), MASK)
  with pytest.raises(ValueError, match="needs the current parameters"):
    tx.update(_params(), tx.init(_params()))


MAKERS = {
    "add_l2": lambda **kw: jaxreg.add_l2(0.3, **kw),
    "add_l1": lambda **kw: jaxreg.add_l1(0.3, **kw),
    "add_elastic_net": lambda **kw: jaxreg.add_elastic_net(0.3, 0.5, **kw),
    "decoupled_weight_decay": lambda **kw: jaxreg.decoupled_weight_decay(0.3, **kw),
    "proximal_l1": lambda **kw: jaxreg.proximal_l1(0.3, 1.0, **kw),
    "proximal_elastic_net": lambda **kw: jaxreg.proximal_elastic_net(0.3, 0.5, 1.0, **kw),
    "proximal_group_lasso": lambda **kw: jaxreg.proximal_group_lasso(0.3, 1.0, **kw),
    "cumulative_l1": lambda **kw: jaxreg.cumulative_l1(0.3, 1.0, **kw),
    "max_norm": lambda **kw: jaxreg.max_norm(0.5, **kw),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_every_transform_inside_masked_leaves_masked_leaves_untouched(name):
  params = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "b": jnp.array([1.0, -1.0]), "s": jnp.array(2.0)}
  updates = jax.tree.map(lambda x: 0.1 * x, params)
  mask = {"w": True, "b": False, "s": False}
  masked = optax.masked(MAKERS[name](), mask)
  got, _ = masked.update(updates, masked.init(params), params)
  chex.assert_trees_all_equal(got["b"], updates["b"])   # passed through untouched, bit for bit
  chex.assert_trees_all_equal(got["s"], updates["s"])
  alone = MAKERS[name]()
  chex.assert_trees_all_close(got["w"], alone.update({"w": updates["w"]}, alone.init({"w": params["w"]}),
                                                     {"w": params["w"]})[0]["w"])
  own = MAKERS[name](mask=mask)   # jaxreg's own mask= gives the same result
  chex.assert_trees_all_close(own.update(updates, own.init(params), params)[0], got)


def test_jaxreg_transforms_in_multi_transform():
  params = {"w": jnp.array([[3.0, 0.1], [4.0, -0.1]]), "b": jnp.array([0.5, -2.0]), "scale": jnp.array([2.0])}
  labels = {"w": "prox", "b": "decay", "scale": "none"}
  tx = optax.multi_transform({"prox": optax.chain(optax.sgd(1.0), jaxreg.proximal_l1(0.2, 1.0)),
                              "decay": optax.chain(jaxreg.add_l2(0.5), optax.sgd(1.0)),
                              "none": optax.identity()}, labels)
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  z = params["w"] - 1.0
  chex.assert_trees_all_close(new["w"], jnp.sign(z) * jnp.maximum(jnp.abs(z) - 0.2, 0))
  chex.assert_trees_all_close(new["b"], params["b"] - (1.0 + 0.5 * params["b"]))
  chex.assert_trees_all_equal(updates["scale"], grads["scale"])


def test_masked_state_structure_with_a_stateful_jaxreg_transform():
  # optax's test_masked_state_structure: state exists only for the unmasked leaves.
  params = {"a": [jnp.ones(1), (jnp.ones(2), jnp.ones(3))], "b": {"c": jnp.ones(4), "d": jnp.ones(5)}}
  mask = {"a": [True, (True, False)], "b": False}
  state = jax.jit(optax.masked(jaxreg.cumulative_l1(0.1, 0.1), mask).init)(params).inner_state
  expected = {"a": [jnp.zeros(1), (jnp.zeros(2), optax.MaskedNode())], "b": optax.MaskedNode()}
  chex.assert_trees_all_equal_structs(state.applied, expected)
  chex.assert_trees_all_equal_structs(state.total, jax.tree.map(lambda x: jnp.zeros(()), expected))


@pytest.mark.parametrize("use_fn", [False, True])
def test_nested_masks_outer_optax_inner_jaxreg(use_fn):
  # optax's test_nested_mask (its issue #271): the inner (jaxreg) mask is shaped like the full params,
  # the outer optax mask hands the inner transform MaskedNode where it is False.
  params = {"linear_1": {"w": jnp.ones((1, 1)), "b": jnp.ones(1)},
            "linear_2": {"w": jnp.ones((1, 2)), "b": jnp.ones(2)},
            "linear_3": {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}}
  outer_mask = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
  inner_mask = jax.tree.map(lambda _: True, params)
  inner_mask["linear_2"] = False
  inner = jaxreg.decoupled_weight_decay(0.5, mask=(lambda _: inner_mask) if use_fn else inner_mask)
  tx = optax.masked(inner, outer_mask)
  updates = jax.tree.map(jnp.zeros_like, params)
  got, _ = jax.jit(tx.update)(updates, jax.jit(tx.init)(params), params)
  expected = copy.deepcopy(updates)
  expected["linear_1"]["w"] = -0.5 * params["linear_1"]["w"]
  expected["linear_3"]["w"] = -0.5 * params["linear_3"]["w"]
  chex.assert_trees_all_close(got, expected)


def test_masked_node_leaves_pass_through_every_function():
  # What optax.masked hands to an inner transform, given straight to penalties, prox and transforms.
  params = {"w": jnp.array([1.0, -2.0]), "frozen": optax.MaskedNode(), "sub": {"x": optax.MaskedNode()}}
  assert float(jaxreg.l2_penalty(params, 1.0)) == 2.5
  assert float(jaxreg.group_lasso_penalty(params, 1.0, mask=jaxreg.masks.weights_only)) == 0.0
  out = jaxreg.prox_l1(params, 0.5)
  assert out["frozen"] == optax.MaskedNode() and out["sub"]["x"] == optax.MaskedNode()
  chex.assert_trees_all_close(out["w"], jnp.array([0.5, -1.5]))
  # a per-leaf alpha shaped like the *unmasked* params: its value above a MaskedNode is simply unused
  full_alpha = {"w": 1.0, "frozen": 2.0, "sub": {"x": 3.0}}
  assert float(jaxreg.l1_penalty(params, full_alpha)) == 3.0
  tx = jaxreg.add_l2(full_alpha, mask={"w": True, "frozen": True, "sub": False})
  u, _ = tx.update(params, tx.init(params), params)
  assert u["frozen"] == optax.MaskedNode()
  chex.assert_trees_all_close(u["w"], 2 * params["w"])


# ----------------------------------------------------------------------------- jaxreg's own mask= like optax.masked


def test_prefix_mask_as_in_optax():
  # optax's test_prefix_mask: a mask value at a node applies to every leaf below it.
  mask = {"a": True, "b": False, "c": {"d": False, "e": True}}
  params = jax.tree.map(jnp.asarray, {"a": 1.0, "b": {"f": 2.0}, "c": {"d": 3.0, "e": ([4.0, 5.0], 6.0)}})
  updates = jax.tree.map(lambda x: x / 10.0, params)
  expected = jax.tree.map(lambda m, u, p: jax.tree.map(lambda u, p: u + ALPHA * p, u, p) if m else u,
                          mask, updates, params)
  for tx in (jaxreg.add_l2(ALPHA, mask=mask), optax.masked(jaxreg.add_l2(ALPHA), mask),
             optax.masked(optax.add_decayed_weights(ALPHA), mask)):
    got, _ = jax.jit(tx.update)(updates, jax.jit(tx.init)(params), params)
    chex.assert_trees_all_close(got, expected)
  # the penalty sees the same leaves: ½·α·(1 + 16 + 25 + 36)
  chex.assert_trees_all_close(jaxreg.l2_penalty(params, ALPHA, mask=mask), jnp.array(0.5 * ALPHA * 78.0))
  # a single bool is the shortest prefix
  chex.assert_trees_all_close(jaxreg.l2_penalty(params, ALPHA, mask=True), jaxreg.l2_penalty(params, ALPHA))


def test_mask_fn_as_in_optax():
  # optax's test_mask_fn.
  params = {"a": jnp.ones((1, 2)), "b": (jnp.ones((1,)), np.ones((1, 2, 3), np.float32))}
  mask_fn = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
  tx = jaxreg.add_l2(ALPHA, mask=mask_fn)
  grads = jax.tree.map(lambda x: x * 2, params)
  updates, _ = jax.jit(tx.update)(grads, jax.jit(tx.init)(params), params)
  np.testing.assert_allclose(updates["a"], grads["a"] + ALPHA * params["a"])
  np.testing.assert_allclose(updates["b"][0], grads["b"][0])
  np.testing.assert_allclose(updates["b"][1], grads["b"][1] + ALPHA * params["b"][1])


def test_mask_with_none_leaves_means_not_regularized():
  params = _params()
  mask = {"a": True, "b": None, "c": {"d": None, "e": (True, None)}}
  full = {"a": True, "b": [False, False], "c": {"d": False, "e": (True, False)}}
  updates = jax.tree.map(jnp.zeros_like, params)
  tx = jaxreg.add_l2(ALPHA, mask=mask)
  chex.assert_trees_all_close(tx.update(updates, tx.init(params), params)[0], _decayed(full, updates, params))
  # None params leaves pass through whatever the mask says
  p = {"w": jnp.ones(2), "frozen": None}
  assert jaxreg.prox_l1(p, 0.5, mask={"w": True, "frozen": True})["frozen"] is None


@pytest.mark.parametrize("extra_key_in_mask", [False, True])
@pytest.mark.parametrize("use_fn", [False, True])
def test_tree_mismatch_fails(extra_key_in_mask, use_fn):
  # optax's test_tree_mismatch_fails.
  mask = copy.deepcopy(MASK)
  params = jax.tree.map(jnp.asarray, {"a": 1.0, "b": [2.0, 3.0], "c": {"d": 4.0, "e": (5.0, 6.0)}})
  if extra_key_in_mask:
    mask["c"]["extra"] = True
  else:
    params["c"]["extra"] = jnp.asarray(7.0)
  tx = jaxreg.add_l2(ALPHA, mask=(lambda _: mask) if use_fn else mask)
  with pytest.raises(ValueError, match=r"^mask has structure"):
    tx.update(params, tx.init(params), params)
  with pytest.raises(ValueError, match=r"^mask has structure"):
    jaxreg.l2_penalty(params, 1.0, mask=mask)


@pytest.mark.parametrize("container", [list, tuple, dict])
def test_empty(container):
  # optax's test_empty, for jaxreg's transforms (on their own and inside optax.masked) and functions.
  for tx in (jaxreg.add_l2(ALPHA), jaxreg.cumulative_l1(ALPHA, 0.1), jaxreg.max_norm(1.0)):
    tx.update(container(), tx.init(container()), container())
    masked = optax.masked(tx, container())
    masked.update(container(), masked.init(container()), container())
  assert float(jaxreg.l2_penalty(container(), 1.0)) == 0.0
  assert jaxreg.prox_l1(container(), 1.0) == container()


def test_mask_compatible_callable_pytree():
  # optax's test_mask_compatible_callable_pytree (its issue #913): a pytree with __call__ (an equinox-like
  # Module) is a mask pytree, not a mask function, in optax.masked and in jaxreg's mask=.
  @dataclasses.dataclass
  class Module:
    w: object

    def __call__(self, x):
      return self.w.dot(x)

  jax.tree_util.register_pytree_node(Module, lambda m: ((m.w,), None), lambda _, c: Module(*c))
  module = Module(jnp.array([1.0, 2.0, 3.0]))
  assert callable(module)
  for mask, expected in ((Module(False), module.w), (Module(True), module.w + ALPHA * module.w)):
    for tx in (jaxreg.add_l2(ALPHA, mask=mask), optax.masked(jaxreg.add_l2(ALPHA), mask)):
      new, _ = tx.update(module, tx.init(module), module)
      assert isinstance(new, Module)
      chex.assert_trees_all_close(new.w, expected)
  assert float(jaxreg.l2_penalty(module, 1.0, mask=Module(False))) == 0.0


def test_tree_map_params_with_a_masked_jaxreg_transform():
  # optax's test_tree_map_params: optax.tree.map_params sees through a masked jaxreg transform.
  params = {"a": {"b": (jnp.zeros((1, 2)), jnp.zeros((2, 2)))}, "c": {"d": jnp.zeros((1, 2))}}
  mask = {"a": {"b": (True, False)}, "c": {"d": True}}
  for inner in (jaxreg.add_l2(ALPHA), jaxreg.cumulative_l1(ALPHA, 0.1)):
    masked = optax.masked(inner, mask)
    state = masked.init(params)
    result = optax.tree.map_params(masked, lambda v: v, state)
    chex.assert_trees_all_equal_structs(result, state)
