"""The experiments run in quick mode, write their three outputs, and show their claims where quick mode can.

Each experiment's ``main(["--quick", "--out", DIR])`` is called in this process
(one JAX import for all of them). The references are outside the code under
test: scikit-learn's lasso path and the published entry order, exact zeros
counted on the written CSV, and the U-curve read from the CSV.
"""

import csv
import json
import pathlib
import sys

import numpy as np
import pytest

# experiments/ is a folder of scripts at the repository root, not part of the installed package: make it
# importable under plain `pytest` too (`python -m pytest` already puts the working directory on sys.path).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from experiments import all as run_all  # noqa: E402
from experiments import alpha_sweep, constraint_regions, lasso_path, sparsity  # noqa: E402

JSON_FIELDS = {"name", "claim", "held", "measured", "quick", "seeds", "wall_time_s", "jaxreg_version",
               "jax_version", "device", "cpu", "files"}


def _read_csv(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def out(tmp_path_factory):
  return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def runs(out):
  """Runs each experiment once in quick mode into ``out``; returns name -> JSON record."""
  records = {}
  for mod in (alpha_sweep, sparsity, constraint_regions, lasso_path):
    records[mod.NAME] = mod.main(["--quick", "--out", str(out)])
  return records


@pytest.mark.parametrize("name", ["alpha_sweep", "sparsity", "constraint_regions", "lasso_path"])
def test_outputs_exist_with_json_fields(runs, out, name):
  for ext in ("csv", "png", "json"):
    assert (out / f"{name}.{ext}").stat().st_size > 0
  record = json.loads((out / f"{name}.json").read_text())
  assert JSON_FIELDS <= set(record)
  assert record["name"] == name and record["quick"] is True
  assert record["files"]["png"] == f"{name}.png"
  assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_alpha_sweep_csv_and_u_curve(runs, out):
  rows = _read_csv(out / "alpha_sweep.csv")
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


def test_alpha_sweep_is_deterministic(runs, out, tmp_path):
  alpha_sweep.main(["--quick", "--out", str(tmp_path)])
  assert (tmp_path / "alpha_sweep.csv").read_bytes() == (out / "alpha_sweep.csv").read_bytes()


def test_sparsity_exact_zeros_only_from_proximal_forms(runs, out):
  rows = _read_csv(out / "sparsity.csv")
  assert {"method", "alpha", "seed", "zero_fraction", "dead_neurons", "test_accuracy"} <= set(rows[0])
  zeros = {m: [float(r["zero_fraction"]) for r in rows if r["method"] == m] for m in sparsity.METHODS}
  assert max(zeros["proximal_l1"]) > 0.1
  assert max(zeros["cumulative_l1"]) > 0.1
  assert max(zeros["add_l1"]) == 0.0      # subgradient L1 never lands exactly on 0
  assert max(zeros["add_l2"]) == 0.0
  assert max(int(r["dead_neurons"]) for r in rows if r["method"] == "proximal_group_lasso") > 0


def test_constraint_regions_l1_path_hits_an_axis_l2_does_not(runs, out):
  rows = _read_csv(out / "constraint_regions.csv")
  assert {"alpha", "penalty", "solver", "beta1", "beta2"} <= set(rows[0])
  l1 = np.array([[float(r["beta1"]), float(r["beta2"])] for r in rows
                 if r["penalty"] == "L1" and r["solver"] == "jaxreg.paths"])
  l2 = np.array([[float(r["beta1"]), float(r["beta2"])] for r in rows
                 if r["penalty"] == "L2" and r["solver"] == "jaxreg.paths"])
  on_axis = ((l1 == 0).sum(1) == 1)
  assert on_axis.any()                     # one coefficient exactly 0, the other not
  assert (l2 != 0).all()
  assert runs["constraint_regions"]["held"] is True


def test_lasso_path_matches_sklearn_entry_order(runs, out):
  record = runs["lasso_path"]
  assert record["entry_order"] == [3, 9, 4, 7, 2, 10, 5, 8, 6, 1]
  assert record["entry_order_sklearn"] == record["entry_order"]
  rows = _read_csv(out / "lasso_path.csv")
  jr = np.array([float(r["coef_jaxreg"]) for r in rows])
  sk = np.array([float(r["coef_sklearn"]) for r in rows])
  assert np.abs(jr - sk).max() <= 1e-4 * np.abs(sk).max()
  assert record["held"] is True


def test_all_writes_index_and_skips_missing(runs, out):
  assert run_all._module("no_such_experiment") is None
  run_all.main(["--index-only", "--out", str(out)])
  index = (out / "README.md").read_text()
  for name in ("alpha_sweep", "sparsity", "constraint_regions", "lasso_path"):
    assert f"`{name}` (quick)" in index
    assert f"({name}.png)" in index and f"![{name}]({name}.png)" in index
  assert runs["lasso_path"]["claim"].split(" (")[0] in index.replace("\\|", "|")
