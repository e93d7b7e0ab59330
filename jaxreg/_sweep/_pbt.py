"""Population-based training, vectorized: the population is the vmapped axis, the whole run one compiled program."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxreg._sweep._fingerprints import _digest_of
from jaxreg._sweep._hosts import _to_host
from jaxreg._sweep._program import _cached, _placed
from jaxreg._sweep._staged import (
  _check_configs,
  _check_key,
  _check_mode,
  _check_positive_int,
  _named,
  _rank,
  _trace_staged,
  _wrap,
)
from jaxreg._sweep._validation import _check_devices, _column_names, _path_name

_AXIS = "population"
COMPILES = [0]   # programs compiled by this module in this process (tests read it)


def _n_quantile(size: int, quantile: float) -> int:
  """Members replaced per exploit step: ``min(ceil(quantile · size), floor(size / 2))``."""
  return min(math.ceil(quantile * size - 1e-9), size // 2)


def _exploit(metric, hp: dict, key, active, *, n_real: int, n_q: int, mode: str, explore: Sequence[str],
             perturb: tuple[float, float], resample_probability: float, samplers: Mapping[str, Callable]):
  """One exploit-and-explore step over the population axis (traced): ``(parent index per member, new hparams)``.

  Members are ranked by ``metric`` (NaN/inf last, ties by position); each of the
  ``n_q`` worst real members copies a parent drawn uniformly from the finite
  members among the ``n_q`` best, and its explored hyperparameters become the
  parent's times 0.8 or 1.25 (``perturb``), or a draw from ``samplers`` with
  probability ``resample_probability``. Padding lanes (``>= n_real``) are never
  ranked. Nothing changes when ``active`` is false or no top member is finite.
  """
  size = metric.shape[0]
  pos = jnp.arange(size)
  x = metric if mode == "min" else -metric
  bad = ~jnp.isfinite(x)
  order = jnp.argsort(jnp.where(bad, jnp.inf, x), stable=True)
  order = order[jnp.argsort(pos[order] >= n_real, stable=True)]   # padding lanes after every real member
  top, bottom = order[:n_q], order[n_real - n_q:n_real]
  n_ok = jnp.sum(~bad[top])   # the finite top members come first in `top`
  k_parent, k_factor, k_coin, k_draw = jax.random.split(key, 4)
  u = jax.random.randint(k_parent, (n_q,), 0, jnp.maximum(n_ok, 1))
  do = jnp.logical_and(active, n_ok > 0)
  parent = pos.at[bottom].set(jnp.where(do, top[u], bottom))
  exploited = parent != pos
  new = {}
  for i, (name, v) in enumerate(hp.items()):
    v = v[parent]
    if name in explore:
      up = jax.random.bernoulli(jax.random.fold_in(k_factor, i), 0.5, (size,))
      w = v * jnp.where(up, jnp.asarray(perturb[1], v.dtype), jnp.asarray(perturb[0], v.dtype))
      if name in samplers and resample_probability > 0:
        coin = jax.random.bernoulli(jax.random.fold_in(k_coin, i), resample_probability, (size,))
        draws = jax.vmap(samplers[name])(jax.random.split(jax.random.fold_in(k_draw, i), size))
        w = jnp.where(coin, jnp.asarray(draws, v.dtype), w)
      v = jnp.where(exploited, w, v)
    new[name] = v
  return parent, new


class PBTResult:
  """What :func:`jaxreg.pbt` returns: the whole history of a population.

  Attributes:
    population: ``{name: (size,)}`` the initial hyperparameters, as given.
    hparams: ``{name: (intervals, size)}`` the hyperparameters each member
      trained with during each interval.
    parents: ``(intervals, size)`` int: after interval ``j``, member ``m``
      continues from the state of member ``parents[j, m]`` (itself when not
      exploited; the last row is always the identity).
    metrics: the pytree ``evaluate`` returns, each leaf ``(intervals, size, *leaf_shape)``,
      evaluated at the end of each interval (before exploiting).
    steps: ``(intervals,)`` cumulative training steps at each evaluation.
    metric, mode: the ranking metric and ``"min"``/``"max"``.
    best_member: the best member at the end (NaN/inf last).
    best: ``{name: value}`` its hyperparameters during the last interval.
    best_score: its final metric.
    total_steps: ``size · steps``, training steps spent (member × step).
    state: the final states (numpy, leaves ``(size, *leaf_shape)``).
  """

  def __init__(self, population, hparams, parents, metrics, steps, metric: str, mode: str, metric_index: int, state):
    self.population, self.hparams, self.parents, self.metrics = population, hparams, parents, metrics
    self.steps, self.metric, self.mode, self.state = steps, metric, mode, state
    final = np.asarray(jax.tree_util.tree_leaves(metrics)[metric_index][-1], np.float64)
    self.best_member = int(_rank(final, mode)[0])
    self.best = {k: v[-1, self.best_member].item() for k, v in hparams.items()}
    self.best_score = float(final[self.best_member])
    self.total_steps = int(len(parents[0]) * steps[-1])

  def __repr__(self):
    return (f"PBTResult(size={self.parents.shape[1]}, intervals={len(self.steps)}, best_member={self.best_member}, "
            f"best={self.best}, {self.metric}={self.best_score:.6g}, total_steps={self.total_steps})")

  def lineage(self, member: int) -> np.ndarray:
    """``(intervals,)``: whose state the final ``member`` was during each interval (its ancestors, last = itself)."""
    n = len(self.steps)
    out = np.empty(n, int)
    out[-1] = member
    for j in range(n - 2, -1, -1):
      out[j] = self.parents[j, out[j + 1]]
    return out

  def schedule(self, member: int) -> dict[str, np.ndarray]:
    """``{name: (intervals,)}``: the hyperparameter schedule the final ``member``'s model was trained with."""
    line = self.lineage(member)
    return {k: v[np.arange(len(line)), line] for k, v in self.hparams.items()}

  def to_records(self) -> list[dict[str, Any]]:
    """One dict per interval × member: ``interval``, ``steps``, ``member``, ``parent``, hyperparameters, metrics."""
    leaves = [(_path_name(p), np.asarray(x)) for p, x in jax.tree_util.tree_flatten_with_path(self.metrics)[0]]
    out = []
    for j, s in enumerate(self.steps):
      for m in range(self.parents.shape[1]):
        row = {"interval": j, "steps": int(s), "member": m, "parent": int(self.parents[j, m]),
               **{k: v[j, m].item() for k, v in self.hparams.items()}}
        for name, x in leaves:
          for col, i in zip(_column_names(name, x.shape[2:]), np.ndindex(*x.shape[2:])):
            row[col] = x[(j, m) + tuple(i)].item()
        out.append(row)
    return out


