"""Concrete dropout's learned rate against the best rate of a dropout-rate grid.

Paper: Gal, Hron & Kendall, *Concrete Dropout*, NeurIPS 2017. The dropout rate
is learned by gradient through a continuous relaxation of the Bernoulli mask
(``jaxreg.concrete_dropout``, temperature 0.1), with the variational
regularizer ``l²/N · ‖W‖²/(1 − p) − (2/N)·K·H(p)`` per dropout layer
(``jaxreg.concrete_dropout_regularizer``: prior length-scale ``l``, ``N``
training points, ``K`` dropped units, ``2/(τN)`` with ``τ = 1`` for
classification, as in the authors' code), which they say removes the grid
search over the rate.

Setting: MNIST-1D (4000 train / 1000 test), MLP 40-256-256-10 (ReLU, He init),
dropout on both hidden layers' outputs, Adam (lr 2e-3), batch 100, 4000 steps
(the setting of ``dropout_mnist1d``). Two sweeps:

* **the grid**: ordinary (inverted) dropout at rates {0, 0.1, …, 0.8} × 5 seeds,
  one ``jaxreg.sweep``;
* **Concrete dropout**: one learned rate per hidden layer (initialized at 0.1,
  the paper's choice), prior length-scales ``l ∈ {1e-4, 1e-2, 1}`` (``l = 1e-4``
  is the authors' example code) × 5 seeds, one ``jaxreg.sweep``. The rate logits
  are trained by the same Adam as the weights; the regularizer of layer ``i``
  uses the kernel that receives its dropped units (the input layer's kernel is
  not regularized, as there is no input dropout). Test predictions use the
  trained net as is (inverted dropout: weight scaling).

The "good region" is fixed before the run: the grid rates whose seed-mean test
error is within one standard error (std over seeds, ddof 1, over √5) of the
best rate's, and the interval they span.

Claim checked: for every length-scale, the seed-mean learned rate of each hidden
layer lies within the good region's interval (widened by half a grid step,
0.05, since the grid resolves 0.1). Also reported: Concrete dropout's test
error against the best grid rate's, and the rate chosen by successive halving
(``jaxreg.successive_halving``, issue 11) over the same grid: η = 3, 3 rungs of
444, 1333 and 4000 cumulative steps (9 → 3 → 1 rates, × 5 seeds), ranked by the
seed-mean test error like the grid (an oracle choice, as the grid's), with
whether it lands in the good region and the fraction of the grid's steps it spent.

Outputs (``--out DIR``, default ``experiments/results/``): ``concrete_rate.csv``
(one row per run: ``method`` ∈ {grid, concrete}, ``rate`` (grid) or
``lengthscale`` (concrete), seed, learned rates of layers 1 and 2, train and
test error), ``concrete_rate.png``, ``concrete_rate.json``.

Run: ``python -m experiments.concrete_rate [--quick] [--out DIR]``.

References:
  Gal, Hron & Kendall, NeurIPS 2017 (and github.com/yaringal/ConcreteDropout).
  Srivastava et al., JMLR 2014. Greydanus 2020 (MNIST-1D).
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

NAME = "concrete_rate"
INIT_RATE = 0.1       # Gal et al.'s initial rate
TEMPERATURE = 0.1     # Gal et al.'s relaxation temperature
FULL = dict(hidden=(256, 256), steps=4000, lr=2e-3, batch_size=100, seeds=5,
            rates=tuple(np.round(np.arange(0.0, 0.81, 0.1), 1)), lengthscales=(1e-4, 1e-2, 1.0), eta=3, n_rungs=3)
QUICK = dict(hidden=(32, 32), steps=120, lr=2e-3, batch_size=100, seeds=2, rates=(0.0, 0.3, 0.6),
             lengthscales=(1e-2,), eta=3, n_rungs=2)
COLUMNS = ["method", "rate", "lengthscale", "seed", "learned_rate_1", "learned_rate_2", "train_error", "test_error"]


class Raw(NamedTuple):
  cfg: dict
  grid: jaxreg.SweepResult       # leaves (rate, seed)
  concrete: jaxreg.SweepResult   # leaves (lengthscale, seed, ...)
  halving: object                # a jaxreg.HalvingResult, or None when jaxreg has no successive_halving


def apply_concrete(params, logits, x, key=None):
  """Logits of the MLP with Concrete dropout on every hidden layer's output (``key=None``: deterministic)."""
  h = x
  keys = jax.random.split(key, len(logits)) if key is not None else [None] * len(logits)
  for i, layer in enumerate(params):
    h = h @ layer["w"] + layer["b"]
    if i < len(params) - 1:
      h = jaxreg.concrete_dropout(keys[i], jax.nn.relu(h), logits[i], temperature=TEMPERATURE,
                                  deterministic=key is None)
  return h


