"""Backpropagation by hand: the lecture's equations for an MLP, in numpy, as a reference.

For a network `nn.serial(nn.dense(n1), g, nn.dense(n2), g, ..., nn.dense(C))` trained with
`losses.softmax_cross_entropy` (mean over the batch), with h^(0) = x, in the row-vector
layout of `nn.dense` (a = h W + b, W of shape (in, out), the lecture's W transposed):

    forward:   a^(k) = h^(k-1) W^(k) + b^(k);  h^(k) = g(a^(k));  f(x) = softmax(a^(L+1))
    output:    grad a^(L+1) = -(e(y) - f(x))                        (the output gradient)
    for k = L+1 .. 1:
               grad W^(k) = h^(k-1)^T grad a^(k);  grad b^(k) = sum over the batch of grad a^(k)
               grad h^(k-1) = grad a^(k) W^(k)^T                      (the hidden-layer gradient)
               grad a^(k-1) = grad h^(k-1) * g'(a^(k-1))               (element-wise)

with every per-example gradient divided by the batch size N (the loss is a mean). The
closed-form derivatives g' are the lecture's: linear 1, sigmoid g (1 - g), tanh 1 - g^2,
relu 1[a > 0] (0 at a = 0, as `nn.relu`). tests/test_backprop.py checks all of it against
`jax.grad` in float64.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from jaxdl._checks import check_choice

FORWARD: dict[str, Callable] = {
    "linear": lambda a: a,
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0.0),
}
# g'(a) from the pre-activation a and the activation g = g(a)
DERIVATIVE: dict[str, Callable] = {
    "linear": lambda a, g: np.ones_like(a),
    "sigmoid": lambda a, g: g * (1.0 - g),
    "tanh": lambda a, g: 1.0 - g ** 2,
    "relu": lambda a, g: (a > 0).astype(a.dtype),
}


def activation_derivative(name: str, a) -> np.ndarray:
    """g'(a) in closed form (linear 1, sigmoid g(1 - g), tanh 1 - g^2, relu 1[a > 0])."""
    check_choice("activation_derivative", "name", name, tuple(DERIVATIVE))
    a = np.asarray(a, np.float64)
    return DERIVATIVE[name](a, FORWARD[name](a))


class Backprop(NamedTuple):
    """The result of `mlp_backprop`: the mean loss and its gradient, shaped like params."""
    loss: float
    grads: list


def _dense_indices(params) -> list[int]:
    """Positions of the dense layers ({"w", "b"}) in serial params; the rest must be {}."""
    dense = []
    for i, layer in enumerate(params):
        if isinstance(layer, dict) and set(layer) == {"w", "b"}:
            dense.append(i)
        elif not (isinstance(layer, dict) and not layer):
            raise ValueError(f"mlp_backprop: params[{i}] must be a dense layer's {{'w', 'b'}} "
                             f"or a parameter-free activation's {{}}, got keys "
                             f"{sorted(layer) if isinstance(layer, dict) else type(layer)}")
    if not dense:
        raise ValueError("mlp_backprop: params has no dense layer")
    return dense


def mlp_backprop(params, x, y, *, activation: str = "relu") -> Backprop:
    """Loss and gradients of an MLP by the lecture's backpropagation equations (module doc).

    `params`: the params of `nn.serial(dense, g, dense, g, ..., dense)` (a list of
    {"w", "b"} and {} entries); `activation`: the name of g (linear, sigmoid, tanh, relu);
    `x` (N, features); `y` integer class indices (N,). The loss is the mean softmax cross
    entropy. Computed in float64 numpy; the gradients come back in params' structure.
    """
    check_choice("mlp_backprop", "activation", activation, tuple(DERIVATIVE))
    dense = _dense_indices(params)
    weights = [(np.asarray(params[i]["w"], np.float64), np.asarray(params[i]["b"], np.float64))
               for i in dense]
    x = np.asarray(x, np.float64)
    y = np.asarray(y)
    n = x.shape[0]
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"mlp_backprop: y must be integer class indices of shape ({n},), "
                         f"got {y.dtype} {y.shape}")
    g = FORWARD[activation]

    # forward: keep every h^(k-1) (layer inputs) and a^(k) (pre-activations)
    inputs, pre = [], []
    h = x
    for k, (w, b) in enumerate(weights):
        inputs.append(h)
        a = h @ w + b
        pre.append(a)
        h = g(a) if k < len(weights) - 1 else a
    logits = pre[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_f = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_f[np.arange(n), y].mean())

    # backward: output gradient -(e(y) - f(x)), per example, divided by N for the mean
    e_y = np.eye(logits.shape[1])[y]
    grad_a = -(e_y - np.exp(log_f)) / n
    grads = [{} for _ in params]
    for k in range(len(weights) - 1, -1, -1):
        w, _ = weights[k]
        grads[dense[k]] = {"w": inputs[k].T @ grad_a, "b": grad_a.sum(axis=0)}
        if k > 0:
            grad_h = grad_a @ w.T
            a_below = pre[k - 1]
            grad_a = grad_h * DERIVATIVE[activation](a_below, g(a_below))
    return Backprop(loss, grads)
