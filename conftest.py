"""Names every docstring example may use without importing them (as numpy and optax do for theirs)."""

import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg

# The test loop reuses the XLA programs of the previous run: JAX's persistent compilation cache (keyed by the
# program, the compiler flags and the jax/jaxlib versions, so a changed program compiles anew), kept in
# .pytest_cache/jax. Compilation is most of the suite's time on CPU. JAXREG_TEST_JAX_CACHE=0 turns it off.
# Set in the environment too, so the tests' subprocesses share it.
if os.environ.get("JAXREG_TEST_JAX_CACHE", "1") != "0":
  os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(__file__).parent / ".pytest_cache" / "jax"))
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
  doctest_namespace.update(jax=jax, jnp=jnp, np=np, optax=optax, jaxreg=jaxreg)


@pytest.fixture(autouse=True)
def _restore_jax_config():
  """A test or docstring example that switches float64 (or the PRNG) on leaves it as it found it."""
  saved = {k: getattr(jax.config, k) for k in ("jax_enable_x64", "jax_default_prng_impl")}
  yield
  for k, v in saved.items():
    if getattr(jax.config, k) != v:
      jax.config.update(k, v)
