"""A flax nnx model with jaxreg.nn.Dropout in a sweep over a traced rate, against the same runs one by one.

The pattern (README, "flax nnx models in a sweep"): the dropout layer has no ``rngs`` of its own, ``nnx.split``
turns the model into a pure function of its parameters, and every step gets its key explicitly. Keeping an
``nnx.Rngs(dropout=k)`` inside the model and stepping with ``jax.grad``/``jax.lax.scan`` instead fails with
flax's ``TraceContextError: Cannot mutate RngCount from a different trace level`` (the stream's counter is
created outside the scan and incremented inside it).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg

nnx = pytest.importorskip("flax.nnx")
KEY = jax.random.key(5)
X = jax.random.normal(jax.random.key(1), (32, 4))
Y = jnp.sin(X.sum(1, keepdims=True))


class MLP(nnx.Module):
  def __init__(self, rate, *, rngs):
    self.l1, self.l2 = nnx.Linear(4, 8, rngs=rngs), nnx.Linear(8, 1, rngs=rngs)
    self.drop = jaxreg.nn.Dropout(rate)   # no rngs: the key comes with each call

  def __call__(self, x, key=None):
    return self.l2(self.drop(jax.nn.relu(self.l1(x)), rngs=key, deterministic=key is None))


def train(hp, key, steps=20):
  k_init, k_drop = jax.random.split(key)
  graphdef, params, rest = nnx.split(MLP(hp["rate"], rngs=nnx.Rngs(params=k_init)), nnx.Param, ...)
  loss = lambda p, k: jnp.mean((nnx.merge(graphdef, p, rest)(X, k) - Y) ** 2)
  opt = optax.adam(1e-2)

  def step(carry, k):
    p, s = carry
    u, s = opt.update(jax.grad(loss)(p, k), s, p)
    return (optax.apply_updates(p, u), s), loss(p, k)

  (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(k_drop, steps))
  return {"train_mse": loss(params, None), "first_noisy_loss": losses[0]}


@jax.jit
def no_dropout(key, steps=20):
  """Reference for rate 0: the same initial parameters trained by plain jnp code without a dropout layer."""
  k_init, _ = jax.random.split(key)
  p = nnx.state(MLP(0.0, rngs=nnx.Rngs(params=k_init)), nnx.Param)
  p = {name: (p[name]["kernel"][...], p[name]["bias"][...]) for name in ("l1", "l2")}
  loss = lambda p: jnp.mean((jax.nn.relu(X @ p["l1"][0] + p["l1"][1]) @ p["l2"][0] + p["l2"][1] - Y) ** 2)
  opt = optax.adam(1e-2)

  def step(carry, _):
    p, s = carry
    u, s = opt.update(jax.grad(loss)(p), s, p)
    return (optax.apply_updates(p, u), s), None

  (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), None, length=steps)
  return loss(p)


def test_nnx_dropout_rate_sweep_equals_runs_one_by_one():
  rates = [0.0, 0.2, 0.5]
  r = jaxreg.sweep(train, {"rate": rates}, key=KEY, seeds=2, progress=False)
  assert r.values["train_mse"].shape == (3, 2)
  for i, rate in enumerate(rates):
    for s in range(2):
      ref = jax.jit(train)({"rate": jnp.float32(rate)}, jax.random.fold_in(KEY, s))
      for name in ("train_mse", "first_noisy_loss"):
        np.testing.assert_allclose(r.values[name][i, s], ref[name], rtol=2e-5, atol=1e-6, err_msg=(name, rate, s))
  for s in range(2):   # rate 0 keeps every unit: the run without a dropout layer
    np.testing.assert_allclose(r.values["train_mse"][0, s], no_dropout(jax.random.fold_in(KEY, s)), rtol=2e-5)
  noisy = r.values["first_noisy_loss"][:, 0]   # the same parameters at step 0, so only the dropout noise differs
  assert noisy[0] != noisy[1] != noisy[2]
