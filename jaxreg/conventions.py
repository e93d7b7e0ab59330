r"""Our ``alpha`` against the conventions of Keras, PyTorch, scikit-learn and glmnet.

jaxreg's penalties are added to the user's loss ``L``:
``L + alpha/2·‖w‖²`` (L2), ``L + alpha·‖w‖₁`` (L1),
``L + alpha·(l1_ratio·‖w‖₁ + (1 − l1_ratio)/2·‖w‖²)`` (elastic net).
Other libraries write the same objectives with other constants. Each helper
returns the jaxreg value that gives *the same gradient* (hence the same
training trajectory / the same minimizer):

==============================================  =========================================  ===============================================
their setting                                   their penalty or update                    jaxreg
==============================================  =========================================  ===============================================
Keras ``regularizers.L2(l2)``                   ``+ l2·Σw²`` (no ½; gradient 2·l2·w)       ``add_l2(from_keras_l2(l2))`` = ``2·l2``
Keras ``regularizers.L1(l1)``                   ``+ l1·Σ|w|``                              ``add_l1(l1)``
Keras ``constraints.MaxNorm(max_value)``        ``‖w_g‖ ≤ max_value``                      ``max_norm(max_value)``
PyTorch ``SGD/Adam(weight_decay=wd)``           ``g ← g + wd·w`` (coupled)                 ``add_l2(wd)`` before the optimizer
PyTorch ``AdamW(lr, weight_decay=wd)``          ``w ← w − lr·wd·w`` (decoupled)            ``decoupled_weight_decay(wd, lr)`` after adam
scikit-learn ``Lasso(alpha)``                   ``1/(2n)‖y−Xw‖² + alpha‖w‖₁``              same alpha, data term ``1/(2n)‖r‖²``
scikit-learn ``ElasticNet(alpha, l1_ratio)``    as our elastic net, data ``1/(2n)‖r‖²``    same alpha and l1_ratio
scikit-learn ``Ridge(alpha)``                   ``‖y−Xw‖² + alpha‖w‖²``                    ``alpha / n`` with data ``1/(2n)‖r‖²``
scikit-learn ``LogisticRegression(C)``          ``C·Σ logloss + penalty``                  ``1 / (C·n)`` with the *mean* log-loss
glmnet ``glmnet(lambda, alpha)``                ``1/(2n)RSS + λ((1−α)/2‖β‖² + α‖β‖₁)``     alpha = λ, l1_ratio = glmnet's α
Oppermann's guide (jaxreg's source)             ``α/2‖W‖²`` and ``α‖W‖₁``                  the same α
==============================================  =========================================  ===============================================

The scikit-learn and glmnet rows assume the data term they use (half mean
squared error, or mean log-loss); with a plain mean squared error ``1/n‖r‖²``
(twice the half-MSE) multiply jaxreg's alpha by 2. glmnet standardizes ``y``
internally for the gaussian family; the mapping holds for its reported λ on the
scale of the data you fit.

Every helper takes numbers, numpy or jax arrays (also traced: the helpers are
pure arithmetic, so they vmap, jit and differentiate) and returns the same
kind; Python lists and tuples are converted with ``numpy.asarray`` first (so
``from_keras_l2([0.1, 0.2])`` is ``array([0.2, 0.4])``, never list arithmetic).
Other containers, ``None``, strings, bools, NaN, ``±inf`` and out-of-range values
raise ``ValueError`` naming the argument; ``n_samples`` is an integer ``≥ 1``.
"""

from __future__ import annotations

import numbers

import jax
import numpy as np

from jaxreg import _trees


def _value(name, value, **bounds):
  """A number or an array, checked by :func:`jaxreg._trees.check`; lists and tuples become numpy arrays."""
  if isinstance(value, (list, tuple)):
    try:
      value = np.asarray(value)
    except (TypeError, ValueError):
      raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}.") from None
  elif not isinstance(value, (numbers.Number, np.ndarray, np.generic, jax.Array)):
    raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}.")
  _trees.check(name, value, **bounds)
  return value


def _count(name, value):
  """An integer ``≥ 1`` (a traced integer scalar passes unchecked: its value is not known)."""
  if _trees.is_traced(value):
    if not np.issubdtype(value.dtype, np.integer) or np.ndim(value) != 0:
      raise ValueError(f"{name} must be an integer, got a traced value of dtype {value.dtype} and shape "
                       f"{np.shape(value)}.")
    return value
  return _trees.check_int(name, value, low=1)


def from_keras_l2(l2):
  """Keras ``L2(l2)`` adds ``l2·Σw²`` (gradient ``2·l2·w``): jaxreg alpha = ``2·l2``."""
  return 2 * _value("l2", l2)


def from_keras_l1(l1):
  """Keras ``L1(l1)`` adds ``l1·Σ|w|``: jaxreg alpha = ``l1``."""
  return _value("l1", l1)


def from_torch_weight_decay(weight_decay):
  """PyTorch ``SGD/Adam(weight_decay)`` adds ``weight_decay·w`` to the gradient: ``add_l2(weight_decay)``."""
  return _value("weight_decay", weight_decay)


def from_torch_adamw(lr, weight_decay):
  """PyTorch ``AdamW(lr, weight_decay)`` (and ``optax.adamw``) shrinks ``w`` by ``lr·weight_decay`` per step.

  Returns ``(weight_decay, learning_rate)``, the arguments of
  :func:`jaxreg.decoupled_weight_decay` to chain after ``adam(lr)``:
  ``jaxreg.decoupled_weight_decay(*from_torch_adamw(lr, wd))``.
  """
  return _value("weight_decay", weight_decay), _value("lr", lr)


def from_sklearn_ridge(alpha, n_samples):
  """scikit-learn ``Ridge(alpha)`` minimizes ``‖y−Xw‖² + alpha‖w‖²``.

  Divided by ``2n`` that is ``1/(2n)‖y−Xw‖² + (alpha/n)/2·‖w‖²``: jaxreg alpha =
  ``alpha / n_samples`` on the half-MSE data term (``n_samples`` an integer ``≥ 1``).
  """
  return _value("alpha", alpha) / _count("n_samples", n_samples)


def from_sklearn_elastic_net(alpha, l1_ratio=1.0):
  """scikit-learn ``ElasticNet/Lasso(alpha, l1_ratio)``: the same ``(alpha, l1_ratio)`` on the half-MSE data term."""
  return _value("alpha", alpha), _value("l1_ratio", l1_ratio, high=1.0)


def from_sklearn_logistic_C(C, n_samples):
  """scikit-learn ``LogisticRegression(C)`` minimizes ``C·Σ logloss + penalty``.

  Divided by ``C·n``: mean log-loss + ``1/(C·n)``·penalty, where the L2 penalty
  is ``½‖w‖²`` (jaxreg's) and the L1 penalty ``‖w‖₁``: jaxreg alpha = ``1/(C·n)``
  (``C > 0``, ``n_samples`` an integer ``≥ 1``).
  """
  return 1.0 / (_value("C", C, low_open=True) * _count("n_samples", n_samples))


def from_glmnet(lambda_, alpha=1.0):
  """glmnet's ``(lambda, alpha)`` → jaxreg's ``(alpha, l1_ratio)`` = ``(lambda, alpha)``."""
  return _value("lambda_", lambda_), _value("alpha", alpha, high=1.0)
