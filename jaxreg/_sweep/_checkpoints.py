"""Checkpoints: ``meta.json`` and one atomically written, checksummed ``.npz`` per finished chunk."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import threading
import types
import warnings

import numpy as np

from jaxreg._sweep._fingerprints import _digest_of, _feed

_FORMAT = "jaxreg.sweep/2"
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _warn(message: str) -> None:
  """Warns, attributed to the first caller outside this package (the line that called ``jaxreg.sweep``)."""
  level = 2
  caller: types.FrameType | None = sys._getframe(1)
  while caller is not None and os.path.dirname(os.path.abspath(caller.f_code.co_filename)) == _PACKAGE:
    level, caller = level + 1, caller.f_back
  warnings.warn(message, stacklevel=level)


class _Damaged(Exception):
  """A chunk file that is not an intact chunk of this format."""


def _chunk_checksum(fingerprint: str, name: str, leaves) -> str:
  h = hashlib.sha256()
  _feed(h, (_FORMAT, fingerprint, name))
  for x in leaves:
    _feed(h, np.asarray(x))
  return h.hexdigest()


class _Checkpoints:
  """``meta.json`` + one atomically written ``.npz`` per finished chunk, in ``directory``."""

  def __init__(self, directory, fields: dict[str, str]):
    self.dir = os.fspath(directory)
    self.fields = {"format": _FORMAT, **fields}
    self.fingerprint = _digest_of(sorted(self.fields.items()))
    self.writable = True
    self.saved: set[str] = set()   # chunks this call verified or wrote
    self._lock = threading.Lock()
    os.makedirs(self.dir, exist_ok=True)
    meta_path = os.path.join(self.dir, "meta.json")
    meta = {"format": _FORMAT, "fingerprint": self.fingerprint, "fields": self.fields}
    old = None
    try:
      with open(meta_path) as f:
        old = json.load(f)
      if not isinstance(old, dict):
        old = None
    except FileNotFoundError:
      pass
    except (OSError, ValueError):
      old = None   # a damaged meta.json: rewritten; the chunks still carry their own fingerprint
    if old is not None and old.get("fingerprint") != self.fingerprint:
      old_fields = old.get("fields") if isinstance(old.get("fields"), dict) else {}
      diff = sorted(k for k in set(self.fields) | set(old_fields) if old_fields.get(k) != self.fields.get(k))
      raise ValueError(f"jaxreg.sweep: checkpoint_dir {self.dir!r} holds a sweep with a different "
                       f"{', '.join(diff) or 'fingerprint'}; use another directory (or delete it) "
                       "instead of mixing results.")
    if old is None:   # a matching meta.json is never rewritten: a finished sweep reads back from read-only storage
      self._write(meta_path, lambda f: f.write(json.dumps(meta, indent=1).encode()))

  def _write(self, path: str, write) -> bool:
    """Writes ``path`` atomically (unique temporary + ``os.replace``); on failure warns and stops saving."""
    if not self.writable:
      return False
    tmp = f"{path}.{os.getpid()}-{threading.get_ident()}-{secrets.token_hex(4)}.tmp"
    try:
      fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
      try:
        with os.fdopen(fd, "wb") as f:
          write(f)
          f.flush()
          os.fsync(f.fileno())
        os.replace(tmp, path)
      except BaseException:
        try:
          os.unlink(tmp)
        except OSError:
          pass
        raise
    except OSError as e:
      self.writable = False
      _warn(f"jaxreg.sweep: could not write {path!r} ({type(e).__name__}: {e}); the sweep goes on, but no "
            "further chunks of this call are saved.")
      return False
    return True

  def path(self, name: str) -> str:
    return os.path.join(self.dir, f"chunk-{name}.npz")

  def load(self, name: str, expected: list[tuple[tuple[int, ...], np.dtype]]):
    """The chunk's leaves, or ``None`` when absent or damaged; ``ValueError`` if it belongs to another sweep."""
    path = self.path(name)
    try:
      with open(path, "rb") as f:
        z = np.load(f, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
          raise _Damaged("not an .npz archive")
        with z:
          want = {"format", "fingerprint", "name", "checksum", *(f"leaf_{i}" for i in range(len(expected)))}
          if set(z.files) != want:
            raise _Damaged(f"its members are {sorted(z.files)}")
          data = {k: z[k] for k in want}
      leaves = [data[f"leaf_{i}"] for i in range(len(expected))]
      if any(data[k].shape != () or data[k].dtype.kind != "U" for k in ("format", "fingerprint", "name", "checksum")):
        raise _Damaged("its metadata are not strings")
      meta = {k: str(data[k]) for k in ("format", "fingerprint", "name", "checksum")}
      if meta["checksum"] != _chunk_checksum(meta["fingerprint"], meta["name"], leaves) or meta["format"] != _FORMAT:
        raise _Damaged("its checksum does not match its contents")
    except FileNotFoundError:
      return None
    except Exception as e:   # any damage at all: a chunk is recomputed rather than trusted or crashed on
      _warn(f"jaxreg.sweep: checkpoint {path!r} is damaged ({type(e).__name__}: {e}); recomputing it.")
      return None
    if meta["fingerprint"] != self.fingerprint:
      raise ValueError(f"jaxreg.sweep: checkpoint {path!r} was written by a different sweep (fingerprint "
                       "mismatch); use another checkpoint_dir instead of mixing results.")
    got = [(x.shape, x.dtype) for x in leaves]
    if meta["name"] != name or got != [(tuple(s), np.dtype(d)) for s, d in expected]:
      _warn(f"jaxreg.sweep: checkpoint {path!r} holds chunk {meta['name']!r} with leaves {got}, expected chunk "
            f"{name!r} with {expected}; recomputing it.")
      return None
    with self._lock:
      self.saved.add(name)
    return leaves

  def save(self, name: str, leaves: list[np.ndarray]) -> bool:
    leaves = [np.ascontiguousarray(x) for x in leaves]
    meta = {"format": np.array(_FORMAT), "fingerprint": np.array(self.fingerprint), "name": np.array(name),
            "checksum": np.array(_chunk_checksum(self.fingerprint, name, leaves))}
    arrays = {**meta, **{f"leaf_{i}": x for i, x in enumerate(leaves)}}
    ok = self._write(self.path(name), lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]
    if ok:
      with self._lock:
        self.saved.add(name)
    return ok
