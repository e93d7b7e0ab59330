"""Exact zeros: which L1 implementations make weights exactly 0, and what L2 does instead.

Oppermann's guide says L1 "forces the weights to zero" while L2 only pushes them
"towards zero". That holds for the *proximal* forms of L1, not for the plain
subgradient form most code uses. An MLP on MNIST-1D is trained with SGD for
every alpha of a log grid × seeds under five regularizers (one ``jaxreg.sweep``
with the regularizer as a ``static`` axis, so each compiles once):

* ``add_l1``: subgradient L1, ``u ← u + alpha·sign(w)`` before SGD (seed Eq. 7);
* ``proximal_l1``: SGD step, then soft-thresholding by ``lr·alpha`` (ISTA/FOBOS);
* ``cumulative_l1``: SGD step, then Tsuruoka et al.'s (2009) clipped cumulative penalty;
* ``add_l2``: coupled L2 before SGD (with SGD, weight decay);
* ``proximal_group_lasso``: SGD step, then block soft-thresholding of each hidden
  unit's incoming weights (whole units become exactly 0: dead neurons).

Biases are never regularized (``mask=jaxreg.masks.weights_only``); the zero
fraction counts exactly-zero kernel entries (``w == 0.0``), the dead neurons
are hidden units whose whole incoming kernel column is exactly 0.

Claim checked: the proximal and cumulative forms of L1 give exact zeros (a
majority of the weights at the larger alphas) while the subgradient ``add_l1``
and ``add_l2`` give essentially none (< 0.1% at every alpha), and group lasso
removes whole neurons.

Outputs: ``sparsity.csv`` (``method, alpha, seed, zero_fraction, dead_neurons,
dead_fraction, test_accuracy, train_accuracy``), ``sparsity.png``,
``sparsity.json``, ``sparsity.md`` (the table printed).

Run: ``python -m experiments.sparsity [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np
import optax

import jaxreg
from experiments import _common

NAME = "sparsity"
METHODS = ("add_l1", "proximal_l1", "cumulative_l1", "add_l2", "proximal_group_lasso")
FULL = {"n_train": None, "hidden": (64, 64), "steps": 3000, "batch_size": 100, "lr": 0.1,
        "alphas": (1e-6, 1e-1, 21), "seeds": 2}
QUICK = {"n_train": 500, "hidden": (32, 32), "steps": 300, "batch_size": 50, "lr": 0.1,
         "alphas": (1e-4, 1e-2, 3), "seeds": 1}
METRICS = ("zero_fraction", "dead_neurons", "dead_fraction", "test_accuracy", "train_accuracy")


class Raw(NamedTuple):
  cfg: dict
  result: jaxreg.SweepResult    # leaves (method, alpha, seed)
  alphas: np.ndarray


def make_optimizer(method: str, alpha, lr: float) -> optax.GradientTransformation:
  """Plain SGD with one regularizer placed as jaxreg prescribes (coupled before, proximal after)."""
  mask = jaxreg.masks.weights_only
  if method == "add_l1":
    return optax.chain(jaxreg.add_l1(alpha, mask=mask), optax.sgd(lr))
  if method == "add_l2":
    return optax.chain(jaxreg.add_l2(alpha, mask=mask), optax.sgd(lr))
  if method == "proximal_l1":
    return optax.chain(optax.sgd(lr), jaxreg.proximal_l1(alpha, lr, mask=mask))
  if method == "cumulative_l1":
    return optax.chain(optax.sgd(lr), jaxreg.cumulative_l1(alpha, lr, mask=mask))
  if method == "proximal_group_lasso":
    return optax.chain(optax.sgd(lr), jaxreg.proximal_group_lasso(alpha, lr, mask=mask))
  raise ValueError(f"method must be one of {METHODS}, got {method!r}.")


def run(args) -> Raw:
  """One sweep: ``alphas × seeds``, the regularizer a static axis (one compilation each)."""
  cfg = QUICK if args.quick else FULL
  data = _common.mnist1d(cfg["n_train"])
  alphas = np.geomspace(*cfg["alphas"])

  def fn(h, key):
    return _common.train(h, key, data=data, make_optimizer=lambda h: make_optimizer(h["method"], h["alpha"], cfg["lr"]),
                         steps=cfg["steps"], batch_size=cfg["batch_size"], hidden=cfg["hidden"])

  result = jaxreg.sweep(fn, {"alpha": alphas}, static={"method": list(METHODS)}, key=_common.key(0),
                        seeds=cfg["seeds"], progress=True)
  return Raw(cfg, result, alphas)


def rows(result, alphas):
  v = result.values
  return [{"method": m, "alpha": a, "seed": int(s), **{k: v[k][i, j, t] for k in METRICS}}
          for i, m in enumerate(METHODS) for j, a in enumerate(alphas) for t, s in enumerate(result.axes["seed"])]


def per_method(result, alphas):
  """Per method: the largest zero fraction, the best accuracy, and the sparsest net within 1 point of it."""
  v = result.values
  table = []
  for i, m in enumerate(METHODS):
    z, acc, dead = (v[k][i].mean(-1) for k in ("zero_fraction", "test_accuracy", "dead_neurons"))
    b = int(np.argmax(acc))
    ok = np.flatnonzero(acc >= acc[b] - 0.01)
    sp = int(ok[np.argmax(z[ok])])
    table.append({"method": m, "max_zero_fraction": float(z.max()), "best_test_accuracy": float(acc[b]),
                  "best_alpha": float(alphas[b]), "sparsest_alpha_within_1pt": float(alphas[sp]),
                  "zero_fraction_there": float(z[sp]), "test_accuracy_there": float(acc[sp]),
                  "dead_neurons_there": float(dead[sp]),
                  "max_dead_neurons": float(dead.max())})
  return table


def summarize(raw: Raw) -> _common.Summary:
  cfg, result, alphas = raw
  table = per_method(result, alphas)
  md = _common.markdown_table(table, ["method", "max_zero_fraction", "best_test_accuracy", "best_alpha",
                                      "sparsest_alpha_within_1pt", "zero_fraction_there", "test_accuracy_there",
                                      "dead_neurons_there", "max_dead_neurons"])
  t = {r["method"]: r for r in table}
  z_max = {m: float(result.values["zero_fraction"][i].max()) for i, m in enumerate(METHODS)}
  held = (t["proximal_l1"]["max_zero_fraction"] > 0.5 and t["cumulative_l1"]["max_zero_fraction"] > 0.5
          and z_max["add_l1"] < 1e-3 and z_max["add_l2"] < 1e-3 and t["proximal_group_lasso"]["max_dead_neurons"] > 0)
  measured = (f"largest fraction of exact zeros over alphas: proximal_l1 {z_max['proximal_l1']:.3f}, "
              f"cumulative_l1 {z_max['cumulative_l1']:.3f}, proximal_group_lasso {z_max['proximal_group_lasso']:.3f}, "
              f"add_l1 {z_max['add_l1']:.2g}, add_l2 {z_max['add_l2']:.2g}; group lasso removes up to "
              f"{t['proximal_group_lasso']['max_dead_neurons']:.0f} hidden units; within 1 point of their best test "
              f"accuracy, proximal_l1 zeroes {t['proximal_l1']['zero_fraction_there']:.0%} of the weights, "
              f"cumulative_l1 {t['cumulative_l1']['zero_fraction_there']:.0%}, and group lasso "
              f"{t['proximal_group_lasso']['zero_fraction_there']:.0%} "
              f"({t['proximal_group_lasso']['dead_neurons_there']:.0f} dead neurons)")
  return _common.Summary(
      rows=rows(result, alphas), columns=["method", "alpha", "seed", *METRICS], markdown=md + "\n",
      markdown_file=True,
      claim="L1 in proximal (ISTA) or cumulative (Tsuruoka et al. 2009) form makes weights exactly zero; "
            "subgradient L1 (add_l1) and L2 (add_l2) only push them towards zero; group lasso removes whole neurons.",
      held=held, measured=measured, seeds=[int(s) for s in result.axes["seed"]],
      fields={"config": {**cfg, "dataset": "MNIST-1D" + ("" if cfg["n_train"] is None else
                                                        f" ({cfg['n_train']} train)"),
                         "optimizer": "SGD", "methods": list(METHODS)},
              "summary": table, "figure_caption": "Fraction of exactly-zero weights, test accuracy and dead neurons "
                                                  "against alpha for five regularizers; mean over seeds, "
                                                  "band = min–max."})


def plot(raw: Raw, summary: _common.Summary):
  _, result, alphas = raw
  plt = _common.pyplot()
  v = result.values
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
  styles = {"add_l1": ("tab:orange", "--"), "proximal_l1": ("tab:blue", "-"), "cumulative_l1": ("tab:green", "-"),
            "add_l2": ("tab:red", ":"), "proximal_group_lasso": ("tab:purple", "-.")}
  for i, m in enumerate(METHODS):
    c, ls = styles[m]
    for ax, k in zip(axes, ("zero_fraction", "test_accuracy", "dead_fraction")):
      _common.band(ax, alphas, v[k][i].T, label=m, color=c, ls=ls)
  axes[0].set_ylabel("fraction of kernel weights exactly 0.0")
  axes[1].set_ylabel("test accuracy")
  axes[2].set_ylabel("dead fraction of hidden units\n(all incoming weights exactly 0)")
  for ax, t in zip(axes, ("exact zeros", "accuracy", "dead neurons")):
    ax.set_xlabel("alpha (log scale)")
    ax.set_title(t)
    ax.grid(alpha=0.3, which="both", lw=0.5)
  axes[0].legend(fontsize=8)
  axes[0].text(0.03, 0.5, "add_l1, add_l2: no exact zero\nat any alpha (lines at 0)", transform=axes[0].transAxes,
               fontsize=8, color="gray")
  n = len(result.axes["seed"])
  fig.suptitle(f"MNIST-1D MLP, SGD: only proximal / cumulative L1 and group lasso give exact zeros "
               f"(mean of {n} seed{'s' if n > 1 else ''}, band = min–max)")
  fig.tight_layout()
  return fig


def readme(record: dict, rows: list[dict], figure: str) -> str:
  """The README's paragraph on this experiment, from its JSON record and CSV rows."""
  t = {r["method"]: r for r in record["summary"]}
  z_max = {m: max(float(r["zero_fraction"]) for r in rows if r["method"] == m) for m in t}
  n_alphas, n_hidden = record["config"]["alphas"][2], sum(record["config"]["hidden"])
  never = [m for m in ("add_l1", "add_l2") if z_max[m] == 0]
  first = (f"Subgradient L1 (`add_l1`, Oppermann's Eq. 7) and L2 never produce an exact zero at any of {n_alphas} "
           "alphas" if len(never) == 2 else
           f"Largest fraction of exact zeros: `add_l1` {z_max['add_l1']:.2g}, `add_l2` {z_max['add_l2']:.2g}")
  g = t["proximal_group_lasso"]
  text = (f"{first}; `proximal_l1` and `cumulative_l1` do: within 1 point of their best test accuracy they zero "
          f"{t['proximal_l1']['zero_fraction_there']:.0%} and {t['cumulative_l1']['zero_fraction_there']:.0%} of the "
          f"weights, and `proximal_group_lasso` removes {g['dead_neurons_there']:.0f} of {n_hidden} hidden neurons."
          + ("" if record["held"] else " The claim did **not** hold in this run."))
  return _common.readme_paragraph("**L1 forces weights to zero — in proximal form** (`sparsity`).",
                                  f"![sparsity]({figure})", text)


def main(argv=None) -> dict:
  return _common.run_experiment(sys.modules[__name__], argv)


if __name__ == "__main__":
  jaxreg.use_cpu_devices()   # every core a JAX device, before JAX starts: the sweep shards over them
  main()
