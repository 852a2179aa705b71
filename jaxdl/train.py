"""Training: a pure train step, a scan-fused epoch, batched evaluation, and `fit`.

Keys. `fit(..., key=key)` derives every random stream from `key` by `fold_in` with fixed
indices: parameter init (INIT), per-step dropout/augmentation (STEPS, then the step
count), per-epoch shuffles (SHUFFLE, then the epoch number). So a run is a function of
(key, config, data), and member i of an ensemble with key `fold_in(key, i)` is the same
run as a solo fit with that key.

Device and host. An epoch is one jitted call: a `lax.scan` over mini-batches gathered on
device by a keyed permutation, followed by the dev-set evaluation. The host sees only
per-epoch metrics, for the progress bar, the guards, early stopping, callbacks and
checkpoints.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import checkpoint, data as data_lib, fingerprint, losses, metrics as metrics_lib, optim
from jaxdl._checks import check_choice, check_key, check_positive_int, check_range
from jaxdl.compile_cache import cached_jit
from jaxdl.data.checks import check_training_data
from jaxdl.nn.layer import Layer

INIT, STEPS, SHUFFLE = 0, 1, 2  # fold_in indices of the random streams of a run
DROPOUT, AUGMENT = 0, 1  # fold_in indices within one step's key
CHECKPOINT_FILE = "checkpoint.npz"


class TrainState(NamedTuple):
    """Everything that changes during training; a pytree, so it can be jitted and vmapped."""

    params: Any
    model_state: Any  # batch-norm running statistics
    opt_state: Any
    step: jax.Array  # int32 count of optimizer steps taken
    key: jax.Array  # base key of the per-step random streams
    average: Any = None  # EMA of the params (`make_train_step(ema_decay=)`), else None


def averaged(state: TrainState):
    """The params a run evaluates and returns: the running average when it keeps one
    (`fit(ema_decay=)`), else the params themselves."""
    return state.params if state.average is None else state.average


class StopTraining(Exception):
    """Raise from a callback to end `fit` gracefully after the current epoch."""


class EarlyStopping(NamedTuple):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    `monitor` is a history key ("dev_loss", "dev_accuracy", "dev_<metric>", ...); None means
    dev accuracy when it is recorded, else dev loss. `mode`: "max", "min", or "auto" (the
    metric's own direction, `metrics.maximized`; losses are minimized), as in Keras.
    """

    patience: int = 5
    min_delta: float = 0.0
    monitor: str | None = None
    mode: str = "auto"

    def improved(self, value, best):
        if self.maximize:
            return value > best + self.min_delta
        return value < best - self.min_delta

    @property
    def maximize(self) -> bool:
        if self.mode == "auto":
            return metrics_lib.maximized(self.monitor or "dev_loss")
        return self.mode == "max"


class FitResult(NamedTuple):
    """What `fit` returns.

    `params`/`model_state` are the best-dev-epoch ones with early stopping, else the last
    good ones; with `ema_decay` those params are the running average (`averaged`), the raw
    ones are `state.params` (last epoch). `state` is the last good TrainState (resume from
    it; `state.average` the last average); `stopped` is one of
    "completed", "early_stopping", "nan", "exploding", "callback", "interrupted".
    `final` maps "train"/"dev"/"test" to the eval-mode loss and metrics of `params`
    ({"loss", "accuracy"} for a classification loss).
    """

    params: Any
    model_state: Any
    state: TrainState
    history: dict
    best_epoch: int
    stopped: str
    message: str
    initial_loss: float
    final: dict


# ----------------------------------------------------------------------------- the step


def init_state(model: Layer, opt: optax.GradientTransformation, input_shape, *, key,
               average: bool = False) -> TrainState:
    """Initialize params (key fold_in(key, INIT)), optimizer state, step 0; with `average`
    the running average of the params starts at the initial params."""
    params, model_state, _ = model.init(jax.random.fold_in(key, INIT), tuple(input_shape))
    return TrainState(params, model_state, opt.init(params), jnp.zeros((), jnp.int32),
                      jax.random.fold_in(key, STEPS), params if average else None)


def ema_update(average, params, step, decay):
    """The bias-corrected EMA of the params after step `step` (1, 2, ...): v_t = decay v_{t-1}
    + (1 - decay) w_t, v_0 = 0, average a_t = v_t / (1 - decay^t) (the course notes'
    exponentially weighted average with bias correction), computed as
    a_t = a_{t-1} + (1 - decay) / (1 - decay^t) (w_t - a_{t-1}) (a_1 = w_1)."""
    decay = jnp.asarray(decay, jnp.float32)
    weight = (1 - decay) / -jnp.expm1(step.astype(jnp.float32) * jnp.log(decay))
    return jax.tree.map(lambda a, w: a + (weight * (w - a)).astype(a.dtype), average, params)


def masked_mean(values, mask):
    """Mean of `values` over the entries where `mask` is True (0 when none is)."""
    mask = mask.astype(values.dtype)
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1)


