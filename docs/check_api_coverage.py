"""Fails when a public jaxreg name is missing from the API pages, or a page documents a private path.

Public names: every name in ``jaxreg.__all__``, and the public functions and classes of the
public submodules ``jaxreg.masks``, ``jaxreg.conventions``, ``jaxreg.paths`` and ``jaxreg.nn``
(their ``__all__`` where they define one). The API pages (``docs/api/*.rst``) must document each
one under its public dotted name (``.. autofunction:: jaxreg.add_l2``,
``.. autoclass:: jaxreg.nn.Dropout``, ``.. automodule:: jaxreg.paths``), so that the private
module layout can change without touching the docs.

Run from the repository root: ``python docs/check_api_coverage.py`` (exit status 1 on a problem).
``docs/conf.py`` runs the same check at build time, as a warning (an error under ``-W``).
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
API_PAGES = DOCS / "api"
SUBMODULES = ("masks", "conventions", "paths", "nn")
_DIRECTIVE = re.compile(
    r"^\s*\.\.\s+(?:auto(?:function|class|exception|data|module)|py:(?:function|class|exception|data|module))"
    r"::\s*(\S+)", re.M)


def _jaxreg():
  sys.path.insert(0, str(DOCS.parent))  # this checkout's jaxreg first
  return importlib.import_module("jaxreg")


def public_names() -> list[str]:
  """Every public dotted name, ``jaxreg.__all__`` first, then the submodules' functions and classes."""
  jaxreg = _jaxreg()
  names = [f"jaxreg.{n}" for n in jaxreg.__all__]
  for sub in SUBMODULES:
    module = importlib.import_module(f"jaxreg.{sub}")
    members = getattr(module, "__all__", None)
    if members is None:
      members = sorted(n for n, v in vars(module).items()
                       if not n.startswith("_") and (inspect.isfunction(v) or inspect.isclass(v)))
    names += [f"jaxreg.{sub}.{n}" for n in members if f"jaxreg.{sub}.{n}" not in names]
  return names


def resolve(name: str):
  """The object a public dotted name refers to (``None`` if it does not exist)."""
  parts = name.split(".")
  obj = importlib.import_module(parts[0])
  for part in parts[1:]:
    obj = getattr(obj, part, None)
    if obj is None:
      return None
  return obj


def documented_names(pages=API_PAGES) -> dict[str, str]:
  """``{dotted name: page}`` for every object directive in the API pages."""
  found = {}
  for page in sorted(Path(pages).glob("*.rst")):
    for name in _DIRECTIVE.findall(page.read_text(encoding="utf-8")):
      found.setdefault(name, page.name)
  return found


def problems() -> list[str]:
  """One line per public name missing from the API pages and per documented non-public path."""
  public = public_names()
  documented = documented_names()
  out = [f"{name} is public but not documented in docs/api/*.rst" for name in public if name not in documented]
  allowed = set(public) | {"jaxreg"}
  out += [f"{name} (docs/api/{page}) is not a public name: document it under its public path"
          for name, page in documented.items() if name not in allowed]
  out += [f"{name} is listed as public but does not exist" for name in public if resolve(name) is None]
  return out


def main() -> int:
  found = problems()
  for line in found:
    print(line, file=sys.stderr)
  n = len(public_names())
  print(f"{n - sum('is public but not documented' in p for p in found)} of {n} public names documented; "
        f"{len(found)} problem(s).")
  return 1 if found else 0


if __name__ == "__main__":
  sys.exit(main())
