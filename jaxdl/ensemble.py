"""Ensembles and hyperparameter sweeps: K models trained by one compiled program.

```python
ens = ensemble.fit(model, opt, losses.softmax_cross_entropy, splits, key=key, members=16,
                   epochs=20, batch_size=100)
ensemble.predict(ens, x, vote="mean_prob"); ensemble.accuracies(ens, splits.test)
sw = ensemble.sweep(model, lambda hp: optim.adam(hp["lr"]), loss, splits, key=key,
                    hparams={"lr": jnp.logspace(-4, -2, 8)}, seeds=2, epochs=20, batch_size=100,
                    regularizer=lambda hp: regularizers.l2(hp["l2"]))
sw.best, sw.member(sw.best_index)   # the dev-selected row; its (model, params, state)
```

Members. Member i of `fit(..., key=key, members=K)` is the run `train.fit(..., key=fold_in(key,
i))`: its init, steps and shuffles use the streams INIT, STEPS, SHUFFLE of `train` below its
member key, so its parameters match that solo run (up to float rounding of batched matmuls).
A sweep's trial with seed s has the member key fold_in(key, s). `same_order=True` gives every
member the shuffles of seed 0, fold_in(fold_in(key, 0), SHUFFLE); `bootstrap=True` trains
member i on n draws with replacement from the n training examples, drawn with
fold_in(member_key, BOOTSTRAP).

Program. The epoch is train.py's (`make_epoch_and_evaluate`), written for one model and vmapped
over a leading member axis of params, model state, optimizer state, keys and hyperparameters.
Hyperparameters are data: the model, optimizer and regularizer are built inside the vmapped
function from the member's (traced) hyperparameters, so new values reuse the compiled program;
structural choices (`static`) are part of the program and loop on the host, one program each.
Members run at most `chunk_size` at a time inside the program (a `lax.map` over chunks, each
chunk vmapped): on a CPU a chunk's parameters and Adam state then stay in cache for a whole
epoch, where vmapping all K members streams K copies through memory on every step (see
benchmarks/bench_ensemble.py). Strategies: "vmap" (one device), "devices" (the member axis
split over the devices of a `Mesh`, placed with `NamedSharding`, chunked and vmapped within
each device; on a CPU call `use_host_devices()` first) and "sequential" (one member after
another, each with all its epochs); the default "auto" is "devices" when JAX has more than
one device, else "vmap". All give the same members.

Guards and early stopping run per member on device: an epoch whose loss or parameters become
NaN/inf, or whose train loss exceeds `explode_factor` x the member's initial loss, is rejected
and the member stops with its last good state ("nan", "exploding"); with `early_stopping` a
member stops after `patience` epochs without improvement and returns its best-dev-epoch
params. A stopped member's updates are masked, so it neither changes nor affects the others.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import math
import os
import sys
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxdl import metrics as metrics_lib, train
from jaxdl._checks import check_choice, check_key, check_positive_int, check_range
from jaxdl.compile_cache import cached_jit
from jaxdl.nn.layer import Layer

BOOTSTRAP = 3  # fold_in index of a member's bootstrap sample (train uses 0, 1, 2)
STRATEGIES = ("auto", "vmap", "devices", "sequential")
VOTES = ("hard", "mean_prob", "confidence")
STOPPED = ("completed", "early_stopping", "nan", "exploding")  # index = on-device code
COMBINE = ("grid", "zip")
MEMBER_AXIS = "members"
CPU_CHUNK_BYTES = 4 * 2 ** 20  # a chunk's params + optimizer state kept under this on CPU


# ----------------------------------------------------------------------------- results


class EnsembleResult(NamedTuple):
    """What `fit`, `sweep` and `snapshots` return; arrays carry a leading member axis.

    `params`/`model_state`: best-dev-epoch ones with early stopping, else the last good ones
    (with `ema_decay`: the weights' running averages, `train.averaged`).
    `state`: every member's last good TrainState. `history`: "epoch" (1..E) and, per metric,
    an (E, K) array, NaN where a member was stopped. `table`: one row per member (see
    `fit`). `best`: the table row of the member with the best monitored value (as in
    `tune.SearchResult`); `best_index` is its index, `member(i)` member i's (model, params,
    model_state). `hparams`: name ->
    (K,) values; `static`: the structural hyperparameters; `seeds`: (K,) seed per member;
    `final`: split -> {"loss", metric...} (K,) eval-mode metrics of `params`; `model`: the
    Layer or `hp -> Layer` the members apply; `metrics`: the recorded ((name, Metric), ...);
    `monitor`: the table column `best` was chosen by, at the epoch of the returned params
    (best_<monitor> with early stopping, else final_<monitor>); `stopped`: "completed", or
    "interrupted" when a KeyboardInterrupt ended training early (every member then holds
    its last completed epoch; those still running are marked "interrupted" in the table).
    """

    params: Any
    model_state: Any
    state: Any
    history: dict
    table: list
    best: dict
    hparams: dict
    static: dict
    seeds: np.ndarray
    final: dict
    model: Any
    metrics: tuple = ()
    monitor: str = "final_train_loss"
    stopped: str = "completed"

    def ranked(self) -> list[dict]:
        """The table's rows best first by `monitor` (NaN last)."""
        return ranked(self.table, self.monitor, maximize(self.monitor, self.metrics))

    @property
    def best_index(self) -> int:
        """The index of `best` in `table` (= the member index)."""
        return self.table.index(self.best)

    def member(self, i: int):
        """(model, params, model_state) of member i: the Layer built with its
        hyperparameters and its slice of `params`/`model_state`, for `model.apply`."""
        i = check_positive_int("member", "i", i, minimum=0)
        if i >= len(self.table):
            raise ValueError(f"member: i must be below the {len(self.table)} members, got {i}")
        hp = {**self.static, **{k: float(v[i]) for k, v in self.hparams.items()}}
        return (_builder(self.model, Layer, "model")(hp), _take(self.params, i),
                _take(self.model_state, i))


class _Carry(NamedTuple):
    """One member's training state plus its on-device guard and early-stopping bookkeeping."""

    state: train.TrainState
    best: Any  # (params, model_state) of the best epoch; None without early stopping
    best_value: jax.Array  # best monitored value so far
    best_epoch: jax.Array  # int32, 0 before the first accepted epoch
    wait: jax.Array  # epochs since the monitored value last improved
    stopped: jax.Array  # int32 index into STOPPED; 0 while running
    initial_loss: jax.Array  # eval-mode train loss of the initial params


class _Members(NamedTuple):
    """Per-member inputs, each with a leading member axis."""

    hparams: dict
    keys: jax.Array
    shuffle_keys: jax.Array
    rows: Any  # (K, n) bootstrap or k-fold training rows (-1: padding), or None
    dev_rows: Any = None  # (K, m) per-member dev rows of the training data (-1: padding)


# ----------------------------------------------------------------------------- the program


def _builder(value, kind, name: str) -> Callable:
    """`hp -> value`: `value` itself when it is already a `kind`, else `value(hp)` checked."""
    if isinstance(value, kind):
        return lambda hp: value

    def build(hp):
        built = value(hp)
        if not isinstance(built, kind):
            raise TypeError(f"{name} must be a {kind.__name__} or a function hp -> "
                            f"{kind.__name__}, got a function returning {type(built).__name__}")
        return built
    return build


