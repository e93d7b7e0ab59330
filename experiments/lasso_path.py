"""The diabetes lasso path from ``jaxreg.paths``, with scikit-learn's path overlaid.

The lasso (Oppermann's "L1 / Lasso regression") on scikit-learn's bundled
diabetes data (442 patients, 10 standardized features, centered response),
objective ``1/(2n)·‖y − Xw‖² + alpha·‖w‖₁``: coefficient profiles against log
alpha (the style of ESL Fig. 3.10), computed by :func:`jaxreg.paths.lasso_path`
— all alphas of the path in one vectorized program — and by
``sklearn.linear_model.lasso_path`` on the same 100-alpha grid
(``alpha_max = max|Xᵀy|/n`` down to ``1e-3·alpha_max``), both in float64 at
``tol = 1e-10``. The entry order of the variables (where each coefficient
first becomes nonzero as alpha decreases) is read from both.

Claim checked: jaxreg's path equals scikit-learn's (same alpha grid to 1e-10
relative, coefficients within 1e-6 of max|coef|) and the variables enter in the
order 3, 9, 4, 7, 2, 10, 5, 8, 6, 1 (1-based: bmi and s5 first, at the same
grid point; age last), as scikit-learn's path gives.

The alpha grid is solved by ``jaxreg.paths`` itself (vectorized over alphas),
not by ``jaxreg.sweep``: there is no training run per grid point here.

Outputs: ``lasso_path.csv`` (``alpha, feature, name, coef_jaxreg, coef_sklearn``),
``lasso_path.png``, ``lasso_path.json``.

Run: ``python -m experiments.lasso_path [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import jax
import numpy as np

from experiments import _common

NAME = "lasso_path"
EXPECTED_ORDER = [3, 9, 4, 7, 2, 10, 5, 8, 6, 1]   # 1-based; 3 and 9 enter at the same grid point
FULL = {"n_alphas": 100, "eps": 1e-3, "tol": 1e-10}
QUICK = {"n_alphas": 100, "eps": 1e-3, "tol": 1e-8}


class Raw(NamedTuple):
  cfg: dict
  names: tuple               # feature names
  alphas: np.ndarray         # decreasing, jaxreg's grid
  coefs: np.ndarray          # (n_alphas, 10), jaxreg.paths
  sk_alphas: np.ndarray
  sk_coefs: np.ndarray       # (n_alphas, 10), scikit-learn


def entry_order(coefs: np.ndarray) -> tuple[list[int], list[int]]:
  """1-based features in the order they first become nonzero along the path (rows: decreasing alpha).

  Ties (entering at the same grid point) are ordered by feature index. Returns
  ``(order, entry grid index per feature in that order)``.
  """
  nz = coefs != 0
  first = np.where(nz.any(0), nz.argmax(0), len(coefs))
  order = sorted(range(coefs.shape[1]), key=lambda j: (first[j], j))
  return [j + 1 for j in order], [int(first[j]) for j in order]


def run(args) -> Raw:
  from sklearn.linear_model import lasso_path as sk_lasso_path

  import jaxreg.paths
  cfg = QUICK if args.quick else FULL
  X, y, names = _common.diabetes()
  with jax.enable_x64(True):
    alphas, coefs = jaxreg.paths.lasso_path(X, y, alphas=cfg["n_alphas"], eps=cfg["eps"], tol=cfg["tol"],
                                           max_iter=100_000)
    alphas, coefs = np.asarray(alphas), np.asarray(coefs)
  import sklearn
  grid = ({"alphas": cfg["n_alphas"]} if tuple(int(v) for v in sklearn.__version__.split(".")[:2]) >= (1, 9)
          else {"n_alphas": cfg["n_alphas"]})   # scikit-learn 1.9 renamed n_alphas to alphas
  sk_alphas, sk_coefs, _ = sk_lasso_path(X, y, **grid, eps=cfg["eps"], tol=cfg["tol"], max_iter=100_000)
  return Raw(cfg, names, alphas, coefs, np.asarray(sk_alphas), np.asarray(sk_coefs).T)


def figure(names, alphas, coefs, sk_coefs, order, first):
  plt = _common.pyplot()
  fig, ax = plt.subplots(figsize=(8.5, 5))
  colors = plt.cm.tab10(np.arange(coefs.shape[1]))
  for j in range(coefs.shape[1]):
    ax.plot(alphas, coefs[:, j], color=colors[j], lw=2, label=f"{j + 1}: {names[j]}")
    ax.plot(alphas, sk_coefs[:, j], color="k", lw=0.8, ls="--")
    ax.annotate(f"{j + 1}", (alphas[-1], coefs[-1, j]), xytext=(4, 0), textcoords="offset points",
                va="center", fontsize=8, color=colors[j])
  for rank, (j, i) in enumerate(zip(order, first)):
    if i < len(alphas):
      ax.plot(alphas[i], 0, "o", color=colors[j - 1], ms=4)
      ax.annotate(f"{rank + 1}", (alphas[i], 0), xytext=(0, -12 - 9 * (rank % 2)), textcoords="offset points",
                  fontsize=7, ha="center", color=colors[j - 1])
  ax.plot([], [], color="k", lw=0.8, ls="--", label="scikit-learn")
  ax.axhline(0, color="gray", lw=0.5)
  ax.set_xscale("log")
  ax.invert_xaxis()
  ax.set_xlabel("alpha (log scale, decreasing →)")
  ax.set_ylabel("coefficient")
  ax.set_title("Diabetes lasso path: jaxreg.paths.lasso_path (colour) vs sklearn (dashed)\n"
               f"entry order {', '.join(map(str, order))}")
  ax.legend(fontsize=7, ncol=2, loc="lower left", title="feature (dots: entry, numbered by rank)",
            title_fontsize=7)
  ax.grid(alpha=0.3, which="both", lw=0.5)
  fig.tight_layout()
  return fig


def summarize(raw: Raw) -> _common.Summary:
  cfg, names, alphas, coefs, sk_alphas, sk_coefs = raw
  order, first = entry_order(coefs)
  sk_order, _ = entry_order(sk_coefs)
  grid_err = float(np.max(np.abs(alphas - sk_alphas) / sk_alphas))
  scale = float(np.abs(sk_coefs).max())
  coef_err = float(np.abs(coefs - sk_coefs).max() / scale)
  coef_tol = 1e-6 if cfg["tol"] <= 1e-10 else 1e-4
  held = grid_err <= 1e-10 and coef_err <= coef_tol and order == EXPECTED_ORDER and sk_order == EXPECTED_ORDER
  rows = [{"alpha": a, "feature": j + 1, "name": names[j], "coef_jaxreg": coefs[i, j], "coef_sklearn": sk_coefs[i, j]}
          for i, a in enumerate(alphas) for j in range(coefs.shape[1])]
  table = [{"rank": r + 1, "feature": j, "name": names[j - 1], "enters_at_alpha": alphas[i] if i < len(alphas)
            else float("nan")} for r, (j, i) in enumerate(zip(order, first))]
  measured = (f"entry order jaxreg {order}, scikit-learn {sk_order} (expected {EXPECTED_ORDER}); alpha grid "
              f"max rel. difference {grid_err:.1e}; coefficients max |jaxreg − sklearn| / max|coef| = {coef_err:.1e} "
              f"(tol {cfg['tol']:g}, float64)")
  return _common.Summary(
      rows=rows, columns=["alpha", "feature", "name", "coef_jaxreg", "coef_sklearn"], csv_digits=8,
      markdown=_common.markdown_table(table, ["rank", "feature", "name", "enters_at_alpha"]),
      claim="jaxreg.paths.lasso_path reproduces scikit-learn's diabetes lasso path (alpha grid to 1e-10, "
            f"coefficients to {coef_tol:g} of max|coef|) and the entry order 3, 9, 4, 7, 2, 10, 5, 8, 6, 1.",
      held=held, measured=measured, seeds=[],
      fields=dict(config=cfg, entry_order=order, entry_order_sklearn=sk_order, alpha_grid_max_rel_diff=grid_err,
                  coef_max_rel_diff=coef_err,
                  figure_caption="Lasso coefficient profiles on diabetes against alpha; jaxreg solid, scikit-learn "
                                 "dashed."),
      context={"order": order, "first": first})


def plot(raw: Raw, summary: _common.Summary):
  return figure(raw.names, raw.alphas, raw.coefs, raw.sk_coefs, summary.context["order"], summary.context["first"])


def readme(record: dict, rows: list[dict], figure: str) -> str:
  """The README's paragraph on this experiment, from its JSON record."""
  order, sk = record["entry_order"], record["entry_order_sklearn"]
  same = "the same order" if order == sk else f"a different order than scikit-learn's ({', '.join(map(str, sk))})"
  text = (f"`jaxreg.paths.lasso_path` on diabetes {'equals' if record['held'] else 'does **not** match'} "
          f"scikit-learn's path (alpha grid to {record['alpha_grid_max_rel_diff']:.0e}, coefficients to "
          f"{record['coef_max_rel_diff']:.1e} of max|coef|, float64, tol {record['config']['tol']:g}), and the "
          f"variables enter in {same}: {', '.join(map(str, order))}.")
  return _common.readme_paragraph("**The lasso path** (`lasso_path`, ESL Fig. 3.10).", f"![lasso path]({figure})",
                                  text)


def main(argv=None) -> dict:
  return _common.run_experiment(sys.modules[__name__], argv)


if __name__ == "__main__":
  main()
