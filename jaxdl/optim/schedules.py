"""Learning-rate schedules: pure functions `schedule(count) -> learning rate`.

`count` is the int32 number of updates done so far (0 for the first update), as an
optimizer's state counts them; any schedule is usable wherever a learning rate is (in this
package's optimizers and in optax's). Parameters may be Python numbers, arrays or tracers
(sweeps over decay rates vmap without recompiling), except the structural `boundaries` and
`steps_per_epoch`; concrete values are validated here. Below t = count, optionally divided
by `every` (and floored when `staircase=True`).

Per-epoch schedules (the notes' "learning rate decay": 1 / (1 + decay_rate * epoch_num),
0.95^epoch_num, k / sqrt(epoch_num), all times lr0) take `steps_per_epoch` (updates per
epoch) and share one convention, the course's: epoch_num = count // steps_per_epoch + 1
counts epochs from 1, so the first epoch already runs at the decayed rate (lr0 = 0.2,
decay_rate = 1 gives 0.1, 0.067, 0.05, 0.04 for epochs 1..4) and k / sqrt(epoch_num) is
finite. They are `inverse_time(lr0, k, steps_per_epoch=...)`, `per_epoch_power` and
`inverse_sqrt`. (Until issue 14, `per_epoch_power` counted from 0 and ran its first epoch
at lr0; pass lr0 / base for that.)
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxdl._checks import check_positive_int, check_range

Schedule = Callable[[jax.Array], jax.Array]


def _float(x) -> jax.Array:
    return jnp.asarray(x, dtype=float)


def _progress(count, every, staircase: bool) -> jax.Array:
    """count / every as a float, floored when `staircase`."""
    p = _float(count) / every
    return jnp.floor(p) if staircase else p


def _epoch_num(count, steps_per_epoch: int) -> jax.Array:
    """The course's epoch_num of update `count`: 1, 1, ..., 2, ... (float)."""
    return _float(jnp.asarray(count) // steps_per_epoch + 1)


def constant(value) -> Schedule:
    """lr(t) = value."""
    check_range("constant", "value", value, low=0.0)
    return lambda count: _float(value)


def step_decay(lr0, factor, every, *, start=0, staircase: bool = True) -> Schedule:
    """Step decay: lr0 for t < start, then multiplied by `factor` every `every` steps:

        lr(t) = lr0 * factor ** floor((t - start) / every)   for t >= start

    (without the floor when `staircase=False`: a smooth exponential between the same
    points). factor in (0, 1], every > 0, start >= 0. Equals
    `optax.exponential_decay(lr0, every, factor, transition_begin=start, staircase=...)`.
    """
    check_range("step_decay", "lr0", lr0, low=0.0)
    check_range("step_decay", "factor", factor, low=0.0, high=1.0, low_open=True)
    check_range("step_decay", "every", every, low=0.0, low_open=True)
    check_range("step_decay", "start", start, low=0.0)

    def schedule(count):
        shifted = _float(count) - start
        return jnp.where(shifted <= 0, _float(lr0),
                         lr0 * factor ** _progress(shifted, every, staircase))

    return schedule


def exponential(lr0, k=None, *, rate=None, every=1, staircase: bool = False) -> Schedule:
    """Exponential decay, given by a decay constant k or by a rate per `every` steps:

        lr(t) = lr0 * exp(-k * t / every)      (k >= 0), or
        lr(t) = lr0 * rate ** (t / every)      (rate in (0, 1]),

    with t / every floored when `staircase=True`. Give exactly one of k and rate
    (rate = exp(-k)). E.g. `exponential(1e-3, rate=0.95, every=1000)` multiplies the learning
    rate by 0.95 every 1000 steps, `exponential(0.1, k=1e-3)` decays it as 0.1 e^(-t/1000).
    """
    if (k is None) == (rate is None):
        raise ValueError("exponential: give exactly one of k (lr0 * exp(-k t)) and "
                         "rate (lr0 * rate ** t)")
    check_range("exponential", "lr0", lr0, low=0.0)
    check_range("exponential", "every", every, low=0.0, low_open=True)
    if k is not None:
        check_range("exponential", "k", k, low=0.0)
        return lambda count: lr0 * jnp.exp(-k * _progress(count, every, staircase))
    check_range("exponential", "rate", rate, low=0.0, high=1.0, low_open=True)
    return lambda count: lr0 * rate ** _progress(count, every, staircase)


def inverse_time(lr0, k, *, every=1, staircase: bool = False,
                 steps_per_epoch: int | None = None) -> Schedule:
    """1/t decay, per step or (with `steps_per_epoch`) the course's per-epoch form:

        lr(t) = lr0 / (1 + k * t / every)            t = count, t / every floored when
                                                     `staircase` (first update: lr0);
        lr = lr0 / (1 + k * epoch_num)               epoch_num = count // steps_per_epoch + 1
                                                     (the notes' formula, counted from 1).

    k >= 0. Give `steps_per_epoch` or `every`/`staircase`, not both. The per-step form is
    TF's `inverse_time_decay`; the per-epoch one gives 0.1, 0.067, 0.05, 0.04 in epochs
    1..4 for lr0 = 0.2, k = 1.
    """
    check_range("inverse_time", "lr0", lr0, low=0.0)
    check_range("inverse_time", "k", k, low=0.0)
    check_range("inverse_time", "every", every, low=0.0, low_open=True)
    if steps_per_epoch is None:
        return lambda count: lr0 / (1 + k * _progress(count, every, staircase))
    steps_per_epoch = check_positive_int("inverse_time", "steps_per_epoch", steps_per_epoch)
    if not (isinstance(every, (int, float)) and every == 1) or staircase:
        raise ValueError("inverse_time: give steps_per_epoch (per-epoch decay) or "
                         "every/staircase (per-step decay), not both")
    return lambda count: lr0 / (1 + k * _epoch_num(count, steps_per_epoch))


def per_epoch_power(lr0, base=0.95, *, steps_per_epoch: int = 1) -> Schedule:
    """lr = lr0 * base ** epoch_num, epoch_num = count // steps_per_epoch + 1 (from 1).

    The notes' 0.95^epoch_num * lr0: base in (0, 1]; the first epoch runs at lr0 * base.
    (Changed in issue 14: epochs counted from 0 before, the first epoch ran at lr0.)
    """
    check_range("per_epoch_power", "lr0", lr0, low=0.0)
    check_range("per_epoch_power", "base", base, low=0.0, high=1.0, low_open=True)
    steps_per_epoch = check_positive_int("per_epoch_power", "steps_per_epoch", steps_per_epoch)
    return lambda count: lr0 * base ** _epoch_num(count, steps_per_epoch)


def inverse_sqrt(lr0, k=1.0, *, steps_per_epoch: int = 1) -> Schedule:
    """lr = k / sqrt(epoch_num) * lr0, epoch_num = count // steps_per_epoch + 1 (from 1).

    The notes' formula; counting from 1 keeps the first learning rate finite: k * lr0,
    then k * lr0 / sqrt(2), ... k >= 0.
    """
    check_range("inverse_sqrt", "lr0", lr0, low=0.0)
    check_range("inverse_sqrt", "k", k, low=0.0)
    steps_per_epoch = check_positive_int("inverse_sqrt", "steps_per_epoch", steps_per_epoch)
    return lambda count: k / jnp.sqrt(_epoch_num(count, steps_per_epoch)) * lr0


def piecewise_constant(boundaries: Sequence[int], values) -> Schedule:
    """lr(t) = values[i], i = number of boundaries <= t (i.e. values[0] before boundaries[0]).

    `boundaries`: strictly increasing step counts (static ints >= 0); `values`: one more
    entry than `boundaries` (numbers, an array or a tracer). E.g.
    `piecewise_constant([1000, 2000], [1e-2, 1e-3, 1e-4])`.
    """
    boundaries = tuple(check_positive_int("piecewise_constant", f"boundaries[{i}]", b, minimum=0)
                       for i, b in enumerate(boundaries))
    if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
        raise ValueError(f"piecewise_constant: boundaries must be strictly increasing, "
                         f"got {list(boundaries)}")
    values = jnp.asarray(values, dtype=float)
    if values.shape != (len(boundaries) + 1,):
        raise ValueError(f"piecewise_constant: values must have len(boundaries) + 1 = "
                         f"{len(boundaries) + 1} entries, got shape {tuple(values.shape)}")
    check_range("piecewise_constant", "values", values, low=0.0)
    edges = jnp.asarray(boundaries, dtype=jnp.int32)

    def schedule(count):
        index = jnp.sum(jnp.asarray(count) >= edges)
        return _float(values[index])

    return schedule
