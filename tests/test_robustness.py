"""Robustness of the training entry points: data validated at the door, metrics that fit
the task, resume identity, interrupted ensembles, no key used twice."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import checkpoint, data, diagnostics, ensemble, losses, metrics, nn, optim, train, tune
from tests.conftest import blobs

KEY = jax.random.key(0)
MODEL = nn.serial(nn.dense(8), nn.relu, nn.dense(3))
RUN = dict(key=KEY, epochs=2, batch_size=16, verbose=False)


def fit(data_, model=MODEL, loss=losses.softmax_cross_entropy, **kwargs):
    return train.fit(model, optim.sgd(0.1), loss, data_, **{**RUN, **kwargs})


def arrays(n=64, seed=0):
    ds = blobs(n, seed=seed)
    return np.asarray(ds.x).copy(), np.asarray(ds.y).copy()


# ----------------------------------------------------------------------------- data at the door


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


ENTRY_POINTS = {
    "fit": lambda d, **k: fit(d, **k),
    "ensemble.fit": lambda d, **k: ensemble.fit(MODEL, optim.sgd(0.1), losses.softmax_cross_entropy,
                                                d, members=2, **{**RUN, **k}),
    "sweep": lambda d, **k: ensemble.sweep(MODEL, lambda hp: optim.sgd(hp["lr"]),
                                           losses.softmax_cross_entropy, d,
                                           hparams={"lr": [0.1, 0.2]}, **{**RUN, **k}),
    "run_trials": lambda d, **k: tune.random_search(
        MODEL, lambda hp: optim.sgd(hp["lr"]), losses.softmax_cross_entropy, d,
        space={"lr": tune.log_uniform(0.01, 0.1)}, trials=2, **{**RUN, **k}),
    "overfit_small_subset": lambda d, **k: diagnostics.overfit_small_subset(
        MODEL, optim.sgd(0.1), losses.softmax_cross_entropy, d, n=16, key=KEY, epochs=2),
}


@pytest.mark.parametrize("where", ENTRY_POINTS)
@pytest.mark.parametrize("case, expected", [
    ("label_too_large", r"train has 1 label outside \[0, 3\) \(labels 0\.\.3, the model has 3 "
                        r"outputs\), first at index 5 \(value 3\)"),
    ("negative_label", r"train has 1 label outside \[0, 3\) .*first at index 7 \(value -1\)"),
    ("nan_input", r"train x has 2 non-finite values \(NaN or inf\), first at example 3 "
                  r"\(value nan\)"),
    ("float_labels", r"train labels are float32 of shape \((\d+),\); softmax_cross_entropy takes "
                     r"integer class labels of shape \(\1,\) or one-hot rows of shape \(\1, 3\)"),
])
def test_bad_training_data_is_refused_before_training(where, case, expected):
    x, y = arrays()
    if case == "label_too_large":
        y = _with(y, 5, 3)
    elif case == "negative_label":
        y = _with(y, 7, -1)
    elif case == "nan_input":
        x = _with(_with(x, (3, 0), np.nan), (9, 1), np.inf)
    else:
        y = y.astype(np.float32)
    program = {"run_trials": "sweep", "overfit_small_subset": "fit"}.get(where, where)
    with pytest.raises(ValueError, match=f"^{re.escape(program)}: {expected}$"):
        ENTRY_POINTS[where]((x, y))


def test_model_with_fewer_outputs_than_classes_names_both_numbers():
    x, y = arrays()
    y = y * 3  # labels 0, 3, 6
    with pytest.raises(ValueError, match=r"labels 0\.\.6, the model has 3 outputs"):
        fit((x, y))


def test_bad_dev_split_is_named():
    x, y = arrays()
    dev_x, dev_y = arrays(32, seed=1)
    with pytest.raises(ValueError, match=r"^fit: dev x has 1 non-finite value \(NaN or inf\), "
                                         r"first at example 4 \(value inf\)$"):
        fit((data.from_arrays(x, y), data.from_arrays(_with(dev_x, (4, 2), np.inf), dev_y)))


@pytest.mark.parametrize("labels, error, message", [
    (lambda y: y > 0, TypeError, r"train labels are bool; softmax_cross_entropy takes integer"),
    (lambda y: y.astype(str), TypeError, r"train y must be an array of numbers, got dtype <U"),
])
def test_bool_and_str_labels_get_a_clear_error(labels, error, message):
    x, y = arrays()
    with pytest.raises(error, match=message):
        fit((x, labels(y)))


def test_no_data_and_bad_tuples_are_named():
    with pytest.raises(TypeError, match=r"^fit: data is None; pass a data.Splits"):
        fit(None)
    ds = blobs(32)
    with pytest.raises(TypeError, match=r"a tuple must be an \(x, y\) pair of arrays or"):
        fit((ds, ds, ds, ds))


def test_a_tuple_of_datasets_is_train_dev_test_and_an_array_pair_is_x_y():
    train_ds, dev_ds, test_ds = blobs(64), blobs(32, seed=1), blobs(32, seed=2)
    as_splits = fit(data.Splits(train_ds, dev_ds, test_ds))
    as_tuple = fit((train_ds, dev_ds, test_ds))
    assert set(as_tuple.final) == {"train", "dev", "test"}
    assert as_tuple.final == as_splits.final
    two = fit((train_ds, dev_ds))
    assert set(two.final) == {"train", "dev"}
    pair = fit((np.asarray(train_ds.x), np.asarray(train_ds.y)))  # two arrays: (x, y)
    assert set(pair.final) == {"train"}
    assert pair.final["train"] == as_splits.final["train"]


def test_one_hot_labels_and_regression_targets_are_accepted():
    x, y = arrays()
    fit((x, np.eye(3, dtype=np.float32)[y]))
    targets = x[:, :1] * 2.0
    result = fit((x, targets), model=nn.dense(1), loss=losses.mse)
    assert result.stopped == "completed"
    with pytest.raises(ValueError, match=r"^fit: train labels has 1 non-finite value"):
        fit((x, _with(targets, (2, 0), np.nan)), model=nn.dense(1), loss=losses.mse)


def test_binary_targets_are_checked_for_sigmoid_cross_entropy():
    x, y = arrays()
    binary = (y > 0).astype(np.int32)
    fit((x, binary), model=nn.dense(1), loss=losses.sigmoid_cross_entropy)
    with pytest.raises(ValueError, match=r"train has 1 label outside \[0, 1\] for "
                                         r"sigmoid_cross_entropy, first at index 0 \(value 2\)"):
        fit((x, _with(binary, 0, 2)), model=nn.dense(1), loss=losses.sigmoid_cross_entropy)


# ----------------------------------------------------------------------------- metrics


def test_metric_values_against_numpy():
    rng = np.random.default_rng(0)
    outputs, targets = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
    error = outputs - targets
    np.testing.assert_allclose(metrics.squared_error(jnp.asarray(outputs), targets),
                               np.mean(error ** 2, axis=1), rtol=1e-6)
    np.testing.assert_allclose(metrics.absolute_error(jnp.asarray(outputs), targets),
                               np.mean(np.abs(error), axis=1), rtol=1e-6)
    assert float(metrics.rmse.result(jnp.mean(metrics.squared_error(jnp.asarray(outputs),
                                                                      targets)))) == \
        pytest.approx(np.sqrt(np.mean(error ** 2)), rel=1e-6)


@pytest.mark.parametrize("shape", ["(N,)", "(N, 1)"])
@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_binary_accuracy_is_the_same_for_every_label_form(shape, dtype):
    logits = jnp.asarray([[2.0], [-1.0], [0.5], [-3.0]])
    labels = np.asarray([1, 1, 0, 0], dtype)  # correct, wrong, wrong, correct
    if shape == "(N, 1)":
        labels = labels[:, None]
    values = metrics.correct(logits, labels)
    np.testing.assert_array_equal(values, [1.0, 0.0, 0.0, 1.0])


def test_binary_fit_reports_the_same_accuracy_for_n_and_n_by_1_labels():
    x, y = arrays(96)
    binary = (y > 0).astype(np.int32)
    results = [fit((x, labels), model=nn.dense(1), loss=losses.sigmoid_cross_entropy)
               for labels in (binary, binary[:, None], binary.astype(np.float32),
                              binary[:, None].astype(np.float32))]
    accuracies = {r.final["train"]["accuracy"] for r in results}
    assert len(accuracies) == 1 and 0.5 < accuracies.pop() <= 1.0


def test_default_metrics_follow_the_loss():
    x, y = arrays()
    classified = fit((x, y))
    assert set(classified.final["train"]) == {"loss", "accuracy"}
    assert "train_accuracy" in classified.history
    regression = fit((x, x[:, :1]), model=nn.dense(1), loss=losses.mse)
    assert set(regression.final["train"]) == {"loss"}
    assert not [k for k in regression.history if "accuracy" in k]


def test_custom_metrics_are_masked_means_inside_the_epoch():
    x = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    targets = 3 * x + 1
    model = nn.dense(1)
    result = train.fit(model, optim.sgd(0.0), losses.mse, (x, targets), key=KEY, epochs=1,
                       batch_size=16, verbose=False,  # 50 = 16 + 16 + 16 + 2: a masked batch
                       metrics={"rmse": metrics.rmse, "mae": metrics.mae,
                                "max_error": lambda o, t: jnp.abs(o - t)[:, 0]})
    params = result.params
    predictions = np.asarray(x @ np.asarray(params["w"]) + np.asarray(params["b"]))
    error = predictions - targets
    for name, expected in {"rmse": np.sqrt(np.mean(error ** 2)), "mae": np.mean(np.abs(error)),
                           "max_error": np.mean(np.abs(error))}.items():
        assert result.history[f"train_{name}"][0] == pytest.approx(expected, rel=1e-5)
        assert result.final["train"][name] == pytest.approx(expected, rel=1e-5)
    assert result.final["train"]["loss"] == pytest.approx(np.mean(error ** 2), rel=1e-5)


def test_early_stopping_monitors_any_recorded_metric_in_its_direction():
    x, y = arrays(96)
    dev = arrays(48, seed=1)
    targets, dev_targets = x[:, :1] + x[:, 1:2], dev[0][:, :1] + dev[0][:, 1:2]
    result = train.fit(nn.dense(1), optim.sgd(0.05), losses.mse,
                       data.Splits((x, targets), (dev[0], dev_targets)),
                       key=KEY, epochs=30, batch_size=16, verbose=False,
                       metrics={"rmse": metrics.rmse},
                       early_stopping=train.EarlyStopping(patience=2, monitor="dev_rmse"))
    rmse = np.asarray(result.history["dev_rmse"], float)
    assert result.best_epoch == 1 + int(np.argmin(rmse))  # minimized: rmse is an error
    default = train.fit(nn.dense(1), optim.sgd(0.05), losses.mse,
                        data.Splits((x, targets), (dev[0], dev_targets)), key=KEY, epochs=5,
                        batch_size=16, verbose=False)
    dev_loss = np.asarray(default.history["dev_loss"], float)
    assert default.best_epoch == 1 + int(np.argmin(dev_loss))  # no accuracy: dev loss


def test_metric_names_and_monitors_are_checked():
    x, y = arrays()
    with pytest.raises(ValueError, match="metric name 'loss' must be an identifier other"):
        fit((x, y), metrics={"loss": metrics.mae})
    with pytest.raises(TypeError, match=r"metrics\['f'\] must be a Metric or a function"):
        fit((x, y), metrics={"f": 3})
    with pytest.raises(ValueError, match="early_stopping.monitor must be one of dev_loss, "
                                         "train_loss, got 'dev_accuracy'"):
        train.fit(nn.dense(1), optim.sgd(0.1), losses.mse,
                  data.Splits((x, x[:, :1]), (x, x[:, :1])), key=KEY, epochs=1,
                  batch_size=16, verbose=False,
                  early_stopping=train.EarlyStopping(monitor="dev_accuracy"))


def test_regression_sweep_ranks_by_dev_loss_and_shows_only_what_was_recorded():
    x, _ = arrays(96)
    dev_x, _ = arrays(32, seed=1)
    splits = data.Splits((x, x[:, :1]), (dev_x, dev_x[:, :1]))
    sweep = ensemble.sweep(nn.dense(1), lambda hp: optim.sgd(hp["lr"]), losses.mse, splits,
                           hparams={"lr": [1e-4, 0.05, 0.2]}, key=KEY, epochs=4, batch_size=16,
                           verbose=False, metrics={"mae": metrics.mae})
    assert sweep.monitor == "final_dev_loss"
    assert not [c for c in sweep.table[0] if "accuracy" in c]
    assert {"best_dev_mae", "final_train_mae"} <= set(sweep.table[0])
    losses_ = [row["final_dev_loss"] for row in sweep.table]
    assert sweep.best_index == int(np.argmin(losses_))
    assert sweep.ranked()[0]["trial"] == sweep.best_index
    assert set(sweep.final["dev"]) == {"loss", "mae"}
    found = tune.run_trials(nn.dense(1), lambda hp: optim.sgd(hp["lr"]), losses.mse, splits,
                            space={"lr": tune.log_uniform(1e-4, 0.2)},
                            values={"lr": [1e-4, 0.05, 0.2]}, key=KEY, epochs=4, batch_size=16,
                            verbose=False)
    assert found.monitor == "final_dev_loss" and not found.maximize
    assert found.best["final_dev_loss"] == min(row["final_dev_loss"] for row in found.table)


# ----------------------------------------------------------------------------- resume identity


def test_resume_refuses_a_different_run_and_names_what_differs(tmp_path):
    x, y = arrays()
    fit((x, y), checkpoint_dir=tmp_path)
    same = fit((x, y), checkpoint_dir=tmp_path, resume=True, epochs=3)
    assert same.history["epoch"] == [1, 2, 3]
    cases = {
        "key": dict(key=jax.random.key(1)),
        "data": dict(data_=(_with(x, (0, 0), 5.0), y)),
        "optimizer": dict(opt=optim.sgd(0.2)),
        "batching": dict(batch_size=8),
        "loss": dict(loss=losses.multiclass_hinge),
    }
    for field, change in cases.items():
        opt = change.pop("opt", optim.sgd(0.1))
        data_ = change.pop("data_", (x, y))
        options = {**RUN, "epochs": 4, **change}
        loss = options.pop("loss", losses.softmax_cross_entropy)
        with pytest.raises(checkpoint.CheckpointError,
                           match=rf"was written by a different run \({field} differ\)"):
            train.fit(MODEL, opt, loss, data_, checkpoint_dir=tmp_path, resume=True, **options)
    allowed = train.fit(MODEL, optim.sgd(0.2), losses.softmax_cross_entropy, (x, y),
                        checkpoint_dir=tmp_path, resume=True, allow_changes=("optimizer",),
                        **{**RUN, "epochs": 4})
    assert allowed.history["epoch"] == [1, 2, 3, 4]


def test_resume_with_another_optimizer_kind_names_the_optimizer(tmp_path):
    x, y = arrays()
    fit((x, y), checkpoint_dir=tmp_path)
    with pytest.raises(checkpoint.CheckpointError, match=r"\(optimizer differ\)"):
        train.fit(MODEL, optim.adam(0.1), losses.softmax_cross_entropy, (x, y),
                  checkpoint_dir=tmp_path, resume=True, **{**RUN, "epochs": 3})


def test_resume_refuses_metadata_without_progress(tmp_path):
    x, y = arrays()
    fit((x, y), checkpoint_dir=tmp_path)
    path = tmp_path / train.CHECKPOINT_FILE
    saved = checkpoint.restore(path)
    metadata = {k: v for k, v in saved.metadata.items() if k != "progress"}
    checkpoint.save(path, saved.tree, saved.config, metadata=metadata)
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"checkpoint.npz: the checkpoint's metadata has no 'progress' "
                             r"entry"):
        fit((x, y), checkpoint_dir=tmp_path, resume=True, epochs=3)


def test_fingerprint_descriptions_see_hyperparameters_in_closures():
    from jaxdl import fingerprint, regularizers
    assert fingerprint.describe(optim.adam(1e-3)) == fingerprint.describe(optim.adam(1e-3))
    assert fingerprint.describe(optim.adam(1e-3)) != fingerprint.describe(optim.adam(1e-2))
    assert fingerprint.describe(regularizers.l2(1e-4)) != fingerprint.describe(
        regularizers.l2(1e-3))
    assert fingerprint.describe(nn.dense(8)) != fingerprint.describe(nn.dense(9))


# ----------------------------------------------------------------------------- interruption, keys


@pytest.mark.parity  # the interrupted member vs a solo run
def test_interrupted_ensemble_keeps_the_members_trained_so_far(monkeypatch, blob_splits):
    real_bar = train._progress_bar

    def interrupting_bar(*args, **kwargs):
        bar, updates = real_bar(*args, **kwargs), []
        real_update = bar.update

        def update(n=1):
            updates.append(n)
            if len(updates) == 3:  # the host records epoch 3, then Ctrl-C
                raise KeyboardInterrupt
            return real_update(n)
        bar.update = update
        return bar
    monkeypatch.setattr(train, "_progress_bar", interrupting_bar)
    result = ensemble.fit(MODEL, optim.sgd(0.1), losses.softmax_cross_entropy, blob_splits,
                          members=3, key=KEY, epochs=10, batch_size=16, verbose=False)
    assert result.stopped == "interrupted"
    assert {row["stopped"] for row in result.table} == {"interrupted"}
    epochs = len(result.history["epoch"])
    assert 2 <= epochs <= 4  # every epoch the device finished is kept and recorded
    monkeypatch.setattr(train, "_progress_bar", real_bar)
    solo = train.fit(MODEL, optim.sgd(0.1), losses.softmax_cross_entropy, blob_splits,
                     key=jax.random.fold_in(KEY, 1), epochs=epochs, batch_size=16,
                     verbose=False)
    member = jax.tree.map(lambda leaf: leaf[1], result.state.params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 member, solo.state.params)


def test_no_key_is_used_twice_in_fit_and_ensembles(blob_splits):
    model = nn.serial(nn.dense(8), nn.relu, nn.dropout(0.8), nn.dense(3))
    augment = data.augment.random_noise(0.05)
    options = dict(key=KEY, epochs=2, batch_size=16, verbose=False, augment=augment)
    with jax.debug_key_reuse(True):
        train.fit(model, optim.adam(1e-2), losses.softmax_cross_entropy, blob_splits, **options)
        ensemble.fit(model, optim.adam(1e-2), losses.softmax_cross_entropy, blob_splits,
                     members=2, **options)
        ensemble.sweep(model, lambda hp: optim.adam(hp["lr"]), losses.softmax_cross_entropy,
                       blob_splits, hparams={"lr": [1e-2, 1e-3]}, **options)


def test_a_misspelt_hyperparameter_names_the_ones_there_are(blob_splits):
    with pytest.raises(KeyError, match=r"sweep: a builder read hp\['lr'\], but the "
                                       r"hyperparameters are 'learning_rate'"):
        ensemble.sweep(MODEL, lambda hp: optim.sgd(hp["lr"]), losses.softmax_cross_entropy,
                       blob_splits, hparams={"learning_rate": [0.1]}, **RUN)


def test_a_missing_key_is_named_by_every_trainer(blob_splits):
    with pytest.raises(TypeError, match=r"^fit: key must be a JAX random key"):
        fit(blob_splits, key=None)
    with pytest.raises(TypeError, match=r"^ensemble.fit: key must be a JAX random key"):
        ensemble.fit(MODEL, optim.sgd(0.1), losses.softmax_cross_entropy, blob_splits,
                     members=2, **{**RUN, "key": None})
