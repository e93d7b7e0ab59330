"""The lasso's diamond and ridge's disc (ISLR Fig. 6.7), computed rather than drawn.

A two-feature least-squares problem (100 samples, features correlated 0.6,
centered, no intercept) with the objective ``1/(2n)·‖y − Xβ‖² + penalty``:
the lasso (``alpha·‖β‖₁``) is the constrained problem "minimize RSS subject to
``|β₁| + |β₂| ≤ s``" and ridge (``alpha/2·‖β‖²``) the same with ``β₁² + β₂² ≤ s²``,
with the budget ``s`` set by the penalized solution. The figure shows the RSS
contours around the least-squares fit β̂, the diamond and the disc whose ``s``
matches a fitted solution, the solutions where a contour first touches each
region, and the whole 2-D solution path as alpha grows from 0 (β̂) to large.

The paths come from :func:`jaxreg.paths.lasso_path` and
:func:`jaxreg.paths.ridge_path` (float64), and are recomputed independently by
one ``jaxreg.sweep`` over ``{penalty, alpha}`` of a proximal-gradient (ISTA)
solver built on :func:`jaxreg.prox_elastic_net` (``l1_ratio`` 1 = lasso,
0 = ridge); the two must agree.

Claim checked: the L1 path reaches an axis — one coefficient becomes exactly
0.0 at a finite alpha, well before the whole solution is 0 — and the L2 path
does not: along the whole grid both ridge coefficients stay nonzero (they only
shrink towards 0, in the direction of Xᵀy). The ISTA sweep matches the paths.

Outputs: ``constraint_regions.csv`` (``alpha, penalty, solver, beta1, beta2``),
``constraint_regions.png``, ``constraint_regions.json``.

Run: ``python -m experiments.constraint_regions [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jaxreg
from experiments import _common

NAME = "constraint_regions"
FULL = {"n": 100, "corr": 0.6, "beta": (0.5, 1.5), "noise": 1.0, "data_seed": 0, "n_alphas": 121,
        "alpha_range": (1e-4, 1e2), "ista_iters": 3000}
QUICK = {**FULL, "n_alphas": 41, "ista_iters": 1500}


def problem(cfg):
  """``X (n, 2)`` with unit-variance features correlated ``corr``, ``y = Xβ + noise``; both centered."""
  rng = np.random.default_rng(cfg["data_seed"])
  c = cfg["corr"]
  X = rng.standard_normal((cfg["n"], 2)) @ np.linalg.cholesky(np.array([[1.0, c], [c, 1.0]])).T
  y = X @ np.asarray(cfg["beta"]) + cfg["noise"] * rng.standard_normal(cfg["n"])
  X = (X - X.mean(0)) / X.std(0)
  return X, y - y.mean()


def ista(X, y, iters):
  """``fn(hparams, key)`` for jaxreg.sweep: ISTA on ``1/(2n)‖y − Xβ‖² + alpha·enet(β, l1_ratio)``."""
  n = X.shape[0]
  Q, q = X.T @ X / n, X.T @ y / n
  step = 1.0 / float(np.linalg.eigvalsh(Q).max())
  Q, q = jnp.asarray(Q), jnp.asarray(q)

  def fn(h, key):
    del key
    def body(_, b):
      return jaxreg.prox_elastic_net(b - step * (Q @ b - q), step * h["alpha"], h["l1_ratio"])
    return {"beta": jax.lax.fori_loop(0, iters, body, jnp.zeros_like(q))}

  return fn


class Raw(NamedTuple):
  cfg: dict
  X: np.ndarray
  y: np.ndarray
  ols: np.ndarray            # least squares, alpha = 0
  alpha_max: float
  alphas: np.ndarray         # increasing
  lasso: np.ndarray          # (n_alphas, 2), jaxreg.paths
  ridge: np.ndarray
  ista_l1: np.ndarray        # (n_alphas, 2), the ISTA sweep
  ista_l2: np.ndarray


def run(args) -> Raw:
  cfg = QUICK if args.quick else FULL
  import jaxreg.paths
  X, y = problem(cfg)
  n = len(y)
  alpha_max = float(np.abs(X.T @ y).max() / n)     # the smallest alpha with lasso solution 0
  alphas = alpha_max * np.geomspace(*cfg["alpha_range"], cfg["n_alphas"])   # increasing
  with jax.enable_x64(True):
    _, lasso = jaxreg.paths.lasso_path(X, y, alphas=alphas, tol=1e-12, max_iter=100_000)
    lasso = np.asarray(lasso)[::-1]                 # lasso_path sorts decreasing: back to increasing
    ridge = np.asarray(jaxreg.paths.ridge_path(X, y, alphas=alphas)[1])
    sweep = jaxreg.sweep(ista(X, y, cfg["ista_iters"]), {"l1_ratio": [1.0, 0.0], "alpha": alphas},
                         key=_common.key(0), seeds=1, progress=True)
    ista_l1, ista_l2 = (np.asarray(b[:, 0]) for b in sweep.values["beta"])
  ols = np.linalg.lstsq(X, y, rcond=None)[0]
  return Raw(cfg, X, y, ols, alpha_max, alphas, lasso, ridge, ista_l1, ista_l2)


def figure(X, y, ols, lasso, ridge, i_l1, i_l2):
  plt = _common.pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
  lim = (-0.6, max(ols) * 1.25 + 0.2)
  g = np.linspace(*lim, 300)
  B1, B2 = np.meshgrid(g, g)
  B = np.stack([B1.ravel(), B2.ravel()], 1)
  rss = ((y[:, None] - X @ B.T) ** 2).sum(0).reshape(B1.shape)
  base = float(((y - X @ ols) ** 2).sum())
  for ax, path, i, pen in ((axes[0], lasso, i_l1, "L1"), (axes[1], ridge, i_l2, "L2")):
    sol = path[i]
    touch = float(((y - X @ sol) ** 2).sum())
    levels = np.sort(np.unique(np.r_[base + (touch - base) * np.array([0.1, 0.35, 2.0, 3.5]), touch]))
    ax.contour(B1, B2, rss, levels=levels, colors="tab:red", linewidths=0.8, alpha=0.7)
    ax.contour(B1, B2, rss, levels=[touch], colors="tab:red", linewidths=2)
    if pen == "L1":
      s = float(np.abs(sol).sum())
      region = np.array([[s, 0], [0, s], [-s, 0], [0, -s], [s, 0]])
      ax.fill(region[:, 0], region[:, 1], color="tab:cyan", alpha=0.35, lw=1.5, ec="tab:blue",
              label=f"|β₁| + |β₂| ≤ s = {s:.2f}")
    else:
      s = float(np.linalg.norm(sol))
      t = np.linspace(0, 2 * np.pi, 400)
      ax.fill(s * np.cos(t), s * np.sin(t), color="tab:cyan", alpha=0.35, lw=1.5, ec="tab:blue",
              label=f"β₁² + β₂² ≤ s², s = {s:.2f}")
    ax.plot(path[:, 0], path[:, 1], "-", color="k", lw=1.5, label="solution path as alpha grows", zorder=3)
    ax.plot(path[::10, 0], path[::10, 1], ".", color="k", ms=4, zorder=3)
    ax.plot(*ols, "o", color="tab:red", ms=7, label="β̂ (least squares, alpha = 0)", zorder=4)
    ax.plot(*sol, "*", color="gold", mec="k", ms=16, zorder=5,
            label=f"{'lasso' if pen == 'L1' else 'ridge'} solution ({sol[0]:.3g}, {sol[1]:.3g})")
    ax.axhline(0, color="gray", lw=0.8)
    ax.axvline(0, color="gray", lw=0.8)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_aspect("equal")
    ax.set_xlabel("β₁")
    ax.set_ylabel("β₂")
    ax.set_title(f"{pen}: {'lasso, alpha·‖β‖₁' if pen == 'L1' else 'ridge, alpha/2·‖β‖²'}")
    ax.legend(fontsize=7, loc="lower right")
  fig.suptitle("Constraint regions (ISLR Fig. 6.7) from jaxreg.paths: RSS contours, budget s from the fitted "
               "solution,\nand the 2-D solution paths — the L1 path reaches the β₂ axis, the L2 path does not",
               fontsize=10)
  fig.tight_layout()
  return fig


def summarize(raw: Raw) -> _common.Summary:
  cfg, X, y, ols, alpha_max, alphas, lasso, ridge, ista_l1, ista_l2 = raw
  # L1: the first alpha where exactly one coefficient is exactly 0, and where both are.
  one_zero = np.flatnonzero((lasso == 0).sum(1) == 1)
  all_zero = np.flatnonzero((lasso == 0).all(1))
  axis_alpha = float(alphas[one_zero[0]]) if one_zero.size else float("nan")
  zero_alpha = float(alphas[all_zero[0]]) if all_zero.size else float("nan")
  which = int(np.flatnonzero(lasso[one_zero[0]] == 0)[0]) + 1 if one_zero.size else 0
  l1_reaches_axis = bool(one_zero.size) and axis_alpha < zero_alpha
  # L2: both coefficients nonzero everywhere; the smallest |β_j| / ‖β‖ along the path.
  ratio = np.abs(ridge).min(1) / np.linalg.norm(ridge, axis=1)
  l2_never = bool((ridge != 0).all())
  ista_err = float(max(np.abs(ista_l1 - lasso).max(), np.abs(ista_l2 - ridge).max()) / np.abs(ols).max())
  held = l1_reaches_axis and l2_never and ista_err < 1e-6

  # The alphas drawn: the lasso solution halfway (geometrically) along the axis segment, and the
  # ridge solution with the same Euclidean norm.
  i_l1 = int(one_zero[len(one_zero) // 2]) if one_zero.size else len(alphas) // 2
  i_l2 = int(np.argmin(np.abs(np.linalg.norm(ridge, axis=1) - np.linalg.norm(lasso[i_l1]))))

  rows = []
  for pen, paths in (("L1", {"jaxreg.paths": lasso, "ista_sweep": ista_l1}),
                     ("L2", {"jaxreg.paths": ridge, "ista_sweep": ista_l2})):
    for solver, b in paths.items():
      rows += [{"alpha": a, "penalty": pen, "solver": solver, "beta1": b[i, 0], "beta2": b[i, 1]}
               for i, a in enumerate(alphas)]
  measured = (f"L1: β{which} = 0 exactly from alpha = {axis_alpha:.4g} ({axis_alpha / alpha_max:.3f}·alpha_max) "
              f"while the other coefficient stays nonzero until alpha_max = {alpha_max:.4g}; L2: both coefficients "
              f"nonzero at all {len(alphas)} alphas up to {alphas[-1]:.3g}, smallest |β_j|/‖β‖ = {ratio.min():.3f}; "
              f"ISTA sweep vs jaxreg.paths max difference {ista_err:.1e} (relative to max|β̂|)")
  return _common.Summary(
      rows=rows, columns=["alpha", "penalty", "solver", "beta1", "beta2"], csv_digits=8,
      claim="The L1 solution path reaches an axis (one coefficient exactly 0 at a finite alpha); the L2 path "
            "only shrinks towards 0 and never does.",
      held=held, measured=measured, seeds=[cfg["data_seed"]],
      fields=dict(config=cfg, ols=ols, alpha_max=alpha_max, l1_axis_alpha=axis_alpha, l1_zero_alpha=zero_alpha,
                  l1_axis_coefficient=which, l2_min_ratio=float(ratio.min()), ista_vs_paths_max_diff=ista_err,
                  lasso_solution_drawn=lasso[i_l1], ridge_solution_drawn=ridge[i_l2],
                  figure_caption="RSS contours, the L1 diamond and L2 disc with budget s from the fitted solutions, "
                                 "and the solution paths as alpha grows."),
      context={"i_l1": i_l1, "i_l2": i_l2})


def plot(raw: Raw, summary: _common.Summary):
  return figure(raw.X, raw.y, raw.ols, raw.lasso, raw.ridge, summary.context["i_l1"], summary.context["i_l2"])


def readme(record: dict, rows: list[dict], figure: str) -> str:
  """The README's paragraph on this experiment, from its JSON record."""
  cfg, a_max = record["config"], record["alpha_max"]
  drawn = record["lasso_solution_drawn"]
  which = record.get("l1_axis_coefficient") or (1 if drawn[0] == 0 else 2)   # records before the field: the drawn one
  sub = {1: "₁", 2: "₂"}
  l1 = (f"the lasso path reaches the β{sub[3 - which]} axis (β{sub[which]} exactly 0 from α = "
        f"{record['l1_axis_alpha'] / a_max:.2f}·α_max on)" if record["l1_axis_alpha"] is not None else
        "the lasso path does **not** reach an axis")
  text = ("A 2-feature least-squares problem with RSS contours, the L1 diamond and L2 disc whose budget s matches the "
          f"fitted solution, and the solution paths as alpha grows: {l1}, while both ridge coefficients stay nonzero "
          f"at every alpha up to {cfg['alpha_range'][1]:g}·α_max (smallest |β_j|/‖β‖ {record['l2_min_ratio']:.2f}); "
          f"an ISTA sweep over {{penalty, alpha}} matches `jaxreg.paths` to "
          f"{record['ista_vs_paths_max_diff']:.0e}." + ("" if record["held"] else " The claim did **not** hold."))
  return _common.readme_paragraph("**Constraint regions** (`constraint_regions`, ISLR Fig. 6.7, computed).",
                                  f"![constraint regions]({figure})", text)


def main(argv=None) -> dict:
  return _common.run_experiment(sys.modules[__name__], argv)


if __name__ == "__main__":
  jaxreg.use_cpu_devices()   # every core a JAX device, before JAX starts: the sweep shards over them
  main()
