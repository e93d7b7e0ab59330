"""The benchmarks and the generated README: records of one schema, and README blocks regenerated from them.

Each ``experiments/bench_*.py`` runs once per module with ``--quick --out tmp`` (tiny shapes, a
few seconds; not a measurement) and must write ``bench_NAME.json`` with the common record fields
and well-formed tables. ``python -m experiments.report`` must rewrite exactly the README's marked
blocks from the records and leave everything else alone. Tests never assert on wall time.
"""

from __future__ import annotations

import json
import numbers
import re
import shutil

import jax
import pytest

from experiments import _common, _registry, report

pytestmark = pytest.mark.slow   # quick runs of whole experiments/benchmarks: `pytest -m slow` (run by .ci/run)

RECORD_FIELDS = {"name", "kind", "mode", "quick", "command", "date", "settings", "tables", "targets", "notes",
                 "wall_time_s", "cpu_time_s", "load_average_1min", "jaxreg_version", "git_commit", "jax_version",
                 "optax_version", "numpy_version", "python_version", "platform", "device", "cpu", "cpu_count",
                 "machine", "versions"}
README = _common.RESULTS.parents[1] / "README.md"


class _Benches:
  def __init__(self, out):
    self.out, self.done = out, {}

  def __getitem__(self, name):
    if name not in self.done:
      self.done[name] = _registry.load(name).main(["--quick", "--out", str(self.out)])
    return self.done[name]


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
  return _Benches(tmp_path_factory.mktemp("bench"))


@pytest.mark.parametrize("name", _registry.BENCHMARKS)
def test_bench_quick_writes_its_record(benches, name):
  prng, x64 = jax.config.jax_default_prng_impl, jax.config.jax_enable_x64
  record = benches[name]
  assert (jax.config.jax_default_prng_impl, jax.config.jax_enable_x64) == (prng, x64)   # no global left changed
  written = json.loads((benches.out / f"{name}.json").read_text())
  assert RECORD_FIELDS <= set(written)
  assert written["name"] == name and written["kind"] == "benchmark"
  assert written["mode"] == "quick" and written["quick"] is True
  assert written["command"] == f"python -m experiments.{name} --quick"
  assert written["machine"] and written["cpu_count"] >= 1
  assert set(written["load_average_1min"]) == {"start", "end"}
  assert written["tables"] and written["tables"].keys() == record["tables"].keys()
  for key, table in written["tables"].items():
    assert isinstance(table["title"], str) and table["title"], key
    assert table["rows"], key
    for row in table["rows"]:
      assert list(row) == table["columns"], (key, row)
      for col, v in row.items():
        if isinstance(v, numbers.Number) and not isinstance(v, bool) and re.search(r"(_ms|_s|_mib|over|ratio|speedup)",
                                                                                   col):
          assert v >= 0, (key, col, v)
  for t in written["targets"]:
    assert set(t) == {"target", "value", "met"} and isinstance(t["met"], bool)


@pytest.mark.parametrize("name", _registry.BENCHMARKS)
def test_bench_readme_block_renders_its_tables(benches, name):
  record = json.loads(json.dumps(benches[name], default=float))
  text = _registry.load(name).readme(json.loads((benches.out / f"{name}.json").read_text()))
  assert f"`python -m experiments.{name}`" in text
  assert "quick smoke run" in text and record["machine"] in text
  n_rows = sum(len(t["rows"]) for t in record["tables"].values())
  table_lines = [line for line in text.splitlines() if line.startswith("|") and not line.startswith("|---")]
  assert len(table_lines) >= min(n_rows, len(record["tables"]) + 1)


def test_run_mode_and_quick_presets():
  def options(parser):
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--no-donate", action="store_true")

  parse = lambda argv: _common.parse_args(argv, "bench_x", options=options)
  assert _common.run_mode(parse([]), "bench_x") == ("full", "python -m experiments.bench_x")
  assert _common.run_mode(parse(["--repeats", "5", "--no-donate"]), "bench_x") == (
      "reduced", "python -m experiments.bench_x --repeats 5 --no-donate")
  quick = _common.apply_quick(parse(["--quick"]), {"repeats": 2})
  assert quick.repeats == 2 and _common.run_mode(quick, "bench_x") == ("quick", "python -m experiments.bench_x --quick")
  mine = _common.apply_quick(parse(["--quick", "--repeats", "4"]), {"repeats": 2})   # the command line wins
  assert mine.repeats == 4
  assert _common.run_mode(mine, "bench_x")[1] == "python -m experiments.bench_x --quick --repeats 4"


def test_replace_block_touches_only_its_markers():
  text = "a\n<!-- BEGIN x -->\nold\n<!-- END x -->\nb\n<!-- BEGIN y -->\nkeep\n<!-- END y -->\n"
  new, found = report.replace_block(text, "x", "new\nlines\n")
  assert found and new == "a\n<!-- BEGIN x -->\nnew\nlines\n<!-- END x -->\nb\n<!-- BEGIN y -->\nkeep\n<!-- END y -->\n"
  assert report.replace_block(new, "x", "new\nlines") == (new, True)       # idempotent
  assert report.replace_block(text, "z", "anything") == (text, False)
  assert report.replace_block(text, "x", r"\1 $& \g<0>")[0].count(r"\1 $& \g<0>") == 1   # no regex escapes


def _block(text, name):
  m = re.search(rf"<!-- BEGIN {name} -->\n(.*?)<!-- END {name} -->", text, re.S)
  return m and m.group(1)


def test_report_regenerates_the_readme_blocks_from_records(tmp_path):
  # A copy of the README with every generated block emptied, and a copy of the committed records.
  results = tmp_path / "experiments" / "results"
  results.mkdir(parents=True)
  for p in _common.RESULTS.iterdir():
    if p.suffix in (".json", ".csv"):
      shutil.copy(p, results / p.name)
  original = README.read_text()
  names = ["results", "performance", *_registry.EXPERIMENTS, *_registry.BENCHMARKS]
  stale = original
  for name in names:
    assert _block(original, name) is not None, f"README has no block {name}"
    stale, found = report.replace_block(stale, name, "STALE")
    assert found
  readme = tmp_path / "README.md"
  readme.write_text(stale)
  assert report.main(["--results", str(results), "--readme", str(readme)]) == 0
  regenerated = readme.read_text()
  for name in names:
    assert "STALE" not in _block(regenerated, name), name
  # the committed README is exactly what the committed records give, outside and inside the blocks
  assert regenerated == original
  assert (results / "README.md").read_text() == (_common.RESULTS / "README.md").read_text()
  assert report.main(["--results", str(results), "--readme", str(readme), "--check"]) == 0
  # a changed record changes its block, and only that block
  record = json.loads((results / "bench_dropout.json").read_text())
  record["machine"] = "a different machine"
  (results / "bench_dropout.json").write_text(json.dumps(record))
  assert report.main(["--results", str(results), "--readme", str(readme), "--check", "--no-index"]) == 1
  report.main(["--results", str(results), "--readme", str(readme), "--no-index"])
  changed = readme.read_text()
  assert "a different machine" in _block(changed, "bench_dropout")
  assert [n for n in names if _block(changed, n) != _block(original, n)] == ["performance", "bench_dropout"]


def test_report_renders_quick_bench_records(benches):
  for name in _registry.BENCHMARKS:
    benches[name]
  blocks = report.blocks(benches.out, README.parent)
  assert set(blocks) == {"performance", *_registry.BENCHMARKS}
  assert "quick" in blocks["performance"]
