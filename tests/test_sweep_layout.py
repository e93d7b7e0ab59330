"""Tests for the sweep's chunk and shard layout (jaxreg/_sweep/_layout.py): pure numpy, nothing compiles.

The references are brute force: every configuration is counted over all chunks,
and grid order is checked against ``itertools.product``.
"""

import ast
import itertools
import os

import numpy as np
import pytest

from jaxreg._sweep._layout import _flat_grid, _pad_to, _plan, _to_axes

SWEEP_DIR = os.path.join(os.path.dirname(__file__), os.pardir, "jaxreg", "_sweep")
CONFIGS = list(itertools.product(range(1, 8), range(1, 6), [None, *range(1, 14)], [1, 2, 3, 8]))


def check(layout, G, S, chunk_size, n_dev):
  covered = np.zeros((S, G), int)
  for chunk in layout.chunks:
    covered[chunk.s0:chunk.s1, chunk.g0:chunk.g1] += 1
    n_s, n_g = chunk.shape
    assert n_s >= 1 and n_g >= 1
    if chunk_size is not None:
      assert n_s * n_g <= chunk_size
    # Every chunk runs on the same lanes (one compiled program); padding repeats the last real configuration.
    assert len(chunk.s_idx) == layout.s_pad and len(chunk.g_idx) == layout.g_pad
    np.testing.assert_array_equal(chunk.s_idx[:n_s], np.arange(chunk.s0, chunk.s1))
    np.testing.assert_array_equal(chunk.g_idx[:n_g], np.arange(chunk.g0, chunk.g1))
    assert np.all(chunk.s_idx[n_s:] == chunk.s1 - 1) and np.all(chunk.g_idx[n_g:] == chunk.g1 - 1)
  np.testing.assert_array_equal(covered, 1)   # every configuration exactly once
  sharded, other = (layout.s_pad, layout.g_pad) if layout.shard_seeds else (layout.g_pad, layout.s_pad)
  assert sharded % n_dev == 0
  assert other == (layout.g_block if layout.shard_seeds else layout.s_block)   # only the sharded axis is padded
  assert layout.s_block <= layout.s_pad < layout.s_block + n_dev
  assert layout.g_block <= layout.g_pad < layout.g_block + n_dev
  # The sharded axis is the one that pads fewer lanes (the grid when they tie).
  by_grid, by_seeds = layout.s_block * _pad_to(layout.g_block, n_dev), _pad_to(layout.s_block, n_dev) * layout.g_block
  assert layout.s_pad * layout.g_pad == min(by_grid, by_seeds)
  assert layout.shard_seeds == (by_seeds < by_grid)


def test_every_configuration_is_covered_exactly_once_on_padded_lanes():
  for G, S, chunk_size, n_dev in CONFIGS:
    check(_plan(G, S, chunk_size, n_dev), G, S, chunk_size, n_dev)


def test_blocks_follow_the_documented_rule():
  for G, S, chunk_size, n_dev in CONFIGS:
    layout = _plan(G, S, chunk_size, n_dev)
    if chunk_size is None:
      assert (layout.s_block, layout.g_block, len(layout.chunks)) == (S, G, 1)
    else:   # g_block = min(G, chunk_size), s_block = chunk_size // g_block clipped to [1, S]
      assert layout.g_block == min(G, chunk_size)
      assert layout.s_block == min(S, max(1, chunk_size // layout.g_block))
    assert len(layout.chunks) == -(-S // layout.s_block) * -(-G // layout.g_block)


@pytest.mark.parametrize("G, S, chunk_size, n_dev, expected", [
    # (s_block, g_block, shard_seeds, s_pad, g_pad, number of chunks)
    (10, 3, 4, 1, (1, 4, False, 1, 4, 9)),      # the tests' 5 × 2 grid × 3 seeds: 9 chunks, ragged tails
    (10, 3, 7, 8, (1, 7, False, 1, 8, 6)),      # 7 grid points on 8 devices: one padded lane
    (10, 3, None, 8, (3, 10, False, 3, 16, 1)),
    (1, 16, None, 8, (16, 1, True, 16, 1, 1)),  # a seeds-only sweep shards its seeds
    (1, 5, 2, 1, (2, 1, False, 2, 1, 3)),
    (3, 4, 12, 2, (4, 3, True, 4, 3, 1)),       # 4 seeds × 3 points on 2 devices: seeds split evenly
])
def test_hand_computed_layouts(G, S, chunk_size, n_dev, expected):
  layout = _plan(G, S, chunk_size, n_dev)
  assert (layout.s_block, layout.g_block, layout.shard_seeds, layout.s_pad, layout.g_pad,
          len(layout.chunks)) == expected


def test_chunk_names_are_unique_and_ordered_seed_blocks_first():
  layout = _plan(10, 3, 4, 1)
  assert [c.name(0) for c in layout.chunks] == [f"s0-{i}-{j}" for i in range(3) for j in range(3)]
  assert layout.chunks[-1].name(2) == "s2-2-2"
  last = layout.chunks[-1]   # the ragged corner: seed 2, grid points 8 and 9
  assert (last.s0, last.s1, last.g0, last.g1) == (2, 3, 8, 10)
  np.testing.assert_array_equal(last.g_idx, [8, 9, 9, 9])


def test_flat_grid_is_the_cartesian_product_in_c_order():
  axes = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([10, 20]), "c": np.array([0.5, 0.25])}
  flat = _flat_grid(axes)
  assert list(flat) == ["a", "b", "c"]
  np.testing.assert_array_equal(np.stack(list(flat.values()), axis=1), list(itertools.product(*axes.values())))
  assert _flat_grid({}) == {}


def test_to_axes_puts_static_axes_then_grid_then_seeds():
  static_shape, grid_shape, S, leaf = (2, 3), (4, 5), 6, (7,)
  T, G = int(np.prod(static_shape)), int(np.prod(grid_shape))
  t, s, g = np.meshgrid(np.arange(T), np.arange(S), np.arange(G), indexing="ij")
  flat = np.broadcast_to((1_000_000 * t + 1_000 * s + g)[..., None] * 10 + np.arange(7), (T, S, G, *leaf))
  x = _to_axes(flat, static_shape, grid_shape)
  assert x.shape == (*static_shape, *grid_shape, S, *leaf)
  for idx in itertools.product(*map(range, (*static_shape, *grid_shape, S))):
    t = np.ravel_multi_index(idx[:2], static_shape)
    g = np.ravel_multi_index(idx[2:4], grid_shape)
    np.testing.assert_array_equal(x[idx], (1_000_000 * t + 1_000 * idx[4] + g) * 10 + np.arange(7))


def _imports(path):
  """The dotted names a module imports (``from a import b`` gives ``a.b``)."""
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_layout_is_pure_numpy_and_the_sweep_imports_nothing_above_it():
  roots = {name.split(".")[0] for name in _imports(os.path.join(SWEEP_DIR, "_layout.py"))}
  assert roots <= {"__future__", "dataclasses", "collections", "numpy"}, roots
  for name in sorted(os.listdir(SWEEP_DIR)):
    if name.endswith(".py"):
      library = {m for m in _imports(os.path.join(SWEEP_DIR, name)) if m.split(".")[0] == "jaxreg"}
      assert all(m == "jaxreg._trees" or m.startswith("jaxreg._sweep.") for m in library), (name, library)
