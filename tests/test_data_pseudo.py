"""data.pseudo_label: which pool examples a classifier labels with high certainty."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data, nn


def _fixed_linear(w, b):
    layer = nn.dense(w.shape[1])
    params = {"w": jnp.asarray(w, jnp.float32), "b": jnp.asarray(b, jnp.float32)}
    return layer, params


def test_keeps_exactly_the_examples_at_or_above_the_threshold_with_their_argmax():
    model, params = _fixed_linear(np.eye(3), np.zeros(3))
    x = np.array([[5.0, 0, 0], [0, 0, 0], [0, 4.0, 3.9], [0, 0, 9.0]], np.float32)
    probs = np.exp(x) / np.exp(x).sum(1, keepdims=True)  # softmax by hand
    threshold = 0.95
    kept = data.pseudo_label(model, params, {}, x, threshold=threshold, batch_size=3)
    expected = np.flatnonzero(probs.max(1) >= threshold)
    np.testing.assert_array_equal(kept.index, expected)  # rows 0 and 3
    np.testing.assert_array_equal(kept.labels, probs.argmax(1)[expected])
    np.testing.assert_allclose(kept.confidence, probs.max(1)[expected], rtol=1e-6)
    assert kept.fraction == 0.5 and list(expected) == [0, 3]


def test_one_logit_models_use_the_sigmoid_for_both_classes():
    model, params = _fixed_linear(np.ones((1, 1)), np.zeros(1))
    x = np.array([[4.0], [-4.0], [0.1]], np.float32)
    kept = data.pseudo_label(model, params, {}, x, threshold=0.9)
    assert list(kept.index) == [0, 1] and list(kept.labels) == [1, 0]
    np.testing.assert_allclose(kept.confidence, 1 / (1 + np.exp(-4.0)), rtol=1e-6)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5, float("nan")])
def test_a_threshold_outside_0_1_is_named(threshold):
    model, params = _fixed_linear(np.eye(2), np.zeros(2))
    with pytest.raises(ValueError, match="pseudo_label: threshold"):
        data.pseudo_label(model, params, {}, np.zeros((2, 2), np.float32), threshold=threshold)


def test_an_empty_pool_is_refused():
    model, params = _fixed_linear(np.eye(2), np.zeros(2))
    with pytest.raises(ValueError, match="non-empty"):
        data.pseudo_label(model, params, {}, np.zeros((0, 2), np.float32))
