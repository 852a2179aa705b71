"""Saved runs (issue 18): `jaxdl.load_run(DIR)` and `jaxdl predict/evaluate DIR` reload the
model, params and preprocessing of `jaxdl train --out DIR`."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import jaxdl
from jaxdl import checkpoint, cli, data, recipes, runs

FAST = ["--epochs", "2", "--hidden", "16", "--lr", "0.01", "--quiet"]
ROOT = Path(__file__).parents[1]


@pytest.fixture(autouse=True)
def no_user_cache(monkeypatch):
    monkeypatch.setenv("JAXDL_COMPILATION_CACHE", "0")


def raw_splits(config):
    return recipes.load_data(recipes.TrainConfig(**{**config.__dict__, "preprocess": "none"}))


@pytest.mark.parametrize("extra", [[], ["--early-stopping", "1", "--epochs", "4",
                                        "--preprocess", "standardize"]])
def test_load_run_predicts_raw_inputs_as_the_run_evaluated_them(tmp_path, extra):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, *extra, "--out", str(out)]) == 0
    run = jaxdl.load_run(out)
    raw = raw_splits(run.config)
    # the saved statistics are those of the raw training inputs
    mean = np.asarray(run.preprocessing.mean)
    np.testing.assert_allclose(mean, raw.train.x.mean(axis=0), atol=1e-6)
    # by hand from the checkpoint: the params fit returned, on preprocessed test inputs
    tree = checkpoint.restore(out / "checkpoint.npz").tree
    chosen = tree["best"] if extra else tree["state"]
    x = data.PREPROCESSORS[run.config.preprocess].apply(run.preprocessing, raw.test.x)
    logits = run.model.apply(chosen.params, chosen.model_state, x, train=False)[0]
    np.testing.assert_array_equal(run.predict(raw.test.x), np.argmax(logits, -1))
    results = json.loads((out / "results.json").read_text())
    accuracy = float(np.mean(run.predict(raw.test.x) == raw.test.y))
    assert accuracy == pytest.approx(results["final"]["test"]["accuracy"], abs=1e-6)
    assert run.evaluate(raw.dev.x, raw.dev.y)["accuracy"] == pytest.approx(
        results["final"]["dev"]["accuracy"], abs=1e-6)
    assert run.classes == tuple(str(d) for d in range(10))
    with pytest.raises(ValueError, match=r"inputs must have shape \(N, 8, 8, 1\)"):
        run.predict(raw.test.x.reshape(len(raw.test.x), -1))


def test_a_run_without_preprocessing_npz_refits_the_same_statistics(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--epochs", "1", "--out", str(out)]) == 0
    saved = jaxdl.load_run(out)
    (out / runs.PREPROCESSING_FILE).unlink()  # a run written before the file existed
    refitted = jaxdl.load_run(out)
    np.testing.assert_array_equal(refitted.preprocessing.mean, saved.preprocessing.mean)
    raw = raw_splits(saved.config)
    np.testing.assert_array_equal(refitted.predict(raw.test.x), saved.predict(raw.test.x))


@pytest.mark.slow  # three fresh Python processes importing JAX
def test_predict_and_evaluate_in_a_fresh_process(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 0
    run = jaxdl.load_run(out)
    raw = raw_splits(run.config)
    np.save(tmp_path / "x.npy", raw.test.x[:7])
    np.savez(tmp_path / "xy.npz", x=raw.test.x, y=raw.test.y)
    expected = run.predict(raw.test.x)
    env = {**os.environ, "JAXDL_COMPILATION_CACHE": "0"}
    script = textwrap.dedent(f"""
        import numpy as np, jaxdl
        run = jaxdl.load_run({str(out)!r})
        print(" ".join(map(str, run.predict(np.load({str(tmp_path / "x.npy")!r})))))
    """)
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           cwd=str(ROOT), env=env, timeout=120)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert fresh.stdout.split() == [str(c) for c in expected[:7]]
    command = subprocess.run([sys.executable, "-m", "jaxdl", "predict", str(out), "--data",
                              str(tmp_path / "x.npy")], capture_output=True, text=True,
                             cwd=str(ROOT), env=env, timeout=120)
    assert command.returncode == 0, command.stderr[-2000:]
    assert command.stdout.split() == [run.classes[c] for c in expected[:7]]
    evaluated = subprocess.run([sys.executable, "-m", "jaxdl", "evaluate", str(out)],
                               capture_output=True, text=True, cwd=str(ROOT), env=env,
                               timeout=120)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    test_line = next(line for line in evaluated.stdout.splitlines()
                     if line.startswith("test:"))
    assert f"accuracy {results['final']['test']['accuracy']:.4f}" in test_line


def test_cli_predict_and_evaluate_with_data_files(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--epochs", "1", "--out", str(out)]) == 0
    run = jaxdl.load_run(out)
    raw = raw_splits(run.config)
    np.savez(tmp_path / "xy.npz", x=raw.dev.x, y=raw.dev.y)
    capsys.readouterr()
    assert cli.main(["predict", str(out), "--data", str(tmp_path / "xy.npz"), "--out",
                     str(tmp_path / "classes.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "classes.npy"), run.predict(raw.dev.x))
    assert cli.main(["evaluate", str(out), "--data", str(tmp_path / "xy.npz")]) == 0
    expected = run.evaluate(raw.dev.x, raw.dev.y)["accuracy"]
    assert f"accuracy {expected:.4f}  ({len(raw.dev.x)} examples)" in capsys.readouterr().out
    np.save(tmp_path / "x.npy", raw.dev.x)
    assert cli.main(["evaluate", str(out), "--data", str(tmp_path / "x.npy")]) == 2
    assert "has no labels y" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err

