"""Benchmark: the per-step cost of each jaxreg transform vs the same math written by hand.

Workload: one training step of a ReLU MLP (default 784-512-512-10, batch 128, softmax
cross-entropy, ``optax.adam(1e-3)``), ``jax.jit``-compiled with the parameters and optimizer state
donated, on a fixed random batch. For every transform there are two rows:

* **jaxreg**: the transform in its documented place in an optax chain
  (``optax.chain(jaxreg.add_l2(a), optax.adam(lr))``, ``optax.chain(optax.adam(lr), jaxreg.proximal_l1(a, lr))``, …);
* **hand-written**: the same math inline in the step function (``g + a*w`` before adam,
  ``sign(z)*max(|z| − lr*a, 0)`` on ``z = w + u`` after it, …), with no optax wrapper around it;

plus the bare ``optax.adam`` step. Strengths are Python floats in both rows (constant-folded alike).

Timing: every row is compiled and warmed up first; then ``--repeats`` rounds (default 21), each
running ``--steps`` consecutive steps (default 10) of every row, in an order rotated each round
(interleaving spreads machine drift over all rows), timed with ``block_until_ready``. The table
reports the median ms/step over the rounds, the ratio jaxreg / hand-written (target: ≤ 1.05 on
CPU) and the overhead over bare adam. Because wall-clock ratios on a shared machine are noisy, the
table also gives XLA's static "bytes accessed" estimate of each compiled step (jaxreg / hand):
deterministic, and for these memory-bound updates a good proxy of their cost. As a check that both
rows compute the same thing, the last column is the largest difference between their parameters
after one step from the same start (float rounding only, which adam amplifies where g ≈ 0).

What the bytes column shows (jax 0.10, XLA CPU): the coupled and elementwise transforms compile to
exactly the hand-written program's traffic. The group transforms read the parameters once more:
the optax convention returns an update ``prox(z) − w`` that ``apply_updates`` adds back to ``w``,
and ``w + (x − w)`` cannot be simplified in floating point. ``cumulative_l1`` with donated buffers
gets XLA copies of ``w`` and ``q`` (both of its fusions read the donated inputs); without donation
(``--no-donate``) it moves no more bytes than the hand-written version.

Run: ``python -m experiments.bench_overhead`` (about 1-2 minutes on a 2-core CPU);
``--sizes 784,256,10 --repeats 40`` to change the workload; ``--only add_l2,max_norm`` to time some
rows. Writes the record ``bench_overhead.json`` (machine, versions, every row's median and ratios)
into ``--out`` (default ``experiments/results/``); ``python -m experiments.report`` renders it into
the README. ``--quick``: a smoke run for the tests (MLP 16-16-4, batch 8, two transforms, 3 rounds ×
2 steps; seconds, not a measurement).
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg
from experiments import _common

NAME = "bench_overhead"
LR, ALPHA, L1_RATIO, WD, MAX_NORM = 1e-3, 1e-4, 0.5, 1e-3 * 1e-2, 3.0
T = LR * ALPHA  # the proximal threshold lr·alpha


# --------------------------------------------------------------------------- hand-written leaf math


def _soft(z, t):
  return jnp.sign(z) * jnp.maximum(jnp.abs(z) - t, 0.0)


def _group_norm_and_size(z):
  """Norm of each group (index along the last axis) and the group size; 1-D leaves: groups of 1."""
  if z.ndim == 1:
    return jnp.abs(z), 1
  return jnp.sqrt(jnp.sum(z * z, axis=tuple(range(z.ndim - 1)), keepdims=True)), int(np.prod(z.shape[:-1]))


def _group_shrink(z, t):
  norm, size = _group_norm_and_size(z)
  return z * jnp.maximum(0.0, 1.0 - t * size**0.5 / jnp.maximum(norm, 1e-30))


def _max_norm(z, c):
  norm, _ = _group_norm_and_size(z)
  return z * jnp.minimum(1.0, c / jnp.maximum(norm, 1e-30))


# --------------------------------------------------------------------------- the rows


def _loss(params, x, y):
  logits = _common.apply_mlp(params, x)
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _optax_step(tx):
  """A step for any optax transformation (the jaxreg rows and bare adam)."""
  def step(params, state, x, y):
    g = jax.grad(_loss)(params, x, y)
    u, state = tx.update(g, state, params)
    return optax.apply_updates(params, u), state
  return tx.init, step


def _hand_coupled(extra):
  """``g ← g + extra(w)`` then adam."""
  adam = optax.adam(LR)

  def step(params, state, x, y):
    g = jax.grad(_loss)(params, x, y)
    g = jax.tree.map(lambda g, w: g + extra(w), g, params)
    u, state = adam.update(g, state, params)
    return optax.apply_updates(params, u), state
  return adam.init, step


def _hand_last(new_w):
  """adam, then ``w ← new_w(w, u)`` written directly."""
  adam = optax.adam(LR)

  def step(params, state, x, y):
    u, state = adam.update(jax.grad(_loss)(params, x, y), state, params)
    return jax.tree.map(new_w, params, u), state
  return adam.init, step


def _hand_cumulative_l1():
  """adam, then Tsuruoka et al.'s cumulative penalty with state (u, q) kept by hand."""
  adam = optax.adam(LR)

  def init(params):
    return adam.init(params), jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, params)

  def step(params, state, x, y):
    adam_state, total, q = state
    u, adam_state = adam.update(jax.grad(_loss)(params, x, y), adam_state, params)
    total = total + T

    def leaf(w, u, q):
      z = w + u
      new = jnp.where(z > 0, jnp.maximum(0.0, z - (total + q)), jnp.where(z < 0, jnp.minimum(0.0, z + (total - q)), z))
      return new, q + (new - z)

    out = jax.tree.map(leaf, params, u, q)
    new_params = jax.tree.map(lambda o: o[0], out, is_leaf=lambda o: isinstance(o, tuple))
    new_q = jax.tree.map(lambda o: o[1], out, is_leaf=lambda o: isinstance(o, tuple))
    return new_params, (adam_state, total, new_q)
  return init, step


