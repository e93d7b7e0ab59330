"""Sweeps: one compiled, vmapped program over a grid (or a list) of hyperparameters × seeds (see :func:`sweep`).

The conventions are documented once, in the Notes of ``sweep``'s docstring.
The modules, in the order a sweep uses them: ``_validation`` (arguments, traced
dtypes, metric names), ``_layout`` (chunks and shards, pure numpy),
``_program`` (tracing, the compiled program and its cache), ``_fingerprints``
(digests by content), ``_checkpoints``, ``_hosts`` (processes and host
memory), ``_progress`` and ``_result`` (:class:`SweepResult`). ``_spaces``
holds search spaces that are not grids (:class:`Configs`, :func:`sample`) and
``_devices`` :func:`use_cpu_devices`.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jaxreg._sweep._checkpoints import _Checkpoints
from jaxreg._sweep._devices import use_cpu_devices
from jaxreg._sweep._fingerprints import _digest_of, _jax_versions
from jaxreg._sweep._hosts import _all_processes, _release_freed_host_memory, _to_host
from jaxreg._sweep._layout import _flat_grid, _Layout, _plan, _to_axes
from jaxreg._sweep._program import _Program, _Trace, _trace_all
from jaxreg._sweep._progress import _Progress
from jaxreg._sweep._result import SweepResult
from jaxreg._sweep._spaces import Configs, choice, configs, loguniform, sample, uniform
from jaxreg._sweep._validation import (
  _SEED,
  _check_axes,
  _check_chunk_size,
  _check_devices,
  _check_names,
  _check_seeds,
  _key_parts,
  _metric_names,
)

__all__ = ["Configs", "SweepResult", "choice", "configs", "loguniform", "sample", "sweep", "uniform",
           "use_cpu_devices"]


def sweep(fn: Callable[[dict[str, Any], jax.Array], Any], grid: Mapping[str, Any], *, key, seeds=1,
          chunk_size: int | None = None, devices: Sequence[Any] | None = None, checkpoint_dir=None,
          progress: bool = True, static: Mapping[str, Sequence[Any]] | None = None) -> SweepResult:
  r"""Runs ``fn`` on every point of ``grid`` × ``seeds`` as one compiled vmapped program.

  For grid point ``g`` (a dict of scalars) and seed ``s`` it computes
  ``fn({**static_point, **g}, jax.random.fold_in(key, s))``: the **same key for
  every grid point** of a seed (common random numbers, see Notes). All of it
  runs as **one** compiled program per static setting
  (``jit(vmap(vmap(fn)))``), instead of one Python loop iteration or one
  compilation per configuration. ``sweep`` knows nothing about
  regularization: ``fn`` is any function of scalar hyperparameters and a PRNG
  key that returns a pytree of arrays (a training run returning its
  validation loss, for instance).

  Each call traces ``fn`` afresh (once per static combination), so it sees the
  current values of the globals it reads; a compiled program is reused only
  for the same trace (by content). Notes say how to reuse compiled programs
  across processes.

  Args:
    fn: ``fn(hparams, key) -> pytree of arrays``, one run for one configuration.
      ``hparams[name]`` is a scalar array for grid axes (traced: build
      optimizers from it, never branch on it in Python) and the Python value
      for static axes. ``key`` is a PRNG key of the same kind as ``key``.
      Output leaves are named by their pytree path; no name may equal an axis.
    grid: ``{name: 1-D numbers}``; the Cartesian product in insertion order.
      Or a :class:`Configs` (:func:`configs`, :func:`sample`): exactly those
      configurations, along one flat ``config`` axis. Values are traced in
      JAX's default dtypes (float32/int32 unless x64); values that do not fit
      them are refused.
    key: a PRNG key (``jax.random.key(0)`` or ``jax.random.PRNGKey(0)``).
    seeds: number of seeds (values ``0..seeds-1``) or a 1-D sequence of
      distinct int seed values; forms the final ``seed`` axis.
    chunk_size: at most this many configurations (grid points × seeds) per
      compiled call, to bound memory; ``None`` runs everything in one call. The
      last chunk is padded, so the program compiles once.
    devices: devices to shard the configurations over; ``None`` means all of
      ``jax.devices()`` (every host's after ``jax.distributed.initialize()``).
    checkpoint_dir: directory for resumable per-chunk ``.npz`` checkpoints, or
      ``None``. Rerunning the same call resumes; chunks are reused only for
      the same grid, static values, seeds, layout, key and traced program of
      ``fn`` (see Notes for exactly what is and is not covered).
    progress: report progress: a tqdm bar when stderr is a terminal, else a
      plain line at most every 10 s (after 10% more of the work, or 30 s);
      ``False`` silences it.
    static: ``{name: values}`` of axes looped in Python (shapes, depths,
      optimizer names): one compiled program per combination. They come first
      in the result's axes.

  Returns:
    A :class:`SweepResult` whose ``values`` leaves (numpy arrays) have shape
    ``(*static_lengths, *grid_lengths, len(seeds), *leaf_shape)``; for a
    :class:`Configs`, ``(*static_lengths, n_configs, len(seeds), *leaf_shape)``
    with the hyperparameters in ``result.configs``.

  Raises:
    ValueError: for a malformed grid (or values that do not fit the traced
      dtype), seeds, chunk_size or key, for static combinations whose outputs
      differ in structure or shape, for a metric named like an axis, or when
      ``checkpoint_dir`` holds a different sweep.
    KeyboardInterrupt: re-raised after one line on stderr that says how many
      chunks are saved and that rerunning the same call resumes from them.

  Notes:
    * **Grid.** ``grid = {"alpha": [...], "lr": [...]}`` is the Cartesian product in
      insertion order, then a final ``seed`` axis of length ``seeds``. A result leaf
      of per-run shape ``leaf_shape`` has shape
      ``(*static_lengths, *grid_lengths, seeds, *leaf_shape)``. Grid values are
      traced in JAX's default dtypes (float32 and int32 unless ``jax_enable_x64``);
      values that do not survive that cast (integers outside int32, floats that
      overflow or flush to zero in float32, distinct floats that become equal) are
      refused with a ``ValueError`` instead of being wrapped or merged.
    * **Lists of configurations (random and quasi-random search).** ``grid`` may be a
      :class:`Configs`, ``{name: equal-length 1-D numbers}`` made by :func:`configs` or
      drawn by :func:`sample` (:func:`uniform`, :func:`loguniform`, :func:`choice`;
      random, Sobol' or Halton points). Configuration ``i`` is
      ``{name: values[i]}``, and the result has one flat axis ``config`` (labels
      ``0..n-1``) before ``seed``, with the hyperparameters of each configuration in
      ``result.configs``: :meth:`~SweepResult.best` reports them,
      :meth:`~SweepResult.select` takes ``config=`` or a hyperparameter's value,
      and records, CSV and xarray carry one column (coordinate) per
      hyperparameter. It is the same single program: chunks, devices, static
      axes and checkpoints (whose fingerprint covers every configuration's
      values) work as for a grid.
    * **Keys: common random numbers.** Seed ``s`` uses the key
      ``jax.random.fold_in(key, s)`` for **every** grid point. Configurations are
      compared on identical initializations, minibatch orders and dropout masks, so
      the difference between two alphas is not drowned in seed noise (the variance
      of a difference of positively correlated runs is smaller than that of
      independent ones). Different seeds get different keys, so spread across the
      ``seed`` axis measures seed noise. Because the key is shared within a seed,
      anything ``fn`` draws from it (minibatch indices, initial weights) is computed
      once per seed and broadcast across the grid instead of once per lane, which
      also makes the sweep faster than vmapping one key per lane.
    * **Hyperparameters are data.** Each value ``hparams[name]`` that ``fn`` sees is
      a scalar array (a tracer), never a Python float: build optimizers from it
      inside ``fn`` (``optax.chain(jaxreg.add_l2(hp["alpha"]), optax.adam(1e-3))``)
      and never branch on it in Python. Axes that must be Python values (a width, a
      depth, an optimizer name) go in ``static``: they are looped over in Python,
      one compiled program per static combination, and ``fn`` receives those values
      as the Python objects themselves, in the same ``hparams`` dict.
    * **Chunks.** ``chunk_size`` bounds the configurations (grid points × seeds) per
      compiled call. A chunk is a block of ``s_block`` seeds × ``g_block`` grid
      points (``g_block = min(G, chunk_size)``, ``s_block = chunk_size // g_block``
      clipped to ``[1, seeds]``). Ragged tail chunks are padded to the block shape
      by repeating their last real configuration and the padding is dropped, so the
      program is compiled once per call and static combination. Between chunks,
      freed host memory is handed back to the OS (glibc's ``malloc_trim``), so
      resident memory stays that of one chunk.
    * **Tracing and compiling.** Every call traces ``fn`` afresh, once per static
      combination, into a jaxpr, and runs the program built from that very jaxpr.
      Nothing is cached per ``fn`` object, so a second call sees the current
      values of the globals and closure variables ``fn`` reads (functions that
      ``fn`` calls through their own ``jax.jit`` are cached by JAX, with
      ``jax.jit``'s rule: they must not read mutable globals). Compiled programs
      are kept in memory keyed on that trace (the jaxpr, its constants and literals
      by content, and the chunk layout), so a repeated call of an unchanged program
      in one process does not recompile, and a changed one always does. To skip
      recompiling across processes, turn on JAX's persistent compilation cache, also
      keyed on the program itself and so never returns a stale one::

        jax.config.update("jax_compilation_cache_dir", "/path/to/jax_cache")
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)   # default 1 s: skips small programs

      (or the environment variables ``JAX_COMPILATION_CACHE_DIR`` and
      ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``).
    * **Devices.** The grid axis of each chunk (the seed axis when that wastes fewer
      lanes) is sharded over ``devices`` with a 1-D
      :class:`jax.sharding.NamedSharding`, padded to a multiple of the device
      count. After ``jax.distributed.initialize()``, ``jax.devices()`` spans every
      host, so the same call runs across hosts: every process calls ``sweep`` with
      the same arguments (as with any multi-process JAX program), each runs its
      devices' lanes, and every process gets the full result.
    * **Every CPU core.** On CPU, JAX makes one device by default, and one device
      runs one program at a time, so a sweep of small models leaves cores idle.
      Call :func:`use_cpu_devices` (``jaxreg.use_cpu_devices()``: one device per
      core, ``os.cpu_count()``) first thing in the program, before any JAX
      computation; the sweep then shards over all of them, for the same results
      up to floating-point reassociation. Too late, it raises ``RuntimeError``
      instead of silently keeping one device; the environment variable
      ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` does the same from
      outside. ``python -m experiments.bench_sweep`` times the same sweep on 1
      and 2 devices (the README's performance table).
    * **Lanes are independent.** A configuration that diverges to NaN/inf changes
      only its own entries (``fn`` is vmapped; padding repeats real configurations).
    * **Result names.** Metrics are named by their pytree path (see
      :class:`SweepResult`); a metric named like an axis (``alpha``, ``seed``, a
      static axis) would overwrite that axis in ``to_records``/``to_csv``/
      ``to_xarray``, so it is refused before anything runs.
    * **Checkpoints.** With ``checkpoint_dir``, each finished chunk is written as
      an ``.npz`` of plain arrays (loaded with ``allow_pickle=False``: loading never
      runs code) under a unique temporary name, then renamed into place
      (``os.replace``, atomic): a reader sees a whole chunk or none, and threads or
      processes that share a directory do not clash. A rerun of the same call skips
      finished chunks and, on the same devices, is bit-identical to an
      uninterrupted run. What is guaranteed:

      - *A chunk is reused only for the same computation.* ``meta.json`` and every
        chunk carry a fingerprint of the grid values (bytes, dtype, shape), the
        static values by content (arrays by bytes, dtype and shape; functions and
        classes by module and qualified name; never a ``repr`` with a memory
        address or numpy's ``...`` abbreviation), the seeds, the chunk layout, the
        key, the JAX and jaxlib versions and, for every static combination, the
        program ``fn`` computes: its jaxpr, its constants (closed-over arrays) and
        literals by content, and its output structure. A changed grid, static
        value, ``fn`` (code, a closed-over array, a global it reads) or output
        raises ``ValueError`` naming what changed. The fingerprint holds no memory
        address or per-process counter, so a new process resumes.
      - *Damage is recomputed, never trusted.* Each chunk also carries a SHA-256 of
        its contents; a chunk that is damaged in any way (flipped bytes, truncated,
        an unsupported compression, a foreign file) is recomputed with a warning.
        A well-formed chunk of a different sweep raises ``ValueError``.
      - *Reading never writes.* A finished sweep is read back from a read-only
        directory. A failed write (disk full, no permission) removes its temporary
        file and warns; the sweep then continues without saving further chunks.
      - *Not covered:* what JAX does not trace. Host callbacks
        (``jax.pure_callback``, ``jax.debug.callback``) are fingerprinted by their
        function's name, not by what it does; functions ``fn`` calls through
        ``jax.jit`` are fingerprinted by the jaxpr JAX has cached for them. A run
        on other devices (another count or kind) reuses chunks: results then
        agree to floating-point accuracy, not bit for bit.

      With several processes every process writes its chunks and a chunk is
      skipped only when every process can read it.
    * **Progress and interrupts.** On a terminal a tqdm bar shows configurations,
      configs/s and the ETA; without one (logs, CI) plain lines are printed to
      stderr, at most every 10 s and only after another 10% of the configurations
      or 30 s. Ctrl-C (``KeyboardInterrupt``) prints one line saying how many
      chunks are saved and that rerunning the same call resumes, then re-raises.

  Example::

    def train(hp, key):                    # hp["alpha"], hp["lr"]: scalar arrays
      ...
      return {"val_loss": val_loss, "train_loss": train_loss}

    result = jaxreg.sweep(train, {"alpha": np.logspace(-5, -1, 16),
                                  "lr": [1e-3, 3e-3]},
                          key=jax.random.key(0), seeds=4, chunk_size=64)
    result.values["val_loss"].shape        # (16, 2, 4)
    result.best("val_loss")                # {"alpha": ..., "lr": ...}
    result.to_csv("sweep.csv")

  A complete one::

    >>> def fn(hp, key):
    ...   return {"loss": (hp["alpha"] - 0.3) ** 2 + 0.01 * jax.random.normal(key)}
    >>> r = sweep(fn, {"alpha": [0.1, 0.3, 1.0]}, key=jax.random.key(0), seeds=2, progress=False)
    >>> r.values["loss"].shape, r.best("loss")
    ((3, 2), {'alpha': 0.3})

  References:
    JAX documentation, "Distributed arrays and automatic parallelization",
    "Multi-process" (``NamedSharding``, ``jax.distributed``) and "Persistent
    compilation cache".
    A. M. Law, *Simulation Modeling and Analysis*, 5th ed., McGraw-Hill 2015,
    §11.2 (common random numbers as a variance-reduction technique).
    optax issues #577 and #353 (Python-float hyperparameters recompile).
  """
  axes_static, raw_static, axes_grid, hp_axes, config_values = _check_axes(grid, static)
  seed_values = _check_seeds(seeds)
  key_data, key_impl = _key_parts(key)
  devices = _check_devices(devices)
  chunk_size = _check_chunk_size(chunk_size)
  static_shape = tuple(len(v) for v in axes_static.values())
  grid_shape = tuple(len(v) for v in axes_grid.values())
  layout = _plan(math.prod(grid_shape), len(seed_values), chunk_size, len(devices))
  flat_hp = hp_axes if config_values else _flat_grid(hp_axes)   # a list of configurations is flat already

  # Trace fn once per static combination and check its output names, before anything runs.
  static_points = [dict(zip(axes_static, point)) for point in itertools.product(*raw_static.values())]
  traces = _trace_all(fn, static_points, flat_hp, key_data, key_impl)
  names, leaf_shapes = _metric_names(traces[0].out_shape), [shape for shape, _ in traces[0].leaf_info]
  _check_names([*axes_static, *axes_grid, *config_values, _SEED], dict(zip(names, leaf_shapes)), names,
               "jaxreg.sweep")

  ckpt = None
  if checkpoint_dir is not None:   # what a chunk on disk must have been computed from to be reused
    ckpt = _Checkpoints(checkpoint_dir, {
        "grid": _digest_of([(n, v) for n, v in axes_grid.items()]) if not config_values else
                _digest_of("configs", [(n, v) for n, v in config_values.items()]),
        "static": _digest_of([(n, v) for n, v in raw_static.items()]),
        "seeds": _digest_of(seed_values),
        "chunks": _digest_of((layout.s_block, layout.g_block)),
        "key": _digest_of(key_impl, key_data),
        "fn": _digest_of([trace.digest for trace in traces]),
        "jax": _jax_versions(),
    })

  program = _Program(layout, devices, flat_hp, seed_values, key_data, key_impl)
  buffers = _run_chunks(traces, layout, program, ckpt, progress)
  values = [_to_axes(buf, static_shape, grid_shape) for buf in buffers]
  axes = {**axes_static, **axes_grid, _SEED: seed_values}
  return SweepResult(axes, jax.tree_util.tree_unflatten(traces[0].treedef, values), configs=config_values or None)


def _run_chunks(traces: list[_Trace], layout: _Layout, program: _Program, ckpt: _Checkpoints | None,
                progress: bool) -> list[np.ndarray]:
  """Every chunk of every static combination, read back from ``ckpt`` or run.

  Returns one array per output leaf, of shape ``(static combination, seed, flat grid point, *leaf_shape)``.
  """
  chunks, leaf_info = layout.chunks, traces[0].leaf_info
  buffers = [np.empty((len(traces), layout.n_seeds, layout.n_grid, *shape), dtype) for shape, dtype in leaf_info]
  bar = _Progress(len(traces) * layout.n_seeds * layout.n_grid, progress)
  finished, t = 0, 0
  try:
    for t, trace in enumerate(traces):
      loaded = {} if ckpt is None else _read_back(ckpt, t, layout, leaf_info)
      done = np.array([c in loaded for c in range(len(chunks))], bool)
      if ckpt is not None:
        done = _all_processes(done)   # a chunk is skipped only when every process can read it
      compiled = None   # compiled at the first chunk to run: a finished sweep compiles nothing
      for c, chunk in enumerate(chunks):
        n_s, n_g = chunk.shape
        if done[c]:
          leaves = loaded.pop(c)
        else:
          compiled = compiled or program.compile(trace)
          leaves = [x[:n_s, :n_g] for x in _to_host(compiled(*program.args(chunk)))]   # without the padding
          if ckpt is not None:
            ckpt.save(chunk.name(t), leaves)
        for buf, x in zip(buffers, leaves):
          buf[t, chunk.s0:chunk.s1, chunk.g0:chunk.g1] = x
        finished += 1
        bar.update(n_s * n_g)
        if not done[c] and len(chunks) > 1:
          _release_freed_host_memory()
  except KeyboardInterrupt:
    bar.close()
    print(_interrupted(finished, t, len(traces), layout, ckpt), file=sys.stderr, flush=True)
    raise
  finally:
    bar.close()
  return buffers


def _read_back(ckpt: _Checkpoints, t: int, layout: _Layout, leaf_info) -> dict[int, list[np.ndarray]]:
  """The chunks of static combination ``t`` that ``ckpt`` holds intact, by their position in ``layout.chunks``."""
  loaded = {}
  for c, chunk in enumerate(layout.chunks):
    leaves = ckpt.load(chunk.name(t), [((*chunk.shape, *shape), dtype) for shape, dtype in leaf_info])
    if leaves is not None:
      loaded[c] = leaves
  return loaded


def _interrupted(finished: int, t: int, n_static: int, layout: _Layout, ckpt: _Checkpoints | None) -> str:
  """The line printed on Ctrl-C, during static combination ``t`` after ``finished`` chunks."""
  total = n_static * len(layout.chunks)
  if ckpt is None:
    return (f"jaxreg.sweep: interrupted after {finished} of {total} chunks; nothing is saved (pass "
            "checkpoint_dir= to make a sweep resumable).")
  # Saved: verified or written by this call, or (static combinations not reached yet) on disk from an earlier one.
  later = [chunk.name(u) for u in range(t + 1, n_static) for chunk in layout.chunks]
  saved = len(ckpt.saved) + sum(os.path.exists(ckpt.path(n)) for n in later)
  return (f"jaxreg.sweep: interrupted; {saved} of {total} chunks are saved in {ckpt.dir!r}; "
          "rerun the same call to resume from them.")
