"""Hand-written optimizers, each an `optax.GradientTransformation(init, update)`.

Every rule is a few lines of `jax.tree.map` over the parameter pytree, with its formula in
the docstring, so a reader sees the textbook update and a user mixes it freely with optax
(`optax.chain`, `optax.apply_updates`, `optax.MultiSteps`, ...). Conventions:

* `update(grads, state, params=None) -> (steps, new_state)`; apply with
  `optax.apply_updates(params, steps)`, i.e. `w <- w + step`. Steps keep each gradient
  leaf's dtype; nothing mutates its inputs.
* Hyperparameters are data (jaxdl/design.md, principle 3): every numeric hyperparameter may be a
  Python float, a concrete array or a tracer, so a sweep `vmap`s over them without
  recompiling; concrete values are validated at construction (finite, in range). A learning
  rate `lr` may also be a schedule, a function of the int32 step count (see
  `jaxdl.optim.schedules`); update number k (k = 0, 1, ...) uses `lr(k)`, as in optax. A
  schedule is checked at construction by its values at steps 0, 1, 10, 100 and 1000.
* Every optimizer that takes `lr` keeps in its state `count` (int32 scalar, updates done so
  far) and `lr` (the learning rate used by the most recent update; at init, the learning
  rate of step 0); `learning_rate(opt_state)` finds it inside any chained state, for the
  training history.

Relation to optax, tested trajectory by trajectory in tests/test_optim.py: 500 steps in
float64 agree to 1e-10 (measured <= 2e-15; adagrad with eps > 0 excepted, see the table;
RMSprop over its first 200 steps, as a constant-lr RMSprop never settles and later steps
amplify any rounding difference), and 100 steps of the float32 programs agree to 1e-5
(measured <= 7e-7). Longer float32 runs may separate, differently from CPU to CPU, where the
dynamics amplify rounding.

==========================================  ==================================================
jaxdl                                       optax twin
==========================================  ==================================================
sgd(lr)                                     optax.sgd(lr)
momentum(lr, mu)                            optax.sgd(lr, momentum=mu)          [constant lr]
momentum(lr, mu, "ewa", bias_correction=b)  optax.chain(optax.ema(mu, debias=b),
                                            optax.scale(-lr))                   [constant lr]
nesterov(lr, mu)                            optax.sgd(lr, momentum=mu, nesterov=True)  [const]
adagrad(lr, eps, initial_accumulator=a)     optax.adagrad(lr, initial_accumulator_value=a,
                                            eps=eps)   [same rule for eps=0; optax puts eps
                                            inside the square root]
rmsprop(lr, decay, eps, eps_in_sqrt=s)      optax.rmsprop(lr, decay, eps, eps_in_sqrt=s)
adam(lr, b1, b2, eps)                       optax.adam(lr, b1, b2, eps, eps_root=0)
adam(..., bias_correction=False)            none (tested against numpy)
clip_by_global_norm(c)                      optax.clip_by_global_norm(c)
weight_decay(r, mask)                       optax.add_decayed_weights(r, mask)
chain(adam(lr), weight_decay(lr * wd,       optax.adamw(lr, weight_decay=wd, mask=mask)
      mask, decoupled=True))
chain                                       optax.chain (re-exported)
==========================================  ==================================================

Momentum and Nesterov keep the learning rate inside the velocity (v <- mu v - lr g, the
CS231n form) while optax accumulates raw gradients and multiplies by lr afterwards: the two
are the same rule (up to float rounding) for a constant learning rate and differ, by
definition, under a schedule (here a learning-rate change acts on new gradients only).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Union

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.tree_util import DictKey, GetAttrKey

from jaxdl._checks import check_choice, check_range, concrete_values
from jaxdl.nn.layer import weights_only
from jaxdl.optim.schedules import Schedule

ScalarOrSchedule = Union[float, jax.Array, Schedule]

chain = optax.chain
"""`optax.chain`, re-exported: `chain(clip_by_global_norm(5.0), adam(1e-3))`."""

_INT32_MAX = jnp.iinfo(jnp.int32).max


# ----------------------------------------------------------------------------- helpers

def _increment(count):
    """count + 1 as an int32 scalar, saturating at the int32 maximum (never wraps)."""
    return jnp.where(count < _INT32_MAX, count + 1, count)


def _lr_at(lr: ScalarOrSchedule, count) -> jax.Array:
    """The learning rate of update number `count`: a schedule evaluated there, or `lr`."""
    return jnp.asarray(lr(count) if callable(lr) else lr, dtype=float)


_PROBE_STEPS = (0, 1, 10, 100, 1000)


def _check_lr(where: str, lr: ScalarOrSchedule) -> ScalarOrSchedule:
    """Validate a learning rate at construction: finite and >= 0.

    A number or array goes through `check_range`; a schedule is evaluated on the host at
    the counts `_PROBE_STEPS` (int32, as the optimizer calls it), and a negative or
    non-finite value there raises, e.g. "sgd: lr (a schedule) at step 0 must be in [0,
    inf), got -0.1". A schedule that returns a tracer (its parameters are traced) or
    raises when called outside the optimizer is not checked here.
    """
    if not callable(lr):
        return check_range(where, "lr", lr, low=0.0)
    for step in _PROBE_STEPS:
        try:
            value = lr(jnp.asarray(step, jnp.int32))
        except Exception:  # noqa: BLE001 -- e.g. needs tracing; init/update will call it
            return lr
        if concrete_values(value) is None:
            return lr
        check_range(where, f"lr (a schedule) at step {step}", np.asarray(value), low=0.0)
    return lr


def _named(where: str, name: str, value, optax_name: str, optax_value, default=None):
    """`value`, or the same argument given under its optax name (`learning_rate` for `lr`,
    `momentum` for `mu`), so optax's tools (`optax.inject_hyperparams`) call jaxdl's
    optimizers as they call optax's; `default` when neither is given."""
    if optax_value is None:
        if value is None and default is None:
            raise TypeError(f"{where}: missing argument {name} (or optax's {optax_name})")
        return default if value is None else value
    if value is not None:
        raise TypeError(f"{where}: give {name} or its optax name {optax_name}, not both")
    return optax_value