def make_objective(model: Layer, loss: Callable, regularizer: Callable | None = None):
    """The training objective `objective(params, model_state, x, y, mask, key)`.

    J = masked mean of loss(model(x), y, reduction="none") + regularizer(params), the model
    in training mode with key fold_in(key, DROPOUT) (no key when `key` is None). Returns
    (J, (new model_state, data loss without the penalty, outputs)); `jax.grad` it with
    has_aux=True. The train step and the gradient check share it.
    """

    def objective(params, model_state, x, y, mask, key):
        apply_key = None if key is None else jax.random.fold_in(key, DROPOUT)
        outputs, model_state = model.apply(params, model_state, x, key=apply_key, train=True)
        data_loss = masked_mean(loss(outputs, y, reduction="none"), mask)
        penalty = regularizer(params) if regularizer is not None else 0.0
        return data_loss + penalty, (model_state, data_loss, outputs)

    return objective


def step_key(state: TrainState):
    """The key of the step `state` is about to take: fold_in(state.key, state.step)."""
    return jax.random.fold_in(state.key, state.step)


def _metrics_of(where: str, metrics, loss) -> tuple:
    """Resolved ((name, Metric), ...): `metrics` itself when already resolved."""
    if isinstance(metrics, tuple):
        return metrics
    return metrics_lib.resolve(where, metrics, loss)


def finalized(means: dict, metrics: tuple) -> dict:
    """`means` with each metric's `finalize` applied (RMSE = sqrt of the mean squared error)."""
    known = dict(metrics)
    return {k: known[k].result(v) if k in known else v for k, v in means.items()}


def make_train_step(model: Layer, opt: optax.GradientTransformation, loss: Callable,
                    regularizer: Callable | None = None, *, augment: Callable | None = None,
                    metrics=None, ema_decay=None):
    """A pure step `(state, (x, y, mask)) -> (state, metrics)`.

    Objective J = masked mean of loss(model(x), y, reduction="none") + regularizer(params)
    (`make_objective`); the mask removes the padding of a last partial batch (`(x, y)`
    means all real). The step's key is `step_key(state)`; dropout and augmentation draw
    from fold_ins of it. Metrics: data "loss" (without the penalty), "objective" (J, with
    a regularizer), "count" (real examples) and the masked mean of each of `metrics`
    (default `metrics.default_for(loss)`) on the training-mode outputs, before `finalize`.
    `ema_decay`: also update `state.average` (`ema_update`; the state needs one, see
    `init_state(average=True)`).
    """
    objective = make_objective(model, loss, regularizer)
    metrics = _metrics_of("make_train_step", metrics, loss)
    if ema_decay is not None:
        check_range("make_train_step", "ema_decay", ema_decay, low=0.0, high=1.0,
                    low_open=True, high_open=True)

    def step(state: TrainState, batch):
        x, y, mask = batch if len(batch) == 3 else (*batch, jnp.ones(len(batch[0]), bool))
        key = step_key(state)
        if augment is not None:
            x = augment(jax.random.fold_in(key, AUGMENT), x)
        (total, (model_state, data_loss, outputs)), grads = jax.value_and_grad(
            objective, has_aux=True)(state.params, state.model_state, x, y, mask, key)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        average = state.average
        if ema_decay is not None:
            if average is None:
                raise ValueError("make_train_step: ema_decay needs a state with an average; "
                                 "use init_state(..., average=True)")
            average = ema_update(average, params, state.step + 1, ema_decay)
        values = {"loss": data_loss, "count": jnp.sum(mask)}
        if regularizer is not None:
            values["objective"] = total
        values.update({name: masked_mean(metric.per_example(outputs, y), mask)
                       for name, metric in metrics})
        return TrainState(params, model_state, opt_state, state.step + 1, state.key,
                          average), values

    return step


def make_epoch(step: Callable, batch_size: int, *, shuffle: bool = True,
               drop_remainder: bool = False, metrics: tuple = ()):
    """`epoch(state, x, y, shuffle_key, rows=None) -> (state, metrics)`: one lax.scan over
    the batches.

    Batches are gathered on device from a permutation drawn from `shuffle_key`. `rows`, an
    optional (m,) int array, lists the examples the epoch draws from (e.g. a bootstrap
    sample, with repeats): the permutation is then of the m entries of `rows`; entries < 0
    are padding, masked out (per-member row sets of unequal size, e.g. k-fold). Metrics are
    the example-weighted means of the step's values (finalized with the step's resolved
    `metrics`, e.g. RMSE) plus "finite" (every step loss and every parameter finite).
    """

    def epoch(state: TrainState, x, y, shuffle_key, rows=None):
        count = x.shape[0] if rows is None else rows.shape[0]
        indices, mask = data_lib.epoch_batches(shuffle_key, count, batch_size,
                                               shuffle=shuffle, drop_remainder=drop_remainder)
        if rows is not None:
            indices = rows[indices]
            mask = mask & (indices >= 0)

        def body(state, batch):
            idx, m = batch
            return step(state, (x[idx], y[idx], m))

        state, per_step = jax.lax.scan(body, state, (indices, mask))
        weights = per_step["count"] / jnp.sum(per_step["count"])
        params_finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf))
                                           for leaf in jax.tree.leaves(state.params)]))
        means = {k: jnp.sum(v * weights) for k, v in per_step.items() if k != "count"}
        return state, {**finalized(means, metrics),
                       "finite": jnp.all(jnp.isfinite(per_step["loss"])) & params_finite}

    return epoch


