"""jaxreg._leaf: the elementwise and group math on one array, against hand computation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxreg import _leaf


def test_accum_dtype():
  assert _leaf.accum_dtype(jnp.ones(2, jnp.bfloat16)) == jnp.float32
  assert _leaf.accum_dtype(jnp.ones(2, jnp.float16)) == jnp.float32
  assert _leaf.accum_dtype(jnp.ones(2, jnp.float32)) == jnp.float32


def test_group_norm_hand_values():
  w = jnp.array([[3.0, 0.0, 1.0], [4.0, 0.0, 1.0]])   # columns: norms 5, 0, sqrt(2)
  norms, size = _leaf.group_norm(w, -1)
  assert size == 2 and norms.shape == (1, 3)
  chex.assert_trees_all_close(norms, jnp.array([[5.0, 0.0, 2**0.5]]))
  norms0, size0 = _leaf.group_norm(w, 0)           # rows: sqrt(10), sqrt(17)
  assert size0 == 3
  chex.assert_trees_all_close(norms0, jnp.array([[10**0.5], [17**0.5]]))
  n1, s1 = _leaf.group_norm(jnp.array([-2.0, 3.0]), -1)   # 1-D: groups of size 1
  assert s1 == 1
  chex.assert_trees_all_close(n1, jnp.array([2.0, 3.0]))
  n0, s0 = _leaf.group_norm(jnp.array(-4.0), -1)
  assert s0 == 1 and float(n0) == 4.0
  w3 = jnp.ones((2, 3, 4))
  n3, s3 = _leaf.group_norm(w3, 1)                  # groups along axis 1: 2*4 = 8 weights each
  assert s3 == 8 and n3.shape == (1, 3, 1)
  chex.assert_trees_all_close(n3, jnp.full((1, 3, 1), 8**0.5))


def test_group_norm_gradient_at_zero_group_is_zero_not_nan():
  g = jax.grad(lambda w: jnp.sum(_leaf.group_norm(w, -1)[0]))(jnp.zeros((2, 2)))
  chex.assert_trees_all_equal(g, jnp.zeros((2, 2)))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_group_norm_neither_overflows_nor_underflows(dtype, scale):
  # Squaring 1e30 overflows float32 (and bf16, which has float32's range); squaring 1e-30 underflows to 0.
  w = jnp.asarray(np.array([[3.0, 0.0], [4.0, 0.0]]) * scale, dtype)
  norms, _ = _leaf.group_norm(w, -1)
  np.testing.assert_allclose(np.asarray(norms, np.float64), [[5.0 * scale, 0.0]], rtol=1e-2 if dtype == jnp.bfloat16 else 1e-6)
  g = jax.grad(lambda w: jnp.sum(_leaf.group_norm(w, -1)[0]))(w.astype(jnp.float32))
  chex.assert_trees_all_close(g, jnp.array([[0.6, 0.0], [0.8, 0.0]]), rtol=1e-2 if dtype == jnp.bfloat16 else 1e-6)
  inf_norm, _ = _leaf.group_norm(jnp.array([[jnp.inf, 1.0]]), 0)
  assert float(inf_norm[0, 0]) == np.inf


def test_group_axis_out_of_range_raises_for_matrices():
  with pytest.raises(ValueError, match=r"group_axis=2 is out of range for a leaf of shape \(2, 3\)"):
    _leaf.group_norm(jnp.ones((2, 3)), 2)
  norms, size = _leaf.group_norm(jnp.ones(3), 5)  # a bias: groups of size 1 whatever the axis
  assert size == 1 and norms.shape == (3,)