def _start(lr: ScalarOrSchedule) -> tuple[jax.Array, jax.Array]:
    """(count, lr) of a fresh state: zero updates done, the learning rate of step 0."""
    count = jnp.zeros((), jnp.int32)
    return count, _lr_at(lr, count)


def _leafwise(fn: Callable, *trees):
    """`jax.tree.map(fn, *trees)`, each result cast to the dtype of its first argument.

    A hyperparameter given as a (strong-typed) float32 array would otherwise promote
    bfloat16 or float16 leaves; for float32 leaves the cast is a no-op.
    """
    return jax.tree.map(lambda x, *rest: fn(x, *rest).astype(x.dtype), *trees)


def _zeros(params):
    return jax.tree.map(jnp.zeros_like, params)


def _as_step(tree):
    """`tree` unchanged in value (x * 1 == x exactly), as a fresh expression for XLA.

    When a step is literally a state array (classic momentum: step = v), the parameter
    update `w + v` is an XLA:CPU fusion without any broadcast, which jaxlib 0.10 lowers
    with its "tiled" emitter (a stack copy per 16 elements: about 1.4x slower than
    optax's `w + (-lr) * t` inside a scan). Multiplying by an opaque scalar 1 keeps the
    update on the ordinary loop-fusion emitter; see benchmarks/bench_optim.py.
    """
    one = jax.lax.optimization_barrier(jnp.ones((), jnp.float32))
    return jax.tree.map(lambda x: x * one.astype(x.dtype), tree)


# ----------------------------------------------------------------------------- states

