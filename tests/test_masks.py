"""jaxreg.masks: weights_only and by_path on dicts, lists, NamedTuples and flax nnx state."""

import re
import warnings
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

import jaxreg
from jaxreg import masks


class Layer(NamedTuple):
  kernel: jax.Array
  bias: jax.Array


PARAMS = {
    "encoder": {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}, "norm": {"scale": jnp.ones(2)}},
    "conv": jnp.ones((3, 3, 1, 4)),
    "temperature": jnp.ones(()),
    "layers": [Layer(jnp.ones((2, 2)), jnp.zeros(2)), Layer(jnp.ones((2, 1)), jnp.zeros(1))],
    "frozen": None,
}


def test_weights_only_marks_leaves_with_ndim_at_least_2():
  got = masks.weights_only(PARAMS)
  expected = {
      "encoder": {"dense": {"kernel": True, "bias": False}, "norm": {"scale": False}},
      "conv": True,
      "temperature": False,
      "layers": [Layer(True, False), Layer(True, False)],
      "frozen": False,
  }
  assert got == expected


def test_weights_only_docstring_example():
  assert masks.weights_only({"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}) == {"bias": False, "kernel": True}


def test_path_str_joins_keys_attributes_and_indices():
  paths = [masks.path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(PARAMS)[0]]
  assert sorted(paths) == sorted([
      "conv", "encoder/dense/bias", "encoder/dense/kernel", "encoder/norm/scale", "layers/0/kernel",
      "layers/0/bias", "layers/1/kernel", "layers/1/bias", "temperature"])


@pytest.mark.parametrize("pattern, selected", [
    ("kernel", {"encoder/dense/kernel", "layers/0/kernel", "layers/1/kernel"}),
    (r"^encoder/", {"encoder/dense/kernel", "encoder/dense/bias", "encoder/norm/scale"}),
    (r"^layers/1/", {"layers/1/kernel", "layers/1/bias"}),
    (r"(kernel|conv)$", {"encoder/dense/kernel", "layers/0/kernel", "layers/1/kernel", "conv"}),
    (r"nothing-matches", set()),
])
def test_by_path_selects_by_regex_search(pattern, selected):
  if selected:
    with warnings.catch_warnings():
      warnings.simplefilter("error")   # a pattern that matches does not warn
      got = masks.by_path(pattern)(PARAMS)
  else:
    with pytest.warns(UserWarning, match="matches no leaf"):
      got = masks.by_path(pattern)(PARAMS)
  flat = {masks.path_str(p): m for p, m in jax.tree_util.tree_flatten_with_path(got, is_leaf=lambda x: x is None)[0]}
  assert {k for k, v in flat.items() if v} == selected
  assert got["frozen"] is False   # None leaves are never selected
  assert jax.tree.structure(got) == jax.tree.structure(masks.weights_only(PARAMS))


def test_by_path_docstring_example():
  w, b = jnp.ones((2, 2)), jnp.ones(2)
  assert masks.by_path("kernel")({"dense": {"kernel": w, "bias": b}}) == {"dense": {"bias": False, "kernel": True}}


@pytest.mark.parametrize("bad", ["(unclosed", "*", 3])
def test_by_path_bad_pattern_raises_naming_it(bad):
  with pytest.raises(ValueError, match=r"^by_path: pattern must be a valid regular expression, got"):
    masks.by_path(bad)


def test_masks_on_flax_nnx_state():
  model = nnx.Sequential(nnx.Linear(3, 4, rngs=nnx.Rngs(0)), nnx.relu, nnx.Linear(4, 2, rngs=nnx.Rngs(1)))
  state = nnx.state(model, nnx.Param)
  for mask in (masks.weights_only(state), masks.by_path("kernel")(state)):
    # nnx variables may add a trailing "/value" to the path, depending on the flax version
    flat = {re.sub(r"/value$", "", masks.path_str(p)): m for p, m in jax.tree_util.tree_flatten_with_path(mask)[0]}
    assert flat == {"layers/0/kernel": True, "layers/0/bias": False, "layers/2/kernel": True, "layers/2/bias": False}
  # ... and in a penalty: only the kernels count.
  kernels = [model.layers[0].kernel[...], model.layers[2].kernel[...]]
  expected = 0.5 * sum(jnp.sum(k**2) for k in kernels)
  chex.assert_trees_all_close(jaxreg.l2_penalty(state, 1.0, mask=masks.weights_only), expected, rtol=1e-6)


def test_callable_masks_work_under_jit_with_an_optax_chain():
  params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
  tx = optax.chain(jaxreg.add_l2(0.5, mask=masks.by_path("kernel")), optax.sgd(1.0))

  @jax.jit
  def step(p, s):
    u, s = tx.update(jax.tree.map(jnp.zeros_like, p), s, p)
    return optax.apply_updates(p, u), s

  p, _ = step(params, tx.init(params))
  # kernel: w − 1·(0 + 0.5·w) = 0.5; bias untouched.
  chex.assert_trees_all_close(p, {"kernel": jnp.full((2, 2), 0.5), "bias": jnp.ones(2)})


def test_by_path_matching_nothing_warns_naming_pattern_and_some_paths():
  # A typo would otherwise regularize nothing, silently.
  params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}, "frozen": None}
  with pytest.warns(UserWarning, match=r"by_path\('kernl'\) matches no leaf.*'dense/bias', 'dense/kernel'"):
    penalty = jaxreg.l2_penalty(params, 1.0, mask=masks.by_path("kernl"))
  assert float(penalty) == 0.0
  many = {f"layer{i}": jnp.ones(2) for i in range(8)}
  with pytest.warns(UserWarning, match=r"'layer0', .*'layer4', \.\.\.\.$"):
    masks.by_path("kernel")(many)
  with warnings.catch_warnings():
    warnings.simplefilter("error")   # nothing to match in an empty tree (or one with only None leaves): no warning
    masks.by_path("kernel")({})
    masks.by_path("kernel")({"a": None})
