"""The `jaxdl` command when things go wrong: signals, unusable or busy run directories,
existing runs, broken run files, runs without a completed epoch, diverged ensembles.
Each case ends with one line on stderr and a documented exit status, and loses nothing."""

import errno
import fcntl
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from jaxdl import cli

LOCK = ".jaxdl.lock"  # cli.LOCK_FILE
FAST = ["--epochs", "2", "--hidden", "16", "--lr", "0.01", "--quiet"]
MEMBERS = ["--epochs", "2", "--hidden", "16", "--quiet", "--strategy", "vmap"]


@pytest.fixture(autouse=True)
def no_user_cache(monkeypatch):
    monkeypatch.setenv("JAXDL_COMPILATION_CACHE", "0")  # keep the test session's cache


def one_line(err: str, *parts: str) -> None:
    """`err` is one line (no traceback) holding every one of `parts`."""
    assert "Traceback" not in err and err.count("\n") == 1, err
    for part in parts:
        assert part in err, err


def listing(path: Path) -> dict:
    """The files of `path` (but the lock file, which holds the last user's pid)."""
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())
            if p.is_file() and p.name != LOCK}


# ----------------------------------------------------------------------------- signals


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_after_the_first_epoch_exits_130_with_the_resume_command(sig, tmp_path,
                                                                         capsys):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "jaxdl", "train", "--epochs", "100000", "--hidden", "8",
               "--quiet", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.npz").exists():  # written after each epoch
            assert process.poll() is None and time.monotonic() < deadline, process.poll()
            time.sleep(0.05)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait(timeout=10)
    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert f"jaxdl train: interrupted by {sig.name} after epoch " in last, stderr
    assert f"continue with: jaxdl train --resume {out} --epochs 100000" in last
    assert "Traceback" not in stderr
    done = json.loads((out / "history.json").read_text())["epoch"]
    assert done and done == list(range(1, len(done) + 1))
    assert json.loads((out / "results.json").read_text())["stopped"] == "interrupted"
    assert f"after epoch {done[-1]} of 100000" in last
    # the printed command continues the run (here up to one more epoch)
    assert cli.main(["train", "--resume", str(out), "--epochs", str(done[-1] + 1),
                     "--quiet"]) == 0
    assert json.loads((out / "history.json").read_text())["epoch"] == [*done, done[-1] + 1]


def test_an_interrupt_swallowed_by_a_gc_callback_still_stops_the_run(tmp_path, monkeypatch,
                                                                     capsys):
    """JAX registers a gc callback; a Ctrl-C whose handler runs inside it raises there,
    and Python only prints "Exception ignored" and carries on (the run completed with exit
    status 0). The CLI delivers it again."""
    from jaxdl import train
    fit, raised = train.fit, []

    def callback(phase, info):
        if not raised:  # what the SIGINT handler does when it runs inside a gc callback
            raised.append(phase)
            raise KeyboardInterrupt

    def fit_after_a_swallowed_interrupt(*args, **kwargs):
        gc.callbacks.append(callback)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(callback)
        return fit(*args, **kwargs)
    monkeypatch.setattr(train, "fit", fit_after_a_swallowed_interrupt)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert cli.main(["train", *FAST, "--out", str(tmp_path / "run")]) == 130
    assert raised
    err = capsys.readouterr().err
    assert err.strip().endswith("jaxdl train: interrupted by SIGINT before the first epoch "
                                f"ended; nothing was trained or written to {tmp_path / 'run'}")
    assert "Exception ignored" not in err and "Traceback" not in err
    assert not (tmp_path / "run" / "config.json").exists()  # a fresh start is possible
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_an_interrupt_during_training_without_out_exits_130(monkeypatch, capsys):
    from jaxdl import train
    fit = train.fit

    def interrupt(epoch, state, metrics):
        if epoch == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(train, "fit", lambda *a, callbacks=(), **k: fit(
        *a, callbacks=[*callbacks, interrupt], **k))
    assert cli.main(["train", *FAST, "--epochs", "5"]) == 130
    err = capsys.readouterr().err
    assert err.strip().endswith("jaxdl train: interrupted after epoch 1 of 5; nothing was "
                                "saved (give --out DIR to make a run resumable)")


