"""Double descent and optimal ridge: test risk against the number of samples, and test error against width.

Paper: Nakkiran, Venkat, Kakade & Ma, *Optimal Regularization Can Mitigate
Double Descent*, ICLR 2021 (arXiv:2003.01897).

**Part 1 — sample-wise, exactly the paper's Fig. 1 setting.** ``x ~ N(0, I_d)``,
``y = ⟨β*, x⟩ + N(0, σ²)`` with ``d = 500``, ``σ = 0.5``, ``‖β*‖₂ = 1`` (β* drawn
uniformly on the unit sphere, one per seed). The paper's ridge estimator is
``argmin_β ‖Xβ − y‖² + λ‖β‖²``; ``jaxreg.paths.ridge_path`` minimizes
``(1/2n)‖y − Xw‖² + (α/2)‖w‖²``, which is the same problem with ``λ = n·α``.
The paper's optimal regularizer for this isotropic setting (their Lemma 2: the
ridge estimator with ``λ = σ²/τ²`` is the posterior mean under the prior
``β ~ N(0, τ² I)``, ``τ² = ‖β*‖²/d``, and the risk of isotropic ``x`` depends on
β* only through ‖β*‖) is ``λ_opt = d·σ²/‖β*‖² = 125``, independent of ``n``,
i.e. ``α_opt = d·σ²/(n‖β*‖²)`` in jaxreg's convention. For isotropic ``x`` the
test risk is exact, no test set needed: ``E(y − ⟨x, ŵ⟩)² = ‖ŵ − β*‖² + σ²``.
Each seed draws one ``(n_max = 1000) × d`` design, and ``n`` is a **traced**
grid axis: the rows ``≥ n`` of ``X`` and ``y`` are set to zero, which leaves
``‖y − Xw‖²`` of the first ``n`` rows unchanged, so ``ridge_path`` on the padded
data with ``α = λ/n_max`` is the ``n``-sample ridge estimator with ``λ``, exactly
(samples are nested in ``n`` within a seed: common random numbers). All 51
``λ`` (10⁻⁶, 49 log-spaced values ``10⁻² … 10⁴``, and ``λ_opt``) come from one
SVD (``ridge_path``), and the whole ``n × seed`` grid is one ``jaxreg.sweep``, in
float64. "Unregularized" is ``λ = 10⁻⁶`` (``α = λ/n_max = 10⁻⁹``): even at ``n = d``
the smallest squared singular value of ``X`` is typically about ``1/d = 2·10⁻³ ≫ λ``,
so it is the minimum-norm least-squares solution to about 10⁻³ relative. The
reference curves are the exact finite-sample expected risk of the
minimum-norm estimator (``σ²d/(n − d − 1)`` for ``n ≥ d + 2``;
``‖β*‖²(1 − n/d) + σ²n/(d − n − 1)`` for ``n ≤ d − 2``) and the
Marchenko–Pastur (``n, d → ∞``, ``d/n = γ``) risk of ridge at any λ:
``σ² + ‖β*‖²α²m′(−α) + σ²γ(m(−α) − αm′(−α))`` with ``α = λ/n`` and ``m`` the MP
Stieltjes transform (at ``λ_opt`` it is ``σ²(1 + γ m(−α_opt))``).

Claims checked (part 1):

1. the unregularized risk peaks near ``n = d`` (argmax of the seed-mean risk
   within 10% of d, and the peak above both ends of the n range);
2. with ``λ = λ_opt`` (and with λ tuned on the grid for each n, by the
   seed-mean risk — an oracle, as in the paper) the risk is monotone
   non-increasing in ``n`` (no rise between grid neighbours larger than 2
   standard errors of the paired difference over seeds);
3. ``λ_opt = d·σ²/‖β*‖²`` is optimal: at no ``n`` does any grid λ have a
   seed-mean risk below ``λ_opt``'s by more than 3 paired standard errors.

**Part 2 — model-wise, MNIST-1D with 15% label noise.** A one-hidden-layer
ReLU MLP ``40-w-10`` on the first 1000 MNIST-1D training signals, 15% of whose
labels (fixed, ``numpy.random.default_rng(0)``) are replaced by a uniformly
drawn *other* class; the test labels are clean. Adam (lr 1e-3), coupled L2
``jaxreg.add_l2(alpha)`` before it (alpha ∈ {0, 1e-3, 1e-2, 1e-1}),
batch 100, 4000 steps (400 epochs). The width is a **traced** grid axis: every
run is the maximal network (``w_max = 256``) with the hidden units ``j ≥ w``
masked, so widths × alphas × seeds are **one** ``jaxreg.sweep``.

*The masking equivalence.* Hidden activations are multiplied by
``m_j = [j < w]``. A masked unit's output is exactly 0, so (a) the logits do not
depend on its incoming or outgoing weights, (b) the loss gradient on its
incoming weights and bias is ``δ_j·m_j = 0`` and on its outgoing weights is
``h_j·δ = 0``, and (c) its weights are *initialized* to 0, so the coupled L2
gradient ``alpha·0`` is 0 and Adam's update ``0/(√0 + ε)`` is 0: they stay 0,
and Adam being elementwise, the live weights see exactly the updates of a
``w``-wide network. The initialization matches a truly narrow network: unit
``j``'s incoming and outgoing weights are drawn from ``fold_in(key, j)``
(He-normal, incoming std √(2/40), outgoing std √(2/w) — the fan-in of the
*live* width), so the ``w``-wide network built alone draws the same numbers.
``tests/test_experiments_c.py`` trains both and compares them.

Claims checked (part 2, reported honestly whatever they give):

4. unregularized (alpha = 0), the seed-mean test error has an interpolation
   peak: it rises above the best error at smaller widths by more than 2
   standard errors, and falls again by more than 2 standard errors at the
   largest width;
5. with alpha tuned per width (oracle: the alpha of least seed-mean test
   error, as in the paper), test error is monotone non-increasing in width
   (no rise above the best error at smaller widths by more than 2 standard errors).

Outputs (``--out DIR``, default ``experiments/results/``):
``double_descent.csv`` (tidy: ``part, n, lambda, width, alpha, seed, risk,
train_error, test_error, test_loss``), ``double_descent.png``,
``double_descent.json``.

Run: ``python -m experiments.double_descent [--quick] [--out DIR]``.

References:
  Nakkiran, Venkat, Kakade & Ma, ICLR 2021. Nakkiran, Kaplun, Bansal, Yang,
  Barak & Sutskever, *Deep Double Descent*, ICLR 2020 (label noise).
  Hastie, Montanari, Rosset & Tibshirani, *Surprises in High-Dimensional
  Ridgeless Least Squares Interpolation*, AoS 2022 (min-norm risk).
  Dobriban & Wager, *High-dimensional asymptotics of prediction: ridge
  regression and classification*, AoS 2018 (MP ridge risk).
  Greydanus, *Scaling down deep learning*, arXiv:2011.14439, 2020 (MNIST-1D).
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

NAME = "double_descent"
TINY_LAMBDA = 1e-6   # "unregularized": the min-norm solution to ~1e-3 relative (see the docstring)
FULL = {
    "linear": {"d": 500, "sigma": 0.5, "beta_norm": 1.0, "n_max": 1000, "seeds": 10,
               "ns": (10, 50, 100, 150, 200, 250, 300, 350, 400, 425, 450, 470, 480, 490, 495, 500, 505, 510,
                      520, 530, 550, 575, 600, 650, 700, 750, 800, 900, 1000),
               "lambdas": (1e-2, 1e4, 49), "fixed_lambdas": (1.0, 10.0, 1000.0)},
    "mlp": {"n_train": 1000, "label_noise": 0.15, "widths": (1, 2, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256),
            "alphas": (0.0, 1e-3, 1e-2, 1e-1), "seeds": 3, "steps": 4000, "batch_size": 100, "lr": 1e-3,
            "chunk_size": 72},
}
QUICK = {
    "linear": {"d": 40, "sigma": 0.5, "beta_norm": 1.0, "n_max": 80, "seeds": 3,
               "ns": (5, 20, 30, 36, 40, 44, 50, 60, 80), "lambdas": (1e-2, 1e3, 13), "fixed_lambdas": (1.0,)},
    "mlp": {"n_train": 300, "label_noise": 0.15, "widths": (2, 8, 32), "alphas": (0.0, 1e-2), "seeds": 2,
            "steps": 200, "batch_size": 50, "lr": 1e-3, "chunk_size": None},
}
COLUMNS = ["part", "n", "lambda", "width", "alpha", "seed", "risk", "train_error", "test_error", "test_loss"]


class Raw(NamedTuple):
  cfg: dict
  lambdas: np.ndarray          # the λ grid (paper units), λ_opt included
  risk: np.ndarray             # (n, seed, λ)
  unreg: np.ndarray            # (n, seed): λ = TINY_LAMBDA
  mlp: jaxreg.SweepResult      # leaves (width, alpha, seed)


# ----------------------------------------------------------------------------- part 1: ridge, sample-wise


def lambda_opt(d: int, sigma: float, beta_norm: float) -> float:
  """The paper's optimal ridge strength for isotropic x (objective ``‖Xβ − y‖² + λ‖β‖²``): ``d·σ²/‖β*‖²``."""
  return d * sigma**2 / beta_norm**2


