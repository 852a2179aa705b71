"""Compile once, train many: programs cached by the structure of what they run.

`fit`, the ensembles and `evaluate` build their programs from a model, an optimizer, a loss, a
regularizer and metrics: closures over numbers. `cached_jit` keys a jitted program by the
*structural identity* of those pieces and passes their numbers as traced inputs, so a second
run with the same structure and new keys or new numeric hyperparameters (`adam(1e-3)` then
`adam(3e-4)`) reuses the compiled program (principle 3 of jaxdl/design.md: hyperparameters are
data). `structure(obj)` walks an object the way `fingerprint.describe` does:

* Python floats, numpy floating scalars and arrays (numpy or JAX) are its *values*: lifted
  out and fed to the program as arguments (their shape and dtype are part of the program,
  as for any jitted argument);
* ints, bools, strings, None, and the code of functions are its *structure*: a layer's
  size, an activation's kind, an optimizer's rule;
* functions (their code, closure cells and defaults), `functools.partial`, bound methods,
  dataclasses (`nn.Layer`, `metrics.Metric`), named tuples (`optax.GradientTransformation`)
  and tuples are walked item by item;
* any other object (a list or dict, a jitted function, `jax.nn.relu`, a user's class) is
  keyed by identity, as `jax.jit` treats what a function closes over: a list that a
  closure appends to (a trace counter) does not change the structure, and a list changed
  in place after its first run is not seen (as with `jax.jit`).

Fallback. A piece that needs one of its numbers on the host while tracing (e.g.
`math.sqrt(scale)` in an initializer, `if keep_prob == 1:`) raises a tracer error; the
program is then built again with the model's numbers, then all numbers, fixed in its
structure (the cache still serves an identical later call; a new value recompiles). A piece
that cannot be walked (a closure that refers to itself) is not cached: it compiles each time,
as a plain `jax.jit` of a new closure would.

`enable_compilation_cache(path)` turns on JAX's persistent cache, which keeps compiled
programs across processes (off by default in the library; the `jaxdl` command turns it on).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import os
import types
from pathlib import Path
from typing import Callable, Hashable

import jax
import numpy as np

from jaxdl import fingerprint

MAX_PROGRAMS = 64  # cached jitted programs kept, least recently used dropped first

_programs: collections.OrderedDict = collections.OrderedDict()
_stats = {"hits": 0, "misses": 0, "uncached": 0, "traces": collections.Counter()}


class _Unsupported(Exception):
    """An object the walk cannot rebuild (e.g. a closure that refers to itself)."""


def _is_number(obj) -> bool:
    return isinstance(obj, (float, np.floating)) and not isinstance(obj, bool)


def _is_array(obj) -> bool:
    return isinstance(obj, (np.ndarray, jax.Array))


_EMPTY = object()  # the contents of an empty closure cell (a name bound later)


def _contents(cell):
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY


def _same(rebuilt, originals) -> bool:
    """Whether the walk left every item as it was (then the original object is kept, so
    what holds no values keeps its identity: a list a closure appends to stays that list)."""
    return all(a is b for a, b in zip(rebuilt, originals, strict=True))


def _walk(obj, lift: bool, take: Callable, path: frozenset):
    """(structure key, rebuilt obj) of `obj` (see the module docstring); with `lift` each
    value (a number or an array) is replaced by `take(value)`, else it is in the key."""
    if obj is None or isinstance(obj, (bool, int, str, bytes, complex)):
        return (type(obj).__name__, obj), obj
    if isinstance(obj, (np.integer, np.bool_)):
        return (type(obj).__name__, obj.item()), obj
    if _is_number(obj) or _is_array(obj):
        if lift:
            return ("value",), take(obj)
        if _is_number(obj):
            return ("number", type(obj).__name__, float(obj)), obj
        return ("array", fingerprint.array_digest(obj)), obj
    if id(obj) in path:
        raise _Unsupported(f"{type(obj).__name__} refers to itself")
    path = path | {id(obj)}
    walk = functools.partial(_walk, lift=lift, take=take, path=path)
    kind = type(obj)
    if kind is tuple or (isinstance(obj, tuple) and hasattr(kind, "_fields")):
        keys, items = zip(*map(walk, obj)) if obj else ((), ())
        if _same(items, obj):
            return (kind, keys), obj
        return (kind, keys), kind(items) if kind is tuple else kind(*items)
    if isinstance(obj, functools.partial):
        (fk, func), (ak, args), (kk, kw) = walk(obj.func), walk(obj.args), walk(obj.keywords)
        if _same((func, args, kw), (obj.func, obj.args, obj.keywords)):
            return (kind, fk, ak, kk), obj
        return (kind, fk, ak, kk), kind(func, *args, **kw)
    if isinstance(obj, types.MethodType):
        (fk, func), (sk, owner) = walk(obj.__func__), walk(obj.__self__)
        if _same((func, owner), (obj.__func__, obj.__self__)):
            return ("method", fk, sk), obj
        return ("method", fk, sk), types.MethodType(func, owner)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = [(f.name, walk(getattr(obj, f.name))) for f in dataclasses.fields(obj)]
        key = (kind, tuple((name, key) for name, (key, _) in fields))
        if _same([v for _, (_, v) in fields], [getattr(obj, name) for name, _ in fields]):
            return key, obj
        rebuilt = copy.copy(obj)
        for name, (_, value) in fields:
            object.__setattr__(rebuilt, name, value)
        return key, rebuilt
    if isinstance(obj, types.FunctionType):
        contents = [_contents(cell) for cell in obj.__closure__ or ()]
        cells = [(("empty",), _EMPTY) if c is _EMPTY else walk(c) for c in contents]
        kwnames = tuple(obj.__kwdefaults__ or ())
        (dk, defaults), (kk, kwvalues) = walk(obj.__defaults__), walk(
            tuple(obj.__kwdefaults__[k] for k in kwnames))
        kwdefaults = dict(zip(kwnames, kwvalues)) if obj.__kwdefaults__ is not None else None
        key = ("function", obj.__code__, obj.__module__, tuple(k for k, _ in cells), dk,
               kwnames, kk)
        if _same([v for _, v in cells] + [defaults, *kwvalues],
                 contents + [obj.__defaults__, *(obj.__kwdefaults__ or {}).values()]):
            return key, obj
        closure = tuple(types.CellType() if v is _EMPTY else types.CellType(v)
                        for _, v in cells) or None
        rebuilt = types.FunctionType(obj.__code__, obj.__globals__, obj.__name__, defaults,
                                     closure)
        rebuilt.__kwdefaults__ = kwdefaults
        rebuilt.__dict__.update(obj.__dict__)
        rebuilt.__qualname__ = obj.__qualname__
        return key, rebuilt
    return ("object", id(obj)), obj  # by identity; the cache entry keeps `obj` alive


def structure(obj, *, lift: bool = True) -> tuple[Hashable, list]:
    """(structural identity, values) of `obj`: equal identities mean the same program
    given the values (numbers and arrays, in walk order); with `lift=False` the numbers
    are part of the identity and no values are lifted. Raises TypeError for an object
    the walk cannot rebuild."""
    values: list = []

    def take(value):
        values.append(value)
        return value
    try:
        key, _ = _walk(obj, lift, take, frozenset())
    except _Unsupported as error:
        raise TypeError(f"structure: {error}") from None
    return key, values


def _rebuild(template, values: list, lift: bool):
    """`template` with its values replaced, in walk order, by `values` (tracers in a trace)."""
    supply = iter(values)
    return _walk(template, lift, lambda _: next(supply), frozenset())[1]


def _lifted(pieces: dict, fixed) -> dict:
    """Which pieces lift their numbers: all but those in `fixed` (None: fixed all)."""
    return {name: fixed is not None and name not in fixed for name in pieces}


class _Entry:
    """One cached program: per fallback level (`levels`: the pieces whose numbers are fixed,
    None for all), its jitted functions, keyed by the fixed pieces' numbers."""

    def __init__(self, name: str, build: Callable, levels: tuple, jit_options: dict):
        self.name, self.build, self.levels, self.jit_options = name, build, levels, jit_options
        self.level = 0  # index into levels
        self.traced = False  # whether a program of this entry has traced successfully
        self.jitted: dict = {}

    def function(self, pieces: dict):
        """(jitted fn(values, *args), values) for `pieces` at the current fallback level."""
        lift = _lifted(pieces, self.levels[self.level])
        fixed_keys, values = [], []
        for name, piece in pieces.items():
            key, lifted = structure(piece, lift=lift[name])
            values.append(lifted)
            if not lift[name]:
                fixed_keys.append(key)
        key = (self.level, tuple(fixed_keys))
        if key not in self.jitted:
            template = dict(pieces)

            def program(values, *args):
                _stats["traces"][self.name] += 1
                rebuilt = {name: _rebuild(piece, vals, lift[name])
                           for (name, piece), vals in zip(template.items(), values)}
                return self.build(**rebuilt)(*args)
            program.__name__ = program.__qualname__ = self.name
            self.jitted[key] = jax.jit(program, **self.jit_options)
        return self.jitted[key], values


