"""The learning-rate range test: find the learning rate's order of magnitude in one run.

The course tries learning rates a factor of 10 apart (1e-6, 1e-5, ...) and watches the
loss: too small and it barely moves, too large and it goes up or becomes NaN. The range
test does that in a single short run (Smith 2017, "Cyclical learning rates"): a few hundred
mini-batches with the rate growing geometrically from `lr_min` to `lr_max` (x10 every
steps / log10(lr_max / lr_min) steps), recording each mini-batch's loss; plotted against
the rate on a log axis, the loss falls, flattens, then climbs.

```python
found = diagnostics.lr_range_test(model, optim.adam, losses.softmax_cross_entropy, splits,
                                  key=key, batch_size=64)
found.suggested_lr            # a tenth of the rate at the lowest smoothed loss
diagnostics.lr_range.plot(found, "lr_range.png")
```
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import data as data_lib, train
from jaxdl._checks import check_key, check_positive_int, check_range
from jaxdl.nn.layer import Layer


class LRRange(NamedTuple):
    """What `lr_range_test` returns (numpy arrays of one entry per step)."""

    lrs: np.ndarray  # the learning rate of each step
    losses: np.ndarray  # that step's mini-batch data loss (training mode, before its update)
    smoothed: np.ndarray  # bias-corrected EMA of the losses
    stop: int  # steps before the loss diverged (all of them when it never did)
    min_loss_lr: float  # the rate at the lowest smoothed loss (before `stop`)
    suggested_lr: float  # min_loss_lr / 10: still on the falling part of the curve


def lr_schedule(lr_min: float, lr_max: float, steps: int) -> Callable:
    """lr(t) = lr_min * (lr_max / lr_min)^(t / (steps - 1)), held at lr_max after the end."""
    low, high = math.log(lr_min), math.log(lr_max)

    def schedule(count):
        fraction = jnp.minimum(jnp.asarray(count, jnp.float32), steps - 1) / (steps - 1)
        return jnp.exp(low + fraction * (high - low))
    return schedule


def smooth(losses, beta: float) -> np.ndarray:
    """The bias-corrected EMA s_t = v_t / (1 - beta^t), v_t = beta v_{t-1} + (1 - beta) l_t,
    v_0 = 0 (the course notes' exponentially weighted average)."""
    v, out = 0.0, []
    for t, value in enumerate(np.asarray(losses, np.float64), start=1):
        v = beta * v + (1 - beta) * value
        out.append(v / (1 - beta ** t))
    return np.asarray(out)


def _stop(losses: np.ndarray, smoothed: np.ndarray, diverge: float) -> int:
    """The first step whose loss is not finite or whose smoothed loss exceeds `diverge` x
    the lowest smoothed loss so far (len(losses) when none does)."""
    lowest = np.minimum.accumulate(np.where(np.isfinite(smoothed), smoothed, np.inf))
    bad = ~np.isfinite(losses) | ~np.isfinite(smoothed) | (smoothed > diverge * lowest)
    return int(np.argmax(bad)) if bad.any() else len(losses)


def lr_range_test(model: Layer, make_opt: Callable, loss: Callable, data, *, key,
                  batch_size: int, lr_min: float = 1e-6, lr_max: float = 1.0,
                  steps: int = 300, regularizer: Callable | None = None,
                  augment: Callable | None = None, smoothing: float = 0.9,
                  diverge: float = 4.0) -> LRRange:
    """Train `model` for `steps` mini-batches of the training split of `data` with the
    optimizer `make_opt(schedule)` (e.g. `optim.adam`) on the rate `lr_schedule(lr_min,
    lr_max, steps)`, in one compiled `lax.scan`; record each step's mini-batch loss.

    Keys as in `train.fit` (init fold_in(key, INIT), the epochs' shuffles, full batches
    only), so the first steps are those of `fit` with the same key. The loss is smoothed
    (`smooth`, beta = `smoothing`: a window of ~1/(1 - beta) steps, which the curve lags
    by, so keep it small against `steps`); the test ends where it diverges (`_stop`: non-finite,
    or above `diverge` x its lowest value). Suggested rate: a tenth of the rate at the
    lowest smoothed loss, the largest rate that still clearly descends.
    """
    where = "lr_range_test"
    check_key(where, key)
    steps = check_positive_int(where, "steps", steps, minimum=2)
    batch_size = check_positive_int(where, "batch_size", batch_size)
    check_range(where, "lr_min", lr_min, low=0.0, low_open=True)
    check_range(where, "lr_max", lr_max, low=lr_min, low_open=True)
    check_range(where, "smoothing", smoothing, low=0.0, high=1.0, high_open=True)
    check_range(where, "diverge", diverge, low=1.0, low_open=True)
    if not callable(make_opt):
        raise TypeError(f"{where}: make_opt must be a function lr -> optimizer (e.g. "
                        f"optim.adam), got {type(make_opt).__name__}")
    x, y = train.split_data(data)["train"]
    n = x.shape[0]
    if batch_size > n:
        raise ValueError(f"{where}: batch_size ({batch_size}) is larger than the training set "
                         f"({n} examples)")
    opt = make_opt(lr_schedule(lr_min, lr_max, steps))
    step = train.make_train_step(model, opt, loss, regularizer, augment=augment, metrics=())
    epochs = -(-steps // (n // batch_size))

    @jax.jit
    def run(key, x, y):
        state = train.init_state(model, opt, x.shape[1:], key=key)
        shuffle_key = jax.random.fold_in(key, train.SHUFFLE)
        rows = jax.vmap(lambda epoch: data_lib.epoch_batches(
            jax.random.fold_in(shuffle_key, epoch), n, batch_size, drop_remainder=True)[0])(
            jnp.arange(1, epochs + 1))

        def body(state, batch):
            state, values = step(state, (x[batch], y[batch]))
            return state, values["loss"]
        return jax.lax.scan(body, state, rows.reshape(-1, batch_size)[:steps])[1]

    losses = np.asarray(run(key, x, y), np.float64)
    if not np.isfinite(losses[0]):
        raise ValueError(f"{where}: the loss is not finite at the first step (lr {lr_min:g}); "
                         "check the data and the model, or lower lr_min")
    lrs = np.exp(np.linspace(math.log(lr_min), math.log(lr_max), steps))
    smoothed = smooth(losses, smoothing)
    stop = _stop(losses, smoothed, diverge)
    best = int(np.nanargmin(smoothed[:stop]))
    return LRRange(lrs, losses, smoothed, stop, float(lrs[best]), float(lrs[best] / 10))


def to_json(result: LRRange) -> dict:
    """The result as JSON data (non-finite losses as null)."""
    clean = lambda values: [v if math.isfinite(v) else None for v in values.tolist()]  # noqa: E731
    return {"lrs": result.lrs.tolist(), "losses": clean(result.losses),
            "smoothed": clean(result.smoothed), "stop": result.stop,
            "min_loss_lr": result.min_loss_lr, "suggested_lr": result.suggested_lr}


def plot(result: LRRange, path=None, *, title: str | None = None):
    """Loss (raw, light; smoothed, dark) against the learning rate on a log axis, up to
    where it diverged (y clipped a little above the smoothed curve); the suggested rate
    dashed (jaxdl.plots conventions: a Figure,
    saved atomically as a PNG given `path`)."""
    from jaxdl.plots import _finish, _pyplot
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    shown = slice(0, max(result.stop, 1))
    ax.plot(result.lrs[shown], result.losses[shown], color="tab:blue", alpha=0.3,
            label="mini-batch loss")
    ax.plot(result.lrs[shown], result.smoothed[shown], color="tab:blue", label="smoothed")
    ax.axvline(result.suggested_lr, color="tab:green", linestyle="--",
               label=f"suggested {result.suggested_lr:.2g}")
    ax.axvline(result.min_loss_lr, color="gray", linestyle=":",
               label=f"lowest loss {result.min_loss_lr:.2g}")
    ax.set_xscale("log")
    low, high = np.nanmin(result.losses[shown]), np.nanmax(result.smoothed[shown])
    ax.set_ylim(low - 0.05 * (high - low), high + 0.2 * (high - low))  # clip raw spikes
    ax.set(xlabel="learning rate", ylabel="loss", title=title or "learning-rate range test")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return _finish(fig, path)