def make_batch_metrics(model: Layer, loss: Callable, metrics=None):
    """`sums(params, model_state, x, y, mask) -> {"loss": sum, name: sum, ...}` over the
    real examples, eval mode (`metrics` default `metrics.default_for(loss)`)."""
    metrics = _metrics_of("make_batch_metrics", metrics, loss)

    def sums(params, model_state, x, y, mask):
        outputs, _ = model.apply(params, model_state, x, train=False)
        mask = mask.astype(jnp.float32)
        out = {"loss": jnp.sum(loss(outputs, y, reduction="none") * mask)}
        out.update({name: jnp.sum(metric.per_example(outputs, y) * mask)
                    for name, metric in metrics})
        return out

    return sums


def make_evaluate(model: Layer, loss: Callable, batch_size: int = 1000, metrics=None):
    """`evaluate(params, model_state, x, y, mask=None) -> {"loss", name, ...}` in eval mode.

    Pure and jit-able (used inside the compiled epoch): a lax.scan over batches, the last
    partial batch masked; each metric is its mean over the examples (only those where the
    optional (n,) bool `mask` is True, e.g. a padded per-member dev set), finalized.
    """
    metrics = _metrics_of("make_evaluate", metrics, loss)
    sums = make_batch_metrics(model, loss, metrics)

    def evaluate(params, model_state, x, y, mask=None):
        size = min(batch_size, x.shape[0])
        indices, real = data_lib.epoch_batches(None, x.shape[0], size, shuffle=False)
        count = x.shape[0] if mask is None else jnp.sum(mask)

        def body(totals, batch):
            idx, m = batch
            batch_sums = sums(params, model_state, x[idx], y[idx], m)
            return jax.tree.map(jnp.add, totals, batch_sums), None

        zeros = {k: jnp.zeros((), jnp.float32) for k in ("loss", *dict(metrics))}
        real = real if mask is None else real & mask[indices]
        totals, _ = jax.lax.scan(body, zeros, (indices, real))
        return finalized({k: v / count for k, v in totals.items()}, metrics)

    return evaluate


def padded_batches(n: int, size: int):
    """(rows, real) per host batch of `n` examples: `size` row indices in order, the last
    batch filled up from the start (so one compiled shape serves all), and the mask of its
    real entries."""
    for start in range(0, n, size):
        slots = np.arange(start, start + size)
        yield slots % n, slots < n


def make_host_evaluate(model: Layer, loss: Callable, batch_size: int = 1000, metrics=None):
    """`evaluate(params, model_state, x, y) -> {"loss", name, ...}` as Python floats.

    The host feeds fixed-size padded batches to one compiled function, so datasets of any
    size share a single compilation, cached across calls by the pieces' structure
    (`compile_cache.cached_jit`): new params or new numbers in the model or loss reuse it.
    """
    metrics = _metrics_of("evaluate", metrics, loss)
    sums = cached_jit("evaluate", make_batch_metrics,
                      {"model": model, "loss": loss, "metrics": metrics})

    def evaluate(params, model_state, x, y):
        x, y = np.asarray(x), np.asarray(y)
        n = x.shape[0]
        size = min(batch_size, n)
        totals: dict = {}
        for rows, real in padded_batches(n, size):
            for k, v in sums(params, model_state, x[rows], y[rows], real).items():
                totals[k] = totals.get(k, 0.0) + float(v)
        means = finalized({k: jnp.asarray(v / n) for k, v in totals.items()}, metrics)
        return {k: float(v) for k, v in means.items()}

    return evaluate


def evaluate(model: Layer, params, model_state, data, *, loss=losses.softmax_cross_entropy,
             metrics=None, batch_size: int = 1000) -> dict:
    """Eval-mode loss and `metrics` (default `metrics.default_for(loss)`) of `params` on
    `data` (a Dataset or an (x, y) pair)."""
    return make_host_evaluate(model, loss, batch_size, metrics)(params, model_state,
                                                                *_as_xy(data, "data"))


