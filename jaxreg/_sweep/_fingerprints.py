"""Fingerprints by content: stable across processes, never a memory address or a per-process counter.

:func:`_digest_of` encodes values (arrays by bytes, functions by name, ...);
:func:`_program_digest` encodes what a traced ``fn`` computes (its jaxpr,
constants and literals by content, and its outputs).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import types
from collections.abc import Mapping

import jax
import numpy as np
from jax.extend import core as jex_core

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")   # memory addresses in reprs (JAX's printer already masks its own)


def _feed(h, x, depth: int = 0) -> None:
  """Feeds ``h`` a stable encoding of ``x`` by content: the same in every process, never a memory address.

  Arrays by dtype, shape and bytes (numpy's ``repr`` abbreviates large ones);
  numbers, strings and containers by value; functions, classes and other
  callables by module and qualified name; other objects by their type and
  their ``repr`` with addresses removed.
  """
  def put(tag: str, text: str = "") -> None:
    h.update(f"{tag}:{text}".encode("utf-8", "backslashreplace") + b"\x00")

  if depth > 64:
    return put("deep")
  if isinstance(x, np.generic) and x.dtype.kind in "biufc":
    x = x.item()   # a number by value, whatever its numpy type
  if x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
    return put(type(x).__name__, repr(x))   # repr of a float round-trips exactly
  if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    put("key", str(jax.random.key_impl(x)))
    x = jax.random.key_data(x)
  if isinstance(x, (np.ndarray, np.generic, jax.Array)):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      from jax.experimental import multihost_utils
      x = multihost_utils.process_allgather(x, tiled=True)
    a = np.asarray(x)
    put("array", f"{a.dtype.str}{a.shape}")
    if a.dtype == object:
      for e in a.flat:
        _feed(h, e, depth + 1)
    else:
      h.update(np.ascontiguousarray(a).tobytes())
    return None
  if isinstance(x, Mapping):
    put("map", f"{type(x).__qualname__}{len(x)}")
    for k, v in x.items():
      _feed(h, k, depth + 1)
      _feed(h, v, depth + 1)
    return None
  if isinstance(x, (set, frozenset)):   # iteration order depends on PYTHONHASHSEED: sort the members' digests
    put("set", str(len(x)))
    for d in sorted(_digest_of(e) for e in x):
      put("member", d)
    return None
  if isinstance(x, (tuple, list)):
    put("seq", f"{type(x).__module__}.{type(x).__qualname__}{len(x)}")
    for e in x:
      _feed(h, e, depth + 1)
    return None
  if isinstance(x, functools.partial):
    put("partial")
    for part in (x.func, x.args, x.keywords):
      _feed(h, part, depth + 1)
    return None
  if isinstance(x, types.MethodType):
    put("method")
    _feed(h, x.__func__, depth + 1)
    return _feed(h, x.__self__, depth + 1)
  if dataclasses.is_dataclass(x) and not isinstance(x, type):
    put("dataclass", f"{type(x).__module__}.{type(x).__qualname__}")
    for field in dataclasses.fields(x):
      put("field", field.name)
      _feed(h, getattr(x, field.name), depth + 1)
    return None
  name = getattr(x, "__qualname__", None)
  if callable(x) and isinstance(name, str):
    return put("callable", f"{getattr(x, '__module__', None)}.{name}")
  put("object", f"{type(x).__module__}.{type(x).__qualname__} {_ADDRESS.sub('0x?', repr(x))}")


def _digest_of(*xs) -> str:
  h = hashlib.sha256()
  for x in xs:
    _feed(h, x)
  return h.hexdigest()


def _feed_jaxpr(h, jaxpr, seen: set) -> None:
  """Feeds the values the jaxpr's printout may abbreviate: literals (``[...]``) and array parameters."""
  if id(jaxpr) in seen:
    return
  seen.add(id(jaxpr))
  for eqn in jaxpr.eqns:
    for v in eqn.invars:
      if isinstance(v, jex_core.Literal):
        _feed(h, v.val)
    for p in eqn.params.values():
      _feed_param(h, p, seen)
  for v in jaxpr.outvars:
    if isinstance(v, jex_core.Literal):
      _feed(h, v.val)


def _feed_param(h, p, seen: set) -> None:
  if isinstance(p, jex_core.ClosedJaxpr):
    for c in p.consts:
      _feed(h, c)
    _feed_jaxpr(h, p.jaxpr, seen)
  elif isinstance(p, jex_core.Jaxpr):
    _feed_jaxpr(h, p, seen)
  elif isinstance(p, (tuple, list)):
    for q in p:
      _feed_param(h, q, seen)
  elif isinstance(p, (np.ndarray, jax.Array)):
    _feed(h, p)


def _program_digest(closed, out_tree, out_info) -> str:
  """A digest of what one configuration computes: jaxpr text, constants and literals by content, outputs."""
  h = hashlib.sha256()
  h.update(_ADDRESS.sub("0x?", str(closed.jaxpr)).encode())
  for c in closed.consts:
    _feed(h, c)
  _feed_jaxpr(h, closed.jaxpr, set())
  h.update(_ADDRESS.sub("0x?", str(out_tree)).encode())
  _feed(h, [(shape, dtype.str) for shape, dtype in out_info])
  return h.hexdigest()


def _jax_versions() -> str:
  import jaxlib
  flags = {k: getattr(jax.config, k, None) for k in ("jax_threefry_partitionable", "jax_default_matmul_precision")}
  return f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, {flags}"
