"""Names every docstring example may use without importing them (as numpy and optax do for theirs)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg


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
