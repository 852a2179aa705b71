"""The layer protocol: a layer is a pair of pure functions (stax's `(init, apply)` idea).

    init(key, input_shape) -> (params, state, output_shape)
    apply(params, state, x, *, key=None, train=False) -> (y, state)

`input_shape` excludes the batch axis; `x` carries it first. Params and state are plain
pytrees (dicts; tuples for combinators); weights are named `w` and biases `b`, so
regularizers and weight decay can tell them apart with `weights_only`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax

Params = Any
State = Any
Shape = tuple


class ShapeError(ValueError):
    """A layer got an input whose shape it cannot take; the message names layer and shapes."""


@dataclasses.dataclass(frozen=True)
class Layer:
    """A named `(init, apply)` pair; `children` lists sub-layers of a combinator.

    `uses_key` is False for layers that never draw random numbers (activations, flatten,
    batch norm with constant initializers); combinators give them no key and do not count
    them when numbering their children's sub-keys. Custom layers default to True.
    `init_uses_key=False` marks a layer that draws only when applied (dropout): it is not
    counted among the children whose init gets a key, so inserting it changes no other
    layer's initialization. None (the default) means the same as `uses_key`.
    """

    init: Callable[..., tuple[Params, State, Shape]]
    apply: Callable[..., tuple[Any, State]]
    name: str
    children: tuple["Layer", ...] = ()
    uses_key: bool = True
    init_uses_key: bool | None = None

    @property
    def draws_at_init(self) -> bool:
        """Whether `init` draws random numbers (and so takes a numbered sub-key)."""
        return self.uses_key if self.init_uses_key is None else self.init_uses_key


def as_shape(layer_name: str, input_shape) -> tuple[int, ...]:
    """`input_shape` as a tuple of positive ints, or a ShapeError naming the layer."""
    try:
        shape = tuple(int(d) for d in input_shape)
    except TypeError:
        raise ShapeError(f"{layer_name}: input_shape must be a tuple of positive ints "
                         f"(without the batch axis), got {input_shape!r}") from None
    if any(d <= 0 for d in shape):
        raise ShapeError(f"{layer_name}: input_shape must be a tuple of positive ints "
                         f"(without the batch axis), got {input_shape!r}")
    return shape


def check_input(layer_name: str, x, expected: tuple) -> None:
    """Raise ShapeError unless `x` has shape (batch, *expected); None entries match any size."""
    actual = tuple(x.shape[1:])
    ok = x.ndim == len(expected) + 1 and all(
        e is None or e == a for e, a in zip(expected, actual))
    if not ok:
        shown = ", ".join("?" if e is None else str(e) for e in expected)
        raise ShapeError(f"{layer_name}: expected input of shape (batch, {shown}), "
                         f"got {tuple(x.shape)}")


def is_weight(path) -> bool:
    """True for a leaf whose key is `w` (a weight matrix or kernel, not a bias or scale)."""
    return bool(path) and isinstance(path[-1], jax.tree_util.DictKey) and path[-1].key == "w"


def weights_only(params: Params) -> Any:
    """Mask pytree: True on weight leaves (`w`), False on biases, batch-norm scales, etc."""
    return jax.tree_util.tree_map_with_path(lambda path, _: is_weight(path), params)