def _hand_masked_l2():
  """``g ← g + alpha·w`` on kernels only (what ``mask=weights_only`` selects), then adam."""
  adam = optax.adam(LR)

  def step(params, state, x, y):
    g = jax.grad(_loss)(params, x, y)
    g = jax.tree.map(lambda g, w: g + ALPHA * w if w.ndim >= 2 else g, g, params)
    u, state = adam.update(g, state, params)
    return optax.apply_updates(params, u), state
  return adam.init, step


def rows():
  """``[(transform, jaxreg (init, step), hand-written (init, step))]``."""
  adam = optax.adam(LR)
  before = lambda t: _optax_step(optax.chain(t, adam))
  after = lambda t: _optax_step(optax.chain(adam, t))
  return [
      ("add_l2", before(jaxreg.add_l2(ALPHA)), _hand_coupled(lambda w: ALPHA * w)),
      ("add_l2 (mask=weights_only)", before(jaxreg.add_l2(ALPHA, mask=jaxreg.masks.weights_only)), _hand_masked_l2()),
      ("add_l1", before(jaxreg.add_l1(ALPHA)), _hand_coupled(lambda w: ALPHA * jnp.sign(w))),
      ("add_elastic_net", before(jaxreg.add_elastic_net(ALPHA, L1_RATIO)),
       _hand_coupled(lambda w: ALPHA * (L1_RATIO * jnp.sign(w) + (1 - L1_RATIO) * w))),
      ("decoupled_weight_decay", after(jaxreg.decoupled_weight_decay(WD)), _hand_last(lambda w, u: w + u - WD * w)),
      ("proximal_l1", after(jaxreg.proximal_l1(ALPHA, LR)), _hand_last(lambda w, u: _soft(w + u, T))),
      ("proximal_elastic_net", after(jaxreg.proximal_elastic_net(ALPHA, L1_RATIO, LR)),
       _hand_last(lambda w, u: _soft(w + u, T * L1_RATIO) / (1 + T * (1 - L1_RATIO)))),
      ("proximal_group_lasso", after(jaxreg.proximal_group_lasso(ALPHA, LR)),
       _hand_last(lambda w, u: _group_shrink(w + u, T))),
      ("cumulative_l1", after(jaxreg.cumulative_l1(ALPHA, LR)), _hand_cumulative_l1()),
      ("max_norm", after(jaxreg.max_norm(MAX_NORM)), _hand_last(lambda w, u: _max_norm(w + u, MAX_NORM))),
  ]


# --------------------------------------------------------------------------- timing


