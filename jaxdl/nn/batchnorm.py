"""Batch normalization (Ioffe & Szegedy, 2015) with running statistics for evaluation."""

from __future__ import annotations

import jax.numpy as jnp

from jaxdl import initializers
from jaxdl._checks import check_range
from jaxdl.nn.combinators import child_key
from jaxdl.nn.layer import Layer, ShapeError, as_shape, check_input


def batchnorm(momentum=0.9, eps=1e-5, *, gamma_init=initializers.ones,
              beta_init=initializers.zeros) -> Layer:
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, per feature (the last axis).

    Training: mu, var are the batch mean and (biased) variance over every axis but the
    last, so it works on (N, D) and on (N, H, W, C); the running statistics are updated as
    running = momentum * running + (1 - momentum) * batch (CS231n's convention; PyTorch's
    `momentum` is 1 - this one). Evaluation: mu, var are the running statistics.
    Params {"gamma", "beta"} start at 1 and 0; state {"mean", "var"} at 0 and 1.
    """
    check_range("batchnorm", "momentum", momentum, low=0.0, high=1.0, high_open=True)
    check_range("batchnorm", "eps", eps, low=0.0, low_open=True)
    name = "batchnorm"

    def init(key, input_shape):
        shape = as_shape(name, input_shape)
        if not shape:
            raise ShapeError(f"{name}: expected input shape (features,) or (H, W, C), got ()")
        features = shape[-1]
        params = {"gamma": gamma_init(child_key(key, 0), (features,)),
                  "beta": beta_init(child_key(key, 1), (features,))}
        state = {"mean": jnp.zeros((features,)), "var": jnp.ones((features,))}
        return params, state, shape

    def apply(params, state, x, *, key=None, train=False):
        if x.ndim < 2:
            check_input(name, x, (params["gamma"].shape[0],))
        check_input(name, x, (None,) * (x.ndim - 2) + params["gamma"].shape)
        if train:
            axes = tuple(range(x.ndim - 1))
            mean, var = jnp.mean(x, axis=axes), jnp.var(x, axis=axes)
            state = {"mean": momentum * state["mean"] + (1 - momentum) * mean,
                     "var": momentum * state["var"] + (1 - momentum) * var}
        else:
            mean, var = state["mean"], state["var"]
        x_hat = (x - mean) / jnp.sqrt(var + eps)
        return params["gamma"] * x_hat + params["beta"], state

    constant_init = (gamma_init, beta_init) == (initializers.ones, initializers.zeros)
    return Layer(init, apply, name, uses_key=not constant_init)
