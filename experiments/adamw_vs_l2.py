"""Coupled L2 vs decoupled weight decay, for Adam and SGD (Loshchilov & Hutter 2019, Fig. 2 and Prop. 1).

Loshchilov & Hutter show that L2 regularization and weight decay are the same
thing for SGD but not for Adam, where the L2 gradient ``α·w`` is divided by
Adam's running gradient scale (so weights with large gradients are regularized
less), and that decoupling the decay from the gradient step (AdamW) generalizes
better and makes the best weight decay less dependent on the learning rate.
Here, on MNIST-1D, four optimizers, each run as **one** ``jaxreg.sweep`` over a
(learning rate × weight decay) grid, give four test-error heatmaps:

* **Adam + L2** — ``optax.chain(jaxreg.add_l2(α), optax.adam(lr))``: the L2
  gradient goes through Adam's preconditioner.
* **Adam + decoupled** (AdamW) — ``optax.chain(optax.adam(lr),
  jaxreg.decoupled_weight_decay(lr·λ))``: each step also shrinks ``w`` by
  ``lr·λ·w``, exactly ``optax.adamw(lr, weight_decay=λ)`` / PyTorch's ``AdamW``.
* **SGD + L2** — ``optax.chain(jaxreg.add_l2(α), optax.sgd(lr))``:
  ``w ← w − lr·(∇L + α·w)``.
* **SGD + decoupled** — ``optax.chain(optax.sgd(lr), jaxreg.decoupled_weight_decay(lr·λ))``:
  ``w ← w − lr·∇L − lr·λ·w``.

**Proposition 1** of the paper: SGD with a per-step decay ``d`` equals SGD on
the L2-regularized loss with ``α = d/lr`` (their ``λ′ = λ/α``). With the
AdamW-style per-step decay ``d = lr·λ`` used here, that is ``α = λ``: the two
SGD heatmaps share one grid and must agree cell by cell. In float32 they agree
only up to rounding: ``lr·(g + α·w)`` and ``lr·g + (lr·λ)·w`` round differently
(XLA also fuses one of them into a fused multiply-add), one ulp per step, and
training amplifies such differences (at large learning rates, chaotically). To
judge the pair against rounding itself, a fifth sweep reruns SGD + L2 with
every learning rate moved up by one float32 ulp.

Claims checked: (1) Prop. 1 — the mean |Δ test error| between SGD + L2 and
SGD + decoupled over the grid is at most twice that between SGD + L2 and its
1-ulp rerun (plus one test signal), i.e. the two differ by rounding only;
(2) the best Adam + decoupled configuration generalizes at least as well as
the best Adam + L2 one (one seed per cell, so a difference below about 1.5
points is within seed noise); (3) decoupling makes the best weight decay less
dependent on the learning rate. With one seed per cell a row's argmin is
mostly noise, so each learning-rate row is summarized by its *tolerated decay*:
the largest decay whose test error is within one point (about the seed noise)
of the row's best; the claim holds when its standard deviation in decades over
the rows where Adam trains (best train error < 50%) is smaller for Adam +
decoupled than for Adam + L2 (a diagonal good region gives a large one, an
axis-aligned region a small one).

One compiled program: the four optimizers (five sweeps) are one training function in which
a traced flag keeps Adam's or SGD's step (both are computed, the kept one bit
for bit) and an unused regularizer has strength 0 (``u + 0·w = u`` exactly), so
all sweeps (same grid layout) share one compilation; each sweep's other
axes have length 1.

Setup (full run): MLP 40-256-256-10, batch 100, 1500 steps, 1 seed per cell
(seed 0: every cell starts from the same initialization and sees the same
minibatches), MNIST-1D 4000 train / 1000 test. Grids (5 × 5 per optimizer):
Adam lr ∈ 10^[-4, -2], α ∈ 10^[-6, -2], λ ∈ 10^[-3, 1]; SGD lr ∈ 10^[-1.5, 0.5],
α = λ ∈ 10^[-5, -1] (a diverged run shows as "div."); 125 runs, one
compilation. Cost on the 2-core CPU: 166 s of CPU time (about 2.5-3 min wall
when the machine is quiet); see ``adamw_vs_l2.json``.

``--quick``: 40-32-32-10, 100 steps, 2 × 2 grids.

Outputs (``--out DIR``): ``adamw_vs_l2.csv`` (one row per optimizer × lr × weight
decay × seed), ``adamw_vs_l2.png`` (the four heatmaps), ``adamw_vs_l2.json``.

References:
  Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019
  (Fig. 2, Prop. 1, Algorithm 2).
  Greydanus, *Scaling down deep learning*, arXiv:2011.14439, 2020 (MNIST-1D).
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg
from experiments import _common

NAME = "adamw_vs_l2"
HP = ("adam", "lr", "l2", "wd")   # adam: 1 = Adam, 0 = SGD; l2: coupled α; wd: decoupled λ (per-step lr·λ)
OPTIMIZERS = {  # name -> (adam flag, which of l2 / wd is swept)
    "Adam + L2": (1.0, "l2"), "Adam + decoupled": (1.0, "wd"),
    "SGD + L2": (0.0, "l2"), "SGD + decoupled": (0.0, "wd")}
FULL = dict(hidden=(256, 256), steps=1500, batch_size=100, seeds=1, grids={
    "Adam + L2": (np.logspace(-4, -2, 5), np.logspace(-6, -2, 5)),
    "Adam + decoupled": (np.logspace(-4, -2, 5), np.logspace(-3, 1, 5)),
    "SGD + L2": (np.logspace(-1.5, 0.5, 5), np.logspace(-5, -1, 5)),
    "SGD + decoupled": (np.logspace(-1.5, 0.5, 5), np.logspace(-5, -1, 5))})
QUICK = dict(hidden=(32, 32), steps=100, batch_size=100, seeds=1, grids={
    "Adam + L2": ([1e-3, 1e-2], [1e-4, 1e-2]), "Adam + decoupled": ([1e-3, 1e-2], [1e-2, 1.0]),
    "SGD + L2": ([0.03, 0.3], [1e-3, 1e-1]), "SGD + decoupled": ([0.03, 0.3], [1e-3, 1e-1])})


class SwitchState(NamedTuple):
  a: optax.OptState
  b: optax.OptState


def switch(flag, a: optax.GradientTransformation, b: optax.GradientTransformation) -> optax.GradientTransformation:
  """Runs both ``a`` and ``b`` and keeps ``a``'s update where ``flag`` is 1, ``b``'s where it is 0.

  ``flag`` may be traced (a sweep axis); the kept update is bit-identical to
  running that transformation alone.
  """
  def init_fn(params):
    return SwitchState(a.init(params), b.init(params))

  def update_fn(updates, state, params=None):
    ua, sa = a.update(updates, state.a, params)
    ub, sb = b.update(updates, state.b, params)
    keep_a = jnp.asarray(flag) > 0.5
    return jax.tree_util.tree_map(lambda x, y: jnp.where(keep_a, x, y), ua, ub), SwitchState(sa, sb)

  return optax.GradientTransformation(init_fn, update_fn)


def make_optimizer(h) -> optax.GradientTransformation:
  """``add_l2(l2) → (adam(lr) if adam else sgd(lr)) → decoupled_weight_decay(lr·wd)``."""
  return optax.chain(jaxreg.add_l2(h["l2"]), switch(h["adam"], optax.adam(h["lr"]), optax.sgd(h["lr"])),
                     jaxreg.decoupled_weight_decay(h["lr"] * h["wd"]))


def make_run(cfg, data):
  def run(h, key):
    return _common.train(h, key, data=data, make_optimizer=make_optimizer, steps=cfg["steps"],
                         batch_size=cfg["batch_size"], hidden=cfg["hidden"])
  return run


def grid_for(name, lrs, decays) -> dict[str, list[float]]:
  flag, swept = OPTIMIZERS[name]
  return {"adam": [flag], "lr": [float(x) for x in lrs],
          "l2": [float(x) for x in decays] if swept == "l2" else [0.0],
          "wd": [float(x) for x in decays] if swept == "wd" else [0.0]}


def tolerated_decay(err: np.ndarray, decays: np.ndarray, tol: float = 0.01) -> np.ndarray:
  """Per learning-rate row: the largest decay whose test error is within ``tol`` of the row's best (NaN if none)."""
  out = np.full(len(err), np.nan)
  for i, row in enumerate(err):
    if np.isfinite(row).any():
      out[i] = decays[np.flatnonzero(row <= np.nanmin(row) + tol + 1e-9).max()]
  return out


