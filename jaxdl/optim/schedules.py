"""Learning-rate schedules: pure functions `schedule(count) -> learning rate`.

`count` is the int32 number of updates done so far (0 for the first update), as an
optimizer's state counts them; any schedule is usable wherever a learning rate is (in this
package's optimizers and in optax's). Parameters may be Python numbers, arrays or tracers
(sweeps over decay rates vmap without recompiling), except the structural `boundaries` and
`steps_per_epoch`; concrete values are validated here. Below t = count, optionally divided
by `every` (and floored when `staircase=True`).

Per-epoch schedules take `steps_per_epoch` (updates per epoch) and use the epoch number
e = count // steps_per_epoch = 0, 1, 2, ...; with the default 1, the count is the epoch.
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


def inverse_time(lr0, k, *, every=1, staircase: bool = False) -> Schedule:
    """1/t decay: lr(t) = lr0 / (1 + k * t / every), t / every floored when `staircase`.

    k >= 0; with every = steps per epoch and staircase=True this is deeplearning.ai's
    lr0 / (1 + decay_rate * epoch).
    """
    check_range("inverse_time", "lr0", lr0, low=0.0)
    check_range("inverse_time", "k", k, low=0.0)
    check_range("inverse_time", "every", every, low=0.0, low_open=True)
    return lambda count: lr0 / (1 + k * _progress(count, every, staircase))


def per_epoch_power(lr0, base=0.95, *, steps_per_epoch: int = 1) -> Schedule:
    """lr = lr0 * base ** e, e = count // steps_per_epoch the epoch number (0, 1, ...).

    base in (0, 1]; the first epoch runs at lr0.
    """
    check_range("per_epoch_power", "lr0", lr0, low=0.0)
    check_range("per_epoch_power", "base", base, low=0.0, high=1.0, low_open=True)
    steps_per_epoch = check_positive_int("per_epoch_power", "steps_per_epoch", steps_per_epoch)
    return lambda count: lr0 * base ** _float(count // steps_per_epoch)


def inverse_sqrt(lr0, k=1.0, *, steps_per_epoch: int = 1) -> Schedule:
    """lr = k / sqrt(epoch) * lr0, with epoch = count // steps_per_epoch + 1 counted from 1.

    Counting the epoch from 1 (deeplearning.ai's epoch_num) keeps the first learning rate
    finite: it is k * lr0, then k * lr0 / sqrt(2), ... k >= 0.
    """
    check_range("inverse_sqrt", "lr0", lr0, low=0.0)
    check_range("inverse_sqrt", "k", k, low=0.0)
    steps_per_epoch = check_positive_int("inverse_sqrt", "steps_per_epoch", steps_per_epoch)
    return lambda count: k / jnp.sqrt(_float(count // steps_per_epoch + 1)) * lr0


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
