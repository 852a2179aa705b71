"""Proximal L1 (soft-threshold) step: the L1 penalty that produces exact zeros.

A subgradient step on lam * |w| moves a weight by lr * lam * sign(w) and so jumps over 0
instead of landing on it. The proximal gradient step (ISTA) for loss + lam * ||w||_1 is

    w_new = prox(w - lr * g) = sign(w - lr * g) * max(|w - lr * g| - lr * lam, 0),

which sets every |w - lr * g| <= lr * lam to exactly 0. `proximal_l1` applies the
soft-threshold after an optimizer: its incoming update u is the optimizer's step (for
`sgd(lr)`, u = -lr * g, so w + u = w - lr * g), and it returns the update
prox(w + u) - w, so `optax.apply_updates` lands on prox(w + u) (w + (-w) is exactly 0).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl._checks import check_range
from jaxdl.nn.layer import weights_only
from jaxdl.optim.transforms import ScalarOrSchedule, _check_lr, _increment, _lr_at, _start


class ProximalL1State(NamedTuple):
    """State of `proximal_l1`."""
    count: jax.Array  # int32 scalar: updates done so far (the schedule's step)
    lr: jax.Array     # learning rate of the most recent update (at init: of step 0)


def proximal_l1(lam, lr: ScalarOrSchedule, *, mask=weights_only
                ) -> optax.GradientTransformation:
    """Soft-threshold after the optimizer: w <- sign(w + u) * max(|w + u| - lr * lam, 0).

    Use it last in a chain, with the optimizer's own learning rate (number or the same
    schedule), in place of `regularizers.l1(lam)`:

        opt = optax.chain(optim.sgd(lr), optim.proximal_l1(lam, lr))

    With `sgd` this is exactly the proximal gradient step of loss + lam * ||w||_1 (ISTA);
    after momentum or Adam it soft-thresholds their step with the threshold lr * lam, a
    common heuristic, not the exact proximal step in their metric. `lam` >= 0 (number,
    array or tracer). `mask`: a function `params -> pytree of bools` choosing the
    thresholded leaves (default `weights_only`, as `regularizers.l1`). Needs `params` in
    `update`.
    """
    check_range("proximal_l1", "lam", lam, low=0.0)
    _check_lr("proximal_l1", lr)

    def init(params):
        del params
        return ProximalL1State(*_start(lr))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("proximal_l1: update needs params "
                             "(call update(updates, state, params))")
        lr_t = _lr_at(lr, state.count)

        def prox(u, w, keep):
            if isinstance(keep, (bool, np.bool_)) and not keep:  # static: costs nothing
                return u
            z = w + u
            shrunk = jnp.sign(z) * jnp.maximum(jnp.abs(z) - lr_t * lam, 0)
            return jnp.where(keep, shrunk - w, u).astype(u.dtype)

        steps = jax.tree.map(prox, updates, params, mask(params))
        return steps, ProximalL1State(_increment(state.count), lr_t)

    return optax.GradientTransformation(init, update)
