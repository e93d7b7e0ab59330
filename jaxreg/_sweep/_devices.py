"""Every CPU core as a JAX device: :func:`use_cpu_devices`."""

from __future__ import annotations

import os

import jax

from jaxreg import _trees

_TOO_LATE = (
    "jaxreg.use_cpu_devices({n}): JAX's backends are already initialized with {have} CPU device(s), and the "
    "number of CPU devices cannot change after that. Call jaxreg.use_cpu_devices({n}) first thing, right after "
    "the imports and before any JAX computation (creating an array or a key, jax.devices(), ...), or start Python "
    "with the environment variable XLA_FLAGS=--xla_force_host_platform_device_count={n} (or JAX_NUM_CPU_DEVICES={n})."
)


def use_cpu_devices(n: int | None = None) -> int:
  r"""Makes JAX's CPU backend ``n`` devices, so that :func:`jaxreg.sweep` uses every core.

  JAX gives the host CPU a single device by default, and one device runs one
  XLA program at a time: a sweep on it leaves cores idle whenever XLA's own
  intra-op threads cannot fill them (small matrices, as in most
  hyperparameter sweeps). With ``n`` host devices, :func:`jaxreg.sweep` shards
  its configurations over all of them (its default ``devices`` is
  ``jax.devices()``) and runs ``n`` shards in parallel, for the same results
  up to floating-point reassociation. This sets
  ``jax.config.update("jax_num_cpu_devices", n)``, which only takes effect
  before JAX's backends are initialized, so call it first thing, right after
  the imports. It does not initialize the backends itself (so
  ``jax.distributed.initialize()`` may still follow). On a machine with an
  accelerator, ``jax.devices()`` lists the accelerator's devices and sweeps
  run there; pass ``devices=jax.devices("cpu")`` to sweep on the CPU devices.

  Known problem (jax 0.10.2 on a 2-core CPU, reproduced): a sweep whose function
  computes an SVD with singular vectors (``jnp.linalg.svd``, and so
  :func:`jaxreg.paths.ridge_path` called inside the swept function) hung on
  2 host CPU devices: both device executions wait in XLA's CPU runtime and no
  thread runs. The same SVD vmapped and sharded outside of a sweep, and MLP
  training sweeps, ran fine. For such a sweep pass ``devices=jax.devices()[:1]``.

  Args:
    n: number of CPU devices, an int ``>= 1``; ``None`` means ``os.cpu_count()``.

  Returns:
    The number of CPU devices JAX has (once initialized, or will have).

  Raises:
    ValueError: when ``n`` is not an integer ``>= 1``.
    RuntimeError: when JAX's backends are already initialized with another
      number of CPU devices (it is too late: the message says how to fix it).
      Calling it again with the number JAX already has is a no-op.

  Example:
    Run this first in a fresh process (here: 2 devices)::

      import jax, jaxreg
      jaxreg.use_cpu_devices(2)   # before any JAX computation
      len(jax.devices())          # 2: jaxreg.sweep shards over both

    >>> jaxreg.use_cpu_devices(len(jax.devices("cpu")))   # too late to change, but asking for the count is fine
    1

  References:
    JAX documentation, "Introduction to parallel programming" (``jax_num_cpu_devices``;
    ``XLA_FLAGS=--xla_force_host_platform_device_count``).
  """
  n = (os.cpu_count() or 1) if n is None else _trees.check_int("jaxreg.use_cpu_devices: n", n, low=1)
  try:
    jax.config.update("jax_num_cpu_devices", n)
  except RuntimeError as e:   # the backends are initialized: fine only if they already have n CPU devices
    try:
      have = len(jax.devices("cpu"))
    except RuntimeError:
      raise RuntimeError(f"jaxreg.use_cpu_devices({n}): JAX's backends are already initialized without a CPU "
                         "backend (JAX_PLATFORMS excludes 'cpu'?).") from e
    if have != n:
      raise RuntimeError(_TOO_LATE.format(n=n, have=have)) from e
  return n
