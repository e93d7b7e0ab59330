"""Shared fixtures: every experiment's quick run happens once per test session, and its tests share it.

``quick_runs[name]`` runs ``experiments.NAME`` (a name of ``experiments._registry.EXPERIMENTS``)
with ``--quick`` into one session-wide folder the first time a test asks for it, in this process
(one JAX import for all of them), and returns a :class:`QuickRun`: the folder, the returned
record, the JSON file as written, and the CSV's rows and columns. A test that never asks for an
experiment does not run it (``pytest -k lasso`` runs only ``lasso_path``). An experiment that raised
raises again for every test that asks for it, without running again.
"""

from __future__ import annotations

import csv
import json
import pathlib
import sys
from typing import NamedTuple

import pytest

# experiments/ is a folder of scripts at the repository root, not part of the installed package: make it
# importable under plain `pytest` too (pyproject's `pythonpath` does it for pytest >= 7 run from the root).
ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))


class QuickRun(NamedTuple):
  name: str
  out: pathlib.Path        # the folder it wrote NAME.csv / .png / .json (and NAME.md) into
  record: dict             # what main() returned
  json: dict               # NAME.json as written
  rows: list               # NAME.csv rows (dicts of strings)
  columns: list            # NAME.csv header


class QuickRuns:
  """``runs[name]`` -> :class:`QuickRun`, computed on first use and kept for the session."""

  def __init__(self, out: pathlib.Path):
    self.out = out
    self._done: dict[str, QuickRun | BaseException] = {}

  def __getitem__(self, name: str) -> QuickRun:
    if name not in self._done:
      from experiments import _registry
      try:
        record = _registry.load(name).main(["--quick", "--out", str(self.out)])
        with open(self.out / f"{name}.csv", newline="") as f:
          reader = csv.DictReader(f)
          rows = list(reader)
        self._done[name] = QuickRun(name, self.out, record, json.loads((self.out / f"{name}.json").read_text()),
                                    rows, list(reader.fieldnames))
      except Exception as e:   # reported once per asking test, computed once
        self._done[name] = e
    done = self._done[name]
    if isinstance(done, BaseException):
      raise RuntimeError(f"the quick run of experiments.{name} failed") from done
    return done


@pytest.fixture(scope="module")
def x64():
  """float64 for a whole test module (``pytestmark = pytest.mark.usefixtures("x64")``), as scikit-learn computes."""
  import jax
  old = jax.config.jax_enable_x64
  jax.config.update("jax_enable_x64", True)
  yield
  jax.config.update("jax_enable_x64", old)


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory) -> QuickRuns:
  return QuickRuns(tmp_path_factory.mktemp("quick_results"))
