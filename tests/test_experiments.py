"""The experiments: the registry and the shape every module has, quick runs and their outputs, the index.

Each experiment runs once per test session in quick mode (the ``quick_runs`` fixture of
``conftest.py``), in this process; the tests read the files it wrote, as a user would. The
references are outside the code under test: scikit-learn's lasso path and the published entry
order, exact zeros counted on the written CSV, and the U-curve read from the CSV. Determinism is
checked on the cheapest experiment only (a rerun writes a byte-identical CSV).
"""

import inspect
import re

import numpy as np
import pytest

from experiments import _common, _registry, alpha_sweep, sparsity
from experiments import all as run_all

pytestmark = pytest.mark.slow   # quick runs of whole experiments/benchmarks: `pytest -m slow` (run by .ci/run)

JSON_FIELDS = {"name", "claim", "held", "measured", "quick", "seeds", "command", "wall_time_s", "cpu_time_s",
               "jaxreg_version", "jax_version", "device", "cpu", "machine", "files"}
CHEAPEST = "constraint_regions"   # the determinism rerun


def _mean(rows, col, **where):
  return np.mean([float(r[col]) for r in rows if all(r[k] == v for k, v in where.items())])


# ----------------------------------------------------------------------------- the registry and the shape


def test_registry_lists_every_experiment_module_once():
  assert len(set(_registry.EXPERIMENTS)) == len(_registry.EXPERIMENTS) == 11
  assert run_all.EXPERIMENTS is _registry.EXPERIMENTS
  on_disk = {p.stem for p in _common.RESULTS.parent.glob("*.py")
             if not p.stem.startswith(("_", "bench_")) and p.stem not in ("all", "report")}
  assert on_disk == set(_registry.EXPERIMENTS)
  assert {p.stem for p in _common.RESULTS.parent.glob("bench_*.py")} == set(_registry.BENCHMARKS)


@pytest.mark.parametrize("name", _registry.EXPERIMENTS)
def test_every_experiment_has_the_same_shape(name):
  mod = _registry.load(name)
  assert mod.NAME == name
  assert isinstance(mod.FULL, dict) and isinstance(mod.QUICK, dict)
  arity = {"run": 1, "summarize": 1, "plot": 2, "readme": 3, "main": 1}   # run(args), plot(raw, summary), …
  for fn, n in arity.items():
    assert len(inspect.signature(getattr(mod, fn)).parameters) == n, fn
  assert mod.__doc__   # the --help text


def test_registry_load_refuses_unknown_and_skips_missing(monkeypatch):
  with pytest.raises(ValueError, match="no_such_experiment"):
    _registry.load("no_such_experiment")
  monkeypatch.setattr(_registry, "EXPERIMENTS", (*_registry.EXPERIMENTS, "not_written_yet"))
  assert _registry.load("not_written_yet") is None


# ----------------------------------------------------------------------------- every quick run


