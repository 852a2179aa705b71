"""Tests of jaxdl.optim: parity with optax, numpy references of the textbook formulas,
hand-computed steps, vmap over hyperparameters without recompiling, validation.

Comparisons of two implementations (jaxdl vs optax, jaxdl vs numpy) must survive another
CPU's rounding (jaxdl/design.md, Testing): long trajectories are compared in float64 (x64 enabled
inside the comparison only), float32 ones over a short horizon. They are marked `parity`,
and CI runs them again under `XLA_FLAGS=--xla_cpu_max_isa=SSE4_2`."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import optim, regularizers
from jaxdl.nn.layer import weights_only

S = optim.schedules
STEPS = 500          # long horizon, compared in float64
SHORT = 100          # float32 horizon (see test_short_trajectory_matches_optax_float32)
parity = pytest.mark.parity


# ----------------------------------------------------------------------------- problems

def _quadratic_arrays(n=10, seed=0):
    """f(x) = x^T A x / 2 - b^T x, A symmetric positive definite with eigenvalues in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(np.linspace(0.5, 2.0, n)) @ q.T
    a = ((a + a.T) / 2).astype(np.float32)
    b = rng.normal(size=n).astype(np.float32)
    x0 = rng.normal(size=n).astype(np.float32)
    return a, b, x0


_A, _B, _X0 = _quadratic_arrays()

PROBLEMS = {
    # name: (jax gradient, numpy float64 gradient, start)
    "quadratic": (lambda x: jnp.asarray(_A) @ x - jnp.asarray(_B),
                  lambda x: _A.astype(np.float64) @ x - _B.astype(np.float64),
                  _X0),
    "rosenbrock": (lambda x: jnp.stack([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                                        200 * (x[1] - x[0] ** 2)]),
                   lambda x: np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                                       200 * (x[1] - x[0] ** 2)]),
                   np.array([-1.2, 1.0], np.float32)),
}


def trajectory(opt, grad, x0, steps=STEPS):
    """All iterates x_1 .. x_steps of `opt` from x0, one jitted lax.scan (compiles once).

    The iterates have x0's dtype: pass a float64 x0 inside `jax.enable_x64(True)`.
    """

    @jax.jit
    def run(x0):
        def body(carry, _):
            x, state = carry
            steps_, state = opt.update(grad(x), state, x)
            x = optax.apply_updates(x, steps_)
            return (x, state), x

        return jax.lax.scan(body, (x0, opt.init(x0)), None, length=steps)[1]

    return np.asarray(run(jnp.asarray(x0)))


# ----------------------------------------------------------------------------- parity cases

def _float_count(schedule):
    """An optax schedule fed the count as a float of the default dtype.

    optax divides the int32 count in float32 even under x64 (its lr is then float32, 1e-8
    off jaxdl's float64 one); given a float count it computes in float64 there, and in
    float32 exactly as before (counts up to 2^24 are exact floats).
    """
    return lambda count: schedule(jnp.asarray(count, dtype=float))


# name: (jaxdl factory, optax factory, lr on the quadratic, lr on Rosenbrock)
PARITY = {
    "sgd": (optim.sgd, optax.sgd, 0.1, 5e-4),
    "sgd+step_decay": (lambda lr: optim.sgd(S.step_decay(lr, 0.5, 100, start=50)),
                       lambda lr: optax.sgd(_float_count(
                           optax.exponential_decay(lr, 100, 0.5, 50, True))),
                       0.1, 5e-4),
    "momentum": (lambda lr: optim.momentum(lr, 0.9),
                 lambda lr: optax.sgd(lr, momentum=0.9), 0.1, 2e-4),
    "momentum_ewa": (lambda lr: optim.momentum(lr, 0.9, "ewa"),
                     lambda lr: optax.chain(optax.ema(0.9, debias=False), optax.scale(-lr)),
                     0.2, 1e-3),
    "momentum_ewa_bc": (lambda lr: optim.momentum(lr, 0.9, "ewa", bias_correction=True),
                        lambda lr: optax.chain(optax.ema(0.9, debias=True), optax.scale(-lr)),
                        0.2, 1e-3),
    "nesterov": (lambda lr: optim.nesterov(lr, 0.9),
                 lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True), 0.1, 2e-4),
    # optax puts eps inside the square root: the rules coincide for eps = 0, and (with a
    # positive accumulator) to within eps / cache for eps > 0.
    "adagrad": (lambda lr: optim.adagrad(lr, eps=0.0, initial_accumulator=0.0),
                lambda lr: optax.adagrad(lr, initial_accumulator_value=0.0, eps=0.0),
                0.5, 0.05),
    "adagrad_acc0.1": (lambda lr: optim.adagrad(lr, initial_accumulator=0.1),
                       lambda lr: optax.adagrad(lr, initial_accumulator_value=0.1, eps=1e-7),
                       0.5, 0.05),
    # decay=0.999 on the quadratic: with decay=0.9 RMSprop's near-sign steps make the
    # trajectory chaotic there (optax itself turns a 1e-13 perturbation into 1e-2). Even so
    # a constant-lr RMSprop never settles: see F64_STEPS.
    "rmsprop": (lambda lr, d=0.999: optim.rmsprop(lr, decay=d, eps=1e-7),
                lambda lr, d=0.999: optax.rmsprop(lr, decay=d, eps=1e-7, eps_in_sqrt=False),
                0.03, (1e-3, 0.9)),
    "rmsprop_eps_in_sqrt": (
        lambda lr, d=0.999: optim.rmsprop(lr, decay=d, eps=1e-7, eps_in_sqrt=True),
        lambda lr, d=0.999: optax.rmsprop(lr, decay=d, eps=1e-7, eps_in_sqrt=True),
        0.03, (1e-3, 0.9)),
    "adam": (lambda lr: optim.adam(lr, 0.9, 0.999, 1e-8),
             lambda lr: optax.adam(lr, 0.9, 0.999, 1e-8, eps_root=0.0), 0.1, 0.01),
    "adam+exponential": (lambda lr: optim.adam(S.exponential(lr, rate=0.5, every=200)),
                         lambda lr: optax.adam(_float_count(optax.exponential_decay(lr, 200, 0.5))),
                         0.1, 0.01),
    "clip+adam": (lambda lr: optax.chain(optim.clip_by_global_norm(1.0), optim.adam(lr)),
                  lambda lr: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr)),
                  0.1, 0.01),
}


def _make(factory, lr):
    return factory(*lr) if isinstance(lr, tuple) else factory(lr)


# Float64 horizon per case (default STEPS). RMSprop with a constant lr does not converge:
# once its cache has decayed the near-sign steps make the iteration expanding, and any
# rounding difference grows without bound (float64, under SSE4_2: jaxdl vs optax 1e-15 at
# step 200, 3e-14 at 250, 9e-4 at 300 on Rosenbrock; 4e-7 at 500 on the quadratic), so no
# precision makes the later steps comparable. Up to step 200 they agree to 1e-15 on every
# ISA measured.
F64_STEPS = {"rmsprop": 200, "rmsprop_eps_in_sqrt": 200}
# Float64 tolerance per case (default 1e-10; measured differences are <= 2e-15). adagrad
# with eps > 0 is a different rule from optax's (eps outside vs inside the square root):
# they differ by about eps / sqrt(cache) per step, measured 6e-8 over 500 steps.
F64_TOL = {"adagrad_acc0.1": 1e-6}