class SgdState(NamedTuple):
    """State of `sgd`."""
    count: jax.Array  # int32 scalar: updates done so far
    lr: jax.Array     # learning rate of the most recent update (at init: of step 0)


class MomentumState(NamedTuple):
    """State of `momentum` and `nesterov`."""
    count: jax.Array
    lr: jax.Array
    velocity: Any     # pytree like params


class AdagradState(NamedTuple):
    """State of `adagrad` (cache: running sum of squared gradients)."""
    count: jax.Array
    lr: jax.Array
    cache: Any


class RmspropState(NamedTuple):
    """State of `rmsprop` (cache: moving average of squared gradients)."""
    count: jax.Array
    lr: jax.Array
    cache: Any


class AdamState(NamedTuple):
    """State of `adam` (m, v: moving averages of gradients and squared gradients)."""
    count: jax.Array
    lr: jax.Array
    m: Any
    v: Any


# ----------------------------------------------------------------------------- optimizers

def sgd(lr: ScalarOrSchedule = None, *, learning_rate: ScalarOrSchedule = None
        ) -> optax.GradientTransformation:
    """Stochastic gradient descent: w <- w - lr * g.

    Twin: `optax.sgd(lr)` (identical, also under a schedule). Every optimizer here also
    takes optax's argument names (`learning_rate=` for `lr`, `momentum=` for `mu`).
    """
    lr = _check_lr("sgd", _named("sgd", "lr", lr, "learning_rate", learning_rate))

    def init(params):
        del params
        return SgdState(*_start(lr))

    def update(grads, state, params=None):
        del params
        lr_t = _lr_at(lr, state.count)
        steps = _leafwise(lambda g: -lr_t * g, grads)
        return steps, SgdState(_increment(state.count), lr_t)

    return optax.GradientTransformation(init, update)


def momentum(lr: ScalarOrSchedule = None, mu=None, form: str = "classic", *,
             bias_correction: bool = False, learning_rate: ScalarOrSchedule = None,
             momentum=None) -> optax.GradientTransformation:
    """Gradient descent with momentum, in one of two forms (v starts at 0).

    form="classic" (Polyak; CS231n):   v <- mu * v - lr * g;   w <- w + v.
    form="ewa" (exponentially weighted average; deeplearning.ai), with beta = mu:
        v <- beta * v + (1 - beta) * g;   w <- w - lr * v,
        or with `bias_correction=True`:   w <- w - lr * v / (1 - beta^t),  t = 1, 2, ...

    mu (default 0.9) must lie in [0, 1). Twins: classic = `optax.sgd(lr, momentum=mu)`; ewa =
    `optax.chain(optax.ema(mu, debias=bias_correction), optax.scale(-lr))`; both agree for a
    constant lr (the classic form keeps lr inside v, optax outside: under a schedule they
    differ by definition). EWA steps are (1 - mu) times the classic ones for the same lr.
    """
    lr = _check_lr("momentum", _named("momentum", "lr", lr, "learning_rate", learning_rate))
    mu = _named("momentum", "mu", mu, "momentum", momentum, default=0.9)
    check_range("momentum", "mu", mu, low=0.0, high=1.0, high_open=True)
    check_choice("momentum", "form", form, ("classic", "ewa"))
    if bias_correction and form != "ewa":
        raise ValueError("momentum: bias_correction=True needs form='ewa' (the classic "
                         "velocity is a sum, not an average), got form='classic'")

    def init(params):
        return MomentumState(*_start(lr), velocity=_zeros(params))

    def update(grads, state, params=None):
        del params
        count, lr_t = _increment(state.count), _lr_at(lr, state.count)
        if form == "classic":
            velocity = _leafwise(lambda v, g: mu * v - lr_t * g, state.velocity, grads)
            steps = _as_step(velocity)
        else:
            velocity = _leafwise(lambda v, g: mu * v + (1 - mu) * g, state.velocity, grads)
            scale = lr_t / (1 - mu ** count.astype(lr_t.dtype)) if bias_correction else lr_t
            steps = _leafwise(lambda g, v: -scale * v, grads, velocity)
        return steps, MomentumState(count, lr_t, velocity)

    return optax.GradientTransformation(init, update)


