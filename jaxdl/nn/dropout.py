"""Inverted dropout (Srivastava et al., 2014; the "inverted" scaling of CS231n)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl._checks import check_range
from jaxdl.nn.layer import Layer, as_shape


def dropout(keep_prob=0.5) -> Layer:
    """Training: y = x * m / keep_prob with m ~ Bernoulli(keep_prob); eval: y = x.

    Scaling by 1/keep_prob at training time keeps E[y] = x, so evaluation needs no
    rescaling. `keep_prob` must lie in (0, 1] and may be a traced array (sweeps).
    Training mode needs `key=`; the mask is drawn from that key alone.
    """
    check_range("dropout", "keep_prob", keep_prob, low=0.0, high=1.0, low_open=True)
    name = f"dropout(keep_prob={keep_prob:g})" if isinstance(keep_prob, float) else "dropout"

    def init(key, input_shape):
        return {}, {}, as_shape(name, input_shape)

    def apply(params, state, x, *, key=None, train=False):
        if not train:
            return x, state
        if key is None:
            raise ValueError(f"{name}: training mode draws a random mask and needs a PRNG "
                             "key; call apply(..., key=key, train=True)")
        keep = jax.random.bernoulli(key, keep_prob, x.shape)
        return jnp.where(keep, x / keep_prob, jnp.zeros_like(x)), state

    return Layer(init, apply, name)
