"""Search spaces that are not grids: lists of configurations (:class:`Configs`) and random / quasi-random samples.

:func:`configs` wraps ``{name: equal-length 1-D numbers}``; :func:`sample`
draws one from a space of :func:`uniform`, :func:`loguniform` and
:func:`choice` distributions. :func:`jaxreg.sweep` runs a :class:`Configs`
along one flat ``config`` axis instead of a Cartesian product.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from jaxreg import _trees

_CONFIG = "config"   # the flat axis of a sweep over Configs
_RESERVED = (_CONFIG, "seed")
_METHODS = ("random", "sobol", "halton")


def _name_ok(where: str, arg: str, name) -> str:
  if not isinstance(name, str) or name in _RESERVED:
    raise ValueError(f"{where}: {arg} names a hyperparameter {name!r}, which is not allowed: names are strings "
                     f"other than {_RESERVED[0]!r} and {_RESERVED[1]!r} (the sweep's axes).")
  return name


class Configs(Mapping):
  """A list of configurations: ``{name: 1-D numbers}``, all of one length ``n_configs``.

  Configuration ``i`` is ``{name: values[i] for name, values in configs.items()}``.
  Build one with :func:`configs` or :func:`sample`; pass it to
  :func:`jaxreg.sweep` in place of a grid to run exactly these configurations
  (along a flat ``config`` axis) instead of a Cartesian product. A mapping
  from names to read-only numpy arrays: ``len(c)`` is the number of
  hyperparameters and ``c.n_configs`` the number of configurations.
  """

  def __init__(self, values: Mapping[str, Any]):
    where = "jaxreg.configs"
    if not isinstance(values, Mapping):
      raise ValueError(f"{where}: values must be a dict name -> 1-D numbers, got {type(values).__name__}.")
    if not values:
      raise ValueError(f"{where}: values is empty; give at least one hyperparameter, "
                       "e.g. {'alpha': [1e-3, 1e-2]}.")
    cols: dict[str, np.ndarray] = {}
    for name, v in values.items():
      _name_ok(where, "values", name)
      arr = None if isinstance(v, (str, bytes, Mapping)) else np.asarray(v)
      if arr is None or arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{where}: values[{name!r}] must be a non-empty 1-D sequence of numbers, got {v!r}.")
      if arr.dtype.kind not in "biuf":
        raise ValueError(f"{where}: values[{name!r}] has dtype {arr.dtype}; configuration values are traced, so "
                         "they must be numbers. Sweep non-numeric or shape-changing settings with static=.")
      arr = arr.copy()
      arr.flags.writeable = False
      cols[name] = arr
    lengths = {name: len(a) for name, a in cols.items()}
    if len(set(lengths.values())) != 1:
      raise ValueError(f"{where}: values must hold one value per configuration for every hyperparameter, but "
                       f"the lengths differ: {lengths}.")
    self._cols = cols

  def __getitem__(self, name: str) -> np.ndarray:
    return self._cols[name]

  def __iter__(self) -> Iterator[str]:
    return iter(self._cols)

  def __len__(self) -> int:
    return len(self._cols)

  @property
  def n_configs(self) -> int:
    """The number of configurations."""
    return len(next(iter(self._cols.values())))

  def __repr__(self):
    cols = ", ".join(f"{k!r}: {np.array2string(v, threshold=6, precision=4)}" for k, v in self._cols.items())
    return f"Configs({self.n_configs} configurations: {{{cols}}})"


def configs(values: Mapping[str, Any]) -> Configs:
  """A list of configurations for :func:`jaxreg.sweep`, from ``{name: equal-length 1-D numbers}``.

  Configuration ``i`` sets every hyperparameter ``name`` to ``values[name][i]``.
  ``jaxreg.sweep(fn, configs(...), ...)`` runs exactly these configurations ×
  seeds, along a flat ``config`` axis, instead of a Cartesian product: use it
  for random or quasi-random search (:func:`sample`), for configurations
  chosen by hand, or to rerun the best few of an earlier sweep.

  Args:
    values: ``{name: 1-D numbers}``, every array of the same length ``n``.
      Names are strings other than ``"config"`` and ``"seed"``. Values are
      traced in ``fn`` (JAX's default dtypes), so they must be numbers.

  Returns:
    A :class:`Configs` of ``n`` configurations.

  Raises:
    ValueError: for an empty ``values``, a reserved or non-string name, a value
      that is not a non-empty 1-D array of numbers, or arrays of unequal lengths.

  Example:
    >>> c = jaxreg.configs({"alpha": [1e-3, 1e-2, 1e-1], "lr": [0.1, 0.1, 0.01]})
    >>> c.n_configs, list(c)
    (3, ['alpha', 'lr'])
    >>> r = jaxreg.sweep(lambda hp, key: hp["alpha"] * hp["lr"], c, key=jax.random.key(0), progress=False)
    >>> r.values.shape, r.best(mode="max")
    ((3, 1), {'config': 1, 'alpha': 0.01, 'lr': 0.1})
  """
  return Configs(values)


# ----------------------------------------------------------------------------- distributions


def _bound(where: str, name: str, value) -> float:
  ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
  if not ok or not math.isfinite(float(value)):
    raise ValueError(f"{where}: {name} must be a finite real number, got {value!r}.")
  return float(value)


def _bounds(where: str, low, high) -> tuple[float, float]:
  lo, hi = _bound(where, "low", low), _bound(where, "high", high)
  if not lo < hi:
    raise ValueError(f"{where}: low must be smaller than high, got low={low!r}, high={high!r}.")
  return lo, hi


@dataclasses.dataclass(frozen=True)
class _Uniform:
  """Uniform on ``[low, high]`` (``high`` only by rounding): ``low + u·(high − low)``."""

  low: float
  high: float

  def from_unit(self, u: np.ndarray) -> np.ndarray:
    return np.clip(self.low + u * (self.high - self.low), self.low, self.high)


@dataclasses.dataclass(frozen=True)
class _LogUniform:
  """Log-uniform on ``[low, high]`` (``high`` only by rounding): ``exp(log low + u·(log high − log low))``."""

  low: float
  high: float

  def from_unit(self, u: np.ndarray) -> np.ndarray:
    lo, hi = math.log(self.low), math.log(self.high)
    return np.clip(np.exp(lo + u * (hi - lo)), self.low, self.high)


@dataclasses.dataclass(frozen=True, eq=False)
class _Choice:
  """One of ``values``, equally likely: ``values[floor(u·k)]``."""

  values: np.ndarray

  def from_unit(self, u: np.ndarray) -> np.ndarray:
    k = len(self.values)
    return self.values[np.minimum(np.floor(u * k).astype(np.int64), k - 1)]

  def __repr__(self):
    return f"choice({self.values.tolist()!r})"


def uniform(low: float, high: float) -> _Uniform:
  r"""The uniform distribution on ``[low, high]``, for :func:`sample`.

  A unit sample :math:`u \in [0, 1)` (random or quasi-random) maps to
  :math:`\mathrm{low} + u\,(\mathrm{high} - \mathrm{low})`.

  Args:
    low: finite lower bound.
    high: finite upper bound, ``> low``.

  Returns:
    A distribution to use as a value of :func:`sample`'s ``space``.

  Raises:
    ValueError: for a non-finite or non-numeric bound, or ``low >= high``.

  Example:
    >>> m = jaxreg.sample({"momentum": jaxreg.uniform(0.8, 0.99)}, 1000)["momentum"]
    >>> bool(m.min() >= 0.8 and m.max() < 0.99)
    True
  """
  return _Uniform(*_bounds("jaxreg.uniform", low, high))


def loguniform(low: float, high: float) -> _LogUniform:
  r"""The log-uniform (reciprocal) distribution on ``[low, high]``, for :func:`sample`.

  :math:`\log x` is uniform on :math:`[\log \mathrm{low}, \log \mathrm{high})`
  (``scipy.stats.loguniform``): every decade gets equal mass, the usual prior
  for regularization strengths and learning rates (Bergstra & Bengio 2012). A
  unit sample :math:`u \in [0, 1)` maps to
  :math:`\exp(\log \mathrm{low} + u\,(\log \mathrm{high} - \log \mathrm{low}))`.

  Args:
    low: finite lower bound, ``> 0``.
    high: finite upper bound, ``> low``.

  Returns:
    A distribution to use as a value of :func:`sample`'s ``space``.

  Raises:
    ValueError: for a non-finite or non-numeric bound, ``low <= 0`` or ``low >= high``.

  Example:
    >>> a = jaxreg.sample({"alpha": jaxreg.loguniform(1e-5, 1e-1)}, 4000, seed=0)["alpha"]
    >>> round(float(np.mean(a < 1e-3)), 1)   # two of the four decades
    0.5

  References:
    J. Bergstra and Y. Bengio, "Random search for hyper-parameter optimization", JMLR 13 (2012).
  """
  lo, hi = _bounds("jaxreg.loguniform", low, high)
  if lo <= 0:
    raise ValueError(f"jaxreg.loguniform: low must be > 0 (the log of the bounds is taken), got low={low!r}.")
  return _LogUniform(lo, hi)


def choice(values) -> _Choice:
  r"""Equally likely choice among ``values`` (numbers), for :func:`sample`.

  A unit sample :math:`u \in [0, 1)` maps to ``values[floor(u·k)]`` for
  :math:`k` values, so quasi-random points spread evenly over the choices too.
  The sampled column keeps the values' dtype (ints stay ints).

  Args:
    values: a non-empty 1-D sequence of numbers (they are traced in the
      sweep; put non-numeric choices such as optimizer names in ``static=``).

  Returns:
    A distribution to use as a value of :func:`sample`'s ``space``.

  Raises:
    ValueError: for an empty, non-1-D or non-numeric ``values``.

  Example:
    >>> np.unique(jaxreg.sample({"batch": jaxreg.choice([32, 64, 128])}, 30)["batch"]).tolist()
    [32, 64, 128]
  """
  arr = None if isinstance(values, (str, bytes, Mapping)) else np.asarray(values)
  if arr is None or arr.ndim != 1 or arr.size == 0:
    raise ValueError(f"jaxreg.choice: values must be a non-empty 1-D sequence of numbers, got {values!r}.")
  if arr.dtype.kind not in "biuf":
    raise ValueError(f"jaxreg.choice: values must be numbers (they are traced in the sweep), got {values!r} "
                     f"(dtype {arr.dtype}); sweep non-numeric settings with jaxreg.sweep's static=.")
  arr = arr.copy()
  arr.flags.writeable = False
  return _Choice(arr)


_DISTRIBUTIONS = (_Uniform, _LogUniform, _Choice)


def _unit_points(n: int, d: int, seed: int, method: str) -> np.ndarray:
  """``(n, d)`` points in ``[0, 1)^d``: numpy's default generator, or scipy's scrambled Sobol / Halton sequence."""
  if method == "random":
    return np.random.default_rng(seed).random((n, d))
  from scipy.stats import qmc  # imported here: `import jaxreg` stays free of scipy
  engine = qmc.Sobol if method == "sobol" else qmc.Halton
  try:
    sampler = engine(d, scramble=True, rng=np.random.default_rng(seed))
  except TypeError:   # scipy < 1.15 calls it seed=
    sampler = engine(d, scramble=True, seed=np.random.default_rng(seed))
  return sampler.random(n)


def sample(space: Mapping[str, Any], n: int, *, seed: int = 0, method: str = "random") -> Configs:
  r"""``n`` configurations drawn from ``space``, random or quasi-random, as :class:`Configs` for :func:`jaxreg.sweep`.

  Draws ``n`` points :math:`u_i \in [0, 1)^d`, one coordinate per
  hyperparameter in the order of ``space``, and maps coordinate ``j`` through
  the distribution's transform (its inverse CDF):
  :func:`uniform` :math:`\mathrm{low} + u\,(\mathrm{high} - \mathrm{low})`,
  :func:`loguniform` :math:`\exp(\log\mathrm{low} + u\,(\log\mathrm{high} - \log\mathrm{low}))`,
  :func:`choice` ``values[floor(u·k)]``. The points are

  * ``"random"``: ``np.random.default_rng(seed).random((n, d))`` (independent
    uniform draws: plain random search);
  * ``"sobol"``: ``scipy.stats.qmc.Sobol(d, scramble=True, rng=np.random.default_rng(seed)).random(n)``,
    a scrambled Sobol' sequence (scipy warns unless ``n`` is a power of 2,
    which its balance properties need);
  * ``"halton"``: the same with ``scipy.stats.qmc.Halton``.

  Quasi-random points fill the space more evenly than random ones (lower
  discrepancy), so fewer configurations cover it as well. The same ``space``,
  ``n``, ``seed`` and ``method`` give the same configurations on every
  machine.

  Args:
    space: ``{name: distribution}``, each a :func:`uniform`, :func:`loguniform`
      or :func:`choice`; names are strings other than ``"config"`` and ``"seed"``.
    n: number of configurations, ``>= 1``.
    seed: an int ``>= 0`` seeding the generator (and the scrambling).
    method: ``"random"``, ``"sobol"`` or ``"halton"``.

  Returns:
    A :class:`Configs` with one float column per uniform or log-uniform axis and
    a column of the values' dtype per choice.

  Raises:
    ValueError: for an empty ``space``, a value that is not a distribution, a
      reserved name, ``n < 1``, a negative ``seed`` or an unknown ``method``.

  Example:
    >>> space = {"alpha": jaxreg.loguniform(1e-5, 1e-1), "lr": jaxreg.choice([1e-3, 1e-2])}
    >>> c = jaxreg.sample(space, 8, seed=0, method="sobol")
    >>> c.n_configs, bool((c["alpha"] >= 1e-5).all() and (c["alpha"] < 1e-1).all())
    (8, True)

  References:
    J. Bergstra and Y. Bengio, "Random search for hyper-parameter optimization", JMLR 13 (2012).
    I. M. Sobol', "On the distribution of points in a cube and the approximate evaluation of
    integrals", USSR Comput. Math. Math. Phys. 7 (1967); J. H. Halton, Numer. Math. 2 (1960);
    A. B. Owen, "Scrambling Sobol' and Niederreiter-Xing points", J. Complexity 14 (1998).
    SciPy ``scipy.stats.qmc`` documentation.
  """
  where = "jaxreg.sample"
  if not isinstance(space, Mapping):
    raise ValueError(f"{where}: space must be a dict name -> distribution, got {type(space).__name__}.")
  if not space:
    raise ValueError(f"{where}: space is empty; give at least one hyperparameter, e.g. "
                     "{'alpha': jaxreg.loguniform(1e-5, 1e-1)}.")
  for name, dist in space.items():
    _name_ok(where, "space", name)
    if not isinstance(dist, _DISTRIBUTIONS):
      raise ValueError(f"{where}: space[{name!r}] must be jaxreg.uniform(...), jaxreg.loguniform(...) or "
                       f"jaxreg.choice(...), got {dist!r}.")
  n = _trees.check_int(f"{where}: n", n, low=1)
  seed = _trees.check_int(f"{where}: seed", seed, low=0)
  if method not in _METHODS:
    raise ValueError(f"{where}: method must be one of {list(_METHODS)}, got {method!r}.")
  u = _unit_points(n, len(space), seed, method)
  return Configs({name: dist.from_unit(u[:, j]) for j, (name, dist) in enumerate(space.items())})
