"""Inverted dropout (Srivastava et al., 2014; the "inverted" scaling of CS231n)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl._checks import check_range
from jaxdl.nn.layer import Layer, as_shape


def dropout(keep_prob=0.5, *, per_channel: bool = False) -> Layer:
    """Training: y = x * m / keep_prob with m ~ Bernoulli(keep_prob); eval: y = x.

    Scaling by 1/keep_prob at training time keeps E[y] = x, so evaluation needs no
    rescaling. `keep_prob` must lie in (0, 1] and may be a traced array (sweeps).
    `per_channel=True` drops whole feature maps: one draw per example and channel (the
    last axis), shared by every position of a (batch, *spatial, C) input (Tompson et al.,
    2015, spatial dropout: neighbouring pixels are too correlated for per-entry masks).
    Training mode needs `key=`; the mask is drawn from that key alone.
    """
    check_range("dropout", "keep_prob", keep_prob, low=0.0, high=1.0, low_open=True)
    if not isinstance(per_channel, bool):
        raise TypeError(f"dropout: per_channel must be True or False, got {per_channel!r}")
    shown = f"keep_prob={keep_prob:g}" if isinstance(keep_prob, float) else ""
    shown = ", ".join(filter(None, [shown, "per_channel=True" if per_channel else ""]))
    name = f"dropout({shown})" if shown else "dropout"

    def init(key, input_shape):
        return {}, {}, as_shape(name, input_shape)

    def apply(params, state, x, *, key=None, train=False):
        if not train:
            return x, state
        if key is None:
            raise ValueError(f"{name}: training mode draws a random mask and needs a PRNG "
                             "key; call apply(..., key=key, train=True)")
        shape = (x.shape[0], *(1,) * (x.ndim - 2), x.shape[-1]) if per_channel and x.ndim > 2 \
            else x.shape
        keep = jax.random.bernoulli(key, keep_prob, shape)
        return jnp.where(keep, x / keep_prob, jnp.zeros_like(x)), state

    return Layer(init, apply, name, init_uses_key=False)
