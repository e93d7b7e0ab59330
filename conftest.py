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
