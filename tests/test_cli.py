"""The `jaxdl` command: train, outputs, resume, and one-line errors for bad options."""

import json
import subprocess
import sys

import pytest

from jaxdl import cli

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
    assert cli.main(["train", "--resume", str(out), "--lr", "0.1"]) == 2
    assert "only --epochs may change (got lr)" in capsys.readouterr().err


@pytest.mark.parametrize("option, message", [
    (["--lr", "-1"], "lr must be in (0, inf), got -1.0"),
    (["--dropout", "1.5"], "keep_prob must be in (0, 1], got 1.5"),
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
