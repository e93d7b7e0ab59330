"""jaxreg: regularization for JAX as pure functions and optax transformations.

Penalties (``params -> scalar``), proximal operators (``params -> params``),
optax gradient transformations, masks, library conventions, dropout as pure
functions of a PRNG key (and flax nnx modules in ``jaxreg.nn``), vectorized
sweeps (``jaxreg.sweep``) and regularization paths (``jaxreg.paths``) — with
every hyperparameter a traced array, so whole sweeps compile to one program.
"""

__version__ = "0.1.0"

from jaxreg import conventions, masks, nn, paths
from jaxreg.dropout import (
    alpha_dropout,
    concrete_dropout,
    concrete_dropout_regularizer,
    drop_connect,
    dropout,
    dropout_mask,
    gaussian_dropout,
    mc_predict,
)
from jaxreg.penalties import elastic_net_penalty, group_lasso_penalty, l1_penalty, l2_penalty
from jaxreg.prox import (
    project_max_norm,
    prox_elastic_net,
    prox_group_lasso,
    prox_l1,
    prox_l2,
)
from jaxreg.sweep import SweepResult, sweep
from jaxreg.transforms import (
    add_elastic_net,
    add_l1,
    add_l2,
    cumulative_l1,
    decoupled_weight_decay,
    max_norm,
    proximal_elastic_net,
    proximal_group_lasso,
    proximal_l1,
)

__all__ = [
    "__version__",
    "add_elastic_net", "add_l1", "add_l2", "conventions", "cumulative_l1",
    "decoupled_weight_decay", "elastic_net_penalty", "group_lasso_penalty",
    "l1_penalty", "l2_penalty", "masks", "max_norm", "nn", "project_max_norm",
    "prox_elastic_net", "prox_group_lasso", "prox_l1", "prox_l2",
    "proximal_elastic_net", "proximal_group_lasso", "proximal_l1",
    "SweepResult", "sweep",
    "alpha_dropout", "concrete_dropout", "concrete_dropout_regularizer", "drop_connect", "dropout",
    "dropout_mask", "gaussian_dropout", "mc_predict",
    "paths",
]
