"""Experiment ``search``: its quick run, its outputs, and its table recomputed from the CSV it wrote.

The experiment runs once per test session (the ``quick_runs`` fixture of ``conftest.py``); the
tests read the files it wrote, as a user would. Every selection in the JSON table is recomputed
from the CSV rows (seed means of validation error, argmin), and the step counts by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments import search

pytestmark = pytest.mark.slow   # quick runs of whole experiments/benchmarks: `pytest -m slow` (run by .ci/run)


@pytest.fixture
def run(quick_runs):
  return quick_runs["search"]


def _rows(run, method, stage=None):
  return [r for r in run.rows if r["method"] == method and (stage is None or int(r["stage"]) == stage)]


def _seed_mean(rows, col):
  by: dict[int, list[float]] = {}
  for r in rows:
    by.setdefault(int(r["config"]), []).append(float(r[col]))
  return {c: float(np.mean(v)) for c, v in by.items()}


def test_outputs_and_claims(run):
  js = run.json
  for suffix in (".csv", ".png", ".json", ".md"):
    assert (run.out / f"search{suffix}").stat().st_size > 0
  assert run.columns == search.COLUMNS
  assert [t["method"] for t in js["table"]] == list(search.METHODS)
  assert len(js["claims"]) == 3 and js["held"] == all(c["held"] for c in js["claims"])
  assert js["command"] == "python -m experiments.search --quick"


def test_row_counts_and_step_budgets(run):
  cfg = search.QUICK
  n, seeds, steps = cfg["alphas"][2], cfg["seeds"], cfg["steps"]
  assert len(_rows(run, "grid")) == n * seeds and len(_rows(run, "random")) == cfg["n_random"] * seeds
  table = {t["method"]: t for t in run.json["table"]}
  assert table["grid"]["steps"] == n * seeds * steps
  # halving: rungs of n, ceil(n/eta), ... configurations at round(R·eta^-(K-1-i)) steps, by hand
  k, eta = cfg["n_rungs"], cfg["eta"]
  rung_steps = [round(steps / eta ** (k - 1 - i)) for i in range(k)]
  counts = [n]
  for _ in range(k - 1):
    counts.append(math.ceil(counts[-1] / eta))
  assert run.json["config"]["halving_rungs"] == rung_steps and run.json["config"]["halving_survivors"] == counts
  for i, c in enumerate(counts):
    assert len(_rows(run, "halving", i)) == c * seeds
  assert table["halving"]["steps"] == seeds * sum(c * (s - p) for c, s, p in zip(counts, rung_steps, [0, *rung_steps]))
  assert table["pbt"]["steps"] == seeds * cfg["population"] * steps
  assert len(_rows(run, "pbt")) == seeds * cfg["population"] * (steps // cfg["interval"])


def test_selections_recomputed_from_the_csv(run):
  table = {t["method"]: t for t in run.json["table"]}
  for method in ("grid", "random"):
    rows = _rows(run, method)
    val, test = _seed_mean(rows, "val_error"), _seed_mean(rows, "test_error")
    best = min(val, key=lambda c: (val[c], c))
    assert table[method]["val_error"] == pytest.approx(val[best], abs=1e-6)
    assert table[method]["test_error"] == pytest.approx(test[best], abs=1e-6)
    alpha = float(next(r["alpha"] for r in rows if int(r["config"]) == best))
    assert table[method]["alpha"] == pytest.approx(alpha, rel=1e-5)
  # halving: each rung keeps the best ceil(n/eta) of the previous one by seed-mean validation error
  k = search.QUICK["n_rungs"]
  for i in range(k - 1):
    val = _seed_mean(_rows(run, "halving", i), "val_error")
    kept = sorted(val, key=lambda c: (val[c], c))[:math.ceil(len(val) / search.QUICK["eta"])]
    assert sorted(kept) == sorted(_seed_mean(_rows(run, "halving", i + 1), "val_error"))
  last = _seed_mean(_rows(run, "halving", k - 1), "val_error")
  assert table["halving"]["val_error"] == pytest.approx(min(last.values()), abs=1e-6)
  ref = table["grid"]["test_error"]
  for t in run.json["table"]:
    assert t["vs_grid"] == pytest.approx(t["test_error"] - ref, abs=1e-6)


def test_pbt_rows_follow_the_perturbation_rule(run):
  # Between intervals a member keeps its hyperparameters or takes another member's times 0.8 or 1.25
  # (resampling with probability 0.25 may also draw a fresh value inside the space).
  cfg = search.QUICK
  for seed in range(cfg["seeds"]):
    rows = [r for r in _rows(run, "pbt") if int(r["seed"]) == seed]
    n_int = cfg["steps"] // cfg["interval"]
    lr = np.array([[float(r["lr"]) for r in rows if int(r["stage"]) == j] for j in range(n_int)])
    lo, hi = cfg["lr_range"]
    for j in range(n_int - 1):
      for m in range(cfg["population"]):
        same = np.isclose(lr[j + 1, m], lr[j, m], rtol=1e-5)
        scaled = any(np.isclose(lr[j + 1, m], lr[j, p] * f, rtol=1e-4) for p in range(cfg["population"])
                     for f in (0.8, 1.25))
        assert same or scaled or lo <= lr[j + 1, m] <= hi
