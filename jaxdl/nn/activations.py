"""Activation layers: parameter-free, shape-preserving, deterministic.

`linear, sigmoid, tanh, relu, step, sign, softmax` are layers; `leaky_relu(alpha)` builds
one. `step` (Heaviside) and `sign` are the classic threshold units: their gradient is 0, so
they are for forward-only models (perceptrons, binary codes), not for gradient training.
"""

from __future__ import annotations

from typing import Callable

from jaxdl._checks import check_choice
from jaxdl.nn import functional
from jaxdl.nn.layer import Layer, as_shape


def elementwise(name: str, fn: Callable) -> Layer:
    """A parameter-free layer computing y = fn(x) (any input shape)."""

    def init(key, input_shape):
        return {}, {}, as_shape(name, input_shape)

    def apply(params, state, x, *, key=None, train=False):
        return fn(x), state

    return Layer(init, apply, name, uses_key=False)


linear = elementwise("linear", functional.linear)
sigmoid = elementwise("sigmoid", functional.sigmoid)
tanh = elementwise("tanh", functional.tanh)
relu = elementwise("relu", functional.relu)
step = elementwise("step", functional.step)
sign = elementwise("sign", functional.sign)
softmax = elementwise("softmax", functional.softmax)
log_softmax = elementwise("log_softmax", functional.log_softmax)


def leaky_relu(alpha=0.01) -> Layer:
    """Leaky ReLU layer: y = x for x > 0, alpha * x otherwise (alpha may be traced)."""
    name = f"leaky_relu({alpha:g})" if isinstance(alpha, float) else "leaky_relu"
    return elementwise(name, lambda x: functional.leaky_relu(x, alpha))


BY_NAME = {"linear": linear, "sigmoid": sigmoid, "tanh": tanh, "relu": relu,
           "leaky_relu": leaky_relu(), "step": step, "sign": sign}


def get(name: str) -> Layer:
    """The activation layer called `name` (for configs and the command line)."""
    check_choice("activations.get", "name", name, tuple(BY_NAME))
    return BY_NAME[name]
