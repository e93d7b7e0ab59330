"""Too large alpha underfits, too small overfits: the U-curve of test error against alpha.

Oppermann's guide (§5.1) advises ("choose alpha carefully: too high underfits,
too low overfits"), measured. A 40-100-100-10 ReLU MLP is trained on a small
MNIST-1D training split (the first 2000 of the 4000 standard training signals;
the standard 1000 test signals) with Adam (lr 1e-3, 1500 steps of batch 100,
75 epochs): unregularized it fits the training set (train error ≈ 0.2%) and
misses about half of the test set. It is trained for every one of 64
log-spaced alphas × {L2 via ``jaxreg.add_l2`` (coupled, before Adam), L1 via
``jaxreg.proximal_l1`` (proximal, after Adam)} × 3 seeds: 384 training runs
as **one** ``jaxreg.sweep`` (one compiled program). The penalty is a grid axis
too: every run uses ``chain(add_l2(alpha·[L2]), adam(lr), proximal_l1(alpha·[L1], lr))``
with the other penalty's strength at exactly zero (``add_l2(0)`` adds exactly
0; ``proximal_l1(0)`` soft-thresholds by 0, which leaves the step unchanged
up to float rounding), so both penalties share one compiled program.

Claim checked: for both penalties, the seed-mean test error is minimal
strictly inside the alpha range, and both ends are worse than the best by
more than the seed spread there (the smallest alpha overfits: train error ≈ 0,
test error high; the largest underfits: train error high).

Outputs (in ``--out``, default ``experiments/results/``): ``alpha_sweep.csv``
(columns ``alpha, penalty, seed, train_error, test_error, train_loss,
test_loss, zero_fraction``), ``alpha_sweep.png``, ``alpha_sweep.json``, and a
markdown table of the best alpha per penalty (printed and ``alpha_sweep.md``).

Run: ``python -m experiments.alpha_sweep [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np
import optax

import jaxreg
from experiments import _common

NAME = "alpha_sweep"
PENALTIES = ("L2", "L1")   # grid axis "l1": 0.0 -> L2 (add_l2), 1.0 -> L1 (proximal_l1)
FULL = {"n_train": 2000, "hidden": (100, 100), "steps": 1500, "batch_size": 100, "lr": 1e-3,
        "alphas": (1e-5, 1.0, 64), "seeds": 3, "chunk_size": 128}
QUICK = {"n_train": 300, "hidden": (64, 64), "steps": 400, "batch_size": 50, "lr": 3e-3,
         "alphas": (1e-5, 1.0, 8), "seeds": 2, "chunk_size": None}
COLUMNS = ["alpha", "penalty", "seed", "train_error", "test_error", "train_loss", "test_loss", "zero_fraction"]


class Raw(NamedTuple):
  cfg: dict
  result: jaxreg.SweepResult    # leaves (penalty, alpha, seed)
  alphas: np.ndarray


def make_optimizer(h, lr):
  """``add_l2(alpha·(1 − l1)) → adam(lr) → proximal_l1(alpha·l1, lr)``; ``l1`` ∈ {0, 1} is data."""
  return optax.chain(jaxreg.add_l2(h["alpha"] * (1 - h["l1"])), optax.adam(lr),
                     jaxreg.proximal_l1(h["alpha"] * h["l1"], lr))


def run(args) -> Raw:
  """The sweep: ``alphas × {L2, L1} × seeds`` MLP training runs on MNIST-1D."""
  cfg = QUICK if args.quick else FULL
  data = _common.mnist1d(cfg["n_train"])
  lo, hi, n = cfg["alphas"]
  alphas = np.geomspace(lo, hi, n)

  def fn(h, key):
    return _common.train(h, key, data=data, make_optimizer=lambda h: make_optimizer(h, cfg["lr"]),
                         steps=cfg["steps"], batch_size=cfg["batch_size"], hidden=cfg["hidden"])

  result = jaxreg.sweep(fn, {"l1": [0.0, 1.0], "alpha": alphas}, key=_common.key(0),
                        seeds=cfg["seeds"], chunk_size=cfg["chunk_size"], progress=True)
  return Raw(cfg, result, alphas)


def rows(result, alphas) -> list[dict]:
  """Tidy rows: one per (alpha, penalty, seed)."""
  v = result.values
  out = []
  for p, pen in enumerate(PENALTIES):
    for a, alpha in enumerate(alphas):
      for s, seed in enumerate(result.axes["seed"]):
        out.append({"alpha": alpha, "penalty": pen, "seed": int(seed),
                    **{m: v[m][p, a, s] for m in ("train_error", "test_error", "train_loss", "test_loss",
                                                  "zero_fraction")}})
  return out


def best_alphas(result, alphas) -> tuple[list[dict], bool]:
  """The best alpha per penalty and whether the U-curve claim held for each."""
  v = result.values
  table, held = [], True
  for p, pen in enumerate(PENALTIES):
    test, train = v["test_error"][p], v["train_error"][p]          # (n_alphas, seeds)
    mean = test.mean(-1)
    b = int(np.argmin(mean))
    spread = float(test[b].max() - test[b].min())
    inside = 0 < b < len(alphas) - 1
    ends_worse = bool(mean[0] - mean[b] > spread and mean[-1] - mean[b] > spread)
    ok = inside and ends_worse
    held &= ok
    table.append({"penalty": pen, "best_alpha": float(alphas[b]), "best_index": b,
                  "test_error": float(mean[b]), "test_error_std": float(test[b].std()),
                  "train_error": float(train[b].mean()),
                  "test_error_smallest_alpha": float(mean[0]), "train_error_smallest_alpha": float(train[0].mean()),
                  "test_error_largest_alpha": float(mean[-1]), "train_error_largest_alpha": float(train[-1].mean()),
                  "held": ok})
  return table, held


def summarize(raw: Raw) -> _common.Summary:
  cfg, result, alphas = raw
  table, held = best_alphas(result, alphas)
  md = _common.markdown_table(table, ["penalty", "best_alpha", "test_error", "test_error_std", "train_error",
                                      "test_error_smallest_alpha", "test_error_largest_alpha"])
  measured = "; ".join(
      f"{t['penalty']}: best alpha {t['best_alpha']:.3g} (index {t['best_index']} of {len(alphas)}), "
      f"test error {t['test_error']:.3f} vs {t['test_error_smallest_alpha']:.3f} at the smallest alpha "
      f"(train {t['train_error_smallest_alpha']:.3f}) and {t['test_error_largest_alpha']:.3f} at the largest "
      f"(train {t['train_error_largest_alpha']:.3f})" for t in table)
  return _common.Summary(
      rows=rows(result, alphas), columns=COLUMNS, markdown=md + "\n", markdown_file=True,
      claim="Too large alpha underfits, too small overfits: the best test error lies strictly inside "
            "the alpha range, for L2 (add_l2) and L1 (proximal_l1).",
      held=held, measured=measured, seeds=[int(s) for s in result.axes["seed"]],
      fields={"config": {**cfg, "dataset": "MNIST-1D" + ("" if cfg["n_train"] is None else
                                                        f" ({cfg['n_train']} train)"),
                         "optimizer": "Adam", "n_runs": int(np.prod(result.shape))},
              "best": table, "figure_caption": "Train and test error against alpha for L2 and L1; mean over seeds, "
                                               "band = min–max over seeds."},
      context={"table": table})


def plot(raw: Raw, summary: _common.Summary):
  _, result, alphas = raw
  table = summary.context["table"]
  plt = _common.pyplot()
  v = result.values
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
  for p, (pen, ax) in enumerate(zip(PENALTIES, axes)):
    _common.band(ax, alphas, v["train_error"][p].T, label="train error", color="tab:blue")
    _common.band(ax, alphas, v["test_error"][p].T, label="test error", color="tab:red")
    best = table[p]
    ax.axvline(best["best_alpha"], color="gray", ls="--", lw=1)
    ax.annotate(f"best α = {best['best_alpha']:.2g}\ntest error {best['test_error']:.3f}",
                (best["best_alpha"], best["test_error"]), xytext=(6, -28), textcoords="offset points", fontsize=8)
    how = "jaxreg.add_l2 → adam" if pen == "L2" else "adam → jaxreg.proximal_l1"
    ax.set_title(f"{pen} ({how})")
    ax.set_xlabel("alpha (log scale):  ← overfits  ·  underfits →")
    ax.grid(alpha=0.3, which="both", lw=0.5)
  axes[0].set_ylabel("error (fraction misclassified)")
  axes[0].legend(loc="center left")
  n_seeds = len(result.axes["seed"])
  fig.suptitle(f"MNIST-1D MLP: test error is U-shaped in alpha (mean of {n_seeds} seeds, band = min–max)")
  fig.tight_layout()
  return fig


def readme(record: dict, rows: list[dict], figure: str) -> str:
  """The README's paragraph on this experiment, from its JSON record."""
  cfg, best = record["config"], {b["penalty"]: b for b in record["best"]}
  l2, l1 = best["L2"], best["L1"]
  sizes = "-".join(map(str, [40, *cfg["hidden"], 10]))
  n_alphas, seeds = cfg["alphas"][2], len(record["seeds"])
  split = "the 4000-signal MNIST-1D training set" if cfg["n_train"] is None else \
      f"a {cfg['n_train']}-signal MNIST-1D split"
  shape = ("test error is U-shaped" if record["held"] else
           "the U-curve claim did **not** hold (" + ", ".join(p for p in best if not best[p]["held"]) + ")")
  text = (f"A {sizes} MLP on {split}, {n_alphas} log-spaced alphas × {{L2 via `add_l2`, L1 via `proximal_l1`}} × "
          f"{seeds} seeds in one sweep ({cfg['n_runs']} trainings, {record['wall_time_s']:.0f} s): {shape}. "
          f"L2 is best at α ≈ {l2['best_alpha']:.2g} ({_common.pct(l2['test_error'])} test error, against "
          f"{_common.pct(l2['test_error_smallest_alpha'])} at the smallest alpha with "
          f"{_common.pct(l2['train_error_smallest_alpha'])} train error, and "
          f"{_common.pct(l2['test_error_largest_alpha'])} at the largest); L1 at α ≈ {l1['best_alpha']:.2g} ({_common.pct(l1['test_error'])}).")
  return _common.readme_paragraph(
      "**The main job — too large alpha underfits, too small overfits** (`alpha_sweep`, Oppermann's guide §5.1).",
      f"![alpha sweep]({figure})", text)


def main(argv=None) -> dict:
  return _common.run_experiment(sys.modules[__name__], argv)


if __name__ == "__main__":
  jaxreg.use_cpu_devices()   # every core a JAX device, before JAX starts: the sweep shards over them
  main()
