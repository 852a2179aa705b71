"""Argument validation shared by every module.

Hyperparameters may be Python numbers, concrete arrays, or tracers (inside `jit`/`vmap`,
so that sweeps vary them without recompiling). Concrete values are checked at
construction time and a bad one raises a `ValueError` that names the function, the
argument and the allowed range; tracers cannot be inspected and pass through unchecked.
NaN and +-inf are never accepted: no hyperparameter is meaningful at infinity.
"""

from __future__ import annotations

import jax
import numpy as np


def concrete_values(value):
    """`value` as a numpy array when it is known on the host, else None (a tracer)."""
    if isinstance(value, jax.core.Tracer) or callable(value):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _interval(low, high, low_open, high_open) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def check_range(where: str, name: str, value, *, low=None, high=None,
                low_open: bool = False, high_open: bool = False):
    """Raise ValueError unless every concrete entry of `value` is finite and in the interval.

    `where` names the function (e.g. "dropout"), `name` the argument (e.g. "keep_prob").
    NaN and +-inf are always rejected ("sgd: lr must be a finite number in [0, inf), got
    inf"); NaN or a finite value outside the interval gives "sgd: lr must be in [0, inf),
    got -0.1". Returns `value` unchanged so calls can be inlined.
    """
    values = concrete_values(value)
    if values is None:
        return value
    infinite = np.isinf(values)
    bad = infinite | np.isnan(values)
    if low is not None:
        bad |= values <= low if low_open else values < low
    if high is not None:
        bad |= values >= high if high_open else values > high
    if np.any(bad):
        shown = value if values.ndim == 0 else values[bad].tolist()
        what = "a finite number in" if np.any(infinite) else "in"
        raise ValueError(f"{where}: {name} must be {what} "
                         f"{_interval(low, high, low_open, high_open)}, got {shown!s}")
    return value


def check_positive_int(where: str, name: str, value, *, minimum: int = 1) -> int:
    """Raise TypeError/ValueError unless `value` is an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_choice(where: str, name: str, value, choices):
    """Raise ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"{where}: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value



def check_key(where: str, key):
    """Raise TypeError unless `key` is a JAX PRNG key (typed, or a raw uint32 pair)."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and (jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
                              or (dtype == np.uint32 and getattr(key, "shape", ())[-1:] == (2,))):
        return key
    raise TypeError(f"{where}: key must be a JAX random key (e.g. jax.random.key(0)), got "
                    f"{type(key).__name__}")