def nesterov(lr: ScalarOrSchedule = None, mu=None, *, learning_rate: ScalarOrSchedule = None,
             momentum=None) -> optax.GradientTransformation:
    """Nesterov momentum, practical form (Sutskever et al. 2013; CS231n):

        v_prev = v;   v <- mu * v - lr * g;   w <- w - mu * v_prev + (1 + mu) * v.

    This is the look-ahead rule v <- mu v - lr grad f(w + mu v); w <- w + v rewritten for
    the shifted variable w + mu v, so the gradient is taken at the current parameters.
    The step is computed as its equal mu * v - lr * g (substitute mu * v_prev = v + lr * g),
    which needs no copy of the old velocity. mu in [0, 1) (default 0.9). Twin:
    `optax.sgd(lr, momentum=mu, nesterov=True)` (constant lr).
    """
    lr = _check_lr("nesterov", _named("nesterov", "lr", lr, "learning_rate", learning_rate))
    mu = _named("nesterov", "mu", mu, "momentum", momentum, default=0.9)
    check_range("nesterov", "mu", mu, low=0.0, high=1.0, high_open=True)

    def init(params):
        return MomentumState(*_start(lr), velocity=_zeros(params))

    def update(grads, state, params=None):
        del params
        lr_t = _lr_at(lr, state.count)
        velocity = _leafwise(lambda v, g: mu * v - lr_t * g, state.velocity, grads)
        # = -mu * v_prev + (1 + mu) * v
        steps = _leafwise(lambda g, v: mu * v - lr_t * g, grads, velocity)
        return steps, MomentumState(_increment(state.count), lr_t, velocity)

    return optax.GradientTransformation(init, update)


def adagrad(lr: ScalarOrSchedule = None, eps=1e-7, initial_accumulator=0.0, *,
            learning_rate: ScalarOrSchedule = None) -> optax.GradientTransformation:
    """Adagrad (Duchi et al. 2011):  cache <- cache + g^2;  w <- w - lr * g / (sqrt(cache) + eps).

    cache starts at `initial_accumulator` (>= 0). Twin: `optax.adagrad(lr,
    initial_accumulator_value=initial_accumulator, eps=eps)`, which puts eps inside the
    square root (g / sqrt(cache + eps)) and returns 0 where cache is 0: the same rule for
    eps = 0, and within eps / sqrt(cache) (relative) otherwise.
    """
    lr = _check_lr("adagrad", _named("adagrad", "lr", lr, "learning_rate", learning_rate))
    check_range("adagrad", "eps", eps, low=0.0)
    check_range("adagrad", "initial_accumulator", initial_accumulator, low=0.0)

    def init(params):
        cache = jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator), params)
        return AdagradState(*_start(lr), cache=cache)

    def update(grads, state, params=None):
        del params
        lr_t = _lr_at(lr, state.count)
        cache = _leafwise(lambda c, g: c + g * g, state.cache, grads)
        steps = _leafwise(lambda g, c: -lr_t * g / (jnp.sqrt(c) + eps), grads, cache)
        return steps, AdagradState(_increment(state.count), lr_t, cache)

    return optax.GradientTransformation(init, update)


