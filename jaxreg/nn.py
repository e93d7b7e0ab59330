"""flax nnx modules around :mod:`jaxreg.dropout`, with rates that may be traced.

They follow ``flax.nnx.Dropout``'s conventions: a key is drawn from the
``'dropout'`` stream of the ``rngs`` given at construction (forked, as flax
does) or at call time (an ``nnx.Rngs``, an ``nnx.RngStream`` or a key), and
``deterministic`` — set at construction, overridden per call, or toggled for a
whole model by ``model.eval()`` / ``model.train()`` or ``nnx.view(model,
deterministic=...)`` — switches the noise off. Unlike ``nnx.Dropout``, which
tests ``if self.rate == 0.0`` in Python, the rate is never inspected, so it may
be a tracer and a sweep over rates is one program::

  rates = jnp.array([0.0, 0.1, 0.3, 0.5])
  ys = jax.vmap(lambda r: Model(r, rngs=nnx.Rngs(0))(x))(rates)

``rate`` is the probability of dropping a unit (keep probability ``p = 1 − rate``
in Srivastava et al. 2014). A Python-float rate is static module metadata (as in
flax); a jax-array rate is a pytree leaf of the module's state.

MC dropout with a model built on ``nnx.Rngs(params=..., dropout=...)``: reseed
the ``dropout`` stream in a copy of the model per sample (see
:func:`jaxreg.mc_predict`)::

  graphdef, state = nnx.split(model)
  def fn(k):
    m = nnx.merge(graphdef, state, copy=True)
    nnx.reseed(m, dropout=k)
    return m(x)
  mean, var = jaxreg.mc_predict(fn, jax.random.key(0), 100)
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxreg import _trees
from jaxreg._dropout import (
    alpha_dropout,
    concrete_dropout,
    concrete_dropout_regularizer,
    dropout,
    gaussian_dropout,
)

_NO_DETERMINISTIC = (
    "No `deterministic` argument was given to {name}: pass deterministic=True/False to its "
    "constructor or call, or use model.eval() / model.train() / nnx.view(model, deterministic=...).")


def _first(value, default, error_msg):
  """``value`` unless it is ``None``, else ``default`` unless it is ``None``, else ``ValueError``."""
  for v in (value, default):
    if v is not None:
      return v
  raise ValueError(error_msg)


def _check_deterministic(value):
  if value is not None and not isinstance(value, (bool, np.bool_)):
    raise ValueError(f"deterministic must be True, False or None, got {value!r}.")
  return value


class _Stochastic(nnx.Module):
  """Shared machinery: rngs handling, ``deterministic`` and ``set_view``, as in ``nnx.Dropout``."""

  def _apply(self, key: jax.Array, inputs: jax.Array) -> jax.Array:
    raise NotImplementedError   # each module applies its own noise

  def __init__(self, *, broadcast_dims: Sequence[int], deterministic: bool | None,
               rng_collection: str, rngs):
    self.broadcast_dims = _trees.check_ints("broadcast_dims", broadcast_dims)
    self.deterministic = _check_deterministic(deterministic)
    self.rng_collection = rng_collection
    if isinstance(rngs, nnx.Rngs):
      self.rngs = rngs[rng_collection].fork()
    elif isinstance(rngs, nnx.RngStream):
      self.rngs = rngs.fork()
    elif rngs is None:
      self.rngs = nnx.data(None)
    else:
      raise TypeError(f"rngs must be an nnx.Rngs, an nnx.RngStream or None, got {type(rngs)}.")

  def _key(self, rngs):
    rngs = _first(rngs, self.rngs, (
        f"{type(self).__name__} is not deterministic but has no rngs: pass rngs=nnx.Rngs(...) to "
        "its constructor, or rngs= (an nnx.Rngs, nnx.RngStream or key) to its call."))
    if isinstance(rngs, nnx.Rngs):
      return rngs[self.rng_collection]()
    if isinstance(rngs, nnx.RngStream):
      return rngs()
    if isinstance(rngs, jax.Array):
      return rngs
    raise TypeError(f"rngs must be an nnx.Rngs, an nnx.RngStream or a jax key, got {type(rngs)}.")

  def __call__(self, inputs, *, deterministic: bool | None = None, rngs=None):
    """Applies the noise to ``inputs`` unless deterministic.

    Args:
      inputs: floating-point array.
      deterministic: Python bool; overrides the module's ``deterministic``.
      rngs: optional ``nnx.Rngs``, ``nnx.RngStream`` or key; overrides the module's rngs.

    Returns:
      An array like ``inputs``; ``inputs`` itself when deterministic.
    """
    deterministic = _first(_check_deterministic(deterministic), self.deterministic,
                           _NO_DETERMINISTIC.format(name=type(self).__name__))
    if deterministic:
      return inputs
    return self._apply(self._key(rngs), inputs)

  def set_view(self, deterministic: bool | None = None):
    """Used by ``nnx.view``: ``deterministic=True`` switches the noise off."""
    if deterministic is not None:
      self.deterministic = _check_deterministic(deterministic)


class Dropout(_Stochastic):
  """Inverted dropout (:func:`jaxreg.dropout`) as an nnx module; ``rate`` may be traced.

  Args:
    rate: probability of dropping a unit, in ``[0, 1]`` (not the keep
      probability); float or jax scalar (may be a tracer).
    broadcast_dims: dimensions that share one mask draw (``(1, 2)`` for NHWC
      channel dropout, ``(1,)`` for a mask shared over time).
    deterministic: if ``True`` the input is returned unchanged (``model.eval()`` sets it).
    rng_collection: the rng stream to draw keys from.
    rngs: ``nnx.Rngs`` or ``nnx.RngStream`` (forked), or ``None`` (then pass
      ``rngs`` at call time).

  Example:
    >>> layer = jaxreg.nn.Dropout(0.5, rngs=nnx.Rngs(dropout=0))
    >>> y = layer(jnp.ones(4))     # entries 0 or 2
    >>> layer.eval(); layer(jnp.ones(4))
    Array([1., 1., 1., 1.], dtype=float32)

  References:
    Srivastava et al., JMLR 2014; ``flax.nnx.Dropout`` (same conventions).
  """

  def __init__(self, rate, *, broadcast_dims: Sequence[int] = (), deterministic: bool | None = False,
               rng_collection: str = "dropout", rngs: nnx.Rngs | nnx.RngStream | None = None):
    _trees.check("rate", rate, high=1.0, scalar=True)
    self.rate = rate
    super().__init__(broadcast_dims=broadcast_dims, deterministic=deterministic,
                     rng_collection=rng_collection, rngs=rngs)

  def _apply(self, key, x):
    return dropout(key, x, self.rate, broadcast_dims=self.broadcast_dims)


class GaussianDropout(Dropout):
  """Multiplicative ``N(1, rate/(1 − rate))`` noise (:func:`jaxreg.gaussian_dropout`); arguments as :class:`Dropout`.

  References:
    Srivastava et al., JMLR 2014, §10; Kingma et al., NeurIPS 2015.
  """

  def _apply(self, key, x):
    return gaussian_dropout(key, x, self.rate, broadcast_dims=self.broadcast_dims)


class AlphaDropout(Dropout):
  """SELU-preserving alpha dropout (:func:`jaxreg.alpha_dropout`); arguments as :class:`Dropout`.

  References:
    Klambauer et al., *Self-Normalizing Neural Networks*, NeurIPS 2017.
  """

  def _apply(self, key, x):
    return alpha_dropout(key, x, self.rate, broadcast_dims=self.broadcast_dims)


class ConcreteDropout(_Stochastic):
  """Concrete dropout with a learned rate (:func:`jaxreg.concrete_dropout`).

  The rate is stored as its logit in an ``nnx.Param`` (``rate_logit``), so an
  optimizer over ``nnx.Param`` learns it; add :meth:`regularizer` (the paper's
  weight + entropy term) to the loss, or the rate has no reason to stay small.

  Args:
    rate: initial probability of dropping, in ``(0, 1)``; float or jax scalar
      (may be a tracer). Gal et al. initialise it at 0.1.
    temperature: ``t > 0`` of the relaxation (0.1 in the paper).
    broadcast_dims, deterministic, rng_collection, rngs: as :class:`Dropout`.

  Example:
    >>> from flax import nnx
    >>> layer = jaxreg.nn.ConcreteDropout(0.1, rngs=nnx.Rngs(dropout=0))
    >>> dense = nnx.Linear(8, 1, rngs=nnx.Rngs(params=0))
    >>> h = jnp.ones((5, 8))
    >>> y = dense(layer(h))
    >>> reg = layer.regularizer(dense.kernel[...], input_dim=h.shape[-1], dropout_regularizer=2 / 100)
    >>> y.shape, reg.shape
    ((5, 1), ())

  References:
    Gal, Hron & Kendall, *Concrete Dropout*, NeurIPS 2017.
  """

  def __init__(self, rate=0.1, *, temperature=0.1, broadcast_dims: Sequence[int] = (),
               deterministic: bool | None = False, rng_collection: str = "dropout",
               rngs: nnx.Rngs | nnx.RngStream | None = None):
    _trees.check("rate", rate, high=1.0, low_open=True, high_open=True, scalar=True)
    _trees.check("temperature", temperature, low_open=True, scalar=True)
    rate = jnp.asarray(rate, jnp.float32)
    self.rate_logit = nnx.Param(jnp.log(rate) - jnp.log1p(-rate))
    self.temperature = temperature
    super().__init__(broadcast_dims=broadcast_dims, deterministic=deterministic,
                     rng_collection=rng_collection, rngs=rngs)

  @property
  def rate(self):
    """The current drop probability, ``sigmoid(rate_logit)``."""
    return jax.nn.sigmoid(self.rate_logit[...])

  def _apply(self, key, x):
    return concrete_dropout(key, x, self.rate_logit[...], temperature=self.temperature,
                                     broadcast_dims=self.broadcast_dims)

  def regularizer(self, weights, *, input_dim, weight_regularizer=1e-6, dropout_regularizer=1e-5,
                  mask=None):
    """:func:`jaxreg.concrete_dropout_regularizer` at this layer's rate (same arguments)."""
    return concrete_dropout_regularizer(
        self.rate_logit[...], weights, input_dim=input_dim, weight_regularizer=weight_regularizer,
        dropout_regularizer=dropout_regularizer, mask=mask)


__all__ = ["AlphaDropout", "ConcreteDropout", "Dropout", "GaussianDropout"]
