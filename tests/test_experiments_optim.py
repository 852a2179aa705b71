"""Experiments on optimization (issue 13): optimizer_paths, learning_rate, ewa, mini_batch.

Each runs in quick mode into tmp_path; the asserts are on the returned numbers (the quick
run still shows the course's effect) and on the files it wrote. Formulas the experiments
add are checked against hand values and independent implementations (optax, numpy).
"""

import importlib
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import experiments
from jaxdl.experiments import ewa, registry


def _run(name, tmp_path):
    assert name in registry.MODULES
    module = importlib.import_module(f"jaxdl.experiments.{name}")
    outcome = experiments.run_experiment(module.EXPERIMENT, jax.random.key(0), quick=True,
                                         out=tmp_path)
    for suffix in ("md", "json", "png"):
        assert (tmp_path / f"{name}.{suffix}").stat().st_size > 500, suffix
    record = json.loads((tmp_path / f"{name}.json").read_text())
    assert record["verdict"]["status"] == outcome.verdict.status
    return outcome.verdict


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
    verdict = _run("ewa", tmp_path)
    numbers = verdict.numbers
    assert verdict.status == "reproduced"
    np.testing.assert_allclose(numbers["example"], [4.0, 8.5, 12.15], rtol=1e-5)
    lags = [numbers["lags"][b] for b in ewa.BETAS]
    assert lags[0] < lags[1] < lags[2]
    assert 0.0 <= lags[0] <= 2.0 and 8.0 <= lags[1] <= 10.0 and 38.0 <= lags[2] <= 43.0
    assert numbers["start_ratio_uncorrected"][0.98] < 0.2  # far too low at the start
    assert abs(numbers["start_ratio_corrected"][0.98] - 1) < 0.1
    assert "| notes example V1, V2, V3" in (tmp_path / "ewa.md").read_text()