def make_epoch_and_evaluate(model: Layer, opt: optax.GradientTransformation, loss: Callable,
                            regularizer: Callable | None = None, *, batch_size: int,
                            augment: Callable | None = None, shuffle: bool = True,
                            drop_remainder: bool = False, eval_batch_size: int = 1000,
                            metrics=None, ema_decay=None):
    """`run(state, shuffle_key, epoch, train_x, train_y, dev, rows=None) -> (state, metrics)`.

    Pure: one epoch (`make_epoch`) on the shuffle key fold_in(shuffle_key, epoch), then the
    eval-mode dev metrics of the new state's `averaged` params (the EMA with `ema_decay`).
    Metrics: train_loss (data loss), train_objective (loss + penalty, with a regularizer),
    train_<metric>, finite, dev_loss and dev_<metric> when `dev` is an (x, y) pair,
    learning_rate when the optimizer records one. `fit` jits it; `jaxdl.ensemble` vmaps it
    over a member axis.
    """
    metrics = _metrics_of("make_epoch_and_evaluate", metrics, loss)
    step = make_train_step(model, opt, loss, regularizer, augment=augment, metrics=metrics,
                           ema_decay=ema_decay)
    run_epoch = make_epoch(step, batch_size, shuffle=shuffle, drop_remainder=drop_remainder,
                           metrics=metrics)
    evaluate_fn = make_evaluate(model, loss, eval_batch_size, metrics)

    def epoch_and_evaluate(state, shuffle_key, epoch, train_x, train_y, dev, rows=None):
        state, values = run_epoch(state, train_x, train_y,
                                  jax.random.fold_in(shuffle_key, epoch), rows)
        values = {f"train_{k}" if k != "finite" else k: v for k, v in values.items()}
        if dev is not None:
            dev_metrics = evaluate_fn(averaged(state), state.model_state, *dev)
            values.update({f"dev_{k}": v for k, v in dev_metrics.items()})
        lr = optim.learning_rate(state.opt_state)
        if lr is not None:  # plain optax optimizers record none
            values["learning_rate"] = lr
        return state, values

    return epoch_and_evaluate


# ----------------------------------------------------------------------------- the data


def _is_xy_pair(data) -> bool:
    """An (x, y) pair of arrays, as opposed to a tuple of Datasets (decided by type)."""
    return (isinstance(data, (tuple, list)) and len(data) == 2
            and not any(_is_dataset(part) for part in data))


def _is_dataset(data) -> bool:
    return hasattr(data, "x") and hasattr(data, "y")


def _as_xy(data, name: str):
    """(x, y) device arrays from a Dataset (`.x`, `.y`) or an (x, y) pair."""
    if _is_dataset(data):
        x, y = data.x, data.y
    elif _is_xy_pair(data):
        x, y = data
    else:
        raise TypeError(f"{name} must be a Dataset or an (x, y) pair of arrays, got "
                        f"{type(data).__name__}")
    for part, value in (("x", x), ("y", y)):
        kind = np.asarray(value).dtype.kind
        if kind not in "biuf":
            raise TypeError(f"{name} {part} must be an array of numbers, got dtype "
                            f"{np.asarray(value).dtype}")
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{name}: x and y need an example axis, got shapes {x.shape} and "
                         f"{y.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{name}: x has {x.shape[0]} examples but y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x, y


SPLITS = ("train", "dev", "test")


def split_data(data):
    """{"train": (x, y), "dev": ..., "test": ...} from a Splits (or any object with train /
    dev / test), a tuple of 1-3 Datasets (train, dev, test), a Dataset or an (x, y) pair
    of arrays (train only)."""
    if data is None:
        raise TypeError("data is None; pass a data.Splits, a Dataset, a (train, dev[, test]) "
                        "tuple of Datasets or an (x, y) pair of arrays")
    if hasattr(data, "train"):
        parts = {name: getattr(data, name, None) for name in SPLITS}
    elif isinstance(data, (tuple, list)) and not _is_xy_pair(data):
        if not 1 <= len(data) <= 3 or not all(_is_dataset(p) or p is None for p in data):
            raise TypeError("data: a tuple must be an (x, y) pair of arrays or (train, dev"
                            "[, test]) Datasets, got a tuple of "
                            f"{', '.join(type(p).__name__ for p in data)}")
        parts = dict(zip(SPLITS, data))
    else:
        parts = {"train": data}
    if parts.get("train") is None:
        raise TypeError("data has no train split")
    return {name: _as_xy(part, name) for name, part in parts.items() if part is not None}


def output_shape(model: Layer, input_shape) -> tuple:
    """The model's output shape for one example (its `init` traced abstractly, no FLOPs)."""
    found = []

    def init(key):
        params, state, shape = model.init(key, tuple(input_shape))
        found.append(tuple(shape))
        return params, state
    jax.eval_shape(init, jax.random.key(0))
    return found[0]


# ------------------------------------------------------------------------------ the loop


def _early_stopping(where: str, early_stopping) -> EarlyStopping | None:
    if early_stopping is None or isinstance(early_stopping, EarlyStopping):
        return early_stopping
    return EarlyStopping(patience=check_positive_int(where, "early_stopping", early_stopping))


class RunChecks(NamedTuple):
    """The validated arguments of a training run (`check_run`)."""

    epochs: int
    batch_size: int
    stopper: EarlyStopping | None  # early stopping, if asked for
    tracker: EarlyStopping | None  # what picks the best epoch: stopper, else the default
    arrays: dict  # split name -> (x, y), from `split_data`
    metrics: tuple  # ((name, Metric), ...), from `metrics.resolve`