@functools.lru_cache(maxsize=None)
def ours_and_optax(case: str, problem: str, steps: int, x64: bool):
    """Both trajectories, in float64 (x64 enabled for this call only) or float32."""
    ours, twin, lr_quad, lr_rosen = PARITY[case]
    lr = lr_quad if problem == "quadratic" else lr_rosen
    grad, _, x0 = PROBLEMS[problem]
    dtype = np.float64 if x64 else np.float32
    with jax.enable_x64(x64):
        both = tuple(trajectory(_make(f, lr), grad, x0.astype(dtype), steps)
                     for f in (ours, twin))
    assert all(t.dtype == dtype and t.shape == (steps, len(x0)) for t in both)
    return both


@parity
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("case", sorted(PARITY))
def test_trajectory_matches_optax_float64(case, problem):
    """Long trajectories in float64: jaxdl and optax agree to 1e-10 (measured <= 2e-15 on
    SSE4_2, AVX2 and AVX-512 CPUs), which float32 cannot show over 500 steps (there the
    CPU's rounding, amplified by the dynamics, separates them after ~400 RMSprop steps)."""
    x64_before = jax.config.jax_enable_x64
    steps = F64_STEPS.get(case, STEPS)
    ours, theirs = ours_and_optax(case, problem, steps, True)
    assert jax.config.jax_enable_x64 == x64_before   # x64 was enabled for the runs only
    assert np.all(np.isfinite(ours))
    # The run must go somewhere, or equality would prove nothing.
    assert np.max(np.abs(ours[-1] - PROBLEMS[problem][2])) > 1e-2
    tol = F64_TOL.get(case, 1e-10)
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


@parity
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("case", sorted(PARITY))
def test_short_trajectory_matches_optax_float32(case, problem):
    """The float32 programs (what users run) agree over SHORT = 100 steps: measured <= 7e-7
    on SSE4_2, AVX2 and AVX-512 CPUs, asserted to 1e-5. Longer float32 runs are not
    compared: rounding that differs from CPU to CPU is amplified by the dynamics."""
    ours, theirs = ours_and_optax(case, problem, SHORT, False)
    assert np.all(np.isfinite(ours))
    assert np.max(np.abs(ours[-1] - PROBLEMS[problem][2])) > 1e-2
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- numpy references

def np_momentum_ewa(lr, beta, bias_correction):
    v = 0.0

    def step(g, t):
        nonlocal v
        v = beta * v + (1 - beta) * g
        return -lr * (v / (1 - beta ** t) if bias_correction else v)

    return step


def np_adam(lr, b1=0.9, b2=0.999, eps=1e-8, bias_correction=True):
    m = v = 0.0

    def step(g, t):
        nonlocal m, v
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat, v_hat = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if bias_correction else (m, v)
        return -lr * m_hat / (np.sqrt(v_hat) + eps)

    return step


def np_rmsprop(lr, decay=0.9, eps=1e-7):
    cache = 0.0

    def step(g, t):
        nonlocal cache
        cache = decay * cache + (1 - decay) * g ** 2
        return -lr * g / (np.sqrt(cache) + eps)

    return step


def np_trajectory(step, grad, x0, steps=STEPS):
    x, out = np.asarray(x0, np.float64), []
    for t in range(1, steps + 1):
        x = x + step(grad(x), t)
        out.append(x)
    return np.stack(out)


# name: (jaxdl optimizer, numpy rule, problem); factories, as the numpy rules keep state
NUMPY_CASES = {
    "adam_uncorrected/quadratic": (lambda: optim.adam(0.05, bias_correction=False),
                                   lambda: np_adam(0.05, bias_correction=False), "quadratic"),
    "adam_uncorrected/rosenbrock": (lambda: optim.adam(0.01, bias_correction=False),
                                    lambda: np_adam(0.01, bias_correction=False), "rosenbrock"),
    "momentum_ewa/quadratic": (lambda: optim.momentum(0.2, 0.9, "ewa"),
                               lambda: np_momentum_ewa(0.2, 0.9, False), "quadratic"),
    "momentum_ewa/rosenbrock": (lambda: optim.momentum(1e-3, 0.9, "ewa"),
                                lambda: np_momentum_ewa(1e-3, 0.9, False), "rosenbrock"),
    "momentum_ewa_bc/quadratic": (lambda: optim.momentum(0.2, 0.9, "ewa", bias_correction=True),
                                  lambda: np_momentum_ewa(0.2, 0.9, True), "quadratic"),
    "momentum_ewa_bc/rosenbrock": (
        lambda: optim.momentum(1e-3, 0.9, "ewa", bias_correction=True),
        lambda: np_momentum_ewa(1e-3, 0.9, True), "rosenbrock"),
    "adam/quadratic": (lambda: optim.adam(0.05), lambda: np_adam(0.05), "quadratic"),
    "rmsprop/quadratic": (lambda: optim.rmsprop(3e-3, 0.999), lambda: np_rmsprop(3e-3, 0.999),
                          "quadratic"),
}


@parity
@pytest.mark.parametrize("x64", [True, False], ids=["float64", "float32"])
@pytest.mark.parametrize("case", sorted(NUMPY_CASES))
def test_trajectory_matches_numpy_formula(case, x64):
    """float64: 500 steps to 1e-10 of the float64 numpy formula (measured <= 2e-15).
    float32: SHORT steps to 1e-4 (measured <= 1.1e-5: float32 rounding, mostly of the
    constant 1 - b2, which optax shares)."""
    make, make_np, problem = NUMPY_CASES[case]
    grad, np_grad, x0 = PROBLEMS[problem]
    steps, dtype, tol = (STEPS, np.float64, 1e-10) if x64 else (SHORT, np.float32, 1e-4)
    with jax.enable_x64(x64):
        ours = trajectory(make(), grad, x0.astype(dtype), steps)
    ref = np_trajectory(make_np(), np_grad, x0, steps)
    assert ours.dtype == dtype
    assert np.max(np.abs(ref[-1] - x0)) > 1e-2
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol)


def test_uncorrected_adam_differs_from_corrected_early():
    """Without bias correction the first steps are (1-b1)/sqrt(1-b2) ~ 3.16x larger."""
    g = {"x": jnp.array([2.0, -0.5])}
    p = {"x": jnp.zeros(2)}
    corrected = optim.adam(0.1, eps=0.0)
    raw = optim.adam(0.1, eps=0.0, bias_correction=False)
    s1, _ = corrected.update(g, corrected.init(p))
    s2, _ = raw.update(g, raw.init(p))
    # rtol 1e-5: 1 - b2 in float32 carries a relative error of 1.3e-5 (as in optax)
    np.testing.assert_allclose(s1["x"], [-0.1, 0.1], rtol=1e-5)
    np.testing.assert_allclose(s2["x"], np.array([-0.1, 0.1]) * 0.1 / np.sqrt(0.001), rtol=1e-5)


# ----------------------------------------------------------------------------- hand values

def _steps(opt, grads_seq, params=None):
    params = {"w": jnp.zeros(2)} if params is None else params
    state, out = opt.init(params), []
    for g in grads_seq:
        s, state = opt.update({"w": jnp.asarray(g, jnp.float32)}, state, params)
        out.append(s["w"])
    return out, state


