"""Runs every experiment and writes the results index ``README.md``.

``python -m experiments.all [--quick] [--out DIR] [--only a,b] [--index-only]``
runs, in order, each experiment of :data:`experiments._registry.EXPERIMENTS` that
exists (a missing one is skipped with a message; one that fails is reported and the others still run),
each in this process with the same ``--quick`` / ``--out``, then writes
``DIR/README.md``: one row per experiment — the claim, what was measured,
whether it held, the figure and the wall time — read from each ``NAME.json``
in ``DIR`` (so experiments run one by one are indexed too), and a section
listing the benchmark records ``bench_*.json`` found there. The exit status is
1 when an experiment raised; a claim that did not hold is a result, not an
error: it is reported (stderr and the index) and the status stays 0.
``python -m experiments.report`` rewrites the index too, with the README.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import traceback

import jaxreg
from experiments._registry import BENCHMARKS, EXPERIMENTS, load

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def _cell(text) -> str:
  return str(text).replace("|", "\\|").replace("\n", " ")


def write_index(out: pathlib.Path, names=EXPERIMENTS, errors: dict[str, str] | None = None,
                benchmarks=BENCHMARKS) -> pathlib.Path:
  """Writes ``out/README.md`` from the ``NAME.json`` files found in ``out``; returns its path."""
  errors = errors or {}
  records = {}
  for name in names:
    p = out / f"{name}.json"
    if p.exists():
      records[name] = json.loads(p.read_text())
  quick = any(r.get("quick") for r in records.values())
  lines = ["# Experiment results", "",
           "Each row is one script, `python -m experiments.NAME`, and the claim it checks; the JSON next to each "
           "figure holds the versions, seeds, machine and timings. Regenerate everything with "
           "`python -m experiments.all` (add `--quick` for a smoke run).", ""]
  if quick:
    lines += ["**These are quick (smoke-test) runs: too small to show most claims.**", ""]
  lines += ["| experiment | claim | measured | held | figure | wall / CPU time |", "|---|---|---|---|---|---|"]
  for name in names:
    if name in errors:
      lines.append(f"| `{name}` | — | failed: {_cell(errors[name])} | **error** | — | — |")
      continue
    r = records.get(name)
    if r is None:
      continue
    fig = r.get("files", {}).get("png")
    held = "yes" if r.get("held") else "**no**"
    mark = " (quick)" if r.get("quick") else ""
    cpu = r.get("cpu_time_s")
    lines.append(f"| `{name}`{mark} | {_cell(r.get('claim', ''))} | {_cell(r.get('measured', ''))} | {held} | "
                 f"{f'[{fig}]({fig})' if fig else '—'} | {r.get('wall_time_s', float('nan')):.0f} s"
                 f"{f' / {cpu:.0f} s' if cpu is not None else ''} |")
  figures = [(n, records[n]) for n in names if n in records and records[n].get("files", {}).get("png")]
  if figures:
    lines += ["", "## Figures", ""]
    for name, r in figures:
      caption = r.get("figure_caption") or r.get("claim", "")
      lines += [f"### {name}", "", f"![{name}]({r['files']['png']})", "", _cell(caption), ""]
  any_r = next(iter(records.values()), None)
  if any_r is not None:
    commit = any_r.get("git_commit")
    lines += ["", f"Machine: {any_r.get('cpu')} ({any_r.get('cpu_count')} CPUs), device {any_r.get('device')}; "
                  f"jaxreg {any_r.get('jaxreg_version')}, jax {any_r.get('jax_version')}, "
                  f"optax {any_r.get('optax_version')}, Python {any_r.get('python_version')}"
                  f"{f', commit {commit}' if commit else ''}. Wall time depends on what else runs on the "
                  "machine; CPU time (all threads) on how much work the run was."]
  benches = {n: json.loads((out / f"{n}.json").read_text()) for n in benchmarks if (out / f"{n}.json").exists()}
  if benches:
    lines += ["", "## Benchmarks", "",
              "Records of `python -m experiments.bench_*`; `python -m experiments.report` renders them into the "
              "README's performance section.", "",
              "| benchmark | mode | command | machine | load average (start → end) | wall time | commit |",
              "|---|---|---|---|---|---|---|"]
    for name, r in benches.items():
      load_avg = r.get("load_average_1min") or {}
      lines.append(f"| [`{name}`]({name}.json) | {r.get('mode')} | `{_cell(r.get('command', ''))}` | "
                   f"{_cell(r.get('machine', ''))} | {load_avg.get('start')} → {load_avg.get('end')} | "
                   f"{r.get('wall_time_s', float('nan')):.0f} s | {r.get('git_commit')} |")
  p = out / "README.md"
  p.write_text("\n".join(lines) + "\n")
  return p


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m experiments.all", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="small runs (each under 30 s)")
  parser.add_argument("--out", type=pathlib.Path, default=RESULTS, help="output folder")
  parser.add_argument("--only", default=None, help="comma-separated experiment names (default: all)")
  parser.add_argument("--index-only", action="store_true", help="only rewrite README.md from the JSON files")
  args = parser.parse_args(argv)
  names = EXPERIMENTS if args.only is None else tuple(n.strip() for n in args.only.split(",") if n.strip())
  unknown = [n for n in names if n not in EXPERIMENTS]
  if unknown:
    parser.error(f"--only: unknown experiments {unknown}; choose from {list(EXPERIMENTS)}")
  args.out.mkdir(parents=True, exist_ok=True)
  errors, not_held, times = {}, [], {}
  if not args.index_only:
    for name in names:
      mod = load(name)
      if mod is None:
        print(f"[all] skipping {name}: experiments/{name}.py does not exist", file=sys.stderr)
        continue
      print(f"[all] running {name}{' --quick' if args.quick else ''}", file=sys.stderr)
      start = time.perf_counter()
      try:
        record = mod.main([*(["--quick"] if args.quick else []), "--out", str(args.out)])
        if isinstance(record, dict) and not record.get("held", True):
          not_held.append(name)
      except Exception as e:   # one broken experiment must not hide the others' results
        traceback.print_exc()
        errors[name] = f"{type(e).__name__}: {e}"
      times[name] = time.perf_counter() - start
  index = write_index(args.out, EXPERIMENTS, errors)
  for name, t in times.items():
    print(f"[all] {name}: {t:.1f} s{' (failed)' if name in errors else ''}", file=sys.stderr)
  print(f"[all] wrote {index}; failed: {sorted(errors) or 'none'}; claims not held: {not_held or 'none'}",
        file=sys.stderr)
  return 1 if errors else 0


if __name__ == "__main__":
  jaxreg.use_cpu_devices()   # every core a JAX device, before JAX starts: the sweeps shard over them
  sys.exit(main())
