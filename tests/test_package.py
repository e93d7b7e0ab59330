"""The package as a whole: citation file, version, public names and their docstrings."""

import importlib.metadata
import inspect
import pathlib
import re

import pytest
from cffconvert import Citation
from jsonschema.exceptions import ValidationError

import jaxreg

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_citation_cff_is_valid_cff_1_2_0():
  text = (ROOT / "CITATION.cff").read_text()
  citation = Citation(text, src=str(ROOT / "CITATION.cff"))
  citation.validate()   # raises jsonschema's ValidationError against the CFF 1.2.0 schema
  assert "cff-version: 1.2.0" in text


def test_citation_cff_names_the_primary_references():
  from ruamel.yaml import YAML  # a dependency of cffconvert
  refs = YAML(typ="safe").load((ROOT / "CITATION.cff").read_text())["references"]
  firsts = {(r["authors"][0]["family-names"], r.get("year")) for r in refs}
  for who in [("Oppermann", None), ("Tibshirani", 1996), ("Zou", 2005), ("Yuan", 2006), ("Srivastava", 2014),
              ("Loshchilov", 2019), ("Friedman", 2010)]:
    assert who in firsts, who


def test_an_invalid_citation_cff_fails_validation():
  # The validator used above really checks: a file without authors is rejected.
  with pytest.raises(ValidationError, match="authors"):
    Citation("cff-version: 1.2.0\nmessage: cite it\ntitle: jaxreg\n", src=None).validate()


def test_version_is_defined_once_and_agrees_everywhere():
  try:
    import tomllib  # Python >= 3.11
  except ModuleNotFoundError:   # Python 3.10
    tomllib = pytest.importorskip("tomli")
  pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
  assert "version" in pyproject["project"]["dynamic"]
  assert "version" not in pyproject["project"]
  assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jaxreg.__version__"}
  assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev|\.post)?\d*", jaxreg.__version__)
  assert importlib.metadata.version("jaxreg") == jaxreg.__version__   # the installed distribution
  cff_version = re.search(r"^version:\s*\"?([^\"\n]+)\"?\s*$", (ROOT / "CITATION.cff").read_text(), re.M).group(1)
  assert cff_version == jaxreg.__version__


def test_every_public_name_exists_and_has_a_docstring():
  assert len(jaxreg.__all__) == len(set(jaxreg.__all__)), "duplicates in __all__"
  missing_doc = []
  for name in jaxreg.__all__:
    assert hasattr(jaxreg, name), f"jaxreg.__all__ names {name!r}, which jaxreg does not define"
    if name == "__version__":
      continue
    doc = inspect.getdoc(getattr(jaxreg, name))
    if not doc or len(doc.strip()) < 20:
      missing_doc.append(name)
  assert not missing_doc, f"public names without a docstring: {missing_doc}"


def test_public_functions_of_the_core_modules_are_exported():
  # Everything the issue's API lists is reachable from the flat namespace.
  for name in ["l2_penalty", "l1_penalty", "elastic_net_penalty", "group_lasso_penalty", "prox_l1", "prox_l2",
               "prox_elastic_net", "prox_group_lasso", "project_max_norm", "add_l2", "add_l1", "add_elastic_net",
               "decoupled_weight_decay", "proximal_l1", "proximal_elastic_net", "proximal_group_lasso",
               "cumulative_l1", "max_norm", "masks", "conventions"]:
    assert name in jaxreg.__all__, name
  for name in ["weights_only", "by_path"]:
    assert inspect.getdoc(getattr(jaxreg.masks, name))


def test_import_jaxreg_does_not_import_flax_and_every_core_dependency_is_used():
  import subprocess
  import sys
  code = ("import sys, jaxreg; assert 'flax' not in sys.modules, 'flax imported'; jaxreg.nn.Dropout; "
          "assert 'flax' in sys.modules")
  subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
  sources = "\n".join(p.read_text() for p in (ROOT / "jaxreg").rglob("*.py"))
  for dep in ("jax", "optax", "chex", "flax", "numpy", "scipy", "tqdm"):
    assert re.search(rf"^\s*(import|from) {dep}\b", sources, re.M), f"core dependency {dep} is not imported by jaxreg/"


# The layers of jaxreg, lowest first: a module may import only modules of its own or a lower layer.
LAYERS = [
    {"_leaf"}, {"_typing", "_trees"}, {"_penalties", "_prox", "masks", "conventions"},
    {"_transforms", "_dropout", "paths"}, {"nn", "_sweep"}, {"__init__"},
]


def test_the_import_graph_flows_one_way():
  import ast
  layer = {name: i for i, names in enumerate(LAYERS) for name in names}
  for path in (ROOT / "jaxreg").rglob("*.py"):
    rel = path.relative_to(ROOT / "jaxreg").parts
    top = rel[0].removesuffix(".py")
    assert top in layer, f"jaxreg/{'/'.join(rel)} is in no layer of LAYERS"
    for node in ast.walk(ast.parse(path.read_text())):
      names = []
      if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxreg"):
        names = [node.module.split(".")[1]] if "." in node.module else [a.name for a in node.names]
      elif isinstance(node, ast.Import):
        names = [a.name.split(".")[1] for a in node.names if a.name.startswith("jaxreg.")]
      for name in names:
        if name == top:
          continue
        assert layer[name] <= layer[top] and (layer[name] < layer[top] or top == "__init__"), \
            f"jaxreg/{'/'.join(rel)} imports jaxreg.{name}, which is not below it"
