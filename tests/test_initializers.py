"""Initializers: fans, shapes, and variances checked statistically against the formulas."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import initializers as init

KEY = jax.random.key(0)
SHAPE = (400, 600)  # fan_in 400, fan_out 600: 240k draws, std of a variance estimate ~0.3%


def draw(initializer, shape=SHAPE):
    return np.asarray(jax.jit(initializer, static_argnums=1)(KEY, shape))


def test_fans():
    assert init.fans((3, 4)) == (3, 4)
    assert init.fans((3, 3, 16, 32)) == (144, 288)  # conv kernel: receptive field 9
    assert init.fans((7,)) == (7, 7)
    assert init.fans((5, 2, 3)) == (10, 15)  # 1-D conv: width 5, 2 -> 3 channels
    assert init.fans((2, 3, 3, 4, 6)) == (72, 108)  # 3-D conv: 18 taps, 4 -> 6 channels


CONV = (3, 3, 32, 64)  # 3x3 conv kernel, 32 -> 64 channels: fan_in 288, fan_out 576


@pytest.mark.parametrize("name, expected_var", [
    ("xavier_normal", 2 / (288 + 576)),
    ("xavier_uniform", 2 / (288 + 576)),
    ("he_normal", 2 / 288),
    ("he_uniform", 2 / 288),
    ("lecun_normal", 1 / 288),
])
def test_conv_kernel_variances_use_the_receptive_field(name, expected_var):
    w = draw(init.get(name)(), CONV)
    assert w.shape == CONV
    assert w.var() == pytest.approx(expected_var, rel=0.03)


@pytest.mark.parametrize("name, expected_var", [
    ("xavier_normal", 2 / (400 + 600)),
    ("xavier_uniform", 2 / (400 + 600)),
    ("lecun_normal", 1 / 400),
    ("lecun_uniform", 1 / 400),
    ("he_normal", 2 / 400),
    ("he_uniform", 2 / 400),
])
def test_variance_scaling_family(name, expected_var):
    w = draw(init.get(name)())
    assert w.shape == SHAPE and w.dtype == np.float32
    assert abs(w.mean()) < 0.01 * math.sqrt(expected_var)
    assert w.var() == pytest.approx(expected_var, rel=0.02)


def test_uniform_bounds_are_the_textbook_ones():
    xavier_bound = math.sqrt(6 / (400 + 600))
    w = draw(init.xavier_uniform())
    assert w.max() <= xavier_bound and w.min() >= -xavier_bound
    assert w.max() > 0.99 * xavier_bound
    he_bound = math.sqrt(6 / 400)
    w = draw(init.he_uniform())
    assert w.max() <= he_bound and w.max() > 0.99 * he_bound


def test_normal_truncated_uniform_constant_zeros():
    np.testing.assert_allclose(draw(init.normal(0.01)).std(), 0.01, rtol=0.01)
    t = draw(init.truncated_normal(0.1))
    assert t.std() == pytest.approx(0.1, rel=0.01)  # rescaled: std is the one asked for
    assert np.abs(t).max() <= 2 * 0.1 / 0.87962566103423978 + 1e-6
    u = draw(init.uniform(-0.2, 0.6))
    assert u.min() >= -0.2 and u.max() <= 0.6
    assert u.mean() == pytest.approx(0.2, abs=0.002)
    assert u.var() == pytest.approx(0.8 ** 2 / 12, rel=0.02)
    np.testing.assert_array_equal(init.constant(0.3)(KEY, (2, 2)), np.full((2, 2), 0.3, np.float32))
    np.testing.assert_array_equal(init.zeros(KEY, (3,)), np.zeros(3))
    np.testing.assert_array_equal(init.ones(KEY, (3,)), np.ones(3))


def test_truncated_normal_tf1_semantics_is_not_rescaled():
    t = draw(init.truncated_normal(0.1, rescale=False))
    assert t.std() == pytest.approx(0.87962566 * 0.1, rel=0.01)  # TF1: std ~ 0.88 s
    assert np.abs(t).max() <= 2 * 0.1 * (1 + 1e-6)  # redrawn beyond 2 s
    assert np.abs(t).max() > 0.99 * 2 * 0.1
    np.testing.assert_allclose(t, 0.87962566103423978 * draw(init.truncated_normal(0.1)),
                               rtol=1e-6)  # the same draw, only the factor differs
    with pytest.raises(TypeError, match="rescale must be True or False"):
        init.truncated_normal(0.1, rescale="no")


def test_course_xavier_is_lecun_normal_not_glorot():
    # the lecture: W = randn(fan_in, fan_out) / sqrt(fan_in); fans 400, 600
    assert draw(init.lecun_normal()).var() == pytest.approx(1 / 400, rel=0.02)
    assert draw(init.xavier_normal()).var() == pytest.approx(2 / 1000, rel=0.02)


def test_scale_multiplies_the_draw():
    base = draw(init.he_normal())
    np.testing.assert_allclose(draw(init.he_normal(scale=0.5)), 0.5 * base, rtol=1e-6)


def test_scale_can_be_traced_for_sweeps():
    scales = jnp.array([0.1, 1.0, 3.0])
    stds = jax.jit(jax.vmap(lambda s: jnp.std(init.xavier_normal(scale=s)(KEY, SHAPE))))(scales)
    np.testing.assert_allclose(stds, np.asarray(scales) * math.sqrt(2 / 1000), rtol=0.02)


NO_F16C = "--xla_cpu_max_isa=SSE4_2" in os.environ.get("XLA_FLAGS", "")


@pytest.mark.parametrize("dtype", [
    jnp.bfloat16,
    pytest.param(jnp.float16, marks=pytest.mark.skipif(
        NO_F16C, reason="XLA:CPU cannot compile float16 conversions without F16C (LLVM: "
                        "symbols __extendhfsf2, __truncsfhf2 not found)")),
])
def test_same_key_same_draw_and_dtype(dtype):
    a = init.he_normal()(KEY, (5, 5), dtype)
    b = init.he_normal()(KEY, (5, 5), dtype)
    assert a.dtype == dtype
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, init.he_normal()(jax.random.key(1), (5, 5), dtype))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"normal: std must be in \[0, inf\)"):
        init.normal(-1.0)
    with pytest.raises(ValueError, match="uniform: need low < high"):
        init.uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        init.variance_scaling(1.0, "fan_sum", "normal")
    with pytest.raises(ValueError, match="name must be one of"):
        init.get("kaiming")