class Runner:
  """One row: its compiled step, and its own params/state carried from call to call."""

  def __init__(self, init, step, params, batch, donate=True):
    self.params = jax.tree.map(jnp.array, params)  # a private copy (it is donated)
    self.state = init(self.params)
    self.batch = batch
    compiled = jax.jit(step, donate_argnums=(0, 1) if donate else ()).lower(self.params, self.state, *batch).compile()
    self.step = compiled
    self.bytes = (compiled.cost_analysis() or {}).get("bytes accessed", float("nan"))  # XLA's static estimate
    self.times: list[float] = []

  def one_step(self, init, params):
    """The parameters after one step from ``params`` (copied: the compiled step may donate its inputs)."""
    p = jax.tree.map(jnp.array, params)
    return self.step(p, init(jax.tree.map(jnp.array, params)), *self.batch)[0]

  def run(self, n: int) -> float:
    t0 = time.perf_counter()
    p, s = self.params, self.state
    for _ in range(n):
      p, s = self.step(p, s, *self.batch)
    jax.block_until_ready((p, s))
    self.params, self.state = p, s
    return (time.perf_counter() - t0) / n


QUICK = {"sizes": "16,16,4", "batch": 8, "repeats": 3, "steps": 2, "only": "add_l2,cumulative_l1"}


def options(parser):
  parser.add_argument("--sizes", default="784,512,512,10", help="MLP layer sizes (default 784,512,512,10)")
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--repeats", type=int, default=21, help="timed rounds (median over them; default 21)")
  parser.add_argument("--steps", type=int, default=10, help="steps per row per round (default 10)")
  parser.add_argument("--no-donate", action="store_true", help="do not donate params/state to the step")
  parser.add_argument("--only", default="", help="comma-separated transform names to time (default: all)")


def main(argv=None) -> dict:
  args = _common.apply_quick(_common.parse_args(argv, NAME, __doc__, options=options), QUICK)
  rec = _common.Recorder(NAME, args)
  sizes = [int(s) for s in args.sizes.split(",")]

  kx, ky, kp = jax.random.split(jax.random.key(0), 3)
  batch = (jax.random.normal(kx, (args.batch, sizes[0]), jnp.float32),
           jax.random.randint(ky, (args.batch,), 0, sizes[-1]))
  params = _common.init_mlp(kp, sizes)

  table = [row for row in rows() if not args.only or row[0] in args.only.split(",")]
  donate = not args.no_donate
  runners = {"bare adam": Runner(*_optax_step(optax.adam(LR)), params, batch, donate)}
  one_step_diff = {}
  for name, ours, hand in table:
    runners[f"{name} / jaxreg"] = Runner(*ours, params, batch, donate)
    runners[f"{name} / hand"] = Runner(*hand, params, batch, donate)
    p_o = runners[f"{name} / jaxreg"].one_step(ours[0], params)
    p_h = runners[f"{name} / hand"].one_step(hand[0], params)
    one_step_diff[name] = max(float(jnp.max(jnp.abs(a - b)))
                              for a, b in zip(jax.tree.leaves(p_o), jax.tree.leaves(p_h)))
  for r in runners.values():   # compile and warm up
    r.run(3)
  order = list(runners.values())
  for i in range(args.repeats):
    k = i % len(order)
    for r in order[k:] + order[:k]:
      r.times.append(r.run(args.steps))

  med = {name: _common.median(r.times) * 1e3 for name, r in runners.items()}
  bare = med["bare adam"]
  out = [{"transform": "bare optax.adam", "hand_ms": None, "jaxreg_ms": bare, "jaxreg_over_hand": None,
          "jaxreg_over_bare_adam": 1.0, "xla_bytes_jaxreg_over_hand": None, "max_abs_diff_after_1_step": None}]
  for name, _, _ in table:
    ours, hand = med[f"{name} / jaxreg"], med[f"{name} / hand"]
    out.append({"transform": name, "hand_ms": hand, "jaxreg_ms": ours, "jaxreg_over_hand": ours / hand,
                "jaxreg_over_bare_adam": ours / bare,
                "xla_bytes_jaxreg_over_hand": runners[f"{name} / jaxreg"].bytes / runners[f"{name} / hand"].bytes,
                "max_abs_diff_after_1_step": one_step_diff[name]})
  worst = max(r["jaxreg_over_hand"] for r in out[1:])
  title = (f"MLP {args.sizes}, batch {args.batch}, adam, params/state {'' if donate else 'not '}donated; "
           f"median ms/step of {args.repeats} rounds x {args.steps} steps (interleaved)")
  tables = {"overhead": _common.table(title, out)}
  print(title + "\n\n" + readme_table(out))
  print(f"\nworst jaxreg / hand-written: {worst:.3f} (target <= 1.05)", file=sys.stderr)
  return _common.finish_benchmark(
      rec, settings={"sizes": sizes, "batch": args.batch, "repeats": args.repeats, "steps": args.steps,
                     "donate": donate, "only": args.only or None, "lr": LR, "alpha": ALPHA},
      tables=tables, versions={"jaxreg": _jaxreg_version()},
      targets=[{"target": "worst jaxreg / hand-written ms per step <= 1.05", "value": worst, "met": worst <= 1.05}],
      raw_times_ms={name: [t * 1e3 for t in r.times] for name, r in runners.items()})


