"""A small-scale analog of Srivastava et al. 2014, Table 9, on MNIST-1D.

Table 9 of the dropout paper ("Comparison of different regularization methods
on MNIST", test error %) ranks: L2 1.62, L2 + L1 1.60, L2 + KL-sparsity 1.55,
max-norm 1.35, dropout + L2 1.25, dropout + max-norm 1.05. We run the same
comparison (minus KL-sparsity, plus no regularization and group lasso) with an
MLP on MNIST-1D, where an unregularized MLP overfits badly, and report whether
the paper's ordering reproduces. We do not tune toward it: every method gets
the same training recipe, a tuning grid of 6 configurations fixed in advance,
and the same selection rule.

Protocol:

1. **Tuning.** MNIST-1D's 4000 training signals are split into 3000 train /
   1000 validation (``_common.validation_split``). For each method, **one**
   ``jaxreg.sweep`` over its hyperparameter grid (6 configurations, seed 0)
   trains on the 3000 and picks the configuration with the lowest validation
   error.
2. **Testing.** At the chosen setting, 5 seeds are trained on all 4000
   training signals (one ``jaxreg.sweep`` per method) and evaluated on the 1000
   test signals: mean ± std of the test error.

Methods (strengths as in jaxreg's conventions: L2 adds ``l2/2·‖w‖²``, L1 adds
``l1·‖w‖₁``, group lasso ``group·Σ_g √|g|·‖w_g‖₂`` over each unit's incoming
weights, max-norm constrains each unit's incoming weight vector to
``‖w‖₂ ≤ c``; penalties and constraints act on kernels only,
``jaxreg.masks.weights_only``; dropout on both hidden layers):

==================  ==========================================================  ==========
method              optimizer (``optax.chain``)                                 grid
==================  ==========================================================  ==========
none                adam                                                        —
L2                  add_l2 → adam                                               l2 ∈ 10^[-5, -2] (6, log)
L2 + L1             add_l2 → add_l1 → adam                                      l2 ∈ {1e-4, 1e-3} × l1 ∈ 10^{-6, -4.5, -3}
max-norm            adam → max_norm                                             c ∈ 2^[-1, 3] (6, log)
dropout + L2        add_l2 → adam, dropout                                      rate ∈ {.2, .35, .5} × l2 ∈ {1e-5, 1e-4}
dropout + max-norm  adam → max_norm, dropout                                    rate ∈ {.2, .35, .5} × c ∈ {1.5, 3}
group lasso         adam → proximal_group_lasso                                 group ∈ 10^[-5, -2] (6, log)
==================  ==========================================================  ==========

All methods are **one** training function, ``optax.chain(add_l2(l2), add_l1(l1),
adam(lr), max_norm(c), proximal_group_lasso(group, lr))`` with dropout rate
``dropout``, in which a method switches the others off (strength 0, radius
∞): every tuning sweep is then the same compiled program (and every final
sweep another one), instead of 14 compilations.

Setup (full run): MLP 40-256-256-10, Adam (lr 2e-3), batch 100, 3000 steps,
MNIST-1D (generated locally); 36 tuning runs + 35 test runs, two compilations.
Cost on the 2-core CPU: 236 s of CPU time, 218 s wall (lightly loaded
machine); see ``regularizer_table.json``.

``--quick``: 40-32-32-10, 150 steps, 2 configurations per method, 2 seeds.

Outputs (``--out DIR``): ``regularizer_table.csv`` (one row per run: method,
stage ``tune``/``test``, hyperparameters, seed, errors), ``regularizer_table.md``
(the table next to the paper's column), ``regularizer_table.png``,
``regularizer_table.json``.

References:
  Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, *Dropout: A Simple
  Way to Prevent Neural Networks from Overfitting*, JMLR 15, 2014 (Table 9).
  Scardapane, Comminiello, Hussain & Uncini, *Group sparse regularization for
  deep neural networks*, Neurocomputing 241, 2017.
  Greydanus, *Scaling down deep learning*, arXiv:2011.14439, 2020 (MNIST-1D).
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np
import optax

import jaxreg
from experiments import _common

NAME = "regularizer_table"
HP = ("dropout", "l2", "l1", "max_norm", "group")          # every run sees all five
OFF = {"dropout": 0.0, "l2": 0.0, "l1": 0.0, "max_norm": math.inf, "group": 0.0}
PAPER = {"none": None, "L2": 1.62, "L2 + L1": 1.60, "max-norm": 1.35, "dropout + L2": 1.25,
         "dropout + max-norm": 1.05, "group lasso": None}   # Srivastava et al. 2014, Table 9 (MNIST test error %)
PAPER_ORDER = ["dropout + max-norm", "dropout + L2", "max-norm", "L2 + L1", "L2"]   # best first
N_VAL = 1000


def grids(quick: bool) -> dict[str, dict[str, list[float]]]:
  """Each method's tuning grid (6 configurations; 2 in quick mode). ``none`` has none."""
  if quick:
    return {"none": {}, "L2": {"l2": [1e-4, 1e-2]}, "L2 + L1": {"l2": [1e-4], "l1": [1e-5, 1e-3]},
            "max-norm": {"max_norm": [0.5, 3.0]}, "dropout + L2": {"dropout": [0.2, 0.5], "l2": [1e-4]},
            "dropout + max-norm": {"dropout": [0.2, 0.5], "max_norm": [3.0]}, "group lasso": {"group": [1e-4, 1e-2]}}
  log = lambda a, b, n=6, base=10.0: [float(x) for x in np.logspace(a, b, n, base=base)]
  return {"none": {},
          "L2": {"l2": log(-5, -2)},
          "L2 + L1": {"l2": [1e-4, 1e-3], "l1": log(-6, -3, 3)},
          "max-norm": {"max_norm": log(-1, 3, base=2.0)},
          "dropout + L2": {"dropout": [0.2, 0.35, 0.5], "l2": [1e-5, 1e-4]},
          "dropout + max-norm": {"dropout": [0.2, 0.35, 0.5], "max_norm": [1.5, 3.0]},
          "group lasso": {"group": log(-5, -2)}}


