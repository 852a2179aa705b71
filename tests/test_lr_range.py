"""The learning-rate range test: schedule, smoothing, the compiled run, the CLI."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import cli, data, diagnostics, losses, nn, optim, train
from jaxdl.diagnostics import lr_range

KEY = jax.random.key(0)


def regression(n=64, seed=0):
    """y = x @ [1, -2] + 0.5 + noise: a quadratic loss whose SGD diverges past lr ~ 2/L."""
    k1, k2 = jax.random.split(jax.random.key(seed))
    x = np.asarray(jax.random.normal(k1, (n, 2)))
    y = x @ np.array([[1.0], [-2.0]]) + 0.5 + 0.1 * np.asarray(jax.random.normal(k2, (n, 1)))
    return x.astype(np.float32), y.astype(np.float32)


def test_the_rate_grows_x10_per_step_from_lr_min_to_lr_max():
    schedule = lr_range.lr_schedule(1e-4, 1.0, 5)
    np.testing.assert_allclose([float(schedule(t)) for t in range(6)],
                               [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1.0], rtol=1e-5)


def test_smoothing_is_the_bias_corrected_ewa():
    # v1 = 0.5, v2 = 0.25 + 1 = 1.25, v3 = 0.625 + 1.5 = 2.125; divided by 1 - 0.5^t
    np.testing.assert_allclose(lr_range.smooth([1.0, 2.0, 3.0], 0.5),
                               [1.0, 1.25 / 0.75, 2.125 / 0.875])


@pytest.mark.parity  # the compiled scan vs the step driven from the host
def test_the_losses_are_those_of_the_train_step_on_fits_shuffles():
    x, y = regression()
    model = nn.dense(1)
    found = diagnostics.lr_range_test(model, optim.sgd, losses.mse, (x, y), key=KEY,
                                      batch_size=16, lr_min=1e-3, lr_max=1.0, steps=10)
    opt = optim.sgd(lr_range.lr_schedule(1e-3, 1.0, 10))
    state = train.init_state(model, opt, (2,), key=KEY)
    step = jax.jit(train.make_train_step(model, opt, losses.mse, metrics=()))
    shuffle = jax.random.fold_in(KEY, train.SHUFFLE)
    rows = np.concatenate([data.epoch_batches(jax.random.fold_in(shuffle, e), 64, 16,
                                              drop_remainder=True)[0] for e in (1, 2, 3)])
    expected = []
    for batch in rows[:10]:  # 4 batches per epoch: epochs 1, 2 and half of 3
        state, values = step(state, (jnp.asarray(x[batch]), jnp.asarray(y[batch])))
        expected.append(float(values["loss"]))
    np.testing.assert_allclose(found.losses, expected, rtol=1e-5)
    np.testing.assert_allclose(found.lrs, np.geomspace(1e-3, 1.0, 10), rtol=1e-12)


def test_divergence_ends_the_test_and_the_suggestion_is_a_tenth_of_the_best_rate():
    x, y = regression()
    found = diagnostics.lr_range_test(nn.dense(1), optim.sgd, losses.mse, (x, y), key=KEY,
                                      batch_size=16, lr_min=1e-3, lr_max=1e3, steps=120)
    assert 0 < found.stop < 120  # SGD on this quadratic diverges well below lr 1e3
    assert np.all(np.isfinite(found.losses[:found.stop]))
    assert found.smoothed[found.stop] > 4 * found.smoothed[:found.stop].min() or \
        not np.isfinite(found.losses[found.stop])
    best = int(np.argmin(found.smoothed[:found.stop]))
    assert found.min_loss_lr == pytest.approx(found.lrs[best])
    assert found.suggested_lr == pytest.approx(found.lrs[best] / 10)
    assert found.smoothed[best] < 0.1 * found.smoothed[0]  # it learned before diverging
    assert 0.05 < found.min_loss_lr < 2.0  # the curvature of this loss is about 2-3
    calm = diagnostics.lr_range_test(nn.dense(1), optim.sgd, losses.mse, (x, y), key=KEY,
                                     batch_size=16, lr_min=1e-4, lr_max=1e-2, steps=40)
    assert calm.stop == 40 and calm.losses[-1] < calm.losses[0]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"lr_min": 0.0}, ValueError, r"lr_range_test: lr_min must be in \(0, inf\)"),
    ({"lr_max": 1e-7}, ValueError, "lr_range_test: lr_max must be in"),
    ({"steps": 1}, ValueError, "steps must be an integer >= 2"),
    ({"batch_size": 100}, ValueError, r"batch_size \(100\) is larger than the training set"),
    ({"smoothing": 1.0}, ValueError, "smoothing must be in"),
    ({"make_opt": 0.1}, TypeError, "make_opt must be a function lr -> optimizer"),
])
def test_bad_arguments_are_named(kwargs, error, match):
    options = dict(make_opt=optim.sgd, key=KEY, batch_size=16, steps=10)
    options.update(kwargs)
    with pytest.raises(error, match=match):
        diagnostics.lr_range_test(nn.dense(1), options.pop("make_opt"), losses.mse,
                                  regression(), **options)


def test_cli_lr_find_writes_json_and_png(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JAXDL_COMPILATION_CACHE", "0")
    out = tmp_path / "lr"
    argv = ["lr-find", "--hidden", "16", "--steps", "40", "--lr-min", "1e-4", "--lr-max",
            "10", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "lr range test: 40 mini-batches of 64, lr 0.0001 -> 10" in printed
    saved = json.loads((out / "lr_range.json").read_text())
    assert len(saved["lrs"]) == len(saved["losses"]) == 40 and saved["config"]["hidden"] == [16]
    assert saved["suggested_lr"] == pytest.approx(saved["min_loss_lr"] / 10)
    assert f"suggested lr {saved['suggested_lr']:.3g}" in printed
    assert (out / "lr_range.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.main(argv) == 2  # the outputs are not replaced without --overwrite
    assert "already holds lr_range outputs" in capsys.readouterr().err
