"""From ``fn`` to the compiled program that runs one chunk: tracing, the sharded vmapped program, its cache."""

from __future__ import annotations

import collections
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.extend import core as jex_core
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxreg._sweep._fingerprints import _program_digest
from jaxreg._sweep._layout import _Chunk, _Layout

_AXIS = "sweep"   # the mesh axis the configurations are sharded along
_CACHE_SIZE = 16   # compiled programs kept in memory, keyed by what they compute (see _cached)
_COMPILED: collections.OrderedDict = collections.OrderedDict()


class _Trace(NamedTuple):
  """``fn`` for one configuration at one static combination."""

  closed: Any   # the closed jaxpr: (grid values, key) -> output leaves
  treedef: Any   # of the output
  leaf_info: list[tuple[tuple[int, ...], np.dtype]]   # per-run (shape, dtype) of each output leaf
  out_shape: Any   # the output as a pytree of jax.ShapeDtypeStruct
  digest: str   # what it computes, by content (see _program_digest)


def _trace_one(fn, static_point: dict, hp_spec: dict, key_spec) -> _Trace:
  closed, out = jax.make_jaxpr(lambda h, k: fn({**static_point, **h}, k), return_shape=True)(hp_spec, key_spec)
  leaves, treedef = jax.tree_util.tree_flatten(out)
  info = [(tuple(x.shape), np.dtype(x.dtype)) for x in leaves]
  return _Trace(closed, treedef, info, out, _program_digest(closed, treedef, info))


def _trace_all(fn, static_points: list[dict], flat_hp: dict[str, np.ndarray], key_data: np.ndarray,
           key_impl: str | None) -> list[_Trace]:
  """``fn`` traced once per static combination (this call's globals, closures and static values).

  Raises ``ValueError`` when two static combinations return different output structures or per-run shapes.
  """
  hp_spec = {n: jax.ShapeDtypeStruct((), v.dtype) for n, v in flat_hp.items()}
  key_spec = jax.ShapeDtypeStruct(key_data.shape, key_data.dtype)
  if key_impl is not None:
    key_spec = jax.eval_shape(lambda kd: jax.random.wrap_key_data(kd, impl=key_impl), key_spec)
  traces = [_trace_one(fn, point, hp_spec, key_spec) for point in static_points]
  first = traces[0]
  for point, trace in zip(static_points, traces):
    if (trace.treedef, trace.leaf_info) != (first.treedef, first.leaf_info):
      raise ValueError(f"jaxreg.sweep: fn returns {trace.treedef} with leaves {trace.leaf_info} for static values "
                       f"{point}, but {first.treedef} with leaves {first.leaf_info} for {static_points[0]}; "
                       "every static combination must return the same structure and per-run shapes.")
  return traces


def _cached(key, build):
  """The compiled program for ``key`` (what it computes by content, and the chunk layout), built once.

  Keyed on the program's digest, never on the function object: a sweep of a
  changed ``fn`` (or of one that reads a rebound global) has another digest and
  compiles anew. The last :data:`_CACHE_SIZE` programs are kept.
  """
  if key in _COMPILED:
    _COMPILED.move_to_end(key)
    return _COMPILED[key]
  program = _COMPILED[key] = build()
  while len(_COMPILED) > _CACHE_SIZE:
    _COMPILED.popitem(last=False)
  return program


class _Program:
  """The sharded ``jit(vmap(vmap(fn)))`` of one layout: compiles traced programs and places each chunk's inputs.

  A compiled program maps ``(grid values (g_pad,), seeds (s_pad,), key data)``
  to output leaves of shape ``(s_pad, g_pad, *leaf_shape)``.
  """

  def __init__(self, layout: _Layout, devices: list, flat_hp: dict[str, np.ndarray], seed_values: np.ndarray,
               key_data: np.ndarray, key_impl: str | None):
    self.flat_hp, self.seed_values, self.key_impl = flat_hp, seed_values, key_impl
    self.s_pad, self.g_pad = layout.s_pad, layout.g_pad
    mesh = Mesh(np.array(devices), (_AXIS,))
    self.hp_sharding = NamedSharding(mesh, P() if layout.shard_seeds else P(_AXIS))
    self.seed_sharding = NamedSharding(mesh, P(_AXIS) if layout.shard_seeds else P())
    self.out_sharding = NamedSharding(mesh, P(_AXIS) if layout.shard_seeds else P(None, _AXIS))
    self.key_sharding = NamedSharding(mesh, P())
    self.key = jax.make_array_from_callback(key_data.shape, self.key_sharding, lambda idx: key_data[idx])
    self.specs = (
        {n: jax.ShapeDtypeStruct((self.g_pad,), v.dtype, sharding=self.hp_sharding) for n, v in flat_hp.items()},
        jax.ShapeDtypeStruct((self.s_pad,), np.int32, sharding=self.seed_sharding),
        jax.ShapeDtypeStruct(key_data.shape, key_data.dtype, sharding=self.key_sharding))
    self.layout_key = (self.s_pad, self.g_pad, key_impl, key_data.dtype.str, key_data.shape, tuple(devices),
                   layout.shard_seeds)

  def compile(self, trace: _Trace):
    """The compiled program of ``trace`` (from the in-memory cache when this process compiled it before)."""
    return _cached((trace.digest, self.layout_key), lambda: self._build(trace.closed))

  def _build(self, closed):
    run = jex_core.jaxpr_as_fun(closed)
    key_impl, s_pad, g_pad = self.key_impl, self.s_pad, self.g_pad

    def body(hp, seeds, kd):
      base = kd if key_impl is None else jax.random.wrap_key_data(kd, impl=key_impl)

      def per_seed(hp, seed):
        k = jax.random.fold_in(base, seed)   # one key per seed, shared by every grid point
        return jax.vmap(lambda h: run(*jax.tree_util.tree_leaves((h, k))), axis_size=g_pad)(hp)

      if s_pad == 1:   # no size-1 vmap: the same program a user would write for one seed
        return jax.tree_util.tree_map(lambda x: x[None], per_seed(hp, seeds[0]))
      return jax.vmap(per_seed, in_axes=(None, 0))(hp, seeds)

    jitted = jax.jit(body, in_shardings=(self.hp_sharding, self.seed_sharding, self.key_sharding),
                     out_shardings=self.out_sharding)
    return jitted.lower(*self.specs).compile()

  def args(self, chunk: _Chunk) -> tuple:
    """The compiled program's arguments for ``chunk``: its padded lanes, placed on the devices."""
    g_idx, s_idx = chunk.g_idx, chunk.s_idx
    hp = {n: _placed(v[g_idx], self.hp_sharding) for n, v in self.flat_hp.items()}
    return hp, _placed(self.seed_values[s_idx], self.seed_sharding), self.key


def _placed(host: np.ndarray, sharding) -> jax.Array:
  """A host array as a global jax array with ``sharding`` (each process supplies its devices' shards)."""
  return jax.make_array_from_callback(host.shape, sharding, host.__getitem__)
