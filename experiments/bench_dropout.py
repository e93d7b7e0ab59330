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
``--impl NAME`` runs one implementation in this process and prints its raw timings as JSON (what
the subprocesses run). Writes the record ``bench_dropout.json`` (machine, versions, every row's median,
IQR and ratio per implementation) into ``--out``; ``python -m experiments.report`` renders it into
the README. ``--quick``: a smoke run for the tests ((256, 256) array, 3 calls per row, each
implementation in this process under ``jax.default_prng_impl``; seconds, not a measurement).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

from experiments import _common

NAME = "bench_dropout"
IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")
SIZE = 4096   # the array is (SIZE, SIZE) float32
RATE = 0.5
ROWS = ("hand-written bernoulli + where", "jaxreg.dropout (Python-float rate)", "jaxreg.dropout (traced rate)",
        "flax nnx.Dropout", "random bits only (jax.random.bits)", "no RNG: x / (1 - rate)")
QUICK = {"size": 256, "repeats": 3, "in_process": True}


def run_one(impl: str, repeats: int, size: int = SIZE, *, in_process: bool = False) -> dict:
  """Times every row with ``impl`` as the default PRNG; returns {row: [seconds, ...]}.

  By default sets ``jax_default_prng_impl`` for the whole process (a fresh subprocess per
  implementation); ``in_process`` sets it only inside ``jax.default_prng_impl(impl)``.
  """
  import time

  import jax
  if not in_process:
    jax.config.update("jax_default_prng_impl", impl)
  import jax.numpy as jnp
  from flax import nnx

  import jaxreg

  def hand(key, x):
    return jnp.where(jax.random.bernoulli(key, 1 - RATE, x.shape), x / (1 - RATE), 0)

  with jax.default_prng_impl(impl) if in_process else contextlib.nullcontext():
    fns = {
        ROWS[0]: (jax.jit(hand), ()),
        ROWS[1]: (jax.jit(lambda key, x: jaxreg.dropout(key, x, RATE)), ()),
        ROWS[2]: (jax.jit(lambda key, x, r: jaxreg.dropout(key, x, r)), (jnp.float32(RATE),)),
        ROWS[3]: (jax.jit(lambda key, x: nnx.Dropout(RATE)(x, rngs=key)), ()),
        ROWS[4]: (jax.jit(lambda key, x: jax.random.bits(key, x.shape)), ()),
        ROWS[5]: (jax.jit(lambda key, x: x / (1 - RATE)), ()),
    }
    key = jax.random.key(0)
    x = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
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
  import statistics
  if len(ts) < 2:
    return ts[0], 0.0
  q = statistics.quantiles(ts, n=4)
  return statistics.median(ts), q[2] - q[0]


def rows_of(results: list[dict]) -> list[dict]:
  """One row per timed function: per implementation, the median ms, its IQR and the ratio to hand-written."""
  base = {r["impl"]: _median_iqr(r["times"][ROWS[0]])[0] for r in results}
  out = []
  for row in ROWS:
    entry = {"row": row}
    for r in results:
      med, iqr = _median_iqr(r["times"][row])
      entry.update({f"{r['impl']}_ms": 1e3 * med, f"{r['impl']}_iqr_ms": 1e3 * iqr,
                    f"{r['impl']}_ratio": med / base[r["impl"]]})
    out.append(entry)
  return out


