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
    """Rectified linear unit g(z) = max(0, z)."""
    return jnp.maximum(z, 0)


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
