"""Every public callable refuses bad hyperparameters with a ValueError that names the argument.

The list of callables is generated from ``jaxreg.__all__`` (plus the public functions of
``jaxreg.conventions`` and ``jaxreg.masks``, ``jaxreg.nn.__all__`` and ``jaxreg.paths.__all__``), and
:func:`test_table_covers_every_public_callable` fails when one is missing from ``TABLE``: a new function
cannot escape. ``TABLE`` says how to call each one with good arguments and which arguments are
hyperparameters of which kind; each kind has its bad values (NaN, ±inf, None, a string, a bool, a (3,)
array where a scalar or a leaf-shaped value is needed, negative or out-of-range values, and a few random
draws from a fixed seed). Calls that build a transform also run one update, so errors found only against
the params (shapes) count.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxreg
from jaxreg import conventions, masks, nn, paths

KEY = jax.random.key(0)
P = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}        # a (3,) value broadcasts to neither leaf
G = {"w": jnp.full((2, 2), 0.1), "b": jnp.full(2, 0.1)}
X = jnp.ones((4, 2))
_rng = np.random.default_rng(0)
XP = _rng.normal(size=(12, 3)).astype(np.float32)    # a tiny regression problem for jaxreg.paths
YP = _rng.normal(size=12).astype(np.float32)
YB = (YP > 0).astype(np.float32)


class Entry(NamedTuple):
  call: Any      # call(**overrides) runs the callable with good arguments, overridden by the bad one
  hparams: dict  # argument name -> kind (a key of BAD)


def _tx(make):
  """A transform factory as a call that also runs one update (shape errors show up there)."""
  def call(**kw):
    tx = make(**kw)
    return tx.update(G, tx.init(P), P)
  return call


def _with(fn, *args, **defaults):
  return lambda **kw: fn(*args, **{**defaults, **kw})


@functools.cache
def _sweep_result():
  return jaxreg.sweep(lambda hp, key: {"loss": hp["a"] * 2}, {"a": jnp.array([0.1, 0.2])}, key=KEY, seeds=2,
                      progress=False)


def _staged(driver, configs_arg="configs", **defaults):
  """A search driver on a tiny staged problem: the state is a number that grows by ``a`` per step."""
  def call(**kw):
    kw = {configs_arg: {"a": np.array([0.1, 0.2, 0.3])}, "key": KEY, "metric": "loss", **defaults, **kw}
    return driver(lambda h, k: jnp.zeros(()), lambda st, h, k, n: st + h["a"] * n, lambda st, h: {"loss": st}, **kw)
  return call


def _layer(cls, **defaults):
  def call(**kw):
    kw = {**defaults, **kw}
    return cls(**kw, rngs=nnx.Rngs(dropout=0))(X)
  return call


def _regularizer(**kw):
  layer = nn.ConcreteDropout(0.1, rngs=nnx.Rngs(dropout=0))
  return layer.regularizer(P, **{"input_dim": 2, **kw})


PENALTY = {"alpha": "nonneg+shape", "mask": "mask"}
THRESHOLD = {"threshold": "nonneg+shape", "mask": "mask"}
RATE = {"rate": "unit+shape", "broadcast_dims": "axes"}
PATH_COMMON = {"tol": "nonneg", "max_iter": "int1", "alphas": "alphas", "eps": "pos"}
PATH_SCHEDULE = {"chunk": "int1_none", "block": "int1_none", "check_every": "int1_none", "anderson": "int0_none"}

TABLE: dict[str, Entry] = {
    # penalties
    "l2_penalty": Entry(_with(jaxreg.l2_penalty, P, alpha=0.1), PENALTY),
    "l1_penalty": Entry(_with(jaxreg.l1_penalty, P, alpha=0.1), PENALTY),
    "elastic_net_penalty": Entry(_with(jaxreg.elastic_net_penalty, P, alpha=0.1, l1_ratio=0.5),
                                 {**PENALTY, "l1_ratio": "unit+shape"}),
    "group_lasso_penalty": Entry(_with(jaxreg.group_lasso_penalty, P, alpha=0.1, group_axis=-1),
                                 {**PENALTY, "group_axis": "axis"}),
    # proximal operators
    "prox_l1": Entry(_with(jaxreg.prox_l1, P, threshold=0.1), THRESHOLD),
    "prox_l2": Entry(_with(jaxreg.prox_l2, P, threshold=0.1), THRESHOLD),
    "prox_elastic_net": Entry(_with(jaxreg.prox_elastic_net, P, threshold=0.1, l1_ratio=0.5),
                              {**THRESHOLD, "l1_ratio": "unit+shape"}),
    "prox_group_lasso": Entry(_with(jaxreg.prox_group_lasso, P, threshold=0.1, group_axis=-1),
                              {**THRESHOLD, "group_axis": "axis"}),
    "project_max_norm": Entry(_with(jaxreg.project_max_norm, P, max_value=1.0, group_axis=-1),
                              {"max_value": "pos+shape", "group_axis": "axis", "mask": "mask"}),
    # transforms
    "add_l2": Entry(_tx(_with(jaxreg.add_l2, alpha=0.1)), PENALTY),
    "add_l1": Entry(_tx(_with(jaxreg.add_l1, alpha=0.1)), PENALTY),
    "add_elastic_net": Entry(_tx(_with(jaxreg.add_elastic_net, alpha=0.1, l1_ratio=0.5)),
                             {**PENALTY, "l1_ratio": "unit+shape"}),
    "decoupled_weight_decay": Entry(_tx(_with(jaxreg.decoupled_weight_decay, weight_decay=0.1, learning_rate=0.5)),
                                    {"weight_decay": "nonneg+shape", "learning_rate": "nonneg+shape", "mask": "mask"}),
    "proximal_l1": Entry(_tx(_with(jaxreg.proximal_l1, alpha=0.1, learning_rate=0.1)),
                         {**PENALTY, "learning_rate": "nonneg+shape"}),
    "proximal_elastic_net": Entry(_tx(_with(jaxreg.proximal_elastic_net, alpha=0.1, l1_ratio=0.5, learning_rate=0.1)),
                                  {**PENALTY, "l1_ratio": "unit+shape", "learning_rate": "nonneg+shape"}),
    "proximal_group_lasso": Entry(_tx(_with(jaxreg.proximal_group_lasso, alpha=0.1, learning_rate=0.1, group_axis=-1)),
                                  {**PENALTY, "learning_rate": "nonneg+shape", "group_axis": "axis"}),
    "cumulative_l1": Entry(_tx(_with(jaxreg.cumulative_l1, alpha=0.1, learning_rate=0.1)),
                           {**PENALTY, "learning_rate": "nonneg+shape"}),
    "max_norm": Entry(_tx(_with(jaxreg.max_norm, max_value=1.0, group_axis=-1)),
                      {"max_value": "pos+shape", "group_axis": "axis", "mask": "mask"}),
    # dropout
    "dropout_mask": Entry(_with(jaxreg.dropout_mask, KEY, shape=(4, 2), rate=0.5),
                          {"rate": "unit+shape", "shape": "shape", "broadcast_dims": "axes"}),
    "dropout": Entry(_with(jaxreg.dropout, KEY, X, rate=0.5), RATE),
    "gaussian_dropout": Entry(_with(jaxreg.gaussian_dropout, KEY, X, rate=0.5), RATE),
    "alpha_dropout": Entry(_with(jaxreg.alpha_dropout, KEY, X, rate=0.5), RATE),
    "drop_connect": Entry(_with(jaxreg.drop_connect, KEY, P, rate=0.5), {"rate": "unit+shape", "mask": "mask"}),
    "concrete_dropout": Entry(_with(jaxreg.concrete_dropout, KEY, X, rate_logit=0.0, temperature=0.1),
                              {"rate_logit": "real+shape", "temperature": "pos+shape", "broadcast_dims": "axes"}),
    "concrete_dropout_regularizer": Entry(
        _with(jaxreg.concrete_dropout_regularizer, rate_logit=0.0, weights=P, input_dim=2),
        {"rate_logit": "real+shape", "input_dim": "int1", "weight_regularizer": "nonneg+shape",
         "dropout_regularizer": "nonneg+shape", "mask": "mask"}),
    "mc_predict": Entry(_with(jaxreg.mc_predict, lambda k: jnp.zeros(()), KEY, n_samples=2),
                        {"n_samples": "int1", "batch_size": "int1_none"}),
    # sweeps
    "sweep": Entry(_with(jaxreg.sweep, lambda hp, key: hp["a"] * 2, {"a": jnp.array([0.1, 0.2])}, key=KEY,
                         progress=False), {"seeds": "seeds", "chunk_size": "int1_none"}),
    "SweepResult": Entry(lambda **kw: _sweep_result().best(**{"metric": "loss", **kw}),
                         {"mode": "mode", "reduce_seeds": "reduce"}),
    "use_cpu_devices": Entry(lambda **kw: jaxreg.use_cpu_devices(**{"n": len(jax.devices("cpu")), **kw}),
                             {"n": "int1_none"}),
    "configs": Entry(lambda **kw: jaxreg.configs(**{"values": {"a": [1.0, 2.0]}, **kw}), {"values": "configs"}),
    "Configs": Entry(lambda **kw: jaxreg.Configs(**{"values": {"a": [1.0, 2.0]}, **kw}), {"values": "configs"}),
    "sample": Entry(lambda **kw: jaxreg.sample(**{"space": {"a": jaxreg.uniform(0.0, 1.0)}, "n": 4, **kw}),
                    {"space": "space", "n": "int1", "seed": "int0", "method": "method"}),
    "uniform": Entry(_with(jaxreg.uniform, low=0.0, high=1.0), {"low": "real", "high": "real"}),
    "loguniform": Entry(_with(jaxreg.loguniform, low=1e-3, high=1.0), {"low": "pos", "high": "real"}),
    "choice": Entry(_with(jaxreg.choice, values=[1, 2]), {"values": "choices"}),
    "successive_halving": Entry(_staged(jaxreg.successive_halving, min_steps=1, max_steps=3),
                                {"configs": "staged_configs", "seeds": "seeds", "eta": "eta", "max_steps": "int1",
                                 "metric": "metric", "mode": "mode"}),
    "hyperband": Entry(_staged(jaxreg.hyperband, min_steps=1, max_steps=3, configs={"a": np.linspace(0.1, 1, 5)}),
                       {"configs": "staged_configs", "eta": "eta", "min_steps": "int1", "metric": "metric", "mode": "mode"}),
    "pbt": Entry(_staged(jaxreg.pbt, "population", steps=4, interval=2),
                 {"population": "staged_configs", "steps": "int1", "interval": "int1", "quantile": "quantile",
                  "perturb": "perturb", "resample_probability": "prob", "metric": "metric", "mode": "mode"}),
    "HalvingResult": Entry(lambda: jaxreg.HalvingResult, {}),     # result classes: returned, never built by users
    "HyperbandResult": Entry(lambda: jaxreg.HyperbandResult, {}),
    "PBTResult": Entry(lambda: jaxreg.PBTResult, {}),
    # conventions: scalars or arrays (lists become arrays)
    "conventions.from_keras_l2": Entry(_with(conventions.from_keras_l2, l2=0.1), {"l2": "nonneg"}),
    "conventions.from_keras_l1": Entry(_with(conventions.from_keras_l1, l1=0.1), {"l1": "nonneg"}),
    "conventions.from_torch_weight_decay": Entry(_with(conventions.from_torch_weight_decay, weight_decay=0.1),
                                                 {"weight_decay": "nonneg"}),
    "conventions.from_torch_adamw": Entry(_with(conventions.from_torch_adamw, lr=1e-3, weight_decay=0.1),
                                          {"lr": "nonneg", "weight_decay": "nonneg"}),
    "conventions.from_sklearn_ridge": Entry(_with(conventions.from_sklearn_ridge, alpha=1.0, n_samples=10),
                                            {"alpha": "nonneg", "n_samples": "int1"}),
    "conventions.from_sklearn_elastic_net": Entry(_with(conventions.from_sklearn_elastic_net, alpha=1.0, l1_ratio=0.5),
                                                  {"alpha": "nonneg", "l1_ratio": "unit"}),
    "conventions.from_sklearn_logistic_C": Entry(_with(conventions.from_sklearn_logistic_C, C=1.0, n_samples=10),
                                                 {"C": "pos", "n_samples": "int1"}),
    "conventions.from_glmnet": Entry(_with(conventions.from_glmnet, lambda_=0.1, alpha=0.5),
                                     {"lambda_": "nonneg", "alpha": "unit"}),
    # masks
    "masks.weights_only": Entry(_with(masks.weights_only, P), {}),
    "masks.by_path": Entry(lambda **kw: masks.by_path(**{"pattern": "w", **kw})(P), {"pattern": "regex"}),
    "masks.path_str": Entry(_with(masks.path_str, (jax.tree_util.DictKey("w"),)), {}),
    # flax nnx modules (called once on X)
    "nn.Dropout": Entry(_layer(nn.Dropout, rate=0.5), RATE),
    "nn.GaussianDropout": Entry(_layer(nn.GaussianDropout, rate=0.5), RATE),
    "nn.AlphaDropout": Entry(_layer(nn.AlphaDropout, rate=0.5), RATE),
    "nn.ConcreteDropout": Entry(_layer(nn.ConcreteDropout, rate=0.1),
                                {"rate": "unit_open+shape", "temperature": "pos+shape", "broadcast_dims": "axes"}),
    "nn.ConcreteDropout.regularizer": Entry(_regularizer, {"input_dim": "int1", "weight_regularizer": "nonneg+shape",
                                                           "dropout_regularizer": "nonneg+shape", "mask": "mask"}),
    # regularization paths
    "paths.enet_path": Entry(_with(paths.enet_path, XP, YP, alphas=3, max_iter=10),
                             {**PATH_COMMON, "l1_ratio": "unit+shape", "sample_weight": "sample_weight"}),
    "paths.lasso_path": Entry(_with(paths.lasso_path, XP, YP, alphas=3, max_iter=10),
                              {**PATH_COMMON, "sample_weight": "sample_weight"}),
    "paths.ridge_path": Entry(_with(paths.ridge_path, XP, YP, alphas=np.array([0.1, 1.0])), {"alphas": "pos"}),
    "paths.enet_cv": Entry(_with(paths.enet_cv, XP, YP, alphas=3, folds=3, max_iter=10),
                           {**PATH_COMMON, "l1_ratio": "unit_list", "folds": "folds", "sample_weight": "sample_weight"}),
    "paths.logistic_path": Entry(_with(paths.logistic_path, XP, YB, alphas=3, max_iter=10),
                                 {**PATH_COMMON, "l1_ratio": "unit+shape", "sample_weight": "sample_weight"}),
    "paths.multitask_enet_path": Entry(_with(paths.multitask_enet_path, XP, np.c_[YP, YP], alphas=3, max_iter=10),
                                       {**PATH_COMMON, "l1_ratio": "unit+shape", "sample_weight": "sample_weight"}),
    "paths.multitask_lasso_path": Entry(_with(paths.multitask_lasso_path, XP, np.c_[YP, YP], alphas=3, max_iter=10),
                                        {**PATH_COMMON, "sample_weight": "sample_weight"}),
    "paths.ConvergenceWarning": Entry(lambda: paths.ConvergenceWarning("x"), {}),      # a warning class
    "paths.EnetCVResult": Entry(lambda: paths.EnetCVResult._fields, {}),              # a result NamedTuple
    "paths.PathInfo": Entry(lambda: paths.PathInfo, {}),                              # a result dataclass
    "paths.SolverOptions": Entry(lambda **kw: paths.enet_path(XP, YP, alphas=3, max_iter=10,
                                                              solver=paths.SolverOptions(**kw)), PATH_SCHEDULE),
}


def public_callables() -> list[str]:
  """Every public callable of jaxreg, generated (not listed by hand)."""
  names = [n for n in jaxreg.__all__ if not inspect.ismodule(getattr(jaxreg, n)) and callable(getattr(jaxreg, n))]
  for mod in (conventions, masks):
    names += [f"{mod.__name__.split('.')[-1]}.{n}" for n, obj in vars(mod).items()
              if not n.startswith("_") and inspect.isfunction(obj)]
  names += [f"nn.{n}" for n in nn.__all__] + [f"paths.{n}" for n in paths.__all__]
  names += [f"nn.{n}.{m}" for n in nn.__all__ for m, f in vars(getattr(nn, n)).items()
            if not m.startswith("_") and inspect.isfunction(f)]
  return sorted(names)


def test_table_covers_every_public_callable():
  missing = set(public_callables()) - set(TABLE)
  assert not missing, f"add these public callables to TABLE in tests/test_bad_inputs.py: {sorted(missing)}"
  assert not set(TABLE) - set(public_callables()), sorted(set(TABLE) - set(public_callables()))


# ----------------------------------------------------------------------------- bad values per kind

_NEG = -float(10 ** _rng.uniform(-3, 3))            # random draws, fixed seed
_ABOVE_ONE = 1.0 + float(10 ** _rng.uniform(-6, 1))
_NON_NUMBERS = [None, "a", True]
_NON_FINITE = [math.nan, math.inf, -math.inf]
_FLOAT = _NON_FINITE + _NON_NUMBERS
_INT = [1.5, 2.0, None, "a", True, np.ones(3, np.int32)]

BAD: dict[str, list] = {
    "nonneg": _FLOAT + [-1.0, _NEG, jnp.array(-0.5)],
    "pos": _FLOAT + [0.0, -1.0, _NEG],
    "unit": _FLOAT + [-0.1, _NEG, 1.5, _ABOVE_ONE],
    "unit_open": _FLOAT + [0.0, 1.0, _NEG, _ABOVE_ONE],
    "real": _FLOAT,
    "int1": _INT + [0, -1],
    "int1_none": [v for v in _INT if v is not None] + [0, -1],
    "int0_none": [1.5, "a", True, -1],
    "folds": [1, 0, 1.5, None, "a", True],
    "axis": [1.5, None, "a", True, 5],
    "axes": [(1.5,), (True,), ("a",), 1, "a", None, (5,)],
    "shape": [(2, 1.5), (-1,), 3, None, "a", (True,)],
    "mask": ["a", 1.5, {"w": True}, [True, False]],
    "regex": ["(unclosed", 3, None],
    "mode": [None, "a", True, 1.0],
    "reduce": ["a", True, 1.0],
    "seeds": [0, -1, 1.5, None, "a", True, math.nan, math.inf, [1, 1], [-1]],
    "alphas": [0, -1, math.nan, math.inf, None, "a", True, np.array([0.1, -1.0]), np.array([0.1, math.nan])],
    # enet_cv: a scalar or a list of l1_ratio (a (3,) array is a valid list there)
    "unit_list": [math.nan, math.inf, "a", True, -0.1, _NEG, 1.5, _ABOVE_ONE, [0.5, 1.5], [-0.1, 0.5],
                  [0.5, math.nan], [], [[0.5]], ["a"], [True]],
    # scikit-learn's _check_sample_weight cases (length, NaN, all zero) and negative weights; n_samples = 12
    "sample_weight": [0.0, -1.0, math.nan, math.inf, "a", True, np.ones(5), np.ones((12, 1)), -np.ones(12),
                      np.zeros(12), np.r_[math.nan, np.ones(11)], np.r_[math.inf, np.ones(11)],
                      np.r_[-0.5, np.ones(11)], np.full(12, "a")],
    "int0": [1.5, None, "a", True, -1],
    "eta": [1.5, 1, 0, -3, math.nan, math.inf, None, "a", True],
    "metric": ["nope", None, 1],
    "quantile": [0, 0.0, 0.6, 1, -0.1, math.nan, None, "a", True],
    "prob": [-0.1, 1.5, math.nan, None, "a", True],
    "perturb": [(0.8,), (0.8, -1.25), (0.0, 1.25), (0.8, math.nan), None, "a", 1.0],
    "method": ["lhs", None, 1, True],
    "configs": [{}, None, "a", [1.0], {"a": [[1.0]]}, {"a": []}, {"a": ["x"]}, {"a": [1.0], "b": [1.0, 2.0]},
                {"seed": [1.0]}, {"config": [1.0]}],
    "staged_configs": [{}, None, "a", [1.0], {"a": [[1.0]]}, {"a": []}, {"a": ["x"]}, {"a": [1.0], "b": [1.0, 2.0]},
                       {"seed": [1.0]}],
    "space": [{}, None, "a", {"a": [0.1, 0.2]}, {"seed": jaxreg.uniform(0.0, 1.0)}],
    "choices": [[], [[1, 2]], ["a", "b"], None, "a", 1.0],
}
_SHAPE_BAD = jnp.full(3, 0.5)   # neither a scalar nor broadcastable to P's leaves or X


def _bads(kind: str) -> list:
  base, _, shape = kind.partition("+")
  return BAD[base] + ([_SHAPE_BAD] if shape else [])


def _id(v) -> str:
  if isinstance(v, (jax.Array, np.ndarray)):
    return f"array{tuple(v.shape)}[{np.asarray(v).ravel()[0]!r}]"
  return repr(v)


# Cases of the parts another engineer is fixing now that do not raise the right error yet. strict=False:
# they turn into XPASS when fixed; remove them from here then.
def _cases():
  for name, entry in sorted(TABLE.items()):
    for arg, kind in entry.hparams.items():
      for bad in _bads(kind):
        yield pytest.param(name, arg, bad, id=f"{name}-{arg}-{_id(bad)}")


@pytest.mark.filterwarnings("ignore::UserWarning")   # e.g. a ConvergenceWarning of a path that ran
@pytest.mark.parametrize("name, arg, bad", list(_cases()))
def test_bad_hyperparameter_raises_value_error_naming_it(name, arg, bad):
  with pytest.raises(ValueError) as info:
    TABLE[name].call(**{arg: bad})
  assert re.search(rf"(?<![A-Za-z0-9_]){re.escape(arg)}(?![A-Za-z0-9_])", str(info.value)), str(info.value)


@pytest.mark.parametrize("name", sorted(n for n in TABLE if not n.startswith("paths.")))
def test_good_arguments_work(name):
  # The table's good calls must work, or the bad-value tests above would pass for the wrong reason.
  # (The paths functions compile solvers for seconds each; tests/test_paths.py runs them.)
  TABLE[name].call()


def test_traced_bad_shapes_are_refused_too():
  # Shapes are static: a (3,) hyperparameter is refused under jit as well.
  for name in ("l2_penalty", "prox_l1", "dropout", "concrete_dropout", "add_l2"):
    entry = TABLE[name]
    arg = next(a for a, k in entry.hparams.items() if k.endswith("+shape"))
    with pytest.raises(ValueError, match=re.escape(arg)):
      jax.jit(lambda v, entry=entry, arg=arg: entry.call(**{arg: v}))(_SHAPE_BAD)


def test_optax_schedules_are_still_accepted():
  # Refusing callables would be wrong: schedules are hyperparameters too (checked when evaluated).
  TABLE["add_l2"].call(alpha=optax.linear_schedule(0.0, 0.1, 10))
