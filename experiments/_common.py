"""Shared pieces of every experiment and benchmark: data, the MLP, the training loop, recording.

Written once, used by every ``experiments/NAME.py`` and ``experiments/bench_*.py``:

* **Data** (:func:`digits`, :func:`mnist1d`, :func:`validation_split`,
  :func:`diabetes`): small sets that ship with pip packages (scikit-learn's
  bundled ``load_digits`` / ``load_diabetes``; MNIST-1D generated locally by the
  ``mnist1d`` package, never downloaded). Arrays are built once per process
  (``functools.cache``), returned read-only, and never written to disk.
* **The MLP** (:func:`init_mlp`, :func:`apply_mlp`): a pure-jax ReLU MLP whose
  parameters are a list of ``{"w": (fan_in, fan_out), "b": (fan_out,)}`` dicts,
  so :func:`jaxreg.masks.weights_only` selects the kernels and group
  transforms with ``group_axis=-1`` act on each unit's incoming weights. An
  optional dropout rate (a traced array) uses :func:`jaxreg.dropout`.
* **One training loop** (:func:`train`): ``train(hparams, key, *, data,
  make_optimizer, steps, batch_size)`` trains one configuration and returns a
  dict of scalar metrics. Every hyperparameter in ``hparams`` is data (a
  scalar array, possibly a tracer), so ``jaxreg.sweep`` vmaps it over a whole
  grid as one compiled program. The minibatch order, the initialization and
  the dropout masks are all drawn from ``key``.
* **The shape of an experiment** (:func:`run_experiment`, :class:`Summary`):
  every experiment module defines ``NAME``, ``FULL`` / ``QUICK`` configurations
  and four functions — ``run(args) -> raw`` (the computation), ``summarize(raw)
  -> Summary`` (CSV rows, the claim, whether it held, the JSON record's fields),
  ``plot(raw, summary) -> Figure`` and ``readme(record, rows, figure) -> str``
  (its paragraph of the README, from the committed JSON record and CSV rows) —
  and ``main(argv) = run_experiment(module, argv)``. The modules are listed
  once, in :mod:`experiments._registry`.
* **Benchmarks** (:func:`finish_benchmark`): the same ``--quick`` / ``--out``
  command line and a JSON record (``bench_NAME.json``: machine, versions, git
  commit, mode, the table rows with medians and ratios) from which
  ``python -m experiments.report`` writes the README's tables.
* **Plumbing** (:func:`parse_args`, :class:`Recorder`, :func:`band`,
  :func:`markdown_table`): ``--quick`` / ``--out DIR``, and the three outputs
  of every experiment: ``NAME.csv`` (tidy, one row per configuration × seed,
  floats rounded so reruns are byte-identical), ``NAME.png`` and ``NAME.json``
  (versions, seeds, device and CPU, wall time, the claim and whether it held).

Example (an experiment module's skeleton)::

    NAME = "alpha_sweep"
    FULL, QUICK = {"steps": 1500, ...}, {"steps": 400, ...}

    def run(args):
      cfg = QUICK if args.quick else FULL
      data = _common.mnist1d()
      make_opt = lambda h: optax.chain(jaxreg.add_l2(h["alpha"]), optax.adam(h["lr"]))
      fn = lambda h, key: _common.train(h, key, data=data, make_optimizer=make_opt,
                                        steps=cfg["steps"], batch_size=100)
      return cfg, jaxreg.sweep(fn, {"alpha": alphas, "lr": [1e-3]}, key=jax.random.key(0), seeds=3)

    def summarize(raw):
      cfg, result = raw
      return _common.Summary(rows=..., columns=["alpha", "seed", "test_error"], claim="...",
                             held=..., measured="...", seeds=[0, 1, 2], fields={"config": cfg})

    def plot(raw, summary): ...            # a matplotlib figure
    def readme(record, rows, figure): ...  # markdown for the README's results section

    def main(argv=None):
      return _common.run_experiment(sys.modules[__name__], argv)
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import os
import pathlib
import platform
import re
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------- data


class Data(NamedTuple):
  """A classification split: float32 inputs ``(n, d)`` and int32 labels ``(n,)``."""
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray

  @property
  def n_features(self) -> int:
    return int(self.x_train.shape[1])

  @property
  def n_classes(self) -> int:
    return int(max(self.y_train.max(), self.y_test.max())) + 1


def _frozen(*arrays) -> tuple:
  out = []
  for a in arrays:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    out.append(a)
  return tuple(out)


@functools.cache
def digits(n_train: int = 360, seed: int = 0) -> Data:
  """scikit-learn's 8×8 digits (1797 images, 64 features, 10 classes), standardized.

  A deterministic random subset of ``n_train`` images (drawn with
  ``numpy.random.default_rng(seed)``) is the training set and the rest the test
  set; each feature is standardized with the *training* mean and standard
  deviation (constant pixels keep scale 1). A small training split (default
  360, 20%) lets an MLP fit it perfectly and overfit.

  Args:
    n_train: training set size, ``1 ≤ n_train < 1797``.
    seed: seed of the split.

  Returns:
    A :class:`Data` of read-only numpy arrays (cached per argument).
  """
  from sklearn.datasets import load_digits
  x, y = load_digits(return_X_y=True)
  if not 1 <= n_train < len(x):
    raise ValueError(f"n_train must be in [1, {len(x) - 1}], got {n_train!r}.")
  perm = np.random.default_rng(seed).permutation(len(x))
  tr, te = perm[:n_train], perm[n_train:]
  mean, std = x[tr].mean(0), x[tr].std(0)
  std = np.where(std > 0, std, 1.0)
  z = ((x - mean) / std).astype(np.float32)
  return Data(*_frozen(z[tr], y[tr].astype(np.int32), z[te], y[te].astype(np.int32)))


@functools.cache
def mnist1d(n_train: int | None = None) -> Data:
  """MNIST-1D (Greydanus 2020): 4000 train / 1000 test signals of length 40, 10 classes.

  Generated locally by the ``mnist1d`` package with its default arguments
  (``make_dataset(get_dataset_args())``, seed 42, about 1 s); never downloaded,
  never written to disk. The signals are already roughly standardized (mean 0,
  std 1), so they are used as given. A published MLP reaches 68% test accuracy.

  Args:
    n_train: if given, only the first ``n_train`` training signals are kept
      (the generator's order is already random); the test set is unchanged.

  Returns:
    A :class:`Data` of read-only numpy arrays (cached per argument).

  References:
    Greydanus, *Scaling down deep learning*, arXiv:2011.14439, 2020.
  """
  from mnist1d.data import get_dataset_args, make_dataset
  d = make_dataset(get_dataset_args())
  n = len(d["x"]) if n_train is None else n_train
  if not 1 <= n <= len(d["x"]):
    raise ValueError(f"n_train must be in [1, {len(d['x'])}] or None, got {n_train!r}.")
  return Data(*_frozen(d["x"][:n].astype(np.float32), d["y"][:n].astype(np.int32),
                       d["x_test"].astype(np.float32), d["y_test"].astype(np.int32)))


def validation_split(data: Data, n_val: int, seed: int = 0) -> Data:
  """Holds out ``n_val`` training examples: returns ``Data(train − val, val)``.

  Tune on the returned split (its "test" arrays are the validation set), then
  report on the original ``data.x_test``. The held-out rows are a deterministic
  random subset (``numpy.random.default_rng(seed)``).

  Args:
    data: the full split.
    n_val: validation size, ``1 ≤ n_val < len(data.x_train)``.
    seed: seed of the split.
  """
  n = len(data.x_train)
  if not 1 <= n_val < n:
    raise ValueError(f"n_val must be in [1, {n - 1}], got {n_val!r}.")
  perm = np.random.default_rng(seed).permutation(n)
  va, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
  return Data(*_frozen(data.x_train[tr], data.y_train[tr], data.x_train[va], data.y_train[va]))


@functools.cache
def diabetes() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
  """scikit-learn's diabetes data (442 × 10, its scaling), features and response centered, float64.

  Returns:
    ``(X, y, feature_names)``; ``X`` and ``y`` are read-only (cached).
  """
  from sklearn.datasets import load_diabetes
  d = load_diabetes()
  X, y = d.data.astype(np.float64), d.target.astype(np.float64)
  X, y = _frozen(X - X.mean(0), y - y.mean())
  return X, y, tuple(d.feature_names)


# --------------------------------------------------------------------------- the MLP


def init_mlp(key: jax.Array, sizes: Sequence[int]) -> list[dict[str, jax.Array]]:
  """He-normal kernels (std √(2/fan_in)) and zero biases for layer sizes ``sizes``.

  Args:
    key: PRNG key.
    sizes: ``(n_in, hidden…, n_out)``, e.g. ``(40, 256, 256, 10)``.

  Returns:
    ``[{"w": (sizes[i], sizes[i+1]), "b": (sizes[i+1],)}, …]`` in float32.
  """
  keys = jax.random.split(key, len(sizes) - 1)
  return [{"w": jax.random.normal(k, (m, n), jnp.float32) * math.sqrt(2.0 / m),
           "b": jnp.zeros((n,), jnp.float32)}
          for k, m, n in zip(keys, sizes[:-1], sizes[1:])]


def apply_mlp(params, x: jax.Array, *, dropout=None, input_dropout=None, key=None) -> jax.Array:
  """Logits of a ReLU MLP; optional inverted dropout on inputs and hidden units.

  Args:
    params: from :func:`init_mlp`.
    x: inputs ``(batch, n_in)``.
    dropout: rate (probability of dropping) for every hidden layer's output, a
      float or traced scalar; ``None`` = no dropout (evaluation).
    input_dropout: rate for the inputs (Srivastava et al. use 0.2); ``None`` = none.
    key: PRNG key, required when a rate is given.

  Returns:
    Logits ``(batch, n_out)``.
  """
  if (dropout is not None or input_dropout is not None) and key is None:
    raise ValueError("apply_mlp: a dropout rate was given but key is None.")
  if dropout is not None or input_dropout is not None:
    import jaxreg  # lazy: only the dropout experiments need it
    _drop = jaxreg.dropout
    keys = list(jax.random.split(key, len(params)))
  h = x
  if input_dropout is not None:
    h = _drop(keys[-1], h, input_dropout)
  for i, layer in enumerate(params):
    h = h @ layer["w"] + layer["b"]
    if i < len(params) - 1:
      h = jax.nn.relu(h)
      if dropout is not None:
        h = _drop(keys[i], h, dropout)
  return h


def _evaluate(params, x, y) -> tuple[jax.Array, jax.Array]:
  logits = apply_mlp(params, x)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
  error = (jnp.argmax(logits, -1) != y).mean()
  return loss, error


def weight_stats(params) -> dict[str, jax.Array]:
  """Sparsity of the kernels: exact zeros, and units whose incoming weights are all zero.

  Returns:
    ``zero_fraction`` (fraction of kernel entries exactly 0.0, biases excluded),
    ``dead_neurons`` (number of hidden units whose whole incoming kernel column
    is exactly 0 — what group lasso removes), ``dead_fraction`` (the same over
    the number of hidden units), ``weight_norm`` (‖kernels‖₂).
  """
  kernels = [layer["w"] for layer in params]
  n = sum(w.size for w in kernels)
  zeros = sum((w == 0).sum() for w in kernels)
  hidden = kernels[:-1]
  dead = sum(jnp.all(w == 0, axis=0).sum() for w in hidden)
  n_hidden = sum(w.shape[1] for w in hidden)
  norm = jnp.sqrt(sum((w.astype(jnp.float32) ** 2).sum() for w in kernels))
  return {"zero_fraction": zeros / n, "dead_neurons": dead.astype(jnp.int32),
          "dead_fraction": dead / max(n_hidden, 1), "weight_norm": norm}


def train(hparams: Mapping[str, jax.Array], key: jax.Array, *, data: Data,
          make_optimizer: Callable[[Mapping[str, jax.Array]], optax.GradientTransformation],
          steps: int, batch_size: int, hidden: Sequence[int] = (256, 256),
          log_every: int | None = None, return_params: bool = False) -> dict[str, Any]:
  """Trains one MLP with softmax cross-entropy; returns its final metrics.

  The whole run is a ``lax.scan`` over ``steps`` minibatch steps, so it jits,
  vmaps (``jaxreg.sweep``) and never branches on a hyperparameter's value.
  ``key`` is split into three independent streams: the initialization, the
  minibatch order (a fresh permutation of the training set every epoch; the
  last incomplete batch of an epoch is dropped) and the dropout masks (one fold
  per step). All epochs' permutations are drawn up front in one batched call
  (``n_epochs·n`` int32): a permutation is a sort, and re-drawing it inside
  every step cost about 3 ms per step on the 2-core CPU, more than the MLP
  step itself. With ``jaxreg.sweep``'s common random numbers, every grid point
  of one seed sees the same initialization, minibatches and dropout masks (and
  they are computed once per seed, not once per grid point).

  Dropout is on when ``hparams`` has ``"dropout"`` (hidden units) and/or
  ``"input_dropout"`` (inputs); evaluation is always deterministic (inverted
  dropout needs no rescaling at test time).

  Args:
    hparams: scalar arrays (possibly tracers). Read here: ``"dropout"``,
      ``"input_dropout"`` (optional); everything else is for ``make_optimizer``.
    key: PRNG key of this run.
    data: the :class:`Data` split; its arrays become constants of the program.
    make_optimizer: ``hparams -> optax.GradientTransformation``, e.g.
      ``lambda h: optax.chain(jaxreg.add_l2(h["alpha"]), optax.adam(h["lr"]))``.
      It receives every entry of ``hparams`` and must treat them as data.
    steps: number of optimizer steps.
    batch_size: minibatch size, ``≤ len(data.x_train)``.
    hidden: hidden layer widths.
    log_every: if given (it must divide ``steps``), also return learning curves
      ``curve_train_error`` / ``curve_test_error`` of shape ``(steps // log_every,)``,
      evaluated after every ``log_every`` steps.
    return_params: also return the trained parameters under ``"params"`` (e.g.
      for MC-dropout prediction inside the swept function).

  Returns:
    A dict of scalars: ``train_loss``, ``train_error``, ``train_accuracy``,
    ``test_loss``, ``test_error``, ``test_accuracy`` (errors are fractions in
    [0, 1]), and :func:`weight_stats` of the final parameters (plus the curves
    when ``log_every`` is given, the params when ``return_params``). A diverged
    run gives NaN losses in its own lane.
  """
  n = len(data.x_train)
  if not 1 <= batch_size <= n:
    raise ValueError(f"batch_size must be in [1, {n}], got {batch_size!r}.")
  if log_every is not None and (log_every < 1 or steps % log_every):
    raise ValueError(f"log_every must divide steps={steps}, got {log_every!r}.")
  x_tr, y_tr = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
  x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
  batches_per_epoch = n // batch_size
  rate, in_rate = hparams.get("dropout"), hparams.get("input_dropout")

  k_init, k_data, k_drop = jax.random.split(key, 3)
  n_epochs = -(-steps // batches_per_epoch)
  perms = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(k_data, e), n))(jnp.arange(n_epochs))
  params = init_mlp(k_init, (data.n_features, *hidden, data.n_classes))
  opt = make_optimizer(hparams)
  opt_state = opt.init(params)

  def loss_fn(p, xb, yb, k):
    logits = apply_mlp(p, xb, dropout=rate, input_dropout=in_rate, key=k)
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

  def step(carry, t):
    p, s = carry
    idx = jax.lax.dynamic_slice(perms[t // batches_per_epoch], ((t % batches_per_epoch) * batch_size,),
                                (batch_size,))
    grads = jax.grad(loss_fn)(p, x_tr[idx], y_tr[idx], jax.random.fold_in(k_drop, t))
    updates, s = opt.update(grads, s, p)
    return (optax.apply_updates(p, updates), s), None

  curves = {}
  if log_every is None:
    (params, _), _ = jax.lax.scan(step, (params, opt_state), jnp.arange(steps))
  else:
    def block(carry, b):
      carry, _ = jax.lax.scan(step, carry, b * log_every + jnp.arange(log_every))
      return carry, (_evaluate(carry[0], x_tr, y_tr)[1], _evaluate(carry[0], x_te, y_te)[1])
    (params, _), (tr_curve, te_curve) = jax.lax.scan(
        block, (params, opt_state), jnp.arange(steps // log_every))
    curves = {"curve_train_error": tr_curve, "curve_test_error": te_curve}

  train_loss, train_error = _evaluate(params, x_tr, y_tr)
  test_loss, test_error = _evaluate(params, x_te, y_te)
  return {"train_loss": train_loss, "train_error": train_error, "train_accuracy": 1 - train_error,
          "test_loss": test_loss, "test_error": test_error, "test_accuracy": 1 - test_error,
          **weight_stats(params), **curves, **({"params": params} if return_params else {})}


# --------------------------------------------------------------------------- plumbing


def parse_args(argv: Sequence[str] | None, name: str, description: str | None = None, *,
               options: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
  """The command line of every experiment and benchmark: ``--quick``, ``--out DIR`` and ``options``.

  Args:
    argv: the arguments (``None``: ``sys.argv[1:]``).
    name: the module's name, ``python -m experiments.NAME``.
    description: the module's docstring (``--help`` prints it).
    options: adds a module's own arguments to the parser (benchmarks: ``--repeats`` …).

  Returns:
    The parsed namespace, with ``quick`` (a small run: experiments under 30 s, benchmarks a few
    seconds on tiny shapes, for the tests), ``out`` (default ``experiments/results``) and
    ``defaults`` (every argument's default, so a record can say which ones a run changed).
  """
  parser = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true",
                      help="a small run for tests (experiments: under 30 s; benchmarks: tiny shapes, seconds)")
  parser.add_argument("--out", type=pathlib.Path, default=RESULTS,
                      help="output folder (default: experiments/results/)")
  if options is not None:
    options(parser)
  args = parser.parse_args(argv)
  args.defaults = {k: parser.get_default(k) for k in vars(args) if k not in ("quick", "out")}
  return args


def cpu_model() -> str:
  """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def git_commit() -> str | None:
  """The repository's commit (``+dirty`` when tracked files changed), or ``None`` outside a git checkout."""
  import subprocess
  root = pathlib.Path(__file__).resolve().parents[1]
  try:
    run = lambda *a: subprocess.run(["git", "-C", str(root), *a], capture_output=True, text=True, timeout=10,
                                    check=True).stdout.strip()
    commit = run("rev-parse", "--short=12", "HEAD")
    return commit + ("+dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
  except (OSError, subprocess.SubprocessError):
    return None


def environment() -> dict[str, Any]:
  """Versions, git commit, device and CPU, for the JSON record."""
  import jaxreg
  dev = jax.devices()[0]
  return {"jaxreg_version": jaxreg.__version__, "git_commit": git_commit(), "jax_version": jax.__version__,
          "optax_version": optax.__version__, "numpy_version": np.__version__,
          "python_version": platform.python_version(), "platform": platform.platform(),
          "device": f"{dev.platform}:{getattr(dev, 'device_kind', dev.platform)}",
          "n_devices": jax.device_count(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
          "machine": machine()}


def machine() -> str:
  """One line naming the machine: CPU model, CPU count and JAX's first device."""
  dev = jax.devices()[0]
  return f"{cpu_model()} ({os.cpu_count()} CPUs), device {dev.platform}:{getattr(dev, 'device_kind', dev.platform)}"


def _load_average() -> float | None:
  try:
    return round(os.getloadavg()[0], 2)
  except OSError:
    return None


def _fmt(v: Any, digits: int) -> str:
  if isinstance(v, (bool, np.bool_)):
    return str(bool(v))
  if isinstance(v, (int, np.integer)):
    return str(int(v))
  if isinstance(v, (float, np.floating)) or (isinstance(v, np.ndarray) and v.ndim == 0):
    f = float(v)
    return "nan" if math.isnan(f) else f"{f:.{digits}g}"
  return str(v)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], digits: int = 4) -> str:
  """A GitHub markdown table of ``rows`` (dicts) restricted to ``columns``."""
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(_fmt(r[c], digits) for c in columns) + " |" for r in rows]
  return "\n".join(lines)


class Recorder:
  """Writes one experiment's ``NAME.csv``, ``NAME.png`` and ``NAME.json`` into ``args.out``.

  Starts the wall clock when created; :meth:`finish` records it, and the
  process's CPU time (all threads: on a machine shared with other jobs it tells
  how much work the run was, where the wall time only tells how long it waited).
  """

  def __init__(self, name: str, args: argparse.Namespace):
    self.name, self.args = name, args
    self.out = pathlib.Path(args.out)
    self.out.mkdir(parents=True, exist_ok=True)
    self.start, self.cpu_start = time.perf_counter(), time.process_time()
    self.load_start = _load_average()
    self.files: dict[str, str] = {}

  def path(self, suffix: str) -> pathlib.Path:
    """``DIR/NAME{suffix}``, e.g. ``path(".csv")``."""
    return self.out / f"{self.name}{suffix}"

  def write_csv(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], digits: int = 6,
                suffix: str = ".csv") -> pathlib.Path:
    """A tidy CSV: ``columns`` in order, floats with ``digits`` significant digits (byte-stable reruns)."""
    p = self.path(suffix)
    with open(p, "w", newline="") as f:
      w = csv.writer(f, lineterminator="\n")
      w.writerow(columns)
      for r in rows:
        w.writerow([_fmt(r[c], digits) for c in columns])
    self.files[suffix.lstrip(".")] = p.name
    return p

  def save_figure(self, fig, suffix: str = ".png", dpi: int = 130) -> pathlib.Path:
    """Saves a matplotlib figure (and closes it)."""
    import matplotlib.pyplot as plt
    p = self.path(suffix)
    fig.savefig(p, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    self.files[suffix.lstrip(".")] = p.name
    return p

  def write_text(self, text: str, suffix: str) -> pathlib.Path:
    p = self.path(suffix)
    p.write_text(text)
    self.files[suffix.lstrip(".")] = p.name
    return p

  def finish(self, *, claim: str, held: bool, measured: str, seeds: Sequence[int], **extra) -> dict:
    """Writes ``NAME.json`` (claim, held, measured, versions, device, CPU, seeds, wall time) and returns it."""
    record = {"name": self.name, "claim": claim, "held": bool(held), "measured": measured,
              "quick": bool(self.args.quick), "seeds": [int(s) for s in seeds],
              "command": f"python -m experiments.{self.name}" + (" --quick" if self.args.quick else ""),
              "wall_time_s": round(time.perf_counter() - self.start, 1),
              "cpu_time_s": round(time.process_time() - self.cpu_start, 1),
              "load_average_1min": {"start": self.load_start, "end": _load_average()},
              "files": dict(self.files), **environment(), **extra}
    with open(self.path(".json"), "w") as f:
      json.dump(_jsonable(record), f, indent=2)
      f.write("\n")
    print(f"[{self.name}] claim {'HELD' if held else 'DID NOT HOLD'}: {claim}\n"
          f"[{self.name}] measured: {measured}\n[{self.name}] wrote {self.out}/{self.name}.* "
          f"in {record['wall_time_s']} s", file=sys.stderr)
    return record


def _jsonable(x):
  if isinstance(x, Mapping):
    return {str(k): _jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_jsonable(v) for v in x]
  if isinstance(x, (np.ndarray, jax.Array)):
    return _jsonable(np.asarray(x).tolist())
  if isinstance(x, (np.bool_,)):
    return bool(x)
  if isinstance(x, np.integer):
    return int(x)
  if isinstance(x, (float, np.floating)):
    f = float(x)
    return None if not math.isfinite(f) else float(f"{f:.6g}")
  return x


# --------------------------------------------------------------------------- the shape of an experiment


class Summary(NamedTuple):
  """What an experiment's ``summarize(raw)`` returns: its CSV, its claim and its record's fields.

  Attributes:
    rows: the tidy CSV rows (dicts), one per configuration × seed.
    columns: the CSV's columns, in order.
    claim: the claim checked, one sentence.
    held: whether it held (a claim that does not hold is a result, not an error).
    measured: what was measured, with the numbers.
    seeds: the seeds used.
    fields: more fields of the JSON record (``config``, ``claims``, per-method tables, ``figure_caption``).
    csv_digits: significant digits of the CSV's floats.
    markdown: a markdown table, printed; also written to ``NAME.md`` when ``markdown_file``.
    markdown_file: write ``markdown`` to ``NAME.md``.
    context: values computed by ``summarize`` that ``plot`` reuses (not recorded).
  """
  rows: list
  columns: list
  claim: str
  held: bool
  measured: str
  seeds: list
  fields: Mapping[str, Any] = {}
  csv_digits: int = 6
  markdown: str | None = None
  markdown_file: bool = False
  context: Mapping[str, Any] = {}


def run_experiment(module, argv: Sequence[str] | None = None) -> dict:
  """``main`` of every experiment: parse ``--quick`` / ``--out``, ``run``, ``summarize``, write, ``plot``.

  Writes ``NAME.csv``, ``NAME.md`` (when the summary has a markdown file), ``NAME.png`` and
  ``NAME.json`` into ``--out``, prints the markdown table and the claim, and returns the JSON
  record.

  Args:
    module: the experiment module (``NAME``, ``run``, ``summarize``, ``plot``, its docstring).
    argv: command-line arguments (``None``: ``sys.argv[1:]``).
  """
  args = parse_args(argv, module.NAME, module.__doc__)
  rec = Recorder(module.NAME, args)
  raw = module.run(args)
  summary = module.summarize(raw)
  rec.write_csv(summary.rows, summary.columns, digits=summary.csv_digits)
  if summary.markdown is not None:
    print(summary.markdown.rstrip("\n"))
    if summary.markdown_file:
      rec.write_text(summary.markdown, ".md")
  rec.save_figure(module.plot(raw, summary))
  return rec.finish(claim=summary.claim, held=summary.held, measured=summary.measured, seeds=summary.seeds,
                    **summary.fields)


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
  """The rows of a CSV written by :meth:`Recorder.write_csv` (strings, as written)."""
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def num(x: float | None, spec: str, missing: str = "n/a") -> str:
  """``format(x, spec)``, or ``missing`` where the record has no finite value (``None``, NaN)."""
  return missing if x is None or not math.isfinite(float(x)) else format(float(x), spec)


def pct(x: float, digits: int = 1) -> str:
  """A fraction as a percentage, ``0.4102 -> "41.0%"``."""
  return f"{100 * float(x):.{digits}f}%"


_BLOCK_START = re.compile(r"(\d+[.)]|[-+*>#|]|=+)(\s|$)")


def wrap(text: str, width: int = 116) -> str:
  """Wraps a markdown paragraph at ``width``; no line starts with what markdown reads as a list, quote or heading."""
  keep = "\ue000"   # spaces inside `code spans` and around "= number" stay on one line
  text = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", keep), text)
  text = re.sub(r" ([=≈<>≤≥]) ", lambda m: f"{keep}{m.group(1)}{keep}", text)
  lines = [line.replace(keep, " ") for line in
           textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)]
  out = []
  for line in lines:
    while out and _BLOCK_START.match(line):
      head, _, line = line.partition(" ")
      out[-1] += " " + head
      if not line:
        break
    if line:
      out.append(line)
  return "\n".join(out)


def readme_paragraph(*parts: str) -> str:
  """README lines: each part on its own line(s), the long ones wrapped with :func:`wrap`."""
  return "\n".join(wrap(p) if len(p) > 116 else p for p in parts)


# --------------------------------------------------------------------------- benchmarks


def table(title: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> dict:
  """One table of a benchmark record: ``{"title", "columns", "rows"}`` (rows: dicts of numbers and strings)."""
  rows = [dict(r) for r in rows]
  return {"title": title, "columns": list(columns or (rows[0] if rows else [])), "rows": rows}


def apply_quick(args: argparse.Namespace, quick: Mapping[str, Any]) -> argparse.Namespace:
  """With ``--quick``, the ``quick`` presets replace the defaults of the options the command line left alone."""
  if args.quick:
    for k, v in quick.items():
      if getattr(args, k) == args.defaults[k]:
        setattr(args, k, v)
      args.defaults[k] = v
  return args


def run_mode(args: argparse.Namespace, name: str) -> tuple[str, str]:
  """``(mode, command)`` of a run: ``quick``, ``full`` (every default) or ``reduced`` (options changed)."""
  changed = [(k, v) for k, v in vars(args).items() if k in args.defaults and v != args.defaults[k]]
  flags = [f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in changed if v is not False]
  command = " ".join([f"python -m experiments.{name}", *(["--quick"] if args.quick else []), *flags])
  return ("quick" if args.quick else "reduced" if changed else "full"), command


def finish_benchmark(rec: Recorder, *, settings: Mapping[str, Any], tables: Mapping[str, dict],
                     versions: Mapping[str, str | None] | None = None, targets: Sequence[Mapping] = (),
                     notes: str | None = None, **extra) -> dict:
  """Writes a benchmark's record ``bench_NAME.json`` into ``--out`` and returns it.

  The record holds the mode (``quick`` / ``full`` / ``reduced``) and the command that reproduces
  the run, the workload ``settings``, the ``tables`` (each from :func:`table`: rows with medians
  and ratios), the ``targets`` (``{"target", "value", "met"}``), versions of the libraries
  compared (``versions``), the machine, git commit, wall and CPU time and the load average at
  the start and the end (on a shared machine, what else was running).
  """
  import datetime
  mode, command = run_mode(rec.args, rec.name)
  record = {"name": rec.name, "kind": "benchmark", "mode": mode, "quick": bool(rec.args.quick),
            "command": command, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "settings": dict(settings), "tables": dict(tables),
            "targets": [dict(t) for t in targets], "notes": notes,
            "wall_time_s": round(time.perf_counter() - rec.start, 1),
            "cpu_time_s": round(time.process_time() - rec.cpu_start, 1),
            "load_average_1min": {"start": rec.load_start, "end": _load_average()},
            **environment(), "versions": dict(versions or {}), **extra}
  with open(rec.path(".json"), "w") as f:
    json.dump(_jsonable(record), f, indent=2)
    f.write("\n")
  print(f"[{rec.name}] {mode} run; wrote {rec.path('.json')} in {record['wall_time_s']} s", file=sys.stderr)
  return record


def bench_caption(record: Mapping[str, Any]) -> str:
  """The provenance line under a benchmark's README table: mode, command, machine, load, date."""
  load = record.get("load_average_1min") or {}
  mode = {"full": "full run", "reduced": "reduced run", "quick": "quick smoke run (tiny shapes; not a measurement)"}
  versions = ", ".join(f"{k} {v}" for k, v in (record.get("versions") or {}).items() if v)
  return (f"*{mode.get(record.get('mode'), record.get('mode'))}: `{record.get('command')}`, on "
          f"{record.get('machine')}, load average {load.get('start')} → {load.get('end')} during the run, "
          f"{str(record.get('date', ''))[:10]}; jax {record.get('jax_version')}, optax {record.get('optax_version')}"
          f"{', ' + versions if versions else ''}; {record.get('wall_time_s', 0):.0f} s.*")


def median(xs: Sequence[float]) -> float:
  """The median of timings (the statistic every benchmark table reports)."""
  import statistics
  return float(statistics.median(xs))


def pyplot():
  """``matplotlib.pyplot`` with the non-interactive Agg backend."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def band(ax, x, y, *, label: str | None = None, color=None, logx: bool = True, **kw):
  """Plots the seed mean of ``y`` (shape ``(n_seeds, len(x))``) with a min–max band over seeds."""
  y = np.asarray(y, dtype=float)
  mean = np.nanmean(y, axis=0)
  (line,) = ax.plot(x, mean, label=label, color=color, **kw)
  ax.fill_between(x, np.nanmin(y, axis=0), np.nanmax(y, axis=0), color=line.get_color(), alpha=0.2, lw=0)
  if logx:
    ax.set_xscale("log")
  return line


def key(seed: int = 0) -> jax.Array:
  """The root PRNG key of an experiment (typed key)."""
  return jax.random.key(seed)