def decay_spread(err: np.ndarray, decays: np.ndarray, trains: np.ndarray) -> float:
  """Standard deviation (decades) of the tolerated decay over the rows where training works."""
  t = tolerated_decay(err, decays)[trains]
  t = t[np.isfinite(t)]
  return float(np.std(np.log10(t))) if len(t) > 1 else float("nan")


ULP_REFERENCE = "SGD + L2, lr + 1 ulp"


def rounding_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """|Δ test error| per cell between two heatmaps; a cell where exactly one diverged counts as 1."""
  fa, fb = np.isfinite(a), np.isfinite(b)
  return np.where(fa & fb, np.abs(np.where(fa, a, 0) - np.where(fb, b, 0)), np.where(fa == fb, 0.0, 1.0))


class Raw(NamedTuple):
  cfg: dict
  n_test: int                # test set size (one test signal = 1 / n_test)
  runs: dict                 # name -> (lrs, decays) of its sweep, with ULP_REFERENCE
  results: dict              # name -> jaxreg.SweepResult


def run(args) -> Raw:
  """Five sweeps of one compiled program: the four heatmaps and SGD + L2 at lr + 1 ulp."""
  cfg = QUICK if args.quick else FULL
  data = _common.mnist1d()
  fn, key = make_run(cfg, data), _common.key(0)
  # The four heatmaps, plus SGD + L2 with every learning rate moved up by one float32 ulp: the size of the
  # differences that rounding alone causes, to judge SGD + L2 vs SGD + decoupled against.
  lrs, decays = cfg["grids"]["SGD + L2"]
  ulp_lrs = [float(x) for x in np.nextafter(np.asarray(lrs, np.float32), np.float32(np.inf))]
  runs = {**cfg["grids"], ULP_REFERENCE: (ulp_lrs, decays)}
  results = {}
  for name, (lrs, decays) in runs.items():
    results[name] = jaxreg.sweep(fn, grid_for(name if name != ULP_REFERENCE else "SGD + L2", lrs, decays), key=key,
                                 seeds=cfg["seeds"])
  return Raw(cfg, len(data.y_test), runs, results)