def rmsprop(lr: ScalarOrSchedule = None, decay=0.9, eps=1e-7, eps_in_sqrt: bool = False, *,
            learning_rate: ScalarOrSchedule = None) -> optax.GradientTransformation:
    """RMSprop (Hinton, Coursera lecture 6e):

        cache <- decay * cache + (1 - decay) * g^2;   w <- w - lr * g / (sqrt(cache) + eps)

    (with `eps_in_sqrt=True`: w <- w - lr * g / sqrt(cache + eps)). cache starts at 0;
    decay in [0, 1). Twin: `optax.rmsprop(lr, decay=decay, eps=eps, eps_in_sqrt=eps_in_sqrt)`
    (mind optax's defaults eps=1e-8, eps_in_sqrt=True).
    """
    lr = _check_lr("rmsprop", _named("rmsprop", "lr", lr, "learning_rate", learning_rate))
    check_range("rmsprop", "decay", decay, low=0.0, high=1.0, high_open=True)
    check_range("rmsprop", "eps", eps, low=0.0)

    def init(params):
        return RmspropState(*_start(lr), cache=_zeros(params))

    def update(grads, state, params=None):
        del params
        lr_t = _lr_at(lr, state.count)
        cache = _leafwise(lambda c, g: decay * c + (1 - decay) * g * g, state.cache, grads)
        if eps_in_sqrt:
            steps = _leafwise(lambda g, c: -lr_t * g / jnp.sqrt(c + eps), grads, cache)
        else:
            steps = _leafwise(lambda g, c: -lr_t * g / (jnp.sqrt(c) + eps), grads, cache)
        return steps, RmspropState(_increment(state.count), lr_t, cache)

    return optax.GradientTransformation(init, update)


def adam(lr: ScalarOrSchedule = None, b1=0.9, b2=0.999, eps=1e-8, *,
         bias_correction: bool = True, learning_rate: ScalarOrSchedule = None
         ) -> optax.GradientTransformation:
    """Adam (Kingma & Ba 2015), with t = 1, 2, ... and m, v starting at 0:

        m <- b1 * m + (1 - b1) * g;   v <- b2 * v + (1 - b2) * g^2
        m_hat = m / (1 - b1^t);       v_hat = v / (1 - b2^t)
        w <- w - lr * m_hat / (sqrt(v_hat) + eps)

    With `bias_correction=False`, m_hat = m and v_hat = v: the uncorrected rule, whose first
    steps are off by a factor of about (1 - b1) / sqrt(1 - b2) (3.2 for the defaults).
    b1, b2 in [0, 1).
    Twin: `optax.adam(lr, b1=b1, b2=b2, eps=eps, eps_root=0.0)`; the uncorrected rule has none.
    """
    lr = _check_lr("adam", _named("adam", "lr", lr, "learning_rate", learning_rate))
    check_range("adam", "b1", b1, low=0.0, high=1.0, high_open=True)
    check_range("adam", "b2", b2, low=0.0, high=1.0, high_open=True)
    check_range("adam", "eps", eps, low=0.0)

    def init(params):
        return AdamState(*_start(lr), m=_zeros(params), v=_zeros(params))

    def update(grads, state, params=None):
        del params
        count, lr_t = _increment(state.count), _lr_at(lr, state.count)
        m = _leafwise(lambda m, g: b1 * m + (1 - b1) * g, state.m, grads)
        v = _leafwise(lambda v, g: b2 * v + (1 - b2) * g * g, state.v, grads)
        if bias_correction:
            t = count.astype(lr_t.dtype)
            c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        else:
            c1 = c2 = 1.0
        # -lr * m_hat / (sqrt(v_hat) + eps), the scalar factors taken out of the
        # per-element work (one division per element instead of three)
        step_size, inv_c2 = -lr_t / c1, 1 / c2
        steps = _leafwise(lambda g, m, v: step_size * m / (jnp.sqrt(v * inv_c2) + eps),
                          grads, m, v)
        return steps, AdamState(count, lr_t, m, v)

    return optax.GradientTransformation(init, update)


# ----------------------------------------------------------------------------- modifiers

