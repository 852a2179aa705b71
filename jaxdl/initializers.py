"""Weight initializers: each is `init(key, shape, dtype=float32) -> array`.

`zeros` and `ones` are initializers themselves; the others are factories, e.g.
`he_normal()`. Fans follow the flax/keras convention for a weight of shape
(*kernel_spatial, in_features, out_features): a dense (in, out) matrix has fan_in = in,
fan_out = out; a conv kernel (*spatial, in_channels, out_channels) has
fan_in = prod(spatial) * in_channels and fan_out = prod(spatial) * out_channels (each output
unit sees prod(spatial) * in_channels inputs); a 1-D shape has fan_in = fan_out = shape[0].

Names. The lecture's "Xavier initialization" is `randn(fan_in, fan_out) / sqrt(fan_in)`,
i.e. Var = 1/fan_in: jaxdl calls it `lecun_normal` (LeCun 1998). Glorot & Bengio's (2010)
own form averages the fans, Var = 2/(fan_in + fan_out): jaxdl's `xavier_normal` (alias
`glorot_normal`). The lecture's "Xavier-ReLU", `randn / sqrt(fan_in / 2)`, is `he_normal`;
the notes' variants sqrt(1/n[l-1]), sqrt(2/(n[l-1] + n[l])) and sqrt(2/n[l-1]) are
`lecun_normal`, `xavier_normal` and `he_normal`.

Every factory takes `scale`, a multiplier on the drawn values (so the standard deviation
becomes scale * std); `scale` and `std` may be traced arrays, for init-scale sweeps.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxdl._checks import check_choice, check_range

# Std of a standard normal truncated to [-2, 2]; dividing by it restores unit variance.
_TRUNCATED_STD = 0.87962566103423978


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape: (*spatial, in, out) gives
    (prod(spatial) * in, prod(spatial) * out), e.g. a 3x3 conv 16 -> 32 gives (144, 288)."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def zeros(key, shape, dtype=jnp.float32):
    """All zeros (biases; never for weights: every unit would stay identical)."""
    del key
    return jnp.zeros(shape, dtype)


def ones(key, shape, dtype=jnp.float32):
    """All ones (batch-norm scale gamma)."""
    del key
    return jnp.ones(shape, dtype)


def constant(value, scale=1.0):
    """Every entry equal to scale * value."""
    def init(key, shape, dtype=jnp.float32):
        del key
        return jnp.full(shape, scale * jnp.asarray(value, dtype), dtype)
    return init


def normal(std=0.01, scale=1.0):
    """w ~ N(0, (scale * std)^2); the classic `0.01 * randn` with the defaults."""
    check_range("normal", "std", std, low=0.0)

    def init(key, shape, dtype=jnp.float32):
        return scale * std * jax.random.normal(key, shape, dtype)
    return init


def truncated_normal(std=0.01, scale=1.0, *, rescale=True):
    """N(0, s^2) cut at +-2 s, s = scale * std.

    rescale=True (default): s is first divided by 0.8796 so the kept values have std exactly
    scale * std (flax/keras). rescale=False: TF1's `tf.truncated_normal(stddev=s)` (the
    tutorial's MNIST recipe), which redraws values beyond 2 s and does not rescale, so the
    actual std is 0.8796 * s and every |w| <= 2 s.
    """
    check_range("truncated_normal", "std", std, low=0.0)
    if not isinstance(rescale, bool):
        raise TypeError(f"truncated_normal: rescale must be True or False, got {rescale!r}")
    divisor = _TRUNCATED_STD if rescale else 1.0

    def init(key, shape, dtype=jnp.float32):
        draw = jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)
        return scale * std / divisor * draw
    return init


def uniform(low=-0.05, high=0.05, scale=1.0):
    """w ~ scale * U(low, high)."""
    if all(isinstance(v, (int, float)) for v in (low, high)) and not low < high:
        raise ValueError(f"uniform: need low < high, got low={low}, high={high}")

    def init(key, shape, dtype=jnp.float32):
        return scale * jax.random.uniform(key, shape, dtype, low, high)
    return init


def variance_scaling(variance_numerator, mode, distribution, scale=1.0):
    """Var(w) = variance_numerator / n with n = fan_in, fan_out or (fan_in + fan_out) / 2.

    `distribution` "normal": N(0, Var); "uniform": U(-sqrt(3 Var), sqrt(3 Var)), which has
    the same variance; "truncated_normal": truncated at +-2 std and rescaled to Var.
    The named initializers below are all this function.
    """
    check_choice("variance_scaling", "mode", mode, ("fan_in", "fan_out", "fan_avg"))
    check_choice("variance_scaling", "distribution", distribution,
                 ("normal", "uniform", "truncated_normal"))

    def init(key, shape, dtype=jnp.float32):
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        std = math.sqrt(variance_numerator / n)
        if distribution == "normal":
            draw = jax.random.normal(key, shape, dtype)
        elif distribution == "uniform":
            draw = jax.random.uniform(key, shape, dtype, -math.sqrt(3.0), math.sqrt(3.0))
        else:
            draw = jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) / _TRUNCATED_STD
        return scale * std * draw
    return init


def xavier_normal(scale=1.0):
    """Glorot & Bengio (2010): w ~ N(0, 2 / (fan_in + fan_out))."""
    return variance_scaling(1.0, "fan_avg", "normal", scale)


def xavier_uniform(scale=1.0):
    """Glorot & Bengio (2010): w ~ U(-b, b), b = sqrt(6 / (fan_in + fan_out))."""
    return variance_scaling(1.0, "fan_avg", "uniform", scale)


def lecun_normal(scale=1.0):
    """LeCun (1998): w ~ N(0, 1 / fan_in); keeps unit variance through linear/tanh layers."""
    return variance_scaling(1.0, "fan_in", "normal", scale)


def lecun_uniform(scale=1.0):
    """LeCun (1998): w ~ U(-b, b), b = sqrt(3 / fan_in)."""
    return variance_scaling(1.0, "fan_in", "uniform", scale)


def he_normal(scale=1.0):
    """He et al. (2015): w ~ N(0, 2 / fan_in); the factor 2 compensates ReLU halving."""
    return variance_scaling(2.0, "fan_in", "normal", scale)


def he_uniform(scale=1.0):
    """He et al. (2015): w ~ U(-b, b), b = sqrt(6 / fan_in)."""
    return variance_scaling(2.0, "fan_in", "uniform", scale)


glorot_normal = xavier_normal
glorot_uniform = xavier_uniform

BY_NAME = {
    "zeros": lambda: zeros, "normal": normal, "truncated_normal": truncated_normal,
    "uniform": uniform, "xavier_normal": xavier_normal, "xavier_uniform": xavier_uniform,
    "glorot_normal": glorot_normal, "glorot_uniform": glorot_uniform,
    "lecun_normal": lecun_normal, "lecun_uniform": lecun_uniform,
    "he_normal": he_normal, "he_uniform": he_uniform,
}


def get(name: str):
    """The initializer factory called `name` (for configs and the command line)."""
    check_choice("initializers.get", "name", name, tuple(BY_NAME))
    return BY_NAME[name]