def ridge_coefs(X, y, alphas):
  """``jaxreg.paths.ridge_path``'s coefficients ``(n_alphas, n_features)``."""
  return jaxreg.paths.ridge_path(X, y, alphas=alphas)[1]


def linear_lambdas(cfg) -> np.ndarray:
  lo, hi, k = cfg["lambdas"]
  lam = np.geomspace(lo, hi, k)
  opt = lambda_opt(cfg["d"], cfg["sigma"], cfg["beta_norm"])
  return np.unique(np.concatenate([[TINY_LAMBDA], lam, [opt], cfg["fixed_lambdas"]]))


def make_linear_run(cfg, lambdas):
  """``fn(h, key) -> {"risk": (n_lambdas,)}``: ridge on the first ``h["n"]`` of ``n_max`` nested samples."""
  d, n_max, sigma = cfg["d"], cfg["n_max"], cfg["sigma"]
  alphas = np.asarray(lambdas, np.float64) / n_max     # λ = n_max·α on the zero-padded data

  def run(h, key):
    kx, kb, ke = jax.random.split(key, 3)
    X = jax.random.normal(kx, (n_max, d), jnp.float64)
    beta = jax.random.normal(kb, (d,), jnp.float64)
    beta = cfg["beta_norm"] * beta / jnp.linalg.norm(beta)
    y = X @ beta + sigma * jax.random.normal(ke, (n_max,), jnp.float64)
    live = jnp.arange(n_max) < h["n"]
    coefs = ridge_coefs(jnp.where(live[:, None], X, 0.0), jnp.where(live, y, 0.0), alphas)
    return {"risk": jnp.sum((coefs - beta) ** 2, axis=-1) + sigma**2}

  return run


