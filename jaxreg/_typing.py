"""Type aliases of the public API, in optax's style (``chex.ArrayTree``, ``optax.ScalarOrSchedule``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import chex
import jax
import numpy as np
import optax

Params: TypeAlias = chex.ArrayTree
"""A pytree of floating-point arrays (``None`` leaves and ``optax.MaskedNode`` subtrees pass through)."""

Scalar: TypeAlias = float | int | np.ndarray | jax.Array
"""A number or 0-d array; possibly a tracer under ``jit``/``vmap``/``grad``."""

HParam: TypeAlias = Scalar | chex.ArrayTree
"""A hyperparameter: a scalar (possibly traced) or a per-leaf pytree shaped like ``params`` (or a prefix of it)."""

HParamOrSchedule: TypeAlias = HParam | optax.Schedule
"""A hyperparameter of a transform: as :data:`HParam`, or an optax schedule (a callable of the step count)."""

Mask: TypeAlias = chex.ArrayTree | Callable[[Any], chex.ArrayTree] | None
"""A bool pytree shaped like ``params`` or a prefix of it, a callable ``params -> bool pytree``, or ``None`` (all)."""

PRNGKey: TypeAlias = jax.Array
"""A PRNG key: ``jax.random.key(0)`` or ``jax.random.PRNGKey(0)``."""