def _regularizer_builder(regularizer, from_hparams: bool) -> Callable:
    """`hp -> regularizer or None`; a sweep's `regularizer` is a function of hp."""
    if regularizer is None or not from_hparams:
        return lambda hp: regularizer

    def build(hp):
        built = regularizer(hp)
        if built is not None and not callable(built):
            raise TypeError("sweep: regularizer must be a function hp -> regularizer (or None),"
                            f" got one returning {type(built).__name__}; wrap a fixed one as "
                            "`lambda hp: regularizers.l2(1e-4)`")
        return built
    return build


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Everything static about a run: the compiled programs are cached per spec."""

    model: Any
    make_opt: Any
    regularizer: Any
    regularizer_from_hparams: bool
    loss: Callable
    metrics: tuple  # ((name, Metric), ...)
    augment: Callable | None
    batch_size: int
    shuffle: bool
    drop_remainder: bool
    eval_batch_size: int
    explode_factor: float
    ema_decay: float | None  # keep an EMA of each member's weights (train.fit's ema_decay)
    stopper: train.EarlyStopping | None
    tracker: train.EarlyStopping | None
    static: tuple  # sorted (name, value) pairs of structural hyperparameters
    chunk_size: int | None
    devices: tuple | None  # the mesh's devices for strategy "devices"

    def build(self, hp):
        """(model, optimizer, regularizer) of a member with hyperparameters `hp`."""
        hp = {**dict(self.static), **hp}
        return (_builder(self.model, Layer, "model")(hp),
                _builder(self.make_opt, optax.GradientTransformation, "make_opt")(hp),
                _regularizer_builder(self.regularizer, self.regularizer_from_hparams)(hp))


def _worst(tracker: train.EarlyStopping | None) -> float:
    """The starting 'best' value: every first value improves on it."""
    if tracker is None:
        return 0.0
    return -math.inf if tracker.maximize else math.inf


def _member_init(spec: _Spec, member, shared) -> _Carry:
    hp, key = member
    train_x, train_y = shared
    model, opt, _ = spec.build(hp)
    state = train.init_state(model, opt, train_x.shape[1:], key=key,
                             average=spec.ema_decay is not None)
    evaluate = train.make_evaluate(model, spec.loss, spec.eval_batch_size, spec.metrics)
    initial = evaluate(state.params, state.model_state, train_x, train_y)["loss"]
    best = (state.params, state.model_state) if spec.stopper is not None else None
    zero = jnp.zeros((), jnp.int32)
    return _Carry(state, best, jnp.asarray(_worst(spec.tracker), jnp.float32), zero, zero,
                  zero, initial)


def _select(flag, new, old):
    """`new` where `flag` else `old`, leaf by leaf (a masked update)."""
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


def _select_state(flag, new: train.TrainState, old: train.TrainState) -> train.TrainState:
    """`_select` of two TrainStates of one member. Their base key is the same (a step never
    changes it), so it is kept rather than selected: `jnp.where` on a key would count as
    using it, a false alarm of `jax_debug_key_reuse`."""
    picked = _select(flag, new._replace(key=None), old._replace(key=None))
    return picked._replace(key=old.key)


def _advance(spec: _Spec, carry: _Carry, state, metrics: dict, epoch) -> tuple:
    """Accept or reject one member's epoch (guards), then update its early stopping.

    Rejected (NaN/inf, or train loss > explode_factor x initial): the state is kept and the
    member stops. Accepted: improved means monitor better than the best by > min_delta; the
    member stops early once `wait` (epochs without improvement) reaches the patience.
    """
    running = carry.stopped == 0
    exploding = metrics["train_loss"] > spec.explode_factor * carry.initial_loss
    code = jnp.where(~metrics["finite"], STOPPED.index("nan"),
                     jnp.where(exploding, STOPPED.index("exploding"), 0))
    accept = running & (code == 0)
    tracker = spec.tracker
    if tracker is None:
        improved, best_value = accept, carry.best_value
    else:
        value = metrics[tracker.monitor]
        improved = accept & tracker.improved(value, carry.best_value)
        best_value = jnp.where(improved, value, carry.best_value)
    wait = jnp.where(improved, 0, carry.wait + accept.astype(jnp.int32))
    early = (accept & (wait >= spec.stopper.patience) if spec.stopper is not None
             else jnp.zeros((), bool))
    stopped = jnp.where(running, jnp.where(code != 0, code,
                                           jnp.where(early, STOPPED.index("early_stopping"), 0)),
                        carry.stopped)
    best = (None if carry.best is None
            else _select(improved, (train.averaged(state), state.model_state), carry.best))
    new = _Carry(_select_state(accept, state, carry.state), best, best_value,
                 jnp.where(improved, epoch, carry.best_epoch), wait, stopped.astype(jnp.int32),
                 carry.initial_loss)
    metrics = {k: v for k, v in metrics.items() if k != "finite"}
    metrics.update(accepted=accept, stopped=new.stopped)
    return new, metrics


def _member_epoch(spec: _Spec, member, shared):
    (carry, hp, shuffle_key, rows, dev_rows) = member
    epoch, train_x, train_y, dev = shared
    if dev_rows is not None:  # the member's own dev set, padding masked
        dev = (train_x[dev_rows], train_y[dev_rows], dev_rows >= 0)
    model, opt, regularizer = spec.build(hp)
    run = train.make_epoch_and_evaluate(
        model, opt, spec.loss, regularizer, batch_size=spec.batch_size, augment=spec.augment,
        shuffle=spec.shuffle, drop_remainder=spec.drop_remainder,
        eval_batch_size=spec.eval_batch_size, metrics=spec.metrics, ema_decay=spec.ema_decay)
    state, metrics = run(carry.state, shuffle_key, epoch, train_x, train_y, dev, rows)
    return _advance(spec, carry, state, metrics, epoch)


def _member_evaluate(spec: _Spec, member, shared):
    hp, params, model_state = member
    x, y = shared
    model = spec.build(hp)[0]
    return train.make_evaluate(model, spec.loss, spec.eval_batch_size, spec.metrics)(
        params, model_state, x, y)


def _map_members(fn: Callable, chunk: int | None, mesh: Mesh | None) -> Callable:
    """`run(member, shared)`: fn(member_i, shared) for every member i of the leading axis.

    Members are vmapped within chunks of `chunk` members and the chunks run one after
    another (`lax.map`); with a mesh the member axis is first split over its devices
    (`shard_map`), each device running its own members that way.
    """

    def chunked(member, shared):
        per_member = jax.vmap(fn, in_axes=(0, None))
        count = jax.tree.leaves(member)[0].shape[0]
        if chunk is None or chunk >= count:
            return per_member(member, shared)
        split = jax.tree.map(lambda a: a.reshape((count // chunk, chunk) + a.shape[1:]), member)
        out = jax.lax.map(lambda m: per_member(m, shared), split)
        return jax.tree.map(lambda a: a.reshape((count,) + a.shape[2:]), out)

    if mesh is None:
        return chunked
    return jax.shard_map(chunked, mesh=mesh, in_specs=(PartitionSpec(MEMBER_AXIS),
                                                       PartitionSpec()),
                         out_specs=PartitionSpec(MEMBER_AXIS), check_vma=False)


class _Programs(NamedTuple):
    init: Callable  # (members(hparams, keys), (train_x, train_y)) -> carry
    epoch: Callable  # (carry, members(hparams, shuffle_keys, rows), shared) -> (carry, metrics)
    evaluate: Callable  # ((hparams, params, model_state), (x, y)) -> {"loss", metric...}
    mesh: Mesh | None


def _mesh(devices) -> Mesh | None:
    return None if devices is None else Mesh(np.array(devices), (MEMBER_AXIS,))


def _build_program(fn: Callable, **fields):
    """`fn` (`_member_init`, `_member_epoch`, `_member_evaluate`) of the spec with these
    fields, mapped over the members."""
    spec = _Spec(**fields)
    return _map_members(functools.partial(fn, spec), spec.chunk_size, _mesh(spec.devices))


def _build_epoch(**fields):
    run = _build_program(_member_epoch, **fields)
    return lambda carry, member, shared: run((carry, *member), shared)


def _programs(spec: _Spec) -> _Programs:
    """The programs of `spec`, cached by its structure (`compile_cache.cached_jit`): a later
    run with an equal structure and new keys or hyperparameter values neither retraces nor
    recompiles."""
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    builders = _builders(spec)
    return _Programs(
        cached_jit("ensemble.init", functools.partial(_build_program, _member_init), fields,
                   fixed=("model", *builders)),
        cached_jit("ensemble.epoch", _build_epoch, fields, fixed=builders,
                   donate_argnums=(0,)),
        cached_jit("ensemble.evaluate", functools.partial(_build_program, _member_evaluate),
                   fields, fixed=builders),
        _mesh(spec.devices))


def _builders(spec: _Spec) -> tuple:
    """The spec's fields that are builders `hp -> piece` (and the static values they read):
    their numbers come through `hp`; the numbers they close over are kept in the programs'
    structure, not traced, as a builder may choose its structure by them (e.g. no dropout
    layer for a keep probability of 1)."""
    names = ["static"]
    if not isinstance(spec.model, Layer):
        names.append("model")
    if not isinstance(spec.make_opt, optax.GradientTransformation):
        names.append("make_opt")
    if spec.regularizer_from_hparams:
        names.append("regularizer")
    return tuple(names)


# ----------------------------------------------------------------------------- the host loop


@jax.jit
def _take(tree, index):
    """The members `index` of every leaf (one compiled gather for the whole tree)."""
    return jax.tree.map(lambda a: a[index], tree)


@jax.jit
def _concat(trees):
    return jax.tree.map(lambda *parts: jnp.concatenate(parts), *trees)


def _padded_size(count: int, devices: int, chunk: int | None) -> tuple[int, int | None]:
    """(members after padding, chunk): a multiple of devices x chunk, chunk <= per device."""
    per_device = -(-count // devices)
    chunk = None if chunk is None else min(chunk, per_device)
    if chunk is not None:
        per_device = -(-per_device // chunk) * chunk
    return per_device * devices, chunk


def _balanced_chunk(count: int, devices: int, most: int | None) -> int | None:
    """The chunk of at most `most` members that splits each device's share of `count`
    members into the fewest chunks with the least padding: ceil(share / ceil(share / most))."""
    if most is None:
        return None
    share = -(-count // devices)
    return -(-share // -(-share // most))


def _auto_chunk(spec: _Spec, members: _Members, train_x) -> int | None:
    """The most members vmapped together on CPU: as many as keep a chunk's params and
    optimizer state under CPU_CHUNK_BYTES (at least 1: members too big for the budget
    run one at a time, still inside the one compiled program); no chunking on accelerators."""
    if jax.default_backend() != "cpu":
        return None
    hp, key = _take(members.hparams, 0), members.keys[0]

    def init():
        model, opt, _ = spec.build(hp)
        return train.init_state(model, opt, train_x.shape[1:], key=key,
                                average=spec.ema_decay is not None)
    leaves = jax.tree.leaves(jax.eval_shape(init))
    size = sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in leaves)
    return max(1, CPU_CHUNK_BYTES // max(size, 1))


def _place(tree, mesh: Mesh | None, members: bool):
    """Put `tree` on the mesh: split along the member axis, or replicated."""
    if mesh is None:
        return tree
    spec = PartitionSpec(MEMBER_AXIS) if members else PartitionSpec()
    return jax.device_put(tree, NamedSharding(mesh, spec))


def _padded(tree, count: int, mesh: Mesh | None, chunk: int | None):
    """The first `count` members of `tree`, padded by repeating the last one to a multiple
    of devices x chunk (so every device runs whole chunks) and placed on the mesh."""
    size, _ = _padded_size(count, 1 if mesh is None else mesh.size, chunk)
    return _place(_take(tree, np.minimum(np.arange(size), count - 1)), mesh, members=True)


def _train_group(programs: _Programs, spec: _Spec, members: _Members, arrays: dict,
                 epochs: int, bar) -> tuple[_Carry, dict, bool]:
    """Train one group of members for up to `epochs` epochs; (carry, history of (E, K),
    interrupted). A KeyboardInterrupt ends the group after the last finished epoch."""
    count = len(members.keys)
    members = _padded(members, count, programs.mesh, spec.chunk_size)
    train_xy = _place(arrays["train"], programs.mesh, members=False)
    dev = _place(arrays.get("dev"), programs.mesh, members=False)
    carry = programs.init((members.hparams, members.keys), train_xy)
    history: dict = {}

    def record(metrics) -> bool:
        """Add an epoch's metrics to the history; True when every member has stopped."""
        metrics = jax.device_get(metrics)
        accepted, stopped = metrics.pop("accepted")[:count], metrics.pop("stopped")[:count]
        for name, values in metrics.items():
            values = np.where(accepted, np.asarray(values, np.float64)[:count], np.nan)
            history.setdefault(name, []).append(values)
        bar.update(1)
        bar.set_postfix(running=int(np.sum(stopped == 0)))
        return bool(np.all(stopped != 0))

    # The host reads epoch e's metrics while the device runs epoch e + 1 (no idle device):
    # `queue` holds the metrics not yet recorded, the last of them those of `carry`. If
    # every member stopped in epoch e, epoch e + 1 changed nothing (updates are masked).
    queue, interrupted = [], False
    try:
        for epoch in range(1, epochs + 1):
            shared = (jnp.asarray(epoch, jnp.int32), *train_xy, dev)
            carry, metrics = programs.epoch(
                carry, (members.hparams, members.shuffle_keys, members.rows, members.dev_rows),
                shared)
            queue.append(metrics)
            if len(queue) > 1 and record(queue.pop(0)):
                queue.clear()
                break
    except KeyboardInterrupt:
        interrupted = True
    while queue:  # the epochs `carry` has run but the history has not seen yet
        record(queue.pop(0))
    if interrupted and not history:
        raise KeyboardInterrupt  # nothing was trained
    bar.update(epochs - len(next(iter(history.values()))))
    carry = _take(carry, np.arange(count))
    return carry, {name: np.stack(rows) for name, rows in history.items()}, interrupted