def clip_by_global_norm(max_norm) -> optax.GradientTransformation:
    """g <- g * max_norm / max(||g||, max_norm), with ||g|| the norm of all leaves together.

    Gradients whose global norm is at most `max_norm` (> 0) pass unchanged; larger ones are
    scaled down to norm `max_norm`, keeping their direction. Twin:
    `optax.clip_by_global_norm(max_norm)`.
    """
    check_range("clip_by_global_norm", "max_norm", max_norm, low=0.0, low_open=True)

    def init(params):
        del params
        return optax.EmptyState()

    def update(grads, state, params=None):
        del params
        # sums of squares accumulate in float32 at least (bfloat16 leaves too)
        squares = [jnp.sum(jnp.square(g), dtype=jnp.promote_types(g.dtype, jnp.float32))
                   for g in jax.tree.leaves(grads)]
        norm = jnp.sqrt(sum(squares))
        scale = max_norm / jnp.maximum(norm, max_norm)
        return _leafwise(lambda g: g * scale, grads), state

    return optax.GradientTransformation(init, update)


def weight_decay(rate, mask=weights_only, *, decoupled: bool = False
                 ) -> optax.GradientTransformation:
    """Adds rate * w to the update on masked leaves: u <- u + rate * w (or, with
    `decoupled=True`, subtracts it: u <- u - rate * w).

    Where it sits in a chain decides what it means:

    * before the optimizer, **L2-coupled**: `chain(weight_decay(lam), sgd(lr))` steps by
      -lr * (g + lam * w), exactly as adding the penalty lam/2 * ||w||^2
      (`jaxdl.regularizers.l2(lam)`) to the loss; in front of an adaptive optimizer
      (`chain(weight_decay(lam), adam(lr))`) the decay is rescaled by Adam like the gradient.
    * after the optimizer, **decoupled** (Loshchilov & Hutter, 2019): the optimizer's output
      is already a step (-lr * direction), so the decay must be subtracted; pass
      `decoupled=True`, which makes it u <- u - rate * w, i.e. w <- (1 - rate) * w + u.
      `chain(adam(lr), weight_decay(lr * lam, decoupled=True))` equals
      `optax.adamw(lr, weight_decay=lam, mask=...)` for a constant lr.

    `rate` >= 0 (number, array or tracer). `mask` picks the decayed leaves: a function
    `params -> pytree of bools` (default `weights_only`: leaves named `w`, not biases or
    batch-norm scales), a pytree of bools, or None for every leaf. Needs `params` in
    `update`. Twin (decoupled=False): `optax.add_decayed_weights(rate, mask)`.
    """
    check_range("weight_decay", "rate", rate, low=0.0)
    sign = -1.0 if decoupled else 1.0

    def init(params):
        del params
        return optax.EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("weight_decay: update needs params "
                             "(call update(updates, state, params))")
        keep = mask(params) if callable(mask) else mask
        if keep is None:
            keep = jax.tree.map(lambda _: True, params)

        def decay(u, w, k):
            if isinstance(k, (bool, np.bool_)):  # static mask: untouched leaves cost nothing
                return u + sign * rate * w if k else u
            return jnp.where(k, u + sign * rate * w, u)

        return _leafwise(decay, updates, params, keep), state

    return optax.GradientTransformation(init, update)


# ----------------------------------------------------------------------------- logging

def learning_rate(opt_state) -> jax.Array | None:
    """The learning rate used by the most recent update, found anywhere in `opt_state`.

    Works for the states of this module's optimizers (their field `lr`), nested in any
    combination of chains, `optax.MultiSteps`, `optax.masked` ... (the first one in
    flattening order wins), and for `optax.inject_hyperparams` states (their
    `hyperparams["learning_rate"]`). Returns None if no state records one. Cheap: it
    walks the state's leaves once and returns a scalar array (batched under `vmap`).
    """
    ours = (GetAttrKey("lr"),)
    injected = (GetAttrKey("hyperparams"), DictKey("learning_rate"))
    for path, leaf in jax.tree_util.tree_flatten_with_path(opt_state)[0]:
        if path[-1:] == ours or path[-2:] == injected:
            return leaf
    return None