FULL = dict(hidden=(256, 256), steps=3000, lr=2e-3, batch_size=100, seeds=5)
QUICK = dict(hidden=(32, 32), steps=150, lr=2e-3, batch_size=100, seeds=2)


def make_run(cfg, data):
  """``fn(hparams, key)``: one run of the unified regularized MLP (see the module docstring)."""
  lr, wo = cfg["lr"], jaxreg.masks.weights_only

  def make_optimizer(h):
    return optax.chain(jaxreg.add_l2(h["l2"], mask=wo), jaxreg.add_l1(h["l1"], mask=wo), optax.adam(lr),
                       jaxreg.max_norm(h["max_norm"], mask=wo),
                       jaxreg.proximal_group_lasso(h["group"], lr, mask=wo))

  def run(h, key):
    return _common.train(h, key, data=data, make_optimizer=make_optimizer, steps=cfg["steps"],
                         batch_size=cfg["batch_size"], hidden=cfg["hidden"])

  return run


def full_grid(values: dict[str, list[float]]) -> dict[str, list[float]]:
  """All five hyperparameters as grid axes (unused ones of length 1 at their off value), fixed order."""
  return {k: list(values.get(k, [OFF[k]])) for k in HP}


def setting(h: dict) -> str:
  """The non-default hyperparameters of a configuration, e.g. ``"dropout=0.3, max_norm=3"``."""
  parts = [f"{k}={h[k]:.3g}" for k in HP if h[k] != OFF[k]]
  return ", ".join(parts) or "—"


def kendall_tau(a, b) -> float:
  """Kendall's τ between two rankings given as equal-length sequences of scores."""
  n, s = len(a), 0
  for i in range(n):
    for j in range(i + 1, n):
      s += np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
  return float(s / (n * (n - 1) / 2))


class MethodRuns(NamedTuple):
  method: str
  chosen: dict                           # the selected setting of all five hyperparameters
  tune: jaxreg.SweepResult | None        # the tuning sweep on the validation split (None: nothing to tune)
  test: jaxreg.SweepResult               # the chosen setting, cfg["seeds"] seeds, on the test set


class Raw(NamedTuple):
  cfg: dict
  grids: dict
  methods: list                          # of MethodRuns, in the order of ``grids``


def run(args) -> Raw:
  """Per method: one tuning sweep on the validation split, then one test sweep of the chosen setting."""
  cfg = QUICK if args.quick else FULL
  full = _common.mnist1d()
  tune_data = _common.validation_split(full, N_VAL, seed=0)
  tune_fn, test_fn = make_run(cfg, tune_data), make_run(cfg, full)
  key = _common.key(0)
  out = []
  for method, values in grids(args.quick).items():
    chosen, tune = dict(OFF), None
    if values:   # 1. one sweep over the method's grid, on the validation split
      tune = jaxreg.sweep(tune_fn, full_grid(values), key=key, seeds=1)
      chosen = {k: v for k, v in tune.best("test_error").items() if k != "seed"}
    # 2. the chosen setting, cfg["seeds"] seeds, all training data, test set
    test = jaxreg.sweep(test_fn, {k: [chosen[k]] for k in HP}, key=key, seeds=cfg["seeds"])
    out.append(MethodRuns(method, chosen, tune, test))
  return Raw(cfg, grids(args.quick), out)


