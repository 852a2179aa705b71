"""Losses against hand-computed values and against optax as an independent implementation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import losses, nn

LOGITS = jax.random.normal(jax.random.key(0), (8, 5)) * 3
LABELS = jnp.array([0, 1, 2, 3, 4, 0, 1, 2])
ONE_HOT = jax.nn.one_hot(LABELS, 5)


def test_softmax_cross_entropy_matches_optax_for_integer_and_one_hot_labels():
    expected = optax.softmax_cross_entropy_with_integer_labels(LOGITS, LABELS)
    np.testing.assert_allclose(losses.softmax_cross_entropy(LOGITS, LABELS, reduction="none"),
                               expected, rtol=1e-6)
    np.testing.assert_allclose(losses.softmax_cross_entropy(LOGITS, ONE_HOT), expected.mean(),
                               rtol=1e-6)
    np.testing.assert_allclose(losses.softmax_cross_entropy(LOGITS, LABELS, reduction="sum"),
                               expected.sum(), rtol=1e-6)


def test_cross_entropy_textbook_value():
    p_true = jnp.array([1.0, 0.0, 0.0])
    q = jnp.array([0.88, 0.08, 0.04])
    assert float(losses.cross_entropy(p_true, q)) == pytest.approx(-math.log(0.88), rel=1e-6)
    assert float(losses.nll(jnp.log(q)[None], jnp.array([0]))) == pytest.approx(-math.log(0.88),
                                                                              rel=1e-6)


def test_entropy_in_bits_and_nats():
    p = jnp.array([0.25, 0.25, 0.5])
    assert float(losses.entropy(p, base=2)) == pytest.approx(1.5, rel=1e-6)
    assert float(losses.entropy(p)) == pytest.approx(1.5 * math.log(2), rel=1e-6)
    assert float(losses.entropy(jnp.array([1.0, 0.0]))) == 0.0  # 0 log 0 = 0


def test_kl_is_cross_entropy_minus_entropy():
    p = jax.nn.softmax(LOGITS)
    q = jax.nn.softmax(LOGITS[::-1])
    kl = losses.kl_divergence(p, q, reduction="none")
    np.testing.assert_allclose(kl, losses.cross_entropy(p, q, reduction="none") -
                               losses.entropy(p, reduction="none"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(kl, optax.kl_divergence(jnp.log(q), p), rtol=1e-5, atol=1e-6)
    assert float(losses.kl_divergence(p, p)) == pytest.approx(0.0, abs=1e-6)


def test_multiclass_hinge_textbook_value():
    scores = jnp.array([[8.0, 14.0, 9.5, 10.0]])
    assert float(losses.multiclass_hinge(scores, jnp.array([3]))) == pytest.approx(5.5)
    expected = np.maximum(0, np.asarray(LOGITS) - np.asarray(LOGITS)[np.arange(8), LABELS][:, None]
                          + 1.0)
    expected[np.arange(8), LABELS] = 0
    np.testing.assert_allclose(losses.multiclass_hinge(LOGITS, ONE_HOT, reduction="none"),
                               expected.sum(1), rtol=1e-5)


def test_sigmoid_cross_entropy_matches_optax_and_the_formula():
    logits = jnp.array([[-3.0], [0.0], [2.0], [40.0]])
    labels = jnp.array([0, 1, 1, 0])
    expected = optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(jnp.float32))
    np.testing.assert_allclose(losses.sigmoid_cross_entropy(logits, labels, reduction="none"),
                               expected, rtol=1e-6)
    s = 1 / (1 + np.exp(-np.array([-3.0, 0.0, 2.0])))
    by_hand = -np.array([np.log(1 - s[0]), np.log(s[1]), np.log(s[2])])
    np.testing.assert_allclose(losses.logistic_loss(logits[:3], labels[:3], reduction="none"),
                               by_hand, rtol=1e-6)


def test_mse_matches_numpy_and_one_hot_encodes_integer_targets():
    pred = np.asarray(LOGITS)
    target = np.asarray(LOGITS[::-1])
    assert float(losses.mse(LOGITS, LOGITS[::-1])) == pytest.approx(((pred - target) ** 2).mean(),
                                                                      rel=1e-6)
    np.testing.assert_allclose(losses.mse(LOGITS, LABELS), losses.mse(LOGITS, ONE_HOT))


def test_mae_and_huber_textbook_values():
    pred = jnp.array([[0.5, 3.0], [-2.0, 0.0]])
    target = jnp.array([[0.0, 0.0], [0.0, 0.1]])  # residuals 0.5, 3; -2, -0.1
    np.testing.assert_allclose(losses.mae(pred, target, reduction="none"),
                               [(0.5 + 3.0) / 2, (2.0 + 0.1) / 2], rtol=1e-6)
    # delta 1: 0.5 r^2 inside, |r| - 0.5 outside: (0.125 + 2.5) / 2, (1.5 + 0.005) / 2
    np.testing.assert_allclose(losses.huber(pred, target, reduction="none"),
                               [1.3125, 0.7525], rtol=1e-6)
    # delta 2.5: 3 is outside (2.5 * (3 - 1.25) = 4.375), -2 inside (2)
    assert float(losses.huber(pred, target, delta=2.5, reduction="sum")) == pytest.approx(
        (0.125 + 4.375) / 2 + (2.0 + 0.005) / 2, rel=1e-6)
    # the gradient is bounded: delta * sign(r) beyond delta (robust to outliers)
    grad = jax.grad(lambda p: losses.huber(p, target, reduction="sum"))(pred)
    np.testing.assert_allclose(grad, [[0.25, 0.5], [-0.5, -0.05]], rtol=1e-6)
    with pytest.raises(ValueError, match=r"huber: delta must be in \(0, inf\)"):
        losses.huber(pred, target, delta=0.0)
    with pytest.raises(ValueError, match=r"mae: targets must have the predictions' shape"):
        losses.mae(pred, jnp.ones((2, 3)))
    assert losses.target_kind(losses.mae) == losses.target_kind(losses.huber) == "values"


@pytest.mark.parity
@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_huber_matches_optax_and_mae_numpy(delta):
    target = LOGITS[::-1]
    np.testing.assert_allclose(
        losses.huber(LOGITS, target, delta=delta, reduction="none"),
        optax.huber_loss(LOGITS, target, delta=delta).mean(axis=1), rtol=1e-6)
    residual = np.asarray(LOGITS) - np.asarray(target)
    assert float(losses.mae(LOGITS, target)) == pytest.approx(np.abs(residual).mean(), rel=1e-6)
    np.testing.assert_allclose(losses.mae(LOGITS, LABELS), losses.mae(LOGITS, ONE_HOT))


@pytest.mark.parametrize("loss", [losses.softmax_cross_entropy, losses.multiclass_hinge,
                                  losses.mse, losses.mae, losses.huber])
def test_huge_logits_give_finite_values_and_gradients(loss):
    logits = jnp.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]])
    labels = jnp.array([1, 1])
    value, grad = jax.value_and_grad(loss)(logits, labels)
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_large_logit_values_are_exact():
    logits = jnp.array([[1e4, 0.0], [1e4, 0.0]])
    ce = losses.softmax_cross_entropy(logits, jnp.array([0, 1]), reduction="none")
    np.testing.assert_allclose(ce, [0.0, 1e4])
    bce = losses.sigmoid_cross_entropy(jnp.array([1e4, -1e4, 1e4]), jnp.array([1.0, 0.0, 0.0]),
                                       reduction="none")
    np.testing.assert_allclose(bce, [0.0, 0.0, 1e4])


def test_softmax_then_nll_equals_softmax_cross_entropy():
    log_p, _ = nn.log_softmax.apply({}, {}, LOGITS)
    np.testing.assert_allclose(losses.nll(log_p, LABELS),
                               losses.softmax_cross_entropy(LOGITS, LABELS), rtol=1e-6)


def test_label_shape_errors_name_the_loss_and_shapes():
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: integer labels must have "
                                         r"shape \(8,\).*got \(8, 1\)"):
        losses.softmax_cross_entropy(LOGITS, LABELS[:, None])
    with pytest.raises(ValueError, match=r"mse: targets must have the predictions' shape"):
        losses.mse(LOGITS, jnp.ones((8, 4)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.softmax_cross_entropy(LOGITS, LABELS, reduction="avg")
