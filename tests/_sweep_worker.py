"""Subprocess helper for tests/test_sweep.py (XLA flags, jax.distributed and SIGKILL need fresh processes).

Usage: python tests/_sweep_worker.py MODE ARGS...
  devices OUT                 8 forced host devices: sweep over all of them, save values to OUT (.npz)
  distributed PORT PID OUT    one of two localhost processes under jax.distributed; save values to OUT
  kill CKPT                   sweep with checkpoints; after the first chunk is saved print SAVED and hang
  share CKPT OUT              print READY, run the static sweep (functions as static values) with checkpoints in
                              CKPT (shared with the test's own process), print its FINGERPRINT, save values to OUT
"""

import os
import sys

if __name__ == "__main__" and sys.argv[1] == "devices":
  os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

GRID = {"alpha": [0.0, 0.01, 0.1, 1.0, 3.0], "lr": [0.05, 0.2]}
SEEDS = 3
BIG = np.linspace(0.0, 1.0, 2000, dtype=np.float32)   # closed over by adam_steps: a constant of its program
soft = lambda x: jnp.tanh(x)   # a lambda as a static value: its repr holds a memory address
STATIC = {"act": [jax.nn.relu, soft], "opt": [optax.adam]}


def ridge_gd(hp, key):
  """20 gradient steps on ridge regression with data drawn from ``key``: uses both hparams and the key."""
  kx, kw, kn = jax.random.split(key, 3)
  x = jax.random.normal(kx, (16, 3))
  y = x @ jax.random.normal(kw, (3,)) + 0.1 * jax.random.normal(kn, (16,))

  def step(_, w):
    return w - hp["lr"] * (x.T @ (x @ w - y) / 16 + hp["alpha"] * w)

  w = jax.lax.fori_loop(0, 20, step, jnp.zeros(3))
  return {"loss": jnp.mean((x @ w - y) ** 2), "w": w}


def run(**kw):
  from jaxreg import sweep
  return sweep(ridge_gd, GRID, key=jax.random.key(7), seeds=SEEDS, progress=False, **kw)


def adam_steps(hp, key):
  """3 steps of ``hp["opt"]`` (an optax factory) on a loss through ``hp["act"]`` (a function): static callables."""
  w0 = jax.random.normal(key, (3,))
  scale = jnp.mean(jnp.asarray(BIG))
  loss = lambda w: jnp.sum(hp["act"](scale * w - 0.2) ** 2) + 0.5 * hp["alpha"] * jnp.sum(w ** 2)
  opt = hp["opt"](0.1)

  def step(carry, _):
    w, s = carry
    u, s = opt.update(jax.grad(loss)(w), s, w)
    return (optax.apply_updates(w, u), s), None

  (w, _), _ = jax.lax.scan(step, (w0, opt.init(w0)), None, length=3)
  return {"loss": loss(w)}


def run_static(**kw):
  from jaxreg import sweep
  return sweep(adam_steps, {"alpha": [0.0, 0.5]}, key=jax.random.key(3), seeds=2, static=STATIC, progress=False, **kw)


def capture_fingerprints():
  """Records the fingerprint of every checkpoint directory jaxreg.sweep opens (into the returned list)."""
  import importlib

  checkpoints_module = importlib.import_module("jaxreg._sweep._checkpoints")
  init, seen = checkpoints_module._Checkpoints.__init__, []

  def recording_init(self, *args, **kwargs):
    init(self, *args, **kwargs)
    seen.append(self.fingerprint)

  checkpoints_module._Checkpoints.__init__ = recording_init
  return seen


def save(path, result, **extra):
  np.savez(path, loss=result.values["loss"], w=result.values["w"], **extra)


def main(mode, *args):
  if mode == "devices":
    assert len(jax.devices()) == 8, jax.devices()
    save(args[0], run(chunk_size=7), n_devices=len(jax.devices()))
  elif mode == "distributed":
    port, pid, out = args
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=int(pid))
    assert jax.process_count() == 2 and len(jax.devices()) == 2, jax.devices()
    ckpt = f"{out}.ckpt"
    first = run(chunk_size=3, checkpoint_dir=ckpt)
    if pid == "1":   # this process lost one chunk: every process must recompute it together
      os.remove(os.path.join(ckpt, sorted(f for f in os.listdir(ckpt) if f.startswith("chunk-"))[0]))
    second = run(chunk_size=3, checkpoint_dir=ckpt)
    for a, b in zip(jax.tree_util.tree_leaves(first.values), jax.tree_util.tree_leaves(second.values)):
      np.testing.assert_array_equal(a, b)
    save(out, first, n_devices=len(jax.devices()))
  elif mode == "kill":
    import importlib
    import time

    checkpoints_module = importlib.import_module("jaxreg._sweep._checkpoints")
    save_chunk = checkpoints_module._Checkpoints.save

    def save_then_hang(self, name, leaves):
      save_chunk(self, name, leaves)
      print("SAVED", name, flush=True)
      time.sleep(120)   # the test SIGKILLs us here, with the other chunks unfinished

    checkpoints_module._Checkpoints.save = save_then_hang
    run(chunk_size=4, checkpoint_dir=args[0])
  elif mode == "share":
    import _sweep_worker as me  # this file under its module name, as the test process imports it

    seen = me.capture_fingerprints()
    print("READY", flush=True)
    result = me.run_static(chunk_size=1, checkpoint_dir=args[0])
    print("FINGERPRINT", seen[0], flush=True)
    np.savez(args[1], loss=result.values["loss"])
  else:
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
  main(*sys.argv[1:])
