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


def dense(units: int, *, w_init=None, b_init=initializers.zeros) -> Layer:
    """Affine map y = x W + b with W of shape (in, units), b of shape (units,).

    `w_init` defaults to LeCun normal (variance 1/fan_in); use `initializers.he_normal()`
    before ReLU and `initializers.xavier_normal()` before tanh.
    """
    units = check_positive_int("dense", "units", units)
    w_init = initializers.lecun_normal() if w_init is None else w_init
    name = f"dense({units})"

    def init(key, input_shape):
        fan_in = _check_flat(name, input_shape)
        w_key, b_key = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
        params = {"w": w_init(w_key, (fan_in, units)), "b": b_init(b_key, (units,))}
        return params, {}, (units,)

    def apply(params, state, x, *, key=None, train=False):
        check_input(name, x, params["w"].shape[:1])
        return x @ params["w"] + params["b"], state

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
