"""Benchmark: jaxreg.dropout vs flax nnx.Dropout vs hand-written bernoulli + where, per PRNG implementation.

Workload: inverted dropout at rate 0.5 on a ``(4096, 4096)`` float32 array,
every row a ``jax.jit``-compiled ``f(key, x)`` (compiled before timing), timed
with ``block_until_ready``; rows are interleaved round-robin and each row's
median (and interquartile range) over ``--repeats`` calls (default 21) is
reported, with its ratio to the hand-written row.

Rows:

* hand-written: ``jnp.where(jax.random.bernoulli(key, 1 - rate, x.shape), x / (1 - rate), 0)``.
* ``jaxreg.dropout``, rate a Python float (constant-folded) and rate traced
  (an argument of the compiled function, as in a vmapped sweep).
* ``flax.nnx.Dropout(rate)(x, rngs=key)`` (rate must be a Python float there).
* random bits only: ``jax.random.bits(key, x.shape)`` — the PRNG cost alone.
* no RNG: ``x / (1 - rate)`` — one read and one write of the array, the memory floor.

Each PRNG implementation (``jax_default_prng_impl`` = ``threefry2x32``, the
default; ``rbg``; ``unsafe_rbg``) runs in its own subprocess, since the
setting must be made before the first key is created.

Run: ``python -m experiments.bench_dropout`` (about 2-3 minutes on an idle 2-core CPU);
``--impl NAME`` runs one implementation in this process; ``--json`` prints raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")
SHAPE = (4096, 4096)
RATE = 0.5
ROWS = ("hand-written bernoulli + where", "jaxreg.dropout (Python-float rate)", "jaxreg.dropout (traced rate)",
        "flax nnx.Dropout", "random bits only (jax.random.bits)", "no RNG: x / (1 - rate)")


def run_one(impl: str, repeats: int) -> dict:
  """Times every row with ``impl`` as the default PRNG; returns {row: [seconds, ...]}."""
  import jax

  jax.config.update("jax_default_prng_impl", impl)
  import jax.numpy as jnp
  from flax import nnx

  import jaxreg

  def hand(key, x):
    return jnp.where(jax.random.bernoulli(key, 1 - RATE, x.shape), x / (1 - RATE), 0)

  fns = {
      ROWS[0]: (jax.jit(hand), ()),
      ROWS[1]: (jax.jit(lambda key, x: jaxreg.dropout(key, x, RATE)), ()),
      ROWS[2]: (jax.jit(lambda key, x, r: jaxreg.dropout(key, x, r)), (jnp.float32(RATE),)),
      ROWS[3]: (jax.jit(lambda key, x: nnx.Dropout(RATE)(x, rngs=key)), ()),
      ROWS[4]: (jax.jit(lambda key, x: jax.random.bits(key, x.shape)), ()),
      ROWS[5]: (jax.jit(lambda key, x: x / (1 - RATE)), ()),
  }
  key = jax.random.key(0)
  x = jax.random.normal(jax.random.key(1), SHAPE, jnp.float32)
  for fn, extra in fns.values():  # compile and warm up
    jax.block_until_ready(fn(key, x, *extra))
  times = {row: [] for row in fns}
  for _ in range(repeats):
    for row, (fn, extra) in fns.items():
      t0 = time.perf_counter()
      jax.block_until_ready(fn(key, x, *extra))
      times[row].append(time.perf_counter() - t0)
  return {"impl": impl, "times": times, "device": str(jax.devices()[0]), "jax": jax.__version__}


def _median_iqr(ts):
  q = statistics.quantiles(ts, n=4)
  return statistics.median(ts), q[2] - q[0]


def table(results: list[dict]) -> str:
  lines = []
  head = "| row | " + " | ".join(f"{r['impl']}: median ms (IQR) | ratio" for r in results) + " |"
  lines += [head, "|" + "---|" * (1 + 2 * len(results))]
  base = {r["impl"]: _median_iqr(r["times"][ROWS[0]])[0] for r in results}
  for row in ROWS:
    cells = []
    for r in results:
      med, iqr = _median_iqr(r["times"][row])
      cells += [f"{1e3 * med:.1f} ({1e3 * iqr:.1f})", f"{med / base[r['impl']]:.2f}"]
    lines.append(f"| {row} | " + " | ".join(cells) + " |")
  lines.append("")
  ref = _median_iqr(results[0]["times"][ROWS[1]])[0]
  lines.append("jaxreg.dropout (Python-float rate) relative to the " + results[0]["impl"] + " default: "
               + ", ".join(f"{r['impl']} {_median_iqr(r['times'][ROWS[1]])[0] / ref:.2f}x" for r in results))
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--impl", choices=IMPLS, help="run one PRNG implementation in this process")
  parser.add_argument("--repeats", type=int, default=21)
  parser.add_argument("--json", action="store_true", help="print raw timings as JSON")
  args = parser.parse_args()
  if args.impl:
    result = run_one(args.impl, args.repeats)
    print(json.dumps(result) if args.json else table([result]))
    return
  results = []
  for impl in IMPLS:
    out = subprocess.run([sys.executable, "-m", "experiments.bench_dropout", "--impl", impl, "--json",
                          "--repeats", str(args.repeats)], check=True, capture_output=True, text=True,
                         env={**os.environ})
    results.append(json.loads(out.stdout.strip().splitlines()[-1]))
  if args.json:
    print(json.dumps(results))
    return
  print(f"dropout rate {RATE} on {SHAPE} float32, jitted, median of {args.repeats} calls per row "
        f"(rows interleaved); device {results[0]['device']}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, jax {results[0]['jax']}.\n")
  print(table(results))


if __name__ == "__main__":
  main()
