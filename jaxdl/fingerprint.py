"""A run's fingerprint, stored in its checkpoints: resuming refuses to continue a checkpoint
with a different model, optimizer, loss, data or key without being asked to.

Each field is a short digest of a structural description: functions are described by their
qualified name and the values their closures hold (so `adam(1e-3)` and `adam(1e-2)`, or
`l2(1e-4)` and `l2(1e-3)`, differ), arrays by shape, dtype and content, containers item by
item. Two runs of the same code with the same settings give the same fingerprint in any
process.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib

import jax
import numpy as np

FIELDS = ("model", "optimizer", "loss", "regularizer", "augment", "metrics", "batching",
          "key", "data")
_MAX_DEPTH = 12


def _digest(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def array_digest(array) -> str:
    """Shape, dtype and a digest of the content of `array` (a typed key: of its key data)."""
    if isinstance(array, jax.Array) and jax.dtypes.issubdtype(array.dtype,
                                                              jax.dtypes.prng_key):
        array = jax.random.key_data(array)
    array = np.ascontiguousarray(np.asarray(array))
    return f"{array.dtype}{list(array.shape)}:{_digest(array.tobytes())}"


def describe(obj, _depth: int = 0, _seen: frozenset = frozenset()) -> str:
    """A deterministic structural description of `obj` (see the module docstring)."""
    if _depth > _MAX_DEPTH or id(obj) in _seen:
        return "..."
    seen = _seen | {id(obj)}
    recurse = functools.partial(describe, _depth=_depth + 1, _seen=seen)
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return repr(obj)
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        return array_digest(obj)
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{recurse(k)}: {recurse(v)}"
                               for k, v in sorted(obj.items(), key=lambda kv: repr(kv[0]))) + "}"
    if isinstance(obj, (tuple, list)):
        return f"{type(obj).__name__}(" + ", ".join(map(recurse, obj)) + ")"
    if isinstance(obj, (set, frozenset)):
        return "{" + ", ".join(sorted(map(recurse, obj))) + "}"
    if isinstance(obj, functools.partial):
        return (f"partial({recurse(obj.func)}, {recurse(obj.args)}, "
                f"{recurse(dict(obj.keywords))})")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return f"{type(obj).__qualname__}(" + ", ".join(
            f"{f.name}={recurse(getattr(obj, f.name))}" for f in dataclasses.fields(obj)) + ")"
    code = getattr(obj, "__code__", None)
    if code is not None:  # a Python function: its name and what its closure holds
        cells = [cell.cell_contents for cell in (obj.__closure__ or ())
                 if _filled(cell)]
        defaults = obj.__defaults__ or ()
        return (f"{obj.__module__}.{obj.__qualname__}[" + ", ".join(map(recurse, cells)) +
                "]" + (recurse(defaults) if defaults else ""))
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '')}.{obj.__qualname__}"
    return type(obj).__qualname__


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # an empty cell (a name bound later)
        return False
    return True


def of_run(*, model, opt, loss, regularizer, augment, metrics, batching: dict, key,
           arrays: dict) -> dict:
    """field -> digest for the run's pieces (FIELDS); `arrays`: split -> (x, y)."""
    data = {name: (array_digest(x), array_digest(y)) for name, (x, y) in arrays.items()}
    pieces = {"model": model, "optimizer": opt, "loss": loss, "regularizer": regularizer,
              "augment": augment, "metrics": metrics, "batching": batching}
    out = {name: _digest(describe(piece)) for name, piece in pieces.items()}
    out["key"] = array_digest(key)
    out["data"] = _digest(describe(data))
    return out


def differences(saved: dict | None, current: dict) -> list[str]:
    """The fields whose digests differ (a field missing from `saved` differs)."""
    saved = saved or {}
    return [name for name in current if saved.get(name) != current[name]]
