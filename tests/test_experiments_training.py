"""Experiments on training practice (issue 13): variance_demos, gradient_check, sanity_checks,
vanishing_gradients, initialization, batch_norm, feature_scaling, loss_comparison.

Each runs in quick mode into tmp_path; the asserts are on the returned numbers (the quick run
still shows the course's effect) and on the files it wrote. The helpers the experiments add
are checked against hand values and jax.grad.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.experiments import batch_norm, gradient_check, initialization, variance_demos
from tests.experiment_runs import run_quick


# ------------------------------------------------------------------- variance_demos


def test_unit_outputs_is_w_dot_x():
    x = jnp.array([1.0, 0.0, 2.0])
    z = variance_demos.unit_outputs(jax.random.key(3), x, 4, scale=0.5)
    w = 0.5 * jax.random.normal(jax.random.key(3), (4, 3))
    np.testing.assert_allclose(z, w[:, 0] + 2 * w[:, 2], rtol=1e-6)


def test_linear_chain_gives_the_notes_powers():
    # three layers of 1.5 I on (1, 1): y_1 = 1.5^3 = 3.375; dy_1/dW1_11 = x_1 * 1.5^2 = 2.25
    assert variance_demos.chain_measurements(3, 1.5) == pytest.approx((3.375, 2.25))
    assert variance_demos.chain_measurements(4, 0.5) == pytest.approx((0.0625, 0.125))


def test_variance_demos_quick_500_and_powers(tmp_path):
    v = run_quick("variance_demos", tmp_path)
    variance = list(v.numbers["variance"].values())
    assert v.reproduced
    assert 450 < variance[0] < 550 and 400 < variance[1] < 650 and 0.85 < variance[2] < 1.15
    np.testing.assert_allclose(v.numbers["chain_y"][1.5], 1.5 ** np.arange(1, 13), rtol=1e-5)
    np.testing.assert_allclose(v.numbers["chain_y"][0.5], 0.5 ** np.arange(1, 13), rtol=1e-5)


# ------------------------------------------------------------------- gradient_check


def test_custom_tanh_backward_is_what_it_is_told():
    x = jnp.array([[-1.0, 0.3, 2.0]])
    right = gradient_check.custom_tanh(gradient_check.right_derivative)
    buggy = gradient_check.custom_tanh(gradient_check.buggy_derivative)
    grad = lambda layer: jax.grad(lambda v: jnp.sum(layer.apply({}, {}, v)[0]))(x)  # noqa
    np.testing.assert_allclose(grad(right), 1 - jnp.tanh(x) ** 2, rtol=1e-6)
    np.testing.assert_allclose(grad(buggy), 1 - jnp.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(right.apply({}, {}, x)[0], jnp.tanh(x))


def test_gradient_check_quick_passes_the_right_and_flags_the_bug(tmp_path):
    v = run_quick("gradient_check", tmp_path)
    errors = list(v.numbers["max_relative_error"].values())
    assert v.reproduced and list(v.numbers["verdict"].values()) == ["correct", "correct", "bug"]
    assert errors[0] < 1e-7 and errors[1] < 1e-7 and errors[2] >= 1e-3
    assert "custom tanh, backward 1 - tanh" in (tmp_path / "gradient_check.md").read_text()


# -------------------------------------------------------------------- sanity_checks


def test_sanity_checks_quick_ln10_overfit_and_ratio(tmp_path):
    v = run_quick("sanity_checks", tmp_path)
    n = v.numbers
    assert v.reproduced
    assert abs(n["initial_loss"] - math.log(10)) < 0.05 and n["initial_loss_large"] > 4
    assert n["overfit_accuracy"] == 1.0 and n["overfit_loss"] < 0.05
    assert all(1e-4 <= r <= 1e-2 for r in n["ratio"].values())
    assert n["dev_accuracy"] > 0.8


# -------------------------------------------------------------- vanishing_gradients


def test_vanishing_gradients_quick_sigmoid_vanishes_and_clipping_tames(tmp_path):
    v = run_quick("vanishing_gradients", tmp_path)
    n = v.numbers
    sigmoid = n["norms"]["sigmoid, Xavier"]
    assert v.reproduced and len(sigmoid) == 7
    assert sigmoid[-1] / sigmoid[0] > 1e2 and all(np.diff(sigmoid) > 0)
    assert n["ratios"]["ReLU, He"] < 10 and n["ratios"]["sigmoid + batch norm, Xavier"] < 10
    assert n["unclipped_stopped"] in ("nan", "exploding") and n["clipped_dev_accuracy"] > 0.8


# -------------------------------------------------------------------- initialization


def test_family_initializer_covers_zeros_constant_and_scaled_normals():
    shape = (400, 300)
    zeros = initialization.family(0.0, 0.0, 0.0)(jax.random.key(0), shape)
    constant = initialization.family(1.0, 0.0, 0.0)(jax.random.key(0), shape)
    he = initialization.family(0.0, 0.0, math.sqrt(2))(jax.random.key(0), shape)
    assert float(jnp.max(jnp.abs(zeros))) == 0.0
    np.testing.assert_allclose(constant, 1 / 400)
    assert float(jnp.std(he)) == pytest.approx(math.sqrt(2 / 400), rel=0.02)


def test_unit_spread_is_zero_only_for_equal_units():
    equal = ({"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}, {"w": jnp.ones((4, 2))})
    assert initialization.unit_spread(equal) == 0.0
    unequal = ({"w": jnp.array([[1.0, 1.5], [0.0, 0.0]])}, {"w": jnp.ones((2, 2))})
    assert initialization.unit_spread(unequal) == 0.5  # the last (output) layer is skipped


def test_initialization_quick_symmetry_and_training(tmp_path):
    v = run_quick("initialization", tmp_path)
    spread, dev = v.numbers["unit_spread"], v.numbers["dev_accuracy"]
    assert v.reproduced
    assert spread["zeros"] < 1e-5 and spread["constant 1/n"] < 1e-5
    assert spread["He randn/sqrt(n/2)"] > 0.01
    assert dev["zeros"] < 0.3 < 0.85 < min(dev["Xavier randn/sqrt(n)"], dev["He randn/sqrt(n/2)"])


# ------------------------------------------------------------------------ batch_norm


def test_epochs_to_target_is_the_first_epoch_at_or_above_it():
    assert batch_norm.epochs_to([0.5, 0.8, 0.95, 0.9], 0.9) == 3.0
    assert batch_norm.epochs_to([np.nan, 0.2], 0.9) == math.inf


def test_batch_norm_quick_faster_and_tolerates_10x_lr(tmp_path):
    v = run_quick("batch_norm", tmp_path)
    reach, final = v.numbers["epochs_to_target"], v.numbers["final_dev_accuracy"]
    assert v.reproduced
    assert reach["batch norm, lr 0.1"] <= reach["plain, lr 0.1"]
    assert final["batch norm, lr 1"] > 0.9 and not final["plain, lr 1"] > 0.9


# ------------------------------------------------------------------- feature_scaling


def test_scaled_problem_has_the_designed_scales_and_correlation():
    from jaxdl.experiments import feature_scaling
    x, y = feature_scaling.scaled_problem(jax.random.key(0), 4000)
    np.testing.assert_allclose(x.std(0), feature_scaling.SCALES, rtol=0.05)
    assert np.corrcoef(x.T)[0, 3] == pytest.approx(feature_scaling.CORRELATION, abs=0.02)
    assert set(np.unique(y)) == {0, 1}
    np.testing.assert_allclose(feature_scaling.covariance(x), np.cov(x.T, bias=True), rtol=1e-9)


def test_feature_scaling_quick_scaling_speeds_up_and_whitening_gives_identity(tmp_path):
    v = run_quick("feature_scaling", tmp_path)
    reach = v.numbers["epochs_to_target"]
    assert v.reproduced and reach["standardized"] < reach["raw"]
    assert min(reach["PCA-whitened"], reach["ZCA-whitened"]) <= reach["standardized"]
    assert max(v.numbers["off_identity"].values()) < 0.05


# ------------------------------------------------------------------- loss_comparison


def test_loss_comparison_quick_ce_beats_mse_and_softmax_matches_svm(tmp_path):
    v = run_quick("loss_comparison", tmp_path)
    dev, zero = v.numbers["dev_accuracy"], v.numbers["zero_loss_share"]
    assert v.reproduced and v.numbers["hinge_example"] == pytest.approx(5.5)
    first = v.numbers["first_epoch_dev_accuracy"]
    ce_error, mse_error = (1 - first[f"{n} (saturated start)"]
                           for n in ("cross-entropy", "MSE on softmax"))
    assert ce_error <= 0.8 * mse_error
    assert dev["cross-entropy (saturated start)"] > dev["MSE on softmax (saturated start)"]
    assert abs(dev["softmax cross-entropy"] - dev["SVM (multiclass hinge)"]) < 0.03
    assert zero["SVM (multiclass hinge)"] > 0.5 and zero["softmax cross-entropy"] < 1e-3