def summarize(raw: Raw) -> _common.Summary:
  cfg, runs = raw.cfg, raw.runs
  maps, rows = {}, []
  for name, (lrs, decays) in runs.items():
    flag, swept = OPTIMIZERS["SGD + L2" if name == ULP_REFERENCE else name]
    res = raw.results[name]
    sub = res.select(adam=flag, **{("wd" if swept == "l2" else "l2"): 0.0})   # axes lr, decay, seed
    maps[name] = {k: np.asarray(sub.values[k], np.float64).mean(-1)
                  for k in ("test_error", "test_loss", "train_error")}
    maps[name].update(lrs=np.asarray(lrs, float), decays=np.asarray(decays, float))
    for r in res.to_records():
      rows.append({"optimizer": name, "lr": r["lr"], "decay_kind": "coupled L2 α" if swept == "l2" else
                   "decoupled λ (per step lr·λ)", "weight_decay": r[swept], "seed": r["seed"],
                   "train_error": r["train_error"], "test_error": r["test_error"], "train_loss": r["train_loss"],
                   "test_loss": r["test_loss"], "weight_norm": r["weight_norm"]})

  # (1) Prop. 1: SGD + L2 == SGD + decoupled at α = λ, up to float32 rounding.
  pair = rounding_gap(maps["SGD + L2"]["test_error"], maps["SGD + decoupled"]["test_error"])
  ulp = rounding_gap(maps["SGD + L2"]["test_error"], maps[ULP_REFERENCE]["test_error"])
  one = 1.0 / raw.n_test   # one test signal
  held1 = bool(pair.mean() <= 2 * ulp.mean() + one)
  # (2) best AdamW <= best Adam + L2.
  heat = {n: maps[n] for n in cfg["grids"]}
  best = {n: float(np.nanmin(m["test_error"])) for n, m in heat.items()}
  where = {n: dict(zip(("lr", "weight_decay"), (float(m["lrs"][i]), float(m["decays"][j]))))
           for n, m in heat.items()
           for i, j in [np.unravel_index(np.nanargmin(m["test_error"]), m["test_error"].shape)]}
  held2 = best["Adam + decoupled"] <= best["Adam + L2"]
  # (3) the tolerated decay's spread over the learning rates where Adam trains (best train error in the row < 50%).
  spread = {n: decay_spread(maps[n]["test_error"], maps[n]["decays"], np.nanmin(maps[n]["train_error"], 1) < 0.5)
            for n in ("Adam + L2", "Adam + decoupled")}
  held3 = bool(spread["Adam + decoupled"] < spread["Adam + L2"])

  measured = (f"SGD + L2 vs SGD + decoupled at matched settings: |Δ test error| mean {100 * pair.mean():.2f}, "
              f"median {100 * np.median(pair):.2f}, max {100 * pair.max():.1f} points (bit-equal cells: "
              f"{int((pair == 0).sum())}/{pair.size}); rounding alone (lr + 1 ulp): mean {100 * ulp.mean():.2f}, "
              f"median {100 * np.median(ulp):.2f}, max {100 * ulp.max():.1f} points; best test error: "
              + ", ".join(f"{n} {100 * e:.1f}% (lr {where[n]['lr']:.3g}, decay {where[n]['weight_decay']:.3g})"
                          for n, e in best.items())
              + f"; std over learning rates of the tolerated decay (largest within 1 point of the row's best): "
              f"Adam + L2 {spread['Adam + L2']:.2f} decades, Adam + decoupled {spread['Adam + decoupled']:.2f} decades")
  return _common.Summary(
      rows=rows, columns=["optimizer", "lr", "decay_kind", "weight_decay", "seed", "train_error", "test_error",
                          "train_loss", "test_loss", "weight_norm"], csv_digits=8,
      claim="SGD + L2 and SGD + decoupled decay are the same algorithm at α = λ (Loshchilov & Hutter Prop. 1); "
            "for Adam they differ and decoupled decay generalizes at least as well and its best decay depends "
            "less on the learning rate (their Fig. 2)",
      held=held1 and held2 and held3, measured=measured, seeds=list(range(cfg["seeds"])),
      fields=dict(
          claims=[{"claim": "Prop. 1: SGD + L2 and SGD + decoupled differ only by float32 rounding: their mean |Δ "
                            "test error| over the grid is at most twice that of SGD + L2 vs itself with lr + 1 ulp "
                            "(+ one test signal)", "held": held1},
                  {"claim": "best Adam + decoupled test error ≤ best Adam + L2 test error (1 seed per cell)",
                   "held": bool(held2)},
                  {"claim": "the tolerated decay (largest within 1 point of a row's best) varies less across "
                            "learning rates for Adam + decoupled than for Adam + L2 (std in decades)",
                   "held": held3}],
          sgd_pair_abs_test_error_diff={"mean": float(pair.mean()), "median": float(np.median(pair)),
                                        "max": float(pair.max()), "bit_equal_cells": int((pair == 0).sum()),
                                        "cells": int(pair.size)},
          sgd_ulp_abs_test_error_diff={"mean": float(ulp.mean()), "median": float(np.median(ulp)),
                                       "max": float(ulp.max())},
          best_test_error=best, best_setting=where, tolerated_decay_std_decades=spread,
          tolerated_decay={n: tolerated_decay(maps[n]["test_error"], maps[n]["decays"]).tolist() for n in heat},
          best_test_accuracy=1 - min(best.values()),
          config={**{k: v for k, v in cfg.items() if k != "grids"},
                  "grids": {n: {"lr": list(map(float, g[0])), "weight_decay": list(map(float, g[1]))}
                            for n, g in runs.items()}}),
      context={"heat": heat, "pair": pair, "ulp": ulp})


