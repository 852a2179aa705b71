"""Experiments on optimization (issue 13): optimizer_paths, learning_rate, ewa, mini_batch.

Each runs in quick mode into tmp_path; the asserts are on the returned numbers (the quick
run still shows the course's effect) and on the files it wrote. Formulas the experiments
add are checked against hand values and independent implementations (optax, numpy).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import data, losses, optim, train
from jaxdl.experiments import ewa, learning_rate, mini_batch, optimizer_paths
from tests.experiment_runs import run_quick


# ----------------------------------------------------------------------------- ewa


def test_ewa_gives_the_notes_worked_example():
    # V1 = 0.1 * 40 = 4, V2 = 0.9 * 4 + 0.1 * 49 = 8.5, V3 = 0.9 * 8.5 + 0.1 * 45 = 12.15
    np.testing.assert_allclose(ewa.ewa(jnp.array([40.0, 49.0, 45.0]), 0.9), [4.0, 8.5, 12.15],
                               rtol=1e-6)
    # bias-corrected: v_t / (1 - 0.9^t) = 40, 8.5 / 0.19, 12.15 / 0.271
    np.testing.assert_allclose(ewa.ewa(jnp.array([40.0, 49.0, 45.0]), 0.9, bias_correction=True),
                               [40.0, 8.5 / 0.19, 12.15 / 0.271], rtol=1e-6)


@pytest.mark.parity
@pytest.mark.parametrize("debias", [False, True])
def test_ewa_matches_optax_ema_on_every_series_of_a_batch(debias):
    series = np.asarray(jax.random.normal(jax.random.key(1), (3, 200))) * 5 + 50
    ours = np.asarray(ewa.ewa(series, 0.95, bias_correction=debias))
    for row, theirs_row in zip(series, ours):
        ema = optax.ema(0.95, debias=debias)
        state, expected = ema.init(jnp.zeros(())), []
        for value in row:
            average, state = ema.update(jnp.asarray(value, jnp.float32), state)
            expected.append(float(average))
        np.testing.assert_allclose(theirs_row, expected, rtol=1e-5)


def test_ewa_refuses_a_beta_outside_zero_one():
    with pytest.raises(ValueError, match="beta"):
        ewa.ewa(jnp.ones(3), 1.0)


def test_phase_lag_of_a_slow_sinusoid_is_about_beta_over_one_minus_beta():
    # for w -> 0 the phase delay atan(beta sin w / (1 - beta cos w)) / w -> beta / (1 - beta)
    assert ewa.phase_lag(0.5) == pytest.approx(1.0, rel=1e-3)
    assert ewa.phase_lag(0.9) == pytest.approx(9.0, rel=0.02)
    assert ewa.phase_lag(0.98) < 45  # the 365-day period is too short for 49


def test_measured_lag_finds_a_planted_delay():
    days = np.arange(1, ewa.DAYS + 1)
    delayed = np.stack([ewa.clean_temperature(days - 17.0), ewa.clean_temperature(days - 5.0)])
    assert ewa.measured_lag(delayed).tolist() == [17, 5]


def test_ewa_quick_shows_memory_lag_and_bias(tmp_path):
    verdict = run_quick("ewa", tmp_path)
    numbers = verdict.numbers
    assert verdict.status == "reproduced"
    np.testing.assert_allclose(numbers["example"], [4.0, 8.5, 12.15], rtol=1e-5)
    lags = [numbers["lags"][b] for b in ewa.BETAS]
    assert lags[0] < lags[1] < lags[2]
    assert 0.0 <= lags[0] <= 2.0 and 8.0 <= lags[1] <= 10.0 and 38.0 <= lags[2] <= 43.0
    assert numbers["start_ratio_uncorrected"][0.98] < 0.2  # far too low at the start
    assert abs(numbers["start_ratio_corrected"][0.98] - 1) < 0.1
    assert "| notes example V1, V2, V3" in (tmp_path / "ewa.md").read_text()


# ----------------------------------------------------------------------------- optimizer_paths


def test_quadratic_eigenvalues_and_regime_boundaries():
    lam, vectors = optimizer_paths.eigen()
    np.testing.assert_allclose(lam, [5 - np.sqrt(10), 5 + np.sqrt(10)], rtol=1e-12)
    np.testing.assert_allclose(optimizer_paths.HESSIAN @ vectors, vectors * lam, atol=1e-12)
    # 1 / lambda_max = 0.12251, 2 / lambda_max = 0.24503
    assert [optimizer_paths.predicted_regime(lr) for lr in (0.12, 0.123, 0.245, 0.2451)] == [
        "monotone", "oscillating", "oscillating", "diverging"]


@pytest.mark.parity
def test_gradient_descent_paths_match_the_numpy_iteration():
    lrs = (0.02, 0.2, 0.25)
    ours = optimizer_paths.paths(optim.sgd, lrs, steps=30)
    for lr, xs in zip(lrs, ours):
        x, expected = np.array([3.0, 3.0]), [np.array([3.0, 3.0])]
        for _ in range(30):
            x = x - lr * optimizer_paths.HESSIAN @ x  # grad f = H x
            expected.append(x)
        np.testing.assert_allclose(xs, np.array(expected), rtol=1e-4, atol=1e-6)


def test_overshoot_and_steps_to_on_planted_paths():
    vectors = optimizer_paths.eigen()[1]
    shallow = vectors[:, 0]
    crossing = np.stack([2.0 * shallow, 0.5 * shallow, -0.5 * shallow, 0.0 * shallow])
    assert optimizer_paths.overshoot(crossing) == pytest.approx(0.25)
    assert optimizer_paths.overshoot(np.abs(crossing)) == 0.0
    assert optimizer_paths.steps_to(crossing, 1e-6) == 3
    assert optimizer_paths.steps_to(crossing[:3], 1e-6) is None


def test_optimizer_paths_quick_shows_the_regimes_and_the_optimizers(tmp_path):
    verdict = run_quick("optimizer_paths", tmp_path)
    numbers = verdict.numbers
    assert verdict.status == "reproduced"
    assert numbers["regimes"] == {0.02: "monotone", 0.1: "monotone", 0.2: "oscillating",
                                  0.25: "diverging"}
    # the rate max|1 - lr lambda|: 1 - 0.02 * 1.838, 1 - 0.1 * 1.838, 0.2: both 0.632, 0.25 * 8.162 - 1
    np.testing.assert_allclose([numbers["rates"][lr] for lr in (0.02, 0.1, 0.2, 0.25)],
                               [0.96325, 0.81623, 0.63246, 1.04057], rtol=1e-4)
    steps = numbers["steps_to_tolerance"]
    assert steps["Nesterov (lr 0.05, mu 0.9)"] < steps["momentum (lr 0.05, mu 0.9)"]
    assert numbers["overshoot"]["momentum (lr 0.05, mu 0.9)"] > 0.3
    final = numbers["final_train_loss"]
    assert max(final, key=final.get) == "SGD (0.01)"


# ----------------------------------------------------------------------------- learning_rate


def test_generated_blobs_are_keyed_and_share_their_prototypes():
    a = learning_rate.generated(jax.random.key(0), (300, 100), dim=8)
    b = learning_rate.generated(jax.random.key(0), (300, 100), dim=8)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert a.train.x.shape == (300, 8) and a.dev.x.shape == (100, 8) and a.test is None
    # class means of train and dev estimate the same prototypes (scaled by 1/sqrt(5))
    for c in range(3):
        gap = a.train.x[a.train.y == c].mean(0) - a.dev.x[a.dev.y == c].mean(0)
        assert np.abs(gap).max() < 1.0


def test_schedules_equal_the_courses_formulas():
    rows = {r["schedule"]: r for r in learning_rate.schedule_rows()}
    assert all(r["max difference"] < 1e-6 for r in rows.values())
    assert rows["1/t: lr0 / (1 + decay_rate epoch_num), decay_rate 1"][
        "jaxdl, epochs 1..4"] == "0.1, 0.06667, 0.05, 0.04"
    assert rows["0.95^epoch_num lr0"]["jaxdl, epochs 1..4"] == "0.19, 0.1805, 0.1715, 0.1629"
    assert rows["step: halve every 2 epochs"]["jaxdl, epochs 1..4"] == "0.2, 0.2, 0.1, 0.1"


def test_learning_rate_quick_shows_too_low_good_too_high(tmp_path):
    verdict = run_quick("learning_rate", tmp_path)
    numbers = verdict.numbers
    assert verdict.status == "reproduced"
    assert numbers["low_change"] < 0.02
    assert numbers["good_dev_loss"] < numbers["initial_loss"] / 2
    assert numbers["high_stopped"] in ("nan", "exploding")
    np.testing.assert_allclose(numbers["inverse_time"], [0.1, 0.2 / 3, 0.05, 0.04], rtol=1e-6)


# ----------------------------------------------------------------------------- mini_batch


def test_the_step_probe_follows_the_fit_it_stands_for():
    splits = learning_rate.generated(jax.random.key(2), (200, 20), dim=8)
    model = learning_rate.mlp(splits, hidden=16)
    measured = data.Splits(splits.train, splits.train, None)
    key = jax.random.key(5)
    result = train.fit(model, optim.sgd(mini_batch.LR), losses.softmax_cross_entropy,
                       measured, key=key, epochs=3, batch_size=200, verbose=False)
    probe = mini_batch.loss_after_each_step(model, splits, 200, key=key, steps=3)
    # batch gradient descent: step k is epoch k, and the probe sees all 200 examples
    np.testing.assert_allclose(probe, [result.initial_loss, *result.history["dev_loss"]],
                               rtol=1e-5)


def test_mini_batch_quick_is_fastest_per_second_and_sgd_noisy(tmp_path):
    verdict = run_quick("mini_batch", tmp_path)
    numbers = verdict.numbers
    assert verdict.status == "reproduced"
    seconds = numbers["seconds_to_target"]
    assert seconds["mini-batch (64)"] is not None
    assert seconds["batch (m)"] is None or seconds["batch (m)"] > seconds["mini-batch (64)"]
    after = numbers["loss_after_epoch_1"]
    assert after["stochastic (1)"] < after["mini-batch (64)"] < after["batch (m)"]
    rises = numbers["rises"]
    assert rises["stochastic (1)"] > 0.2 and rises["batch (m)"] == 0.0
