"""Readable names for parameter leaves: "1:dense(128)/w" instead of "[1]['w']"."""

from __future__ import annotations

import re

import jax

from jaxdl.nn.layer import Layer, is_weight


def _key_text(key) -> str:
    for attribute in ("key", "idx", "name"):  # DictKey, SequenceKey, GetAttrKey
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def leaf_name(path, model: Layer | None = None) -> str:
    """The path's keys joined by "/"; with a combinator `model` the leading child index
    also names the child, e.g. (SequenceKey(1), DictKey("w")) -> "1:dense(128)/w"."""
    parts = [_key_text(key) for key in path]
    first = path[0] if path else None
    if model is not None and isinstance(first, jax.tree_util.SequenceKey) \
            and first.idx < len(model.children):
        parts[0] = f"{first.idx}:{model.children[first.idx].name}"
    return "/".join(parts) or "params"


def named_leaves(tree, model: Layer | None = None, *, weights_only: bool = False) -> dict:
    """{leaf_name: leaf} of a params-shaped tree (only the `w` leaves if `weights_only`)."""
    return {leaf_name(path, model): leaf
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
            if not weights_only or is_weight(path)}


def natural_key(name: str) -> tuple:
    """Sort key that orders "2:relu" before "10:relu" (JAX sorts dict keys as strings)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", name) if part)


def in_layer_order(tree):
    """`tree` with every dict rebuilt in natural key order (recursing into tuples/lists)."""
    if isinstance(tree, dict):
        return {k: in_layer_order(tree[k]) for k in sorted(tree, key=natural_key)}
    if isinstance(tree, (tuple, list)):
        return type(tree)(in_layer_order(item) for item in tree)
    return tree
