"""Benchmark: a 64-alpha sweep as one compiled program vs. the ways people write it by hand.

Workload (every row the same): scikit-learn's digits (1500 train images, 64
standardized features: ``_common.digits(1500)``), an MLP 64-32-10 (ReLU,
He-normal init: ``_common.init_mlp``), softmax cross-entropy, coupled L2 then
Adam(1e-3) (``optax.chain(jaxreg.add_l2(alpha), optax.adam(1e-3))`` built from
the traced alpha; in PyTorch ``grad += alpha·w`` then ``torch.optim.Adam``),
batch 32 (a fresh permutation of the training set every epoch), ``--steps``
steps (default 2000), 64 alphas log-spaced in [1e-5, 1e-1]. The JAX rows run
the experiments' own training loop, ``_common.train``; every run returns its
final full-train loss.

Rows (wall time of a fresh run, including compilation, after clearing JAX's caches and
``jaxreg.sweep``'s in-memory program cache; and of a second run of the same functions; median of
repeats):

* ``jaxreg.sweep``: ``jaxreg.sweep(fn, {"alpha": alphas}, key=key)``.
* hand-written ``jit(vmap(train))``: alphas vmapped, key shared.
* loop of compiled single runs: ``jit(train)`` compiled once (alpha traced),
  called 64 times.
* loop with Python-float alpha baked into optax: a new program per alpha, as
  users write it (optax #577/#353); a few are timed and the total extrapolated.
* ``torch.func`` ensemble (``stack_module_state`` + ``functional_call`` +
  ``vmap(grad)``, Adam on the stacked parameters) and a plain PyTorch loop
  (a few models timed, extrapolated), when ``torch`` is installed.

Every CPU core: the ``jaxreg.sweep`` row again, in two fresh processes (the
number of CPU devices is fixed when JAX starts): one with JAX's default single
CPU device, one after ``jaxreg.use_cpu_devices(2)`` (the sweep shards its
configurations over both), same workload and same timing (fresh and compiled,
medians of ``--repeats`` runs, the two processes alternating); the results must
agree. ``--no-devices`` skips it.

Peak memory: peak RSS (``VmHWM``) of a fresh process running a 1024-config
sweep with ``chunk_size=64`` vs. one running the 64-config sweep (and, for
contrast, the 1024 configs in one call), and XLA's own count of one call's
temporary buffers. Memory does not depend on the number of steps (the run is a
``lax.scan``), so these rows use ``--memory-steps`` (200) to stay quick.

PyTorch runs with ``torch.set_num_threads(1)`` by default (``--torch-threads``):
on a busy 2-core machine its default two OpenMP threads spin against each other
and made ``torch.func`` 24× slower; one thread is torch's best case here.

Run: ``python -m experiments.bench_sweep`` (about 4 minutes on an idle 2-core CPU).
Writes the record ``bench_sweep.json`` (machine, versions, every row's medians
and ratios, the memory rows, the targets) into ``--out``; ``python -m
experiments.report`` renders it into the README. ``--quick``: a smoke run for
the tests (4 alphas, 20 steps, one repeat, no PyTorch, no memory rows; seconds,
not a measurement).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg
from experiments import _common

# --------------------------------------------------------------------------- workload

NAME = "bench_sweep"
HIDDEN, BATCH, LR, N_TRAIN = 32, 32, 1e-3, 1500
QUICK = {"steps": 20, "configs": 4, "repeats": 1, "sampled": 1, "no_torch": True, "no_memory": True}


def data() -> _common.Data:
  """1500 training images of scikit-learn's digits, standardized (the rest is the unused test split)."""
  return _common.digits(N_TRAIN)