def _jax_sampler(dist) -> Callable | None:
  """A jax function ``key -> scalar`` drawing from ``dist``: :func:`jaxreg.uniform`, ``loguniform``, ``choice``."""
  try:
    from jaxreg._sweep import _spaces
  except ImportError:   # pragma: no cover - the spaces module ships with this one
    return None
  if isinstance(dist, _spaces._LogUniform):
    lo, hi = math.log(dist.low), math.log(dist.high)
    return lambda k: jnp.clip(jnp.exp(jax.random.uniform(k, minval=lo, maxval=hi)), dist.low, dist.high)
  if isinstance(dist, _spaces._Uniform):
    return lambda k: jax.random.uniform(k, minval=dist.low, maxval=dist.high)
  if isinstance(dist, _spaces._Choice):
    values = np.asarray(dist.values)
    return lambda k: jnp.asarray(values)[jax.random.randint(k, (), 0, len(values))]
  return None


def _samplers(space, names: Sequence[str], where: str) -> dict[str, Callable]:
  """``{name: key -> scalar}`` jax samplers of ``space`` (jaxreg distributions, or jax functions of a key)."""
  if space is None:
    return {}
  if not isinstance(space, Mapping):
    raise ValueError(f"{where}: space must be a dict {{name: distribution}} or None, got {type(space).__name__}.")
  out = {}
  for name, dist in space.items():
    if name not in names:
      raise ValueError(f"{where}: space[{name!r}] names no explored hyperparameter (explored: {list(names)}).")
    sample = _jax_sampler(dist)
    if sample is None and callable(dist) and not isinstance(dist, type):
      sample = dist
    if sample is None:
      raise ValueError(f"{where}: space[{name!r}] must be jaxreg.uniform(...), jaxreg.loguniform(...), "
                       "jaxreg.choice(...) or a jax function key -> scalar (e.g. "
                       f"lambda k: 10 ** jax.random.uniform(k, minval=-5, maxval=-1)), got {dist!r}.")
    out[name] = sample
  return out


