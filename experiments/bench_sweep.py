"""Benchmark: a 64-alpha sweep as one compiled program vs. the ways people write it by hand.

Workload (every row the same): scikit-learn's digits (1500 train images, 64
features scaled to [0, 1]), an MLP 64-32-10 (ReLU, He-normal init), softmax
cross-entropy, coupled L2 then Adam(1e-3) (``optax.chain(jaxreg.add_l2(alpha),
optax.adam(1e-3))`` built from the traced alpha; in PyTorch ``grad += alpha·w``
then ``torch.optim.Adam``), batch 32, ``--steps`` steps (default 2000), 64
alphas log-spaced in [1e-5, 1e-1]. Every run returns its final full-train loss.

Rows (wall time of a fresh run, including compilation; median of repeats):

* ``jaxreg.sweep``: ``jaxreg.sweep(fn, {"alpha": alphas}, key=key)``.
* hand-written ``jit(vmap(train))``: alphas vmapped, key shared.
* loop of compiled single runs: ``jit(train)`` compiled once (alpha traced),
  called 64 times.
* loop with Python-float alpha baked into optax: a new program per alpha, as
  users write it (optax #577/#353); a few are timed and the total extrapolated.
* ``torch.func`` ensemble (``stack_module_state`` + ``functional_call`` +
  ``vmap(grad)``, Adam on the stacked parameters) and a plain PyTorch loop
  (a few models timed, extrapolated), when ``torch`` is installed.

Peak memory: peak RSS (``VmHWM``) of a fresh process running a 1024-config
sweep with ``chunk_size=64`` vs. one running the 64-config sweep (and, for
contrast, the 1024 configs in one call), and XLA's own count of one call's
temporary buffers. Memory does not depend on the number of steps (the run is a
``lax.scan``), so these rows use ``--memory-steps`` (200) to stay quick.

PyTorch runs with ``torch.set_num_threads(1)`` by default (``--torch-threads``):
on a busy 2-core machine its default two OpenMP threads spin against each other
and made ``torch.func`` 24× slower; one thread is torch's best case here.

Run: ``python -m experiments.bench_sweep`` (about 2 minutes on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg

# --------------------------------------------------------------------------- workload
# (The lead may dedupe this against experiments/_common.py; it is kept here so the
# benchmark's workload is fixed and identical for the JAX and PyTorch rows.)

HIDDEN, BATCH, LR = 32, 32, 1e-3


@functools.cache
def digits():
  """1500 training images of scikit-learn's digits, features in [0, 1]."""
  from sklearn.datasets import load_digits
  x, y = load_digits(return_X_y=True)
  return (x[:1500] / 16.0).astype(np.float32), y[:1500].astype(np.int32)


def batch_indices(steps: int, seed: int = 0) -> np.ndarray:
  """``(steps, BATCH)`` minibatch indices (for the PyTorch rows; JAX draws them from its key)."""
  return np.random.default_rng(seed).integers(0, len(digits()[0]), size=(steps, BATCH))


def init_mlp(key):
  k1, k2 = jax.random.split(key)
  return {"w1": jax.random.normal(k1, (64, HIDDEN)) * math.sqrt(2 / 64), "b1": jnp.zeros(HIDDEN),
          "w2": jax.random.normal(k2, (HIDDEN, 10)) * math.sqrt(2 / HIDDEN), "b2": jnp.zeros(10)}


def loss_fn(p, x, y):
  logits = jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def make_train(steps: int):
  """``train(alpha, key) -> final train loss``; alpha may be a tracer or a Python float."""
  x_np, y_np = digits()
  x, y = jnp.asarray(x_np), jnp.asarray(y_np)

  def train(alpha, key):
    k_init, k_data = jax.random.split(key)
    params = init_mlp(k_init)
    opt = optax.chain(jaxreg.add_l2(alpha), optax.adam(LR))

    def step(carry, k):
      p, s = carry
      idx = jax.random.randint(k, (BATCH,), 0, x.shape[0])
      g = jax.grad(loss_fn)(p, x[idx], y[idx])
      u, s = opt.update(g, s, p)
      return (optax.apply_updates(p, u), s), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(k_data, steps))
    return loss_fn(params, x, y)

  return train