def summarize(raw: Raw) -> _common.Summary:
  cfg = raw.cfg
  rows, table, summary = [], [], {}
  for method, chosen, tune, test in raw.methods:
    val_err = math.nan
    if tune is not None:
      for r in tune.to_records():
        rows.append({"method": method, "stage": "tune", "eval_set": "validation", **r})
      val_err = float(np.asarray(tune.select(**chosen).values["test_error"]).mean())
    for r in test.to_records():
      rows.append({"method": method, "stage": "test", "eval_set": "test", **r})
    test_err = np.asarray(test.values["test_error"]).reshape(-1)
    train_err = np.asarray(test.values["train_error"]).reshape(-1)
    summary[method] = {"setting": {k: chosen[k] for k in HP}, "validation_error": val_err,
                       "test_error_mean": float(test_err.mean()), "test_error_std": float(test_err.std(ddof=1)),
                       "test_errors": test_err.tolist(), "train_error_mean": float(train_err.mean()),
                       "dead_fraction": float(np.asarray(test.values["dead_fraction"]).mean()),
                       "zero_fraction": float(np.asarray(test.values["zero_fraction"]).mean()),
                       "paper_test_error": PAPER[method]}
    table.append({"method": method, "chosen setting": setting(chosen),
                  "val. error %": "—" if math.isnan(val_err) else f"{100 * val_err:.1f}",
                  "test error % (mean ± std)": f"{100 * test_err.mean():.1f} ± {100 * test_err.std(ddof=1):.1f}",
                  "train error %": f"{100 * train_err.mean():.1f}",
                  "paper, MNIST (Table 9) %": "—" if PAPER[method] is None else f"{PAPER[method]:.2f}"})
  for r in rows:
    for k in HP:
      r[k] = float(r[k])

  ours = [summary[m]["test_error_mean"] for m in PAPER_ORDER]
  order = sorted(PAPER_ORDER, key=lambda m: summary[m]["test_error_mean"])
  tau = kendall_tau(ours, [PAPER[m] for m in PAPER_ORDER])
  held = order == PAPER_ORDER
  dropout_best = max(summary[m]["test_error_mean"] for m in ("dropout + L2", "dropout + max-norm")) < \
      min(summary[m]["test_error_mean"] for m in ("L2", "L2 + L1", "max-norm", "none", "group lasso"))
  best = min(summary, key=lambda m: summary[m]["test_error_mean"])
  n_seeds = cfg["seeds"]
  md = (f"# Regularizers on MNIST-1D (analog of Srivastava et al. 2014, Table 9)\n\n"
        f"MLP 40-{'-'.join(map(str, cfg['hidden']))}-10, Adam lr {cfg['lr']}, batch {cfg['batch_size']}, "
        f"{cfg['steps']} steps. Each method tuned by one sweep on a 3000/1000 train/validation split (seed 0), "
        f"then trained on all 4000 training signals with {n_seeds} seeds; test error on the 1000 test signals. "
        f"The paper's column is MNIST (a different data set and scale): compare the ordering, not the values.\n\n"
        + _common.markdown_table(table, list(table[0])) +
        f"\n\nOrdering of the paper's five methods here (best first): {' < '.join(order)}; paper: "
        f"{' < '.join(PAPER_ORDER)}. Reproduces exactly: {'yes' if held else 'no'} (Kendall τ = {tau:.2f}). "
        f"Both dropout methods beat every non-dropout method: {'yes' if dropout_best else 'no'}.\n")
  measured = (f"test error % (mean ± std, {n_seeds} seeds): " + "; ".join(
      f"{m} {100 * s['test_error_mean']:.1f}±{100 * s['test_error_std']:.1f}" for m, s in summary.items())
      + f". Ordering of the paper's methods: {' < '.join(order)} (Kendall τ with the paper {tau:.2f}); "
      f"best: {best} at {100 * (1 - summary[best]['test_error_mean']):.1f}% test accuracy")
  return _common.Summary(
      rows=rows, columns=["method", "stage", "eval_set", *HP, "seed", "train_error", "test_error", "train_loss",
                          "test_loss", "zero_fraction", "dead_fraction"],
      markdown=md, markdown_file=True,
      claim="the ordering of Srivastava et al. 2014 Table 9 (dropout + max-norm < dropout + L2 < max-norm < "
            "L2 + L1 < L2 in test error) reproduces on MNIST-1D",
      held=held, measured=measured, seeds=list(range(n_seeds)),
      fields=dict(
          claims=[{"claim": "exact ordering of the paper's five methods", "held": held},
                  {"claim": "both dropout methods beat every non-dropout method", "held": bool(dropout_best)}],
          kendall_tau=tau, ordering=order, best_method=best,
          best_test_accuracy=1 - summary[best]["test_error_mean"], methods=summary,
          config={**cfg, "n_val": N_VAL, "tuning_seeds": [0], "grids": raw.grids}),
      context={"summary": summary, "order": order})


