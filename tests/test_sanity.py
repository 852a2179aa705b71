"""The course's sanity checks: above chance, one-signed gradients, off-centre
pre-activations, the initial loss ln C; each with a case that passes and one that fails."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import diagnostics, initializers, losses, nn, optim, train

KEY = jax.random.key(0)


# ------------------------------------------------------------------------ above chance


def test_above_chance_threshold_by_hand():
    # C = 10, n = 1000: 1/10 + 3 sqrt(0.1 * 0.9 / 1000) = 0.1 + 0.028460 = 0.128460
    low = diagnostics.above_chance(0.12, 10, 1000)
    assert not low.ok and low.chance == 0.1
    assert low.threshold == pytest.approx(0.1 + 3 * math.sqrt(0.09 / 1000), rel=1e-12)
    assert low.threshold == pytest.approx(0.128460, abs=1e-6)
    assert "not above chance 1/10" in low.message
    assert diagnostics.above_chance(0.15, 10, 1000).ok
    assert diagnostics.above_chance(0.12, 10, 1000, z=1.0).ok      # 0.12 > 0.109487
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        diagnostics.above_chance(0.5, 1, 10)
    with pytest.raises(ValueError, match=r"accuracy must be in \[0, 1\]"):
        diagnostics.above_chance(1.5, 2, 10)


def test_beats_chance_after_a_few_steps_and_not_without_learning(blob_splits):
    model = nn.dense(3, w_init=initializers.zeros)     # zero logits: class 0 for everyone
    learns = diagnostics.beats_chance(model, optim.sgd(0.5), losses.softmax_cross_entropy,
                                      blob_splits, key=KEY, epochs=2)
    assert learns.ok and learns.accuracy > 0.9, learns.message
    frozen = diagnostics.beats_chance(model, optim.sgd(0.0), losses.softmax_cross_entropy,
                                      blob_splits, key=KEY, epochs=2)
    share_of_class_0 = float(np.mean(blob_splits.dev.y == 0))
    assert not frozen.ok and frozen.accuracy == pytest.approx(share_of_class_0)
    assert frozen.threshold == pytest.approx(1 / 3 + 3 * math.sqrt(2 / 9 / 40))


# ---------------------------------------------------------------------- gradient signs


def test_gradient_signs_by_hand():
    grads = ({"b": jnp.array([5.0, 5.0]), "w": jnp.array([[1.0, -2.0], [3.0, 4.0]])},
             {"b": jnp.array([-1.0]), "w": jnp.array([[1.0], [2.0], [0.0]])})
    check = diagnostics.gradient_signs(grads)
    assert check.positive_fraction == {"0/w": 0.75, "1/w": 1.0}   # biases are not judged
    assert check.same_sign_units == {"0/w": 0.5, "1/w": 1.0}
    assert check.flagged == ("1/w",) and not check.ok and "1/w" in check.message
    assert diagnostics.gradient_signs(grads[:1]).ok
    assert diagnostics.gradient_signs(grads, min_entries=4).ok    # 1/w has 2 nonzero entries


def test_all_positive_inputs_give_one_signed_gradients():
    model = nn.serial(nn.dense(1))
    params, state, _ = model.init(KEY, (5,))
    x = jax.random.uniform(jax.random.key(1), (32, 5))            # pixels in [0, 1]
    y = jnp.full((32, 1), 10.0)                                   # every output too low

    def grads(inputs):
        def loss(p):
            return losses.mse(model.apply(p, state, inputs)[0], y)
        return jax.jit(jax.grad(loss))(params)
    positive = diagnostics.gradient_signs(grads(x), model)
    assert positive.flagged == ("0:dense(1)/w",) and positive.positive_fraction[
        "0:dense(1)/w"] == 0.0                                    # all negative
    centred = diagnostics.gradient_signs(grads(x - x.mean(axis=0)), model)
    assert centred.ok, centred.message


def test_a_softmax_unit_on_positive_inputs_has_one_signed_incoming_gradients():
    model = nn.serial(nn.dense(4))
    params, state, _ = model.init(KEY, (6,))
    x = jax.random.uniform(jax.random.key(2), (1, 6)) + 0.1       # one example, x > 0

    def grads(inputs):
        return jax.jit(jax.grad(lambda p: losses.softmax_cross_entropy(
            model.apply(p, state, inputs)[0], jnp.array([2]))))(params)
    # dW[:, j] = x (p_j - y_j): each unit's column has one sign, the layer has both
    check = diagnostics.gradient_signs(grads(x), model)
    assert check.same_sign_units["0:dense(4)/w"] == 1.0 and check.ok
    mixed = diagnostics.gradient_signs(grads(x - 0.5), model)
    assert mixed.same_sign_units["0:dense(4)/w"] < 1.0


# -------------------------------------------------------------- centred pre-activations


def test_centering_by_hand():
    pattern = np.array([-1.0, 1.0, -1.0, 1.0])                    # mean 0, std 1
    z = np.stack([0 + 1 * pattern, 1 + 1 * pattern, 3 + 2 * pattern], axis=1)
    check = diagnostics.centering({"layer": z, "constant": np.zeros((4, 2))})
    # ratios |m| / s: 0, 1, 1.5 -> median 1 > 0.5; a constant 0 unit counts as centred
    assert check.offsets == {"layer": 1.0, "constant": 0.0}
    assert check.flagged == ("layer",) and not check.ok
    assert diagnostics.centering({"layer": z}, threshold=1.2).ok
    dead = diagnostics.centering({"dead": np.full((4, 3), 2.0)})
    assert dead.offsets["dead"] == np.inf and not dead.ok


def test_preactivation_centering_of_a_model_on_raw_and_centred_inputs():
    model = nn.serial(nn.dense(16), nn.relu, nn.dense(8), nn.tanh, nn.dense(3))
    params, state, _ = model.init(KEY, (10,))
    x = jax.random.uniform(jax.random.key(3), (256, 10)) + 3.0    # far from 0
    raw = diagnostics.preactivation_centering(model, params, state, x)
    assert set(raw.offsets) == {"1:relu", "3:tanh"}
    assert "1:relu" in raw.flagged and raw.offsets["1:relu"] > 2.0, raw.message
    centred = diagnostics.preactivation_centering(model, params, state, x - x.mean(axis=0))
    assert centred.offsets["1:relu"] < 1e-5                       # zero biases: mean 0
    with pytest.raises(ValueError, match="serial model"):
        diagnostics.preactivation_centering(nn.dense(3), params, state, x)


# ------------------------------------------------------------------------ initial loss


def test_initial_loss_of_small_and_large_initial_weights():
    x = jax.random.normal(jax.random.key(4), (200, 20))
    y = jax.random.randint(jax.random.key(5), (200,), 0, 10)
    for scale, ok in ((0.01, True), (10.0, False)):
        model = nn.dense(10, w_init=initializers.normal(std=scale))
        params, state, _ = model.init(KEY, (20,))
        loss = train.evaluate(model, params, state, (x, y))["loss"]
        check = diagnostics.sanity.initial_loss_check(loss, 10)
        assert check.ok == ok and check.expected == pytest.approx(math.log(10)), check.message