def _pad_history(history: dict, epochs: int) -> dict:
    return {name: np.concatenate([rows, np.full((epochs - len(rows),) + rows.shape[1:],
                                                np.nan)]) for name, rows in history.items()}


def _groups(count: int, group: int):
    """(index, size) per group of `group` members out of `count`: `index` picks the group's
    members, padded to `group` by repeating the last member (one compiled program serves
    every group); the first `size` of them are real."""
    for start in range(0, count, group):
        yield np.minimum(np.arange(start, start + group), count - 1), min(group, count - start)


def _run(spec: _Spec, members: _Members, arrays: dict, *, epochs: int, group: int,
         verbose: bool) -> tuple[_Carry, dict, int | None]:
    """Train all members, `group` at a time (each group for all its epochs). Returns the
    carry and history of the members trained and, after a KeyboardInterrupt, the number
    of them (the later groups are not trained), else None."""
    programs = _programs(spec)
    count = len(members.keys)
    bar = train._progress_bar(epochs * -(-count // group), 0, verbose)
    carries, histories, interrupted_at = [], [], None
    try:
        for index, size in _groups(count, group):
            try:
                carry, history, interrupted = _train_group(
                    programs, spec, _take(members, index), arrays, epochs, bar)
            except KeyboardInterrupt:
                if not carries:
                    raise
                interrupted = None
            else:
                carries.append(_take(carry, np.arange(size)))
                histories.append({k: v[:, :size] for k, v in history.items()})
            if interrupted is not False:
                interrupted_at = sum(len(c.stopped) for c in carries)
                break
    finally:
        bar.close()
    run_epochs = max(len(next(iter(h.values()), [])) for h in histories)
    histories = [_pad_history(h, run_epochs) for h in histories]
    history = {name: np.concatenate([h[name] for h in histories], axis=1)
               for name in histories[0]}
    history = {"epoch": list(range(1, run_epochs + 1)), **history}
    carry = _concat(tuple(carries)) if len(carries) > 1 else carries[0]
    return carry, history, interrupted_at


# ----------------------------------------------------------------------------- members


def _member_keys(key, seeds: np.ndarray):
    return jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.asarray(seeds, jnp.int32))


def _members(key, hparams: dict, seeds: np.ndarray, num_train: int, *, same_order: bool,
             bootstrap: bool, folds=None) -> _Members:
    """The members' keys, shuffle keys and hyperparameters; their training rows (a
    bootstrap resample each, or `folds`' (train rows, dev rows) padded with -1)."""
    keys = _member_keys(key, seeds)
    shuffle_keys = jax.vmap(lambda k: jax.random.fold_in(k, train.SHUFFLE))(keys)
    if same_order:
        first = jax.random.fold_in(jax.random.fold_in(key, 0), train.SHUFFLE)
        shuffle_keys = jax.vmap(lambda _: first)(jnp.arange(len(seeds)))
    rows = None
    if bootstrap:
        rows = jax.vmap(lambda k: jax.random.randint(jax.random.fold_in(k, BOOTSTRAP),
                                                     (num_train,), 0, num_train))(keys)
    dev_rows = None
    if folds is not None:
        rows, dev_rows = (jnp.asarray(_pad_rows([fold[part] for fold in folds]))
                          for part in (0, 1))
    hps = {name: jnp.asarray(values, jnp.float32) for name, values in hparams.items()}
    return _Members(hps, keys, shuffle_keys, rows, dev_rows)


def _pad_rows(row_sets) -> np.ndarray:
    """(K, longest) int32: row set i, then -1 (padding, masked) up to the longest."""
    longest = max(len(rows) for rows in row_sets)
    return np.stack([np.pad(rows, (0, longest - len(rows)), constant_values=-1)
                     for rows in row_sets]).astype(np.int32)


def _row_value(value):
    return value.item() if hasattr(value, "item") else value


def _at(history: dict, name: str, epochs) -> np.ndarray:
    """history[name] at the given (1-based, per member) epochs; NaN where epoch is 0."""
    rows = history[name]
    cols = np.arange(rows.shape[1])
    picked = rows[np.maximum(epochs - 1, 0), cols]
    return np.where(epochs > 0, picked, np.nan)


def _table(history: dict, carry_info: dict, hparams: dict, static: dict, seeds, final: dict,
           label: str, interrupted: bool = False) -> list[dict]:
    """One row per member: hyperparameters, seed, final/best of every recorded train/dev
    metric, test metrics of the returned params, best epoch, stopped ("interrupted" for the
    members still running when a KeyboardInterrupt ended training)."""
    epochs_run = np.sum(np.isfinite(history["train_loss"]), axis=0).astype(int)
    best_epoch = carry_info["best_epoch"]
    columns = {}
    recorded = [name for name in history if name.startswith(("train_", "dev_"))]
    order = lambda name: (not name.startswith("train_"), not name.endswith("_loss"), name)  # noqa: E731
    for name in sorted(recorded, key=order):
        columns[f"final_{name}"] = _at(history, name, epochs_run)
        columns[f"best_{name}"] = _at(history, name, best_epoch)
    if "test" in final:
        columns.update({f"test_{k}": v for k, v in final["test"].items()})
    rows = []
    for i, seed in enumerate(seeds):
        code = int(carry_info["stopped"][i])
        row = {label: i, **{k: _row_value(v) for k, v in static.items()},
               **{k: float(v[i]) for k, v in hparams.items()}, "seed": int(seed),
               "best_epoch": int(best_epoch[i]), "epochs": int(epochs_run[i]),
               "stopped": "interrupted" if interrupted and code == 0 else STOPPED[code]}
        row.update({k: float(v[i]) for k, v in columns.items()})
        rows.append(row)
    return rows


def maximize(column: str, metrics: tuple = ()) -> bool:
    """Whether larger is better in the table column `column` (`metrics.maximized`)."""
    return metrics_lib.maximized(column, metrics)


def ranked(rows: list[dict], monitor: str, maximize: bool | None = None) -> list[dict]:
    """`rows` best first by the column `monitor` (`maximize` None: accuracies maximized,
    anything else minimized); rows where it is missing or NaN come last, ties keep their
    order."""
    if maximize is None:
        maximize = metrics_lib.maximized(monitor)

    def score(row):
        value = row.get(monitor)
        if value is None or not np.isfinite(value):
            return np.inf
        return -value if maximize else value
    return sorted(rows, key=score)


def _monitor_column(tracker: train.EarlyStopping | None, stopper) -> str:
    """The table column that ranks members: the monitor at the epoch of the params each
    returns (its best epoch with early stopping, else its last); the final train loss
    without a dev set."""
    if tracker is None:
        return "final_train_loss"
    return f"{'best' if stopper is not None else 'final'}_{tracker.monitor}"


def _best_row(table: list[dict], tracker: train.EarlyStopping | None, stopper) -> dict:
    """The row of the member with the best monitored value (NaN never wins)."""
    maximize = tracker.maximize if tracker is not None else False
    return ranked(table, _monitor_column(tracker, stopper), maximize)[0]


def _report_stops(table: list[dict], label: str) -> None:
    bad = {}
    for row in table:
        if row["stopped"] in ("nan", "exploding"):
            bad.setdefault(row["stopped"], []).append(row[label])
    if bad:
        parts = [f"{len(v)} {k} ({label}s {', '.join(map(str, v[:8]))}"
                 f"{' ...' if len(v) > 8 else ''})" for k, v in bad.items()]
        print(f"jaxdl: {sum(map(len, bad.values()))} of {len(table)} {label}s diverged: "
              f"{'; '.join(parts)}; each kept its last good state. Lower their learning "
              "rate or clip gradients.", file=sys.stderr)


def _check_common(where: str, data, *, strategy, chunk_size, members_per_call,
                  **run_arguments) -> train.RunChecks:
    """`train.check_run` plus the ensemble's own options."""
    check_choice(where, "strategy", strategy, STRATEGIES)
    if chunk_size is not None:
        check_positive_int(where, "chunk_size", chunk_size)
    if members_per_call is not None:
        check_positive_int(where, "members_per_call", members_per_call)
    return train.check_run(where, data, **run_arguments)


def _train(where: str, model, make_opt, loss, data, *, key, hparams: dict, static: dict,
           seeds: np.ndarray, regularizer, regularizer_from_hparams: bool, epochs: int,
           batch_size: int, metrics, early_stopping, augment, same_order: bool,
           bootstrap: bool, shuffle: bool, drop_remainder: bool, explode_factor: float,
           eval_batch_size: int, strategy: str, chunk_size: int | None,
           members_per_call: int | None, verbose: bool, label: str,
           ema_decay: float | None, folds=None) -> EnsembleResult:
    epochs, batch_size, stopper, tracker, arrays, metrics = _check_common(
        where, data, loss=loss, metrics=metrics, epochs=epochs, batch_size=batch_size,
        early_stopping=early_stopping, strategy=strategy, chunk_size=chunk_size,
        members_per_call=members_per_call, explode_factor=explode_factor,
        eval_batch_size=eval_batch_size)
    check_key(where, key)
    if ema_decay is not None:
        check_range(where, "ema_decay", ema_decay, low=0.0, high=1.0, low_open=True,
                    high_open=True)
        ema_decay = float(ema_decay)
    try:
        static_items = tuple(sorted(static.items()))
        hash(static_items)
    except TypeError:
        raise TypeError(f"{where}: static values must be hashable (use tuples, not lists), "
                        f"got {static!r}") from None
    spec = _Spec(model, make_opt, regularizer, regularizer_from_hparams, loss, metrics, augment,
                 batch_size, shuffle, drop_remainder, eval_batch_size, float(explode_factor),
                 ema_decay, stopper, tracker, static_items, None, None)
    first_model = _preflight(where, spec, hparams, label)
    train.check_data(where, arrays, first_model, loss)
    num_train = arrays["train"][0].shape[0]
    members = _members(key, hparams, seeds, num_train, same_order=same_order,
                       bootstrap=bootstrap, folds=folds)
    count = len(seeds)
    if strategy == "auto":
        strategy = "devices" if len(jax.devices()) > 1 else "vmap"
    group = 1 if strategy == "sequential" else min(members_per_call or count, count)
    if strategy == "sequential":
        chunk_size = None
    elif chunk_size is None:
        chunk_size = _auto_chunk(spec, members, arrays["train"][0])
    devices = tuple(jax.devices()[:group]) if strategy == "devices" else None
    spec = dataclasses.replace(spec, devices=devices, chunk_size=_balanced_chunk(
        group, 1 if devices is None else len(devices), chunk_size))
    carry, history, interrupted_at = _run(spec, members, arrays, epochs=epochs, group=group,
                                          verbose=verbose)
    if interrupted_at is not None:  # only the first `interrupted_at` members were trained
        members = _take(members, np.arange(interrupted_at))
        seeds = np.asarray(seeds)[:interrupted_at]
        hparams = {k: np.asarray(v)[:interrupted_at] for k, v in hparams.items()}
    chosen_params, chosen_state = (carry.best if stopper is not None
                                   else (train.averaged(carry.state), carry.state.model_state))
    final = {name: _evaluate(spec, (members.hparams, chosen_params, chosen_state), xy, group)
             for name, xy in arrays.items()  # eval-mode metrics of the returned params
             if folds is None or name == "test"}  # a fold's train/dev: in its history
    info = jax.device_get({"best_epoch": carry.best_epoch, "stopped": carry.stopped})
    hparams_np = {k: np.asarray(v) for k, v in hparams.items()}
    table = _table(history, info, hparams_np, static, seeds, final, label,
                   interrupted=interrupted_at is not None)
    if verbose:
        _report_stops(table, label)
        if interrupted_at is not None:
            print(f"jaxdl: interrupted by the user; kept {interrupted_at} of {count} {label}s "
                  "at their last finished epoch", file=sys.stderr)
    return EnsembleResult(chosen_params, chosen_state, carry.state, history, table,
                          _best_row(table, tracker, stopper), hparams_np, dict(static),
                          np.asarray(seeds), final, model, metrics,
                          _monitor_column(tracker, stopper),
                          "completed" if interrupted_at is None else "interrupted")


def _evaluate(spec: _Spec, member, xy, group: int) -> dict:
    """Eval-mode {"loss", metric...} (K,) of the members, `group` at a time."""
    programs = _programs(spec)
    count = len(jax.tree.leaves(member[1])[0])
    xy = _place(xy, programs.mesh, members=False)
    parts = []
    for index, size in _groups(count, group):
        out = programs.evaluate(_padded(_take(member, index), group, programs.mesh,
                                        spec.chunk_size), xy)
        parts.append(jax.device_get(_take(out, np.arange(size))))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _preflight(where: str, spec: _Spec, hparams: dict, label: str) -> Layer:
    """Build every trial once with its concrete values, so a bad value raises here with
    the builders' own message (e.g. "adam: lr must be in [0, inf), got -1.0"), and a
    builder that reads a name no hyperparameter has says which names there are. Returns
    the first trial's model."""
    count = len(next(iter(hparams.values()))) if hparams else 1
    models = []
    for i in range(count):
        hp = {k: float(v[i]) for k, v in hparams.items()}
        try:
            models.append(spec.build(hp)[0])
        except (ValueError, TypeError) as error:
            shown = ", ".join(f"{k}={v:g}" for k, v in hp.items())
            raise type(error)(f"{where}: {label} {i}" + (f" ({shown})" if shown else "") +
                              f": {error}") from None
        except KeyError as error:
            names = sorted({*hp, *dict(spec.static)})
            raise KeyError(f"{where}: a builder read hp[{error.args[0]!r}], but the "
                           f"hyperparameters are {', '.join(map(repr, names)) or 'none'}; "
                           "check the spelling in hparams/static") from None
    return models[0]


# ----------------------------------------------------------------------------- public API


def use_host_devices(count: int | None = None) -> int:
    """Split the CPU into `count` JAX devices (default: one per core), for
    strategy="devices"; call it right after `import jax`, before any JAX operation.
    Returns the count. On a CPU two devices running their own members overlap each other's
    serial parts and keep both cores busy (see benchmarks/bench_ensemble.py)."""
    if count is None:
        count = os.cpu_count() or 1
    count = check_positive_int("use_host_devices", "count", count)
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        raise RuntimeError(f"use_host_devices({count}) must run before any JAX operation "
                           f"(JAX already runs on {len(jax.devices())} device(s))") from None
    return count


_OPTIONS = ("key", "epochs", "batch_size", "regularizer", "metrics", "early_stopping", "augment",
            "same_order", "bootstrap", "shuffle", "drop_remainder", "explode_factor",
            "eval_batch_size", "strategy", "chunk_size", "members_per_call", "verbose",
            "ema_decay")


def _options(arguments: dict) -> dict:
    """The run options shared by `fit` and `sweep`, from a call's arguments."""
    return {name: arguments[name] for name in _OPTIONS}


def fit(model: Layer, opt: optax.GradientTransformation, loss: Callable, data, *, key,
        members: int, epochs: int, batch_size: int, regularizer: Callable | None = None,
        metrics: dict | None = None, early_stopping=None, augment: Callable | None = None,
        same_order: bool = False,
        bootstrap: bool = False, shuffle: bool = True, drop_remainder: bool = False,
        explode_factor: float = 3.0, eval_batch_size: int = 1000, strategy: str = "auto",
        chunk_size: int | None = None, members_per_call: int | None = None,
        verbose: bool = True, ema_decay: float | None = None) -> EnsembleResult:
    """Train `members` copies of `model` (keys fold_in(key, i)) in one compiled program.

    Arguments as in `train.fit`, plus: `same_order` (all members see the batches of member
    0), `bootstrap` (each member trains on its own resample with replacement), `strategy`
    ("vmap", "devices", "sequential", or "auto": devices when JAX has more than one, else
    vmap; on a CPU see `use_host_devices`), `chunk_size` (members vmapped together; default:
    as many as keep a chunk's params and optimizer state under CPU_CHUNK_BYTES on CPU, all
    on accelerators), `members_per_call` (members trained together, all epochs, before the
    next group: bounds memory). The table has per member: member, seed, best_epoch,
    epochs, stopped, final_/best_ train/dev loss and metrics (history at the last and at
    the best epoch), and the test loss and metrics of the returned params. `best` is the
    row of the member whose returned params have the best monitored dev value (test data
    never selects). `ema_decay`: each
    member keeps the EMA of its weights in the vmapped program, evaluated and returned as
    in `train.fit` (`state.params` holds the raw weights). A KeyboardInterrupt ends
    training gracefully: the result holds what was trained (`stopped` "interrupted").
    """
    options = _options(locals())
    count = check_positive_int("ensemble.fit", "members", members)
    return _train("ensemble.fit", model, opt, loss, data, hparams={}, static={},
                  seeds=np.arange(count), regularizer_from_hparams=False, label="member",
                  **options)


def trials(hparams: dict, seeds=1, combine: str = "grid") -> tuple[dict, np.ndarray]:
    """(hyperparameters name -> (K,) values, seeds (K,)) of a sweep's members.

    combine="grid": every combination of the value lists (the first name varies slowest);
    "zip": the i-th values of every list together (lists of equal length). Each combination
    is crossed with the seeds (an int S for 0..S-1, or a list), trial-major: member
    t * S + s is combination t with seed s.
    """
    check_choice("sweep", "combine", combine, COMBINE)
    if not isinstance(hparams, dict):
        raise TypeError(f"sweep: hparams must be a dict name -> values, got "
                        f"{type(hparams).__name__}")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = np.arange(check_positive_int("sweep", "seeds", seeds))
    seeds = np.asarray(seeds)
    if seeds.ndim != 1 or seeds.size == 0 or seeds.dtype.kind not in "iu" or np.any(seeds < 0):
        raise ValueError(f"sweep: seeds must be a positive int or a list of non-negative ints,"
                         f" got {seeds.tolist()!r}")
    values = {}
    for name, v in hparams.items():
        array = np.asarray(v, dtype=np.float64)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"sweep: hparams[{name!r}] must be a non-empty 1-D list of "
                             f"numbers, got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"sweep: hparams[{name!r}] must be finite, got {array.tolist()}")
        values[name] = array
    if combine == "zip" and len({len(v) for v in values.values()}) > 1:
        sizes = {k: len(v) for k, v in values.items()}
        raise ValueError(f"sweep: combine='zip' needs lists of equal length, got {sizes}")
    if not values:
        combos = [()]
    elif combine == "grid":
        combos = list(itertools.product(*values.values()))
    else:
        combos = list(zip(*values.values()))
    table = np.asarray(combos, np.float64).reshape(len(combos), len(values))
    repeated = np.repeat(table, len(seeds), axis=0)
    return ({name: repeated[:, j] for j, name in enumerate(values)},
            np.tile(seeds, len(combos)))


def sweep(model, make_opt, loss: Callable, data, *, hparams: dict, key, epochs: int,
          batch_size: int, seeds=1, combine: str = "grid", static: dict | None = None,
          regularizer: Callable | None = None, metrics: dict | None = None,
          early_stopping=None, augment: Callable | None = None, same_order: bool = False,
          bootstrap: bool = False,
          shuffle: bool = True, drop_remainder: bool = False, explode_factor: float = 3.0,
          eval_batch_size: int = 1000, strategy: str = "auto", chunk_size: int | None = None,
          members_per_call: int | None = None, verbose: bool = True,
          ema_decay: float | None = None) -> EnsembleResult:
    """Train one member per (hyperparameter combination, seed) in one compiled program.

    `hparams`: name -> list of numbers (learning rate, momentum, decay, L2 factor, keep
    probability, init scale ...), combined by `trials(hparams, seeds, combine)`. `model`:
    a Layer or `hp -> Layer`; `make_opt`: `hp -> optimizer` (or a fixed optimizer);
    `regularizer`: None or `hp -> regularizer`. `hp` maps each name to the member's value
    (a traced scalar) and each `static` name to its (structural, Python) value. New values
    of the same names reuse the compiled program; each `static` combination compiles its
    own. Other arguments as in `fit`; the table's column "trial" numbers the members.
    """
    options = _options(locals())
    values, seed_list = trials(hparams, seeds, combine)
    return _train("sweep", model, make_opt, loss, data, hparams=values,
                  static=dict(static or {}), seeds=seed_list, regularizer_from_hparams=True,
                  label="trial", **options)


# ----------------------------------------------------------------------------- k-fold


class CrossValidation(NamedTuple):
    """What `cross_validate` returns. `table`: one row per fold ("fold", "train_size",
    "dev_size", "epochs", "stopped", and "train_<m>"/"dev_<m>" for the loss and each metric
    m at the epoch of the returned params); `mean`/`std`: "train_<m>"/"dev_<m>" -> the mean
    and the sample standard deviation (ddof=1) over the k folds; `result`: the
    EnsembleResult of the k members (member i = fold i)."""

    table: list
    mean: dict
    std: dict
    result: EnsembleResult


FOLDS = 2 ** 31 - 1  # fold_in index of the fold assignment (members use 0..k-1)
_CV_OPTIONS = ("regularizer", "metrics", "early_stopping", "augment", "shuffle",
               "drop_remainder", "explode_factor", "eval_batch_size", "strategy",
               "chunk_size", "members_per_call", "verbose", "ema_decay")


def cross_validate(model: Layer, opt: optax.GradientTransformation, loss: Callable, dataset,
                   k: int = 5, *, key, epochs: int, batch_size: int, stratify: bool = True,
                   **fit_options) -> CrossValidation:
    """k-fold cross-validation as one compiled program: the k folds of `data.kfold(dataset,
    k, key=fold_in(key, FOLDS))` are k members of one vmapped run (`fit`), member i trained
    with key fold_in(key, i) on fold i's training rows and validated on its held-out rows.

    Every member sees the whole `dataset` (a Dataset or an (x, y) pair) through its own row
    sets, padded with masked entries to the longest fold, so all share one shape. When k
    divides len(dataset) the folds have equal sizes and member i is the run
    `train.fit(..., key=fold_in(key, i))` on fold i's (train, validation) pair (up to float
    rounding); otherwise a fold one example short shuffles over the padded length, so its
    batches differ from that solo run's. `fit_options`: those of `fit` (regularizer,
    metrics, early_stopping, ...). Scores: the mean and spread over folds of the held-out
    metrics (the course's "average the k validation errors").
    """
    from jaxdl.data import splits as splits_lib

    unknown = sorted(set(fit_options) - set(_CV_OPTIONS))
    if unknown:
        raise TypeError(f"cross_validate: unknown option(s) {', '.join(unknown)}; the options "
                        f"are {', '.join(_CV_OPTIONS)}")
    check_key("cross_validate", key)
    ds = splits_lib.as_dataset("cross_validate", dataset)
    folds = splits_lib.kfold_indices(ds, k, key=jax.random.fold_in(key, FOLDS),
                                     stratify=stratify, where="cross_validate")
    smallest = min(len(rows) for rows, _ in folds)
    batch_size = check_positive_int("cross_validate", "batch_size", batch_size)
    if batch_size > smallest:
        raise ValueError(f"cross_validate: batch_size ({batch_size}) is larger than a fold's "
                         f"training set ({smallest} examples with k={len(folds)})")
    defaults = inspect.signature(fit).parameters
    options = {**{name: defaults[name].default for name in _CV_OPTIONS}, **fit_options}
    result = _train("cross_validate", model, opt, loss, (ds, ds), key=key, hparams={},
                    static={}, seeds=np.arange(len(folds)), regularizer_from_hparams=False,
                    label="fold", epochs=epochs, batch_size=batch_size, same_order=False,
                    bootstrap=False, folds=folds, **options)
    at = "best_" if result.monitor.startswith("best_") else "final_"
    table = []
    for row, (train_rows, dev_rows) in zip(result.table, folds):
        scores = {name[len(at):]: value for name, value in row.items()
                  if name.startswith((f"{at}train_", f"{at}dev_"))}
        table.append({"fold": row["fold"], "train_size": len(train_rows),
                      "dev_size": len(dev_rows), "epochs": row["epochs"],
                      "stopped": row["stopped"], **scores})
    names = [name for name in table[0] if name.startswith(("train_", "dev_"))]
    columns = {name: np.array([row[name] for row in table]) for name in names}
    return CrossValidation(table, {n: float(np.mean(v)) for n, v in columns.items()},
                           {n: float(np.std(v, ddof=1)) for n, v in columns.items()}, result)


# ----------------------------------------------------------------------------- snapshots


def cyclic_cosine(lr, period: int):
    """Schedule lr(t) = lr / 2 * (1 + cos(pi * (t mod period) / period)) (Loshchilov & Hutter
    2017's warm restarts; the schedule of snapshot ensembles, Huang et al. 2017)."""
    period = check_positive_int("cyclic_cosine", "period", period)
    check_range("cyclic_cosine", "lr", lr, low=0.0)

    def schedule(count):
        phase = jnp.mod(count, period).astype(jnp.float32) / period
        return jnp.asarray(lr, jnp.float32) / 2 * (1 + jnp.cos(jnp.pi * phase))
    return schedule


def snapshots(model: Layer, opt: optax.GradientTransformation, loss: Callable, data, *, key,
              epochs: int, batch_size: int, every: int, **fit_kwargs) -> EnsembleResult:
    """A snapshot ensemble: one `train.fit` run whose params every `every` epochs are the
    members (pair with `cyclic_cosine`, period = every x steps per epoch, so each snapshot
    ends a cycle in a different minimum). `fit_kwargs` go to `train.fit`."""
    every = check_positive_int("snapshots", "every", every)
    epochs = check_positive_int("snapshots", "epochs", epochs)
    if every > epochs:
        raise ValueError(f"snapshots: every ({every}) must be at most epochs ({epochs})")
    kept: dict = {}

    def keep(epoch, state, metrics):
        if epoch % every == 0:
            kept[epoch] = state
    callbacks = (*fit_kwargs.pop("callbacks", ()), keep)
    result = train.fit(model, opt, loss, data, key=key, epochs=epochs, batch_size=batch_size,
                       callbacks=callbacks, **fit_kwargs)
    if not kept:
        raise ValueError(f"snapshots: the run stopped ({result.stopped}) before epoch "
                         f"{every}, so no snapshot was kept: {result.message}")
    epochs_kept = sorted(kept)
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *(kept[e] for e in epochs_kept))
    arrays = train.split_data(data)
    history = {"epoch": result.history["epoch"],
               **{k: np.asarray(v, np.float64)[:, None] for k, v in result.history.items()
                  if k not in ("epoch", "wall_time") and all(map(train._is_number, v))}}
    metrics = metrics_lib.resolve("snapshots", fit_kwargs.get("metrics"), loss)
    final, rows = {}, []
    for name, xy in arrays.items():
        per = [train.evaluate(model, train.averaged(kept[e]), kept[e].model_state, xy,
                              loss=loss, metrics=dict(metrics)) for e in epochs_kept]
        final[name] = {k: np.array([m[k] for m in per]) for k in per[0]}
    for i, epoch in enumerate(epochs_kept):
        rows.append({"snapshot": i, "epoch": epoch,
                     **{f"{split}_{k}": float(values[i])
                        for split in final for k, values in final[split].items()}})
    split = "dev" if "dev" in final else "train"
    monitor = f"{split}_accuracy" if "accuracy" in final[split] else f"{split}_loss"
    best = ranked(rows, monitor, maximize(monitor, metrics))[0]
    stopped = "interrupted" if result.stopped == "interrupted" else "completed"
    return EnsembleResult(train.averaged(stacked), stacked.model_state, stacked, history, rows,
                          best,
                          {}, {}, np.zeros(len(rows), int), final, model, metrics, monitor,
                          stopped)