def _tracker(where: str, stopper, arrays: dict, metrics: tuple) -> EarlyStopping | None:
    """The monitor that picks the best epoch, with its name and direction resolved: the
    stopper's, else dev accuracy when recorded, else dev loss (None without a dev set)."""
    tracker = stopper or (EarlyStopping() if "dev" in arrays else None)
    if tracker is None:
        return None
    recorded = [f"{split}_{name}" for split in ("train", "dev") if split in arrays
                for name in ("loss", *dict(metrics))]
    monitor = tracker.monitor or ("dev_accuracy" if "dev_accuracy" in recorded else "dev_loss")
    if monitor not in recorded:
        raise ValueError(f"{where}: early_stopping.monitor must be one of "
                         f"{', '.join(sorted(recorded))}, got {monitor!r}")
    check_choice(where, "early_stopping.mode", tracker.mode, ("auto", "min", "max"))
    mode = tracker.mode
    if mode == "auto":
        mode = "max" if metrics_lib.maximized(monitor, metrics) else "min"
    return tracker._replace(monitor=monitor, mode=mode)


def check_run(where: str, data, *, loss, metrics, epochs, batch_size, early_stopping,
              explode_factor, eval_batch_size) -> RunChecks:
    """Validate the arguments shared by `fit` and the ensembles; errors name `where`."""
    epochs = check_positive_int(where, "epochs", epochs)
    batch_size = check_positive_int(where, "batch_size", batch_size)
    check_positive_int(where, "eval_batch_size", eval_batch_size)
    check_range(where, "explode_factor", explode_factor, low=1.0, low_open=True)
    if not callable(loss):
        raise TypeError(f"{where}: loss must be a function (outputs, labels, *, reduction) "
                        f"-> loss, got {type(loss).__name__}")
    if not losses.takes_reduction(loss):
        raise TypeError(f"{where}: loss takes no reduction= argument; jaxdl calls "
                        "loss(outputs, labels, reduction='none') for per-example values (it "
                        "masks padded batches): wrap a plain batch-mean loss as "
                        "losses.per_example(loss)")
    metrics = metrics_lib.resolve(where, metrics, loss)
    stopper = _early_stopping(where, early_stopping)
    try:
        arrays = split_data(data)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{where}: {error}") from None
    num_train = arrays["train"][0].shape[0]
    if batch_size > num_train:
        raise ValueError(f"{where}: batch_size ({batch_size}) is larger than the training set "
                         f"({num_train} examples)")
    if stopper is not None and "dev" not in arrays:
        raise ValueError(f"{where}: early_stopping monitors the dev set; pass data with a dev "
                         "split")
    tracker = _tracker(where, stopper, arrays, metrics)
    stopper = tracker if stopper is not None else None
    return RunChecks(epochs, batch_size, stopper, tracker, arrays, metrics)


def check_data(where: str, arrays: dict, model: Layer, loss) -> None:
    """`data.checks.check_training_data` for `model`'s output shape: one pass per split."""
    input_shapes = {name: tuple(x.shape[1:]) for name, (x, _) in arrays.items()}
    if len(set(input_shapes.values())) > 1:
        raise ValueError(f"{where}: the splits' examples differ in shape: " + ", ".join(
            f"{name} {shape}" for name, shape in input_shapes.items()))
    outputs = output_shape(model, input_shapes["train"])
    check_training_data(where, arrays, loss=loss, outputs=outputs)


@dataclasses.dataclass(frozen=True)
class _Progress:
    """The host loop's bookkeeping after `epoch` epochs; saved in checkpoints."""

    epoch: int = 0
    history: dict = dataclasses.field(default_factory=dict)
    best_epoch: int = 0
    best_value: float | None = None
    wait: int = 0  # epochs since the monitored value last improved
    wall_time: float = 0.0

    def after(self, metrics: dict, tracker: EarlyStopping | None) -> "_Progress":
        """The progress once the epoch `metrics["epoch"]` is accepted."""
        epoch = metrics["epoch"]
        # one entry per epoch in every list; None where a value was not reported
        history = {k: self.history.get(k, [None] * (epoch - 1)) + [metrics.get(k)]
                   for k in self.history.keys() | metrics.keys()}
        if tracker is None:
            best = dict(best_epoch=epoch, wait=0)
        elif self.best_value is None or tracker.improved(metrics[tracker.monitor],
                                                         self.best_value):
            best = dict(best_epoch=epoch, best_value=metrics[tracker.monitor], wait=0)
        else:
            best = dict(wait=self.wait + 1)
        return dataclasses.replace(self, epoch=epoch, history=history,
                                   wall_time=metrics["wall_time"], **best)


class _LogLines:
    """The progress of a batch job (stderr not a terminal: nohup, SLURM, CI logs): one
    flushed line per epoch, "train: epoch 3/30  train_loss 0.1234  dev_accuracy 0.9700",
    where a terminal gets a tqdm bar (the same update/set_postfix/close calls)."""

    def __init__(self, total: int, initial: int):
        self.total, self.n = total, initial

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, values=None, **more) -> None:
        shown = "".join(f"  {k} {v}" for k, v in {**(values or {}), **more}.items())
        print(f"train: epoch {self.n}/{self.total}{shown}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


def _progress_bar(total: int, initial: int, verbose: bool):
    """A tqdm bar on a terminal, `_LogLines` when stderr is none, nothing unless verbose."""
    if verbose and not sys.stderr.isatty():
        return _LogLines(total, initial)
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc="train", unit="epoch", leave=True,
                disable=not verbose)


