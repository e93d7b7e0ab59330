"""The chunk and shard layout of a sweep, in pure numpy: nothing here traces, compiles or touches a device.

A sweep runs ``n_grid`` grid points × ``n_seeds`` seeds. They are cut into
chunks of at most ``s_block`` seeds × ``g_block`` grid points, and every chunk
is padded to the same ``s_pad × g_pad`` lanes by repeating its last real seed
and grid point, so that one compiled program runs them all. One of the two
axes (the grid, or the seeds when that pads fewer lanes) is sharded over the
devices, so its padded length is a multiple of the device count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np


def _pad_to(n: int, m: int) -> int:
  return -(-n // m) * m


@dataclasses.dataclass(frozen=True, slots=True)
class _Chunk:
  """Seeds ``s0:s1`` × grid points ``g0:g1``, the block ``(i, j)`` of the layout, run on ``s_pad × g_pad`` lanes."""

  i: int
  j: int
  s0: int
  s1: int
  g0: int
  g1: int
  s_pad: int
  g_pad: int

  @property
  def shape(self) -> tuple[int, int]:
    """``(seeds, grid points)`` of real configurations."""
    return self.s1 - self.s0, self.g1 - self.g0

  @property
  def s_idx(self) -> np.ndarray:
    """The seed position of each of the ``s_pad`` seed lanes (padding repeats the last real one)."""
    return np.minimum(np.arange(self.s0, self.s0 + self.s_pad), self.s1 - 1)

  @property
  def g_idx(self) -> np.ndarray:
    """The flat grid position of each of the ``g_pad`` grid lanes (padding repeats the last real one)."""
    return np.minimum(np.arange(self.g0, self.g0 + self.g_pad), self.g1 - 1)

  def name(self, t: int) -> str:
    """The chunk's name (its checkpoint file's) in static combination ``t``."""
    return f"s{t}-{self.i}-{self.j}"


@dataclasses.dataclass(frozen=True)
class _Layout:
  """Blocks, padded lanes and sharded axis of a sweep; ``chunks`` in order (seed blocks outer, grid blocks inner)."""

  n_grid: int
  n_seeds: int
  n_devices: int
  s_block: int
  g_block: int
  shard_seeds: bool   # the seed axis is sharded over the devices (else the grid axis)
  s_pad: int
  g_pad: int
  chunks: tuple[_Chunk, ...]


def _plan(n_grid: int, n_seeds: int, chunk_size: int | None, n_devices: int) -> _Layout:
  """The layout of ``n_grid × n_seeds`` configurations, at most ``chunk_size`` (``None``: all) per chunk.

  ``g_block = min(n_grid, chunk_size)`` and ``s_block = chunk_size // g_block``
  clipped to ``[1, n_seeds]``. The grid axis of a chunk is sharded, unless
  sharding the seed axis pads fewer lanes.
  """
  G, S, n = n_grid, n_seeds, n_devices
  if chunk_size is None:
    s_block, g_block = S, G
  else:
    g_block = min(G, chunk_size)
    s_block = max(1, min(S, chunk_size // g_block))
  shard_seeds = s_block * _pad_to(g_block, n) > _pad_to(s_block, n) * g_block
  s_pad = _pad_to(s_block, n) if shard_seeds else s_block
  g_pad = g_block if shard_seeds else _pad_to(g_block, n)
  chunks = tuple(_Chunk(i, j, i * s_block, min(S, (i + 1) * s_block), j * g_block, min(G, (j + 1) * g_block),
                        s_pad, g_pad)
                 for i in range(-(-S // s_block)) for j in range(-(-G // g_block)))
  return _Layout(G, S, n, s_block, g_block, shard_seeds, s_pad, g_pad, chunks)


def _flat_grid(axes: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Every point of the Cartesian grid, one flat array per axis, in C order (the last axis fastest)."""
  shape = tuple(len(v) for v in axes.values())
  mesh_idx = [m.ravel() for m in np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")]
  return {name: v[i] for (name, v), i in zip(axes.items(), mesh_idx)}


def _to_axes(x: np.ndarray, static_shape: tuple[int, ...], grid_shape: tuple[int, ...]) -> np.ndarray:
  """``(static combination, seed, flat grid point, *leaf_shape)`` as ``(*static, *grid, seed, *leaf_shape)``."""
  x = x.reshape(*static_shape, x.shape[1], *grid_shape, *x.shape[3:])
  return np.moveaxis(x, len(static_shape), len(static_shape) + len(grid_shape))
