"""jaxdl._checks.check_range: the shared validator of numeric hyperparameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl._checks import check_range


@pytest.mark.parametrize("value, message", [
    (float("inf"), "f: x must be a finite number in [0, 1), got inf"),
    (-np.inf, "f: x must be a finite number in [0, 1), got -inf"),
    (float("nan"), "f: x must be in [0, 1), got nan"),
    (np.float32(np.inf), "f: x must be a finite number in [0, 1), got inf"),
    (np.array([0.5, np.inf, 2.0]), "f: x must be a finite number in [0, 1), got [inf, 2.0]"),
    (1.0, "f: x must be in [0, 1), got 1.0"),
    (jnp.float32(-0.1), "f: x must be in [0, 1), got -0.1"),
])
def test_rejects_non_finite_and_out_of_range_values(value, message):
    with pytest.raises(ValueError) as info:
        check_range("f", "x", value, low=0.0, high=1.0, high_open=True)
    assert str(info.value) == message


def test_unbounded_interval_still_rejects_infinity():
    assert check_range("f", "x", -1e300) == -1e300          # no bounds: any finite number
    with pytest.raises(ValueError, match=r"^f: x must be a finite number in \(-inf, inf\)"):
        check_range("f", "x", np.inf)


def test_returns_finite_values_and_tracers_unchanged():
    value = np.array([0.0, 0.5])
    assert check_range("f", "x", value, low=0.0, high=1.0) is value
    # a traced inf cannot be inspected: it passes, inside jit and vmap
    out = jax.jit(jax.vmap(lambda v: check_range("f", "x", v, low=0.0) * 2))(
        jnp.array([1.0, jnp.inf]))
    np.testing.assert_array_equal(out, [2.0, np.inf])
