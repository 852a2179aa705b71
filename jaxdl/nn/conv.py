"""Convolution over 1-D, 2-D and 3-D channels-last inputs (NWC, NHWC, NDHWC).

`conv` shares one kernel across every position (LeCun et al., 1998): output channel o at
position p is y[p, o] = b[o] + sum_{k, i} x[p * stride + k * dilation - pad_lo, i] w[k, i, o],
computed by `lax.conv_general_dilated`. The kernel has shape (*kernel_size,
in_channels // groups, features), the layout `initializers.fans` reads, so fan_in =
prod(kernel_size) * in_channels / groups. The helpers here also define the window, stride
and padding arguments of `pooling`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl import initializers
from jaxdl._checks import check_positive_int
from jaxdl.nn.layer import Layer, ShapeError, as_shape, check_input

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def as_tuple(where: str, name: str, value, rank: int | None = None) -> tuple[int, ...]:
    """An int or a sequence of ints (each >= 1) as a tuple; an int is repeated `rank` times
    (kept as a 1-tuple while the rank is unknown, see `spatial_rank`)."""
    values = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(f"{where}: {name} must be an int or a tuple of ints, "
                        f"got {value!r}") from None
    if not values:
        raise ValueError(f"{where}: {name} must not be empty")
    values = tuple(check_positive_int(where, name, v) for v in values)
    if rank is not None and len(values) == 1:
        values = values * rank
    return values


def check_padding(where: str, padding):
    """"SAME", "VALID", an int p (p on both sides of every spatial axis), a sequence of ints
    (one per axis, both sides) or a sequence of (low, high) pairs; returned normalized."""
    if isinstance(padding, str):
        upper = padding.upper()
        if upper not in ("SAME", "VALID"):
            raise ValueError(f"{where}: padding must be 'SAME', 'VALID', an int or a sequence of "
                             f"(low, high) pairs, got {padding!r}")
        return upper
    if isinstance(padding, int) and not isinstance(padding, bool):
        return check_positive_int(where, "padding", padding, minimum=0)
    try:
        items = tuple(padding)
    except TypeError:
        raise TypeError(f"{where}: padding must be 'SAME', 'VALID', an int or a sequence of "
                        f"(low, high) pairs, got {padding!r}") from None
    pairs = []
    for item in items:
        pair = (item, item) if isinstance(item, int) else tuple(item)
        if len(pair) != 2:
            raise ValueError(f"{where}: padding entries must be ints or (low, high) pairs, "
                             f"got {item!r}")
        pairs.append(tuple(check_positive_int(where, "padding", p, minimum=0) for p in pair))
    if not pairs:
        raise ValueError(f"{where}: padding must not be empty")
    return tuple(pairs)


def spatial_rank(name: str, shape: tuple, *arguments: tuple) -> int:
    """The number of spatial axes of an input of `shape` (spatial..., channels), checked
    against the length of every tuple argument longer than 1."""
    rank = len(shape) - 1
    if rank not in SPATIAL:
        raise ShapeError(f"{name}: expected input shape (W, C), (H, W, C) or (D, H, W, C) "
                         f"(channels last), got {shape}")
    for argument in arguments:
        if len(argument) not in (1, rank):
            raise ShapeError(f"{name}: {len(argument)} spatial sizes {argument} for an input "
                             f"with {rank} spatial axes, shape {shape}")
    return rank


def explicit_padding(padding, rank: int):
    """Padding for lax: the string itself or one (low, high) pair per spatial axis."""
    if isinstance(padding, str):
        return padding
    if isinstance(padding, int):
        return ((padding, padding),) * rank
    if len(padding) == 1:
        return padding * rank
    if len(padding) != rank:
        raise ShapeError(f"padding has {len(padding)} entries for {rank} spatial axes")
    return padding


def check_output(name: str, input_shape: tuple, output_shape: tuple) -> tuple:
    if any(d <= 0 for d in output_shape):
        raise ShapeError(f"{name}: input shape {input_shape} gives an empty output "
                         f"{output_shape}; use a smaller window or more padding")
    return output_shape


def _label(sizes: tuple) -> str:
    return "x".join(map(str, sizes))


def conv(features: int, kernel_size, *, strides=1, padding="SAME", dilation=1, groups: int = 1,
         w_init=None, b_init=initializers.zeros, use_bias: bool = True) -> Layer:
    """Convolution y = x * w + b over the spatial axes of a channels-last input.

    `kernel_size`, `strides`, `dilation`: an int (every spatial axis) or one int per axis;
    a tuple fixes the number of spatial axes, an int takes it from the input shape (1-D
    (W, C), 2-D (H, W, C), 3-D (D, H, W, C)). `padding`: "SAME" (output size
    ceil(size / stride)), "VALID" (no padding), an int, or per-axis ints or (low, high) pairs.
    `groups` splits the channels into independent groups (groups = in_channels is a
    depthwise convolution). `w_init` defaults to LeCun normal, Var(w) = 1 / fan_in.
    Params {"w": (*kernel_size, in // groups, features), "b": (features,)} ("b" only with
    `use_bias`).
    """
    features = check_positive_int("conv", "features", features)
    kernel = as_tuple("conv", "kernel_size", kernel_size)
    strides = as_tuple("conv", "strides", strides)
    dilation = as_tuple("conv", "dilation", dilation)
    padding = check_padding("conv", padding)
    groups = check_positive_int("conv", "groups", groups)
    w_init = initializers.lecun_normal() if w_init is None else w_init
    name = f"conv({features}, {_label(kernel)})"
    if features % groups:
        raise ValueError(f"{name}: features ({features}) must be divisible by groups ({groups})")

    def configuration(shape):
        rank = spatial_rank(name, shape, kernel, strides, dilation)
        try:
            pads = explicit_padding(padding, rank)
        except ShapeError as error:
            raise ShapeError(f"{name}: {error}") from None
        return (rank, as_tuple(name, "kernel_size", kernel, rank),
                as_tuple(name, "strides", strides, rank),
                as_tuple(name, "dilation", dilation, rank), pads)

    def convolve(x, w, rank, window_strides, pads, rhs_dilation):
        spatial = SPATIAL[rank]
        dtype = jnp.result_type(x, w)
        return lax.conv_general_dilated(
            x.astype(dtype), w.astype(dtype), window_strides, pads,
            rhs_dilation=rhs_dilation, feature_group_count=groups,
            dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"))

    def init(key, input_shape):
        shape = as_shape(name, input_shape)
        rank, kernel_shape, window_strides, rhs_dilation, pads = configuration(shape)
        channels = shape[-1]
        if channels % groups:
            raise ShapeError(f"{name}: input channels ({channels}) of shape {shape} must be "
                             f"divisible by groups ({groups})")
        w_shape = (*kernel_shape, channels // groups, features)
        out = jax.eval_shape(
            lambda x, w: convolve(x, w, rank, window_strides, pads, rhs_dilation),
            jax.ShapeDtypeStruct((1, *shape), jnp.float32),
            jax.ShapeDtypeStruct(w_shape, jnp.float32))
        out_shape = check_output(name, shape, tuple(out.shape[1:]))
        params = {"w": w_init(jax.random.fold_in(key, 0), w_shape)}
        if use_bias:
            params["b"] = b_init(jax.random.fold_in(key, 1), (features,))
        return params, {}, out_shape

    def apply(params, state, x, *, key=None, train=False):
        w = params["w"]
        rank = w.ndim - 2
        check_input(name, x, (None,) * rank + (w.shape[-2] * groups,))
        _, _, window_strides, rhs_dilation, pads = configuration(tuple(x.shape[1:]))
        y = convolve(x, w, rank, window_strides, pads, rhs_dilation)
        if use_bias:
            y = y + params["b"]
        return y, state

    return Layer(init, apply, name)