@pytest.mark.parametrize("name", _registry.EXPERIMENTS)
def test_outputs_exist_with_json_fields(quick_runs, name):
  run = quick_runs[name]
  for ext in ("csv", "png", "json"):
    assert (run.out / f"{name}.{ext}").stat().st_size > 0
  assert (run.out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  js = run.json
  assert JSON_FIELDS <= set(js)
  assert js["name"] == name and js["quick"] is True and isinstance(js["held"], bool)
  assert js["command"] == f"python -m experiments.{name} --quick"
  assert js["files"]["png"] == f"{name}.png" and js["files"]["csv"] == f"{name}.csv"
  assert (js["claim"], js["held"], js["measured"]) == (run.record["claim"], run.record["held"], run.record["measured"])
  if "claims" in js:
    assert js["held"] == all(c["held"] for c in js["claims"])


@pytest.mark.parametrize("name", _registry.EXPERIMENTS)
def test_readme_paragraph_renders_from_the_quick_record(quick_runs, name):
  run = quick_runs[name]
  text = _registry.load(name).readme(run.json, run.rows, f"experiments/results/{name}.png")
  assert f"(experiments/results/{name}.png)" in text and f"`{name}`" in text
  assert not re.search(r"\b(None|nan|NaN|inf)\b", text), text


def test_cheapest_experiment_is_deterministic(quick_runs, tmp_path):
  run = quick_runs[CHEAPEST]
  _registry.load(CHEAPEST).main(["--quick", "--out", str(tmp_path)])
  assert (tmp_path / f"{CHEAPEST}.csv").read_bytes() == (run.out / f"{CHEAPEST}.csv").read_bytes()


# ----------------------------------------------------------------------------- claims quick mode can show


def test_alpha_sweep_csv_and_u_curve(quick_runs):
  rows = quick_runs["alpha_sweep"].rows
  assert {"alpha", "penalty", "seed", "train_error", "test_error"} <= set(rows[0])
  lo, hi, n = alpha_sweep.QUICK["alphas"]
  assert len(rows) == n * 2 * alpha_sweep.QUICK["seeds"]
  assert {r["penalty"] for r in rows} == {"L1", "L2"}
  for pen in ("L1", "L2"):
    alphas = sorted({float(r["alpha"]) for r in rows if r["penalty"] == pen})
    np.testing.assert_allclose(alphas, np.geomspace(lo, hi, n), rtol=1e-5)
    mean = lambda col, a, pen=pen: np.mean([float(r[col]) for r in rows
                                             if r["penalty"] == pen and float(r["alpha"]) == a])
    # Too small alpha overfits (train error 0, test error far above it); too large underfits.
    assert mean("train_error", alphas[0]) < 0.02 and mean("test_error", alphas[0]) > 0.5
    assert mean("train_error", alphas[-1]) > 0.7
  # For L2 the quick run already shows the U: the best test error is strictly inside the range.
  test = [np.mean([float(r["test_error"]) for r in rows if r["penalty"] == "L2" and float(r["alpha"]) == a])
          for a in sorted({float(r["alpha"]) for r in rows})]
  assert 0 < int(np.argmin(test)) < len(test) - 1


def test_sparsity_exact_zeros_only_from_proximal_forms(quick_runs):
  rows = quick_runs["sparsity"].rows
  assert {"method", "alpha", "seed", "zero_fraction", "dead_neurons", "test_accuracy"} <= set(rows[0])
  zeros = {m: [float(r["zero_fraction"]) for r in rows if r["method"] == m] for m in sparsity.METHODS}
  assert max(zeros["proximal_l1"]) > 0.1
  assert max(zeros["cumulative_l1"]) > 0.1
  assert max(zeros["add_l1"]) == 0.0      # subgradient L1 never lands exactly on 0
  assert max(zeros["add_l2"]) == 0.0
  assert max(int(r["dead_neurons"]) for r in rows if r["method"] == "proximal_group_lasso") > 0


def test_constraint_regions_l1_path_hits_an_axis_l2_does_not(quick_runs):
  run = quick_runs["constraint_regions"]
  rows = run.rows
  assert {"alpha", "penalty", "solver", "beta1", "beta2"} <= set(rows[0])
  l1 = np.array([[float(r["beta1"]), float(r["beta2"])] for r in rows
                 if r["penalty"] == "L1" and r["solver"] == "jaxreg.paths"])
  l2 = np.array([[float(r["beta1"]), float(r["beta2"])] for r in rows
                 if r["penalty"] == "L2" and r["solver"] == "jaxreg.paths"])
  on_axis = ((l1 == 0).sum(1) == 1)
  assert on_axis.any()                     # one coefficient exactly 0, the other not
  assert (l2 != 0).all()
  assert run.record["held"] is True
  assert run.record["l1_axis_coefficient"] in (1, 2)


def test_lasso_path_matches_sklearn_entry_order(quick_runs):
  run = quick_runs["lasso_path"]
  record = run.record
  assert record["entry_order"] == [3, 9, 4, 7, 2, 10, 5, 8, 6, 1]
  assert record["entry_order_sklearn"] == record["entry_order"]
  jr = np.array([float(r["coef_jaxreg"]) for r in run.rows])
  sk = np.array([float(r["coef_sklearn"]) for r in run.rows])
  assert np.abs(jr - sk).max() <= 1e-4 * np.abs(sk).max()
  assert record["held"] is True


# ----------------------------------------------------------------------------- experiments.all and the index


def test_all_writes_index_from_records(quick_runs):
  names = ("alpha_sweep", "sparsity", "constraint_regions", "lasso_path")
  out = quick_runs[names[0]].out
  for name in names:
    quick_runs[name]
  assert run_all.main(["--index-only", "--out", str(out)]) == 0
  index = (out / "README.md").read_text()
  assert "**These are quick (smoke-test) runs" in index
  for name in names:
    assert f"`{name}` (quick)" in index
    assert f"({name}.png)" in index and f"![{name}]({name}.png)" in index
  assert quick_runs["lasso_path"].record["claim"].split(" (")[0] in index.replace("\\|", "|")


def test_all_only_refuses_unknown_names(capsys):
  with pytest.raises(SystemExit):
    run_all.main(["--only", "alpha_sweep,nope", "--index-only"])
  assert "nope" in capsys.readouterr().err