# ----------------------------------------------------------------------------- voting


def probabilities(outputs) -> jax.Array:
    """Member class probabilities (K, N, C) from outputs (K, N, C):
    `metrics.class_probabilities` (softmax over classes; one logit z becomes the two
    classes (1 - sigmoid(z), sigmoid(z)))."""
    return metrics_lib.class_probabilities(outputs)


def vote(probs, rule: str = "mean_prob") -> jax.Array:
    """The ensemble's class per example from member probabilities `probs` (K, N, C).

    "hard": the class most members predict (argmax), ties to the smallest class index;
    "mean_prob": argmax_c of the mean over members of p_k(c);
    "confidence": argmax_c of sum_k p_k(c) [c = argmax p_k], each member's vote weighted
    by its predicted probability.
    """
    check_choice("vote", "rule", rule, VOTES)
    probs = jnp.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"vote: probs must have shape (members, examples, classes), got "
                         f"{probs.shape}")
    if rule == "mean_prob":
        return jnp.argmax(jnp.mean(probs, axis=0), axis=-1)
    picked = jax.nn.one_hot(jnp.argmax(probs, axis=-1), probs.shape[-1], dtype=probs.dtype)
    weights = picked if rule == "hard" else picked * probs
    return jnp.argmax(jnp.sum(weights, axis=0), axis=-1)


