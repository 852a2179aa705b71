"""Atomic, exact checkpoints of any pytree (a TrainState, optimizer states included).

Format: one numpy `.npz` file holding the leaves (bit-exact, typed PRNG keys as their
key data) plus a JSON description of the tree and the user's config; no pickle, so loading
never runs code. Writing goes to a temporary file in the same directory, is fsync-ed, then
renamed over the target: a crash mid-write leaves the previous checkpoint intact, and the
next save removes the temporary files such crashes left. Everything is checked before a
byte is written (JSON-able config and metadata, numeric leaves); a bad file fails to
restore with one line naming it and what is wrong.
"""

from __future__ import annotations

import importlib
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import jax
import numpy as np

from jaxdl._io import atomic_write, remove_stale_temp_files

_META = "__jaxdl_checkpoint__"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing pieces, corrupt, or does not match the expected tree."""


class Checkpoint(NamedTuple):
    """What `restore` returns: the saved tree, its config and metadata (JSON values)."""

    tree: Any
    config: Any
    metadata: Any


def _is_namedtuple(node) -> bool:
    return isinstance(node, tuple) and hasattr(type(node), "_fields")


def _encode(node, arrays: list, where: str = "tree") -> dict:
    """JSON description of `node` (at `where` in the saved tree); array leaves are appended
    to `arrays`. Raises TypeError for a leaf that is not a number or an array of numbers."""
    if node is None:
        return {"type": "none"}
    if isinstance(node, dict):
        if not all(isinstance(k, str) for k in node):
            raise TypeError(f"checkpoint.save: {where} has a non-string key; dict keys must "
                            f"be strings, got {sorted(map(repr, node))}")
        return {"type": "dict",
                "items": [[k, _encode(node[k], arrays, f"{where}[{k!r}]")] for k in sorted(node)]}
    if _is_namedtuple(node):
        cls = type(node)
        return {"type": "namedtuple", "class": f"{cls.__module__}:{cls.__qualname__}",
                "fields": [_encode(v, arrays, f"{where}.{name}")
                           for name, v in zip(cls._fields, node)]}
    if isinstance(node, (tuple, list)):
        return {"type": type(node).__name__,
                "items": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(node)]}
    if isinstance(node, (bool, int, float, str)):
        return {"type": "python", "value": node}
    if isinstance(node, jax.Array) and jax.dtypes.issubdtype(node.dtype, jax.dtypes.prng_key):
        arrays.append(np.asarray(jax.random.key_data(node)))
        return {"type": "key", "impl": str(jax.random.key_impl(node)), "index": len(arrays) - 1}
    try:
        array = np.asarray(node)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.dtype.kind in "OUSMm" or (array.dtype.kind == "V" and array.dtype.names):
        raise TypeError(f"checkpoint.save: {where} has type {type(node).__name__} (dtype "
                        f"{array.dtype}); leaves must be numbers or arrays of numbers")
    entry = {"type": "array", "dtype": array.dtype.name, "index": len(arrays)}
    if array.dtype.kind == "V" or array.dtype.name not in np.sctypeDict:
        array = array.view(f"uint{8 * array.dtype.itemsize}")  # bfloat16 etc.: keep the bits
    arrays.append(array)
    return entry


def _import_namedtuple(path: str, file: Path):
    module_name, _, qualname = path.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise CheckpointError(f"{file}: the state type {path} cannot be imported; restore "
                              "with like=<a template tree> instead") from None
    if not (isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")):
        raise CheckpointError(f"{file}: {path} is not a NamedTuple class")
    return obj


def _decode(entry: dict, arrays, file: Path, named: bool = True):
    """The tree `entry` describes; NamedTuple states become plain tuples unless `named`
    (a restore into a `like` template needs only the leaves, in order)."""
    kind = entry["type"]
    decode = lambda child: _decode(child, arrays, file, named)  # noqa: E731
    if kind == "none":
        return None
    if kind == "dict":
        return {k: decode(v) for k, v in entry["items"]}
    if kind == "namedtuple":
        fields = [decode(v) for v in entry["fields"]]
        return _import_namedtuple(entry["class"], file)(*fields) if named else tuple(fields)
    if kind in ("tuple", "list"):
        items = [decode(v) for v in entry["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "python":
        return entry["value"]
    if kind == "key":
        return jax.random.wrap_key_data(arrays[entry["index"]], impl=entry["impl"])
    array = arrays[entry["index"]]
    dtype = jax.numpy.dtype(entry["dtype"])
    return jax.numpy.asarray(array.view(dtype) if array.dtype != dtype else array)


def save(path, tree, config=None, *, metadata=None) -> Path:
    """Write `tree` (with JSON-able `config` and `metadata`) to `path` atomically.

    Returns the path. The file is complete and durable when this returns; until then the
    previous file at `path`, if any, is untouched.
    """
    path = Path(path)
    arrays: list = []
    description = _encode(jax.device_get(tree), arrays)
    meta = {"format": FORMAT_VERSION, "tree": description, "config": _json("config", config),
            "metadata": _json("metadata", metadata)}
    payload = {f"leaf_{i}": a for i, a in enumerate(arrays)}
    payload[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    with atomic_write(path) as file:
        np.savez(file, **payload)
    return path


def _json(name: str, value):
    """`value` itself once it is known to be JSON data; else a TypeError naming the entry."""
    def check(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise TypeError(f"checkpoint.save: {where} has the key {k!r}; JSON keys "
                                    "must be strings")
                check(v, f"{where}[{k!r}]")
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                check(v, f"{where}[{i}]")
        elif not (node is None or isinstance(node, (bool, int, float, str))):
            raise TypeError(f"checkpoint.save: {where} has type {type(node).__name__}, which JSON "
                            "cannot hold (use numbers, strings, lists and dicts)")
    check(value, name)
    return value


def _check_like(restored, like, path: Path):
    """Put the restored leaves into `like`'s tree structure, checking shapes and dtypes."""
    leaves = jax.tree.leaves(restored)
    like_leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
    if len(leaves) != len(like_leaves):
        raise CheckpointError(f"{path}: holds {len(leaves)} arrays, the expected tree has "
                              f"{len(like_leaves)}")
    for leaf, (key_path, expected) in zip(leaves, like_leaves):
        if (np.shape(leaf), jax.numpy.result_type(leaf)) != (np.shape(expected),
                                                             jax.numpy.result_type(expected)):
            raise CheckpointError(
                f"{path}: leaf {jax.tree_util.keystr(key_path)} has shape {np.shape(leaf)} "
                f"and dtype {jax.numpy.result_type(leaf)}, expected {np.shape(expected)} "
                f"and {jax.numpy.result_type(expected)}")
    return jax.tree.unflatten(treedef, leaves)