def _check_unit(where: str, name: str, value, low_open: bool) -> float:
  ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
  if ok and math.isfinite(value) and (0 < value if low_open else 0 <= value) and value <= (0.5 if low_open else 1):
    return float(value)
  want = "in (0, 0.5]" if low_open else "in [0, 1]"
  raise ValueError(f"{where}: {name} must be a number {want}, got {value!r}.")


def pbt(init: Callable[[dict[str, Any], jax.Array], Any], train: Callable[[Any, dict[str, Any], jax.Array, int], Any],
        evaluate: Callable[[Any, dict[str, Any]], Any], population: Mapping[str, Any], *, key, steps: int,
        interval: int, metric: str, mode: str = "min", quantile: float = 0.25,
        perturb: tuple[float, float] = (0.8, 1.25), resample_probability: float = 0.0,
        space: Mapping[str, Any] | None = None, explore: Sequence[str] | None = None,
        devices: Sequence[Any] | None = None) -> PBTResult:
  r"""Population-based training with the population as the vmapped axis, all of it one compiled program.

  A population of ``size`` members (one per entry of the configuration list
  ``population``) trains for ``steps`` steps in ``J = steps / interval``
  intervals; the run is one ``lax.scan`` over intervals inside one compiled
  program. After each interval ``j < J - 1`` (exploit and explore, Jaderberg et
  al. 2017, truncation selection):

  * members are ranked by ``metric`` (``mode="min"``: smaller is better; NaN
    and inf rank last, ties by position);
  * each of the :math:`q = \min(\lceil \text{quantile}\cdot\text{size}\rceil,
    \lfloor \text{size}/2 \rfloor)` worst members copies the **whole state**
    (parameters and optimizer state) of a parent drawn uniformly from the
    :math:`q` best members whose metric is finite (a gather over the population
    axis). A NaN/inf member is never a parent; when no top member is finite,
    nothing is copied;
  * the copied member's explored hyperparameters become the parent's times a
    factor drawn per hyperparameter from ``perturb`` (0.8 or 1.25 with
    probability 1/2 each) or, with probability ``resample_probability``, a fresh
    draw from ``space[name]``. Values are not clipped to any range.

  **Hyperparameters are data, read at every call.** The state carries no
  hyperparameter: ``train(state, hparams, key, steps)`` must build its update
  from ``hparams`` at each call (``optax.inject_hyperparams`` with the rate
  read from ``hparams``, or ``optax.chain(jaxreg.add_l2(h["alpha"]),
  optax.adam(h["lr"]))`` rebuilt inside ``train``: the optimizer *state* keeps
  the same structure for every value), so a changed value takes effect without
  recompiling. ``train`` must return a state of the same structure, shapes and
  dtypes.

  **Keys.** ``k_members, k_explore = jax.random.split(key)``; member ``m``
  starts with ``init(h_m, k_m)``, :math:`k_m` = ``fold_in(k_members, m)``, and
  interval ``j`` calls ``train(state, h, fold_in(k_m, j), interval)``: a member
  that copies a parent keeps its own data stream. The exploit step after
  interval ``j`` draws from ``fold_in(k_explore, j)``. The same call gives the
  same result (on the same devices).

  **Devices.** The population axis is sharded over ``devices`` (padded to a
  multiple of their count with lanes that are never ranked and are dropped).

  Args:
    init: ``init(hparams, key) -> state`` (a pytree of arrays).
    train: ``train(state, hparams, key, steps) -> state``; ``steps`` is ``interval``.
    evaluate: ``evaluate(state, hparams) -> metrics`` (a pytree of arrays).
    population: the initial hyperparameters, a configuration list
      ``{name: (size,)}`` with ``size >= 2`` (e.g. from :func:`jaxreg.sample`).
    key: a PRNG key.
    steps: training steps of every member, a multiple of ``interval``.
    interval: steps between exploit steps, ``>= 1``.
    metric: name of a scalar metric of ``evaluate``.
    mode: ``"min"`` or ``"max"``.
    quantile: fraction of the population replaced (and of parents), in ``(0, 0.5]``.
    perturb: the two factors of explore, positive numbers.
    resample_probability: probability, in ``[0, 1]``, of resampling an explored
      hyperparameter from ``space`` instead of perturbing it.
    space: ``{name: distribution}`` for resampling: :func:`jaxreg.loguniform`,
      :func:`jaxreg.uniform`, :func:`jaxreg.choice` (drawn inside the program
      with ``jax.random``), or a jax function ``key -> scalar``; ``None`` for none.
    explore: names of the hyperparameters explored; ``None`` means every
      floating-point one (integers are copied from the parent, never perturbed).
    devices: devices to shard the population over; ``None`` means ``jax.devices()``.

  Returns:
    A :class:`jaxreg.PBTResult` with every member's hyperparameter schedule, parent
    indices and metrics per interval, the final states and the best member.

  Raises:
    ValueError: for an empty or malformed ``population`` or one of fewer than 2
      members, ``quantile`` outside ``(0, 0.5]``, ``steps`` or ``interval``
      smaller than one step or not dividing, bad ``perturb``,
      ``resample_probability`` or ``space``, an explored name that is not a
      floating-point hyperparameter, a ``train`` whose state changes structure,
      shape or dtype, an unknown or non-scalar ``metric``, a bad ``mode`` or ``key``.

  Example:
    >>> init = lambda h, key: {"x": jnp.zeros(())}
    >>> def train(state, h, key, steps):   # gradient descent on (x - 1)**2 at rate h["lr"]
    ...   return {"x": jax.lax.fori_loop(0, steps, lambda _, x: x - h["lr"] * 2 * (x - 1), state["x"])}
    >>> evaluate = lambda state, h: {"loss": (state["x"] - 1) ** 2}
    >>> r = jaxreg.pbt(init, train, evaluate, {"lr": [0.001, 0.003, 0.01, 0.03]}, key=jax.random.key(0),
    ...                steps=40, interval=10, metric="loss", quantile=0.25)
    >>> r.hparams["lr"].shape, r.parents.shape, r.best_member, r.total_steps
    ((4, 4), (4, 4), 2, 160)

  References:
    M. Jaderberg, V. Dalibard, S. Osindero, W. M. Czarnecki, J. Donahue,
    A. Razavi, O. Vinyals, T. Green, I. Dunning, K. Simonyan, C. Fernando and
    K. Kavukcuoglu, "Population based training of neural networks",
    arXiv:1711.09846, 2017.
  """
  where = "jaxreg.pbt"
  labels, traced = _check_configs(population, where, "population")
  size = len(next(iter(labels.values())))
  if size < 2:
    raise ValueError(f"{where}: population must have at least 2 members (one exploits another), got {size}.")
  mode = _check_mode(mode, where)
  quantile = _check_unit(where, "quantile", quantile, low_open=True)
  steps = _check_positive_int(where, "steps", steps)
  interval = _check_positive_int(where, "interval", interval)
  if steps % interval:
    raise ValueError(f"{where}: steps={steps} must be a multiple of interval={interval} (every interval trains "
                     "the same number of steps, so one program runs them all).")
  if (not isinstance(perturb, (tuple, list)) or len(perturb) != 2
      or not all(isinstance(f, (int, float, np.integer, np.floating)) and not isinstance(f, (bool, np.bool_))
                 and math.isfinite(f) and f > 0 for f in perturb)):
    raise ValueError(f"{where}: perturb must be two positive factors, e.g. (0.8, 1.25), got {perturb!r}.")
  perturb = (float(perturb[0]), float(perturb[1]))
  resample_probability = _check_unit(where, "resample_probability", resample_probability, low_open=False)
  floats = [k for k, v in traced.items() if v.dtype.kind == "f"]
  if explore is None:
    explore = floats
  else:
    explore = list(explore)
    for name in explore:
      if name not in floats:
        raise ValueError(f"{where}: explore names {name!r}, which is not a floating-point hyperparameter of "
                         f"population (those are {floats}).")
  samplers = _samplers(space, explore, where)
  if resample_probability > 0 and not samplers:
    raise ValueError(f"{where}: resample_probability={resample_probability} needs a space to resample from.")
  with _named(where):
    devices = _check_devices(devices)
  key_data, key_impl = _check_key(key, where)
  staged = _trace_staged(init, train, evaluate, traced, key_data, key_impl, [interval], metric, where)
  n_int, n_q = steps // interval, _n_quantile(size, quantile)
  pad = -(-size // len(devices)) * len(devices)

  mesh = Mesh(np.array(devices), (_AXIS,))
  lane, rep = NamedSharding(mesh, P(_AXIS)), NamedSharding(mesh, P())
  hist = NamedSharding(mesh, P(None, _AXIS))
  fi, ft, fe, mi = staged.init, staged.train[interval], staged.evaluate, staged.metric_index
  knobs = dict(n_real=size, n_q=n_q, mode=mode, explore=tuple(explore), perturb=perturb,
               resample_probability=resample_probability, samplers=samplers)

  def body(hp, members, kd):
    k_members, k_explore = jax.random.split(_wrap(kd, key_impl))
    keys = jax.vmap(lambda m: jax.random.fold_in(k_members, m))(members)
    state = jax.vmap(fi)(hp, keys)

    def one_interval(carry, j):
      state, hp = carry
      state = jax.vmap(lambda s, h, k: ft(s, h, jax.random.fold_in(k, j)))(state, hp, keys)
      metrics = jax.vmap(fe)(state, hp)
      m = jax.tree_util.tree_leaves(metrics)[mi]
      parent, new_hp = _exploit(m, hp, jax.random.fold_in(k_explore, j), j < n_int - 1, **knobs)
      state = jax.tree_util.tree_map(lambda x: x[parent], state)
      return (state, new_hp), (hp, parent, metrics)

    (state, _), (hps, parents, metrics) = jax.lax.scan(one_interval, (state, hp), jnp.arange(n_int))
    return state, hps, parents, metrics

  def build():
    COMPILES[0] += 1
    specs = ({k: jax.ShapeDtypeStruct((pad,), v.dtype, sharding=lane) for k, v in traced.items()},
             jax.ShapeDtypeStruct((pad,), np.int32, sharding=lane),
             jax.ShapeDtypeStruct(key_data.shape, key_data.dtype, sharding=rep))
    jitted = jax.jit(body, in_shardings=(lane, lane, rep), out_shardings=(lane, hist, hist, hist))
    return jitted.lower(*specs).compile()

  cache_key = ("pbt", _digest_of(staged.digest), mi, pad, n_int, interval, repr({k: v for k, v in knobs.items() if k != "samplers"}),
               tuple(sorted((k, _fn_digest(f, traced[k].dtype, key_data, key_impl)) for k, f in samplers.items())),
               key_impl, key_data.dtype.str, key_data.shape, tuple(devices))
  compiled = _cached(cache_key, build)
  idx = np.minimum(np.arange(pad), size - 1)
  hp_in = {k: _placed(v[idx], lane) for k, v in traced.items()}
  key_in = jax.make_array_from_callback(key_data.shape, rep, lambda i: key_data[i])
  state, hps, parents, metrics = _to_host(compiled(hp_in, _placed(idx.astype(np.int32), lane), key_in))
  cut = lambda x: x[:, :size]
  return PBTResult(labels, {k: cut(v) for k, v in hps.items()}, cut(parents),
                   jax.tree_util.tree_map(cut, metrics), interval * np.arange(1, n_int + 1), metric, mode, mi,
                   jax.tree_util.tree_map(lambda x: x[:size], state))


def _fn_digest(f, dtype, key_data, key_impl) -> str:
  """What a sampler computes (its traced program by content), for the compiled-program cache."""
  from jaxreg._sweep._staged import _key_spec, _trace
  return _trace(lambda k: jnp.asarray(f(k), dtype), _key_spec(key_data, key_impl)).digest