def plot(raw: Raw, summary: _common.Summary):
  c = summary.context
  return figure(c["heat"], c["pair"], c["ulp"], raw.cfg)


def readme(record: dict, rows: list[dict], figure: str) -> str:
  """The README's paragraph on this experiment, from its JSON record."""
  pair, ulp = record["sgd_pair_abs_test_error_diff"], record["sgd_ulp_abs_test_error_diff"]
  best, spread = record["best_test_error"], record["tolerated_decay_std_decades"]
  held = [c["held"] for c in record["claims"]]
  sgd = ("For SGD, L2 and decoupled decay are the same algorithm (their Prop. 1): the heatmaps differ by "
         f"{100 * pair['mean']:.2f} points on average, about what moving the learning rate by one float32 ulp does "
         f"({100 * ulp['mean']:.2f})." if held[0] else
         f"For SGD, the L2 and decoupled heatmaps differ by {100 * pair['mean']:.2f} points on average, more than "
         f"moving the learning rate by one float32 ulp does ({100 * ulp['mean']:.2f}): Prop. 1 is **not** confirmed.")
  ad, al = 100 * best["Adam + decoupled"], 100 * best["Adam + L2"]
  gen = (f"decoupled decay generalized at least as well (best {ad:.1f}% vs {al:.1f}% for Adam + L2)" if held[1] else
         f"decoupled decay did **not** generalize better at this scale (best {ad:.1f}% vs {al:.1f}% for Adam + L2"
         + (", within one-seed noise)" if ad - al <= 1.5 else ")"))
  sep = (f"its good region is {'more' if held[2] else 'not more'} separable "
         f"({_common.num(spread['Adam + decoupled'], '.2f')} vs {_common.num(spread['Adam + L2'], '.2f')} decades)")
  verdict = ("the paper's Adam claims hold here" if held[1] and held[2] else
             "the paper's Adam claims are not established here")
  text = f"{sgd} For Adam, {gen}, and {sep}: {verdict}."
  return _common.readme_paragraph(
      "**Coupled L2 vs decoupled weight decay** (`adamw_vs_l2`, after Loshchilov & Hutter 2019 Fig. 2).",
      f"![adamw]({figure})", text)


