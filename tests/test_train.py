"""The training engine: step, scan-fused epoch, evaluation, fit, guards, resume."""

import collections
import hashlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import checkpoint, losses, nn, optim, regularizers, train
from tests.conftest import blobs

KEY = jax.random.key(0)
MODEL = nn.serial(nn.dense(16), nn.relu, nn.dropout(0.9), nn.dense(3))


def fit(splits, **kwargs):
    options = dict(key=KEY, epochs=3, batch_size=16, verbose=False)
    options.update(kwargs)
    model = options.pop("model", MODEL)
    opt = options.pop("opt", optim.adam(1e-2))
    return train.fit(model, opt, losses.softmax_cross_entropy, splits, **options)


def assert_trees_equal(a, b):
    jax.tree.map(np.testing.assert_array_equal, a, b)


def params_digest(params) -> str:
    leaves = [np.asarray(leaf).tobytes() for leaf in jax.tree.leaves(params)]
    return hashlib.sha256(b"".join(leaves)).hexdigest()


def test_train_step_is_one_gradient_step_on_the_masked_objective():
    model = nn.dense(2)
    lr, lam = 0.1, 0.01
    state = train.init_state(model, optim.sgd(lr), (3,), key=KEY)
    step = jax.jit(train.make_train_step(model, optim.sgd(lr), losses.mse,
                                         regularizers.l2(lam)))
    x = jax.random.normal(KEY, (5, 3))
    y = jax.random.normal(jax.random.key(1), (5, 2))
    mask = jnp.array([True, True, True, False, False])
    new_state, metrics = step(state, (x, y, mask))
    w, b = state.params["w"], state.params["b"]
    err = x[:3] @ w + b - y[:3]                       # only the 3 real examples count
    grad_w = 2 * x[:3].T @ err / (3 * 2) + lam * w    # d/dw [mean over batch & outputs] + l2
    grad_b = 2 * err.sum(0) / (3 * 2)
    np.testing.assert_allclose(new_state.params["w"], w - lr * grad_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(new_state.params["b"], b - lr * grad_b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(metrics["loss"], np.mean(np.asarray(err) ** 2), rtol=1e-5)
    assert int(new_state.step) == 1 and int(metrics["count"]) == 3


@pytest.mark.parity  # the scanned epoch and the step are different programs
def test_full_batch_epoch_equals_one_step_and_partial_batches_are_masked():
    model = nn.dense(3)
    ds = blobs(10)
    x, y = jnp.asarray(ds.x), jnp.asarray(ds.y)
    opt = optim.sgd(0.5)
    state = train.init_state(model, opt, (4,), key=KEY)
    step = train.make_train_step(model, opt, losses.softmax_cross_entropy)
    full, _ = jax.jit(train.make_epoch(step, 10))(state, x, y, KEY)
    one, _ = jax.jit(step)(state, (x, y))
    np.testing.assert_allclose(full.params["w"], one.params["w"], atol=1e-6)  # sum order
    kept, metrics = jax.jit(train.make_epoch(step, 4))(state, x, y, KEY)
    dropped, _ = jax.jit(train.make_epoch(step, 4, drop_remainder=True))(state, x, y, KEY)
    assert int(kept.step) == 3 and int(dropped.step) == 2
    assert bool(metrics["finite"]) and 0 < float(metrics["loss"]) < 10


def test_evaluate_matches_a_direct_computation_in_eval_mode(blob_splits):
    params, state, _ = MODEL.init(KEY, (4,))
    test = blob_splits.test
    logits, _ = MODEL.apply(params, state, jnp.asarray(test.x), train=False)
    expected_loss = float(losses.softmax_cross_entropy(logits, test.y))
    expected_acc = float(np.mean(np.argmax(logits, -1) == test.y))
    host = train.evaluate(MODEL, params, state, test, batch_size=16)  # 40 = 16 + 16 + 8
    on_device = jax.jit(train.make_evaluate(MODEL, losses.softmax_cross_entropy, 16))(
        params, state, test.x, test.y)
    for metrics in (host, on_device):
        assert float(metrics["loss"]) == pytest.approx(expected_loss, rel=1e-5)
        assert float(metrics["accuracy"]) == pytest.approx(expected_acc)


def test_fit_learns_and_records_history(blob_splits):
    schedule = optim.schedules.exponential(3e-2, rate=0.5, every=8)  # 8 steps per epoch
    result = fit(blob_splits, epochs=4, opt=optim.adam(schedule))
    history = result.history
    assert history["epoch"] == [1, 2, 3, 4]
    for name in ("train_loss", "train_accuracy", "dev_loss", "dev_accuracy", "learning_rate",
                 "wall_time"):
        assert len(history[name]) == 4, name
    # the learning rate of the last update of epoch e (step 8e - 1)
    np.testing.assert_allclose(history["learning_rate"], [3e-2 * 0.5 ** ((8 * e - 1) / 8)
                                                          for e in (1, 2, 3, 4)], rtol=1e-5)
    assert history["wall_time"] == sorted(history["wall_time"])
    assert history["train_loss"][-1] < history["train_loss"][0] < result.initial_loss
    assert result.final["test"]["accuracy"] > 0.8  # chance is 1/3
    assert result.stopped == "completed" and int(result.state.step) == 4 * 8
    assert result.best_epoch == 1 + int(np.argmax(history["dev_accuracy"]))


def test_training_step_is_compiled_once_and_reused_by_a_later_fit(blob_splits):
    traces = collections.Counter()  # not a list: a list's contents would be structure

    def apply(params, state, x, *, key=None, train=False):
        traces[train] += 1
        return MODEL.apply(params, state, x, key=key, train=train)

    counted = nn.Layer(MODEL.init, apply, "counted")
    fit(blob_splits, model=counted, epochs=2)
    assert traces[True] == 1  # one trace, whatever the epochs
    again = fit(blob_splits, model=counted, epochs=6, key=jax.random.key(5),
                opt=optim.adam(3e-2))  # new key, epochs and learning rate: no new trace
    assert traces[True] == 1 and again.history["learning_rate"][-1] == pytest.approx(3e-2)


def test_same_key_gives_bit_identical_params_different_key_does_not(blob_splits):
    a = fit(blob_splits)
    b = fit(blob_splits)
    c = fit(blob_splits, key=jax.random.key(1))
    assert_trees_equal(a.params, b.params)
    assert params_digest(a.params) != params_digest(c.params)


def test_bit_identical_across_processes(blob_splits, tmp_path):
    script = textwrap.dedent("""
        import jax, sys
        from jaxdl import data, losses, nn, optim, train
        from tests.conftest import blobs
        from tests.test_train import params_digest, MODEL
        splits = data.Splits(blobs(120, seed=0), blobs(40, seed=1), blobs(40, seed=2))
        r = train.fit(MODEL, optim.adam(1e-2), losses.softmax_cross_entropy, splits,
                      key=jax.random.key(0), epochs=3, batch_size=16, verbose=False)
        print(params_digest(r.params))
    """)
    here = params_digest(fit(blob_splits).params)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert out.stdout.strip() == here


def test_early_stopping_returns_the_best_epoch_params(blob_splits):
    seen = {}

    def remember(epoch, state, metrics):
        seen[epoch] = state.params

    stopper = train.EarlyStopping(patience=2, min_delta=0.5)  # nothing improves by 0.5
    result = fit(blob_splits, epochs=10, early_stopping=stopper, callbacks=[remember])
    assert result.stopped == "early_stopping" and "best was epoch 1" in result.message
    assert result.best_epoch == 1 and result.history["epoch"] == [1, 2, 3]
    assert_trees_equal(result.params, seen[1])
    assert_trees_equal(result.state.params, seen[3])  # the last state is kept too
    final_dev = train.evaluate(MODEL, seen[1], result.model_state, blob_splits.dev)
    assert result.final["dev"] == pytest.approx(final_dev)


def test_nan_stops_training_and_keeps_the_last_good_state(blob_splits):
    lr = optim.schedules.piecewise_constant([16], [1e-2, 1e30])  # blows up in epoch 3
    seen = {}
    result = fit(blob_splits, epochs=5, opt=optim.sgd(lr),
                 callbacks=[lambda e, s, m: seen.update({e: s.params})])
    assert result.stopped in ("nan", "exploding")
    assert result.message.startswith("epoch 3:") and "Lower the learning rate" in result.message
    assert result.history["epoch"] == [1, 2] and int(result.state.step) == 16
    assert_trees_equal(result.params, seen[2])
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(result.params))


def test_exploding_loss_is_caught_before_it_becomes_nan():
    x = np.linspace(-1, 1, 32)[:, None].astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    model = nn.dense(2)
    # SGD on this quadratic diverges by a factor ~ |1 - lr * curvature| per step: finite
    # after one epoch of 4 steps, but far above 3x the initial loss
    result = train.fit(model, optim.sgd(60.0), losses.mse, (x, y), key=KEY, epochs=3,
                       batch_size=8, verbose=False)
    assert result.stopped == "exploding", result.message
    assert "exceeds 3x the initial loss" in result.message
    assert int(result.state.step) == 0


def test_interrupted_fit_resumes_bit_identically(blob_splits, tmp_path):
    reference = fit(blob_splits, epochs=6)

    def interrupt_in_epoch_4(epoch, state, metrics):
        if epoch == 4:
            raise KeyboardInterrupt

    first = fit(blob_splits, epochs=6, checkpoint_dir=tmp_path, callbacks=[interrupt_in_epoch_4])
    assert first.stopped == "interrupted" and first.history["epoch"] == [1, 2, 3]
    resumed = fit(blob_splits, epochs=6, checkpoint_dir=tmp_path, resume=True)
    assert resumed.stopped == "completed" and resumed.history["epoch"] == [1, 2, 3, 4, 5, 6]
    assert_trees_equal(resumed.params, reference.params)
    assert_trees_equal(resumed.state.opt_state, reference.state.opt_state)
    for name in ("train_loss", "dev_accuracy", "learning_rate"):
        assert resumed.history[name] == reference.history[name]


def test_a_failing_callback_keeps_the_progress_in_the_checkpoint(blob_splits, tmp_path):
    def broken(epoch, state, metrics):
        if epoch == 3:
            raise RuntimeError("callback bug")

    with pytest.raises(RuntimeError, match="callback bug"):
        fit(blob_splits, epochs=5, checkpoint_dir=tmp_path, checkpoint_every=5,
            callbacks=[broken])
    saved = checkpoint.restore(tmp_path / train.CHECKPOINT_FILE)
    assert saved.metadata["progress"]["epoch"] == 2


def test_plain_optax_optimizers_train_without_a_learning_rate_record(blob_splits):
    result = fit(blob_splits, epochs=1, opt=optax.adam(1e-2))
    assert "learning_rate" not in result.history and result.stopped == "completed"


def test_stop_training_from_a_callback_and_recorded_values(blob_splits):
    def monitor(epoch, state, metrics):
        if epoch == 2:
            raise train.StopTraining("enough")
        return {"w_norm": float(optax.tree.norm(state.params))}

    result = fit(blob_splits, epochs=5, callbacks=[monitor])
    assert result.stopped == "callback" and result.message == "epoch 2: enough"
    assert result.history["w_norm"][1] is None and result.history["w_norm"][0] > 0


def test_resume_refuses_a_different_config(blob_splits, tmp_path):
    fit(blob_splits, epochs=1, checkpoint_dir=tmp_path, config={"lr": 0.01, "epochs": 1})
    resumed = fit(blob_splits, epochs=2, checkpoint_dir=tmp_path, resume=True,
                  config={"lr": 0.01, "epochs": 2})
    assert resumed.history["epoch"] == [1, 2]
    with pytest.raises(ValueError, match=r"different config \(lr differ\)"):
        fit(blob_splits, epochs=3, checkpoint_dir=tmp_path, resume=True,
            config={"lr": 0.1, "epochs": 3})


def test_augmentation_is_applied_in_training_only(blob_splits):
    model = nn.dense(3)
    result = fit(blob_splits, model=model, opt=optim.sgd(0.1), epochs=1,
                 augment=lambda key, x: jnp.zeros_like(x))
    initial = train.init_state(model, optim.sgd(0.1), (4,), key=KEY).params
    np.testing.assert_array_equal(result.params["w"], initial["w"])  # zero inputs: no grad
    assert not np.array_equal(result.params["b"], initial["b"])


def test_checkpoint_holds_the_full_state(blob_splits, tmp_path):
    result = fit(blob_splits, epochs=2, checkpoint_dir=tmp_path, config={"note": "x"})
    saved = checkpoint.restore(tmp_path / train.CHECKPOINT_FILE)
    assert saved.config == {"note": "x"} and saved.metadata["progress"]["epoch"] == 2
    assert isinstance(saved.tree["state"], train.TrainState)
    assert_trees_equal(saved.tree["state"].params, result.state.params)


def test_progress_bar_is_silent_when_not_verbose(blob_splits, capsys):
    fit(blob_splits, epochs=1, verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "fit: epochs must be an integer >= 1"),
    ({"batch_size": 500}, ValueError, r"batch_size \(500\) is larger than the training set"),
    ({"resume": True}, ValueError, "resume=True needs checkpoint_dir"),
    ({"explode_factor": 0.5}, ValueError, "explode_factor"),
    ({"eval_batch_size": 0}, ValueError, "fit: eval_batch_size must be an integer >= 1"),
    ({"early_stopping": train.EarlyStopping(monitor="dev_los")}, ValueError,
     "fit: early_stopping.monitor must be one of dev_accuracy, dev_loss, train_accuracy, "
     "train_loss, got 'dev_los'"),
])
def test_bad_arguments_are_named(blob_splits, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit(blob_splits, **kwargs)


def test_early_stopping_needs_a_dev_set_and_shapes_must_agree(blob_splits):
    with pytest.raises(ValueError, match="early_stopping monitors the dev set"):
        fit(blob_splits.train, early_stopping=3)
    with pytest.raises(ValueError, match="x has 120 examples but y has 119"):
        fit((blob_splits.train.x, blob_splits.train.y[:-1]))


# ----------------------------------------------------------------------------- issue 14


def test_ema_of_the_weights_equals_the_hand_computed_bias_corrected_average(blob_splits):
    """One full-batch step per epoch, so the EMA after epoch t averages the raw weights
    w_1..w_t: v_t = b v_{t-1} + (1 - b) w_t, v_0 = 0, average v_t / (1 - b^t)."""
    decay, raw, averages = 0.5, [], []

    def record(epoch, state, metrics):
        raw.append(np.asarray(state.params["w"], np.float64))
        averages.append(np.asarray(state.average["w"]))

    result = fit(blob_splits, model=nn.dense(3), opt=optim.sgd(0.5), epochs=4, batch_size=120,
                 ema_decay=decay, callbacks=[record])
    v = np.zeros_like(raw[0])
    for t, w in enumerate(raw, start=1):
        v = decay * v + (1 - decay) * w
        np.testing.assert_allclose(averages[t - 1], v / (1 - decay ** t), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(averages[0], raw[0], rtol=1e-6)  # a_1 = w_1
    assert np.max(np.abs(averages[-1] - raw[-1])) > 1e-3  # the average lags the weights
    # fit returns (and evaluates on dev) the average; the raw weights are in result.state
    np.testing.assert_array_equal(result.params["w"], averages[-1])
    np.testing.assert_array_equal(result.state.params["w"], raw[-1].astype(np.float32))
    dev = train.evaluate(nn.dense(3), result.params, result.model_state, blob_splits.dev)
    assert result.history["dev_loss"][-1] == pytest.approx(dev["loss"], rel=1e-5)
    assert result.final["dev"] == pytest.approx(dev)


def test_ema_decay_is_checked():
    with pytest.raises(ValueError, match=r"fit: ema_decay must be in \(0, 1\), got 1"):
        fit((np.zeros((4, 4)), np.zeros(4, int)), ema_decay=1, batch_size=4)


def test_history_records_the_objective_loss_plus_penalty(blob_splits):
    lam = 0.3
    model = nn.dense(3)
    result = fit(blob_splits, model=model, opt=optim.sgd(0.1), epochs=1, batch_size=120,
                 regularizer=regularizers.l2(lam))
    w0 = np.asarray(train.init_state(model, optim.sgd(0.1), (4,), key=KEY).params["w"],
                    np.float64)
    penalty = lam / 2 * np.sum(w0 ** 2)  # at the weights of the epoch's only step
    history = result.history
    assert penalty > 0.01
    assert history["train_objective"][0] == pytest.approx(history["train_loss"][0] + penalty,
                                                          rel=1e-5)
    assert "train_objective" not in fit(blob_splits, epochs=1).history  # = train_loss


def test_resume_with_a_changed_learning_rate_continues_and_records_the_change(
        blob_splits, tmp_path, capsys):
    """Babysitting: 2 epochs at lr 0.1, then resumed at lr 0.01 for 2 more, equals one run
    whose schedule drops the lr to 0.01 after 2 epochs (8 steps each)."""
    model = nn.dense(3)
    fit(blob_splits, model=model, opt=optim.sgd(0.1), epochs=2, checkpoint_dir=tmp_path,
        config={"lr": 0.1, "epochs": 2})
    with pytest.raises(ValueError, match=r"different config \(lr differ\)"):
        fit(blob_splits, model=model, opt=optim.sgd(0.01), epochs=4, checkpoint_dir=tmp_path,
            resume=True, config={"lr": 0.01, "epochs": 4})
    resumed = fit(blob_splits, model=model, opt=optim.sgd(0.01), epochs=4, verbose=True,
                  checkpoint_dir=tmp_path, resume=True, config={"lr": 0.01, "epochs": 4},
                  resume_changes=("lr",))
    assert "resuming after epoch 2 with lr 0.1 -> 0.01" in capsys.readouterr().err
    assert resumed.history["changes"] == [None, None, {"lr": [0.1, 0.01]}, None]
    np.testing.assert_allclose(resumed.history["learning_rate"], [0.1, 0.1, 0.01, 0.01])
    dropped = optim.schedules.piecewise_constant([16], [0.1, 0.01])
    reference = fit(blob_splits, model=model, opt=optim.sgd(dropped), epochs=4)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 resumed.params, reference.params)
    saved = checkpoint.restore(tmp_path / train.CHECKPOINT_FILE)
    assert saved.config["lr"] == 0.01  # the next resume continues at the new rate
    assert saved.metadata["progress"]["history"]["changes"][2] == {"lr": [0.1, 0.01]}


def test_resume_changes_allow_only_named_numbers_and_the_same_structure(blob_splits, tmp_path):
    model = nn.dense(3)
    fit(blob_splits, model=model, opt=optim.sgd(0.1), epochs=1, checkpoint_dir=tmp_path,
        config={"lr": 0.1, "optimizer": "sgd"})
    resume = dict(epochs=2, checkpoint_dir=tmp_path, resume=True, resume_changes=("lr",))
    with pytest.raises(ValueError, match=r"different config \(optimizer differ\)"):
        fit(blob_splits, model=model, opt=optim.adam(0.1), **resume,
            config={"lr": 0.1, "optimizer": "adam"})
    with pytest.raises(ValueError, match="only numeric settings may change"):
        fit(blob_splits, model=model, opt=optim.sgd(0.1), **resume,
            config={"lr": "0.01", "optimizer": "sgd"})
    with pytest.raises(checkpoint.CheckpointError):  # 3 -> 16 hidden units: not a number change
        fit(blob_splits, model=nn.serial(nn.dense(16), nn.dense(3)), opt=optim.sgd(0.01),
            **resume, config={"lr": 0.01, "optimizer": "sgd"})
    with pytest.raises(ValueError, match="resume_changes names config entries"):
        fit(blob_splits, resume_changes=("lr",))
    with pytest.raises(TypeError, match="resume_changes must be a sequence"):
        fit(blob_splits, resume_changes="lr", config={})
