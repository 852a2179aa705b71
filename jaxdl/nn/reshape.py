"""Shape layers: `flatten` turns (batch, d1, d2, ...) into (batch, d1 * d2 * ...); `reshape`."""

from __future__ import annotations

import math

from jaxdl.nn.layer import Layer, ShapeError, as_shape


def _flatten_init(key, input_shape):
    return {}, {}, (math.prod(as_shape("flatten", input_shape)),)


def _flatten_apply(params, state, x, *, key=None, train=False):
    return x.reshape(x.shape[0], -1), state


flatten = Layer(_flatten_init, _flatten_apply, "flatten", uses_key=False)


def reshape(shape) -> Layer:
    """(batch, *input_shape) -> (batch, *shape); one entry of `shape` may be -1 (inferred).

    Init checks that the sizes agree and names both shapes otherwise.
    """
    target = tuple(int(d) for d in shape)
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise ValueError(f"reshape: shape must hold positive sizes and at most one -1, "
                         f"got {tuple(shape)}")
    name = f"reshape({target})"

    def init(key, input_shape):
        size = math.prod(as_shape(name, input_shape))
        known = math.prod(d for d in target if d != -1)
        out = tuple(size // known if d == -1 else d for d in target)
        if math.prod(out) != size:
            raise ShapeError(f"{name}: cannot reshape inputs of shape {tuple(input_shape)} "
                             f"({size} values) to {target}")
        return {}, {}, out

    def apply(params, state, x, *, key=None, train=False):
        return x.reshape(x.shape[0], *target), state

    return Layer(init, apply, name, uses_key=False)
