"""Pure functional layers: `(init, apply)` pairs, combinators and the layer zoo."""

from jaxdl.nn import functional
from jaxdl.nn.activations import leaky_relu, linear, log_softmax, relu, sigmoid, softmax, tanh
from jaxdl.nn.activations import sign, step
from jaxdl.nn.activations import get as activation
from jaxdl.nn.batchnorm import batchnorm
from jaxdl.nn.combinators import parallel, residual, serial
from jaxdl.nn.conv import conv
from jaxdl.nn.dense import dense, maxout
from jaxdl.nn.dropout import dropout
from jaxdl.nn.embedding import embedding
from jaxdl.nn.layer import Layer, ShapeError, is_weight, weights_only
from jaxdl.nn.normalization import layernorm
from jaxdl.nn.pooling import avg_pool, global_avg_pool, global_max_pool, max_pool
from jaxdl.nn.recurrent import gru, lstm, rnn
from jaxdl.nn.reshape import flatten, reshape

__all__ = [
    "Layer", "ShapeError", "activation", "avg_pool", "batchnorm", "conv", "dense", "dropout",
    "embedding", "flatten", "functional", "global_avg_pool", "global_max_pool", "gru",
    "is_weight", "layernorm", "leaky_relu", "linear", "log_softmax", "lstm", "max_pool",
    "maxout", "parallel", "relu", "reshape", "residual", "rnn", "serial", "sigmoid", "sign",
    "softmax", "step", "tanh", "weights_only",
]