def mp_stieltjes(alpha, gamma):
  """``m(−α)`` of the Marchenko–Pastur law of ``XᵀX/n`` (ratio ``γ = d/n``, identity covariance), ``α > 0``."""
  b = 1 - gamma + alpha
  return (np.sqrt(b * b + 4 * gamma * alpha) - b) / (2 * gamma * alpha)


def mp_risk(lam, n, d, sigma, beta_norm):
  """Asymptotic (n, d → ∞, d/n = γ) test risk of ridge with the paper's λ (``α = λ/n``), isotropic β*.

  ``σ² + ‖β*‖²α²m′(−α) + σ²γ(m(−α) − αm′(−α))`` written with ``N = S − b``, ``b = 1 − γ + α``,
  ``S = √(b² + 4γα)`` (so ``m(−α) = N/(2γα)``) and ``N′ = (b + 2γ)/S − 1``: the bias term is
  ``‖β*‖²(N − αN′)/(2γ)`` and the variance term ``σ²N′/2``, with no cancellation as ``α → 0``.
  """
  alpha, gamma = np.asarray(lam, float) / n, d / n
  b = 1 - gamma + alpha
  S = np.sqrt(b * b + 4 * gamma * alpha)
  N, dN = S - b, (b + 2 * gamma) / S - 1
  return sigma**2 + beta_norm**2 * (N - alpha * dN) / (2 * gamma) + sigma**2 * dN / 2


def minnorm_risk(n, d, sigma, beta_norm):
  """Exact finite-sample expected risk of min-norm least squares, isotropic Gaussian x (NaN for |n − d| ≤ 1)."""
  if n >= d + 2:
    return sigma**2 + sigma**2 * d / (n - d - 1)
  if n <= d - 2:
    return sigma**2 + beta_norm**2 * (1 - n / d) + sigma**2 * n / (d - n - 1)
  return math.nan


# ----------------------------------------------------------------------------- part 2: MLP, model-wise


def noisy_labels(y: np.ndarray, fraction: float, n_classes: int, seed: int = 0) -> np.ndarray:
  """``y`` with ``round(fraction·n)`` labels (a fixed random subset) replaced by a uniformly drawn other class."""
  rng = np.random.default_rng(seed)
  y = np.array(y, copy=True)
  idx = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
  y[idx] = (y[idx] + rng.integers(1, n_classes, size=len(idx))) % n_classes
  return y


def mlp_data(cfg) -> _common.Data:
  data = _common.mnist1d(cfg["n_train"])
  y = noisy_labels(data.y_train, cfg["label_noise"], data.n_classes)
  return _common.Data(*_common._frozen(data.x_train, y, data.x_test, data.y_test))


def init_masked(key, n_in: int, max_width: int, n_out: int, width) -> dict:
  """A ``n_in-max_width-n_out`` MLP whose units ``j ≥ width`` are zero; ``width`` may be traced.

  Unit ``j`` draws its incoming column and outgoing row from ``fold_in(key, j)``: He-normal, incoming std
  ``√(2/n_in)``, outgoing std ``√(2/width)`` (the live fan-in), so ``init_masked(key, n_in, w, n_out, w)``
  (a truly ``w``-wide network) holds the same numbers as the live part of any wider one.
  """
  def unit(j):
    k_in, k_out = jax.random.split(jax.random.fold_in(key, j))
    return jax.random.normal(k_in, (n_in,), jnp.float32), jax.random.normal(k_out, (n_out,), jnp.float32)

  w_in, w_out = jax.vmap(unit)(jnp.arange(max_width))            # (max_width, n_in), (max_width, n_out)
  live = (jnp.arange(max_width) < width).astype(jnp.float32)
  width_f = jnp.asarray(width, jnp.float32)
  return {"w1": (w_in * (math.sqrt(2.0 / n_in) * live[:, None])).T, "b1": jnp.zeros(max_width, jnp.float32),
          "w2": w_out * (jnp.sqrt(2.0 / width_f) * live[:, None]), "b2": jnp.zeros(n_out, jnp.float32)}


