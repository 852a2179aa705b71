"""Activation functions as plain array functions (the layers in `activations` wrap them)."""

from __future__ import annotations

import jax.numpy as jnp


def linear(z):
    """Identity g(z) = z."""
    return z


def sigmoid(z):
    """Logistic g(z) = 1 / (1 + e^-z), computed as (1 + tanh(z/2)) / 2: no overflow."""
    return 0.5 * (1.0 + jnp.tanh(0.5 * z))


def tanh(z):
    """g(z) = (e^z - e^-z) / (e^z + e^-z) = 2 sigmoid(2z) - 1."""
    return jnp.tanh(z)


def relu(z):
    """Rectified linear unit g(z) = max(0, z), with derivative 1[z > 0]: 0 at z = 0.

    The subgradient at 0 is 0, as `jax.nn.relu` (`jnp.maximum(z, 0)` would split the tie and
    give 0.5). The tutorial's `relu_backward` (`dx[x < 0] = 0`) passes the gradient at 0,
    i.e. uses 1; any value in [0, 1] is a valid subgradient.
    """
    return jnp.where(z > 0, z, jnp.zeros_like(z))


def step(z):
    """Heaviside step g(z) = 1 if z >= 0 else 0 (the lecture's perceptron / McCulloch-Pitts
    threshold unit); its derivative is 0 everywhere autodiff sees it."""
    return jnp.where(z >= 0, jnp.ones_like(z), jnp.zeros_like(z))


def sign(z):
    """g(z) = 1[z > 0] - 1[z < 0] (so sign(0) = 0, the lecture's definition); derivative 0."""
    return jnp.sign(z)


def leaky_relu(z, alpha=0.01):
    """g(z) = z for z > 0, alpha * z otherwise."""
    return jnp.where(z > 0, z, alpha * z)


def log_softmax(z, axis=-1):
    """log softmax(z) = (z - max z) - log sum exp(z - max z); stable for any |z|."""
    shifted = z - jnp.max(z, axis=axis, keepdims=True)
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))


def softmax(z, axis=-1):
    """softmax(z)_i = e^(z_i - max z) / sum_j e^(z_j - max z); subtracting the max avoids overflow."""
    e = jnp.exp(z - jnp.max(z, axis=axis, keepdims=True))
    return e / jnp.sum(e, axis=axis, keepdims=True)
