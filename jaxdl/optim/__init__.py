"""Hand-written optimizers (optax gradient transformations) and learning-rate schedules.

    opt = optim.adam(optim.schedules.exponential(1e-3, rate=0.95, every=1000))
    opt = optax.chain(optim.clip_by_global_norm(5.0), opt)    # mixes freely with optax
    optim.learning_rate(opt_state)                            # lr of the latest update

See `jaxdl.optim.transforms` for the rules, their optax twins and the conventions.
"""

from jaxdl.optim import schedules
from jaxdl.optim.proximal import ProximalL1State, proximal_l1
from jaxdl.optim.transforms import (
    AdagradState,
    AdamState,
    MomentumState,
    RmspropState,
    SgdState,
    adagrad,
    adam,
    chain,
    clip_by_global_norm,
    learning_rate,
    momentum,
    nesterov,
    rmsprop,
    sgd,
    weight_decay,
)

__all__ = [
    "schedules", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
    "clip_by_global_norm", "weight_decay", "proximal_l1", "chain", "learning_rate",
    "SgdState", "MomentumState", "AdagradState", "RmspropState", "AdamState", "ProximalL1State",
]