def apply_masked(params, x, width):
  """Logits; hidden activations of units ``j ≥ width`` are multiplied by 0."""
  live = (jnp.arange(params["b1"].shape[0]) < width).astype(x.dtype)
  h = jax.nn.relu(x @ params["w1"] + params["b1"]) * live
  return h @ params["w2"] + params["b2"]


def train_masked(h, key, *, data: _common.Data, max_width: int, steps: int, batch_size: int, lr: float,
                 return_params: bool = False) -> dict:
  """Adam + coupled L2 (``add_l2(h["alpha"])``) on the width-``h["width"]`` network inside a ``max_width`` one.

  The minibatch order and the initialization are drawn from ``key`` exactly as a narrow network
  (``max_width = width``) would draw them. Returns train error (on the noisy labels), test error and loss.
  """
  x_tr, y_tr = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
  x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
  n = len(data.x_train)
  per_epoch = n // batch_size
  k_init, k_data = jax.random.split(key)
  n_epochs = -(-steps // per_epoch)
  perms = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(k_data, e), n))(jnp.arange(n_epochs))
  width = h["width"]
  params = init_masked(k_init, data.n_features, max_width, data.n_classes, width)
  opt = optax.chain(jaxreg.add_l2(h["alpha"]), optax.adam(lr))

  def loss_fn(p, xb, yb):
    return optax.softmax_cross_entropy_with_integer_labels(apply_masked(p, xb, width), yb).mean()

  def step(carry, t):
    p, s = carry
    idx = jax.lax.dynamic_slice(perms[t // per_epoch], ((t % per_epoch) * batch_size,), (batch_size,))
    updates, s = opt.update(jax.grad(loss_fn)(p, x_tr[idx], y_tr[idx]), s, p)
    return (optax.apply_updates(p, updates), s), None

  (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), jnp.arange(steps))
  logits_tr, logits_te = apply_masked(params, x_tr, width), apply_masked(params, x_te, width)
  out = {"train_error": jnp.mean(jnp.argmax(logits_tr, -1) != y_tr),
         "test_error": jnp.mean(jnp.argmax(logits_te, -1) != y_te),
         "test_loss": optax.softmax_cross_entropy_with_integer_labels(logits_te, y_te).mean()}
  if return_params:
    out["params"] = params
  return out


# ----------------------------------------------------------------------------- the experiment


def run(args) -> Raw:
  cfg = QUICK if args.quick else FULL
  lin, mc = cfg["linear"], cfg["mlp"]
  lambdas = linear_lambdas(lin)
  with jax.enable_x64(True):
    res = jaxreg.sweep(make_linear_run(lin, lambdas), {"n": np.asarray(lin["ns"], np.int64)}, key=_common.key(0),
                       seeds=lin["seeds"], progress=False)
  risk = np.asarray(res.values["risk"], np.float64)        # (n, seed, λ)
  unreg = risk[:, :, int(np.argmin(np.abs(lambdas - TINY_LAMBDA)))]
  data = mlp_data(mc)

  def fn(h, key):
    return train_masked(h, key, data=data, max_width=max(mc["widths"]), steps=mc["steps"],
                        batch_size=mc["batch_size"], lr=mc["lr"])

  mlp = jaxreg.sweep(fn, {"width": np.asarray(mc["widths"], np.int32), "alpha": np.asarray(mc["alphas"], np.float32)},
                     key=_common.key(1), seeds=mc["seeds"], chunk_size=mc["chunk_size"], progress=True)
  return Raw(cfg, lambdas, risk, unreg, mlp)


def _se(x, axis):
  x = np.asarray(x, float)
  return np.std(x, axis=axis, ddof=1) / math.sqrt(x.shape[axis]) if x.shape[axis] > 1 else np.zeros(
      np.delete(x.shape, axis))


def monotone_rises(curves: np.ndarray) -> tuple[float, float]:
  """Largest rise between neighbours of the seed-mean of ``curves`` ``(points, seeds)``, in paired standard errors.

  Returns ``(largest rise, its size in standard errors of the paired difference)``.
  """
  diff = np.diff(curves, axis=0)                       # (points − 1, seeds)
  mean, se = diff.mean(1), _se(diff, 1)
  i = int(np.argmax(mean))
  return float(mean[i]), float(mean[i] / se[i]) if se[i] > 0 else (math.inf if mean[i] > 0 else 0.0)


def rise_over_best_before(curves: np.ndarray) -> tuple[int, float, float]:
  """For ``curves`` ``(points, seeds)``: the point whose seed mean rises most above the best mean before it.

  Returns ``(index, rise, rise / standard error at that point)`` (index 0 and rise 0 when it never rises).
  """
  mean, se = curves.mean(1), _se(curves, 1)
  best, out = mean[0], (0, 0.0, 0.0)
  for i in range(1, len(mean)):
    rise = mean[i] - best
    if rise > out[1]:
      out = (i, float(rise), float(rise / se[i]) if se[i] > 0 else math.inf)
    best = min(best, mean[i])
  return out


def summarize(raw: Raw) -> _common.Summary:
  cfg, lambdas, risk, unreg, mlp = raw
  lin, mc = cfg["linear"], cfg["mlp"]
  d, sigma, bn = lin["d"], lin["sigma"], lin["beta_norm"]
  ns = np.asarray(lin["ns"])
  lam_opt = lambda_opt(d, sigma, bn)
  i_opt = int(np.argmin(np.abs(lambdas - lam_opt)))
  mean = risk.mean(1)                                               # (n, λ)
  seeds = list(range(lin["seeds"]))

  # Claim 1: the unregularized peak.
  u_mean = unreg.mean(1)
  i_peak = int(np.argmax(u_mean))
  held1 = bool(abs(ns[i_peak] - d) <= 0.1 * d and u_mean[i_peak] > max(u_mean[0], u_mean[-1]))
  # Claim 2: λ_opt and grid-tuned risk monotone in n.
  opt_curve = risk[:, :, i_opt]                                      # (n, seed)
  rise_opt, z_opt = monotone_rises(opt_curve)
  i_tuned = np.argmin(mean, axis=1)                                  # the grid's oracle λ per n
  tuned_curve = risk[np.arange(len(ns)), :, i_tuned]                 # (n, seed)
  rise_tuned, z_tuned = monotone_rises(tuned_curve)
  held2 = bool(z_opt <= 2 and z_tuned <= 2)
  # Claim 3: λ_opt is optimal: no grid λ beats it by more than 3 paired standard errors at any n.
  gain = opt_curve[:, :, None] - risk                                # (n, seed, λ) > 0: λ better than λ_opt
  g_mean, g_se = gain.mean(1), _se(gain, 1)
  with np.errstate(divide="ignore", invalid="ignore"):
    z = np.where(g_se > 0, g_mean / g_se, np.where(g_mean > 0, np.inf, 0.0))
  z_max = float(z.max())
  held3 = bool(z_max <= 3)
  tuned_lambdas = lambdas[i_tuned]
  # The asymptotic (MP) risk's minimizer over a fine λ grid, for every n: λ_opt.
  fine = np.geomspace(lambdas[1], lambdas[-1], 2001)
  mp_argmin = np.array([fine[np.argmin(mp_risk(fine, n, d, sigma, bn))] for n in ns])
  mp_opt = np.array([mp_risk(lam_opt, n, d, sigma, bn) for n in ns])
  mp_rel = float(np.max(np.abs(opt_curve.mean(1) - mp_opt) / mp_opt))
  exact = np.array([minnorm_risk(n, d, sigma, bn) for n in ns])

  # Part 2: the MLP.
  v = mlp.values
  widths, alphas = np.asarray(mc["widths"]), np.asarray(mc["alphas"])
  te, tr = np.asarray(v["test_error"], float), np.asarray(v["train_error"], float)      # (width, alpha, seed)
  te_mean = te.mean(-1)
  i_a0 = int(np.argmin(alphas))
  un = te[:, i_a0]                                                   # (width, seed)
  i_rise, rise_un, z_rise = rise_over_best_before(un)
  un_mean, un_se = un.mean(1), _se(un, 1)
  fall = float(un_mean[i_rise] - un_mean[-1])
  z_fall = fall / max(un_se[i_rise], un_se[-1]) if max(un_se[i_rise], un_se[-1]) > 0 else math.inf
  held4 = bool(0 < i_rise < len(widths) - 1 and z_rise > 2 and z_fall > 2)
  best_a = np.argmin(te_mean, axis=1)                                # oracle alpha per width
  tuned_mlp = te[np.arange(len(widths)), best_a]                     # (width, seed)
  i_rise_t, rise_t, z_rise_t = rise_over_best_before(tuned_mlp)
  held5 = bool(z_rise_t <= 2)
  # the interpolation threshold: the smallest width whose unregularized train error (noisy labels) is < 1%
  interp = [int(w) for w, e in zip(widths, tr[:, i_a0].mean(-1)) if e < 0.01]
  threshold = interp[0] if interp else None

  rows = []
  for i, n in enumerate(ns):
    for s in seeds:
      for j, lam in enumerate(lambdas):
        rows.append({"part": "ridge", "n": int(n), "lambda": float(lam), "width": "", "alpha": float(lam / n),
                     "seed": s, "risk": risk[i, s, j], "train_error": "", "test_error": "", "test_loss": ""})
  mlp_seeds = [int(s) for s in mlp.axes["seed"]]
  for i, w in enumerate(widths):
    for j, a in enumerate(alphas):
      for k, s in enumerate(mlp_seeds):
        rows.append({"part": "mlp", "n": mc["n_train"], "lambda": "", "width": int(w), "alpha": float(a), "seed": s,
                     "risk": "", "train_error": tr[i, j, k], "test_error": te[i, j, k],
                     "test_loss": np.asarray(v["test_loss"])[i, j, k]})

  claims = [
      {"claim": f"ridge, λ → 0 (λ = {TINY_LAMBDA:g}): the test risk peaks near n = d = {d} (argmax within 10% "
                "of d, above both ends)", "held": held1,
       "measured": f"peak at n = {ns[i_peak]} (risk {u_mean[i_peak]:.3g}; {u_mean[0]:.3g} at n = {ns[0]}, "
                   f"{u_mean[-1]:.3g} at n = {ns[-1]})"},
      {"claim": "ridge with λ = λ_opt, and with λ tuned per n on the grid, has risk monotone non-increasing in n "
                "(no neighbour rise > 2 paired SE)", "held": held2,
       "measured": f"largest rise {rise_opt:.2g} ({z_opt:.1f} SE) at λ_opt, {rise_tuned:.2g} ({z_tuned:.1f} SE) "
                   "tuned"},
      {"claim": f"λ_opt = dσ²/‖β*‖² = {lam_opt:g} (α = {lam_opt:g}/n in jaxreg's convention) is optimal: no "
                "grid λ beats it by > 3 paired SE at any n", "held": held3,
       "measured": f"largest advantage of any grid λ over λ_opt: {z_max:.1f} SE; grid-tuned λ per n: median "
                   f"{np.median(tuned_lambdas):.3g} (range {tuned_lambdas.min():.3g}–{tuned_lambdas.max():.3g}); "
                   f"MP-risk argmin {np.median(mp_argmin):.4g}"},
      {"claim": f"MLP 40-w-10 on MNIST-1D ({int(100 * mc['label_noise'])}% label noise), alpha = 0: test error "
                "has an interpolation peak over width (rise and fall > 2 SE)", "held": held4,
       "measured": f"largest rise {100 * rise_un:.1f} points ({z_rise:.1f} SE) at width {widths[i_rise]}, then "
                   f"falls {100 * fall:.1f} points ({z_fall:.1f} SE) to width {widths[-1]}"},
      {"claim": "MLP with alpha tuned per width: test error monotone non-increasing in width (no rise > 2 SE)",
       "held": held5,
       "measured": f"largest rise {100 * rise_t:.1f} points ({z_rise_t:.1f} SE)"
                   + (f" at width {widths[i_rise_t]}" if rise_t > 0 else "")},
  ]
  held = all(c["held"] for c in claims)
  measured = "; ".join(f"({i + 1}) {c['measured']}" for i, c in enumerate(claims))
  by_width = [{"width": int(w), "params": int(51 * w + 10), "test_error_alpha0": float(un_mean[i]),
               "test_error_alpha0_se": float(un_se[i]), "train_error_alpha0": float(tr[i, i_a0].mean()),
               "best_alpha": float(alphas[best_a[i]]), "test_error_tuned": float(tuned_mlp[i].mean())}
              for i, w in enumerate(widths)]
  by_n = [{"n": int(n), "risk_unregularized": float(u_mean[i]), "risk_min_norm_exact": exact[i],
           "risk_lambda_opt": float(opt_curve[i].mean()), "risk_lambda_opt_mp": float(mp_opt[i]),
           "risk_tuned": float(tuned_curve[i].mean()), "tuned_lambda": float(tuned_lambdas[i])}
          for i, n in enumerate(ns)]
  md = _common.markdown_table(by_width, ["width", "params", "train_error_alpha0", "test_error_alpha0", "best_alpha",
                                         "test_error_tuned"])
  return _common.Summary(
      rows=rows, columns=COLUMNS, claim=(
          "Nakkiran et al. (ICLR 2021): unregularized ridge risk peaks at n ≈ d, optimally tuned ridge "
          "(λ_opt = dσ²/‖β*‖²) is monotone in n; model-wise, tuned L2 removes the interpolation peak of an "
          "MLP with label noise"),
      held=held, measured=measured, seeds=seeds, markdown=md,
      fields={"claims": claims, "lambda_opt": lam_opt, "by_n": by_n, "by_width": by_width,
              "interpolation_threshold_width": threshold, "mp_max_rel_diff_lambda_opt": mp_rel,
              "mlp_seeds": mlp_seeds,
              "config": {"linear": {**lin, "lambda_grid": lambdas.tolist(), "unregularized_lambda": TINY_LAMBDA},
                         "mlp": dict(mc), "n_ridge_fits": int(len(ns) * lin["seeds"]),
                         "n_mlp_runs": int(np.prod(mlp.shape))},
              "figure_caption": "Left: ridge test risk against n (d = 500, σ = 0.5), seed means; dashed: exact "
                                "min-norm risk and Marchenko–Pastur risk at λ_opt. Middle: MLP test error against "
                                "width for each weight decay (mean over seeds, band min–max); right: the tuned "
                                "curve and train error."},
      context={"ns": ns, "u_mean": u_mean, "exact": exact, "opt_curve": opt_curve, "mp_opt": mp_opt,
               "tuned_curve": tuned_curve, "i_opt": i_opt, "te": te, "tr": tr, "tuned_mlp": tuned_mlp,
               "threshold": threshold})


def plot(raw: Raw, summary: _common.Summary):
  cfg, lambdas, risk, unreg, mlp = raw
  c, lin, mc = summary.context, cfg["linear"], cfg["mlp"]
  ns, d = c["ns"], lin["d"]
  plt = _common.pyplot()
  fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
  ax = axes[0]
  ax.plot(ns, c["u_mean"], "o-", ms=3, color="C3", label=f"λ = {TINY_LAMBDA:g} (≈ min-norm)")
  ax.plot(ns, c["exact"], "k--", lw=1, label="min-norm, exact expectation")
  colors = iter(["C0", "C1", "C4", "C5", "C6"])
  for j, lam in enumerate(lambdas):
    if lam in lin["fixed_lambdas"]:
      ax.plot(ns, risk[:, :, j].mean(1), "-", lw=1.2, color=next(colors), label=f"λ = {lam:g}")
  ax.plot(ns, c["opt_curve"].mean(1), "o-", ms=3, color="C2", lw=2, label=f"λ_opt = dσ²/‖β‖² = {lambdas[c['i_opt']]:g}")
  ax.plot(ns, c["mp_opt"], ":", color="C2", lw=1.5, label="λ_opt, Marchenko–Pastur")
  ax.plot(ns, c["tuned_curve"].mean(1), "x", color="k", ms=4, label="best λ of the grid per n")
  ax.axvline(d, color="gray", lw=0.8, ls=":")
  ax.set(yscale="log", ylim=(0.2, 20), xlabel="number of samples n", ylabel="test risk  ‖ŵ − β*‖² + σ²",
         title=f"isotropic ridge, d = {d}, σ = {lin['sigma']} ({lin['seeds']} seeds)")
  ax.legend(fontsize=7)
  widths = np.asarray(mc["widths"])
  te, tr = c["te"], c["tr"]
  ax = axes[1]
  for j, a in enumerate(mc["alphas"]):
    _common.band(ax, widths, te[:, j].T, label=f"alpha = {a:g}", logx=True, marker="o", ms=3)
  if c["threshold"] is not None:
    ax.axvline(c["threshold"], color="gray", ls=":", lw=1, label="train error < 1% from here (alpha 0)")
  ax.set(xlabel="hidden width w", ylabel="test error (clean labels)",
         title=f"MNIST-1D, {mc['n_train']} train, {int(100 * mc['label_noise'])}% label noise")
  ax.legend(fontsize=7)
  ax = axes[2]
  i0 = int(np.argmin(mc["alphas"]))
  _common.band(ax, widths, te[:, i0].T, label="test, alpha = 0", color="C3", marker="o", ms=3)
  _common.band(ax, widths, c["tuned_mlp"].T, label="test, alpha tuned per width", color="C2", marker="o", ms=3)
  _common.band(ax, widths, tr[:, i0].T, label="train (noisy labels), alpha = 0", color="C3", ls="--")
  ax.set(xlabel="hidden width w", ylabel="error", title="unregularized vs tuned L2 (mean, band min–max)")
  ax.legend(fontsize=7)
  fig.tight_layout()
  return fig


def lambda_opt_exceedance(rows: list[dict], lam_opt: float) -> tuple[float, int, float, float]:
  """From the CSV's ridge rows: the largest advantage of a grid λ over λ_opt, in paired standard errors.

  Returns ``(z, n, λ, relative risk difference)`` at the (n, λ) where ``z`` is largest.
  """
  risk: dict = {}
  for r in rows:
    if r["part"] == "ridge":
      risk.setdefault((int(r["n"]), float(r["lambda"])), {})[int(r["seed"])] = float(r["risk"])
  lams = sorted({lam for _, lam in risk})
  opt = min(lams, key=lambda lam: abs(lam - lam_opt))
  best = (-math.inf, 0, 0.0, 0.0)
  for (n, lam), by_seed in risk.items():
    ref = risk[(n, opt)]
    diff = np.array([ref[s] - by_seed[s] for s in sorted(by_seed)])
    se = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else 0.0
    z = diff.mean() / se if se > 0 else 0.0
    if z > best[0]:
      best = (float(z), n, lam, float(diff.mean() / np.mean(list(ref.values()))))
  return best


def readme(record: dict, rows: list[dict], figure: str) -> str:
  """The README's paragraph on this experiment, from its JSON record."""
  cl, lin, mc = record["claims"], record["config"]["linear"], record["config"]["mlp"]
  yes = lambda c: "held" if c["held"] else "**did not hold**"
  by_n, by_w = record["by_n"], record["by_width"]
  peak = max(by_n, key=lambda r: r["risk_unregularized"])
  un = np.array([w["test_error_alpha0"] for w in by_w])
  rises = un[1:] - np.minimum.accumulate(un)[:-1]      # rise above the best error at smaller widths
  i_peak = int(np.argmax(rises)) + 1 if rises.max() > 0 else 0
  i_low = int(np.argmin(un[:i_peak])) if i_peak > 0 else 0
  tuned = [w["test_error_tuned"] for w in by_w]
  thr = record["interpolation_threshold_width"]
  exceed = ""
  if not cl[2]["held"] and rows:
    z, n, lam, rel = lambda_opt_exceedance(rows, record["lambda_opt"])
    exceed = (f" (by the pre-set 3-SE test over {len(by_n)} n × {len(lin['lambda_grid'])} λ: its largest exceedance "
              f"is λ = {lam:.3g} at n = {n}, {z:.1f} SE but a relative risk difference of only {rel:.1g})")
  ridge = (f"Isotropic ridge in the paper's Fig. 1 setting (d = {lin['d']}, σ = {lin['sigma']}, ‖β*‖ = 1, "
           f"{lin['seeds']} seeds; every λ from one `ridge_path` SVD, n × seeds in one sweep): unregularized "
           f"(λ = {lin['unregularized_lambda']:g}) the risk peaks at n = {peak['n']} (seed mean "
           f"{peak['risk_unregularized']:.3g}, against {by_n[0]['risk_unregularized']:.3g} at n = {by_n[0]['n']} "
           f"and {by_n[-1]['risk_unregularized']:.3g} at n = {by_n[-1]['n']}): peak near n = d {yes(cl[0])}. With the paper's "
           f"λ_opt = dσ²/‖β*‖² = {record['lambda_opt']:g} (α = {record['lambda_opt']:g}/n in jaxreg's convention) "
           f"the risk goes from {by_n[0]['risk_lambda_opt']:.3f} to {by_n[-1]['risk_lambda_opt']:.3f}; monotone in n "
           f"within noise (also with λ tuned per n): {yes(cl[1])}; no grid λ beats λ_opt beyond noise: "
           f"{yes(cl[2])}{exceed}. The Marchenko–Pastur risk at λ_opt agrees with the measured one within "
           f"{100 * record['mp_max_rel_diff_lambda_opt']:.1f}%.")
  mlp = (f"Model-wise (MLP 40-w-10 on {mc['n_train']} MNIST-1D signals with {int(100 * mc['label_noise'])}% label "
         f"noise, {len(by_w)} widths × {len(mc['alphas'])} weight decays × {mc['seeds']} seeds as one sweep by "
         f"masking hidden units): unregularized, the test error "
         + (f"falls from {100 * un[0]:.1f}% (width {by_w[0]['width']}) to {100 * un[i_low]:.1f}% (width "
            f"{by_w[i_low]['width']}), rises to {100 * un[i_peak]:.1f}% at width {by_w[i_peak]['width']} (train error "
            f"{100 * by_w[i_peak]['train_error_alpha0']:.1f}%) and ends at {100 * un[-1]:.1f}% at width "
            f"{by_w[-1]['width']}" if i_peak > 0 else
            f"never rises with width ({100 * un[0]:.1f}% → {100 * un[-1]:.1f}%)")
         + (f" (train error on the noisy labels < 1% from width {thr})" if thr is not None else
            " (no width fits the noisy labels to < 1% train error)")
         + f": interpolation peak {yes(cl[3])}. With weight decay tuned per width the test error goes from "
         f"{100 * tuned[0]:.1f}% to {100 * min(tuned):.1f}% (best) and {100 * tuned[-1]:.1f}% at the largest width "
         f"({cl[4]['measured']}); monotone in width within noise: {yes(cl[4])}.")
  return _common.readme_paragraph(
      "**Optimal regularization and double descent** (`double_descent`, Nakkiran et al. ICLR 2021, Fig. 1).",
      f"![double descent]({figure})", ridge, mlp)


def main(argv=None) -> dict:
  return _common.run_experiment(sys.modules[__name__], argv)


if __name__ == "__main__":
  # One CPU device: the ridge sweep (an SVD with singular vectors in every run) hung on 2 host CPU devices
  # (jax 0.10.2; see jaxreg.use_cpu_devices).
  main()