def _guard(metrics: dict, epoch: int, initial_loss: float, explode_factor: float):
    """(stopped, message) when the epoch must be rejected, else None."""
    lr = metrics.get("learning_rate")
    advice = "Lower the learning rate" + (f" (it was {lr:.3g})" if lr is not None else "")
    if not metrics["finite"]:
        return "nan", (f"epoch {epoch}: the loss or the parameters became NaN/inf; kept the "
                       f"state of epoch {epoch - 1}. {advice} or clip gradients.")
    if metrics["train_loss"] > explode_factor * initial_loss:
        return "exploding", (f"epoch {epoch}: the train loss {metrics['train_loss']:.4g} "
                             f"exceeds {explode_factor:g}x the initial loss {initial_loss:.4g}"
                             f"; kept the state of epoch {epoch - 1}. {advice}.")
    return None


def _is_number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _config_changes(saved_config, config, path, resume_changes) -> dict:
    """{name: [saved, given]} for the config entries (epochs aside) that differ from the
    checkpoint's; each must be named in `resume_changes` and be a number (or None)."""
    if saved_config is None or config is None:
        return {}
    saved = {k: v for k, v in saved_config.items() if k != "epochs"}
    given = {k: v for k, v in config.items() if k != "epochs"}
    changed = sorted(k for k in saved.keys() | given.keys() if saved.get(k) != given.get(k))
    refused = [k for k in changed if k not in resume_changes]
    if refused:
        raise ValueError(f"fit: {path} was written with a different config ({', '.join(refused)}"
                         " differ); resume with the same settings, use another directory, or "
                         "name numeric settings that may change in resume_changes")
    for name in changed:
        if not (_is_number(saved.get(name)) and _is_number(given.get(name))):
            raise ValueError(f"fit: resume_changes: {name} changes from {saved.get(name)!r} to "
                             f"{given.get(name)!r}; only numeric settings may change on resume")
    return {name: [saved.get(name), given.get(name)] for name in changed}


# the run pieces that hold numeric settings: they may differ once a config change allows it
_CHANGEABLE = ("model", "optimizer", "regularizer")


_METADATA = ("progress", "stopped", "message", "initial_loss")
_PROGRESS = tuple(f.name for f in dataclasses.fields(_Progress))


def _check_same_run(path: Path, saved: dict, run_id: dict, allow_changes) -> None:
    changed = [name for name in fingerprint.differences(saved.get("fingerprint"), run_id)
               if name not in allow_changes]
    if changed:
        raise checkpoint.CheckpointError(
            f"fit: {path} was written by a different run ({', '.join(changed)} differ"
            f"{'; it has no fingerprint' if not saved.get('fingerprint') else ''}); resume "
            f"with the same settings, use another checkpoint_dir, or pass "
            f"allow_changes={tuple(changed)!r} to continue it anyway")


def _restore(path: Path, template: TrainState, run_id: dict, allow_changes, config,
             resume_changes):
    """(the checkpoint at `path` as a restored {"state", "best"} tree, config changes),
    checked: the same config but for the numeric `resume_changes` (`_config_changes`), the
    same run (fingerprint; with config changes its model, optimizer and regularizer may
    differ), complete metadata, the template's tree structure."""
    try:
        restored = checkpoint.restore(path, like={"state": template, "best": template},
                                      require=_METADATA)
    except checkpoint.CheckpointError:
        # A different model or optimizer fails the template: name what changed instead of
        # the array counts. (An unreadable file raises its own error here.)
        saved = checkpoint.restore(path)
        changes = _config_changes(saved.config, config, path, resume_changes)
        _check_same_run(path, saved.metadata or {}, run_id,
                        (*allow_changes, *(_CHANGEABLE if changes else ())))
        raise
    changes = _config_changes(restored.config, config, path, resume_changes)
    _check_same_run(path, restored.metadata, run_id,
                    (*allow_changes, *(_CHANGEABLE if changes else ())))
    progress = restored.metadata["progress"]
    if not isinstance(progress, dict) or set(progress) != set(_PROGRESS):
        raise checkpoint.CheckpointError(
            f"{path}: the checkpoint's progress entry is garbled (not written by jaxdl's "
            "fit?); delete it or use another checkpoint_dir")
    return restored, changes


def _build_epoch(batching: dict, model, opt, loss, regularizer, augment, metrics, ema_decay):
    return make_epoch_and_evaluate(model, opt, loss, regularizer, augment=augment,
                                   metrics=metrics, ema_decay=ema_decay, **batching)


def _build_init(input_shape: tuple, model, opt, ema_decay):
    return lambda key: init_state(model, opt, input_shape, key=key,
                                  average=ema_decay is not None)