# --------------------------------------------------------------------------- JAX rows
# Each ``setup_*`` builds the row's functions and returns ``run() -> 64 losses``; a second
# ``run()`` reuses what the first one compiled (when the row compiles anything once).

KEY = jax.random.key(0)


def setup_sweep(alphas, steps, chunk_size=None):
  train = make_train(steps)
  fn = lambda hp, key: train(hp["alpha"], key)
  return lambda: jaxreg.sweep(fn, {"alpha": alphas}, key=KEY, chunk_size=chunk_size, progress=False).values[:, 0]


def setup_hand_vmap(alphas, steps):
  f = jax.jit(jax.vmap(make_train(steps), in_axes=(0, None)))
  a, key = jnp.asarray(alphas, jnp.float32), jax.random.fold_in(KEY, 0)
  return lambda: np.asarray(f(a, key))


def setup_compiled_loop(alphas, steps):
  f = jax.jit(make_train(steps))
  key = jax.random.fold_in(KEY, 0)
  return lambda: np.array([f(jnp.float32(a), key) for a in alphas])


def setup_recompile_loop(alphas, steps):
  train = make_train(steps)
  key = jax.random.fold_in(KEY, 0)
  return lambda: np.array([jax.jit(functools.partial(train, float(a)))(key) for a in alphas])


# --------------------------------------------------------------------------- PyTorch rows


def _torch_mlp(torch):
  m = torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10))
  for layer in (m[0], m[2]):
    torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    torch.nn.init.zeros_(layer.bias)
  return m


def setup_torch_func(alphas, steps):
  return lambda: torch_func_ensemble(alphas, steps)


def setup_torch_loop(alphas, steps):
  return lambda: torch_loop(alphas, steps)


def torch_func_ensemble(alphas, steps):
  import torch
  from torch.func import functional_call, grad, stack_module_state, vmap
  torch.manual_seed(0)
  x, y = (torch.from_numpy(a) for a in digits())
  y = y.long()
  models = [_torch_mlp(torch) for _ in alphas]
  params, buffers = stack_module_state(models)
  base = _torch_mlp(torch).to("meta")

  def loss(p, b, xb, yb):
    return torch.nn.functional.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

  grads_fn = vmap(grad(loss), in_dims=(0, 0, None, None))   # per-member grads, shared minibatch
  alpha = torch.tensor(np.asarray(alphas), dtype=torch.float32)
  opt = torch.optim.Adam(params.values(), lr=LR)   # elementwise, so one Adam over the stack = 64 Adams
  for idx in torch.from_numpy(batch_indices(steps)):
    g = grads_fn(params, buffers, x[idx], y[idx])
    with torch.no_grad():
      for k, p in params.items():
        p.grad = g[k] + alpha.view(-1, *[1] * (p.ndim - 1)) * p
    opt.step()
  with torch.no_grad():
    return np.asarray(vmap(loss, in_dims=(0, 0, None, None))(params, buffers, x, y))


def torch_loop(alphas, steps):
  import torch
  x, y = (torch.from_numpy(a) for a in digits())
  y = y.long()
  idxs = torch.from_numpy(batch_indices(steps))
  out = []
  for a in alphas:
    torch.manual_seed(0)
    model = _torch_mlp(torch)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    for idx in idxs:
      opt.zero_grad()
      torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
      with torch.no_grad():
        for p in model.parameters():
          p.grad += float(a) * p
      opt.step()
    with torch.no_grad():
      out.append(float(torch.nn.functional.cross_entropy(model(x), y)))
  return np.array(out)


# --------------------------------------------------------------------------- measurement


def timed(setup, *args, steady=True):
  """``(fresh, steady, out)``: setup + first run with cleared JAX caches, then a second run."""
  jax.clear_caches()   # a fresh run compiles, as a new sweep would
  t = time.perf_counter()
  run = setup(*args)
  out = run()
  fresh = time.perf_counter() - t
  if not steady:
    return fresh, None, out
  t = time.perf_counter()
  out = run()
  return fresh, time.perf_counter() - t, out


def peak_rss_mb(n_configs: int, chunk_size: int | None, steps: int, **env) -> float:
  """Peak resident memory (MiB) of a fresh process that runs one sweep."""
  cmd = [sys.executable, "-m", "experiments.bench_sweep", "--memory-child", str(n_configs),
         str(chunk_size or 0), "--steps", str(steps)]
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=root, env={**os.environ, **env}).stdout
  return float(out.strip().splitlines()[-1])


