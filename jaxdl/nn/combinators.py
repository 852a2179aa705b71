"""Combinators: `serial` (composition), `parallel` (fan-out), `residual` (y = x + f(x)).

At init, the children whose init draws random numbers (`Layer.draws_at_init`) are numbered
0, 1, 2, ... and child number i gets the sub-key `fold_in(key, i)`; at apply, the same for
the children that draw when applied (`Layer.uses_key`: dropout, and layers with random init
keep their number). So inserting or removing a layer that draws nothing at init (an
activation, flatten, dropout) never changes another layer's initialization, inserting a
deterministic one never changes a dropout mask, and appending a layer never changes the
earlier ones. Params and state of a combinator are tuples of its
children's params and state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl._checks import check_choice
from jaxdl.nn.layer import Layer, ShapeError


def key_indices(layers, *, at_init: bool = False) -> tuple[int | None, ...]:
    """For each child, its number among the children that use a key when applied (at init:
    whose init draws), None if it uses none."""
    indices, count = [], 0
    for layer in layers:
        draws = layer.draws_at_init if at_init else layer.uses_key
        indices.append(count if draws else None)
        count += draws
    return tuple(indices)


def child_key(key, index: int | None):
    """fold_in(key, index); None when no key was given or the child uses none."""
    return None if key is None or index is None else jax.random.fold_in(key, index)


def _with_position(position: int, layer: Layer, call):
    """Run `call()`; a ShapeError it raises is prefixed with the child's position."""
    try:
        return call()
    except ShapeError as error:
        raise ShapeError(f"layer {position} ({layer.name}) -> {error}") from None


def _check_layers(where: str, layers) -> tuple[Layer, ...]:
    if not layers:
        raise ValueError(f"{where}: needs at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            hint = " (did you forget to call it, e.g. nn.dense(10)?)" if callable(layer) else ""
            raise TypeError(f"{where}: argument {i} is not a Layer, got {layer!r}{hint}")
    return tuple(layers)


def _check_children(where: str, layers, params, state) -> None:
    """Params and state of a combinator must hold one entry per child (as its init made
    them); zip would otherwise skip children silently."""
    for what, tree in (("params", params), ("state", state)):
        if not isinstance(tree, (tuple, list)) or len(tree) != len(layers):
            got = (f"a {type(tree).__name__} of length {len(tree)}"
                   if isinstance(tree, (tuple, list)) else repr(tree)[:80])
            raise ValueError(f"{where}.apply: {what} must be a tuple with one entry per child "
                             f"layer ({len(layers)}), as returned by init; got {got}")


def _combinator(name: str, layers, init, apply) -> Layer:
    return Layer(init, apply, name, layers, uses_key=any(layer.uses_key for layer in layers),
                 init_uses_key=any(layer.draws_at_init for layer in layers))


def serial(*layers: Layer) -> Layer:
    """Composition f_n(...f_2(f_1(x))): each layer's output is the next one's input."""
    layers = _check_layers("serial", layers)
    init_indices = key_indices(layers, at_init=True)

    def init(key, input_shape):
        params, states, shape = [], [], input_shape
        for position, (layer, index) in enumerate(zip(layers, init_indices)):
            p, s, shape = _with_position(
                position, layer, lambda: layer.init(child_key(key, index), shape))
            params.append(p)
            states.append(s)
        return tuple(params), tuple(states), shape

    def apply(params, state, x, *, key=None, train=False):
        outputs, new_states = serial_outputs(layers, params, state, x, key=key, train=train)
        return outputs[-1], new_states

    return _combinator("serial", layers, init, apply)


def serial_outputs(layers, params, state, x, *, key=None, train=False) -> tuple:
    """(every layer's output, every layer's new state) of the composition of `layers` (a
    serial layer's children) on `x`: what `serial(*layers).apply` computes, with each
    intermediate output kept (per-layer diagnostics read them)."""
    _check_children("serial", layers, params, state)
    outputs, new_states = [], []
    for position, (layer, index, p, s) in enumerate(zip(layers, key_indices(layers), params,
                                                        state)):
        x, s = _with_position(position, layer, lambda: layer.apply(
            p, s, x, key=child_key(key, index), train=train))
        outputs.append(x)
        new_states.append(s)
    return tuple(outputs), tuple(new_states)


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
    init_indices, indices = key_indices(layers, at_init=True), key_indices(layers)

    def init(key, input_shape):
        outs = [_with_position(position, layer,
                               lambda: layer.init(child_key(key, index), input_shape))
                for position, (layer, index) in enumerate(zip(layers, init_indices))]
        params, states, shapes = zip(*outs)
        return tuple(params), tuple(states), _merge_shapes(merge, list(shapes))

    def apply(params, state, x, *, key=None, train=False):
        _check_children("parallel", layers, params, state)
        outs = [_with_position(position, layer, lambda: layer.apply(
                    p, s, x, key=child_key(key, index), train=train))
                for position, (layer, index, p, s)
                in enumerate(zip(layers, indices, params, state))]
        ys, states = zip(*outs)
        if merge == "sum":
            y = sum(ys[1:], ys[0])
        elif merge == "concat":
            y = jnp.concatenate(ys, axis=-1)
        else:
            y = tuple(ys)
        return y, tuple(states)

    return _combinator(f"parallel(merge={merge!r})", layers, init, apply)


def residual(*layers: Layer) -> Layer:
    """Bypass pathway y = x + f(x), with f the serial composition of `layers`.

    f must preserve the shape; init raises a ShapeError naming both shapes otherwise.
    Params and state are those of f (a tuple over `layers`).
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

    return _combinator("residual", body.children, init, apply)