def _jaxreg_version():
  return jaxreg.__version__


def _f(x, fmt):
  return "" if x is None else format(x, fmt)


def readme_table(rows) -> str:
  lines = ["| transform | hand-written ms/step | jaxreg ms/step | jaxreg / hand | XLA bytes jaxreg / hand |",
           "|---|---|---|---|---|"]
  for r in rows:
    name = "bare `optax.adam`" if r["transform"] == "bare optax.adam" else f"`{r['transform']}`"
    lines.append(f"| {name} | {_f(r['hand_ms'], '.3f')} | {_f(r['jaxreg_ms'], '.3f')} | "
                 f"{_f(r['jaxreg_over_hand'], '.3f')} | {_f(r['xla_bytes_jaxreg_over_hand'], '.3f')} |")
  return "\n".join(lines)


def readme(record: dict) -> str:
  """The README's block for this benchmark, from its record."""
  st, rows = record["settings"], record["tables"]["overhead"]["rows"]
  sizes = "-".join(map(str, st["sizes"]))
  lead = (f"**Transform overhead** (`python -m experiments.bench_overhead`): one jitted Adam step of a {sizes} MLP "
          f"(batch {st['batch']}, {'donated' if st['donate'] else 'not donated'} buffers) with each transform in "
          f"the chain, vs the same math written inline by hand; median of {st['repeats']} interleaved rounds × "
          f"{st['steps']} steps. \"XLA bytes\" is the compiled step's static bytes-accessed estimate (deterministic).")
  same = [r["transform"] for r in rows[1:] if r["xla_bytes_jaxreg_over_hand"] == 1.0]
  more = [r for r in rows[1:] if r["xla_bytes_jaxreg_over_hand"] != 1.0]
  worst = max(rows[1:], key=lambda r: r["jaxreg_over_hand"])
  notes = []
  if same:
    notes.append("Same XLA bytes as the hand-written step (the transform compiles to the same program's traffic): "
                 + ", ".join(f"`{t}`" for t in same) + ".")
  if more:
    notes.append("More bytes: " + ", ".join(
        f"`{r['transform']}` ({r['xla_bytes_jaxreg_over_hand']:.3f}× bytes, {r['jaxreg_over_hand']:.3f}× time)"
        for r in more) + ".")
  if any(r["transform"] in ("proximal_group_lasso", "max_norm") for r in more):
    notes.append("The group transforms read the parameters once more: optax's interface returns an update "
                 "`prox(w + u) − w` that `apply_updates` adds back to `w`, where a hand-written loop overwrites `w` "
                 "directly.")
  if any(r["transform"] == "cumulative_l1" for r in more) and st["donate"]:
    notes.append("`cumulative_l1` with donated buffers gets copies of `w` and its state inserted by XLA; without "
                 "donation (`--no-donate`) it moves no more bytes than the hand-written version.")
  notes.append(f"Worst jaxreg / hand-written time ratio: {worst['jaxreg_over_hand']:.3f} (`{worst['transform']}`; "
               f"target ≤ 1.05: {'met' if worst['jaxreg_over_hand'] <= 1.05 else 'not met'}).")
  return "\n".join([_common.wrap(lead), "", readme_table(rows), "", _common.bench_caption(record), "",
                    _common.wrap(" ".join(notes))])


if __name__ == "__main__":
  main()
