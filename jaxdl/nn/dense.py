"""Affine layers: `dense` (y = x W + b) and `maxout` (y = max_j (x W_j + b_j))."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl import initializers
from jaxdl._checks import check_positive_int
from jaxdl.nn.layer import Layer, ShapeError, as_shape, check_input


def _check_flat(name: str, input_shape) -> int:
    shape = as_shape(name, input_shape)
    if len(shape) != 1:
        raise ShapeError(f"{name}: expected input shape (features,), got {shape}; "
                         "put nn.flatten before it")
    return shape[0]


def _check_sequence(name: str, input_shape) -> tuple[int, ...]:
    """An input shape (features,) or (steps, features); an image (H, W, C) needs nn.flatten
    (or a global pooling) first."""
    shape = as_shape(name, input_shape)
    if len(shape) > 2:
        raise ShapeError(f"{name}: expected input shape (features,) or (steps, features), got "
                         f"{shape}; put nn.flatten (or nn.global_avg_pool) before it")
    return shape


def dense(units: int, *, w_init=None, b_init=initializers.zeros,
          use_bias: bool = True) -> Layer:
    """Affine map y = x W + b with W of shape (in, units), b of shape (units,) (no b when
    `use_bias` is False, e.g. before batch norm, whose beta takes its place).

    It acts on the last axis: input (batch, in) or (batch, steps, in), the same W at every
    step (as flax and equinox). `w_init` defaults to LeCun normal (variance 1/fan_in); use
    `initializers.he_normal()` before ReLU and `initializers.xavier_normal()` before tanh.
    """
    units = check_positive_int("dense", "units", units)
    w_init = initializers.lecun_normal() if w_init is None else w_init
    name = f"dense({units})"

    def init(key, input_shape):
        shape = _check_sequence(name, input_shape)
        params = {"w": w_init(jax.random.fold_in(key, 0), (shape[-1], units))}
        if use_bias:
            params["b"] = b_init(jax.random.fold_in(key, 1), (units,))
        return params, {}, (*shape[:-1], units)

    def apply(params, state, x, *, key=None, train=False):
        steps = (None,) if x.ndim == 3 else ()
        check_input(name, x, steps + params["w"].shape[:1])
        y = x @ params["w"]
        return (y + params["b"] if use_bias else y), state

    return Layer(init, apply, name)


def maxout(units: int, k: int = 2, *, w_init=None, b_init=initializers.zeros) -> Layer:
    """Maxout (Goodfellow et al., 2013): k affine pieces, y = max_j (x W_j + b_j).

    Piece j is a `dense(units)` initialized with key fold_in(key, j); the params stack
    them: W of shape (k, in, units), b of shape (k, units).
    """
    units = check_positive_int("maxout", "units", units)
    k = check_positive_int("maxout", "k", k)
    piece = dense(units, w_init=w_init, b_init=b_init)
    name = f"maxout({units}, k={k})"

    def init(key, input_shape):
        _check_flat(name, input_shape)
        params = jax.vmap(lambda j: piece.init(jax.random.fold_in(key, j), input_shape)[0])(
            jnp.arange(k))
        return params, {}, (units,)

    def apply(params, state, x, *, key=None, train=False):
        check_input(name, x, params["w"].shape[1:2])
        pieces = jnp.einsum("nd,kdu->nku", x, params["w"]) + params["b"]
        return jnp.max(pieces, axis=1), state

    return Layer(init, apply, name)
