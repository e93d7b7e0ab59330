"""Sweeps beyond grids: random search, successive halving and PBT against the full alpha grid.

The main job's workload (the MNIST-1D MLP of ``alpha_sweep``: 40-100-100-10
ReLU, Adam, batch 100, 1500 steps, trained on the first 2000 MNIST-1D training
signals, tested on the standard 1000 test signals), with L2 via
``jaxreg.add_l2(alpha)`` and 3 seeds. Every method selects on a **validation
set** (MNIST-1D training signals 2000-2999, never trained on) and reports the
test error of what it selected; all of them use the same staged training
functions (``init`` / ``train`` / ``evaluate``: the optimizer is rebuilt from
the traced hyperparameters at every ``train`` call, so PBT can change them).

* **Grid** (the reference): 64 log-spaced alphas in [1e-5, 1] × 3 seeds, one
  ``jaxreg.sweep``; the alpha with the best seed-mean validation error.
* **Random search**: 64 log-uniform alphas in the same range drawn by
  ``jaxreg.sample`` (seed 0), × 3 seeds, one ``jaxreg.sweep``.
* **Successive halving** (``jaxreg.successive_halving``, η = 3) on the grid's
  64 alphas × 3 seeds: 3 rungs of 167, 500 and 1500 cumulative steps keeping
  64 → 22 → 8 configurations; each rung one compiled program.
* **PBT** (``jaxreg.pbt``): populations of 16 members (alpha log-uniform in
  [1e-5, 1], learning rate log-uniform in [1e-4, 1e-2], drawn by
  ``jaxreg.sample``), 1500 steps, exploit/explore every 100 steps (bottom 25%
  copy a top-25% member's parameters and Adam state; alpha and lr × 0.8 or
  1.25, or resampled with probability 0.25); 3 independent runs (seeds), each
  one compiled program. The best member by final validation error is selected.

Training steps are counted per configuration × seed (a grid of 64 × 3 runs of
1500 steps costs 288,000). Targets (issue 11): random search within 1 point
of the grid's test error; halving within 1 point using at most 1/3 of the
grid's steps; PBT within 1 point using at most 1/4 of them. Wall times include
compilation and were measured on a 2-core machine shared with other jobs (see
the load average in ``search.json``).

Outputs (in ``--out``, default ``experiments/results/``): ``search.csv``
(columns ``method, stage, steps, config, alpha, lr, seed, val_error,
test_error``: every grid, random and halving run, and every PBT member at
every interval), ``search.png`` (error against alpha for grid, random and the
halving rungs; PBT's alpha and lr trajectories), ``search.json`` (the table of
steps, wall time and test error per method and each target's verdict) and
``search.md``.

Run: ``python -m experiments.search [--quick] [--out DIR]`` (about 4 minutes on
the 2-core CPU; ``--quick`` under 30 s).
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg
from experiments import _common
from jaxreg._sweep import _halving, _pbt  # their compile counters, recorded in search.json

NAME = "search"
FULL = {"n_train": 2000, "n_val": 1000, "hidden": (100, 100), "steps": 1500, "batch_size": 100, "lr": 1e-3,
        "alphas": (1e-5, 1.0, 64), "seeds": 3, "n_random": 64, "eta": 3, "n_rungs": 3,
        "population": 16, "interval": 100, "lr_range": (1e-4, 1e-2), "resample_probability": 0.25}
QUICK = {"n_train": 300, "n_val": 300, "hidden": (32, 32), "steps": 180, "batch_size": 50, "lr": 3e-3,
         "alphas": (1e-5, 1.0, 9), "seeds": 2, "n_random": 9, "eta": 3, "n_rungs": 2,
         "population": 4, "interval": 45, "lr_range": (1e-3, 1e-2), "resample_probability": 0.25}
COLUMNS = ["method", "stage", "steps", "config", "alpha", "lr", "seed", "val_error", "test_error"]
METHODS = ("grid", "random", "halving", "pbt")
TOLERANCE = 0.01   # "within 1 point" of the grid's test error
BUDGET = {"halving": 1 / 3, "pbt": 1 / 4}   # at most this fraction of the grid's training steps


class Raw(NamedTuple):
  cfg: dict
  alphas: np.ndarray
  grid: jaxreg.SweepResult          # leaves (alpha, seed)
  random: jaxreg.SweepResult        # leaves (config, seed)
  halving: jaxreg.HalvingResult
  pbt: list                         # one jaxreg.PBTResult per seed
  wall: dict                        # seconds per method (compilation included)
  cpu: dict                         # CPU seconds per method (all threads; compilation included)
  compiles: dict                    # programs compiled by successive_halving and pbt in this run


def split(cfg) -> tuple[_common.Data, _common.Data]:
  """``(train/val, train/test)``: the first ``n_train`` MNIST-1D signals train, the next ``n_val`` validate."""
  full = _common.mnist1d()
  n, v = cfg["n_train"], cfg["n_val"]
  tr = (full.x_train[:n], full.y_train[:n])
  val = _common.Data(*tr, full.x_train[n:n + v], full.y_train[n:n + v])
  test = _common.Data(*tr, full.x_test, full.y_test)
  return val, test


def staged(cfg) -> tuple[Any, Any, Any]:
  """The MLP as ``init(h, key)``, ``train(state, h, key, steps)``, ``evaluate(state, h)`` for the search drivers.

  The optimizer, ``chain(add_l2(h["alpha"]), adam(h["lr"]))`` (``lr`` defaults to
  ``cfg["lr"]`` when ``h`` has none), is rebuilt from ``h`` at every ``train``
  call: its state (Adam's moments and count) does not depend on the values,
  so PBT may change them between intervals. ``init`` draws the weights from
  ``split(key)[0]``; ``train`` draws a fresh permutation of the training set
  per epoch from its own ``key`` (a partial last epoch is cut).
  """
  val, test = split(cfg)
  x, y = jnp.asarray(val.x_train), jnp.asarray(val.y_train)
  xv, yv, xt, yt = (jnp.asarray(a) for a in (val.x_test, val.y_test, test.x_test, test.y_test))
  n, batch = len(val.x_train), cfg["batch_size"]
  per_epoch = n // batch
  sizes = (val.n_features, *cfg["hidden"], val.n_classes)

  def optimizer(h):
    return optax.chain(jaxreg.add_l2(h["alpha"]), optax.adam(h["lr"] if "lr" in h else cfg["lr"]))

  def init(h, key):
    params = _common.init_mlp(jax.random.split(key)[0], sizes)
    return params, optimizer(h).init(params)

  def loss(p, xb, yb):
    return optax.softmax_cross_entropy_with_integer_labels(_common.apply_mlp(p, xb), yb).mean()

  def train(state, h, key, steps):
    opt = optimizer(h)
    perms = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(key, e), n))(
        jnp.arange(-(-steps // per_epoch)))

    def step(carry, t):
      p, s = carry
      idx = jax.lax.dynamic_slice(perms[t // per_epoch], ((t % per_epoch) * batch,), (batch,))
      u, s = opt.update(jax.grad(loss)(p, x[idx], y[idx]), s, p)
      return (optax.apply_updates(p, u), s), None

    return jax.lax.scan(step, state, jnp.arange(steps))[0]

  def evaluate(state, h):
    p = state[0]
    err = lambda xs, ys: (jnp.argmax(_common.apply_mlp(p, xs), -1) != ys).mean()
    return {"val_error": err(xv, yv), "test_error": err(xt, yt)}

  return init, train, evaluate


def run(args) -> Raw:
  """Grid, random search, successive halving and PBT on the same staged MLP; each timed."""
  cfg = QUICK if args.quick else FULL
  init, train, evaluate = staged(cfg)
  key, seeds, steps = _common.key(0), cfg["seeds"], cfg["steps"]
  lo, hi, n = cfg["alphas"]
  alphas = np.geomspace(lo, hi, n)

  def full_run(h, k):   # one rung of max_steps: exactly what successive halving's single-rung schedule runs
    return evaluate(train(init(h, k), h, jax.random.fold_in(k, 0), steps), h)

  wall, cpu, compiles = {}, {}, {}

  def timed(method, f):
    t, c = time.perf_counter(), time.process_time()
    out = f()
    wall[method], cpu[method] = time.perf_counter() - t, time.process_time() - c
    return out

  grid = timed("grid", lambda: jaxreg.sweep(full_run, {"alpha": alphas}, key=key, seeds=seeds, progress=False))
  samples = jaxreg.sample({"alpha": jaxreg.loguniform(lo, hi)}, cfg["n_random"], seed=0)
  random = timed("random", lambda: jaxreg.sweep(full_run, samples, key=key, seeds=seeds, progress=False))
  before = _halving.COMPILES[0]
  halving = timed("halving", lambda: jaxreg.successive_halving(
      init, train, evaluate, {"alpha": alphas}, key=key, seeds=seeds, eta=cfg["eta"], n_rungs=cfg["n_rungs"],
      max_steps=steps, metric="val_error"))
  compiles["halving"] = _halving.COMPILES[0] - before
  space = {"alpha": jaxreg.loguniform(lo, hi), "lr": jaxreg.loguniform(*cfg["lr_range"])}
  before = _pbt.COMPILES[0]
  pbt = timed("pbt", lambda: [
      jaxreg.pbt(init, train, evaluate, jaxreg.sample(space, cfg["population"], seed=s),
                 key=jax.random.fold_in(key, s), steps=steps, interval=cfg["interval"], metric="val_error",
                 quantile=0.25, resample_probability=cfg["resample_probability"], space=space)
      for s in range(seeds)])
  compiles["pbt"] = _pbt.COMPILES[0] - before
  return Raw(cfg, alphas, grid, random, halving, pbt, wall, cpu, compiles)


def _select(val: np.ndarray, test: np.ndarray) -> tuple[int, float, float]:
  """``(index, seed-mean val error, seed-mean test error)`` of the best seed-mean validation error."""
  v, t = val.mean(-1), test.mean(-1)
  b = int(np.argmin(v))
  return b, float(v[b]), float(t[b])


def table(raw: Raw) -> list[dict]:
  """One row per method: configurations, training steps (and fraction of the grid's), wall time, selection."""
  cfg, seeds, steps = raw.cfg, raw.cfg["seeds"], raw.cfg["steps"]
  g, r = raw.grid.values, raw.random.values
  rows = []
  b, v, t = _select(g["val_error"], g["test_error"])
  grid_steps = len(raw.alphas) * seeds * steps
  rows.append({"method": "grid", "configs": len(raw.alphas), "steps": grid_steps, "alpha": float(raw.alphas[b]),
               "lr": cfg["lr"], "val_error": v, "test_error": t})
  b, v, t = _select(r["val_error"], r["test_error"])
  rows.append({"method": "random", "configs": cfg["n_random"], "steps": cfg["n_random"] * seeds * steps,
               "alpha": float(raw.random.configs["alpha"][b]), "lr": cfg["lr"], "val_error": v, "test_error": t})
  hv = raw.halving
  last = hv.rungs[-1]
  b = int(np.flatnonzero(last.index == hv.best_index)[0])
  rows.append({"method": "halving", "configs": len(raw.alphas), "steps": hv.total_steps, "alpha": hv.best["alpha"],
               "lr": cfg["lr"], "val_error": float(last.metrics["val_error"][b].mean()),
               "test_error": float(last.metrics["test_error"][b].mean())})
  finals = [(p.best, float(p.metrics["val_error"][-1, p.best_member]),
             float(p.metrics["test_error"][-1, p.best_member])) for p in raw.pbt]
  rows.append({"method": "pbt", "configs": cfg["population"], "steps": sum(p.total_steps for p in raw.pbt),
               "alpha": float(np.exp(np.mean([math.log(f[0]["alpha"]) for f in finals]))),
               "lr": float(np.exp(np.mean([math.log(f[0]["lr"]) for f in finals]))),
               "val_error": float(np.mean([f[1] for f in finals])), "test_error": float(np.mean([f[2] for f in finals]))})
  ref = rows[0]["test_error"]
  for row in rows:
    row["fraction_of_grid_steps"] = row["steps"] / grid_steps
    row["wall_s"] = raw.wall[row["method"]]
    row["cpu_s"] = raw.cpu[row["method"]]
    row["vs_grid"] = row["test_error"] - ref
    budget = BUDGET.get(row["method"], 1.0)
    row["held"] = bool(row["vs_grid"] <= TOLERANCE and row["fraction_of_grid_steps"] <= budget + 1e-12)
  return rows


def csv_rows(raw: Raw) -> list[dict]:
  """Every run: grid and random (stage 0), halving (stage = rung), PBT members (stage = interval)."""
  cfg, out = raw.cfg, []
  seeds = [int(s) for s in raw.grid.axes["seed"]]
  for method, res, alphas in (("grid", raw.grid, raw.alphas), ("random", raw.random, raw.random.configs["alpha"])):
    for c, a in enumerate(alphas):
      for s, seed in enumerate(seeds):
        out.append({"method": method, "stage": 0, "steps": cfg["steps"], "config": c, "alpha": a, "lr": cfg["lr"],
                    "seed": seed, "val_error": res.values["val_error"][c, s],
                    "test_error": res.values["test_error"][c, s]})
  for i, rung in enumerate(raw.halving.rungs):
    for c, idx in enumerate(rung.index):
      for s, seed in enumerate(seeds):
        out.append({"method": "halving", "stage": i, "steps": rung.steps, "config": int(idx),
                    "alpha": rung.hparams["alpha"][c], "lr": cfg["lr"], "seed": seed,
                    "val_error": rung.metrics["val_error"][c, s], "test_error": rung.metrics["test_error"][c, s]})
  for seed, p in zip(seeds, raw.pbt):
    for j, st in enumerate(p.steps):
      for m in range(p.parents.shape[1]):
        out.append({"method": "pbt", "stage": j, "steps": int(st), "config": m, "alpha": p.hparams["alpha"][j, m],
                    "lr": p.hparams["lr"][j, m], "seed": seed, "val_error": p.metrics["val_error"][j, m],
                    "test_error": p.metrics["test_error"][j, m]})
  return out


def summarize(raw: Raw) -> _common.Summary:
  rows = table(raw)
  by = {r["method"]: r for r in rows}
  ref = by["grid"]["test_error"]
  claims = []
  for m, what in (("random", "random search (64 log-uniform samples)"),
                  ("halving", "successive halving (η = 3) with ≤ 1/3 of the grid's training steps"),
                  ("pbt", "PBT (population 16, alpha and lr explored) with ≤ 1/4 of the grid's training steps")):
    r = by[m]
    claims.append({"claim": f"{what} is within 1 point of the grid's validation-selected test error",
                   "held": r["held"],
                   "measured": f"{_common.pct(r['test_error'])} vs {_common.pct(ref)} "
                               f"({100 * r['vs_grid']:+.1f} points), {100 * r['fraction_of_grid_steps']:.0f}% of the "
                               f"grid's steps"})
  held = all(c["held"] for c in claims)
  md = _common.markdown_table(rows, ["method", "configs", "steps", "fraction_of_grid_steps", "wall_s", "cpu_s", "alpha", "lr",
                                     "val_error", "test_error", "vs_grid", "held"])
  measured = "; ".join(f"{r['method']}: test error {_common.pct(r['test_error'])} ({100 * r['vs_grid']:+.1f} points vs "
                       f"grid), {r['steps']} steps ({100 * r['fraction_of_grid_steps']:.0f}% of the grid's), "
                       f"{r['wall_s']:.0f} s" for r in rows)
  cfg = raw.cfg
  return _common.Summary(
      rows=csv_rows(raw), columns=COLUMNS, markdown=md + "\n", markdown_file=True,
      claim="Random search, successive halving (≤ 1/3 of the grid's steps) and PBT (≤ 1/4) each select a "
            "configuration within 1 point of the full alpha grid's validation-selected test error.",
      held=held, measured=measured, seeds=list(range(cfg["seeds"])),
      fields={"config": {**cfg, "dataset": f"MNIST-1D ({cfg['n_train']} train, {cfg['n_val']} validation, "
                                            "1000 test)", "optimizer": "L2 (add_l2) + Adam",
                         "halving_rungs": [r.steps for r in raw.halving.rungs],
                         "halving_survivors": [len(r.index) for r in raw.halving.rungs]},
              "compiled_programs": {**raw.compiles, "note": "successive_halving: one program per rung (plus "
                                    "small cached gathers); pbt: one program for all 3 runs"},
              "table": rows, "claims": claims,
              "figure_caption": "Left: seed-mean validation error against alpha for the grid, the random samples and "
                                "each halving rung. Middle and right: PBT's alpha and learning rate per member "
                                "(seed 0) over training; the thick line is the best final member's lineage."})


def plot(raw: Raw, summary: _common.Summary):
  plt = _common.pyplot()
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
  ax = axes[0]
  ax.plot(raw.alphas, raw.grid.values["val_error"].mean(-1), color="black", lw=1.5, label="grid (1500 steps)")
  ra = raw.random.configs["alpha"]
  ax.scatter(ra, raw.random.values["val_error"].mean(-1), s=12, color="tab:orange", label="random search", zorder=3)
  colors = plt.cm.viridis(np.linspace(0.15, 0.85, len(raw.halving.rungs)))
  for rung, c in zip(raw.halving.rungs, colors):
    a = rung.hparams["alpha"]
    o = np.argsort(a)
    ax.plot(a[o], rung.metrics["val_error"].mean(-1)[o], "o-", ms=3, lw=0.8, color=c,
            label=f"halving rung: {len(a)} configs × {rung.steps} steps")
  ax.set_xscale("log")
  ax.set_xlabel("alpha (L2)")
  ax.set_ylabel("validation error (mean of seeds)")
  ax.set_title("grid, random search, successive halving")
  ax.legend(fontsize=7)
  ax.grid(alpha=0.3, which="both", lw=0.5)
  p = raw.pbt[0]
  line = p.lineage(p.best_member)
  for ax, name in zip(axes[1:], ("alpha", "lr")):
    h = p.hparams[name]
    xs = np.concatenate([[0], p.steps])
    for m in range(h.shape[1]):
      ax.step(xs, np.concatenate([h[:1, m], h[:, m]]), where="pre", lw=0.7, alpha=0.5)
    best = h[np.arange(len(line)), line]
    ax.step(xs, np.concatenate([best[:1], best]), where="pre", lw=2.5, color="black", label="best member's lineage")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(name)
    ax.set_title(f"PBT (seed 0): {name} of each of {h.shape[1]} members")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both", lw=0.5)
  fig.suptitle("MNIST-1D MLP, L2 via add_l2: grid vs random search vs successive halving vs PBT")
  fig.tight_layout()
  return fig


def halving_diagnosis(rows: list[dict]) -> dict:
  """From the CSV rows: the rung after which halving dropped the grid's best alpha, and how early ranks predict.

  Returns ``{"grid_best_alpha", "dropped_after_rung"`` (``None`` if it reached the last rung),
  ``"dropped_at_steps", "kept_alpha_max"`` (the largest alpha that rung kept), ``"spearman"`` (rank
  correlation of the first rung's seed-mean validation errors with the grid's final ones)``}``.
  """
  def seed_mean(method, stage):
    by: dict[int, list[float]] = {}
    for r in rows:
      if r["method"] == method and int(r["stage"]) == stage:
        by.setdefault(int(r["config"]), []).append(float(r["val_error"]))
    return {c: float(np.mean(v)) for c, v in by.items()}

  grid = seed_mean("grid", 0)
  alpha = {int(r["config"]): float(r["alpha"]) for r in rows if r["method"] == "grid"}
  best = min(grid, key=lambda c: (grid[c], c))
  rungs = sorted({int(r["stage"]) for r in rows if r["method"] == "halving"})
  out = {"grid_best_alpha": alpha[best], "dropped_after_rung": None, "dropped_at_steps": None, "kept_alpha_max": None}
  for i in rungs[1:]:
    if best not in seed_mean("halving", i):
      out["dropped_after_rung"] = i - 1
      out["dropped_at_steps"] = int(next(r["steps"] for r in rows if r["method"] == "halving"
                                         and int(r["stage"]) == i - 1))
      out["kept_alpha_max"] = max(alpha[c] for c in seed_mean("halving", i))
      break
  first = seed_mean("halving", rungs[0])
  common = sorted(set(first) & set(grid))
  rank = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable")
  a, b = rank([first[c] for c in common]), rank([grid[c] for c in common])
  out["spearman"] = float(np.corrcoef(a, b)[0, 1]) if len(common) > 2 else float("nan")
  return out


def readme(record: dict, rows: list[dict], figure: str) -> str:
  """The README's paragraph: the methods' table and each target's verdict, from the JSON record and CSV rows."""
  shown = [{"method": r["method"], "training steps": f"{r['steps']:,} ({100 * r['fraction_of_grid_steps']:.0f}%)",
            "wall time (s)": f"{r['wall_s']:.0f}", "CPU time (s)": _common.num(r.get("cpu_s"), ".0f"),
            "selected alpha": f"{r['alpha']:.2g}",
            "test error": _common.pct(r["test_error"]), "vs grid (points)": f"{100 * r['vs_grid']:+.1f}",
            "target": "reference" if r["method"] == "grid" else ("held" if r["held"] else "**not held**")}
           for r in record["table"]]
  cfg, by = record["config"], {r["method"]: r for r in record["table"]}
  verdict = lambda m: "held" if by[m]["held"] else "**did not hold**"
  text = (f"The `alpha_sweep` MLP with L2 (`add_l2`), {len(record['seeds'])} seeds, every method selecting on a "
          f"validation split: a {cfg['alphas'][2]}-alpha grid (`jaxreg.sweep`, the reference), {cfg['n_random']} "
          f"log-uniform samples (`jaxreg.sample` + `jaxreg.sweep`), successive halving on the grid's alphas "
          f"(`jaxreg.successive_halving`, η = {cfg['eta']}: {cfg['halving_survivors']} configurations at "
          f"{cfg['halving_rungs']} steps) and PBT (`jaxreg.pbt`, population {cfg['population']}, alpha and lr "
          f"explored every {cfg['interval']} steps, each run one compiled program). Steps count configuration × seed "
          f"× step. Targets: random search within 1 point of the grid: {verdict('random')}; halving within 1 point "
          f"with ≤ 1/3 of the grid's steps: {verdict('halving')}; PBT within 1 point with ≤ 1/4 of the steps: "
          f"{verdict('pbt')}.")
  d = halving_diagnosis(rows)
  if d["dropped_after_rung"] is not None:
    text += (f" Halving dropped the grid's best alpha ({d['grid_best_alpha']:.2g}) after rung "
             f"{d['dropped_after_rung']} ({d['dropped_at_steps']} steps), where every kept alpha was at most "
             f"{d['kept_alpha_max']:.2g}: early in training stronger L2 only slows fitting, so short rungs rank weak "
             f"regularization first (rank correlation of the first rung's validation errors with the grid's final "
             f"ones: {d['spearman']:.2f}). Early stopping is only as good as the early ranking.")
  load = record.get("load_average_1min") or {}
  return "\n".join([
      _common.readme_paragraph("**Sweeps beyond grids** (`search`, issue 11: random search, successive halving, "
                               "PBT).", f"![search]({figure})", text),
      "", _common.markdown_table(shown, list(shown[0])), "",
      _common.wrap(f"*Wall and CPU times (all threads) include compilation; the machine ({record.get('machine')}, "
                   f"{record.get('n_devices')} JAX devices) was shared with other jobs (load average "
                   f"{load.get('start')} → {load.get('end')}): the whole run took {record['wall_time_s']:.0f} s of "
                   f"wall time for {record['cpu_time_s']:.0f} s of CPU time.*")])


def main(argv=None) -> dict:
  return _common.run_experiment(sys.modules[__name__], argv)


if __name__ == "__main__":
  jaxreg.use_cpu_devices()   # every core a JAX device, before JAX starts: sweeps, rungs and populations shard over them
  main()