def plot(raw: Raw, summary: _common.Summary):
  return figure(summary.context["summary"], summary.context["order"], raw.cfg)


def readme(record: dict, rows: list[dict], figure: str) -> str:
  """The README's paragraph on this experiment, from its JSON record."""
  ms = record["methods"]
  err = {m: 100 * s["test_error_mean"] for m, s in ms.items()}
  std = {m: 100 * s["test_error_std"] for m, s in ms.items()}
  n_seeds = len(record["seeds"])
  listed = ", ".join(f"{m} {err[m]:.1f} ± {std[m]:.1f}" for m in ms)
  dropout = ("dropout + L2", "dropout + max-norm")
  others = [m for m in ms if m not in dropout]
  margin = min(err[m] for m in others) - max(err[m] for m in dropout)
  first = (f"Both dropout methods beat all others by about {margin:.0f} points, as in the paper"
           if record["claims"][1]["held"] else "The dropout methods do **not** beat all others here")
  order = record["ordering"]
  if record["held"]:
    second = "and the paper's exact ordering reproduces"
  else:
    inverted = [(a, b) for a, b in zip(PAPER_ORDER, PAPER_ORDER[1:]) if order.index(a) > order.index(b)]
    noise = all(abs(err[a] - err[b]) <= max(std[a], std[b]) for a, b in inverted)
    second = (f"the paper's exact ordering does **not** reproduce (Kendall τ = {record['kendall_tau']:.1f}: "
              + ", ".join(f"{a} is not better than {b}" for a, b in inverted)
              + (f"; {'both gaps are' if len(inverted) == 2 else 'each gap is'} within seed noise)" if noise else ")"))
  text = (f"Each method tuned on a validation split by one sweep, then {n_seeds} seeds on the test set (test error %): "
          f"{listed}. {first}; {second}.")
  return _common.readme_paragraph(
      "**Regularizers compared** (`regularizer_table`, after Srivastava et al. 2014 Table 9).",
      f"![regularizers]({figure})", text)


def main(argv=None) -> dict:
  return _common.run_experiment(sys.modules[__name__], argv)


def figure(summary, order, cfg):
  plt = _common.pyplot()
  fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [1.6, 1]})
  methods = list(summary)
  x = np.arange(len(methods))
  means = [100 * summary[m]["test_error_mean"] for m in methods]
  stds = [100 * summary[m]["test_error_std"] for m in methods]
  colors = ["C2" if "dropout" in m else "C7" if m == "none" else "C0" for m in methods]
  ax.bar(x, means, yerr=stds, color=colors, alpha=0.8, capsize=4)
  for i, m in enumerate(methods):
    errs = 100 * np.asarray(summary[m]["test_errors"])
    ax.scatter(np.full(len(errs), i) + np.linspace(-0.15, 0.15, len(errs)), errs, s=8, color="k", zorder=3)
  lo = min(min(100 * np.asarray(summary[m]["test_errors"])) for m in methods)
  ax.set_ylim(max(0, lo - 5), None)
  ax.set_xticks(x, methods, rotation=20, ha="right")
  ax.set(ylabel="test error (%)", title=f"MNIST-1D, 40-{'-'.join(map(str, cfg['hidden']))}-10 MLP: "
         f"tuned on validation, mean ± std over {cfg['seeds']} seeds")
  for m in PAPER_ORDER:
    p, o = PAPER[m], 100 * summary[m]["test_error_mean"]
    e = 100 * summary[m]["test_error_std"]
    ax2.errorbar(p, o, yerr=e, fmt="o", color="C2" if "dropout" in m else "C0", capsize=3)
    ax2.annotate(m, (p, o), textcoords="offset points", xytext=(5, 4), fontsize=8)
  ax2.set(xlabel="Srivastava et al. 2014 Table 9: MNIST test error (%)", ylabel="here: MNIST-1D test error (%)",
          title="same ordering would be a rising line")
  fig.tight_layout()
  return fig


if __name__ == "__main__":
  jaxreg.use_cpu_devices()   # every core a JAX device, before JAX starts: the sweep shards over them
  main()