def train_concrete(h, key, *, data: _common.Data, cfg) -> dict:
  """Train weights and rate logits with Adam on cross-entropy + Σ_layers Concrete regularizer(l = h["lengthscale"])."""
  x_tr, y_tr = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
  x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
  n, bs = len(data.x_train), cfg["batch_size"]
  per_epoch = n // bs
  k_init, k_data, k_drop = jax.random.split(key, 3)
  perms = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(k_data, e), n))(
      jnp.arange(-(-cfg["steps"] // per_epoch)))
  sizes = (data.n_features, *cfg["hidden"], data.n_classes)
  logit0 = math.log(INIT_RATE / (1 - INIT_RATE))
  state = {"params": _common.init_mlp(k_init, sizes), "logits": jnp.full((len(cfg["hidden"]),), logit0, jnp.float32)}
  wr, dr = h["lengthscale"] ** 2 / n, 2.0 / n
  opt = optax.adam(cfg["lr"])

  def loss_fn(st, xb, yb, k):
    nll = optax.softmax_cross_entropy_with_integer_labels(apply_concrete(st["params"], st["logits"], xb, k), yb).mean()
    reg = sum(jaxreg.concrete_dropout_regularizer(st["logits"][i], st["params"][i + 1]["w"], input_dim=sizes[i + 1],
                                                  weight_regularizer=wr, dropout_regularizer=dr)
              for i in range(len(cfg["hidden"])))
    return nll + reg

  def step(carry, t):
    st, s = carry
    idx = jax.lax.dynamic_slice(perms[t // per_epoch], ((t % per_epoch) * bs,), (bs,))
    grads = jax.grad(loss_fn)(st, x_tr[idx], y_tr[idx], jax.random.fold_in(k_drop, t))
    updates, s = opt.update(grads, s, st)
    return (optax.apply_updates(st, updates), s), None

  (state, _), _ = jax.lax.scan(step, (state, opt.init(state)), jnp.arange(cfg["steps"]))
  err = lambda x, y: jnp.mean(jnp.argmax(apply_concrete(state["params"], state["logits"], x), -1) != y)
  return {"learned_rate": jax.nn.sigmoid(state["logits"]), "train_error": err(x_tr, y_tr),
          "test_error": err(x_te, y_te)}


def staged(cfg, data: _common.Data):
  """Dropout-MLP training as ``init(h, key)``, ``train(state, h, key, steps)``, ``evaluate(state, h)`` for halving.

  ``init`` draws the weights from ``split(key)[0]``; ``train`` draws the minibatch order (a permutation per
  epoch) and the dropout masks from its own ``key``; ``evaluate`` returns the test error of the net as is.
  """
  x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
  x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
  n, bs = len(data.x_train), cfg["batch_size"]
  per_epoch = n // bs
  sizes = (data.n_features, *cfg["hidden"], data.n_classes)
  opt = optax.adam(cfg["lr"])

  def init(h, key):
    params = _common.init_mlp(jax.random.split(key)[0], sizes)
    return {"params": params, "opt": opt.init(params)}

  def train(state, h, key, steps):
    k_data, k_drop = jax.random.split(key)
    perms = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(k_data, e), n))(
        jnp.arange(-(-steps // per_epoch)))

    def loss(p, xb, yb, k):
      logits = _common.apply_mlp(p, xb, dropout=h["dropout"], key=k)
      return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(carry, t):
      p, s = carry
      idx = jax.lax.dynamic_slice(perms[t // per_epoch], ((t % per_epoch) * bs,), (bs,))
      u, s = opt.update(jax.grad(loss)(p, x[idx], y[idx], jax.random.fold_in(k_drop, t)), s, p)
      return (optax.apply_updates(p, u), s), None

    (p, s), _ = jax.lax.scan(step, (state["params"], state["opt"]), jnp.arange(steps))
    return {"params": p, "opt": s}

  def evaluate(state, h):
    return {"test_error": jnp.mean(jnp.argmax(_common.apply_mlp(state["params"], x_te), -1) != y_te)}

  return init, train, evaluate


def run(args) -> Raw:
  cfg = QUICK if args.quick else FULL
  data = _common.mnist1d()

  def grid_fn(h, key):
    return _common.train(h, key, data=data, make_optimizer=lambda h: optax.adam(cfg["lr"]), steps=cfg["steps"],
                         batch_size=cfg["batch_size"], hidden=cfg["hidden"])

  rates = np.asarray(cfg["rates"], np.float32)
  grid = jaxreg.sweep(grid_fn, {"dropout": rates}, key=_common.key(0), seeds=cfg["seeds"], chunk_size=len(rates))
  concrete = jaxreg.sweep(lambda h, key: train_concrete(h, key, data=data, cfg=cfg),
                          {"lengthscale": np.asarray(cfg["lengthscales"], np.float32)}, key=_common.key(0),
                          seeds=cfg["seeds"])
  halving = None
  if hasattr(jaxreg, "successive_halving"):
    halving = jaxreg.successive_halving(*staged(cfg, data), {"dropout": rates}, key=_common.key(0),
                                        seeds=cfg["seeds"], eta=cfg["eta"], n_rungs=cfg["n_rungs"],
                                        max_steps=cfg["steps"], metric="test_error")
  return Raw(cfg, grid, concrete, halving)


def good_region(rates, test_error) -> tuple[int, float, float, np.ndarray]:
  """The grid's best rate and good region (decided before the run).

  Args:
    rates: ``(n_rates,)``.
    test_error: ``(n_rates, seeds)``.

  Returns:
    ``(best index, lo, hi, good)``: ``good`` marks the rates whose seed-mean test error is at most the best
    mean plus the best rate's standard error (std ddof 1 / √seeds); ``[lo, hi]`` is the interval they span.
  """
  mean = test_error.mean(1)
  s = test_error.shape[1]
  best = int(np.argmin(mean))
  se = float(test_error[best].std(ddof=1) / math.sqrt(s)) if s > 1 else 0.0
  good = mean <= mean[best] + se
  return best, float(np.min(rates[good])), float(np.max(rates[good])), good


def summarize(raw: Raw) -> _common.Summary:
  cfg, grid, concrete, halving = raw
  rates, ls = np.asarray(cfg["rates"], float), np.asarray(cfg["lengthscales"], float)
  seeds = [int(s) for s in grid.axes["seed"]]
  g_te, g_tr = np.asarray(grid.values["test_error"], float), np.asarray(grid.values["train_error"], float)
  c_te, c_tr = np.asarray(concrete.values["test_error"], float), np.asarray(concrete.values["train_error"], float)
  learned = np.asarray(concrete.values["learned_rate"], float)          # (lengthscale, seed, layer)

  best, lo, hi, good = good_region(rates, g_te)
  half = 0.05
  per_l, held = [], True
  for i, l in enumerate(ls):
    m = learned[i].mean(0)
    ok = bool(np.all((m >= lo - half) & (m <= hi + half)))
    held &= ok
    per_l.append({"lengthscale": float(l), "learned_rate_1": float(m[0]), "learned_rate_2": float(m[1]),
                  "learned_rate_1_std": float(learned[i, :, 0].std(ddof=1)) if len(seeds) > 1 else 0.0,
                  "learned_rate_2_std": float(learned[i, :, 1].std(ddof=1)) if len(seeds) > 1 else 0.0,
                  "test_error": float(c_te[i].mean()),
                  "test_error_std": float(c_te[i].std(ddof=1)) if len(seeds) > 1 else 0.0,
                  "train_error": float(c_tr[i].mean()), "in_good_region": ok})
  rows = []
  for i, r in enumerate(rates):
    for j, s in enumerate(seeds):
      rows.append({"method": "grid", "rate": float(r), "lengthscale": "", "seed": s, "learned_rate_1": "",
                   "learned_rate_2": "", "train_error": g_tr[i, j], "test_error": g_te[i, j]})
  for i, l in enumerate(ls):
    for j, s in enumerate(seeds):
      rows.append({"method": "concrete", "rate": "", "lengthscale": float(l), "seed": s,
                   "learned_rate_1": learned[i, j, 0], "learned_rate_2": learned[i, j, 1],
                   "train_error": c_tr[i, j], "test_error": c_te[i, j]})
  if halving is not None:
    h_rate = float(halving.best["dropout"])
    h_info = {"best_rate": h_rate, "best_test_error": float(halving.best_score),
              "in_good_region": bool(lo - 0.025 <= h_rate <= hi + 0.025),
              "rungs": [{"steps": int(r.steps), "rates": [float(v) for v in np.asarray(r.hparams["dropout"])],
                         "test_error": [float(v) for v in np.asarray(r.score)]} for r in halving.rungs],
              "total_steps": int(halving.total_steps),
              "steps_fraction_of_grid": float(halving.total_steps / (len(rates) * len(seeds) * cfg["steps"]))}
  else:
    h_info = "not compared: jaxreg.successive_halving does not exist in this jaxreg"
  g_mean = g_te.mean(1)
  g_std = g_te.std(1, ddof=1) if len(seeds) > 1 else np.zeros(len(rates))
  measured = (f"grid: best rate {rates[best]:.1f} (test error {100 * g_mean[best]:.1f} ± {100 * g_std[best]:.1f}%), "
              f"good region [{lo:.1f}, {hi:.1f}] (rates within 1 SE of the best); Concrete dropout learned rates "
              + "; ".join(f"l = {p['lengthscale']:g}: {p['learned_rate_1']:.3f} / {p['learned_rate_2']:.3f} "
                          f"(test error {100 * p['test_error']:.1f} ± {100 * p['test_error_std']:.1f}%)"
                          for p in per_l)
              + f"; mean ± std over {len(seeds)} seeds"
              + (f"; successive halving picks rate {h_info['best_rate']:.1f} with "
                 f"{100 * h_info['steps_fraction_of_grid']:.0f}% of the grid's steps" if isinstance(h_info, dict) else ""))
  claim = ("Concrete dropout (Gal, Hron & Kendall 2017) learns a rate inside the good region of a dropout-rate grid "
           "(rates within one standard error of the best), for every prior length-scale")
  md = _common.markdown_table(per_l, ["lengthscale", "learned_rate_1", "learned_rate_2", "test_error",
                                      "test_error_std", "in_good_region"])
  return _common.Summary(
      rows=rows, columns=COLUMNS, claim=claim, held=held, measured=measured, seeds=seeds, markdown=md,
      fields={"claims": [{"claim": claim, "held": held, "measured": measured}],
              "grid": [{"rate": float(r), "test_error": float(g_mean[i]), "test_error_std": float(g_std[i]),
                        "train_error": float(g_tr[i].mean()), "good": bool(good[i])} for i, r in enumerate(rates)],
              "best_rate": float(rates[best]), "good_region": [lo, hi], "concrete": per_l,
              "halving": h_info,
              "config": {**{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
                         "init_rate": INIT_RATE, "temperature": TEMPERATURE,
                         "weight_regularizer": "l**2 / N", "dropout_regularizer": "2 / N", "N": 4000,
                         "n_runs": int(np.prod(grid.shape) + np.prod(concrete.shape))},
              "figure_caption": "Left: grid test error against the dropout rate (mean ± std over seeds), the good "
                                "region shaded, Concrete dropout's learned rates (points, per layer and length-scale) "
                                "at their test error. Right: learned rates per seed."},
      context={"g_te": g_te, "c_te": c_te, "learned": learned, "lo": lo, "hi": hi, "best": best})


def plot(raw: Raw, summary: _common.Summary):
  cfg = raw.cfg
  c = summary.context
  rates, ls = np.asarray(cfg["rates"], float), cfg["lengthscales"]
  plt = _common.pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
  ax = axes[0]
  m, s = 100 * c["g_te"].mean(1), 100 * (c["g_te"].std(1, ddof=1) if c["g_te"].shape[1] > 1 else 0 * rates)
  ax.errorbar(rates, m, yerr=s, fmt="o-", color="k", ms=4, capsize=3, label="dropout grid (mean ± std)")
  ax.axvspan(c["lo"] - 0.05, c["hi"] + 0.05, color="C2", alpha=0.15, label="good region (± half a grid step)")
  for i, l in enumerate(ls):
    for layer, marker in ((0, "^"), (1, "v")):
      ax.errorbar(c["learned"][i, :, layer].mean(), 100 * c["c_te"][i].mean(), xerr=c["learned"][i, :, layer].std(),
                  fmt=marker, color=f"C{i}", ms=7, label=f"Concrete, l = {l:g}, layer {layer + 1}")
  if raw.halving is not None:
    ax.axvline(raw.halving.best["dropout"], color="C4", ls="--", lw=1, label="successive halving's choice")
  ax.set(xlabel="dropout rate", ylabel="test error (%)", title="MNIST-1D MLP: grid vs learned rate")
  ax.legend(fontsize=7)
  ax = axes[1]
  for i, l in enumerate(ls):
    for layer, marker in ((0, "^"), (1, "v")):
      ax.plot(np.arange(c["learned"].shape[1]) + 0.1 * i, c["learned"][i, :, layer], marker, color=f"C{i}",
              label=f"l = {l:g}, layer {layer + 1}")
  ax.axhspan(c["lo"] - 0.05, c["hi"] + 0.05, color="C2", alpha=0.15)
  ax.set(xlabel="seed", ylabel="learned rate", title="Concrete dropout's learned rate per seed")
  ax.legend(fontsize=7)
  fig.tight_layout()
  return fig


def _dropped(record: dict) -> str:
  """Where halving dropped the grid's best rate, e.g. ``": the grid's best rate 0.4 ranked 5th of 9 at 444 steps"``."""
  best, rungs = record["best_rate"], record["halving"]["rungs"]
  for i, rung in enumerate(rungs[:-1]):
    if best in rung["rates"] and best not in rungs[i + 1]["rates"]:
      rank = 1 + sorted(rung["test_error"]).index(rung["test_error"][rung["rates"].index(best)])
      return (f"; the grid's best rate {best:.1f} was dropped after {rung['steps']} steps, where it ranked {rank} of "
              f"{len(rung['rates'])} (short budgets favour little dropout)")
  return ""


def readme(record: dict, rows: list[dict], figure: str) -> str:
  """The README's paragraph on this experiment, from its JSON record."""
  cfg, lo, hi = record["config"], *record["good_region"]
  best = next(g for g in record["grid"] if g["rate"] == record["best_rate"])
  sizes = "-".join(map(str, [40, *cfg["hidden"], 10]))
  learned = "; ".join(f"l = {p['lengthscale']:g}: {p['learned_rate_1']:.2f} / {p['learned_rate_2']:.2f}, "
                      f"{100 * p['test_error']:.1f}% test error" for p in record["concrete"])
  text = (f"A {sizes} MLP on MNIST-1D: the dropout grid ({len(cfg['rates'])} rates × {len(record['seeds'])} seeds, "
          f"one sweep) is best at rate {record['best_rate']:.1f} ({100 * best['test_error']:.1f} ± "
          f"{100 * best['test_error_std']:.1f}% test error), good region (within one standard error of the best) "
          f"[{lo:.1f}, {hi:.1f}]. Concrete dropout's learned rates (layer 1 / layer 2, from the initial "
          f"{cfg['init_rate']:g}; seed means) — {learned} — "
          + ("lie in the good region: the claim held." if record["held"] else
             "do **not** all lie in the good region: the claim did not hold.")
          + (f" Successive halving (η = {cfg['eta']}, {len(h['rungs'])} rungs, "
             f"{100 * h['steps_fraction_of_grid']:.0f}% of the grid's steps) picks rate {h['best_rate']:.1f}"
             f"{' (in the good region)' if h['in_good_region'] else ' (outside the good region)'}{_dropped(record)}."
             if isinstance(h := record.get("halving"), dict) else " Successive halving was not compared."))
  return _common.readme_paragraph(
      "**A learned dropout rate against the grid** (`concrete_rate`, Gal, Hron & Kendall 2017).",
      f"![concrete dropout]({figure})", text)


def main(argv=None) -> dict:
  return _common.run_experiment(sys.modules[__name__], argv)


if __name__ == "__main__":
  jaxreg.use_cpu_devices()   # every core a JAX device, before JAX starts: the sweep shards over them
  main()