def cached_jit(name: str, build: Callable, pieces: dict, *, static: Hashable = (),
               fixed: tuple = (), donate_argnums: tuple = ()) -> Callable:
    """`run(*args)`: `jax.jit(build(**pieces))(*args)`, the jitted program cached by `name`,
    `static` (the options `build` closes over) and the structure of `pieces` (name ->
    model, optimizer, loss, ...): see the module docstring. The pieces named in `fixed`
    keep their numbers in the program's structure from the start (e.g. the model of an
    init program, whose initializers take square roots on the host); the others fall back
    to it on a tracer error. `donate_argnums` count from the first of `args`."""
    jit_options = {"donate_argnums": tuple(i + 1 for i in donate_argnums)}
    try:
        key = (name, static, tuple((k, structure(v)[0]) for k, v in pieces.items()))
        hash(key)
    except TypeError:  # unwalkable or unhashable: compile this call's program
        _stats["uncached"] += 1
        return jax.jit(lambda *args: build(**pieces)(*args), donate_argnums=donate_argnums)
    entry = _programs.get(key)
    if entry is None:
        _stats["misses"] += 1
        levels = tuple(dict.fromkeys((tuple(fixed), ("model",) if "model" in pieces else (),
                                      None)))
        entry = _programs[key] = _Entry(name, build, levels, jit_options)
        while len(_programs) > MAX_PROGRAMS:
            _programs.popitem(last=False)
    else:
        _stats["hits"] += 1
        _programs.move_to_end(key)

    chosen: dict = {}  # level -> (jitted fn, values) of this call's pieces

    def run(*args):
        while True:
            if entry.level not in chosen:
                chosen[entry.level] = entry.function(pieces)
            fn, values = chosen[entry.level]
            try:
                out = fn(values, *args)
            except TypeError:  # e.g. a number needed on the host while tracing: fix more
                if entry.traced or entry.level + 1 == len(entry.levels):
                    raise
                entry.level += 1
            else:
                entry.traced = True
                return out
    return run


def clear() -> None:
    """Forget every cached program (the next run compiles again) and reset `info`."""
    _programs.clear()
    _stats.update(hits=0, misses=0, uncached=0, traces=collections.Counter())


def info() -> dict:
    """{"hits", "misses", "uncached": program look-ups; "traces": name -> times traced}."""
    return {**_stats, "traces": dict(_stats["traces"])}


def enable_compilation_cache(path=None) -> Path:
    """Turn on JAX's persistent compilation cache in `path` (default
    $XDG_CACHE_HOME/jaxdl/xla, i.e. ~/.cache/jaxdl/xla): compiled programs are kept on disk,
    so a later process running the same program skips XLA compilation. Off by default in the
    library; the `jaxdl` command turns it on. Returns the directory."""
    if path is None:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jaxdl" / "xla"
    path = Path(path).expanduser()
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    return path


__all__ = ["cached_jit", "clear", "enable_compilation_cache", "info", "structure"]