# ----------------------------------------------------------------------------- --out


@pytest.mark.parametrize("target, message", [
    ("file", "--out {p} is a file; give a directory"),
    ("file/run", "--out {p}: cannot create the directory (not a directory)"),
])
def test_an_out_that_is_no_directory_is_refused_before_training(target, message, tmp_path,
                                                                capsys):
    (tmp_path / "file").write_text("mine")
    path = tmp_path / target
    for command in (["train", *FAST], ["ensemble", *MEMBERS, "--members", "2"],
                    ["sweep", *MEMBERS, "--lr", "1e-3:1e-2:log", "--trials", "2"]):
        assert cli.main([*command, "--out", str(path)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""  # checked before the data is even loaded
        one_line(captured.err, message.format(p=path))
    assert (tmp_path / "file").read_text() == "mine"


def test_a_read_only_out_is_refused_before_training(tmp_path, monkeypatch, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    mkstemp = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own name
        if dir is not None and Path(dir) == out:
            raise PermissionError(errno.EACCES, "Permission denied", str(out))
        return mkstemp(*args, dir=dir, **kwargs)
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert cli.main(["train", *FAST, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line(captured.err, f"jaxdl train: error: --out {out} is not writable (permission "
                           "denied); give a directory you can write to")
    assert list(out.iterdir()) == []


def test_a_full_disk_is_found_before_training(tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "run"
    assert cli.main(["ensemble", *MEMBERS, "--members", "2", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line(captured.err, f"jaxdl ensemble: error: --out {out} is not writable (no space "
                           "left on the device); free some space or give another directory")
    assert list(out.iterdir()) == []  # no probe or temporary file left


def test_a_disk_that_fills_while_writing_outputs_leaves_no_partial_file(tmp_path,
                                                                       monkeypatch, capsys):
    fsync, out = os.fsync, tmp_path / "run"

    def full_for_history(fd):
        if "history.json" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return fsync(fd)
    monkeypatch.setattr(os, "fsync", full_for_history)
    assert cli.main(["train", *FAST, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    one_line(err, f"jaxdl train: error: could not write {out}/history.json (no space left on "
                  f"the device); the checkpoint in {out} is intact: fix that, then "
                  f"`jaxdl train --resume {out} --epochs 2` writes the outputs again")
    assert sorted(p.name for p in out.iterdir()) == [".jaxdl.lock", "checkpoint.npz",
                                                     "config.json", "preprocessing.npz"]
    monkeypatch.setattr(os, "fsync", fsync)  # space freed: the printed command finishes
    assert cli.main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 0
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2]


# ----------------------------------------------------------------------------- run files


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs (fit's handlers do not catch it)."""


def test_config_json_is_written_first_so_a_killed_run_resumes(tmp_path, monkeypatch):
    from jaxdl import train
    fit, out = train.fit, tmp_path / "run"

    def kill(epoch, state, metrics):
        assert json.loads((out / "config.json").read_text())["hidden"] == [16]
        if epoch == 2:  # epoch 1's checkpoint is saved, epoch 2's is not
            raise Killed
    monkeypatch.setattr(train, "fit", lambda *a, callbacks=(), **k: fit(
        *a, callbacks=[*callbacks, kill], **k))
    with pytest.raises(Killed):
        cli.main(["train", *FAST, "--epochs", "3", "--checkpoint-every", "1", "--out",
                  str(out)])
    assert not (out / "history.json").exists()
    monkeypatch.setattr(train, "fit", fit)
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 0
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2, 3]


def test_an_existing_run_is_not_overwritten_without_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 0
    before = listing(out)
    capsys.readouterr()
    assert cli.main(["train", *FAST, "--epochs", "1", "--out", str(out)]) == 2
    one_line(capsys.readouterr().err,
             f"jaxdl train: error: {out} already holds a run (config.json, checkpoint.npz); "
             f"continue it with `jaxdl train --resume {out}`, give another --out, or pass "
             "--overwrite to replace it")
    assert listing(out) == before
    (out / "mine.txt").write_text("kept")
    assert cli.main(["train", *FAST, "--epochs", "1", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "history.json").read_text())["epoch"] == [1]
    assert (out / "mine.txt").read_text() == "kept"  # --overwrite removes only run files


def test_member_outputs_are_not_overwritten_without_overwrite(tmp_path, capsys):
    out = tmp_path / "ens"
    out.mkdir()
    (out / "ensemble.json").write_text("{}")
    assert cli.main(["ensemble", *MEMBERS, "--members", "2", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line(captured.err, f"{out} already holds ensemble outputs (ensemble.json); give "
                           "another --out, or pass --overwrite to replace them")
    assert (out / "ensemble.json").read_text() == "{}"


def hold_lock(directory: Path, pid: int):
    """Lock `directory` as another jaxdl process would (flock conflicts between two open
    descriptions of the file, also in one process)."""
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, f"{pid}\n".encode())
    return fd


def test_a_directory_in_use_by_another_process_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 0
    before = listing(out)
    capsys.readouterr()
    fd = hold_lock(out, 4242)
    try:
        for command in (["train", *FAST, "--out", str(out), "--overwrite"],
                        ["train", "--resume", str(out), "--epochs", "3"],
                        ["sweep", *MEMBERS, "--lr", "1e-3:1e-2", "--out", str(out)]):
            assert cli.main(command) == 2
            captured = capsys.readouterr()
            assert captured.out == ""
            one_line(captured.err, f"error: {out} is in use by another jaxdl process "
                                   "(pid 4242); wait for it to end or give another directory")
    finally:
        os.close(fd)
    assert listing(out) == before
    assert cli.main(["train", "--resume", str(out), "--epochs", "3", "--quiet"]) == 0


@pytest.mark.parametrize("case, message", [
    ("no checkpoint", "{d} has no checkpoint.npz to resume from (the run stopped before "
                      "saving its first epoch); start it again with `jaxdl train --out {d} "
                      "--overwrite`"),
    ("checkpoint dir", "{d}/checkpoint.npz is not a file (a directory?), not a jaxdl "
                       "checkpoint"),
    ("empty config", "{d}/config.json is empty: not a jaxdl config file"),
    ("garbage config", "{d}/config.json is not valid JSON (Expecting value: line 1 column 1 "
                       "(char 0)): not a jaxdl config file"),
    ("list config", "{d}/config.json holds a JSON list, not a jaxdl config"),
    ("bad value", "{d}/config.json: config: lr must be in (0, inf), got -1"),
    ("a file", "--resume {d} is a file; give the directory of a run"),
])
def test_a_broken_run_directory_is_not_resumed(case, message, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(cli.TrainConfig(hidden=(16,)).to_json()))
    if case == "checkpoint dir":
        (run / "checkpoint.npz").mkdir()
    elif case.endswith("config"):
        (run / "config.json").write_text({"empty config": "", "garbage config": "garbage",
                                          "list config": "[1, 2]"}[case])
        (run / "checkpoint.npz").write_bytes(b"unused")
    elif case == "bad value":
        (run / "config.json").write_text('{"lr": -1}')
    elif case == "a file":
        run = tmp_path / "file"
        run.write_text("")
    before = listing(run) if run.is_dir() else None
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before training, not trained from scratch
    one_line(captured.err, message.format(d=run))
    assert (listing(run) if run.is_dir() else None) == before


def test_resume_with_another_out_is_refused(tmp_path, capsys):
    run, other = tmp_path / "run", tmp_path / "other"
    assert cli.main(["train", *FAST, "--out", str(run)]) == 0
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run), "--out", str(other)]) == 2
    one_line(capsys.readouterr().err, f"--resume {run} continues the run in {run} and writes "
                                      f"there; drop --out {other}")
    assert not other.exists()


# ----------------------------------------------------------------------------- no epoch


@pytest.mark.parametrize("extra", [[], ["--diagnostics"]], ids=["plain", "diagnostics"])
def test_a_run_diverging_in_epoch_1_writes_its_files_and_exits_1(extra, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--lr", "1e6", "--out", str(out), *extra]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "jaxdl: no epoch completed; skipped training.png" in captured.err
    assert "trained 0 epochs" in captured.out and "(exploding;" in captured.out
    # FAST has --quiet: the advice is kept all the same
    assert "exceeds 3x the initial loss" in captured.err
    assert "Lower the learning rate" in captured.err
    assert json.loads((out / "history.json").read_text()) == {}
    assert json.loads((out / "results.json").read_text())["stopped"] == "exploding"
    assert not (out / "training.png").exists()
    # resuming the stopped run trains nothing and says so again
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_plots_of_an_empty_history_are_empty_figures(tmp_path):
    from jaxdl import plots
    fig = plots.training_curves({}, tmp_path / "t.png")
    assert [t.get_text() for ax in fig.axes for t in ax.texts] == ["no completed epoch"] * 2
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    fig = plots.layer_curves({}, "grad_norm", tmp_path / "g.png")
    assert [t.get_text() for t in fig.axes[0].texts] == ["no completed epoch"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "t.png"]  # no temp file


# ----------------------------------------------------------------------------- members


@pytest.mark.parametrize("command", [
    ["ensemble", "--members", "2", "--lr", "1e6"],
    ["sweep", "--lr", "1e5:1e6:log", "--trials", "2"],
], ids=["ensemble", "sweep"])
def test_every_member_diverging_exits_1(command, capsys):
    assert cli.main([*command, *MEMBERS]) == 1
    label = "member" if command[0] == "ensemble" else "trial"
    assert capsys.readouterr().err.strip().endswith(
        f"jaxdl {command[0]}: every {label} diverged (nan/exploding); lower --lr or add "
        "--clip-norm")


def interrupt_at_the_first_recorded_epoch(monkeypatch):
    """The progress bar's first update (epoch 1 is recorded) raises KeyboardInterrupt, as a
    Ctrl-C during epoch 2 would."""
    from jaxdl import train
    progress_bar = train._progress_bar

    def bar(*args, **kwargs):
        real, calls = progress_bar(*args, **kwargs), []

        class Bar:
            def update(self, n=1):
                calls.append(n)
                if len(calls) == 1:
                    raise KeyboardInterrupt
                return real.update(n)

            def __getattr__(self, name):
                return getattr(real, name)
        return Bar()
    monkeypatch.setattr(train, "_progress_bar", bar)


@pytest.mark.parametrize("command, name, label", [
    (["ensemble", "--members", "2"], "ensemble", "member"),
    (["sweep", "--lr", "1e-3:1e-2:log", "--trials", "2"], "sweep", "trial"),
], ids=["ensemble", "sweep"])
def test_an_interrupted_ensemble_writes_what_was_trained_and_exits_130(
        command, name, label, tmp_path, monkeypatch, capsys):
    interrupt_at_the_first_recorded_epoch(monkeypatch)
    out = tmp_path / "out"
    assert cli.main([*command, *MEMBERS, "--epochs", "50", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().endswith(f"jaxdl {name}: interrupted; kept the 2 {label}s trained so "
                                "far (at their last finished epoch)")
    table = json.loads((out / f"{name}.json").read_text())["table"]
    assert [row["stopped"] for row in table] == ["interrupted"] * 2
    assert (out / f"{name}.md").is_file()


def test_an_ensemble_interrupted_before_its_first_epoch_writes_nothing(tmp_path, monkeypatch,
                                                                       capsys):
    from jaxdl import ensemble

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # what ensemble.fit raises when no epoch finished
    monkeypatch.setattr(ensemble, "fit", interrupted)
    out = tmp_path / "out"
    assert cli.main(["ensemble", *MEMBERS, "--members", "2", "--out", str(out)]) == 130
    one_line(capsys.readouterr().err, "jaxdl ensemble: interrupted before the first epoch "
                                      "ended; nothing was trained or written")
    assert sorted(p.name for p in out.iterdir()) == [".jaxdl.lock"]


def test_data_download_without_a_network_is_one_line(tmp_path, monkeypatch, capsys):
    from urllib.error import URLError

    from jaxdl.data import fetch

    def offline(url, timeout=None):
        raise URLError("[Errno -2] Name or service not known")
    monkeypatch.setattr(fetch, "urlopen", offline)
    assert cli.main(["data", "download", "mnist", "--data-dir", str(tmp_path), "--quiet"]) == 2
    one_line(capsys.readouterr().err, "jaxdl data: error: could not download",
             "Name or service not known")
    assert cli.main(["data", "download", "mnist", "--dir", str(tmp_path), "--quiet"]) == 2
    assert "could not download" in capsys.readouterr().err  # the old option name still works