def main(argv=None) -> dict:
  return _common.run_experiment(sys.modules[__name__], argv)


def figure(maps, pair, ulp, cfg):
  plt = _common.pyplot()
  fig, axes = plt.subplots(2, 3, figsize=(17, 9.5), layout="constrained")
  finite = np.concatenate([100 * m["test_error"][np.isfinite(m["test_error"])] for m in maps.values()])
  vmin, vmax = float(finite.min()), float(min(finite.max(), finite.min() + 30))
  heat_axes = [axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1]]
  for ax, (name, m) in zip(heat_axes, maps.items()):
    err = np.where(np.isfinite(m["test_loss"]), 100 * m["test_error"], np.nan)   # (lr, decay); NaN = diverged
    im = ax.imshow(err.T, origin="lower", cmap="viridis_r", vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(err.shape[0]):
      for j in range(err.shape[1]):
        ax.text(i, j, "div." if not np.isfinite(err[i, j]) else f"{err[i, j]:.1f}", ha="center", va="center",
                fontsize=8, color="w" if np.isfinite(err[i, j]) and err[i, j] > (vmin + vmax) / 2 else "k")
    i, j = np.unravel_index(np.nanargmin(err), err.shape)
    ax.add_patch(plt.Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, ec="r", lw=2))
    ax.set_xticks(range(len(m["lrs"])), [f"{x:.2g}" for x in m["lrs"]])
    ax.set_yticks(range(len(m["decays"])), [f"{x:.0e}" for x in m["decays"]])
    ax.set(xlabel="learning rate", ylabel="L2 strength α (coupled)" if name.endswith("L2") else
           "weight decay λ (per step lr·λ)", title=f"{name}: best {np.nanmin(err):.1f}%")
  fig.colorbar(im, ax=heat_axes, shrink=0.8, label="test error (%)")
  ax = axes[0, 2]
  for name, marker in (("Adam + L2", "o"), ("Adam + decoupled", "s")):
    m = maps[name]
    ok = np.nanmin(m["train_error"], 1) < 0.5
    tolerated = tolerated_decay(m["test_error"], m["decays"])
    if ok.any():
      ax.plot(m["lrs"][ok], tolerated[ok], marker=marker, label=f"{name}: {'α' if 'L2' in name else 'λ'}")
  if ax.lines:
    ax.set(xscale="log", yscale="log")
    ax.legend(fontsize=8)
  ax.set(xlabel="learning rate (rows where Adam trains)", ylabel="largest decay within 1 point of the row's best",
         title="tolerated decay per learning rate (flat = decoupled)")
  ax = axes[1, 2]
  lim = 100 * max(pair.max(), ulp.max(), 0.01) * 1.1
  ax.scatter(100 * ulp.ravel(), 100 * pair.ravel(), s=14)
  ax.plot([0, lim], [0, lim], color="gray", lw=0.8, ls="--")
  ax.set(xlim=(-0.02 * lim, lim), ylim=(-0.02 * lim, lim), xlabel="SGD + L2 vs itself with lr + 1 ulp: |Δ| (points)",
         ylabel="SGD + L2 vs SGD + decoupled: |Δ| (points)", title="Prop. 1: the SGD pair differs only by rounding")
  fig.suptitle(f"MNIST-1D, 40-{'-'.join(map(str, cfg['hidden']))}-10 MLP, {cfg['steps']} steps, one seed per cell: "
               "test error (Loshchilov & Hutter 2019, Fig. 2 analog)")
  return fig


if __name__ == "__main__":
  jaxreg.use_cpu_devices()   # every core a JAX device, before JAX starts: the sweep shards over them
  main()
