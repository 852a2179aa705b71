"""Pooling over the spatial axes of channels-last inputs (NWC, NHWC, NDHWC).

`max_pool` and `avg_pool` slide a window over each channel separately (the course's
pooling layers: no parameters, they shrink the feature maps); `global_avg_pool` and
`global_max_pool` reduce every spatial axis, (batch, *spatial, C) -> (batch, C).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl.nn.conv import as_tuple, check_output, check_padding, explicit_padding, spatial_rank
from jaxdl.nn.layer import Layer, ShapeError, as_shape


def _pool(kind: str, window, strides, padding) -> Layer:
    window = as_tuple(kind, "window", window)
    strides = window if strides is None else as_tuple(kind, "strides", strides)
    padding = check_padding(kind, padding)
    name = f"{kind}({'x'.join(map(str, window))})"

    def configuration(shape):
        rank = spatial_rank(name, shape, window, strides)
        try:
            pads = explicit_padding(padding, rank)
        except ShapeError as error:
            raise ShapeError(f"{name}: {error}") from None
        full_window = (1, *as_tuple(name, "window", window, rank), 1)
        full_strides = (1, *as_tuple(name, "strides", strides, rank), 1)
        if isinstance(pads, str):
            pads = lax.padtype_to_pads(shape, full_window[1:], full_strides[1:], pads)[:-1]
        return full_window, full_strides, ((0, 0), *pads, (0, 0))

    def pool(x):
        full_window, full_strides, pads = configuration(tuple(x.shape[1:]))
        if kind == "max_pool":
            return lax.reduce_window(x, -jnp.inf, lax.max, full_window, full_strides, pads)
        total = lax.reduce_window(x, 0.0, lax.add, full_window, full_strides, pads)
        # divide by the number of real (unpadded) entries under each window
        ones = jnp.ones((1, *x.shape[1:-1], 1), x.dtype)
        count = lax.reduce_window(ones, 0.0, lax.add, full_window, full_strides, pads)
        return total / count

    def init(key, input_shape):
        shape = as_shape(name, input_shape)
        configuration(shape)
        out = jax.eval_shape(pool, jax.ShapeDtypeStruct((1, *shape), jnp.float32)).shape[1:]
        return {}, {}, check_output(name, shape, tuple(out))

    def apply(params, state, x, *, key=None, train=False):
        if x.ndim < 3:
            raise ShapeError(f"{name}: expected input of shape (batch, *spatial, channels), "
                             f"got {tuple(x.shape)}")
        return pool(x), state

    return Layer(init, apply, name, uses_key=False)


def max_pool(window, strides=None, padding="VALID") -> Layer:
    """y[p, c] = max of x[c] over the window at p * strides (each channel separately).

    `window`, `strides` (default: the window, non-overlapping): an int or one int per
    spatial axis; `padding` as in `conv` ("VALID" by default); padded entries are -inf and
    never win.
    """
    return _pool("max_pool", window, strides, padding)


def avg_pool(window, strides=None, padding="VALID") -> Layer:
    """y[p, c] = mean of x[c] over the window at p * strides (each channel separately).

    Arguments as in `max_pool`. With padding the mean is over the real entries under the
    window only (padded zeros are not counted, as TensorFlow's "SAME" average pooling).
    """
    return _pool("avg_pool", window, strides, padding)


def _global(kind: str, reduce) -> Layer:
    def init(key, input_shape):
        shape = as_shape(kind, input_shape)
        spatial_rank(kind, shape)
        return {}, {}, shape[-1:]

    def apply(params, state, x, *, key=None, train=False):
        if x.ndim < 3:
            raise ShapeError(f"{kind}: expected input of shape (batch, *spatial, channels), "
                             f"got {tuple(x.shape)}")
        return reduce(x, axis=tuple(range(1, x.ndim - 1))), state

    return Layer(init, apply, kind, uses_key=False)


global_avg_pool = _global("global_avg_pool", jnp.mean)
global_max_pool = _global("global_max_pool", jnp.max)
