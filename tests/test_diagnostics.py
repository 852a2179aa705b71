"""Diagnostics: gradient checking, monitors, the activation-statistics experiment, verdicts,
sanity checks, loss-curve reading, and the `jaxdl gradcheck` / `train --diagnostics` CLI."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import cli, diagnostics, initializers, losses, nn, optim, regularizers, train
from jaxdl.diagnostics import gradcheck
from jaxdl.nn.layer import Layer
from tests.conftest import blobs

KEY = jax.random.key(0)
X = jax.random.normal(jax.random.key(1), (6, 5))
Y = jnp.array([0, 1, 2, 0, 1, 2])


def init_away_from_zero(model, key=KEY):
    """Params with random (not zero) biases, so no ReLU/max sits exactly on its kink."""
    params, state, _ = model.init(key, (5,))
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.fold_in(key, 99), len(leaves))
    leaves = [leaf + 0.1 * jax.random.normal(k, leaf.shape) for leaf, k in zip(leaves, keys)]
    return jax.tree.unflatten(treedef, leaves), state


def min_distance_to_kinks(model, params, state, x):
    """The smallest |pre-activation| of a ReLU and the smallest gap between the two best
    maxout pieces: finite differences with eps=1e-7 cross no kink when this is >> 1e-7."""
    outputs = diagnostics.layer_outputs(model, params, state, x, train=True)
    inputs = (x,) + outputs[:-1]
    gaps = [np.inf]
    for layer, p, z in zip(model.children, params, inputs):
        if layer.name == "relu":
            gaps.append(float(jnp.min(jnp.abs(z))))
        if layer.name.startswith("maxout"):
            pieces = jnp.sort(jnp.einsum("nd,kdu->nku", z, p["w"]) + p["b"], axis=1)
            gaps.append(float(jnp.min(pieces[:, -1] - pieces[:, -2])))
    return min(gaps)


# ------------------------------------------------------------------- gradient checking


def test_verdict_bands_and_relative_error_formula():
    assert [diagnostics.verdict(r) for r in (0.0, 9.9e-8, 1e-7, 9.9e-6, 1e-5, 9.9e-4, 1e-3, 1.0)
            ] == ["correct", "correct", "inspect", "inspect", "suspicious", "suspicious",
                  "bug", "bug"]
    # inside each band: the course's < 1e-7 great, ~1e-5 inspect, >= 1e-3 bug; jaxdl's
    # "suspicious" between them
    assert [diagnostics.verdict(r) for r in (3e-9, 3e-6, 1e-4, 2e-2)
            ] == ["correct", "inspect", "suspicious", "bug"]
    sources = {name: "the course:" in text for name, text in gradcheck.MEANING.items()}
    assert sources == {"correct": True, "inspect": True, "suspicious": False, "bug": True}
    assert "jaxdl adds" in gradcheck.MEANING["suspicious"]
    # ||a - g|| / (||a|| + ||g||) = ||(0, 1)|| / (||(3, 4)|| + ||(3, 3)||)
    expected = 1.0 / (5.0 + math.sqrt(18.0))
    assert diagnostics.relative_error([3.0, 4.0], [3.0, 3.0]) == pytest.approx(expected)
    assert diagnostics.relative_error([0.0], [0.0]) == 0.0


@pytest.mark.parametrize("model", [
    nn.serial(nn.dense(8), nn.tanh, nn.dense(3)),
    nn.serial(nn.dense(8), nn.relu, nn.dense(6), nn.relu, nn.dense(3)),
    nn.serial(nn.dense(8), nn.batchnorm(), nn.relu, nn.dense(3)),
    nn.serial(nn.maxout(6, k=3), nn.dense(3)),
    nn.serial(nn.dense(8), nn.sigmoid, nn.dense(3)),
], ids=["tanh", "relu", "batchnorm", "maxout", "sigmoid"])
def test_real_models_have_correct_gradients(model):
    params, state = init_away_from_zero(model)
    assert min_distance_to_kinks(model, params, state, X) > 1e-4
    report = diagnostics.check_model_gradients(model, params, state, X, Y,
                                               regularizer=regularizers.l2(0.1))
    total = sum(leaf.size for leaf in jax.tree.leaves(params))
    assert report.verdict == "correct", str(report)
    assert report.max_relative_error < 1e-7 and report.checked == report.total == total
    assert report.worst[0].difference < 1e-8


def test_loss_includes_the_regularizer_and_is_computed_in_float64():
    model = nn.serial(nn.dense(4), nn.tanh, nn.dense(3))
    params, state, _ = model.init(KEY, (5,))
    report = diagnostics.check_model_gradients(model, params, state, X, Y,
                                               regularizer=regularizers.l2(0.5))
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        logits, _ = model.apply(p64, state, X.astype(jnp.float64), train=True)
        expected = losses.softmax_cross_entropy(logits, Y) + regularizers.l2(0.5)(p64)
        assert logits.dtype == jnp.float64
    assert report.loss == pytest.approx(float(expected), rel=1e-14)  # float32 would be 1e-7


def test_batchnorm_zero_gradient_bias_is_noise_not_a_bug():
    """A dense bias followed by batch norm has true gradient 0; its differences are noise."""
    model = nn.serial(nn.dense(8), nn.batchnorm(), nn.tanh, nn.dense(3))
    params, state = init_away_from_zero(model)
    report = diagnostics.check_model_gradients(model, params, state, X, Y)
    bias = next(leaf for leaf in report.leaves if leaf.name == "0:dense(8)/b")
    assert bias.analytic_norm < 1e-12 and not bias.above_noise
    assert report.verdict == "correct" and "(within noise)" in str(report)


def _buggy_matmul():
    @jax.custom_vjp
    def matmul(x, w):
        return x @ w

    def forward(x, w):
        return x @ w, (x, w)

    def backward(residuals, g):
        x, w = residuals
        return g @ w.T, 1.01 * (x.T @ g)  # the bug: dJ/dW is 1% too large

    matmul.defvjp(forward, backward)
    return matmul


def buggy_dense(units: int) -> Layer:
    matmul = _buggy_matmul()

    def init(key, input_shape):
        return {"w": initializers.lecun_normal()(key, (input_shape[0], units))}, {}, (units,)

    def apply(params, state, x, *, key=None, train=False):
        return matmul(x, params["w"]), state

    return Layer(init, apply, f"buggy_dense({units})")


def test_a_wrong_backward_pass_is_a_bug_and_the_report_points_at_its_leaf():
    model = nn.serial(nn.dense(8), nn.tanh, buggy_dense(6), nn.tanh, nn.dense(3))
    params, state = init_away_from_zero(model)
    report = diagnostics.check_model_gradients(model, params, state, X, Y)
    assert report.verdict == "bug", str(report)
    assert report.worst_leaf.name == "2:buggy_dense(6)/w"
    assert report.worst_leaf.relative_error == pytest.approx(0.01 / 2.01, rel=1e-3)
    assert report.worst[0].name == "2:buggy_dense(6)/w"
    others = [leaf for leaf in report.leaves if leaf.name != "2:buggy_dense(6)/w"]
    assert all(leaf.relative_error < 1e-7 for leaf in others if leaf.above_noise)
    assert "worst leaf 2:buggy_dense(6)/w" in str(report)


def test_a_wrong_regularizer_gradient_is_caught():
    def bad_l2(params):  # forward lam/2 w^2, backward 2 lam w: twice the true gradient
        @jax.custom_vjp
        def half_square(w):
            return 0.5 * jnp.sum(w ** 2)
        half_square.defvjp(lambda w: (half_square(w), w), lambda w, g: (2.0 * g * w,))
        return sum(half_square(p["w"]) for p in params if "w" in p)

    model = nn.serial(nn.dense(4), nn.tanh, nn.dense(3))
    params, state, _ = model.init(KEY, (5,))
    assert diagnostics.check_model_gradients(model, params, state, X, Y,
                                             regularizer=bad_l2).verdict == "bug"


def test_x64_is_enabled_only_inside_and_the_callers_setting_is_restored():
    model = nn.serial(nn.dense(3))
    params, state, _ = model.init(KEY, (5,))
    assert not jax.config.jax_enable_x64
    diagnostics.check_model_gradients(model, params, state, X, Y)
    assert not jax.config.jax_enable_x64 and jnp.zeros(1).dtype == jnp.float32
    assert params[0]["w"].dtype == jnp.float32  # the caller's params are not cast
    with pytest.raises(ZeroDivisionError):
        diagnostics.check_gradients(lambda p: 1 / 0, params)
    assert not jax.config.jax_enable_x64
    with jax.enable_x64(True):
        diagnostics.check_model_gradients(model, params, state, X, Y)
        assert jax.config.jax_enable_x64


def test_a_random_subset_of_coordinates_is_keyed():
    model = nn.serial(nn.dense(8), nn.tanh, nn.dense(3))
    params, state, _ = model.init(KEY, (5,))
    check = lambda k: diagnostics.check_model_gradients(  # noqa: E731
        model, params, state, X, Y, n=10, subset_key=jax.random.key(k))
    first, again, other = check(1), check(1), check(2)
    assert first.checked == 10 and first.total == 5 * 8 + 8 + 8 * 3 + 3
    assert sum(leaf.checked for leaf in first.leaves) == 10
    assert first.worst == again.worst and first.worst != other.worst
    assert first.verdict == "correct"
    with pytest.raises(ValueError, match="needs key="):
        diagnostics.check_gradients(lambda p, x, y: jnp.sum(p[0]["w"]), params, X, Y, n=3)


def test_dropout_is_refused_without_a_fixed_key_and_checked_with_one():
    model = nn.serial(nn.dense(8), nn.tanh, nn.dropout(0.5), nn.dense(3))
    params, state, _ = model.init(KEY, (5,))
    with pytest.raises(ValueError, match="random loss cannot be checked. Pass a fixed key="):
        diagnostics.check_model_gradients(model, params, state, X, Y)
    report = diagnostics.check_model_gradients(model, params, state, X, Y, key=KEY)
    assert report.verdict == "correct"
    # the fixed mask really drops units: the loss differs from the no-dropout loss
    no_dropout = diagnostics.check_model_gradients(model, params, state, X, Y, train=False)
    assert abs(report.loss - no_dropout.loss) > 1e-3


# ------------------------------------------------------------------------- monitors


def test_layer_outputs_are_the_models_intermediate_outputs():
    model = nn.serial(nn.dense(4), nn.relu, nn.dropout(0.5), nn.dense(3))
    params, state, _ = model.init(KEY, (5,))
    outputs = diagnostics.layer_outputs(model, params, state, X, key=KEY, train=True)
    final, _ = model.apply(params, state, X, key=KEY, train=True)
    assert len(outputs) == 4
    np.testing.assert_array_equal(outputs[-1], final)  # same dropout sub-keys as serial
    np.testing.assert_allclose(outputs[0], X @ params[0]["w"] + params[0]["b"], rtol=1e-6)
    np.testing.assert_array_equal(outputs[1], jnp.maximum(outputs[0], 0))


def test_gradient_norms_and_update_ratios_per_weight_leaf():
    model = nn.serial(nn.dense(2), nn.relu, nn.dense(2))
    params = ({"w": jnp.array([[3.0, 4.0]]), "b": jnp.ones(2)}, {},
              {"w": jnp.array([[1.0, 0.0], [0.0, 0.0]]), "b": jnp.ones(2)})
    updates = ({"w": jnp.array([[0.003, 0.004]]), "b": jnp.ones(2)}, {},
               {"w": jnp.array([[0.0, 2.0], [0.0, 0.0]]), "b": jnp.ones(2)})
    norms = jax.jit(lambda g: diagnostics.gradient_norms(g, model))(params)
    assert set(norms) == {"0:dense(2)/w", "2:dense(2)/w"}  # weights only, named by layer
    assert float(norms["0:dense(2)/w"]) == pytest.approx(5.0)
    ratios = diagnostics.update_ratios(params, updates, model)
    assert float(ratios["0:dense(2)/w"]) == pytest.approx(1e-3)
    assert float(ratios["2:dense(2)/w"]) == pytest.approx(2.0)


def test_update_ratio_advice_says_lower_or_raise_the_learning_rate():
    advice = diagnostics.update_ratio_advice({"a": 1e-3, "b": 0.5, "c": 1e-6, "d": 2e-4})
    assert len(advice) == 2
    assert advice[0].startswith("b:") and "lower it" in advice[0]
    assert advice[1].startswith("c:") and "raise it" in advice[1]


def test_dead_and_saturated_units_are_counted():
    model = nn.serial(nn.dense(4), nn.relu, nn.dense(2), nn.tanh)
    params, state, _ = model.init(KEY, (5,))
    w0 = params[0]["w"].at[:, 0].set(0.0)  # unit 0: always relu(-1) = 0, dead
    b0 = jnp.array([-1.0, 50.0, 50.0, 50.0])  # units 1-3: always alive
    w2 = jnp.zeros((4, 2))
    b2 = jnp.array([6.0, 1.0])  # tanh pre-activation: unit 0 saturated, unit 1 not
    params = ({"w": w0, "b": b0}, {}, {"w": w2, "b": b2}, {})
    outputs = diagnostics.layer_outputs(model, params, state, X)
    stats = jax.jit(lambda x: diagnostics.activation_stats(
        model, x, diagnostics.layer_outputs(model, params, state, x)))(X)
    assert float(stats["dead_relu_fraction"]["1:relu"]) == 0.25
    assert float(stats["saturated_fraction"]["3:tanh"]) == 0.5
    assert float(stats["activation_mean"]["3:tanh"]) == pytest.approx(
        (np.tanh(6.0) + np.tanh(1.0)) / 2, rel=1e-6)
    assert float(stats["activation_std"]["1:relu"]) == pytest.approx(
        float(np.std(np.asarray(outputs[1]))), rel=1e-5)
    assert set(stats["activation_mean"]) == {"1:relu", "3:tanh"}  # nonlinearities only


def test_histogram_matches_numpy():
    values = jax.random.normal(KEY, (1000,))
    counts, edges = jax.jit(diagnostics.histogram, static_argnums=1)(values, 20)
    expected_counts, expected_edges = np.histogram(np.asarray(values), bins=20)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_allclose(edges, expected_edges, rtol=1e-5)


def _probe_setup():
    model = nn.serial(nn.dense(8), nn.relu, nn.dense(3))
    opt = optim.sgd(0.1)
    return model, opt, diagnostics.make_probe(model, losses.softmax_cross_entropy, opt)


def test_probe_is_pure_and_vmaps_over_ensemble_members():
    model, opt, probe = _probe_setup()
    states = [train.init_state(model, opt, (5,), key=jax.random.key(i)) for i in range(2)]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
    batched = jax.jit(jax.vmap(probe, in_axes=(0, None, None)))(stacked, X, Y)
    for i, state in enumerate(states):
        single = jax.jit(probe)(state, X, Y)
        grads = jax.grad(lambda p: losses.softmax_cross_entropy(
            model.apply(p, state.model_state, X)[0], Y))(state.params)
        np.testing.assert_allclose(single["grad_norm"]["0:dense(8)/w"],
                                   jnp.linalg.norm(grads[0]["w"]), rtol=1e-5)
        # sgd: ||dW|| / ||W|| = lr ||g|| / ||W||
        np.testing.assert_allclose(single["update_ratio"]["2:dense(3)/w"],
                                   0.1 * jnp.linalg.norm(grads[2]["w"])
                                   / jnp.linalg.norm(state.params[2]["w"]), rtol=1e-5)
        np.testing.assert_allclose(batched["grad_norm"]["0:dense(8)/w"][i],
                                   single["grad_norm"]["0:dense(8)/w"], rtol=1e-6)


def test_training_monitor_records_json_floats_in_the_fit_history(blob_splits):
    model, opt, _ = _probe_setup()
    x, y = blob_splits.train.x[:32], blob_splits.train.y[:32]
    monitor = diagnostics.TrainingMonitor(model, losses.softmax_cross_entropy, x, y, opt=opt)
    result = train.fit(model, opt, losses.softmax_cross_entropy, blob_splits, key=KEY,
                       epochs=3, batch_size=16, callbacks=[monitor], verbose=False)
    history = json.loads(json.dumps(result.history))  # JSON-serializable as recorded
    assert len(history["grad_norm"]) == 3
    assert list(history["grad_norm"][-1]) == ["0:dense(8)/w", "2:dense(3)/w"]
    assert set(history["dead_relu_fraction"][0]) == {"1:relu"}
    # the last record is the gradient at the final state on the probe batch
    objective = train.make_objective(model, losses.softmax_cross_entropy)
    state = result.state
    grads = jax.grad(lambda p: objective(p, state.model_state, jnp.asarray(x), jnp.asarray(y),
                                         jnp.ones(32, bool), train.step_key(state))[0])(
        state.params)
    assert history["grad_norm"][-1]["2:dense(3)/w"] == pytest.approx(
        float(jnp.linalg.norm(grads[2]["w"])), rel=1e-5)
    assert sorted(monitor.histograms) == [1, 2, 3]
    counts, edges = monitor.histograms[3]["weights"]["0:dense(8)/w"]
    assert sum(counts) == 4 * 8 and len(edges) == len(counts) + 1
    assert isinstance(monitor.advice(), list)


def test_monitor_advice_flags_vanishing_gradients_dead_and_saturated_units():
    record = {"grad_norm": {"0:dense/w": 2e-5, "6:dense/w": 49.0},
              "update_ratio": {"0:dense/w": 1e-3},
              "dead_relu_fraction": {"1:relu": 0.75, "3:relu": 0.1},
              "saturated_fraction": {"5:tanh": 0.9}}
    advice = diagnostics.monitor_advice(record)
    assert len(advice) == 3
    assert "2.0e-05 (0:dense/w) to 4.9e+01 (6:dense/w)" in advice[0]
    assert advice[1].startswith("1:relu: 75% of the ReLUs are dead")
    assert advice[2].startswith("5:tanh: 90% of the pre-activations are saturated")
    assert diagnostics.monitor_advice({"grad_norm": {"a": 1.0, "b": 2.0}}) == []


def test_names_sort_in_layer_order():
    assert sorted(["10:relu", "2:relu", "1:dense/w"], key=diagnostics.natural_key) == [
        "1:dense/w", "2:relu", "10:relu"]


# ------------------------------------------------------ the course's init experiment


INITS = {"0.01*randn": (initializers.normal(0.01), "tanh"),
         "1.0*randn": (initializers.normal(1.0), "tanh"),
         "xavier": (initializers.xavier_normal(), "tanh"),
         "he+relu": (initializers.he_normal(), "relu")}


@pytest.fixture(scope="module")
def activation_stats_by_init():
    return {name: diagnostics.activation_statistics(w_init, act, key=KEY, batch=200)
            for name, (w_init, act) in INITS.items()}


def test_small_weights_collapse_activations_to_zero(activation_stats_by_init):
    stats = activation_stats_by_init["0.01*randn"]
    assert len(stats.names) == 10 and stats.names[0] == "1:tanh"
    # layer 1: std ~ sqrt(500) * 0.01 = 0.22 (tanh is linear there), then x0.22 per layer
    assert stats.std[0] == pytest.approx(0.22, abs=0.02)
    assert np.all(np.diff(stats.std) < 0) and stats.std[-1] < 1e-4


def test_large_weights_saturate_tanh(activation_stats_by_init):
    stats = activation_stats_by_init["1.0*randn"]
    np.testing.assert_allclose(stats.std, 0.98, atol=0.01)
    assert np.all(stats.saturated > 0.7)  # |z| > 5 for most units: gradients vanish


def test_xavier_decays_slowly_from_063(activation_stats_by_init):
    stats = activation_stats_by_init["xavier"]
    assert stats.std[0] == pytest.approx(0.63, abs=0.02)
    assert np.all(np.diff(stats.std) < 0) and 0.15 < stats.std[-1] < 0.35
    assert np.all(stats.saturated < 0.01)


def test_he_init_keeps_relu_std_near_08(activation_stats_by_init):
    stats = activation_stats_by_init["he+relu"]
    assert np.all((stats.std > 0.7) & (stats.std < 1.0))
    assert stats.std[0] == pytest.approx(math.sqrt(1 - 1 / math.pi), abs=0.03)  # 0.826
    assert np.all(stats.mean > 0.4) and np.all(np.isnan(stats.saturated))


# ----------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("train_error, dev_error, base_error, verdict", [
    (0.01, 0.11, 0.0, "high variance"),
    (0.15, 0.16, 0.0, "high bias"),
    (0.15, 0.30, 0.0, "high bias and high variance"),
    (0.005, 0.01, 0.0, "good"),
    (0.15, 0.16, 0.14, "good"),  # humans get 14% wrong too: no avoidable bias
])
def test_bias_variance_follows_the_course_examples(train_error, dev_error, base_error, verdict):
    result = diagnostics.bias_variance(train_error, dev_error, base_error)
    assert result.verdict == verdict
    assert result.avoidable_bias == pytest.approx(train_error - base_error)
    assert result.variance == pytest.approx(dev_error - train_error)
    assert ("train a bigger network (more units or layers)" in result.advice) == (
        "bias" in verdict)
    assert ("get more training data (or augment it)" in result.advice) == ("variance" in verdict)
    assert str(result).splitlines()[0].startswith(f"{verdict} (avoidable bias ")
    assert len(str(result).splitlines()) == 1 + len(result.advice)


def test_bias_variance_rejects_rates_outside_0_1():
    with pytest.raises(ValueError, match="train_error must be in"):
        diagnostics.bias_variance(15.0, 0.2)


def test_initial_loss_check_against_ln_c(blob_splits):
    assert diagnostics.initial_loss_check(2.31, 10).ok
    high = diagnostics.initial_loss_check(10.0, 10)
    assert not high.ok and high.expected == pytest.approx(math.log(10)) and "above" in high.message
    for scale, ok in ((0.01, True), (30.0, False)):
        model = nn.serial(nn.dense(16, w_init=initializers.normal(scale)), nn.tanh,
                          nn.dense(3, w_init=initializers.normal(scale)))
        params, state, _ = model.init(KEY, (4,))
        loss = train.evaluate(model, params, state, blob_splits.train)["loss"]
        check = diagnostics.initial_loss_check(loss, 3)
        assert check.ok == ok
        if ok:
            assert check.loss == pytest.approx(math.log(3), rel=1e-3)


def test_overfit_small_subset_passes_for_a_working_setup_and_fails_for_a_broken_one():
    noisy = blobs(40, seed=5, label_noise=0.3, spread=1.5)  # random labels: memorize only
    model = nn.serial(nn.dense(32), nn.relu, nn.dense(3))
    ok = diagnostics.overfit_small_subset(model, optim.adam(3e-2), losses.softmax_cross_entropy,
                                          noisy, n=20, key=KEY, epochs=150)
    assert ok.passed, ok.message
    assert ok.final_accuracy == 1.0 and ok.final_loss < 0.05 and len(ok.losses) == 150
    assert ok.losses[-1] < 0.1 * ok.losses[0]
    stuck = diagnostics.overfit_small_subset(model, optim.sgd(1e-4),
                                             losses.softmax_cross_entropy, noisy, n=20,
                                             key=KEY, epochs=150)
    assert not stuck.passed and stuck.message.startswith("failed")
    with pytest.raises(ValueError, match="regularization is off by design"):
        diagnostics.overfit_small_subset(model, optim.sgd(1e-4), losses.softmax_cross_entropy,
                                         noisy, key=KEY, regularizer=regularizers.l2(1e-3))
    with pytest.raises(ValueError, match="larger than the training set"):
        diagnostics.overfit_small_subset(model, optim.sgd(1e-4), losses.softmax_cross_entropy,
                                         noisy, n=41, key=KEY)


@pytest.mark.parametrize("history, initial_loss, stopped, flags", [
    ({"train_loss": [2.0, 1.0, 0.5, 0.3], "train_accuracy": [.5, .7, .9, .95],
      "dev_accuracy": [.5, .7, .88, .93]}, 2.3, None, set()),
    ({"train_loss": [2.5, 3.0, 2.9]}, 2.3, None, {"lr_too_high"}),  # up in epoch 1
    ({"train_loss": [2.0, 1.0, 1.6, 0.5]}, None, None, {"lr_too_high"}),  # a jump
    ({"train_loss": [1.0, float("nan")]}, None, None, {"lr_too_high"}),
    ({"train_loss": []}, 2.3, "exploding", {"lr_too_high"}),
    ({"train_loss": [2.30, 2.29, 2.28], "train_accuracy": [.1, .1, .12]}, 2.303, None,
     {"lr_too_low"}),
    ({"train_loss": [0.02, 0.019, 0.019], "train_accuracy": [1.0, 1.0, 1.0]}, None, None,
     set()),  # flat because already converged, not because the lr is too low
    ({"train_loss": [1.0, 0.5, 0.1], "train_accuracy": [.6, .9, 1.0],
      "dev_accuracy": [.6, .75, .8]}, None, None, {"overfitting"}),
    ({"train_loss": [1.0, 0.5, 0.2, 0.1], "train_accuracy": [.6, .8, .85, .9],
      "dev_accuracy": [.6, .8, .84, .85], "dev_loss": [1.0, 0.6, 0.7, 0.9]}, None, None,
     {"overfitting"}),  # the dev loss turns up
])
def test_diagnose_hand_built_histories(history, initial_loss, stopped, flags):
    found = diagnostics.diagnose_history(history, initial_loss=initial_loss, stopped=stopped)
    assert set(found) == flags, found


def test_diagnose_real_runs(blob_splits):
    model = nn.serial(nn.dense(16), nn.relu, nn.dense(3))

    def run(opt, epochs):
        result = train.fit(model, opt, losses.softmax_cross_entropy, blob_splits, key=KEY,
                           epochs=epochs, batch_size=8, verbose=False)
        return set(diagnostics.diagnose_history(result.history, initial_loss=result.initial_loss,
                                                stopped=result.stopped))

    assert run(optim.sgd(1e-4), 4) == {"lr_too_low"}
    assert run(optim.sgd(3.0), 4) == {"lr_too_high"}
    assert run(optim.adam(1e-2), 8) == set()


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def no_user_cache(monkeypatch):
    monkeypatch.setenv("JAXDL_COMPILATION_CACHE", "0")  # keep the test session's cache


def test_cli_gradcheck_prints_a_correct_report(no_user_cache, capsys):
    assert cli.main(["gradcheck", "--hidden", "8", "--examples", "4"]) == 0
    out = capsys.readouterr().out
    assert "gradient check: 610 of 610 parameters (all)" in out  # 64*8 + 8 + 8*10 + 10
    assert "1:dense(8)/w" in out and "verdict: correct" in out


def test_cli_gradcheck_with_dropout_uses_a_fixed_mask(no_user_cache, capsys):
    assert cli.main(["gradcheck", "--hidden", "8", "--examples", "4", "--dropout", "0.5",
                     "--coords", "50"]) == 0
    out = capsys.readouterr().out
    assert "fixed mask" in out and "50 of 610 parameters (a random subset)" in out


def test_cli_train_diagnostics_writes_the_monitor_plots(no_user_cache, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--epochs", "2", "--hidden", "16", "--quiet", "--diagnostics",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "diagnostics: initial loss" in printed
    history = json.loads((out / "history.json").read_text())
    assert len(history["grad_norm"]) == 2 and set(history["update_ratio"][0]) == {
        "1:dense(16)/w", "3:dense(10)/w"}
    for name in ("gradient_norms", "update_ratios", "activation_std", "activation_histograms",
                 "weight_histograms"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