def clean_stale(path) -> list[Path]:
    """Delete the temporary files that writers of checkpoint `path` killed mid-write left
    beside it (names `.NAME.*.tmp` of `save`'s own pattern, for this `path` only); returns
    the paths removed. Every such file counts as stale: two writers of one checkpoint at
    once are not supported (the later rename would win anyway). `save` calls it first;
    call it on resume to reclaim the space before training starts."""
    return remove_stale_temp_files(Path(path))


def restore(path, like=None, *, require: Sequence[str] = ()) -> Checkpoint:
    """Read a checkpoint written by `save`.

    Without `like`, the tree is rebuilt from the file's own description (dicts, tuples,
    lists, NamedTuple states imported by name, arrays, typed keys). With `like` (a tree of
    the expected structure, e.g. a freshly initialized state), the leaves are placed in
    its structure and every shape and dtype is checked. `require`: names of entries the
    `metadata` dict given to `save` must hold; a checkpoint without one (written by
    another program, or an older jaxdl) raises CheckpointError naming it.
    """
    path = Path(path)
    if isinstance(require, str):
        raise TypeError(f"checkpoint.restore: require must be a sequence of entry names, "
                        f"got the string {require!r} (write require=({require!r},))")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    meta, arrays = _read(path)
    _check_required(path, meta.get("metadata"), require)
    try:
        tree = _decode(meta["tree"], arrays, path, named=like is None)
    except (KeyError, IndexError, TypeError, ValueError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"{path}: the tree description does not match the stored "
                              f"arrays ({type(error).__name__}: {error}); the file is corrupt"
                              ) from None
    if like is not None:
        tree = _check_like(tree, like, path)
    return Checkpoint(tree, meta.get("config"), meta.get("metadata"))


def _check_required(path: Path, metadata, require: Sequence[str]) -> None:
    if not require:
        return
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: the checkpoint has no metadata dict (it holds "
                              f"{type(metadata).__name__}), so no {require[0]!r} entry (written "
                              "by another program or an older jaxdl?)")
    for name in require:
        if name not in metadata:
            raise CheckpointError(f"{path}: the checkpoint's metadata has no {name!r} entry "
                                  "(written by another program or an older jaxdl?)")


def _read(path: Path) -> tuple[dict, list]:
    """(metadata dict, leaf arrays) of the file; CheckpointError names what is wrong."""
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a jaxdl checkpoint (not an .npz archive: "
                              "truncated, or some other file); delete it to start over")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _META not in npz.files:
                raise CheckpointError(f"{path} has no {_META} entry: an .npz file, but not "
                                      "a jaxdl checkpoint")
            text = bytes(npz[_META]).decode()
            count = sum(1 for name in npz.files if name.startswith("leaf_"))
            arrays = [npz[f"leaf_{i}"] for i in range(count)]
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error,
            UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is truncated or corrupt ({type(error).__name__} while "
                              "reading it); delete it to start over") from None
    try:
        meta = json.loads(text)
    except ValueError:
        raise CheckpointError(f"{path}: its metadata entry is not valid JSON; the file is "
                              "corrupt") from None
    if not isinstance(meta, dict) or "tree" not in meta:
        raise CheckpointError(f"{path}: its metadata has no tree description; the file is "
                              "corrupt or not written by jaxdl")
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {meta.get('format')!r}; this jaxdl "
                              f"reads format {FORMAT_VERSION} (written by another version?)")
    return meta, arrays
