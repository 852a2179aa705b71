"""Pure functional layers: `(init, apply)` pairs, combinators and the layer zoo."""

from jaxdl.nn import functional
from jaxdl.nn.activations import leaky_relu, linear, log_softmax, relu, sigmoid, softmax, tanh
from jaxdl.nn.activations import sign, step
from jaxdl.nn.activations import get as activation
from jaxdl.nn.batchnorm import batchnorm
from jaxdl.nn.combinators import parallel, residual, serial
from jaxdl.nn.dense import dense, maxout
from jaxdl.nn.dropout import dropout
from jaxdl.nn.layer import Layer, ShapeError, is_weight, weights_only
from jaxdl.nn.reshape import flatten

__all__ = [
    "Layer", "ShapeError", "activation", "batchnorm", "dense", "dropout", "flatten",
    "functional", "is_weight", "leaky_relu", "linear", "log_softmax", "maxout", "parallel",
    "relu", "residual", "serial", "sigmoid", "sign", "softmax", "step", "tanh",
    "weights_only",
]