def readme_table(rows: list[dict], impls) -> str:
  names = {"threefry2x32": "threefry (default)", "rbg": "`rbg`", "unsafe_rbg": "`unsafe_rbg`"}
  lines = ["| row | " + " | ".join(f"{names.get(i, i)} ms (IQR) | ratio" for i in impls) + " |",
           "|" + "---|" * (1 + 2 * len(impls))]
  for r in rows:
    cells = [f"{r[f'{i}_ms']:.1f} ({r[f'{i}_iqr_ms']:.1f}) | {r[f'{i}_ratio']:.2f}" for i in impls]
    lines.append(f"| {r['row']} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def options(parser):
  parser.add_argument("--impl", choices=IMPLS, help="run one PRNG implementation in this process, print raw JSON")
  parser.add_argument("--repeats", type=int, default=21)
  parser.add_argument("--size", type=int, default=SIZE, help=f"the array is (size, size) float32 (default {SIZE})")
  parser.add_argument("--in-process", action="store_true",
                      help="run every implementation in this process (jax.default_prng_impl) instead of one "
                           "subprocess each")


def main(argv=None):
  args = _common.apply_quick(_common.parse_args(argv, NAME, __doc__, options=options), QUICK)
  if args.impl:   # a subprocess of the full run
    print(json.dumps(run_one(args.impl, args.repeats, args.size)))
    return None
  rec = _common.Recorder(NAME, args)
  results = []
  for impl in IMPLS:
    if args.in_process:
      results.append(run_one(impl, args.repeats, args.size, in_process=True))
      continue
    out = subprocess.run([sys.executable, "-m", "experiments.bench_dropout", "--impl", impl, "--repeats",
                          str(args.repeats), "--size", str(args.size)], check=True, capture_output=True, text=True,
                         env={**os.environ}, cwd=str(_common.RESULTS.parents[1]))
    results.append(json.loads(out.stdout.strip().splitlines()[-1]))
  rows = rows_of(results)
  title = (f"dropout rate {RATE} on ({args.size}, {args.size}) float32, jitted, median (IQR) ms of {args.repeats} "
           f"calls per row (rows interleaved), ratio to the hand-written row, per PRNG implementation")
  print(title + "\n\n" + readme_table(rows, IMPLS))
  import flax
  jaxreg_row = {r["impl"]: _median_iqr(r["times"][ROWS[1]])[0] for r in results}
  return _common.finish_benchmark(
      rec, settings={"shape": [args.size, args.size], "rate": RATE, "repeats": args.repeats, "impls": list(IMPLS),
                     "subprocess_per_impl": not args.in_process},
      tables={"dropout": _common.table(title, rows)}, versions={"flax": flax.__version__},
      speedup_vs_threefry={i: jaxreg_row[IMPLS[0]] / jaxreg_row[i] for i in IMPLS},
      raw_times_ms={r["impl"]: {row: [1e3 * t for t in ts] for row, ts in r["times"].items()} for r in results})


def readme(record: dict) -> str:
  """The README's block for this benchmark, from its record."""
  st, rows = record["settings"], record["tables"]["dropout"]["rows"]
  impls = st["impls"]
  by = {r["row"]: r for r in rows}
  t0 = impls[0]
  lead = (f"**Dropout** (`python -m experiments.bench_dropout`): rate {st['rate']} on a ({st['shape'][0]}, "
          f"{st['shape'][1]}) float32 array, jitted, median (IQR) of {st['repeats']} calls per row, rows "
          f"interleaved; each PRNG implementation in its own "
          f"{'process' if st['subprocess_per_impl'] else 'context (one process)'}.")
  bits, floor = by[ROWS[4]][f"{t0}_ratio"], by[ROWS[5]][f"{t0}_ratio"]
  worst = max(by[r][f"{i}_ratio"] for r in ROWS[1:4] for i in impls)
  speed = record.get("speedup_vs_threefry", {})
  faster = " and ".join(f"`\"{i}\"` {speed[i]:.2f}×" for i in impls[1:] if i in speed)
  notes = (f"jaxreg.dropout and flax's `nnx.Dropout` cost at most {worst:.2f}× the hand-written "
           f"`bernoulli` + `where`. Generating the random bits dominates ({bits:.0%} of the hand-written row's time "
           f"with {t0}); without any RNG the same read and write of the array costs {floor:.2f}×. "
           f"`jax.config.update(\"jax_default_prng_impl\", …)` changes jaxreg.dropout's speed relative to {t0}: "
           f"{faster}; it changes the random streams, not their statistics.")
  return "\n".join([_common.wrap(lead), "", readme_table(rows, impls), "", _common.bench_caption(record), "",
                    _common.wrap(notes)])


if __name__ == "__main__":
  main()
