"""Shape layers: `flatten` turns (batch, d1, d2, ...) into (batch, d1 * d2 * ...)."""

from __future__ import annotations

import math

from jaxdl.nn.layer import Layer, as_shape


def _flatten_init(key, input_shape):
    return {}, {}, (math.prod(as_shape("flatten", input_shape)),)


def _flatten_apply(params, state, x, *, key=None, train=False):
    return x.reshape(x.shape[0], -1), state


flatten = Layer(_flatten_init, _flatten_apply, "flatten", uses_key=False)
