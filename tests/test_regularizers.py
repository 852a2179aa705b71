"""Regularizers: values and gradients by hand; biases and batch-norm params untouched."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import nn, regularizers

PARAMS, _, _ = nn.serial(nn.dense(4), nn.batchnorm(), nn.dense(3)).init(jax.random.key(0), (5,))
PARAMS = jax.tree.map(lambda a: a + 0.5, PARAMS)  # nonzero biases/betas, to see they are skipped
W = [PARAMS[0]["w"], PARAMS[2]["w"]]


def test_l2_value_and_gradient_is_lam_w_on_weights_only():
    lam = 0.3
    reg = regularizers.l2(lam)
    assert float(reg(PARAMS)) == pytest.approx(lam / 2 * sum(float((w ** 2).sum()) for w in W),
                                               rel=1e-6)
    grad = jax.grad(reg)(PARAMS)
    np.testing.assert_allclose(grad[0]["w"], lam * PARAMS[0]["w"], rtol=1e-6)
    np.testing.assert_allclose(grad[2]["w"], lam * PARAMS[2]["w"], rtol=1e-6)
    for leaf in (grad[0]["b"], grad[1]["gamma"], grad[1]["beta"], grad[2]["b"]):
        np.testing.assert_array_equal(leaf, 0.0)


def test_l1_value_and_gradient_is_lam_sign_w():
    reg = regularizers.l1(0.1)
    assert float(reg(PARAMS)) == pytest.approx(0.1 * sum(float(jnp.abs(w).sum()) for w in W),
                                               rel=1e-6)
    np.testing.assert_allclose(jax.grad(reg)(PARAMS)[0]["w"], 0.1 * jnp.sign(PARAMS[0]["w"]))


def test_l1_gradient_at_zero_is_sign_zero():
    params = {"w": jnp.array([-0.5, 0.0, -0.0, 2.0]), "b": jnp.zeros(2)}
    grad = jax.grad(regularizers.l1(0.1))(params)
    np.testing.assert_allclose(grad["w"], [-0.1, 0.0, 0.0, 0.1], rtol=1e-6, atol=0)  # abs: 0.1 at 0
    np.testing.assert_array_equal(grad["b"], [0.0, 0.0])
    grad = jax.jit(jax.grad(regularizers.elastic_net(0.1, 1.0)))(params)
    np.testing.assert_allclose(grad["w"], [-0.6, 0.0, 0.0, 2.1], rtol=1e-6)


# W: sum of squares 1 + 4 + 9 + 0.25 = 14.25; a dense-layer bias that no form penalizes
COURSE = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "b": jnp.array([5.0, 5.0])}


def test_l2_maps_to_the_notes_lambda_over_2m():
    lam, m = 0.7, 50  # notes: J = (1/m) sum L + lambda / (2m) * sum ||W||^2
    assert float(regularizers.l2(lam / m)(COURSE)) == pytest.approx(0.7 / 100 * 14.25, rel=1e-6)
    grad = jax.grad(regularizers.l2(lam / m))(COURSE)  # notes: dw += lambda / m * w
    np.testing.assert_allclose(grad["w"], lam / m * np.asarray(COURSE["w"]), rtol=1e-6)


def test_l2_maps_to_the_lectures_lambda_sum_w_squared():
    lam = 0.01  # lecture: (1/T) sum l + lambda * sum ||W||_F^2, gradient 2 lambda W
    assert float(regularizers.l2(2 * lam)(COURSE)) == pytest.approx(0.01 * 14.25, rel=1e-6)
    grad = jax.grad(regularizers.l2(2 * lam))(COURSE)
    np.testing.assert_allclose(grad["w"], 2 * lam * np.asarray(COURSE["w"]), rtol=1e-6)


def test_l0_surrogate_counts_nonzero_weights_as_eps_shrinks():
    params = {"w": jnp.array([0.0, 0.0, 1.0, -2.0, 0.5])}
    assert float(regularizers.l0(1.0, eps=1e-8)(params)) == pytest.approx(3.0, rel=1e-6)
    value = float(regularizers.l0(2.0, eps=0.25)(params))
    assert value == pytest.approx(2.0 * (1 / 1.25 + 4 / 4.25 + 0.25 / 0.5), rel=1e-6)


def test_elastic_net_and_combine_add_up():
    total = regularizers.elastic_net(0.1, 0.2)(PARAMS)
    parts = regularizers.l1(0.1)(PARAMS) + regularizers.l2(0.2)(PARAMS)
    np.testing.assert_allclose(total, parts, rtol=1e-6)


def test_custom_mask_penalizes_everything():
    everything = regularizers.l2(1.0, mask=lambda p: jax.tree.map(lambda _: True, p))
    expected = 0.5 * sum(float((leaf ** 2).sum()) for leaf in jax.tree.leaves(PARAMS))
    assert float(everything(PARAMS)) == pytest.approx(expected, rel=1e-6)


def test_strength_can_be_vmapped_and_jitted():
    lams = jnp.array([0.0, 1e-3, 1.0])
    values = jax.jit(jax.vmap(lambda lam: regularizers.l2(lam)(PARAMS)))(lams)
    np.testing.assert_allclose(values, lams * float(regularizers.l2(1.0)(PARAMS)), rtol=1e-6)


def test_negative_strength_is_rejected():
    with pytest.raises(ValueError, match=r"l2: lam must be in \[0, inf\), got -0.1"):
        regularizers.l2(-0.1)
    with pytest.raises(ValueError, match=r"l0: eps must be in \(0, inf\)"):
        regularizers.l0(1.0, eps=0.0)


@pytest.mark.parametrize("make, match", [
    (lambda: regularizers.l1(float("inf")), r"l1: lam must be a finite number in \[0, inf\), got inf"),
    (lambda: regularizers.l2(float("inf")), r"l2: lam must be a finite number in \[0, inf\), got inf"),
    (lambda: regularizers.l2(-float("inf")), r"l2: lam must be a finite number in \[0, inf\), got -inf"),
    (lambda: regularizers.l1(float("nan")), r"l1: lam must be in \[0, inf\), got nan"),
    (lambda: regularizers.l1(-0.5), r"l1: lam must be in \[0, inf\), got -0.5"),
    (lambda: regularizers.l0(np.inf), r"l0: lam must be a finite number in"),
    (lambda: regularizers.l0(1.0, eps=np.inf), r"l0: eps must be a finite number in \(0, inf\)"),
    (lambda: regularizers.l0(float("nan")), r"l0: lam must be in \[0, inf\), got nan"),
    (lambda: regularizers.elastic_net(np.inf, 0.1),
     r"elastic_net: l1_lam must be a finite number in \[0, inf\), got inf"),
    (lambda: regularizers.elastic_net(0.1, -1.0), r"elastic_net: l2_lam must be in \[0, inf\)"),
    (lambda: regularizers.elastic_net(0.1, float("nan")), r"elastic_net: l2_lam must be in"),
    (lambda: regularizers.l2(jnp.array([1e-3, jnp.inf])), r"l2: lam must be a finite number in"),
])
def test_non_finite_or_negative_strengths_are_rejected_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_traced_strengths_are_not_checked():
    # a traced inf cannot be inspected at construction: the penalty is computed as given
    value = jax.jit(lambda lam: regularizers.l1(lam)(PARAMS))(jnp.float32(jnp.inf))
    assert np.isinf(float(value))
