"""The tiny staged problem of tests/test_search.py, and its subprocess modes (SIGKILL and forced devices).

Usage: python tests/_search_worker.py MODE ARGS...
  kill CKPT      successive halving with checkpoints in CKPT; once rung 1 is saved print SAVED and hang
  devices OUT    halving and PBT on 2 forced host devices; save their results to OUT (.npz)
"""

import os
import sys

if __name__ == "__main__" and sys.argv[1] == "devices":
  os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxreg  # noqa: E402

N, D, BATCH = 32, 3, 8
_kx, _kw = jax.random.split(jax.random.key(123))
X = np.asarray(jax.random.normal(_kx, (N, D)))
Y = np.asarray(X @ jax.random.normal(_kw, (D,)) + 0.3 * jax.random.normal(jax.random.key(5), (N,)))
CONFIGS = {"alpha": np.array([0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 0.001, 0.05, 10.0], np.float32),
           "lr": np.array([0.05, 0.1, 0.02, 0.1, 0.05, 0.2, 0.1, 0.01, 0.3, 0.05], np.float32)}
KEY = jax.random.key(7)


def optimizer(h):
  return optax.chain(jaxreg.add_l2(h["alpha"]), optax.sgd(h["lr"]))


def init(h, key):
  w = 0.5 * jax.random.normal(jax.random.split(key)[0], (D,))
  return {"w": w, "opt": optimizer(h).init(w)}


def train(state, h, key, steps):
  """``steps`` minibatch SGD steps on least squares + L2; minibatch ``t`` drawn from ``fold_in(key, t)``."""
  opt = optimizer(h)

  def step(t, s):
    idx = jax.random.randint(jax.random.fold_in(key, t), (BATCH,), 0, N)
    g = jax.grad(lambda w: jnp.mean((jnp.asarray(X)[idx] @ w - jnp.asarray(Y)[idx]) ** 2) / 2)(s["w"])
    u, o = opt.update(g, s["opt"], s["w"])
    return {"w": optax.apply_updates(s["w"], u), "opt": o}

  return jax.lax.fori_loop(0, steps, step, state)


def evaluate(state, h):
  r = jnp.asarray(X) @ state["w"] - jnp.asarray(Y)
  return {"loss": jnp.mean(r ** 2), "norm": jnp.sqrt(jnp.sum(state["w"] ** 2))}


def halving(**kw):
  args = dict(key=KEY, seeds=3, eta=3, min_steps=3, max_steps=27, metric="loss")
  return jaxreg.successive_halving(init, train, evaluate, CONFIGS, **{**args, **kw})


def population(n=8):
  return {"alpha": np.geomspace(1e-3, 1.0, n).astype(np.float32), "lr": np.geomspace(0.01, 0.3, n)[::-1].copy()}


def run_pbt(**kw):
  args = dict(key=KEY, steps=40, interval=5, metric="loss", quantile=0.25)
  return jaxreg.pbt(init, train, evaluate, population(), **{**args, **kw})


if __name__ == "__main__":
  mode = sys.argv[1]
  if mode == "kill":
    from jaxreg._sweep import _halving
    compiled = _halving._Runner.compiled

    def hang_at_rung_2(self, i, n):
      if i == 2:
        print("SAVED", flush=True)
        import time
        time.sleep(600)
      return compiled(self, i, n)

    _halving._Runner.compiled = hang_at_rung_2
    halving(checkpoint_dir=sys.argv[2])
  elif mode == "devices":
    assert len(jax.devices()) == 2
    h, p = halving(), run_pbt()
    np.savez(sys.argv[2], **{f"rung{i}_loss": r.metrics["loss"] for i, r in enumerate(h.rungs)},
             **{f"rung{i}_index": r.index for i, r in enumerate(h.rungs)},
             pbt_parents=p.parents, pbt_lr=p.hparams["lr"], pbt_loss=p.metrics["loss"])