def _own_peak_mb() -> float:
  # VmHWM is this process's own high-water mark. ru_maxrss is not: after fork + exec on Linux it
  # starts from the parent's peak (here: the benchmark process with torch loaded).
  try:
    with open("/proc/self/status") as f:
      return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
  except (OSError, StopIteration):
    scale = 1 if sys.platform == "darwin" else 1024   # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def memory_child(n_configs: int, chunk_size: int, steps: int):
  alphas = np.logspace(-5, -1, n_configs)
  losses = setup_sweep(alphas, steps, chunk_size=chunk_size or None)()
  assert losses.shape == (n_configs,)
  print(_own_peak_mb())


def xla_temp_mb(n_configs: int, steps: int) -> float:
  """XLA's temporary buffers for one compiled call over ``n_configs`` lanes (its working set)."""
  f = jax.jit(jax.vmap(make_train(steps), in_axes=(0, None)))
  analysis = f.lower(jnp.zeros(n_configs), KEY).compile().memory_analysis()
  return float("nan") if analysis is None else analysis.temp_size_in_bytes / 2**20


def machine() -> str:
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  dev = jax.devices()[0]
  return (f"{cpu}, {os.cpu_count()} cores; jax {jax.__version__} on {dev.platform} "
          f"({getattr(dev, 'device_kind', '')}), optax {optax.__version__}, Python {platform.python_version()}")


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m experiments.bench_sweep", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=2000)
  parser.add_argument("--configs", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=3, help="repeats of the fast rows (median reported)")
  parser.add_argument("--sampled", type=int, default=4, help="configs timed for the extrapolated rows")
  parser.add_argument("--no-torch", action="store_true")
  parser.add_argument("--torch-threads", type=int, default=1,
                      help="torch.set_num_threads (default 1: with 2 threads on a busy 2-core machine torch.func "
                           "ran 24x slower, spinning; 0 keeps torch's default)")
  parser.add_argument("--no-memory", action="store_true")
  parser.add_argument("--memory-steps", type=int, default=200, help="steps per run in the memory rows")
  parser.add_argument("--memory-child", nargs=2, type=int, metavar=("N", "CHUNK"), help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.memory_child:
    return memory_child(*args.memory_child, args.steps)

  alphas = np.logspace(-5, -1, args.configs)
  n, k = args.configs, min(args.sampled, args.configs)
  try:
    import torch
    has_torch = not args.no_torch
    if args.torch_threads:
      torch.set_num_threads(args.torch_threads)
  except ImportError:
    torch, has_torch = None, False
  jax.jit(lambda v: v + 1)(1.0).block_until_ready()   # backend start-up, outside every row

  # name -> (setup, alphas it runs, factor to n configs, repeats, has a separate compiled 2nd run)
  rows = {
      "jaxreg.sweep": (setup_sweep, alphas, 1, args.repeats, True),
      "hand-written jit(vmap(train))": (setup_hand_vmap, alphas, 1, args.repeats, True),
      "loop of compiled single runs (alpha traced, 1 compile)": (setup_compiled_loop, alphas, 1, args.repeats, True),
      f"loop, Python-float alpha in optax (recompiles; {k} timed, ×{n / k:g})":
          (setup_recompile_loop, alphas[:k], n / k, 1, False),
  }
  if has_torch:
    rows["torch.func ensemble (vmap + functional_call)"] = (setup_torch_func, alphas, 1, max(1, args.repeats - 1), False)
    rows[f"plain PyTorch loop ({k} timed, ×{n / k:g})"] = (setup_torch_loop, alphas[:k], n / k, 1, False)

  fresh, steady, outputs = {name: [] for name in rows}, {name: [] for name in rows}, {}
  names = list(rows)
  for r in range(args.repeats):   # interleaved and rotated, so drifting load and order hit every row alike
    for name in names[r % len(names):] + names[: r % len(names)]:
      setup, a, factor, reps, has_steady = rows[name]
      if len(fresh[name]) < reps:
        t_fresh, t_steady, out = timed(setup, a, args.steps, steady=has_steady)
        fresh[name].append(t_fresh * factor)
        steady[name].append((t_steady if has_steady else t_fresh) * factor)
        outputs[name] = np.asarray(out)

  # Same workload check: the JAX rows agree with each other (up to vmap/float reassociation).
  ref = outputs["jaxreg.sweep"]
  for name in list(rows)[1:4]:
    m = len(outputs[name])
    np.testing.assert_allclose(outputs[name], ref[:m], rtol=2e-3, atol=1e-4, err_msg=name)

  med = {name: statistics.median(t) for name, t in fresh.items()}
  med2 = {name: statistics.median(t) for name, t in steady.items()}
  base, base2 = med["jaxreg.sweep"], med2["jaxreg.sweep"]
  print(f"\n### jaxreg.sweep benchmark: digits MLP 64-{HIDDEN}-10, Adam, batch {BATCH}, {args.steps} steps, "
        f"{n} alphas\n\nMachine: {machine()}"
        + (f"; torch {torch.__version__} ({torch.get_num_threads()} threads)" if has_torch else "") + "\n")
  print("| method | fresh (s) | ÷ sweep | compiled (s) | ÷ sweep | repeats |")
  print("|---|---|---|---|---|---|")
  for name in rows:
    second = f"{med2[name]:.2f} | {med2[name] / base2:.2f}×" if rows[name][4] else f"= | {med2[name] / base2:.2f}×"
    print(f"| {name} | {med[name]:.2f} | {med[name] / base:.2f}× | {second} | {len(fresh[name])} |")
  print("\nfresh: wall time of a new run including compilation (JAX caches cleared); compiled: the same "
        "functions run again (= where every run costs the same: no compilation, or a recompilation per config). "
        "Medians of repeats; rows marked ×N time a few configs and scale linearly.")

  def check(label, value, target, ok):
    return f"{label} = {value:.2f} (target {target}: {'met' if ok else 'NOT met'})"

  hv, hv2 = med["hand-written jit(vmap(train))"], med2["hand-written jit(vmap(train))"]
  lp, lp2 = (m["loop of compiled single runs (alpha traced, 1 compile)"] for m in (med, med2))
  lines = [check("sweep ÷ hand-written vmap, fresh", base / hv, "≤ 1.10", base / hv <= 1.10),
           check("sweep ÷ hand-written vmap, compiled", base2 / hv2, "≤ 1.10", base2 / hv2 <= 1.10),
           check("compiled loop ÷ sweep, fresh", lp / base, "≥ 1.3", lp / base >= 1.3),
           check("compiled loop ÷ sweep, compiled", lp2 / base2, "≥ 1.3", lp2 / base2 >= 1.3)]
  if has_torch:
    tf = med["torch.func ensemble (vmap + functional_call)"]
    lines.append(check("torch.func ÷ sweep (fresh, compile included)", tf / base, "≥ 4", tf / base >= 4))
  print("\nTargets:\n" + "\n".join(f"- {line}" for line in lines))

  if not args.no_memory:
    steps, big = args.memory_steps, 16 * n
    rss = {"small": peak_rss_mb(n, None, steps), "chunked": peak_rss_mb(big, n, steps),
           "whole": peak_rss_mb(big, None, steps)}
    temp_small, temp_big = xla_temp_mb(n, steps), xla_temp_mb(big, steps)
    ratio = rss["chunked"] / rss["small"]
    print(f"\n#### Peak memory ({steps} steps per run; memory does not grow with steps)\n\n"
          "| sweep | peak RSS (MiB) | ÷ | XLA temp buffers per call (MiB) |\n|---|---|---|---|\n"
          f"| {n} configs, one call | {rss['small']:.0f} | 1.00 | {temp_small:.1f} |\n"
          f"| {big} configs, chunk_size={n} | {rss['chunked']:.0f} | {ratio:.2f} | {temp_small:.1f} |\n"
          f"| {big} configs, one call (contrast) | {rss['whole']:.0f} | {rss['whole'] / rss['small']:.2f} | "
          f"{temp_big:.1f} |\n\n"
          "Peak RSS: VmHWM of a fresh process per row. XLA temp buffers: `compiled.memory_analysis()` of one "
          "call's program (the chunked sweep runs the 64-lane program 16 times).\n\n"
          f"Target chunked ÷ {n}-config peak ≤ 1.25: {ratio:.2f} ({'met' if ratio <= 1.25 else 'NOT met'}).")

if __name__ == "__main__":
  main()