def batch_indices(steps: int, seed: int = 0) -> np.ndarray:
  """``(steps, BATCH)`` minibatch indices for the PyTorch rows: a fresh permutation every epoch, as in JAX."""
  n = N_TRAIN
  per_epoch = n // BATCH
  rng = np.random.default_rng(seed)
  epochs = [rng.permutation(n)[: per_epoch * BATCH].reshape(per_epoch, BATCH) for _ in range(-(-steps // per_epoch))]
  return np.concatenate(epochs)[:steps]


def _optimizer(h):
  return optax.chain(jaxreg.add_l2(h["alpha"]), optax.adam(LR))


def make_train(steps: int):
  """``train(alpha, key) -> final train loss``; alpha may be a tracer or a Python float."""
  d = data()

  def train(alpha, key):
    return _common.train({"alpha": alpha}, key, data=d, make_optimizer=_optimizer, steps=steps, batch_size=BATCH,
                         hidden=(HIDDEN,))["train_loss"]

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
  x, y = torch.from_numpy(data().x_train.copy()), torch.from_numpy(data().y_train.copy()).long()
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
  x, y = torch.from_numpy(data().x_train.copy()), torch.from_numpy(data().y_train.copy()).long()
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


def clear_caches():
  """Forgets every compiled program: JAX's caches and ``jaxreg.sweep``'s own (it keeps compiled programs keyed
  on what they compute, which ``jax.clear_caches`` does not reach)."""
  jax.clear_caches()
  cache = getattr(sys.modules.get(jaxreg.sweep.__module__), "_COMPILED", None)
  if cache is not None:
    cache.clear()


def timed(setup, *args, steady=True):
  """``(fresh, steady, out)``: setup + first run with every cache cleared, then a second run."""
  clear_caches()   # a fresh run compiles, as a new sweep would
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


def devices_run(n_devices: int, n_configs: int, steps: int) -> dict:
  """One fresh process with ``n_devices`` host CPU devices times the ``jaxreg.sweep`` row once (fresh, compiled)."""
  code = ("import sys, jaxreg; jaxreg.use_cpu_devices(int(sys.argv[1])); from experiments import bench_sweep; "
          "bench_sweep.devices_child(*map(int, sys.argv[2:]))")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
  env["JAX_PLATFORMS"] = "cpu"
  out = subprocess.run([sys.executable, "-c", code, str(n_devices), str(n_configs), str(steps)], capture_output=True,
                       text=True, check=True, cwd=root, env=env).stdout
  return json.loads(out.strip().splitlines()[-1])


def devices_child(n_configs: int, steps: int):
  """In a process whose device count is set: the sweep row's fresh and compiled times, its losses, the devices."""
  jax.jit(lambda v: v + 1)(1.0).block_until_ready()   # backend start-up, outside the timing (as in main)
  fresh, compiled, out = timed(setup_sweep, np.logspace(-5, -1, n_configs), steps)
  print(json.dumps({"devices": len(jax.devices()), "fresh_s": fresh, "compiled_s": compiled,
                    "losses": np.asarray(out, np.float64).tolist()}))


def devices_rows(n_devices: int, n_configs: int, steps: int, repeats: int) -> list[dict]:
  """The sweep row on 1 and on ``n_devices`` CPU devices (fresh processes, alternating), medians of ``repeats``."""
  runs: dict[int, list[dict]] = {1: [], n_devices: []}
  for r in range(repeats):
    for n in ((1, n_devices) if r % 2 == 0 else (n_devices, 1)):
      runs[n].append(devices_run(n, n_configs, steps))
  for n, rs in runs.items():
    assert all(x["devices"] == n for x in rs), (n, rs)
  np.testing.assert_allclose(runs[n_devices][0]["losses"], runs[1][0]["losses"], rtol=2e-3, atol=1e-4,
                             err_msg="the sweep on several CPU devices computes what it computes on one")
  med = {n: {k: _common.median([x[k] for x in rs]) for k in ("fresh_s", "compiled_s")} for n, rs in runs.items()}
  return [{"cpu_devices": n, "fresh_s": med[n]["fresh_s"], "fresh_speedup": med[1]["fresh_s"] / med[n]["fresh_s"],
           "compiled_s": med[n]["compiled_s"], "compiled_speedup": med[1]["compiled_s"] / med[n]["compiled_s"],
           "repeats": len(runs[n])} for n in runs]


def xla_temp_mb(n_configs: int, steps: int) -> float:
  """XLA's temporary buffers for one compiled call over ``n_configs`` lanes (its working set)."""
  f = jax.jit(jax.vmap(make_train(steps), in_axes=(0, None)))
  analysis = f.lower(jnp.zeros(n_configs), KEY).compile().memory_analysis()
  return float("nan") if analysis is None else analysis.temp_size_in_bytes / 2**20


def options(parser):
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
  parser.add_argument("--no-devices", action="store_true", help="skip the 1 vs 2 CPU devices rows")
  parser.add_argument("--cpu-devices", type=int, default=2, help="host CPU devices of the devices row (default 2)")


SWEEP, HAND = "jaxreg.sweep", "hand-written jit(vmap(train))"
LOOP = "loop of compiled single runs (alpha traced, 1 compile)"
TORCH_FUNC = "torch.func ensemble (vmap + functional_call)"


def main(argv=None):
  args = _common.apply_quick(_common.parse_args(argv, NAME, __doc__, options=options), QUICK)
  if args.memory_child:
    return memory_child(*args.memory_child, args.steps)
  rec = _common.Recorder(NAME, args)

  alphas = np.logspace(-5, -1, args.configs)
  n, k = args.configs, min(args.sampled, args.configs)
  torch = None
  if not args.no_torch:
    try:
      import torch
      if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    except ImportError:
      print(f"[{NAME}] torch is not installed: no PyTorch rows", file=sys.stderr)
  jax.jit(lambda v: v + 1)(1.0).block_until_ready()   # backend start-up, outside every row

  # name -> (setup, alphas it runs, factor to n configs, repeats, has a separate compiled 2nd run)
  rows = {
      SWEEP: (setup_sweep, alphas, 1, args.repeats, True),
      HAND: (setup_hand_vmap, alphas, 1, args.repeats, True),
      LOOP: (setup_compiled_loop, alphas, 1, args.repeats, True),
      f"loop, Python-float alpha in optax (recompiles; {k} timed, ×{n / k:g})":
          (setup_recompile_loop, alphas[:k], n / k, 1, False),
  }
  if torch is not None:
    rows[TORCH_FUNC] = (setup_torch_func, alphas, 1, max(1, args.repeats - 1), False)
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
  ref = outputs[SWEEP]
  for name in list(rows)[1:4]:
    m = len(outputs[name])
    np.testing.assert_allclose(outputs[name], ref[:m], rtol=2e-3, atol=1e-4, err_msg=name)

  med = {name: _common.median(t) for name, t in fresh.items()}
  med2 = {name: _common.median(t) for name, t in steady.items()}
  base, base2 = med[SWEEP], med2[SWEEP]
  timing = [{"method": name, "fresh_s": med[name], "fresh_over_sweep": med[name] / base,
             "compiled_s": med2[name] if rows[name][4] else None, "compiled_over_sweep": med2[name] / base2,
             "repeats": len(fresh[name]), "extrapolated_x": rows[name][2] if rows[name][2] != 1 else None}
            for name in rows]
  title = (f"digits MLP 64-{HIDDEN}-10, Adam, batch {BATCH}, {args.steps} steps, {n} alphas: wall time (s) of a "
           "fresh run (compilation included, every cache cleared) and of the same functions run again (compiled)")
  tables = {"timing": _common.table(title, timing)}
  print(title + "\n\n" + timing_table(timing))

  hv, hv2 = med[HAND], med2[HAND]
  lp, lp2 = med[LOOP], med2[LOOP]
  targets = [{"target": "sweep ÷ hand-written vmap, fresh ≤ 1.10", "value": base / hv, "met": base / hv <= 1.10},
             {"target": "sweep ÷ hand-written vmap, compiled ≤ 1.10", "value": base2 / hv2, "met": base2 / hv2 <= 1.10},
             {"target": "compiled loop ÷ sweep, fresh ≥ 1.3", "value": lp / base, "met": lp / base >= 1.3},
             {"target": "compiled loop ÷ sweep, compiled ≥ 1.3", "value": lp2 / base2, "met": lp2 / base2 >= 1.3}]
  if torch is not None:
    tf = med[TORCH_FUNC]
    targets.append({"target": "torch.func ÷ sweep (fresh, compile included) ≥ 4", "value": tf / base,
                    "met": tf / base >= 4})

  if not args.no_devices:
    devices = devices_rows(args.cpu_devices, n, args.steps, args.repeats)
    tables["devices"] = _common.table(
        f"jaxreg.sweep on 1 vs {args.cpu_devices} host CPU devices (jaxreg.use_cpu_devices), fresh process each, "
        f"{n} alphas, {args.steps} steps: wall time (s) fresh and compiled, and speedup over 1 device", devices)
    print("\n" + devices_table(devices))

  if not args.no_memory:
    steps, big = args.memory_steps, 16 * n
    rss = {"small": peak_rss_mb(n, None, steps), "chunked": peak_rss_mb(big, n, steps),
           "whole": peak_rss_mb(big, None, steps)}
    temp_small, temp_big = xla_temp_mb(n, steps), xla_temp_mb(big, steps)
    memory = [{"sweep": f"{n} configs, one call", "peak_rss_mib": rss["small"], "over_small": 1.0,
               "xla_temp_mib": temp_small},
              {"sweep": f"{big} configs, chunk_size={n}", "peak_rss_mib": rss["chunked"],
               "over_small": rss["chunked"] / rss["small"], "xla_temp_mib": temp_small},
              {"sweep": f"{big} configs, one call (contrast)", "peak_rss_mib": rss["whole"],
               "over_small": rss["whole"] / rss["small"], "xla_temp_mib": temp_big}]
    tables["memory"] = _common.table(f"peak memory, fresh process per row, {steps} steps per run", memory)
    ratio = memory[1]["over_small"]
    targets.append({"target": f"chunked ÷ {n}-config peak RSS ≤ 1.25", "value": ratio, "met": ratio <= 1.25})
    print("\n" + memory_table(memory))
  print("\nTargets:\n" + "\n".join(f"- {t['target']}: {t['value']:.2f} ({'met' if t['met'] else 'NOT met'})"
                                   for t in targets))
  return _common.finish_benchmark(
      rec, settings={"steps": args.steps, "configs": n, "repeats": args.repeats, "sampled": k, "hidden": HIDDEN,
                     "batch": BATCH, "lr": LR, "n_train": N_TRAIN, "torch": torch is not None,
                     "torch_threads": torch.get_num_threads() if torch is not None else None,
                     "memory_steps": None if args.no_memory else args.memory_steps,
                     "cpu_devices": None if args.no_devices else args.cpu_devices},
      tables=tables, targets=targets,
      versions={"jaxreg": jaxreg.__version__, "torch": torch.__version__ if torch is not None else None},
      raw_times_s={"fresh": fresh, "compiled": steady})


def timing_table(rows) -> str:
  lines = ["| method | fresh (s) | ÷ sweep | compiled (s) | ÷ sweep |", "|---|---|---|---|---|"]
  for r in rows:
    name = {SWEEP: "`jaxreg.sweep`", HAND: "hand-written `jit(vmap(train))`"}.get(r["method"], r["method"])
    name = name.replace("torch.func", "`torch.func`")
    compiled = "=" if r["compiled_s"] is None else f"{r['compiled_s']:.2f}"
    lines.append(f"| {name} | {r['fresh_s']:.2f} | {r['fresh_over_sweep']:.2f}× | {compiled} | "
                 f"{r['compiled_over_sweep']:.2f}× |")
  return "\n".join(lines)


def devices_table(rows) -> str:
  lines = ["| `jaxreg.sweep`, fresh process | fresh (s) | speedup | compiled (s) | speedup |", "|---|---|---|---|---|"]
  for r in rows:
    how = "1 CPU device (JAX's default)" if r["cpu_devices"] == 1 else \
        f"{r['cpu_devices']} CPU devices (`jaxreg.use_cpu_devices({r['cpu_devices']})`)"
    lines.append(f"| {how} | {r['fresh_s']:.2f} | {r['fresh_speedup']:.2f}× | {r['compiled_s']:.2f} | "
                 f"{r['compiled_speedup']:.2f}× |")
  return "\n".join(lines)


def memory_table(rows) -> str:
  lines = ["| peak memory (fresh process per row) | peak RSS (MiB) | ÷ | XLA temp buffers per call (MiB) |",
           "|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['sweep'].replace('chunk_size=', '`chunk_size=')}{'`' if 'chunk_size' in r['sweep'] else ''}"
                 f" | {r['peak_rss_mib']:.0f} | {r['over_small']:.2f} | {r['xla_temp_mib']:.1f} |")
  return "\n".join(lines)


def readme(record: dict) -> str:
  """The README's block for this benchmark, from its record."""
  st = record["settings"]
  timing = {r["method"]: r for r in record["tables"]["timing"]["rows"]}
  torch = f"torch {record['versions'].get('torch')} with {st['torch_threads']} thread(s)" if st["torch"] else \
      "PyTorch not installed on this machine, so no PyTorch rows"
  lead = (f"**Sweeps** (`python -m experiments.bench_sweep`): digits MLP 64-{st['hidden']}-10, `add_l2(alpha)` "
          f"then Adam({st['lr']:g}), batch {st['batch']}, {st['steps']} steps, {st['configs']} alphas, "
          f"`_common.train`; {torch}. \"fresh\" includes compilation (JAX's and jaxreg.sweep's caches cleared); "
          "\"compiled\" reruns the same functions; rows marked ×N time a few configurations and scale linearly.")
  parts = [_common.wrap(lead), "", timing_table(record["tables"]["timing"]["rows"])]
  if "devices" in record["tables"]:
    parts += ["", devices_table(record["tables"]["devices"]["rows"])]
  if "memory" in record["tables"]:
    parts += ["", memory_table(record["tables"]["memory"]["rows"])]
  parts += ["", _common.bench_caption(record)]
  s, h, lp = timing[SWEEP], timing[HAND], timing[LOOP]
  notes = (f"The sweep costs {s['fresh_s'] / h['fresh_s']:.2f}× (fresh) and {s['compiled_s'] / h['compiled_s']:.2f}× "
           f"(compiled) the hand-written `jit(vmap)`, and a loop of compiled runs costs {lp['fresh_over_sweep']:.2f}× "
           f"(fresh) and {lp['compiled_over_sweep']:.2f}× (compiled) the sweep.")
  if TORCH_FUNC in timing:
    tf = timing[TORCH_FUNC]
    notes += (f" `torch.func` costs {tf['fresh_over_sweep']:.2f}× the sweep including the sweep's compilation and "
              f"{tf['compiled_over_sweep']:.2f}× once it is compiled.")
  if "devices" in record["tables"]:
    d = record["tables"]["devices"]["rows"][-1]
    load = max((record.get("load_average_1min") or {}).values(), default=0) or 0
    notes += (f" Sharded over {d['cpu_devices']} host CPU devices (`jaxreg.use_cpu_devices`), the same sweep runs "
              f"{d['compiled_speedup']:.2f}× (compiled) and {d['fresh_speedup']:.2f}× (fresh) as fast as on JAX's "
              "single default CPU device, for the same losses")
    cores = record.get("cpu_count") or 0
    notes += (f"; the load average reached {load:g} on {cores} cores during this run, so the devices competed with "
              "other processes for the cores (the speedup needs idle cores)." if cores and load >= cores else ".")
  if "memory" in record["tables"]:
    m = record["tables"]["memory"]["rows"]
    notes += (f" Chunking keeps memory flat: {m[1]['sweep'].split(' configs')[0]} configurations at "
              f"{m[1]['over_small']:.2f}× the peak of {m[0]['sweep'].split(' configs')[0]}.")
  met = [t for t in record["targets"] if not t["met"]]
  notes += (" Targets not met in this run: " + "; ".join(f"{t['target']} ({t['value']:.2f})" for t in met) + "."
            if met else " Every target was met in this run.")
  return "\n".join([*parts, "", _common.wrap(notes)])


if __name__ == "__main__":
  main()