class HandValuesTest(chex.TestCase):
    """Two updates of each rule, against numbers computed by hand (eps = 0 where present)."""

    G1, G2 = [2.0, -1.0], [1.0, 1.0]

    def _check(self, make, expected1, expected2):
        def two_steps(g1, g2):
            opt = make()
            params = {"w": jnp.zeros(2)}
            state = opt.init(params)
            s1, state = opt.update({"w": g1}, state, params)
            s2, state = opt.update({"w": g2}, state, params)
            return s1["w"], s2["w"], state.count

        s1, s2, count = self.variant(two_steps)(jnp.array(self.G1), jnp.array(self.G2))
        np.testing.assert_allclose(s1, expected1, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(s2, expected2, rtol=1e-5, atol=1e-7)
        assert count == 2 and count.dtype == jnp.int32

    @chex.variants(with_jit=True, without_jit=True)
    def test_sgd(self):
        self._check(lambda: optim.sgd(0.1), [-0.2, 0.1], [-0.1, -0.1])

    @chex.variants(with_jit=True, without_jit=True)
    def test_momentum_classic(self):
        # v1 = -0.1 g1; v2 = 0.9 v1 - 0.1 g2
        self._check(lambda: optim.momentum(0.1, 0.9), [-0.2, 0.1], [-0.28, -0.01])

    @chex.variants(with_jit=True, without_jit=True)
    def test_momentum_ewa(self):
        # v1 = 0.1 g1 = [0.2, -0.1]; v2 = 0.9 v1 + 0.1 g2 = [0.28, 0.01]; step = -0.5 v
        self._check(lambda: optim.momentum(0.5, 0.9, "ewa"), [-0.1, 0.05], [-0.14, -0.005])

    @chex.variants(with_jit=True, without_jit=True)
    def test_momentum_ewa_bias_corrected(self):
        # v1 / 0.1 = g1; v2 / 0.19 = [0.28, 0.01] / 0.19
        self._check(lambda: optim.momentum(0.5, 0.9, "ewa", bias_correction=True),
                    [-1.0, 0.5], [-0.5 * 0.28 / 0.19, -0.5 * 0.01 / 0.19])

    @chex.variants(with_jit=True, without_jit=True)
    def test_nesterov(self):
        # v1 = [-0.2, 0.1], step1 = 1.9 v1; v2 = 0.9 v1 - 0.1 g2 = [-0.28, -0.01],
        # step2 = -0.9 v1 + 1.9 v2 = [0.18 - 0.532, -0.09 - 0.019]
        self._check(lambda: optim.nesterov(0.1, 0.9), [-0.38, 0.19], [-0.352, -0.109])

    @chex.variants(with_jit=True, without_jit=True)
    def test_adagrad(self):
        # cache1 = [4, 1]; cache2 = [5, 2]
        self._check(lambda: optim.adagrad(0.1, eps=0.0), [-0.1, 0.1],
                    [-0.1 / np.sqrt(5), -0.1 / np.sqrt(2)])

    @chex.variants(with_jit=True, without_jit=True)
    def test_adagrad_initial_accumulator(self):
        # cache1 = [4.5, 1.5]
        self._check(lambda: optim.adagrad(0.1, eps=0.0, initial_accumulator=0.5),
                    [-0.2 / np.sqrt(4.5), 0.1 / np.sqrt(1.5)],
                    [-0.1 / np.sqrt(5.5), -0.1 / np.sqrt(2.5)])

    @chex.variants(with_jit=True, without_jit=True)
    def test_rmsprop(self):
        # cache1 = 0.1 g1^2 = [0.4, 0.1]; cache2 = 0.9 cache1 + 0.1 = [0.46, 0.19]
        self._check(lambda: optim.rmsprop(0.1, 0.9, eps=0.0),
                    [-0.2 / np.sqrt(0.4), 0.1 / np.sqrt(0.1)],
                    [-0.1 / np.sqrt(0.46), -0.1 / np.sqrt(0.19)])

    @chex.variants(with_jit=True, without_jit=True)
    def test_rmsprop_eps_in_sqrt(self):
        self._check(lambda: optim.rmsprop(0.1, 0.9, eps=0.5, eps_in_sqrt=True),
                    [-0.2 / np.sqrt(0.9), 0.1 / np.sqrt(0.6)],
                    [-0.1 / np.sqrt(0.96), -0.1 / np.sqrt(0.69)])

    @chex.variants(with_jit=True, without_jit=True)
    def test_adam(self):
        # m2 = [0.28, 0.01], v2 = 0.999*0.001*[4, 1] + 0.001 = [0.004996, 0.001999]
        m2, v2 = np.array([0.28, 0.01]), np.array([0.004996, 0.001999])
        self._check(lambda: optim.adam(0.1, eps=0.0), [-0.1, 0.1],
                    -0.1 * (m2 / 0.19) / np.sqrt(v2 / (1 - 0.999 ** 2)))

    @chex.variants(with_jit=True, without_jit=True)
    def test_adam_uncorrected(self):
        m2, v2 = np.array([0.28, 0.01]), np.array([0.004996, 0.001999])
        self._check(lambda: optim.adam(0.1, eps=0.0, bias_correction=False),
                    -0.1 * np.array([0.2, -0.1]) / np.sqrt([0.004, 0.001]),
                    -0.1 * m2 / np.sqrt(v2))

    @chex.variants(with_jit=True, without_jit=True)
    def test_sgd_with_schedule(self):
        # step 0 uses lr(0) = 0.1, step 1 uses lr(1) = 0.1 / (1 + 1)
        self._check(lambda: optim.sgd(S.inverse_time(0.1, 1.0)), [-0.2, 0.1], [-0.05, -0.05])


# ----------------------------------------------------------------------------- Nesterov forms

@parity
def test_nesterov_practical_form_equals_lookahead_form():
    """Look-ahead: v <- mu v - lr grad(w + mu v); w <- w + v. Practical form runs on
    w~ = w + mu v, so its iterates must equal w_t + mu v_t of the look-ahead run (float64
    numpy; jaxdl in float64 to 1e-10, measured 7e-16; in float32 it was within 5e-7)."""
    lr, mu = 0.05, 0.9
    grad, np_grad, x0 = PROBLEMS["quadratic"]
    w, v, shifted = x0.astype(np.float64), np.zeros_like(x0, np.float64), []
    for _ in range(200):
        v = mu * v - lr * np_grad(w + mu * v)
        w = w + v
        shifted.append(w + mu * v)
    with jax.enable_x64(True):
        practical = trajectory(optim.nesterov(lr, mu), grad, x0.astype(np.float64), steps=200)
        plain = trajectory(optim.momentum(lr, mu), grad, x0.astype(np.float64), steps=200)
    assert practical.dtype == np.float64
    assert np.max(np.abs(practical[-1] - x0)) > 0.1
    np.testing.assert_allclose(practical, np.stack(shifted), rtol=1e-10, atol=1e-10)
    # and it is not plain momentum
    assert np.max(np.abs(plain - practical)) > 1e-3


# ----------------------------------------------------------------------------- vmap / recompile

def _final(make_opt, grad, steps=100):
    def run(x0, *hparams):
        opt = make_opt(*hparams)

        def body(carry, _):
            x, state = carry
            step, state = opt.update(grad(x), state, x)
            return (optax.apply_updates(x, step), state), None

        (x, state), _ = jax.lax.scan(body, (x0, opt.init(x0)), None, length=steps)
        return x, optim.learning_rate(state)

    return run


@parity
@pytest.mark.parametrize("name,make,hparams", [
    ("momentum", lambda lr, mu: optim.momentum(lr, mu),
     ([0.01, 0.05, 0.1, 0.2], [0.0, 0.5, 0.9, 0.8])),
    ("nesterov", lambda lr, mu: optim.nesterov(lr, mu),
     ([0.01, 0.05, 0.1, 0.2], [0.0, 0.5, 0.9, 0.8])),
    ("adam", lambda lr, b1: optim.adam(lr, b1), ([1e-3, 1e-2, 0.1, 0.3], [0.0, 0.5, 0.9, 0.95])),
    ("rmsprop+schedule", lambda lr, rate: optim.rmsprop(S.exponential(lr, rate=rate, every=10)),
     ([1e-3, 1e-2, 0.1, 0.3], [0.5, 0.9, 0.95, 1.0])),
])
def test_vmap_over_hyperparameters_equals_separate_runs(name, make, hparams):
    """vmapped and separate runs are different programs: compared in float64 to 1e-10
    (measured <= 3e-15; in float32 RMSprop's near-sign steps took them 1.4e-6 apart)."""
    grad, _, x0 = PROBLEMS["quadratic"]
    run = _final(make, grad, steps=20)
    with jax.enable_x64(True):
        x0 = jnp.asarray(x0, jnp.float64)
        a, b = (jnp.asarray(h, jnp.float64) for h in hparams)
        x_batched, lr_batched = jax.jit(jax.vmap(run, in_axes=(None, 0, 0)))(x0, a, b)
        single = jax.jit(run)
        separate = [single(x0, a[i], b[i]) for i in range(len(a))]
    assert x_batched.shape == (len(a), len(x0)) and lr_batched.shape == (len(a),)
    assert x_batched.dtype == lr_batched.dtype == jnp.float64
    np.testing.assert_allclose(x_batched, np.stack([s[0] for s in separate]),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(lr_batched, [s[1] for s in separate], rtol=1e-12)
    # different hyperparameters really gave different runs
    assert np.min(np.abs(np.diff(np.asarray(x_batched)[:, 0]))) > 1e-4


def test_changing_hyperparameter_values_does_not_recompile():
    grad, _, x0 = PROBLEMS["quadratic"]

    @jax.jit
    @chex.assert_max_traces(n=1)
    def train(x0, lr, mu, rate, max_norm):
        make = lambda lr_, mu_: optax.chain(
            optim.clip_by_global_norm(max_norm),
            optim.nesterov(S.step_decay(lr_, rate, 20), mu_))
        return _final(make, grad, steps=50)(x0, lr, mu)[0]

    outs = [train(jnp.asarray(x0), *map(jnp.float32, hp)) for hp in
            [(0.1, 0.9, 0.5, 1.0), (0.05, 0.5, 0.9, 2.0), (0.2, 0.0, 1.0, 10.0)]]
    assert len({tuple(np.round(np.asarray(o), 5)) for o in outs}) == 3  # values took effect


def test_tracers_skip_validation_but_concrete_arrays_are_checked():
    with pytest.raises(ValueError, match="adam: lr must be in"):
        optim.adam(jnp.float32(-1.0))
    # a traced negative value cannot be inspected: construction inside jit works
    out = jax.jit(lambda lr: optim.sgd(lr).update({"w": jnp.ones(2)},
                                                   optim.sgd(lr).init({"w": jnp.ones(2)}))[0])(-1.0)
    np.testing.assert_allclose(out["w"], [1.0, 1.0])


# ----------------------------------------------------------------------------- minimization

MINIMIZERS = {
    "sgd": (optim.sgd(0.1), 1e-4),
    "momentum": (optim.momentum(0.05, 0.9), 1e-4),
    "momentum_ewa": (optim.momentum(0.2, 0.9, "ewa"), 1e-4),
    "momentum_ewa_bc": (optim.momentum(0.2, 0.9, "ewa", bias_correction=True), 1e-4),
    "nesterov": (optim.nesterov(0.05, 0.9), 1e-4),
    "adagrad": (optim.adagrad(1.0), 1e-4),
    "rmsprop": (optim.rmsprop(S.exponential(0.1, k=0.01)), 1e-3),
    "adam": (optim.adam(0.1), 1e-4),
    "adam_uncorrected": (optim.adam(0.1, bias_correction=False), 1e-4),
}


@pytest.mark.parametrize("name", sorted(MINIMIZERS))
def test_minimizes_the_course_problems(name):
    opt, tol = MINIMIZERS[name]
    f = lambda p: p[0] ** 2 + p[0] * p[1] + 4 * p[1] ** 2   # minimum 0 at (0, 0)
    j = lambda w: w ** 2 - 10 * w + 25                       # minimum 0 at w = 5
    x = trajectory(opt, jax.grad(f), np.array([3.0, 3.0], np.float32))[-1]
    w = trajectory(opt, jax.grad(j), np.float32(0.0))[-1]
    np.testing.assert_allclose(x, [0.0, 0.0], atol=tol)
    np.testing.assert_allclose(w, 5.0, atol=tol)


# ----------------------------------------------------------------------------- pytrees, chains

def _tree(key, dtype=jnp.float32):
    k = jax.random.split(key, 5)
    return {"dense": {"w": jax.random.normal(k[0], (3, 4), dtype),
                      "b": jax.random.normal(k[1], (4,), dtype)},
            "stack": [jax.random.normal(k[2], (2, 2, 3), dtype),
                      jax.random.normal(k[3], (), dtype)],
            "out": (jax.random.normal(k[4], (5,), dtype),)}


OURS_AND_TWINS = [
    (lambda: optim.sgd(0.1), lambda: optax.sgd(0.1)),
    (lambda: optim.momentum(0.1, 0.9), lambda: optax.sgd(0.1, momentum=0.9)),
    (lambda: optim.nesterov(0.1, 0.9), lambda: optax.sgd(0.1, momentum=0.9, nesterov=True)),
    (lambda: optim.adagrad(0.1, initial_accumulator=0.1), lambda: optax.adagrad(0.1)),
    (lambda: optim.rmsprop(0.01, eps=1e-8, eps_in_sqrt=True), lambda: optax.rmsprop(0.01)),
    (lambda: optim.adam(0.01), lambda: optax.adam(0.01)),
]


@parity
@pytest.mark.parametrize("index", range(len(OURS_AND_TWINS)))
def test_nested_pytree_with_optax_chain_on_either_side(index):
    ours, twin = (f() for f in OURS_AND_TWINS[index])
    params = _tree(jax.random.key(1))
    grads = [_tree(jax.random.key(10 + i)) for i in range(4)]
    for left in (True, False):
        extra = optax.clip_by_global_norm(1.5) if left else optax.scale(0.5)
        a = optax.chain(extra, ours) if left else optax.chain(ours, extra)
        b = optax.chain(extra, twin) if left else optax.chain(twin, extra)
        pa, pb, sa, sb = params, params, a.init(params), b.init(params)
        update_a, update_b = jax.jit(a.update), jax.jit(b.update)
        for g in grads:
            ua, sa = update_a(g, sa, pa)
            ub, sb = update_b(g, sb, pb)
            pa, pb = optax.apply_updates(pa, ua), optax.apply_updates(pb, ub)
        chex.assert_trees_all_equal_structs(pa, params)
        chex.assert_trees_all_equal_shapes_and_dtypes(pa, params)
        chex.assert_trees_all_close(pa, pb, rtol=1e-5, atol=1e-6)
        assert not np.allclose(pa["dense"]["w"], params["dense"]["w"])


@pytest.mark.parametrize("make", [
    lambda: optim.sgd(jnp.float32(0.1)),
    lambda: optim.momentum(jnp.float32(0.1), jnp.float32(0.9), "ewa", bias_correction=True),
    lambda: optim.nesterov(0.1, jnp.float32(0.9)),
    lambda: optim.adagrad(S.exponential(0.1, k=0.1)),
    lambda: optim.rmsprop(0.1, jnp.float32(0.9)),
    lambda: optim.adam(jnp.float32(0.1), jnp.float32(0.9)),
    lambda: optim.clip_by_global_norm(jnp.float32(0.5)),
    lambda: optim.weight_decay(jnp.float32(0.1), mask=None),
])
def test_updates_keep_params_dtype_and_do_not_mutate(make):
    opt = make()
    params = _tree(jax.random.key(2), jnp.bfloat16)
    grads = _tree(jax.random.key(3), jnp.bfloat16)
    before = jax.tree.map(np.array, params)
    state = opt.init(params)
    update = jax.jit(opt.update)
    steps, state = update(grads, state, params)
    steps, state = update(grads, state, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(steps, params)
    new = optax.apply_updates(params, steps)
    chex.assert_trees_all_equal_shapes_and_dtypes(new, params)
    chex.assert_trees_all_equal(jax.tree.map(np.array, params), before)
    assert not np.array_equal(np.asarray(new["out"][0], np.float32),
                              before["out"][0].astype(np.float32))


def test_apply_updates_adds_the_steps():
    opt = optim.adam(0.1, eps=0.0)
    params = {"a": jnp.array([1.0, 2.0]), "b": {"w": jnp.array([[3.0]])}}
    grads = {"a": jnp.array([0.5, -2.0]), "b": {"w": jnp.array([[4.0]])}}
    steps, _ = opt.update(grads, opt.init(params))
    new = optax.apply_updates(params, steps)
    # the first bias-corrected Adam step is -lr * sign(g)
    np.testing.assert_allclose(new["a"], [0.9, 2.1], rtol=1e-6)
    np.testing.assert_allclose(new["b"]["w"], [[2.9]], rtol=1e-6)
    np.testing.assert_allclose(params["a"], [1.0, 2.0])


def test_hyperparameters_injected_by_optax():
    """optax.inject_hyperparams passes hyperparameters as arrays: our factories take them."""
    params = {"w": jnp.array([1.0, -1.0])}
    opt = optax.inject_hyperparams(optim.momentum)(lr=0.1, mu=0.5)
    state = opt.init(params)
    state.hyperparams["lr"] = jnp.asarray(0.2)
    steps, state = jax.jit(opt.update)({"w": jnp.array([1.0, 2.0])}, state, params)
    np.testing.assert_allclose(steps["w"], [-0.2, -0.4], rtol=1e-6)
    assert float(optim.learning_rate(state)) == pytest.approx(0.2)
    assert optim.chain is optax.chain


def test_works_under_optax_multisteps():
    params = {"w": jnp.array([1.0, -1.0])}
    opt = optax.MultiSteps(optim.sgd(0.5), every_k_schedule=2)
    state = opt.init(params)
    s1, state = opt.update({"w": jnp.array([1.0, 1.0])}, state, params)
    s2, state = opt.update({"w": jnp.array([3.0, -1.0])}, state, params)
    np.testing.assert_allclose(s1["w"], [0.0, 0.0])
    np.testing.assert_allclose(s2["w"], [-1.0, 0.0])   # -0.5 * mean of the two gradients
    assert float(optim.learning_rate(state)) == pytest.approx(0.5)


# ----------------------------------------------------------------------------- clipping, decay

@parity
def test_clip_by_global_norm_hand_values_and_optax():
    grads = {"a": jnp.array([3.0]), "b": [jnp.array([[0.0, 4.0]])]}  # global norm 5
    clip = optim.clip_by_global_norm(1.0)
    out, _ = clip.update(grads, clip.init(grads))
    np.testing.assert_allclose(out["a"], [0.6], rtol=1e-6)
    np.testing.assert_allclose(out["b"][0], [[0.0, 0.8]], rtol=1e-6)
    loose = optim.clip_by_global_norm(10.0)
    same, _ = loose.update(grads, loose.init(grads))
    chex.assert_trees_all_close(same, grads)
    for max_norm in (0.1, 1.0, 3.0, 100.0):
        g = _tree(jax.random.key(4))
        ours, _ = jax.jit(optim.clip_by_global_norm(max_norm).update)(g, optax.EmptyState())
        theirs, _ = optax.clip_by_global_norm(max_norm).update(g, optax.EmptyState())
        chex.assert_trees_all_close(ours, theirs, rtol=1e-6, atol=1e-7)
        norm = optax.tree.norm(ours)
        assert float(norm) == pytest.approx(min(max_norm, float(optax.tree.norm(g))), rel=1e-5)


@parity
def test_weight_decay_before_sgd_is_l2_regularization():
    """Coupled: chain(weight_decay(lam), sgd(lr)) == sgd on loss + l2(lam) (weights only)."""
    lam, lr = 0.3, 0.1
    params = {"layer": {"w": jnp.array([[1.0, -2.0]]), "b": jnp.array([0.5])}}
    loss = lambda p: jnp.sum((p["layer"]["w"] @ jnp.ones(2) + p["layer"]["b"] - 1.0) ** 2)
    coupled = optax.chain(optim.weight_decay(lam), optim.sgd(lr))
    plain = optim.sgd(lr)
    pa, pb, sa, sb = params, params, coupled.init(params), plain.init(params)
    for _ in range(5):
        ua, sa = coupled.update(jax.grad(loss)(pa), sa, pa)
        pa = optax.apply_updates(pa, ua)
        ub, sb = plain.update(jax.grad(lambda p: loss(p) + regularizers.l2(lam)(p))(pb), sb, pb)
        pb = optax.apply_updates(pb, ub)
    chex.assert_trees_all_close(pa, pb, rtol=1e-6)
    # first step by hand: the bias is not decayed
    u, _ = optim.weight_decay(lam).update(jax.tree.map(jnp.zeros_like, params),
                                          optax.EmptyState(), params)
    np.testing.assert_allclose(u["layer"]["w"], [[0.3, -0.6]], rtol=1e-6)
    np.testing.assert_allclose(u["layer"]["b"], [0.0])


@parity
def test_weight_decay_matches_optax_add_decayed_weights():
    params, grads = _tree(jax.random.key(5)), _tree(jax.random.key(6))
    for mask in (weights_only, None):
        ours, _ = optim.weight_decay(0.1, mask=mask).update(grads, optax.EmptyState(), params)
        twin = optax.add_decayed_weights(0.1, mask=mask)
        theirs, _ = twin.update(grads, twin.init(params), params)
        chex.assert_trees_all_close(ours, theirs, rtol=1e-6)
    # an array mask (not static bools) works too
    arr_mask = jax.tree.map(lambda p: jnp.ones(p.shape, bool), params)
    ours, _ = optim.weight_decay(0.1, mask=arr_mask).update(grads, optax.EmptyState(), params)
    chex.assert_trees_all_close(ours, jax.tree.map(lambda g, p: g + 0.1 * p, grads, params),
                                rtol=1e-6)
    with pytest.raises(ValueError, match="weight_decay: update needs params"):
        optim.weight_decay(0.1).update(grads, optax.EmptyState())


@parity
def test_weight_decay_after_adam_is_decoupled_adamw():
    """Decoupled: chain(adam(lr), weight_decay(lr * lam, decoupled=True)) == optax.adamw."""
    lr, lam = 0.01, 0.1
    ours = optax.chain(optim.adam(lr), optim.weight_decay(lr * lam, decoupled=True))
    theirs = optax.adamw(lr, weight_decay=lam, mask=weights_only)
    coupled = optax.chain(optim.weight_decay(lam), optim.adam(lr))
    params = _tree(jax.random.key(7))
    pa = pb = pc = params
    sa, sb, sc = ours.init(params), theirs.init(params), coupled.init(params)
    for i in range(20):
        g = _tree(jax.random.key(100 + i))
        ua, sa = ours.update(g, sa, pa)
        ub, sb = theirs.update(g, sb, pb)
        uc, sc = coupled.update(g, sc, pc)
        pa, pb, pc = (optax.apply_updates(p, u) for p, u in ((pa, ua), (pb, ub), (pc, uc)))
    chex.assert_trees_all_close(pa, pb, rtol=1e-5, atol=1e-6)
    # L2-coupled Adam is a different rule: the decay goes through Adam's rescaling
    assert np.max(np.abs(pa["dense"]["w"] - pc["dense"]["w"])) > 1e-3
    np.testing.assert_allclose(pa["dense"]["b"], pb["dense"]["b"], rtol=1e-5)


# ----------------------------------------------------------------------------- proximal_l1

def test_proximal_l1_is_the_soft_threshold_closed_form_with_exact_zeros():
    lr, lam = 0.1, 0.5  # threshold lr * lam = 0.05
    params = {"w": jnp.array([0.3, -0.05, 0.01, -1.0]), "b": jnp.array([0.01])}
    grads = {"w": jnp.array([0.1, 0.2, -0.3, 0.5]), "b": jnp.array([-0.3])}
    opt = optax.chain(optim.sgd(lr), optim.proximal_l1(lam, lr))
    updates, _ = jax.jit(opt.update)(grads, opt.init(params), params)
    new = optax.apply_updates(params, updates)
    # w - lr g = [0.29, -0.07, 0.04, -1.05] -> sign * max(|.| - 0.05, 0)
    np.testing.assert_allclose(new["w"], [0.24, -0.02, 0.0, -1.0], rtol=1e-5, atol=0)
    assert float(new["w"][2]) == 0.0  # exactly
    z = np.asarray(params["w"]) - lr * np.asarray(grads["w"])
    np.testing.assert_allclose(new["w"], np.sign(z) * np.maximum(np.abs(z) - lr * lam, 0),
                               rtol=1e-5)
    np.testing.assert_allclose(new["b"], [0.04], rtol=1e-6)  # the bias is not thresholded
    with pytest.raises(ValueError, match="proximal_l1: update needs params"):
        optim.proximal_l1(lam, lr).update(grads, optim.proximal_l1(lam, lr).init(params))
    with pytest.raises(ValueError, match=r"proximal_l1: lam must be in \[0, inf\)"):
        optim.proximal_l1(-1.0, lr)


def test_proximal_l1_reaches_the_lasso_solution_where_l1_subgradients_do_not():
    # min 1/2 ||w - y||^2 + lam ||w||_1 has the solution soft(y, lam): zeros where |y| <= lam
    y = jnp.array([1.0, 0.15, -0.1, -2.0, 0.05, 0.3])
    lam, lr = 0.2, 0.3
    loss = lambda p: 0.5 * jnp.sum((p["w"] - y) ** 2)
    runs = {"proximal": (optax.chain(optim.sgd(lr), optim.proximal_l1(lam, lr)), loss),
            "subgradient": (optim.sgd(lr), lambda p: loss(p) + regularizers.l1(lam)(p))}
    final = {}
    for name, (opt, objective) in runs.items():
        params = {"w": jnp.zeros(6) + 0.5}
        state = opt.init(params)
        for _ in range(60):
            updates, state = opt.update(jax.grad(objective)(params), state, params)
            params = optax.apply_updates(params, updates)
        final[name] = np.asarray(params["w"])
    np.testing.assert_allclose(final["proximal"], [0.8, 0.0, 0.0, -1.8, 0.0, 0.1],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(final["proximal"][[1, 2, 4]], 0.0)  # exact zeros
    assert np.count_nonzero(final["subgradient"] == 0.0) < 3  # subgradient steps oscillate


def test_proximal_l1_follows_a_learning_rate_schedule():
    sched = optim.schedules.exponential(0.4, rate=0.5, every=1)  # lr 0.4, 0.2, ...
    opt = optax.chain(optim.sgd(sched), optim.proximal_l1(1.0, sched))
    params = {"w": jnp.array([0.5, 0.3])}
    state = opt.init(params)
    zero = {"w": jnp.zeros(2)}
    updates, state = opt.update(zero, state, params)
    params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(params["w"], [0.1, 0.0], rtol=1e-6)  # threshold 0.4
    updates, state = opt.update(zero, state, params)
    np.testing.assert_allclose(optax.apply_updates(params, updates)["w"], [0.0, 0.0])  # 0.2
    assert int(state[1].count) == 2


# ----------------------------------------------------------------------------- learning_rate

def test_learning_rate_found_in_chained_state_with_schedule():
    sched = S.exponential(0.1, rate=0.5, every=2)
    opt = optax.chain(optim.clip_by_global_norm(1.0), optim.adam(sched))
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    assert float(optim.learning_rate(state)) == pytest.approx(0.1)      # lr of step 0
    update = jax.jit(opt.update)
    for _ in range(4):
        _, state = update({"w": jnp.ones(3)}, state, params)
    lr = optim.learning_rate(state)
    assert lr.shape == () and lr.dtype == jnp.float32
    assert float(lr) == pytest.approx(0.1 * 0.5 ** 1.5, rel=1e-6)      # used by update 3
    assert state[1].count == 4 and state[1].count.dtype == jnp.int32
    # nested deeper, and inside jit
    nested = optax.chain(optax.identity(), optax.chain(optim.momentum(0.3), optax.scale(1.0)))
    assert float(jax.jit(optim.learning_rate)(nested.init(params))) == pytest.approx(0.3)
    # optax's inject_hyperparams records it too; states without one give None
    injected = optax.inject_hyperparams(optax.sgd)(learning_rate=0.25)
    assert float(optim.learning_rate(injected.init(params))) == pytest.approx(0.25)
    assert optim.learning_rate(optax.adam(0.1).init(params)) is None
    assert optim.learning_rate(optim.clip_by_global_norm(1.0).init(params)) is None


# ----------------------------------------------------------------------------- schedules

def test_schedules_hand_values():
    counts = jnp.array([0, 1, 5, 10, 25, 100], jnp.int32)
    cases = {
        "constant": (S.constant(0.3), [0.3] * 6),
        "step_decay": (S.step_decay(1.0, 0.5, 10, start=5),
                       [1, 1, 1, 1, 0.25, 0.5 ** 9]),
        "step_decay_smooth": (S.step_decay(1.0, 0.5, 10, start=5, staircase=False),
                              [1, 1, 1, 0.5 ** 0.5, 0.25, 0.5 ** 9.5]),
        "exponential_k": (S.exponential(2.0, k=0.1),
                          2.0 * np.exp(-0.1 * np.array([0, 1, 5, 10, 25, 100]))),
        "exponential_design_doc": (S.exponential(1e-3, rate=0.95, every=10),
                                   1e-3 * 0.95 ** (np.array([0, 1, 5, 10, 25, 100]) / 10)),
        "exponential_staircase": (S.exponential(1.0, rate=0.5, every=10, staircase=True),
                                  [1, 1, 1, 0.5, 0.25, 0.5 ** 10]),
        "inverse_time": (S.inverse_time(1.0, 0.5), [1, 1 / 1.5, 1 / 3.5, 1 / 6, 1 / 13.5, 1 / 51]),
        "per_epoch_power": (S.per_epoch_power(0.2, steps_per_epoch=5),
                            0.2 * 0.95 ** np.array([1, 1, 2, 3, 6, 21])),
        "inverse_time_per_epoch": (S.inverse_time(0.2, 0.5, steps_per_epoch=5),
                                   0.2 / (1 + 0.5 * np.array([1, 1, 2, 3, 6, 21]))),
        "inverse_sqrt": (S.inverse_sqrt(0.2, k=2.0, steps_per_epoch=5),
                         0.4 / np.sqrt([1, 1, 2, 3, 6, 21])),
        "piecewise_constant": (S.piecewise_constant([5, 25], [0.1, 0.01, 0.001]),
                               [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]),
    }
    for name, (schedule, expected) in cases.items():
        got = jax.jit(jax.vmap(schedule))(counts)
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=name)
        assert float(schedule(7)) == pytest.approx(float(schedule(jnp.int32(7))), rel=1e-6)
    # the call in jaxdl/design.md: x0.95 every 1000 steps
    design = S.exponential(1e-3, rate=0.95, every=1000)
    assert float(design(2000)) == pytest.approx(1e-3 * 0.95 ** 2)
    assert float(design(500)) == pytest.approx(1e-3 * 0.95 ** 0.5)


@parity
def test_per_epoch_schedules_give_the_courses_first_epoch_values():
    # notes: lr = lr0 / (1 + decay_rate * epoch_num), epoch_num = 1 for the first epoch:
    # lr0 = 0.2, decay_rate = 1 -> 0.1, 0.067, 0.05, 0.04 in epochs 1..4
    steps = 3
    counts = jnp.arange(4 * steps, dtype=jnp.int32)  # 4 epochs of 3 updates
    first_updates = counts[::steps]
    got = jax.vmap(S.inverse_time(0.2, 1.0, steps_per_epoch=steps))(counts)
    np.testing.assert_allclose(got[::steps], [0.1, 0.2 / 3, 0.05, 0.04], rtol=1e-6)
    np.testing.assert_allclose(got, np.repeat(got[::steps], steps))  # constant in an epoch
    np.testing.assert_allclose(jax.vmap(S.per_epoch_power(0.2, 0.95, steps_per_epoch=steps))(
        first_updates), 0.2 * np.array([0.95, 0.9025, 0.857375, 0.81450625]), rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(S.inverse_sqrt(0.2, 1.0, steps_per_epoch=steps))(
        first_updates), 0.2 / np.sqrt([1.0, 2.0, 3.0, 4.0]), rtol=1e-6)
    with pytest.raises(ValueError, match="inverse_time: give steps_per_epoch .* not both"):
        S.inverse_time(0.2, 1.0, every=3, steps_per_epoch=3)
    with pytest.raises(ValueError, match="inverse_time: give steps_per_epoch .* not both"):
        S.inverse_time(0.2, 1.0, staircase=True, steps_per_epoch=3)
    # the CLI's --schedule inverse_time / power follow the same convention
    from jaxdl import recipes
    for name, decay, expected in (("inverse_time", 1.0, [0.1, 0.2 / 3, 0.05, 0.04]),
                                  ("power", 0.5, [0.1, 0.05, 0.025, 0.0125])):
        config = recipes.TrainConfig(schedule=name, lr=0.2, decay=decay)
        lr = recipes.schedule(config, steps_per_epoch=steps)
        np.testing.assert_allclose(jax.vmap(lr)(first_updates), expected, rtol=1e-6, err_msg=name)


def test_schedules_match_optax_counterparts():
    counts = jnp.arange(0, 400, 7, dtype=jnp.int32)
    pairs = [
        (S.step_decay(0.1, 0.5, 30, start=40), optax.exponential_decay(0.1, 30, 0.5, 40, True)),
        (S.step_decay(0.1, 0.5, 30, start=40, staircase=False),
         optax.exponential_decay(0.1, 30, 0.5, 40, False)),
        (S.exponential(0.1, rate=0.9, every=25), optax.exponential_decay(0.1, 25, 0.9)),
        (S.piecewise_constant([50, 200], [0.1, 0.05, 0.005]),
         optax.piecewise_constant_schedule(0.1, {50: 0.5, 200: 0.1})),
        (S.constant(0.3), optax.constant_schedule(0.3)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(jax.jit(jax.vmap(ours))(counts),
                                   jax.jit(jax.vmap(theirs))(counts), rtol=1e-6)


def test_schedule_parameters_may_be_traced():
    f = jax.jit(lambda lr0, k, c: S.inverse_time(lr0, k)(c))
    assert float(f(0.5, 1.0, 3)) == pytest.approx(0.125)
    g = jax.jit(lambda v: S.piecewise_constant([2], v)(3))
    assert float(g(jnp.array([1.0, 0.25]))) == pytest.approx(0.25)


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("make,match", [
    (lambda: optim.sgd(-0.1), r"sgd: lr must be in \[0, inf\)"),
    (lambda: optim.momentum(0.1, mu=1.0), r"momentum: mu must be in \[0, 1\)"),
    (lambda: optim.momentum(-1.0), r"momentum: lr"),
    (lambda: optim.momentum(0.1, form="heavy"), r"momentum: form must be one of"),
    (lambda: optim.momentum(0.1, bias_correction=True), r"momentum: bias_correction"),
    (lambda: optim.nesterov(0.1, mu=-0.1), r"nesterov: mu must be in \[0, 1\)"),
    (lambda: optim.adagrad(0.1, eps=-1e-3), r"adagrad: eps must be in \[0, inf\)"),
    (lambda: optim.adagrad(0.1, initial_accumulator=-1.0), r"adagrad: initial_accumulator"),
    (lambda: optim.rmsprop(0.1, decay=1.0), r"rmsprop: decay must be in \[0, 1\)"),
    (lambda: optim.rmsprop(float("nan")), r"rmsprop: lr"),
    (lambda: optim.adam(0.1, b1=1.0), r"adam: b1 must be in \[0, 1\)"),
    (lambda: optim.adam(0.1, b2=-0.5), r"adam: b2 must be in \[0, 1\)"),
    (lambda: optim.adam(np.array(-1e-3)), r"adam: lr must be in"),
    (lambda: optim.clip_by_global_norm(0.0),
     r"clip_by_global_norm: max_norm must be in \(0, inf\)"),
    (lambda: optim.weight_decay(-0.1), r"weight_decay: rate must be in \[0, inf\)"),
    (lambda: S.constant(-1.0), r"constant: value"),
    (lambda: S.step_decay(0.1, 0.0, 10), r"step_decay: factor must be in \(0, 1\]"),
    (lambda: S.step_decay(0.1, 0.5, 0), r"step_decay: every must be in \(0, inf\)"),
    (lambda: S.exponential(0.1), r"exponential: give exactly one of k"),
    (lambda: S.exponential(0.1, 0.1, rate=0.9), r"exponential: give exactly one of k"),
    (lambda: S.exponential(0.1, rate=1.5), r"exponential: rate must be in \(0, 1\]"),
    (lambda: S.exponential(-0.1, k=1.0), r"exponential: lr0"),
    (lambda: S.inverse_time(0.1, -1.0), r"inverse_time: k must be in"),
    (lambda: S.per_epoch_power(0.1, base=0.0), r"per_epoch_power: base"),
    (lambda: S.per_epoch_power(0.1, steps_per_epoch=0), r"per_epoch_power: steps_per_epoch"),
    (lambda: S.inverse_sqrt(0.1, k=-2.0), r"inverse_sqrt: k"),
    (lambda: S.piecewise_constant([10, 5], [1.0, 0.5, 0.1]),
     r"boundaries must be strictly increasing"),
    (lambda: S.piecewise_constant([10], [1.0]), r"values must have len\(boundaries\) \+ 1"),
    (lambda: S.piecewise_constant([10], [1.0, -0.5]), r"piecewise_constant: values must be in"),
])
def test_invalid_hyperparameters_raise_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


NEG_SCHEDULE = lambda c: -0.1 * jnp.ones(())                  # noqa: E731
NEG_LATER = lambda c: 0.1 - 1e-3 * jnp.asarray(c, jnp.float32)   # noqa: E731  < 0 from step 101
LR_TAKERS = {"sgd": optim.sgd, "momentum": optim.momentum, "nesterov": optim.nesterov,
             "adagrad": optim.adagrad, "rmsprop": optim.rmsprop, "adam": optim.adam}


@pytest.mark.parametrize("name", sorted(LR_TAKERS))
@pytest.mark.parametrize("lr, match", [
    (float("inf"), r"lr must be a finite number in \[0, inf\), got inf$"),
    (-float("inf"), r"lr must be a finite number in \[0, inf\), got -inf$"),
    (float("nan"), r"lr must be in \[0, inf\), got nan$"),
    (np.float32(np.inf), r"lr must be a finite number in \[0, inf\), got inf$"),
    (jnp.array(jnp.inf), r"lr must be a finite number in \[0, inf\)"),
    (NEG_SCHEDULE, r"lr \(a schedule\) at step 0 must be in \[0, inf\), got -0.1"),
    (NEG_LATER, r"lr \(a schedule\) at step 1000 must be in \[0, inf\), got -0.9"),
    (lambda c: jnp.inf * jnp.ones(()),
     r"lr \(a schedule\) at step 0 must be a finite number in \[0, inf\), got inf"),
    (lambda c: jnp.where(c >= 10, jnp.nan, 0.1),
     r"lr \(a schedule\) at step 10 must be in \[0, inf\), got nan"),
    (lambda c: 1.0 / (c - 1.0),
     r"lr \(a schedule\) at step 0 must be in \[0, inf\), got -1.0"),
], ids=["inf", "-inf", "nan", "np.float32-inf", "array-inf", "negative-schedule",
        "negative-later", "inf-schedule", "nan-at-step-10", "pole-schedule"])
def test_non_finite_or_negative_learning_rates_are_rejected(name, lr, match):
    with pytest.raises(ValueError, match=f"^{name}: " + match):
        LR_TAKERS[name](lr)


def test_schedules_reject_infinite_parameters():
    for make, match in [
        (lambda: S.constant(float("inf")), r"constant: value must be a finite number in \[0"),
        (lambda: S.step_decay(np.inf, 0.5, 10), r"step_decay: lr0 must be a finite number"),
        (lambda: S.step_decay(0.1, 0.5, np.inf), r"step_decay: every must be a finite number"),
        (lambda: S.step_decay(0.1, 0.5, 10, start=np.inf), r"step_decay: start must be a fin"),
        (lambda: S.exponential(0.1, k=np.inf), r"exponential: k must be a finite number"),
        (lambda: S.exponential(np.nan, rate=0.5), r"exponential: lr0 must be in \[0, inf\)"),
        (lambda: S.inverse_time(0.1, np.inf), r"inverse_time: k must be a finite number"),
        (lambda: S.inverse_time(0.1, 1.0, every=np.inf), r"inverse_time: every must be a fin"),
        (lambda: S.per_epoch_power(np.inf), r"per_epoch_power: lr0 must be a finite number"),
        (lambda: S.inverse_sqrt(0.1, k=np.inf), r"inverse_sqrt: k must be a finite number"),
        (lambda: S.piecewise_constant([5], [0.1, np.inf]),
         r"piecewise_constant: values must be a finite number in \[0, inf\), got \[inf\]"),
    ]:
        with pytest.raises(ValueError, match=match):
            make()


def test_learning_rate_checks_let_valid_and_traced_values_through():
    # valid schedules, including ones that only work on arrays, are accepted
    for lr in (S.exponential(0.1, k=0.01), S.piecewise_constant([5], [0.1, 0.01]),
               lambda c: 0.1 * jnp.ones(()), lambda c: jnp.maximum(0.1 - 1e-4 * c, 0.0)):
        for make in LR_TAKERS.values():
            make(lr)
    # a schedule that raises when probed is not judged here: the optimizer's calls raise
    by_dict = lambda c: {0: 0.1}[c]  # noqa: E731  (jax arrays are unhashable)
    opt = optim.sgd(by_dict)
    with pytest.raises(TypeError, match="unhashable"):
        opt.init({"w": jnp.ones(2)})
    # traced learning rates and schedule parameters pass through unchecked, in jit and vmap
    params = {"w": jnp.ones(2)}

    def first_step(lr):
        opt = optim.adam(S.exponential(lr, k=0.1))
        return opt.update({"w": jnp.ones(2)}, opt.init(params), params)[0]["w"]

    steps = jax.jit(jax.vmap(first_step))(jnp.array([0.1, 0.2, jnp.inf]))
    np.testing.assert_allclose(steps[:2], [[-0.1, -0.1], [-0.2, -0.2]], rtol=1e-5)
    assert np.all(np.isinf(steps[2]))                    # nothing checked a traced inf
    sweep = jax.jit(jax.vmap(lambda lr: optim.sgd(lr).update(
        {"w": jnp.ones(2)}, optim.sgd(lr).init(params))[0]["w"]))
    np.testing.assert_allclose(sweep(jnp.array([0.1, 0.5])), [[-0.1, -0.1], [-0.5, -0.5]])


def test_non_integer_structural_arguments_raise_type_error():
    with pytest.raises(TypeError, match="inverse_sqrt: steps_per_epoch must be an integer"):
        S.inverse_sqrt(0.1, steps_per_epoch=2.5)
    with pytest.raises(TypeError, match=r"piecewise_constant: boundaries\[0\] must be an integer"):
        S.piecewise_constant([1.5], [1.0, 0.5])
