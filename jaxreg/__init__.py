"""jaxreg: regularization for JAX as pure functions and optax transformations.

Penalties (``params -> scalar``), proximal operators (``params -> params``),
optax gradient transformations, masks, library conventions, dropout as pure
functions of a PRNG key (and flax nnx modules in :mod:`jaxreg.nn`), vectorized
sweeps (:func:`jaxreg.sweep`) and regularization paths (:mod:`jaxreg.paths`) —
with every hyperparameter a traced array, so whole sweeps compile to one
program.

The public API is this flat namespace plus the submodules users import by name:
:mod:`jaxreg.masks`, :mod:`jaxreg.conventions`, :mod:`jaxreg.paths` and
:mod:`jaxreg.nn` (flax; imported only when first used).
"""

__version__ = "0.1.0"

from jaxreg import conventions, masks, paths
from jaxreg._dropout import (
    alpha_dropout,
    concrete_dropout,
    concrete_dropout_regularizer,
    drop_connect,
    dropout,
    dropout_mask,
    gaussian_dropout,
    mc_predict,
)
from jaxreg._penalties import elastic_net_penalty, group_lasso_penalty, l1_penalty, l2_penalty
from jaxreg._prox import project_max_norm, prox_elastic_net, prox_group_lasso, prox_l1, prox_l2
from jaxreg._sweep import (
    Configs,
    SweepResult,
    choice,
    configs,
    loguniform,
    sample,
    sweep,
    uniform,
    use_cpu_devices,
)
from jaxreg._sweep._halving import HalvingResult, HyperbandResult, hyperband, successive_halving
from jaxreg._sweep._pbt import PBTResult, pbt
from jaxreg._transforms import (
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
    "HalvingResult", "HyperbandResult", "PBTResult", "hyperband", "pbt", "successive_halving",
    "Configs", "choice", "configs", "loguniform", "sample", "uniform", "use_cpu_devices",
    "alpha_dropout", "concrete_dropout", "concrete_dropout_regularizer", "drop_connect", "dropout",
    "dropout_mask", "gaussian_dropout", "mc_predict",
    "paths",
]


def __getattr__(name):
  # jaxreg.nn needs flax: import it on first use, so `import jaxreg` stays free of flax.
  if name == "nn":
    import importlib
    return importlib.import_module("jaxreg.nn")
  raise AttributeError(f"module 'jaxreg' has no attribute {name!r}")
