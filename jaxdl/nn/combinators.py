"""Combinators: `serial` (composition), `parallel` (fan-out), `residual` (y = x + f(x)).

Child i always gets the sub-key `fold_in(key, i)`, both at init and at apply, so inserting
or removing a deterministic layer elsewhere never changes another layer's randomness.
Params and state of a combinator are tuples of its children's params and state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl._checks import check_choice
from jaxdl.nn.layer import Layer, ShapeError


def child_key(key, index: int):
    """The key of child `index`: fold_in(key, index), or None when no key was given."""
    return None if key is None else jax.random.fold_in(key, index)


def init_child(layer: Layer, index: int, key, input_shape):
    """`layer.init` with child `index`'s key; a ShapeError is prefixed with the position."""
    try:
        return layer.init(child_key(key, index), input_shape)
    except ShapeError as error:
        raise ShapeError(f"layer {index} ({layer.name}) -> {error}") from None


def apply_child(layer: Layer, index: int, params, state, x, key, train):
    """`layer.apply` with child `index`'s key; a ShapeError is prefixed with the position."""
    try:
        return layer.apply(params, state, x, key=child_key(key, index), train=train)
    except ShapeError as error:
        raise ShapeError(f"layer {index} ({layer.name}) -> {error}") from None


def _check_layers(where: str, layers) -> tuple[Layer, ...]:
    if not layers:
        raise ValueError(f"{where}: needs at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            hint = " (did you forget to call it, e.g. nn.dense(10)?)" if callable(layer) else ""
            raise TypeError(f"{where}: argument {i} is not a Layer, got {layer!r}{hint}")
    return tuple(layers)


def serial(*layers: Layer) -> Layer:
    """Composition f_n(...f_2(f_1(x))): each layer's output is the next one's input."""
    layers = _check_layers("serial", layers)

    def init(key, input_shape):
        params, states, shape = [], [], input_shape
        for i, layer in enumerate(layers):
            p, s, shape = init_child(layer, i, key, shape)
            params.append(p)
            states.append(s)
        return tuple(params), tuple(states), shape

    def apply(params, state, x, *, key=None, train=False):
        new_states = []
        for i, (layer, p, s) in enumerate(zip(layers, params, state)):
            x, s = apply_child(layer, i, p, s, x, key, train)
            new_states.append(s)
        return x, tuple(new_states)

    return Layer(init, apply, "serial", layers)


def _merge_shapes(merge, shapes):
    if merge is None:
        return tuple(shapes)
    if merge == "sum":
        if any(s != shapes[0] for s in shapes):
            raise ShapeError(f"parallel(merge='sum'): branch output shapes differ: {shapes}")
        return shapes[0]
    if any(s[:-1] != shapes[0][:-1] for s in shapes):
        raise ShapeError("parallel(merge='concat'): branch output shapes differ before the "
                         f"last axis: {shapes}")
    return shapes[0][:-1] + (sum(s[-1] for s in shapes),)


def parallel(*layers: Layer, merge: str | None = None) -> Layer:
    """Fan-out: every branch sees the same input x; y = (f_1(x), ..., f_n(x)).

    `merge="concat"` concatenates the branch outputs on the last axis, `merge="sum"` adds
    them (inception-style and multi-path blocks); the default returns the tuple.
    """
    layers = _check_layers("parallel", layers)
    check_choice("parallel", "merge", merge, (None, "concat", "sum"))

    def init(key, input_shape):
        outs = [init_child(layer, i, key, input_shape) for i, layer in enumerate(layers)]
        params, states, shapes = zip(*outs)
        return tuple(params), tuple(states), _merge_shapes(merge, list(shapes))

    def apply(params, state, x, *, key=None, train=False):
        outs = [apply_child(layer, i, p, s, x, key, train)
                for i, (layer, p, s) in enumerate(zip(layers, params, state))]
        ys, states = zip(*outs)
        if merge == "sum":
            y = sum(ys[1:], ys[0])
        elif merge == "concat":
            y = jnp.concatenate(ys, axis=-1)
        else:
            y = tuple(ys)
        return y, tuple(states)

    return Layer(init, apply, f"parallel(merge={merge!r})", layers)


def residual(*layers: Layer) -> Layer:
    """Bypass pathway y = x + f(x), with f the serial composition of `layers`.

    f must preserve the shape; init raises a ShapeError naming both shapes otherwise.
    Params and state are those of f.
    """
    body = serial(*_check_layers("residual", layers))

    def init(key, input_shape):
        params, state, output_shape = body.init(key, input_shape)
        if tuple(output_shape) != tuple(input_shape):
            raise ShapeError(f"residual: the body maps shape {tuple(input_shape)} to "
                             f"{tuple(output_shape)}; y = x + f(x) needs them equal")
        return params, state, output_shape

    def apply(params, state, x, *, key=None, train=False):
        fx, state = body.apply(params, state, x, key=key, train=train)
        return x + fx, state

    return Layer(init, apply, "residual", body.children)
