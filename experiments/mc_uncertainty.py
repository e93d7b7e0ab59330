"""MC dropout against weight scaling: accuracy, NLL, calibration and rejection by predictive entropy.

Paper: Gal & Ghahramani, *Dropout as a Bayesian Approximation: Representing
Model Uncertainty in Deep Learning*, ICML 2016. A network trained with dropout
is an approximate Bayesian posterior; averaging the softmax over ``T`` dropout
masks at test time ("MC dropout", their Eq. 8) gives the predictive
distribution, which they report has better test log-likelihood than the
standard weight-scaling rule (using the mean network; with inverted dropout,
the trained net as is).

Setting: MNIST-1D (4000 train / 1000 test), MLP 40-256-256-10 (ReLU, He init),
inverted dropout on both hidden layers, Adam (lr 2e-3), batch 100, 4000 steps —
the setting of ``dropout_mnist1d``. Dropout rates {0.1, 0.2, 0.3, 0.4, 0.5} × 4
seeds are **one** ``jaxreg.sweep``; inside each run the test set is predicted by
weight scaling and by ``jaxreg.mc_predict`` (mean softmax over ``T`` masks) for
``T ∈ {1, 2, 5, 10, 20, 50, 100}`` (independent keys per ``T``). Metrics:
accuracy; negative log-likelihood ``−mean log p̄(y|x)`` (MC: the log of the mean
probability, floored at 1e-30); expected calibration error (Guo et al. 2017:
15 equal-width confidence bins ``((b−1)/15, b/15]``, confidence = the largest
mean probability, ``ECE = Σ_b |B_b|/N · |acc(B_b) − conf(B_b)|``); and an
accuracy–rejection curve: accuracy on the fraction of test points with the
lowest predictive entropy ``H(p̄)``, for retained fractions 10%…100%.

Claim checked (decided before the run): at the best rate (the rate of highest
seed-mean weight-scaling test accuracy), MC dropout with T = 100 has lower NLL
**and** lower ECE than weight scaling, each by more than 2 standard errors of
the paired (same seed) difference.

Outputs (``--out DIR``, default ``experiments/results/``): ``mc_uncertainty.csv``
(one row per rate × seed × method, method ∈ {weight_scaling, mc_T1 … mc_T100}:
accuracy, nll, ece, and the rejection curve's accuracies ``acc_keep10`` …
``acc_keep100`` for weight scaling and T = 100), ``mc_uncertainty.png``,
``mc_uncertainty.json``.

Run: ``python -m experiments.mc_uncertainty [--quick] [--out DIR]``.

References:
  Gal & Ghahramani, ICML 2016. Guo, Pleiss, Sun & Weinberger, *On Calibration
  of Modern Neural Networks*, ICML 2017 (ECE). Srivastava et al., JMLR 2014
  (weight scaling). Greydanus 2020 (MNIST-1D).
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg
from experiments import _common

NAME = "mc_uncertainty"
N_BINS = 15
FULL = dict(hidden=(256, 256), steps=4000, lr=2e-3, batch_size=100, seeds=4, rates=(0.1, 0.2, 0.3, 0.4, 0.5),
            ts=(1, 2, 5, 10, 20, 50, 100), keep=tuple(np.round(np.arange(0.1, 1.01, 0.1), 1)))
QUICK = dict(hidden=(64, 64), steps=200, lr=2e-3, batch_size=100, seeds=2, rates=(0.2, 0.5), ts=(1, 4, 16),
             keep=(0.5, 1.0))
MC_CHUNK = 10   # MC samples evaluated at once (jax.lax.map chunks) to bound memory


class Raw(NamedTuple):
  cfg: dict
  result: jaxreg.SweepResult    # leaves (rate, seed, ...)


def ece(probs, labels, n_bins: int = N_BINS):
  """Expected calibration error with ``n_bins`` equal-width confidence bins ``((b − 1)/n_bins, b/n_bins]``.

  ``ECE = Σ_b |B_b|/N · |accuracy(B_b) − mean confidence(B_b)|``, confidence = ``max_k probs[i, k]``,
  correct = ``argmax_k probs[i, k] == labels[i]`` (Guo et al. 2017, Eq. 3). Works on jax or numpy arrays.
  """
  probs = jnp.asarray(probs)
  conf = probs.max(-1)
  correct = (jnp.argmax(probs, -1) == labels).astype(probs.dtype)
  b = jnp.clip(jnp.ceil(conf * n_bins).astype(jnp.int32) - 1, 0, n_bins - 1)
  gap = jax.ops.segment_sum(correct - conf, b, n_bins)       # Σ (correct − conf) over a bin = |B|(acc − conf)
  return jnp.sum(jnp.abs(gap)) / conf.shape[0]


def metrics(probs, labels, keep):
  """Accuracy, NLL (log of ``probs`` floored at 1e-30), ECE, and accuracy on the lowest-entropy fractions ``keep``."""
  p_y = jnp.take_along_axis(probs, labels[:, None], -1)[:, 0]
  correct = (jnp.argmax(probs, -1) == labels).astype(jnp.float32)
  entropy = -jnp.sum(probs * jnp.log(jnp.maximum(probs, 1e-30)), -1)
  cum = jnp.cumsum(correct[jnp.argsort(entropy)])
  n = labels.shape[0]
  ks = np.maximum(np.round(np.asarray(keep) * n).astype(int), 1)
  return {"accuracy": correct.mean(), "nll": -jnp.mean(jnp.log(jnp.maximum(p_y, 1e-30))), "ece": ece(probs, labels),
          "rejection": cum[ks - 1] / ks}


def make_run(cfg, data):
  """``fn(hparams, key)``: train with ``hparams["dropout"]``, then evaluate weight scaling and MC for every T."""
  x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)

  def run(h, key):
    out = _common.train(h, key, data=data, make_optimizer=lambda h: optax.adam(cfg["lr"]), steps=cfg["steps"],
                        batch_size=cfg["batch_size"], hidden=cfg["hidden"], return_params=True)
    params = out.pop("params")
    ws = metrics(jax.nn.softmax(_common.apply_mlp(params, x_te)), y_te, cfg["keep"])

    def probs(k):
      return jax.nn.softmax(_common.apply_mlp(params, x_te, dropout=h["dropout"], key=k))

    mc = []
    for i, t in enumerate(cfg["ts"]):
      mean, _ = jaxreg.mc_predict(probs, jax.random.fold_in(key, 10_000 + i), t, batch_size=min(t, MC_CHUNK))
      mc.append(metrics(mean, y_te, cfg["keep"]))
    mc = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *mc)       # leaves (len(ts), ...)
    return {"train_accuracy": out["train_accuracy"], "ws": ws, "mc": mc}

  return run


def run(args) -> Raw:
  cfg = QUICK if args.quick else FULL
  data = _common.mnist1d()
  result = jaxreg.sweep(make_run(cfg, data), {"dropout": np.asarray(cfg["rates"], np.float32)}, key=_common.key(0),
                        seeds=cfg["seeds"], chunk_size=len(cfg["rates"]))
  return Raw(cfg, result)


def _leaf(result, path):
  """The result leaf at ``"a/b"`` (``result.values["a"]["b"]``) as a float numpy array."""
  v = result.values
  for part in path.split("/"):
    v = v[part]
  return np.asarray(v, float)


def _paired(a, b):
  """Mean of ``a − b`` over the last axis and its standard error (ddof 1)."""
  d = np.asarray(a) - np.asarray(b)
  se = d.std(-1, ddof=1) / math.sqrt(d.shape[-1]) if d.shape[-1] > 1 else np.zeros(d.shape[:-1])
  return d.mean(-1), se


def summarize(raw: Raw) -> _common.Summary:
  cfg, result = raw
  rates, ts, keep = np.asarray(cfg["rates"]), tuple(cfg["ts"]), tuple(cfg["keep"])
  seeds = [int(s) for s in result.axes["seed"]]
  get = lambda name: _leaf(result, name)
  ws = {m: get(f"ws/{m}") for m in ("accuracy", "nll", "ece", "rejection")}      # (rate, seed[, keep])
  mc = {m: get(f"mc/{m}") for m in ("accuracy", "nll", "ece", "rejection")}      # (rate, seed, T[, keep])

  rows = []
  for i, r in enumerate(rates):
    for j, s in enumerate(seeds):
      methods = [("weight_scaling", None)] + [(f"mc_T{t}", n) for n, t in enumerate(ts)]
      for name, n in methods:
        src = ws if n is None else {m: v[:, :, n] for m, v in mc.items()}
        row = {"dropout": float(r), "seed": s, "method": name, "T": 0 if n is None else ts[n],
               "accuracy": src["accuracy"][i, j], "nll": src["nll"][i, j], "ece": src["ece"][i, j]}
        rej = src["rejection"][i, j] if (n is None or n == len(ts) - 1) else [math.nan] * len(keep)
        row.update({f"acc_keep{round(100 * k)}": rej[q] for q, k in enumerate(keep)})
        rows.append(row)
  columns = ["dropout", "seed", "method", "T", "accuracy", "nll", "ece", *[f"acc_keep{round(100 * k)}" for k in keep]]

  best = int(np.argmax(ws["accuracy"].mean(1)))
  d_nll, se_nll = _paired(mc["nll"][best, :, -1], ws["nll"][best])
  d_ece, se_ece = _paired(mc["ece"][best, :, -1], ws["ece"][best])
  d_acc, se_acc = _paired(mc["accuracy"][best, :, -1], ws["accuracy"][best])
  held_nll, held_ece = bool(d_nll < -2 * se_nll), bool(d_ece < -2 * se_ece)
  per_rate = []
  for i, r in enumerate(rates):
    dn, sn = _paired(mc["nll"][i, :, -1], ws["nll"][i])
    de, se = _paired(mc["ece"][i, :, -1], ws["ece"][i])
    per_rate.append({"rate": float(r), "ws_accuracy": float(ws["accuracy"][i].mean()),
                     "mc_accuracy": float(mc["accuracy"][i, :, -1].mean()),
                     "ws_nll": float(ws["nll"][i].mean()), "mc_nll": float(mc["nll"][i, :, -1].mean()),
                     "nll_diff": float(dn), "nll_diff_se": float(sn),
                     "ws_ece": float(ws["ece"][i].mean()), "mc_ece": float(mc["ece"][i, :, -1].mean()),
                     "ece_diff": float(de), "ece_diff_se": float(se)})
  b = per_rate[best]
  t_max = ts[-1]
  claims = [
      {"claim": f"at the best rate, MC dropout (T = {t_max}) has lower test NLL than weight scaling (> 2 paired SE)",
       "held": held_nll, "measured": f"rate {b['rate']:.1f}: NLL {b['ws_nll']:.4f} → {b['mc_nll']:.4f} "
                                     f"(Δ {d_nll:+.4f} ± {se_nll:.4f})"},
      {"claim": f"at the best rate, MC dropout (T = {t_max}) has lower ECE than weight scaling (> 2 paired SE)",
       "held": held_ece, "measured": f"ECE {b['ws_ece']:.4f} → {b['mc_ece']:.4f} (Δ {d_ece:+.4f} ± {se_ece:.4f})"},
  ]
  measured = (f"{claims[0]['measured']}; {claims[1]['measured']}; accuracy {b['ws_accuracy']:.4f} → "
              f"{b['mc_accuracy']:.4f} (Δ {d_acc:+.4f} ± {se_acc:.4f}); mean ± paired SE over {len(seeds)} seeds")
  md = _common.markdown_table(per_rate, ["rate", "ws_accuracy", "mc_accuracy", "ws_nll", "mc_nll", "ws_ece",
                                         "mc_ece"])
  rej_ws, rej_mc = ws["rejection"][best].mean(0), mc["rejection"][best, :, -1].mean(0)
  return _common.Summary(
      rows=rows, columns=columns, markdown=md,
      claim=("MC dropout (Gal & Ghahramani 2016) improves test NLL and expected calibration error over the "
             "weight-scaling rule at the best dropout rate"),
      held=held_nll and held_ece, measured=measured, seeds=seeds,
      fields={"claims": claims, "best_rate": float(rates[best]), "per_rate": per_rate,
              "accuracy_diff": float(d_acc), "accuracy_diff_se": float(se_acc),
              "rejection_best_rate": {"keep": list(keep), "weight_scaling": rej_ws.tolist(),
                                      f"mc_T{t_max}": rej_mc.tolist()},
              "config": {**{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
                         "n_bins": N_BINS, "dataset": "MNIST-1D (4000 train / 1000 test)",
                         "n_runs": int(np.prod(result.shape))},
              "figure_caption": "NLL and ECE against the number of MC samples T (dashed: weight scaling), the "
                                "reliability of both at the best rate, and accuracy against the fraction of test "
                                "points kept by lowest predictive entropy; means over seeds."},
      context={"ws": ws, "mc": mc, "best": best})


def plot(raw: Raw, summary: _common.Summary):
  cfg, _ = raw
  c = summary.context
  ws, mc, best = c["ws"], c["mc"], c["best"]
  rates, ts, keep = cfg["rates"], cfg["ts"], cfg["keep"]
  plt = _common.pyplot()
  fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
  for ax, m, label in ((axes[0], "nll", "test NLL"), (axes[1], "ece", f"ECE ({N_BINS} bins)")):
    for i, r in enumerate(rates):
      (line,) = ax.plot(ts, mc[m][i].mean(0), "o-", ms=3, label=f"MC, rate {r:.1f}")
      ax.axhline(ws[m][i].mean(), color=line.get_color(), ls="--", lw=1)
    ax.set(xscale="log", xlabel="MC samples T", ylabel=label, title=f"{label}: MC (solid) vs weight scaling (dashed)")
  axes[0].legend(fontsize=7)
  ax = axes[2]
  ax.plot(ts, 100 * mc["accuracy"][best].mean(0), "o-", ms=3, color="C0", label="MC")
  ax.axhline(100 * ws["accuracy"][best].mean(), color="C0", ls="--", label="weight scaling")
  ax.set(xscale="log", xlabel="MC samples T", ylabel="test accuracy (%)", title=f"accuracy at rate {rates[best]:.1f}")
  ax.legend(fontsize=7)
  ax = axes[3]
  ax.plot(100 * np.asarray(keep), 100 * ws["rejection"][best].mean(0), "s--", ms=3, label="weight scaling")
  ax.plot(100 * np.asarray(keep), 100 * mc["rejection"][best, :, -1].mean(0), "o-", ms=3, label=f"MC, T = {ts[-1]}")
  ax.set(xlabel="test points kept (%), lowest predictive entropy first", ylabel="accuracy on kept points (%)",
         title=f"accuracy–rejection, rate {rates[best]:.1f}")
  ax.invert_xaxis()
  ax.legend(fontsize=7)
  fig.suptitle("MNIST-1D MLP with dropout: MC dropout vs the weight-scaling rule (means over seeds)", y=1.01)
  fig.tight_layout()
  return fig


def readme(record: dict, rows: list[dict], figure: str) -> str:
  """The README's paragraph on this experiment, from its JSON record."""
  cfg, cl = record["config"], record["claims"]
  b = next(p for p in record["per_rate"] if p["rate"] == record["best_rate"])
  rej = record["rejection_best_rate"]
  t_max = cfg["ts"][-1]
  sizes = "-".join(map(str, [40, *cfg["hidden"], 10]))

  def better(m):
    rates = [f"{p['rate']:.1f}" for p in record["per_rate"] if p[f"{m}_diff"] < -2 * p[f"{m}_diff_se"]]
    return ", ".join(rates) or "none"

  verdict = ("lower NLL and ECE than weight scaling, beyond seed noise — the claim held" if record["held"] else
             "the claim did **not** hold (" + "; ".join(f"{c['claim'].split(',')[1].strip()}: "
                                                         f"{'held' if c['held'] else 'not held'}" for c in cl) + ")")
  text = (f"A {sizes} MLP with dropout ({len(cfg['rates'])} rates × {len(record['seeds'])} seeds, one sweep) on "
          f"MNIST-1D; best rate {record['best_rate']:.1f} ({100 * b['ws_accuracy']:.1f}% test accuracy with weight "
          f"scaling, {100 * b['mc_accuracy']:.1f}% with MC dropout, T = {t_max}). MC dropout gives NLL "
          f"{b['ws_nll']:.3f} → {b['mc_nll']:.3f} and ECE ({cfg['n_bins']} bins) {b['ws_ece']:.3f} → "
          f"{b['mc_ece']:.3f}: {verdict}. Over all rates, MC dropout lowers the NLL at rate(s) {better('nll')} and "
          f"the ECE at rate(s) {better('ece')} (paired difference below −2 SE). Keeping the {100 * rej['keep'][len(rej['keep']) // 2 - 1]:.0f}% "
          f"lowest-entropy test points raises accuracy to {100 * rej[f'mc_T{t_max}'][len(rej['keep']) // 2 - 1]:.1f}%"
          f" (MC) / {100 * rej['weight_scaling'][len(rej['keep']) // 2 - 1]:.1f}% (weight scaling).")
  return _common.readme_paragraph(
      "**MC dropout uncertainty** (`mc_uncertainty`, Gal & Ghahramani 2016).", f"![mc dropout]({figure})", text)


def main(argv=None) -> dict:
  return _common.run_experiment(sys.modules[__name__], argv)


if __name__ == "__main__":
  jaxreg.use_cpu_devices()   # every core a JAX device, before JAX starts: the sweep shards over them
  main()
