"""The `jaxdl` command: train, outputs, resume, and one-line errors for bad options."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from jaxdl import cli, recipes

FAST = ["--epochs", "2", "--hidden", "16", "--lr", "0.01", "--quiet"]


@pytest.fixture(autouse=True)
def no_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXDL_COMPILATION_CACHE", "0")  # keep the test session's cache


def test_without_matplotlib_the_plots_are_skipped_and_the_rest_is_written(
        tmp_path, capsys, monkeypatch):
    from jaxdl import plots

    def missing():
        raise ImportError("jaxdl.plots needs matplotlib")
    monkeypatch.setattr(plots, "_pyplot", missing)
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "needs matplotlib; skipped training.png" in captured.err
    assert "checkpoint.npz\n" in captured.out and "training.png" not in captured.out
    assert (out / "history.json").is_file() and not (out / "training.png").exists()


def test_train_writes_config_history_results_checkpoint_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "digits: 1437 train / 180 dev / 180 test examples" in printed
    assert "accuracy  train" in printed and "test" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["hidden"] == [16] and config["epochs"] == 2 and config["dataset"] == "digits"
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2]
    results = json.loads((out / "results.json").read_text())
    assert results["final"]["test"]["accuracy"] > 0.5  # 2 epochs on digits; chance is 0.1
    assert (out / "checkpoint.npz").is_file()
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_continues_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    cli.main(["train", *FAST, "--out", str(out)])
    assert cli.main(["train", "--resume", str(out), "--epochs", "3", "--quiet"]) == 0
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2, 3]
    assert json.loads((out / "config.json").read_text())["epochs"] == 3
    assert cli.main(["train", "--resume", str(out), "--hidden", "32"]) == 2
    assert ("only --epochs and --lr, --momentum, --decay, --l2, --l1 may change (got hidden)"
            in capsys.readouterr().err)


def test_resume_with_a_lower_learning_rate_records_the_change(tmp_path, capsys):
    """Babysitting: the run continues at the new rate, and the history says from when."""
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 0
    assert cli.main(["train", "--resume", str(out), "--epochs", "3", "--lr", "1e-4"]) == 0
    assert "resuming after epoch 2 with lr 0.01 -> 0.0001" in capsys.readouterr().err
    history = json.loads((out / "history.json").read_text())
    assert history["changes"] == [None, None, {"lr": [0.01, 0.0001]}]
    assert history["learning_rate"] == pytest.approx([0.01, 0.01, 0.0001])
    assert json.loads((out / "config.json").read_text())["lr"] == 0.0001
    assert cli.main(["train", "--resume", str(out), "--epochs", "4", "--quiet"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert history["changes"] == [None, None, {"lr": [0.01, 0.0001]}, None]


def _dense_params(out):
    from jaxdl import checkpoint
    params = checkpoint.restore(out / "checkpoint.npz").tree["state"].params
    return [layer for layer in params if isinstance(layer, dict) and "w" in layer]


def test_zero_init_trains_and_every_hidden_unit_stays_equal(tmp_path):
    """The course's symmetry lesson: with zero weights every hidden unit computes, and
    learns, the same thing (sigmoid, so that the weights do move)."""
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--init", "zeros", "--activation", "sigmoid",
                     "--hidden", "8,4", "--out", str(out)]) == 0
    dense = _dense_params(out)
    for layer in dense[:2]:  # the hidden layers: every column (unit) the same
        np.testing.assert_allclose(layer["w"], np.repeat(layer["w"][:, :1], layer["w"].shape[1],
                                                         axis=1), atol=1e-7)
        np.testing.assert_allclose(layer["b"], np.full_like(layer["b"], layer["b"][0]),
                                   atol=1e-7)
    assert np.abs(dense[0]["w"]).max() > 1e-4  # they moved, together
    output = dense[2]["w"]  # each class weighs every hidden unit alike
    np.testing.assert_allclose(output, np.repeat(output[:1], output.shape[0], axis=0), atol=1e-7)


def test_per_layer_keep_probabilities_and_input_dropout(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--hidden", "16,8", "--keep-prob", "0.8,0.5",
                     "--input-keep-prob", "0.9", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["keep_prob"] == [0.8, 0.5] and config["input_keep_prob"] == 0.9
    model = recipes.model(recipes.TrainConfig.from_json(config), 10)
    assert [layer.name for layer in model.children] == [
        "flatten", "dropout(keep_prob=0.9)", "dense(16)", "relu", "dropout(keep_prob=0.8)",
        "dense(8)", "relu", "dropout(keep_prob=0.5)", "dense(10)"]
    one = recipes.model(recipes.TrainConfig(hidden=(4, 3), keep_prob=0.7), 2)
    assert [layer.name for layer in one.children].count("dropout(keep_prob=0.7)") == 2
    assert not recipes.uses_dropout(recipes.TrainConfig())
    assert recipes.uses_dropout(recipes.TrainConfig(input_keep_prob=0.8))


@pytest.mark.parametrize("option, message", [
    (["--lr", "-1"], "lr must be in (0, inf), got -1.0"),
    (["--dropout", "1.5"], "keep_prob must be in (0, 1], got 1.5"),
    (["--keep-prob", "0.8,0.5"], "keep_prob has 2 values for 1 hidden layers"),
    (["--input-keep-prob", "0"], "input_keep_prob must be in (0, 1], got 0.0"),
    (["--batch-size", "0"], "batch_size must be an integer >= 1, got 0"),
    (["--dataset", "nope"], "name must be one of"),
    (["--resume", "/nonexistent/run"], "does not exist"),
])
def test_bad_values_get_a_one_line_error(option, message, capsys):
    assert cli.main(["train", *FAST, *option]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_unparsable_values_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--hidden", "3,x"])
    assert exit_info.value.code == 2
    assert "expected comma-separated integers" in capsys.readouterr().err


def test_console_entry_point_reports_its_version():
    out = subprocess.run([sys.executable, "-m", "jaxdl", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().startswith("jaxdl 0.")


def test_ema_decay_evaluates_and_keeps_the_average_of_the_weights(tmp_path, capsys):
    from jaxdl import checkpoint, losses, train
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--ema-decay", "0.9", "--out", str(out)]) == 0
    assert "ema_decay=0.9" in capsys.readouterr().out
    config = recipes.TrainConfig.load(out / "config.json")
    state = checkpoint.restore(out / "checkpoint.npz").tree["state"]
    splits = recipes.load_data(config)
    model = recipes.model(config, 10)
    dev = train.evaluate(model, state.average, state.model_state, splits.dev,
                         loss=losses.softmax_cross_entropy)
    results = json.loads((out / "results.json").read_text())
    assert results["final"]["dev"]["loss"] == pytest.approx(dev["loss"], rel=1e-5)
    raw = train.evaluate(model, state.params, state.model_state, splits.dev)
    assert raw["loss"] != pytest.approx(dev["loss"], rel=1e-4)  # the average differs


def test_image_datasets_default_to_centering_and_the_others_to_standardizing(tmp_path):
    for name in recipes.IMAGE_DATASETS:
        assert recipes.TrainConfig(dataset=name).preprocess == "center"
    assert recipes.TrainConfig(dataset="tfds:iris").preprocess == "standardize"
    assert recipes.TrainConfig(preprocess="standardize").preprocess == "standardize"
    config = recipes.TrainConfig(hidden=(8,), epochs=1)
    splits = recipes.load_data(config)
    raw = recipes.load_data(dataclasses.replace(config, preprocess="none"))
    # x - mean of the training pixels, not scaled: the centred train inputs average 0 and
    # every difference between two examples is kept exactly
    np.testing.assert_allclose(splits.train.x.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(splits.dev.x - splits.dev.x[:1], raw.dev.x - raw.dev.x[:1],
                               atol=1e-6)
    np.testing.assert_allclose(splits.dev.x, raw.dev.x - raw.train.x.mean(axis=0), atol=1e-6)
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--epochs", "1", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["preprocess"] == "center"


def test_a_batch_job_without_a_terminal_logs_one_line_per_epoch(capsys):
    assert not sys.stderr.isatty()  # pytest captures stderr, as nohup/SLURM/CI would
    assert cli.main(["train", "--epochs", "3", "--hidden", "16", "--lr", "0.01"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.startswith("train: epoch")]
    assert [line.split()[2] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all("train_loss" in line and "dev_accuracy" in line for line in lines)
    assert cli.main(["train", "--epochs", "1", "--hidden", "16", "--quiet"]) == 0
    assert "train: epoch" not in capsys.readouterr().err


def test_checkpoint_every_epochs_seconds_and_the_default_by_time(tmp_path, monkeypatch, capsys):
    from jaxdl import checkpoint, train
    saved, save = [], checkpoint.save

    def counting(path, tree, *args, **kwargs):
        if path.name == "checkpoint.npz":
            saved.append(tree["state"].step if hasattr(tree["state"], "step") else None)
        return save(path, tree, *args, **kwargs)
    monkeypatch.setattr(checkpoint, "save", counting)
    runs = {"2": 2, "0s": 4, None: 1}  # every 2 epochs; every epoch; default 5 s: the end
    for every, count in runs.items():
        saved.clear()
        out = tmp_path / f"run-{every}"
        extra = ["--checkpoint-every", every] if every else []
        assert cli.main(["train", *FAST, "--epochs", "4", *extra, "--out", str(out)]) == 0
        assert len(saved) == count, (every, saved)
    with pytest.raises(SystemExit):
        cli.main(["train", *FAST, "--checkpoint-every", "0"])
    assert "expected a number of epochs like 5 or of seconds like 30s" in capsys.readouterr().err
    assert train.fit.__kwdefaults__["checkpoint_seconds"] is None  # the library keeps epochs


@pytest.mark.parametrize("argv, expected", [
    (["train", "--lrr", "0.1"], "unrecognized arguments: --lrr 0.1; did you mean --lr?"),
    (["train", "--hidden", "128,,64"], "expected comma-separated integers"),
    (["train", "--lr", "inf"], "expected a finite number"),
    (["train", "--lr", "nan"], "expected a finite number")])
def test_a_bad_option_is_one_line_with_a_suggestion_not_the_usage(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "usage:" not in err, err


def test_resume_with_fewer_epochs_than_done_is_refused_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--epochs", "3", "--out", str(out)]) == 0
    before = {name: (out / name).read_bytes() for name in ("config.json", "checkpoint.npz")}
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--epochs 2: the run in {out} has trained 3 epochs already; give --epochs 3" in err
    assert {name: (out / name).read_bytes() for name in before} == before
    assert cli.main(["train", "--resume", str(out), "--epochs", "3", "--quiet"]) == 0
    assert "nothing to train: the run already has 3 epochs" in capsys.readouterr().out
    assert cli.main(["train", "--resume", str(out), "--epochs", "4", "--quiet"]) == 0
    assert "trained 1 epochs in" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["epochs"] == 4
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2, 3, 4]


def test_config_file_in_toml_or_json_and_the_command_line_wins(tmp_path, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text('hidden = [12, 6]\nlr = 0.02\nepochs = 1\noptimizer = "momentum"\n')
    out = tmp_path / "a"
    assert cli.main(["train", "--config", str(toml), "--epochs", "2", "--quiet", "--out",
                     str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert (saved["hidden"], saved["lr"], saved["optimizer"], saved["epochs"]) == (
        [12, 6], 0.02, "momentum", 2)
    again = tmp_path / "b"  # a run's own config.json reproduces it
    assert cli.main(["train", "--config", str(out / "config.json"), "--quiet", "--out",
                     str(again)]) == 0
    assert json.loads((again / "config.json").read_text()) == saved
    assert (json.loads((again / "results.json").read_text())["final"]
            == json.loads((out / "results.json").read_text())["final"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"lr": 0.1, "hiden": [3]}')
    assert cli.main(["train", "--config", str(bad)]) == 2
    assert "--config" in (err := capsys.readouterr().err) and "unknown settings hiden" in err
    bad.write_text("hidden = [")
    assert cli.main(["train", "--config", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_model_cnn_trains_convolutions_before_the_dense_layers(tmp_path, capsys):
    out = tmp_path / "cnn"
    assert cli.main(["train", *FAST, "--model", "cnn", "--hidden", "16", "--out", str(out)]) == 0
    assert "model: CNN conv32 - pool - conv64 - pool, dense" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["architecture"] == "cnn"
    kernels = [layer["w"].shape for layer in _dense_params(out)]
    # digits are 8x8x1: conv 3x3 1->32, pool to 4x4, conv 32->64, pool to 2x2, dense 256->16->10
    assert kernels == [(3, 3, 1, 32), (3, 3, 32, 64), (256, 16), (16, 10)]
    with pytest.raises(ValueError, match="architecture"):
        recipes.TrainConfig(architecture="resnet")
