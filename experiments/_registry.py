"""The one list of experiments and benchmarks: ``experiments.all``, ``experiments.report`` and the tests read it.

Every experiment ``experiments/NAME.py`` has the same shape (see :mod:`experiments._common`):
``NAME``, ``FULL`` / ``QUICK`` configurations, ``run(args) -> raw``, ``summarize(raw) ->
_common.Summary``, ``plot(raw, summary) -> Figure``, ``readme(record, rows, figure) -> str`` and
``main(argv) -> record``; it writes ``NAME.csv``, ``NAME.png`` and ``NAME.json``. Every benchmark
``experiments/bench_*.py`` has ``NAME``, ``main(argv) -> record`` (``--quick`` / ``--out`` like the
experiments, writing ``NAME.json``) and ``readme(record) -> str`` (its README table).

Add a module here and it is run by ``python -m experiments.all``, indexed in
``experiments/results/README.md``, rendered into the README by ``python -m experiments.report``
(between ``<!-- BEGIN NAME -->`` and ``<!-- END NAME -->``) and run in quick mode by the tests.
This module imports nothing heavy: the modules are imported when :func:`load` asks for them.
"""

from __future__ import annotations

import importlib
import types

EXPERIMENTS: tuple[str, ...] = ("alpha_sweep", "sparsity", "constraint_regions", "dropout_mnist1d",
                                "regularizer_table", "adamw_vs_l2", "lasso_path", "search", "double_descent",
                                "mc_uncertainty", "concrete_rate")
"""The experiments, in the order the index and the README list them."""

BENCHMARKS: tuple[str, ...] = ("bench_overhead", "bench_dropout", "bench_sweep", "bench_paths")
"""The benchmarks, in the order the README's performance section lists them."""


def load(name: str) -> types.ModuleType | None:
  """The module ``experiments.NAME``, or ``None`` when ``experiments/NAME.py`` does not exist.

  Raises:
    ValueError: ``name`` is not registered.
  """
  if name not in EXPERIMENTS + BENCHMARKS:
    raise ValueError(f"name must be one of {list(EXPERIMENTS + BENCHMARKS)}, got {name!r}.")
  try:
    return importlib.import_module(f"experiments.{name}")
  except ModuleNotFoundError as e:
    if e.name == f"experiments.{name}":
      return None
    raise