_vote = vote  # `predict` names its argument `vote`


def _build_outputs(model, static: tuple):
    build = _builder(model, Layer, "model")

    def outputs(hp, params, model_state, x):
        layer = build({**dict(static), **hp})
        return layer.apply(params, model_state, x, train=False)[0]
    return jax.vmap(outputs, in_axes=(0, 0, 0, None))


def member_outputs(result: EnsembleResult, x, *, batch_size: int = 1000) -> np.ndarray:
    """Eval-mode outputs (K, N, C) of every member on `x`, fed in padded batches."""
    batch_size = check_positive_int("member_outputs", "batch_size", batch_size)
    x = np.asarray(x)
    program = cached_jit("ensemble.outputs", _build_outputs, {
        "model": result.model, "static": tuple(sorted(result.static.items()))},
        fixed=("static",) if isinstance(result.model, Layer) else ("model", "static"))
    count = len(result.seeds)
    hps = {k: jnp.asarray(v, jnp.float32) for k, v in result.hparams.items()}
    if not hps:
        hps = {"_": jnp.zeros(count)}  # a member axis for vmap; unused by the model
    n, size = len(x), min(batch_size, len(x))
    parts = []
    for rows, _ in train.padded_batches(n, size):
        parts.append(np.asarray(program(hps, result.params, result.model_state, x[rows])))
    return np.concatenate(parts, axis=1)[:, :n]


