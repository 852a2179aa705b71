"""Recurrent layers as one `lax.scan` over time: `rnn` (Elman, tanh), `gru`, `lstm`.

Input (batch, steps, features), or the pair (x, mask) with a boolean mask of shape
(batch, steps) (what `embedding(..., pad_id=...)` returns): at a masked step the state is
carried through unchanged, so the last state of a padded sequence is the state after its
last real step. Output: the hidden state h_t of every step, (batch, steps, hidden), with
`return_sequences=True`; else the last one, (batch, hidden). The state starts at zero.

Params {"input": {"w": (features, G * hidden), "b": (G * hidden,)}, "hidden": {"w":
(hidden, G * hidden)}} hold the G gate blocks side by side (the input projection of every
step is one matmul before the scan). Gate order, the columns of each block:
  gru  [r, z, n] (G = 3), plus hidden/b (hidden,), the bias b_hn inside the reset gate;
  lstm [i, f, g, o] (G = 4); rnn: one block (G = 1).
This is PyTorch's order (weight_ih_l0 = input/w.T, weight_hh_l0 = hidden/w.T; for GRU its
b_ih + b_hh = input/b + [b_hr, b_hz, 0] and b_hn = hidden/b). flax's cells keep one dense per
gate: GRUCell ir, iz, in (with bias) = input/w blocks, hr, hz, hn = hidden/w blocks, hn's
bias = hidden/b; LSTMCell ii, if, ig, io = input/w blocks, hi, hf, hg, ho = hidden/w blocks
and their biases = input/b blocks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl import initializers
from jaxdl._checks import check_positive_int, check_range
from jaxdl.nn.functional import sigmoid
from jaxdl.nn.layer import Layer, ShapeError, as_shape, check_input


def _orthogonal_blocks(gates: int):
    """Recurrent kernel (hidden, gates * hidden): an orthogonal matrix per gate block
    (Saxe et al., 2014), keys fold_in(key, gate)."""
    orthogonal = jax.nn.initializers.orthogonal()

    def init(key, shape, dtype=jnp.float32):
        hidden = shape[0]
        return jnp.concatenate([orthogonal(jax.random.fold_in(key, g), (hidden, hidden), dtype)
                                for g in range(gates)], axis=1)
    return init


def _elman(params, h, projected):
    return jnp.tanh(projected + h @ params["hidden"]["w"])


def _gru(params, h, projected):
    x_r, x_z, x_n = jnp.split(projected, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(h @ params["hidden"]["w"], 3, axis=-1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * (h_n + params["hidden"]["b"]))
    return (1 - z) * n + z * h


def _lstm(params, carry, projected):
    h, c = carry
    i, f, g, o = jnp.split(projected + h @ params["hidden"]["w"], 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)
    h = sigmoid(o) * jnp.tanh(c)
    return h, c


def _split_input(name: str, x):
    """(x, mask) from an array or an (x, mask) pair; mask is None for an array."""
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ShapeError(f"{name}: expected an array (batch, steps, features) or a pair "
                             f"(x, mask), got a {type(x).__name__} of length {len(x)}")
        x, mask = x
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ShapeError(f"{name}: mask shape {tuple(mask.shape)} must be (batch, steps) "
                             f"of the input {tuple(x.shape)}")
        return x, mask.astype(bool)
    return x, None


def _recurrent(kind: str, hidden: int, gates: int, cell, return_sequences: bool, w_init,
               recurrent_init, b_init, hidden_bias: bool, forget_bias: float = 0.0) -> Layer:
    hidden = check_positive_int(kind, "hidden", hidden)
    check_range(kind, "forget_bias", forget_bias)
    if not isinstance(return_sequences, bool):
        raise TypeError(f"{kind}: return_sequences must be True or False, "
                        f"got {return_sequences!r}")
    w_init = initializers.lecun_normal() if w_init is None else w_init
    recurrent_init = _orthogonal_blocks(gates) if recurrent_init is None else recurrent_init
    name = f"{kind}({hidden})"

    def init(key, input_shape):
        if isinstance(input_shape, tuple) and input_shape and isinstance(input_shape[0], tuple):
            input_shape = input_shape[0]  # (x shape, mask shape) from embedding(pad_id=...)
        shape = as_shape(name, input_shape)
        if len(shape) != 2:
            raise ShapeError(f"{name}: expected input shape (steps, features), got {shape}")
        bias = b_init(jax.random.fold_in(key, 1), (gates * hidden,))
        if forget_bias:
            bias = bias.at[hidden:2 * hidden].add(forget_bias)
        params = {"input": {"w": w_init(jax.random.fold_in(key, 0),
                                        (shape[1], gates * hidden)), "b": bias},
                  "hidden": {"w": recurrent_init(jax.random.fold_in(key, 2),
                                                 (hidden, gates * hidden))}}
        if hidden_bias:
            params["hidden"]["b"] = b_init(jax.random.fold_in(key, 3), (hidden,))
        return params, {}, (shape[0], hidden) if return_sequences else (hidden,)

    def apply(params, state, x, *, key=None, train=False):
        x, mask = _split_input(name, x)
        check_input(name, x, (None, params["input"]["w"].shape[0]))
        projected = x @ params["input"]["w"] + params["input"]["b"]
        h0 = jnp.zeros((x.shape[0], hidden), projected.dtype)
        carry0 = (h0, h0) if kind == "lstm" else h0
        steps = jnp.swapaxes(projected, 0, 1)
        mask = jnp.ones(x.shape[:2], bool) if mask is None else mask

        def step(carry, inputs):
            projected_t, keep = inputs
            new = cell(params, carry, projected_t)
            carry = jax.tree.map(lambda a, b: jnp.where(keep[:, None], a, b), new, carry)
            h = carry[0] if kind == "lstm" else carry
            return carry, h

        _, hs = jax.lax.scan(step, carry0, (steps, jnp.swapaxes(mask, 0, 1)))
        return (jnp.swapaxes(hs, 0, 1) if return_sequences else hs[-1]), state

    return Layer(init, apply, name)


def rnn(hidden: int, *, return_sequences: bool = False, w_init=None, recurrent_init=None,
        b_init=initializers.zeros) -> Layer:
    """Elman network: h_t = tanh(x_t W + b + h_{t-1} U).

    `w_init` (input kernel W) defaults to LeCun normal, `recurrent_init` (U) to orthogonal.
    """
    return _recurrent("rnn", hidden, 1, _elman, return_sequences, w_init, recurrent_init,
                      b_init, hidden_bias=False)


def gru(hidden: int, *, return_sequences: bool = False, w_init=None, recurrent_init=None,
        b_init=initializers.zeros) -> Layer:
    """Gated recurrent unit (Cho et al., 2014), PyTorch's and flax's form:

        r = sigmoid(x W_r + b_r + h U_r),  z = sigmoid(x W_z + b_z + h U_z),
        n = tanh(x W_n + b_n + r * (h U_n + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}.
    """
    return _recurrent("gru", hidden, 3, _gru, return_sequences, w_init, recurrent_init,
                      b_init, hidden_bias=True)


def lstm(hidden: int, *, return_sequences: bool = False, w_init=None, recurrent_init=None,
         b_init=initializers.zeros, forget_bias: float = 1.0) -> Layer:
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), gates [i, f, g, o]:

        [i, f, g, o] = x W + b + h_{t-1} U,  c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g),
        h_t = sigmoid(o) * tanh(c_t).
    The forget-gate bias starts at `forget_bias` (1, Jozefowicz et al., 2015: remember by
    default); the output is h (the cell state c stays inside).
    """
    return _recurrent("lstm", hidden, 4, _lstm, return_sequences, w_init, recurrent_init,
                      b_init, hidden_bias=False, forget_bias=forget_bias)