def fit(model: Layer, opt: optax.GradientTransformation, loss: Callable, data, *, key,
        epochs: int, batch_size: int, regularizer: Callable | None = None,
        metrics: dict | None = None, early_stopping: int | EarlyStopping | None = None,
        augment: Callable | None = None, callbacks: Sequence[Callable] = (),
        checkpoint_dir=None, checkpoint_every: int = 1,
        checkpoint_seconds: float | None = None, resume: bool = False,
        allow_changes: Sequence[str] = (), resume_changes: Sequence[str] = (),
        config: dict | None = None, ema_decay: float | None = None, shuffle: bool = True,
        drop_remainder: bool = False, explode_factor: float = 3.0,
        eval_batch_size: int = 1000, verbose: bool = True) -> FitResult:
    """Train `model` with `opt` on `loss` (+ `regularizer`) and return a FitResult.

    `data`: a `data.Splits` (train, dev, test), a (train, dev[, test]) tuple of Datasets,
    a Dataset or an (x, y) pair of arrays (train only); every split is validated once
    (finite inputs, labels that fit the loss and the model's outputs) before training.
    `metrics`: name -> `metrics.Metric` or function (outputs, labels) -> per-example
    values, recorded per epoch as train_<name> / dev_<name> (default
    `metrics.default_for(loss)`: accuracy for classification losses, none for mse).
    Each epoch is one compiled call (scan over mini-batches + dev evaluation); the programs
    are cached by the structure of the model, optimizer, loss, regularizer, augment and
    metrics and the batching options (`compile_cache`), so a later fit of the same
    structure with a new key or new numeric hyperparameters compiles nothing. Guards: a
    NaN/inf loss or parameter, or an epoch train loss above `explode_factor` x the initial
    loss, stops training and keeps the last good state.
    `early_stopping`: a patience (int) or an EarlyStopping; needs a dev set; the result
    then holds the best-dev-epoch params. The best epoch is chosen on the monitor (default
    dev accuracy when recorded, else dev loss). `callbacks`: `fn(epoch, state, metrics)`
    called after every epoch on the host; a returned dict is recorded in the history;
    raising StopTraining ends the fit. `checkpoint_dir`: the full progress (with `config`
    and the run's fingerprint) is saved atomically every `checkpoint_every` epochs (or,
    given `checkpoint_seconds`, after the first epoch ending that long after the last save),
    and always after the last epoch, on a stop, an interruption or an error;
    `resume=True` continues from it bit-identically, and refuses a checkpoint of a
    different run (model, optimizer, loss, regularizer, augment, metrics, batching, key,
    data: `fingerprint.FIELDS`) unless the fields that may differ are named in
    `allow_changes`, and a checkpoint written with a different `config` (epochs aside).
    Babysitting: `resume_changes` names numeric config entries that may change on resume
    (e.g. ("lr",): resume with `config={..., "lr": 1e-4}` and the optimizer built with
    it); the model, optimizer and regularizer may then differ in their numbers, not in
    their tree structure; each change is recorded as history["changes"] = {name: [old,
    new]} at the first epoch trained with it (None at other epochs). `ema_decay`: keep a
    bias-corrected exponential moving average of the weights, updated after every step
    inside the compiled epoch (`ema_update`; Polyak-style averaging, the tutorial's
    "running average for our training parameters"); the dev metrics, the best epoch, the
    returned `params` and `final` are then those of the average, `state.params` the raw
    last weights, `state.average` the last average. KeyboardInterrupt ends the fit
    gracefully with the last good state.
    """
    epochs, batch_size, stopper, tracker, arrays, metrics = check_run(
        "fit", data, loss=loss, metrics=metrics, epochs=epochs, batch_size=batch_size,
        early_stopping=early_stopping, explode_factor=explode_factor,
        eval_batch_size=eval_batch_size)
    check_key("fit", key)
    checkpoint_every = check_positive_int("fit", "checkpoint_every", checkpoint_every)
    if checkpoint_seconds is not None:
        check_range("fit", "checkpoint_seconds", checkpoint_seconds, low=0.0)
    if resume and checkpoint_dir is None:
        raise ValueError("fit: resume=True needs checkpoint_dir")
    for name in allow_changes:
        check_choice("fit", "allow_changes entry", name, fingerprint.FIELDS)
    if isinstance(resume_changes, str):
        raise TypeError(f"fit: resume_changes must be a sequence of config names, e.g. "
                        f"({resume_changes!r},), got the string {resume_changes!r}")
    if resume_changes and config is None:
        raise ValueError("fit: resume_changes names config entries; pass the run's config")
    if ema_decay is not None:
        check_range("fit", "ema_decay", ema_decay, low=0.0, high=1.0, low_open=True,
                    high_open=True)
    check_data("fit", arrays, model, loss)
    train_x, train_y = arrays["train"]

    pieces = {"model": model, "opt": opt, "loss": loss, "regularizer": regularizer,
              "augment": augment, "metrics": metrics, "ema_decay": ema_decay}
    batching = {"batch_size": batch_size, "shuffle": shuffle,
                "drop_remainder": drop_remainder, "eval_batch_size": eval_batch_size}
    epoch_and_evaluate = cached_jit(
        "fit.epoch", functools.partial(_build_epoch, batching), pieces,
        static=tuple(batching.items()))
    shuffle_key = jax.random.fold_in(key, SHUFFLE)

    evaluate_host = make_host_evaluate(model, loss, eval_batch_size, metrics)
    state = cached_jit("fit.init", functools.partial(_build_init, tuple(train_x.shape[1:])),
                       {"model": model, "opt": opt, "ema_decay": ema_decay}, fixed=("model",),
                       static=tuple(train_x.shape[1:]))(key)
    best_state, progress = state, _Progress()
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir is not None else None
    run_id = None
    if ckpt_path is not None:
        run_id = fingerprint.of_run(
            model=model, opt=opt if ema_decay is None else (opt, {"ema_decay": ema_decay}),
            loss=loss, regularizer=regularizer, augment=augment,
            metrics=metrics, key=key, arrays=arrays,
            batching={"batch_size": batch_size, "shuffle": shuffle,
                      "drop_remainder": drop_remainder})
    stopped, message, changes = "completed", "", {}
    if resume and (ckpt_path.exists() or ckpt_path.is_symlink()):
        checkpoint.clean_stale(ckpt_path)  # what writers killed mid-save left
        restored, changes = _restore(ckpt_path, state, run_id, allow_changes, config,
                                     resume_changes)
        state, best_state = restored.tree["state"], restored.tree["best"]
        meta = restored.metadata
        progress, initial_loss = _Progress(**meta["progress"]), meta["initial_loss"]
        if meta["stopped"] not in ("interrupted", "callback", "completed"):
            stopped, message = meta["stopped"], meta["message"]
        if changes and verbose:
            print(f"jaxdl: resuming after epoch {progress.epoch} with " + ", ".join(
                f"{k} {old} -> {new}" for k, (old, new) in changes.items()), file=sys.stderr)
    else:
        initial_loss = evaluate_host(state.params, state.model_state, *arrays["train"])["loss"]

    saved_at = time.perf_counter()

    def save_checkpoint():
        nonlocal saved_at
        if ckpt_path is not None:
            saved_at = time.perf_counter()
            checkpoint.save(ckpt_path, {"state": state, "best": best_state}, config,
                            metadata={"progress": dataclasses.asdict(progress),
                                      "stopped": stopped, "message": message,
                                      "initial_loss": initial_loss, "fingerprint": run_id})

    bar = _progress_bar(epochs, progress.epoch, verbose)
    shown = dict.fromkeys(["train_loss", *(f"train_{name}" for name, _ in metrics[:1]),
                           *([tracker.monitor] if tracker else [])])
    try:
        while stopped == "completed" and progress.epoch < epochs:
            epoch = progress.epoch + 1
            start = time.perf_counter()
            new_state, values = epoch_and_evaluate(state, shuffle_key, epoch, train_x,
                                                   train_y, arrays.get("dev"))
            values = {k: v.item() for k, v in jax.device_get(values).items()}
            rejected = _guard(values, epoch, initial_loss, explode_factor)
            if rejected:
                stopped, message = rejected
                break
            del values["finite"]
            wall_time = progress.wall_time + time.perf_counter() - start
            values = {"epoch": epoch, **values, "wall_time": wall_time}
            for callback in callbacks:
                try:
                    recorded = callback(epoch, new_state, values)
                except StopTraining as reason:
                    stopped, message = "callback", f"epoch {epoch}: {reason}"
                    continue
                if recorded is not None and not isinstance(recorded, dict):
                    raise TypeError(f"fit: callback {callback!r} must return None or a dict "
                                    f"of values to record, got {type(recorded).__name__}")
                values.update(recorded or {})
            if changes:  # the first epoch trained with the changed settings
                values["changes"], changes = changes, {}
            new_progress = progress.after(values, tracker)
            new_best = new_state if new_progress.best_epoch == epoch else best_state
            if stopper is not None and new_progress.wait >= stopper.patience:
                stopped, message = "early_stopping", (
                    f"epoch {epoch}: no {stopper.monitor} improvement for {stopper.patience} "
                    f"epochs; best was epoch {new_progress.best_epoch} "
                    f"({new_progress.best_value:.4g})")
            state, best_state, progress = new_state, new_best, new_progress  # commit the epoch
            bar.update(1)
            bar.set_postfix({k: f"{values[k]:.4f}" for k in shown if k in values})
            due = (epoch % checkpoint_every == 0 if checkpoint_seconds is None
                   else time.perf_counter() - saved_at >= checkpoint_seconds)
            if due or stopped != "completed" or epoch == epochs:
                save_checkpoint()
    except KeyboardInterrupt:
        stopped = "interrupted"
        message = f"interrupted by the user after epoch {progress.epoch}; kept that state"
    except Exception:
        save_checkpoint()  # keep the epochs done so far, then let the error surface
        raise
    finally:
        bar.close()
    if stopped in ("nan", "exploding", "interrupted"):
        save_checkpoint()
    if message and verbose:
        print(f"jaxdl: {message}", file=sys.stderr)

    chosen = best_state if stopper is not None else state
    final = {name: evaluate_host(averaged(chosen), chosen.model_state, *xy)
             for name, xy in arrays.items()}
    return FitResult(averaged(chosen), chosen.model_state, state, progress.history,
                     progress.best_epoch, stopped, message, initial_loss, final)