def voters(result: EnsembleResult, members="all") -> np.ndarray:
    """The indices of the members that vote: "all"; "best" (`result.best`); "topK" (e.g.
    "top3") or an int K: the K best by the dev-set column `result.monitor`, best first
    (the course: "use the validation phase to pick our best models to ensemble"; the test
    set never selects)."""
    count = len(result.table)
    if isinstance(members, str) and members in ("all", "best"):
        return np.arange(count) if members == "all" else np.array([result.best_index])
    k = members
    if isinstance(members, str) and members.startswith("top") and members[3:].isdigit():
        k = int(members[3:])
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"members must be 'all', 'best', 'topK' (e.g. 'top3') or an int, got "
                         f"{members!r}")
    if not 1 <= k <= count:
        raise ValueError(f"members: top {k} of an ensemble of {count} members; give 1 to "
                         f"{count}")
    if not result.monitor.startswith(("dev_", "best_dev_", "final_dev_")):
        raise ValueError(f"members={members!r} ranks the members on the dev set, but this "
                         f"ensemble has no dev metrics (it ranks by {result.monitor}); train "
                         "it with a dev split")
    return np.array([result.table.index(row) for row in result.ranked()[:k]])


def is_classifier(result: EnsembleResult) -> bool:
    """Whether the members are classifiers: their runs recorded accuracy (the default for
    class and 0/1 losses, `metrics.default_for`); regression losses record none."""
    return "accuracy" in dict(result.metrics)


