"""Successive halving and Hyperband, vectorized: each rung is one compiled, sharded program over its survivors."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxreg._sweep._checkpoints import _Checkpoints
from jaxreg._sweep._fingerprints import _digest_of, _jax_versions
from jaxreg._sweep._layout import _plan
from jaxreg._sweep._program import _cached, _placed
from jaxreg._sweep._staged import (
  _check_configs,
  _check_eta,
  _check_key,
  _check_mode,
  _check_positive_int,
  _named,
  _rank,
  _Staged,
  _trace_staged,
  _wrap,
)
from jaxreg._sweep._validation import _check_devices, _check_seeds, _column_names, _path_name

_AXIS = "search"
_FORMAT = "jaxreg.successive_halving/1"
COMPILES = [0]   # programs compiled by this module in this process (tests read it)


def _schedule(eta: float, min_steps, max_steps, n_rungs, where: str) -> list[int]:
  """The cumulative steps of each rung: ``round(max_steps · eta**-(K-1-i))``, ``i = 0..K-1``."""
  max_steps = _check_positive_int(where, "max_steps", max_steps)
  if (min_steps is None) == (n_rungs is None):
    raise ValueError(f"{where}: give exactly one of min_steps and n_rungs (the other follows from max_steps and "
                     f"eta), got min_steps={min_steps!r}, n_rungs={n_rungs!r}.")
  if n_rungs is None:
    min_steps = _check_positive_int(where, "min_steps", min_steps)
    if min_steps > max_steps:
      raise ValueError(f"{where}: min_steps={min_steps} is larger than max_steps={max_steps}; the first rung "
                       "trains min_steps, the last max_steps.")
    k = 1
    while max_steps / eta ** k >= min_steps:
      k += 1
  else:
    k = _check_positive_int(where, "n_rungs", n_rungs)
    if max_steps / eta ** (k - 1) < 1:
      raise ValueError(f"{where}: n_rungs={k} with eta={eta:g} and max_steps={max_steps} gives a first rung of "
                       f"{max_steps / eta ** (k - 1):.3g} steps, less than one step; use fewer rungs or more steps.")
  steps = [max(1, round(max_steps / eta ** (k - 1 - i))) for i in range(k)]
  steps[-1] = max_steps
  if any(b <= a for a, b in zip(steps, steps[1:])):
    raise ValueError(f"{where}: the rungs' steps {steps} are not increasing (budgets too small for eta={eta:g}); "
                     "raise max_steps or use fewer rungs.")
  return steps


def _survivors(n: int, eta: float, n_rungs: int) -> list[int]:
  """Configurations per rung: ``n``, then ``ceil(previous / eta)``."""
  out = [n]
  for _ in range(n_rungs - 1):
    out.append(math.ceil(out[-1] / eta))
  return out


@dataclasses.dataclass(frozen=True)
class Rung:
  """One rung of successive halving.

  Attributes:
    steps: training steps every configuration of the rung has had (cumulative).
    index: ``(n,)`` positions of the rung's configurations in ``configs``.
    hparams: ``{name: (n,)}`` their hyperparameters.
    metrics: the pytree ``evaluate`` returns, each leaf ``(n, seeds, *leaf_shape)``.
    score: ``(n,)`` the ranking metric's mean over seeds (float64; NaN when a seed failed).
    kept: positions (into this rung, best first) of the configurations continued to the next rung;
      empty at the last rung.
  """

  steps: int
  index: np.ndarray
  hparams: dict[str, np.ndarray]
  metrics: Any
  score: np.ndarray
  kept: np.ndarray


class HalvingResult:
  """What :func:`jaxreg.successive_halving` returns.

  Attributes:
    configs: ``{name: (n,)}`` every configuration, as given.
    seeds: ``(seeds,)`` the seed values.
    rungs: the rungs, first to last, each with ``steps`` (cumulative training steps),
      ``index`` (``(n_i,)`` positions in ``configs``), ``hparams`` (``{name: (n_i,)}``),
      ``metrics`` (``evaluate``'s pytree, leaves ``(n_i, seeds, *leaf_shape)``), ``score``
      (``(n_i,)`` seed-mean of the ranking metric, float64) and ``kept`` (positions in the rung of
      the configurations continued, best first; empty at the last rung).
    metric, mode: the ranking metric and ``"min"``/``"max"``.
    best_index: position in ``configs`` of the best configuration of the last rung.
    best: ``{name: value}`` its hyperparameters (Python scalars).
    best_score: its ranking metric, mean over seeds.
    total_steps: training steps spent, counted per configuration × seed:
      ``Σ_i n_i · seeds · (steps_i − steps_{i−1})``. A grid of ``n`` configurations
      trained ``max_steps`` costs ``n · seeds · max_steps``.
    state: the final states of the last rung's configurations (numpy, leaves
      ``(n_last, seeds, *leaf_shape)``).
  """

  def __init__(self, configs, seeds, rungs: list[Rung], metric: str, mode: str, state):
    self.configs, self.seeds, self.rungs, self.metric, self.mode, self.state = configs, seeds, rungs, metric, mode, state
    last = rungs[-1]
    b = int(_rank(last.score, mode)[0])
    self.best_index = int(last.index[b])
    self.best = {k: v[self.best_index].item() for k, v in configs.items()}
    self.best_score = float(last.score[b])
    self.total_steps = sum(len(r.index) * len(seeds) * (r.steps - p)
                           for r, p in zip(rungs, [0] + [r.steps for r in rungs[:-1]]))

  def __repr__(self):
    rungs = ", ".join(f"{len(r.index)}×{r.steps}" for r in self.rungs)
    return (f"HalvingResult(rungs=[{rungs}] (configurations × steps), seeds={len(self.seeds)}, "
            f"best={self.best}, {self.metric}={self.best_score:.6g}, total_steps={self.total_steps})")

  def to_records(self) -> list[dict[str, Any]]:
    """One dict per rung × configuration × seed: ``rung``, ``steps``, ``config``, hyperparameters, ``seed``, metrics."""
    out = []
    for i, r in enumerate(self.rungs):
      leaves = [(_path_name(p), np.asarray(x)) for p, x in jax.tree_util.tree_flatten_with_path(r.metrics)[0]]
      for c, idx in enumerate(r.index):
        for s, seed in enumerate(self.seeds):
          row = {"rung": i, "steps": r.steps, "config": int(idx), **{k: v[c].item() for k, v in r.hparams.items()},
                 "seed": int(seed)}
          for name, x in leaves:
            for col, j in zip(_column_names(name, x.shape[2:]), np.ndindex(*x.shape[2:])):
              row[col] = x[(c, s) + tuple(j)].item()
          out.append(row)
    return out


class _Runner:
  """Compiles and runs the rungs of one successive-halving schedule over ``devices``."""

  def __init__(self, staged: _Staged, traced_hp: dict[str, np.ndarray], seeds: np.ndarray, key_data: np.ndarray,
               key_impl: str | None, devices: list, steps: list[int]):
    self.staged, self.hp, self.seeds, self.key_impl, self.devices, self.steps = \
        staged, traced_hp, seeds, key_impl, devices, steps
    self.mesh = Mesh(np.array(devices), (_AXIS,))
    rep = NamedSharding(self.mesh, P())
    self.key = jax.make_array_from_callback(key_data.shape, rep, lambda idx: key_data[idx])
    self.key_data = key_data

  def layout(self, n: int):
    """``(s_pad, g_pad, shard_seeds)`` of a rung of ``n`` configurations (sweep's rule: pad the axis that wastes less)."""
    lay = _plan(n, len(self.seeds), None, len(self.devices))
    return lay.s_pad, lay.g_pad, lay.shard_seeds

  def shardings(self, n: int):
    s_pad, g_pad, shard_seeds = self.layout(n)
    ns = lambda spec: NamedSharding(self.mesh, spec)
    return {"hp": ns(P() if shard_seeds else P(_AXIS)), "seeds": ns(P(_AXIS) if shard_seeds else P()),
            "out": ns(P(_AXIS) if shard_seeds else P(None, _AXIS)), "key": ns(P())}

  def _specs(self, n: int, with_state: bool):
    s_pad, g_pad, _ = self.layout(n)
    sh = self.shardings(n)
    hp = {k: jax.ShapeDtypeStruct((g_pad,), v.dtype, sharding=sh["hp"]) for k, v in self.hp.items()}
    seeds = jax.ShapeDtypeStruct((s_pad,), np.int32, sharding=sh["seeds"])
    key = jax.ShapeDtypeStruct(self.key_data.shape, self.key_data.dtype, sharding=sh["key"])
    specs: list[Any] = [hp, seeds, key]
    if with_state:
      state = jax.tree_util.tree_unflatten(self.staged.init.treedef, [
          jax.ShapeDtypeStruct((s_pad, g_pad, *shape), dtype, sharding=sh["out"]) for shape, dtype in
          self.staged.init.info])
      specs.insert(0, state)
    return specs

  def compiled(self, i: int, n: int):
    """Rung ``i``'s program over ``n`` configurations: ``[state,] hp, seeds, key -> (state, metrics)``."""
    key = ("successive_halving", self.staged.init.digest, self.staged.train[self.rung_steps(i)].digest,
           self.staged.evaluate.digest, i, self.layout(n), self.key_impl, self.key_data.dtype.str,
           self.key_data.shape, tuple(self.devices))
    return _cached(key, lambda: self._build(i, n))

  def rung_steps(self, i: int) -> int:
    return self.steps[i] - (self.steps[i - 1] if i else 0)

  def _build(self, i: int, n: int):
    COMPILES[0] += 1
    s_pad, g_pad, _ = self.layout(n)
    init, train, evaluate = self.staged.init, self.staged.train[self.rung_steps(i)], self.staged.evaluate
    key_impl = self.key_impl

    def per_seed(state, hp, seed, base):
      k = jax.random.fold_in(base, seed)   # the seed's key, shared by every configuration (as in sweep)
      kr = jax.random.fold_in(k, i)        # rung i trains with fold_in(seed key, i)

      def one(s, h):
        s = init(h, k) if s is None else s
        s = train(s, h, kr)
        return s, evaluate(s, h)

      if state is None:
        return jax.vmap(lambda h: one(None, h), axis_size=g_pad)(hp)
      return jax.vmap(one, axis_size=g_pad)(state, hp)

    def body(*args):
      state, (hp, seeds, kd) = (None, args) if i == 0 else (args[0], args[1:])
      base = _wrap(kd, key_impl)
      if s_pad == 1:   # no size-1 vmap: the same program a sweep of one seed runs
        st = None if state is None else jax.tree_util.tree_map(lambda x: x[0], state)
        return jax.tree_util.tree_map(lambda x: x[None], per_seed(st, hp, seeds[0], base))
      if state is None:
        return jax.vmap(lambda sd: per_seed(None, hp, sd, base))(seeds)
      return jax.vmap(lambda st, sd: per_seed(st, hp, sd, base))(state, seeds)

    sh = self.shardings(n)
    specs = self._specs(n, i > 0)
    in_sh = tuple(jax.tree_util.tree_map(lambda s: s.sharding, spec) for spec in specs)
    jitted = jax.jit(body, in_shardings=in_sh, out_shardings=sh["out"])
    return jitted.lower(*specs).compile()

  def args(self, n: int, index: np.ndarray) -> list:
    """Rung inputs for the configurations ``index`` (padded by repeating the last), placed on the devices."""
    s_pad, g_pad, _ = self.layout(n)
    sh = self.shardings(n)
    g_idx = index[np.minimum(np.arange(g_pad), n - 1)]
    s_idx = np.minimum(np.arange(s_pad), len(self.seeds) - 1)
    hp = {k: _placed(v[g_idx], sh["hp"]) for k, v in self.hp.items()}
    return [hp, _placed(self.seeds[s_idx], sh["seeds"]), self.key]

  def place_state(self, n: int, state_host) -> Any:
    """A host state ``(n, seeds, ...)`` as the padded, sharded input ``(s_pad, g_pad, ...)`` of a rung of ``n``."""
    s_pad, g_pad, _ = self.layout(n)
    sh = self.shardings(n)
    g_idx = np.minimum(np.arange(g_pad), n - 1)
    s_idx = np.minimum(np.arange(s_pad), len(self.seeds) - 1)
    return jax.tree_util.tree_map(
        lambda x: _placed(np.ascontiguousarray(np.swapaxes(x, 0, 1)[s_idx][:, g_idx]), sh["out"]), state_host)

  def gather(self, state, keep: np.ndarray, n_prev: int, n_next: int):
    """Device state of rung positions ``keep`` (padded), laid out for a rung of ``n_next`` configurations.

    One small program per pair of rung sizes (cached); the positions are an argument, not constants.
    """
    s_pad, g_pad, _ = self.layout(n_next)
    g_idx = keep[np.minimum(np.arange(g_pad), n_next - 1)].astype(np.int32)
    s_idx = np.minimum(np.arange(s_pad), len(self.seeds) - 1)
    out, prev = self.shardings(n_next)["out"], self.shardings(n_prev)["out"]
    key = ("successive_halving.gather", str(self.staged.init.treedef), repr(self.staged.init.info),
           self.layout(n_prev), self.layout(n_next), len(self.seeds), tuple(self.devices))

    def build():
      take = lambda st, g: jax.tree_util.tree_map(lambda x: x[s_idx][:, g], st)
      rep = NamedSharding(self.mesh, P())
      return jax.jit(take, in_shardings=(prev, rep), out_shardings=out)

    return _cached(key, build)(state, _placed(g_idx, NamedSharding(self.mesh, P())))


def _host(tree, n: int, n_seeds: int):
  """Device leaves ``(s_pad, g_pad, ...)`` as host arrays ``(n, seeds, ...)`` without the padding."""
  from jaxreg._sweep._hosts import _to_host
  return jax.tree_util.tree_map(lambda x: np.ascontiguousarray(np.swapaxes(x[:n_seeds, :n], 0, 1)), _to_host(tree))


def _select(score: np.ndarray, n_keep: int, mode: str, metric: str, rung: int, steps: int, where: str) -> np.ndarray:
  if not np.isfinite(score).any():
    raise ValueError(f"{where}: every configuration's metric {metric!r} (mean over seeds) is NaN or inf at rung "
                     f"{rung} ({steps} steps): there is nothing to select. Check the training (learning rates, "
                     "ranges) or the metric.")
  return _rank(score, mode)[:n_keep]


def successive_halving(init: Callable[[dict[str, Any], jax.Array], Any],
                       train: Callable[[Any, dict[str, Any], jax.Array, int], Any],
                       evaluate: Callable[[Any, dict[str, Any]], Any], configs: Mapping[str, Any], *, key,
                       seeds=1, eta: float = 3, min_steps: int | None = None, max_steps: int,
                       n_rungs: int | None = None, metric: str, mode: str = "min",
                       devices: Sequence[Any] | None = None, checkpoint_dir=None) -> HalvingResult:
  r"""Successive halving over a configuration list × seeds, each rung one compiled, sharded program.

  With ``n`` configurations, ``K`` rungs and factor :math:`\eta`, rung ``i``
  (``i = 0..K-1``) trains ``n_i`` configurations to :math:`r_i` cumulative steps
  and keeps the best :math:`n_{i+1} = \lceil n_i/\eta \rceil` for the next:

  .. math::

    r_i = \operatorname{round}\!\big(R\,\eta^{-(K-1-i)}\big),\quad r_{K-1} = R,\qquad
    n_0 = n,\quad n_{i+1} = \lceil n_i / \eta \rceil,

  where :math:`R` is ``max_steps`` and ``K`` is ``n_rungs`` or, from ``min_steps``,
  the largest ``K`` with :math:`R\,\eta^{-(K-1)} \ge` ``min_steps``. Configurations
  are ranked by ``metric`` averaged over the seeds (``mode="min"``: smaller is
  better); a configuration with a NaN or infinite seed ranks last and is never
  kept over a finite one; ties keep the earlier configuration. Survivors
  **continue** from their state (they are not retrained). The steps spent,
  counted per configuration × seed, are :math:`S\sum_i n_i (r_i - r_{i-1})`
  (``total_steps``), against :math:`S\,n\,R` for the full grid.

  **Staged interface.** ``init(hparams, key) -> state``,
  ``train(state, hparams, key, steps) -> state`` (``steps`` a Python int) and
  ``evaluate(state, hparams) -> metrics`` (a pytree of arrays) are pure; each
  ``hparams[name]`` is a traced scalar (never branch on it in Python). ``train``
  must return a state of the same structure, shapes and dtypes.

  **Keys.** Seed ``s`` has the key :math:`k_s` = ``fold_in(key, s)``, shared by
  every configuration (common random numbers, as in :func:`jaxreg.sweep`).
  ``init(h, k_s)`` starts a run and rung ``i`` calls
  ``train(state, h, fold_in(k_s, i), r_i - r_{i-1})``. So rung ``i``'s metrics
  equal those of ``jaxreg.sweep`` over the same configurations with::

    def fn(h, k):
      state = init(h, k)
      for j in range(i + 1):
        state = train(state, h, jax.random.fold_in(k, j), r[j] - (r[j - 1] if j else 0))
      return evaluate(state, h)

  (Give ``init`` randomness from ``jax.random.split(k)``, not ``fold_in(k, j)``
  for small ``j``, so that it does not repeat a rung's stream.)

  **Programs.** Rung ``i`` is one ``jit(vmap(vmap(...)))`` program over its
  ``n_i`` configurations × seeds, sharded over ``devices`` like :func:`jaxreg.sweep`
  (the configuration axis, or the seed axis when that pads fewer lanes; padding
  repeats real configurations and is dropped). Shapes are fixed by the schedule,
  so a call compiles one training program per rung (``K`` in all; the steps of a
  rung differ anyway) and a small gather of the survivors' states; a repeated call
  with the same programs reuses them while they are among the last 16 compiled
  (a Hyperband run with more rungs than that recompiles some). Padding every rung to ``n`` lanes would compile once but spend the
  full grid's compute, so it is not done. States stay on the devices between rungs.

  **Checkpoints.** With ``checkpoint_dir``, each finished rung is saved (its
  metrics and the states of the configurations it keeps) as an atomically
  written, checksummed ``.npz``, as :func:`jaxreg.sweep` saves chunks; a rerun of the
  same call after a kill resumes from the last saved rung and is bit-identical
  to an uninterrupted run on the same devices. A directory is reused only for
  the same configurations, seeds, schedule (``eta``, rung steps, survivors),
  metric, mode, key, the traced programs of ``init``, ``train`` (each rung's
  steps) and ``evaluate``, and the JAX version; otherwise ``ValueError``. State
  leaves must be numeric arrays (no PRNG key arrays) to be saved.

  Args:
    init: ``init(hparams, key) -> state`` (a pytree of arrays).
    train: ``train(state, hparams, key, steps) -> state``.
    evaluate: ``evaluate(state, hparams) -> metrics`` (a pytree of arrays).
    configs: a configuration list ``{name: 1-D numbers}``, all of one length
      ``n >= 1`` (e.g. from :func:`jaxreg.sample`); values are traced in JAX's
      default dtypes.
    key: a PRNG key.
    seeds: number of seeds or a 1-D sequence of distinct int seed values.
    eta: the reduction factor, a number ``>= 2``.
    min_steps: steps of the first rung (at least); give this or ``n_rungs``.
    max_steps: steps of the last rung, an int ``>= 1``.
    n_rungs: number of rungs ``K``; give this or ``min_steps``.
    metric: name of a scalar metric of ``evaluate`` (its pytree path joined by ``.``).
    mode: ``"min"`` or ``"max"``.
    devices: devices to shard over; ``None`` means ``jax.devices()``.
    checkpoint_dir: directory for resumable per-rung checkpoints, or ``None``.

  Returns:
    A :class:`jaxreg.HalvingResult`: per-rung survivors, their metrics and mean scores,
    the best configuration of the last rung and the total training steps.

  Raises:
    ValueError: for an empty or malformed ``configs``, ``eta < 2``, a bad
      ``seeds`` or ``key``, ``min_steps > max_steps``, budgets smaller than one
      step or rungs that do not grow, both or neither of ``min_steps`` and
      ``n_rungs``, a ``train`` whose state changes structure, shape or dtype, an
      unknown or non-scalar ``metric``, a bad ``mode``, a metric that is NaN or
      inf for every configuration of a rung (nothing can be selected; the rungs
      before it are saved when checkpointing), or a ``checkpoint_dir`` holding
      another computation.

  Example:
    >>> def init(h, key):
    ...   return {"x": jnp.zeros(())}
    >>> def train(state, h, key, steps):   # gradient descent on (x - 1)**2 with rate h["lr"]
    ...   x = jax.lax.fori_loop(0, steps, lambda _, x: x - h["lr"] * 2 * (x - 1), state["x"])
    ...   return {"x": x}
    >>> def evaluate(state, h):
    ...   return {"loss": (state["x"] - 1) ** 2}
    >>> r = jaxreg.successive_halving(init, train, evaluate, {"lr": [0.001, 0.01, 0.1, 0.3]},
    ...                               key=jax.random.key(0), eta=2, min_steps=2, max_steps=8, metric="loss")
    >>> [len(rung.index) for rung in r.rungs], [rung.steps for rung in r.rungs], r.best, r.total_steps
    ([4, 2, 1], [2, 4, 8], {'lr': 0.3}, 16)

  References:
    K. Jamieson and A. Talwalkar, "Non-stochastic best arm identification and
    hyperparameter optimization", AISTATS 2016.
    L. Li, K. Jamieson, G. DeSalvo, A. Rostamizadeh and A. Talwalkar,
    "Hyperband: a novel bandit-based approach to hyperparameter optimization",
    JMLR 18(185), 2018.
    L. Li, K. Jamieson, A. Rostamizadeh, E. Gonina, J. Ben-tzur, M. Hardt,
    B. Recht and A. Talwalkar, "A system for massively parallel hyperparameter
    tuning" (ASHA), MLSys 2020.
  """
  where = "jaxreg.successive_halving"
  eta = _check_eta(eta, where)
  steps = _schedule(eta, min_steps, max_steps, n_rungs, where)
  return _halving(init, train, evaluate, configs, key=key, seeds=seeds, eta=eta, steps=steps, metric=metric,
                  mode=mode, devices=devices, checkpoint_dir=checkpoint_dir, where=where)


def _halving(init, train, evaluate, configs, *, key, seeds, eta: float, steps: list[int], metric: str, mode: str,
             devices, checkpoint_dir, where: str) -> HalvingResult:
  labels, traced = _check_configs(configs, where)
  mode = _check_mode(mode, where)
  with _named(where):
    seed_values = _check_seeds(seeds)
    devices = _check_devices(devices)
  key_data, key_impl = _check_key(key, where)
  n = len(next(iter(labels.values())))
  counts = _survivors(n, eta, len(steps))
  staged = _trace_staged(init, train, evaluate, traced, key_data, key_impl,
                         [b - a for a, b in zip([0] + steps[:-1], steps)], metric, where)
  runner = _Runner(staged, traced, seed_values, key_data, key_impl, devices, steps)

  ckpt = None
  if checkpoint_dir is not None:
    with _named(where):
      ckpt = _Checkpoints(checkpoint_dir, {
          "kind": _FORMAT, "configs": _digest_of([(k, v) for k, v in labels.items()]),
          "seeds": _digest_of(seed_values), "schedule": _digest_of((eta, steps, counts)),
          "metric": _digest_of((metric, mode)), "key": _digest_of(key_impl, key_data),
          "fn": _digest_of(staged.digest), "jax": _jax_versions()})
  metric_leaves = [(s, d) for s, d in staged.evaluate.info]
  state_leaves = staged.init.info

  # Resume: the longest prefix of saved rungs (each holds its metrics and the states it keeps).
  saved: list[tuple[list, list]] = []
  if ckpt is not None:
    for i in range(len(steps)):
      n_keep = counts[i + 1] if i + 1 < len(steps) else counts[i]
      expected = ([((counts[i], len(seed_values), *s), d) for s, d in metric_leaves]
                  + [((n_keep, len(seed_values), *s), d) for s, d in state_leaves])
      with _named(where):
        leaves = ckpt.load(f"rung{i}", expected)
      if leaves is None:
        break
      saved.append((leaves[:len(metric_leaves)], leaves[len(metric_leaves):]))

  rungs: list[Rung] = []
  index = np.arange(n)
  state = None   # device state of the current rung's configurations (its input), or None at rung 0
  final_state = None
  for i, r in enumerate(steps):
    n_i = counts[i]
    last = i + 1 == len(steps)
    n_keep = counts[i] if last else counts[i + 1]
    if i < len(saved):
      metric_host, kept_state_host = saved[i]
      metrics = jax.tree_util.tree_unflatten(staged.evaluate.treedef, metric_host)
      kept_state = jax.tree_util.tree_unflatten(staged.init.treedef, kept_state_host)
    else:
      out_state, out_metrics = runner.compiled(i, n_i)(*([] if state is None else [state]), *runner.args(n_i, index))
      metrics = _host(out_metrics, n_i, len(seed_values))
      kept_state = None
    score = np.mean(np.asarray(jax.tree_util.tree_leaves(metrics)[staged.metric_index], np.float64), axis=1)
    order = _select(score, n_keep, mode, metric, i, r, where)   # raises when every configuration failed
    keep = np.arange(n_i) if last else order
    if kept_state is None:
      kept_device = runner.gather(out_state, keep, n_i, n_keep)
      if ckpt is not None or last:
        kept_state = _host(kept_device, n_keep, len(seed_values))
      if ckpt is not None:
        ckpt.save(f"rung{i}", [*jax.tree_util.tree_leaves(metrics), *jax.tree_util.tree_leaves(kept_state)])
      state = kept_device
    elif i + 1 == len(saved) and not last:   # the last saved rung: continue from its kept states
      state = runner.place_state(n_keep, kept_state)
    rungs.append(Rung(r, index, {k: v[index] for k, v in labels.items()}, metrics, score,
                      np.empty(0, int) if last else keep))
    if last:
      final_state = kept_state
    index = index[keep]
  return HalvingResult(labels, seed_values, rungs, metric, mode, final_state)


def _brackets(eta: float, min_steps, max_steps, where: str) -> list[tuple[int, list[int]]]:
  """Hyperband's brackets ``s = s_max..0``: ``(n_s, rung steps)``, as in Li et al. (2018), Algorithm 1."""
  max_steps = _check_positive_int(where, "max_steps", max_steps)
  min_steps = _check_positive_int(where, "min_steps", min_steps)
  if min_steps > max_steps:
    raise ValueError(f"{where}: min_steps={min_steps} is larger than max_steps={max_steps}.")
  s_max = 0
  while max_steps / eta ** (s_max + 1) >= min_steps:
    s_max += 1
  out = []
  for s in range(s_max, -1, -1):
    n_s = math.ceil((s_max + 1) / (s + 1) * eta ** s - 1e-9)
    out.append((n_s, _schedule(eta, None, max_steps, s + 1, where)))
  return out


class HyperbandResult:
  """What :func:`jaxreg.hyperband` returns.

  Attributes:
    brackets: one :class:`jaxreg.HalvingResult` per bracket, most aggressive first
      (bracket ``s`` starts ``n_s`` configurations at ``max_steps · eta**-s`` steps).
    offsets: position in ``configs`` of each bracket's first configuration
      (bracket ``b``'s ``best_index`` is relative to it).
    best_bracket: the bracket holding the best configuration.
    best_index: position in ``configs`` of the best configuration (all
      brackets end at ``max_steps``, so their last rungs are comparable).
    best: ``{name: value}`` its hyperparameters.
    best_score: its metric, mean over seeds.
    total_steps: training steps of all brackets (configuration × seed × step).
  """

  def __init__(self, brackets: list[HalvingResult], offsets: list[int], mode: str):
    self.brackets, self.offsets = brackets, offsets
    scores = np.array([b.best_score for b in brackets])
    self.best_bracket = int(_rank(scores, mode)[0])
    b = brackets[self.best_bracket]
    self.best_index = offsets[self.best_bracket] + b.best_index
    self.best, self.best_score = b.best, b.best_score
    self.total_steps = sum(b.total_steps for b in brackets)

  def __repr__(self):
    return (f"HyperbandResult(brackets={len(self.brackets)}, best={self.best}, best_score={self.best_score:.6g}, "
            f"total_steps={self.total_steps})")


def hyperband(init, train, evaluate, configs: Mapping[str, Any], *, key, seeds=1, eta: float = 3, min_steps: int,
              max_steps: int, metric: str, mode: str = "min", devices: Sequence[Any] | None = None,
              checkpoint_dir=None) -> HyperbandResult:
  r"""Hyperband: successive halving in every bracket of aggressiveness, over consecutive slices of ``configs``.

  With :math:`R` = ``max_steps``, :math:`s_{\max}` the largest ``s`` with
  :math:`R\,\eta^{-s} \ge` ``min_steps``, bracket :math:`s = s_{\max}, \dots, 0`
  runs :func:`jaxreg.successive_halving` with ``s + 1`` rungs ending at :math:`R` on

  .. math::

    n_s = \Big\lceil \frac{s_{\max}+1}{s+1}\,\eta^{s} \Big\rceil

  configurations, starting at :math:`\operatorname{round}(R\,\eta^{-s})` steps
  (Li et al. 2018, Algorithm 1; survivors continue rather than restart, and each
  rung keeps :math:`\lceil n_i/\eta\rceil`). Bracket ``s`` takes the next
  :math:`n_s` configurations of ``configs`` in order, so ``configs`` must hold
  exactly :math:`\sum_s n_s` of them (the error message says how many; draw
  them at random, e.g. with :func:`jaxreg.sample`). The best configuration is the
  best of the brackets' last rungs, which all train :math:`R` steps. Keys,
  programs, seeds and NaN handling are those of :func:`jaxreg.successive_halving`
  (each bracket uses ``key`` as given); checkpoints go to
  ``checkpoint_dir/bracket-s``.

  Args:
    init, train, evaluate: the staged functions of :func:`jaxreg.successive_halving`.
    configs: a configuration list ``{name: 1-D numbers}`` of exactly
      :math:`\sum_s n_s` configurations.
    key, seeds, eta, metric, mode, devices: as in :func:`jaxreg.successive_halving`.
    min_steps: the fewest steps a bracket starts with (the most aggressive one).
    max_steps: the steps of every bracket's last rung.
    checkpoint_dir: directory for resumable checkpoints (one subdirectory per bracket), or ``None``.

  Returns:
    A :class:`jaxreg.HyperbandResult`.

  Raises:
    ValueError: as :func:`jaxreg.successive_halving`, and when ``configs`` does not
      hold exactly :math:`\sum_s n_s` configurations.

  Example:
    >>> init = lambda h, key: {"x": jnp.zeros(())}
    >>> train = lambda s, h, key, steps: {"x": s["x"] + steps * h["lr"] * (1 - s["x"])}
    >>> evaluate = lambda s, h: {"loss": (s["x"] - 1) ** 2}
    >>> r = jaxreg.hyperband(init, train, evaluate, {"lr": np.linspace(0.01, 0.1, 17)}, key=jax.random.key(0),
    ...                      eta=3, min_steps=1, max_steps=9, metric="loss")
    >>> [[len(rung.index) for rung in b.rungs] for b in r.brackets], r.total_steps
    ([[9, 3, 1], [5, 2], [3]], 75)

  References:
    L. Li, K. Jamieson, G. DeSalvo, A. Rostamizadeh and A. Talwalkar,
    "Hyperband: a novel bandit-based approach to hyperparameter optimization",
    JMLR 18(185), 2018.
    K. Jamieson and A. Talwalkar, "Non-stochastic best arm identification and
    hyperparameter optimization", AISTATS 2016.
  """
  where = "jaxreg.hyperband"
  eta = _check_eta(eta, where)
  brackets = _brackets(eta, min_steps, max_steps, where)
  labels, _ = _check_configs(configs, where)
  n = len(next(iter(labels.values())))
  need = sum(n_s for n_s, _ in brackets)
  if n != need:
    raise ValueError(f"{where}: with eta={eta:g}, min_steps={min_steps} and max_steps={max_steps} the brackets run "
                     f"{[n_s for n_s, _ in brackets]} configurations, so configs must hold exactly {need}, got {n}.")
  results, offsets, start = [], [], 0
  for n_s, steps in brackets:
    part = {k: v[start:start + n_s] for k, v in labels.items()}
    sub = None if checkpoint_dir is None else os.path.join(os.fspath(checkpoint_dir), f"bracket-{len(steps) - 1}")
    results.append(_halving(init, train, evaluate, part, key=key, seeds=seeds, eta=eta, steps=steps, metric=metric,
                            mode=mode, devices=devices, checkpoint_dir=sub, where=where))
    offsets.append(start)
    start += n_s
  return HyperbandResult(results, offsets, mode)
