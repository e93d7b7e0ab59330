"""Sphinx configuration of the jaxreg documentation site.

Build (offline, warnings as errors): ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
API pages document the flat public names (``jaxreg.add_l2``, ``jaxreg.paths.enet_path``,
``jaxreg.nn.Dropout``), never the private module layout.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS)]  # this checkout's jaxreg, and check_api_coverage

import check_api_coverage  # noqa: E402

import jaxreg  # noqa: E402

project = "jaxreg"
author = "The jaxreg developers"
copyright = "the jaxreg developers; Apache-2.0"
release = version = jaxreg.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
intersphinx_mapping = {}  # no network at build time

# autodoc + napoleon: Google-style docstrings ("Args:", "Returns:", "Example:", "References:").
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # hyperparameters are untyped data; the Args sections say what they accept
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
add_module_names = True

# MyST: $...$ / $$...$$ math, ::: fences, heading anchors for #links.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# A cross-reference to a jaxreg name that is not documented (a typo, or a private or non-public
# name) is an error; references to other libraries (jax, optax, flax, numpy) cannot resolve
# without intersphinx, so they are ignored.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!jaxreg\b).*")]

html_theme = "furo"
html_title = f"jaxreg {release}"
html_static_path: list[str] = []
html_show_sourcelink = False


def _public_objects():
  """``{id(object): public dotted name}`` for every public function, class and module."""
  table = {}
  for name in check_api_coverage.public_names():
    obj = check_api_coverage.resolve(name)
    if callable(obj) or isinstance(obj, type(jaxreg)):
      table.setdefault(id(obj), name)
  return table


_PUBLIC = _public_objects()


def _private_to_public(app, env, node, contnode):
  """Resolves a reference to a private path (``jaxreg.sweep.SweepResult``) to the public name of that object."""
  target = node.get("reftarget", "")
  if node.get("refdomain") != "py" or not target.startswith("jaxreg."):
    return None
  module, _, attr = target.rpartition(".")
  try:
    obj = getattr(importlib.import_module(module), attr)
  except (ImportError, AttributeError):
    return None
  public = _PUBLIC.get(id(obj))
  if public is None or public == target:
    return None
  return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"], public, node, contnode)


# Files included from outside docs/ (README.md, experiments/results/README.md) write their links
# and images relative to themselves; rebase them onto the including page. A link to a file that
# the site shows as a page section goes to that section instead.
_MD_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
_SHOWN_AT = {"experiments/results/README.md": "experiments.md#which-claims-held"}


def _rebase_included_links(app, relative_path, parent_docname, content):
  if Path(relative_path).suffix != ".md":
    return
  srcdir = Path(app.srcdir).resolve()
  included_dir = (srcdir / relative_path).parent.resolve()
  page_dir = (srcdir / parent_docname).parent.resolve()

  def rebase(match):
    head, target, tail = match.groups()
    if re.match(r"[a-z][a-z0-9+.-]*:|#", target):  # a URL or an anchor
      return match.group(0)
    path, _, anchor = target.partition("#")
    where = (included_dir / path).resolve()
    shown = _SHOWN_AT.get(where.relative_to(ROOT).as_posix()) if where.is_relative_to(ROOT) else None
    if shown is not None:
      return head + os.path.relpath(srcdir / shown, page_dir) + tail
    return head + os.path.relpath(where, page_dir) + ("#" + anchor if anchor else "") + tail

  content[0] = _MD_LINK.sub(rebase, content[0])


def _class_signature(app, what, name, obj, options, signature, return_annotation):
  """flax nnx modules show their metaclass's ``(*args, **kwargs)``: show ``__init__``'s parameters instead."""
  if what != "class" or signature != "(*args, **kwargs)":
    return None
  params = list(inspect.signature(obj.__init__).parameters.values())[1:]  # without self
  if [p.kind for p in params] == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
    return None
  params = [p.replace(annotation=inspect.Parameter.empty) for p in params]  # autodoc_typehints = "none"
  return str(inspect.Signature(params)), return_annotation


def _check_coverage(app):
  from sphinx.util import logging
  for problem in check_api_coverage.problems():
    logging.getLogger("jaxreg.docs").warning("API coverage: %s (docs/check_api_coverage.py)", problem)


def setup(app):
  app.connect("builder-inited", _check_coverage)
  app.connect("missing-reference", _private_to_public)
  app.connect("include-read", _rebase_included_links)
  app.connect("autodoc-process-signature", _class_signature)