def predict(result: EnsembleResult, x, vote: str = "mean_prob", *, members="all",
            batch_size: int = 1000) -> np.ndarray:
    """The ensemble's predicted classes (N,) for inputs `x` under the voting rule `vote`,
    among the `members` chosen by `voters` ("all", "best", "top3", 3 ...). A regression
    ensemble (`is_classifier` False) returns the mean of the members' outputs (N, ...)
    instead (bagging's average; `vote` does not apply)."""
    check_choice("predict", "vote", vote, VOTES)
    outputs = member_outputs(result, x, batch_size=batch_size)[voters(result, members)]
    if not is_classifier(result):
        return np.mean(outputs, axis=0)
    return np.asarray(_vote(probabilities(outputs), vote))


def accuracies(result: EnsembleResult, data, *, votes: Sequence[str] = VOTES,
               members="all", batch_size: int = 1000) -> dict:
    """Accuracy on `data` (a Dataset or (x, y)) of each member ("members", (K,)), their
    mean ("mean_member"), the member the run picked on dev ("selected_member", member
    `result.best_index`), the best of them on this very data ("best_member": an oracle,
    never a selection when `data` is the test set), and
    the ensemble under each voting rule (keys "hard", "mean_prob", "confidence") among
    the `members` chosen by `voters` (their indices: "voters")."""
    x, y = train._as_xy(data, "data")
    y = np.asarray(y)
    chosen = voters(result, members)
    probs = probabilities(member_outputs(result, x, batch_size=batch_size))
    member_acc = np.mean(np.asarray(jnp.argmax(probs, axis=-1)) == y[None], axis=1)
    out = {"members": member_acc, "mean_member": float(np.mean(member_acc)),
           "selected_member": float(member_acc[result.best_index]),
           "best_member": float(np.max(member_acc)), "voters": chosen.tolist()}
    for rule in votes:
        out[rule] = float(np.mean(np.asarray(vote(probs[chosen], rule)) == y))
    return out


