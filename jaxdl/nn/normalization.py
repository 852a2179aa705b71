"""Layer normalization (Ba, Kiros & Hinton, 2016): batch-independent, the same in training
and evaluation, so it needs no running statistics (recurrent and small-batch models)."""

from __future__ import annotations

import jax.numpy as jnp

from jaxdl import initializers
from jaxdl._checks import check_range
from jaxdl.nn.combinators import child_key
from jaxdl.nn.layer import Layer, ShapeError, as_shape, check_input


def layernorm(eps=1e-5, *, gamma_init=initializers.ones, beta_init=initializers.zeros) -> Layer:
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, mu and var over the last axis.

    Each example (and each position of a sequence or feature map) is normalized over its
    own features, so the output does not depend on the rest of the batch. Params
    {"gamma", "beta"} of shape (features,) start at 1 and 0 (the names batch norm uses).
    """
    check_range("layernorm", "eps", eps, low=0.0, low_open=True)
    name = "layernorm"

    def init(key, input_shape):
        shape = as_shape(name, input_shape)
        if not shape:
            raise ShapeError(f"{name}: expected input shape (..., features), got ()")
        params = {"gamma": gamma_init(child_key(key, 0), shape[-1:]),
                  "beta": beta_init(child_key(key, 1), shape[-1:])}
        return params, {}, shape

    def apply(params, state, x, *, key=None, train=False):
        check_input(name, x, (None,) * max(x.ndim - 2, 0) + params["gamma"].shape)
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.var(x, axis=-1, keepdims=True)
        x_hat = (x - mean) / jnp.sqrt(var + eps)
        return params["gamma"] * x_hat + params["beta"], state

    constant_init = (gamma_init, beta_init) == (initializers.ones, initializers.zeros)
    return Layer(init, apply, name, uses_key=not constant_init)