# ----------------------------------------------------------------------------- output


def jsonable(value):
    """`value` as JSON data: arrays as lists, tuples as lists, NaN/inf as None."""
    if isinstance(value, (np.ndarray, jax.Array)):
        return [jsonable(v) for v in np.asarray(value).tolist()]
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return list(value)
    return value


def to_json(result: EnsembleResult) -> dict:
    """The result's table, best member, hyperparameters and history as JSON-able data
    (NaN becomes null)."""
    return {"members": len(result.seeds),
            "best": {k: jsonable(v) for k, v in result.best.items()},
            "hparams": {k: jsonable(v) for k, v in result.hparams.items()},
            "static": {k: jsonable(v) for k, v in result.static.items()},
            "seeds": jsonable(result.seeds),
            "table": [{k: jsonable(v) for k, v in row.items()} for row in result.table],
            "history": {k: jsonable(v) for k, v in result.history.items()}}


def markdown_table(rows: list[dict], columns: Sequence[str] | None = None) -> str:
    """A GitHub markdown table; floats with 4 significant digits."""
    columns = list(columns or (rows[0] if rows else []))
    cell = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_markdown(result: EnsembleResult, *, top: int | None = None) -> str:
    """The table as markdown (the `top` rows by the monitored value, if given)."""
    rows = result.table if top is None else result.ranked()[:top]
    preferred = [c for c in rows[0] if not c.startswith(("final_train", "best_train"))]
    return markdown_table(rows, preferred)
