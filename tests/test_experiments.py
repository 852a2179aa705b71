"""The experiment registry: protocol, staging, index, CLI; and the ported experiments (quick)."""

import json
import zlib

import jax
import numpy as np
import pytest

from jaxdl import cli, experiments
from jaxdl.experiments import registry
from tests.experiment_runs import run_quick


def _fake(name, status="reproduced", fail=False):
    def run(key, *, quick, out, data_dir=None):
        (out / f"{name}.md").write_text("# table\n")
        (out / f"{name}.json").write_text(json.dumps({"value": 1.5}))
        if fail:
            raise RuntimeError("boom")
        return registry.Verdict(status, "1.0", "1.5", "measured 1.5", {"value": 1.5,
                                                                       "key": jax.random.key_data(key)})
    return registry.Experiment(name=name, claim=f"claim of {name}", source="003", run=run,
                               minutes=0.1, quick_seconds=1)


def test_every_registered_module_defines_its_experiment_under_its_own_name():
    found = experiments.all_experiments()
    assert list(found) == [m for m in registry.MODULES]
    for e in found.values():
        assert e.claim and e.source and e.minutes > 0 and e.quick_seconds > 0


def test_run_experiment_records_verdict_and_results_and_a_stable_key(tmp_path):
    outcome = experiments.run_experiment(_fake("demo"), jax.random.key(3), quick=True, out=tmp_path)
    record = json.loads((tmp_path / "demo.json").read_text())
    assert record["verdict"]["status"] == "reproduced" and record["results"] == {"value": 1.5}
    assert record["quick"] is True and record["claim"] == "claim of demo"
    expected = jax.random.key_data(jax.random.fold_in(jax.random.key(3),
                                                      zlib.crc32(b"demo") & 0x7FFFFFFF))
    assert record["verdict"]["numbers"]["key"] == expected.tolist()
    assert {p.name for p in outcome.files} == {"demo.md", "demo.json"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.json", "demo.md"]  # no staging left


def test_a_failed_rerun_keeps_the_previous_results(tmp_path):
    experiments.run_experiment(_fake("demo"), jax.random.key(0), quick=False, out=tmp_path)
    before = (tmp_path / "demo.json").read_text()
    with pytest.raises(RuntimeError, match="boom"):
        experiments.run_experiment(_fake("demo", fail=True), jax.random.key(0), quick=True,
                                   out=tmp_path)
    assert (tmp_path / "demo.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.json", "demo.md"]


def test_a_bad_status_is_refused(tmp_path):
    with pytest.raises(TypeError, match="status"):
        experiments.run_experiment(_fake("demo", status="maybe"), jax.random.key(0),
                                   quick=True, out=tmp_path)


def test_index_has_one_row_per_recorded_experiment(tmp_path):
    for name, status in (("a", "reproduced"), ("b", "skipped")):
        experiments.run_experiment(_fake(name, status), jax.random.key(0), quick=True, out=tmp_path)
    (tmp_path / "other.json").write_text("[1, 2]")  # not an experiment record: ignored
    text = experiments.write_index(tmp_path).read_text()
    rows = [line for line in text.splitlines() if line.startswith("| a ") or line.startswith("| b ")]
    assert len(rows) == 2 and "reproduced" in rows[0] and "skipped" in rows[1]
    assert "[md](a.md)" in rows[0] and "[png]" not in rows[0]
    assert "| 1.5 |" in rows[0] and "| measured 1.5 |" in rows[1]  # skipped: its reason


def test_cli_lists_and_refuses_unknown_names(capsys):
    assert cli.main(["experiments", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(f"| {name} |" in listed for name in experiments.all_experiments())
    assert cli.main(["experiments", "no_such_thing"]) == 2
    assert "unknown experiment(s) no_such_thing" in capsys.readouterr().err
    assert cli.main(["experiments"]) == 2
    assert cli.main(["experiments", "--all", "activation_statistics"]) == 2


def test_activation_statistics_quick_shows_every_effect(tmp_path):
    assert cli.main(["experiments", "activation_statistics", "--quick", "--quiet",
                     "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "activation_statistics.json").read_text())
    std = list(record["verdict"]["numbers"]["layer10_std"].values())
    small, large, xavier_tanh, xavier_relu, he_relu = std
    assert small < 1e-5 and large > 0.95 and 0.15 < xavier_tanh < 0.32
    assert xavier_relu < 0.1 < 0.5 < he_relu < 1.5
    assert (tmp_path / "activation_statistics.png").stat().st_size > 10_000
    assert "| activation_statistics |" in (tmp_path / "README.md").read_text()


def test_ensembles_quick_the_vote_beats_the_mean_member_and_the_oracle_is_labelled(tmp_path):
    v = run_quick("ensembles", tmp_path)
    acc = v.numbers["accuracy"]["digits"]
    assert v.reproduced and 0 < v.numbers["gains"]["digits"] <= 0.05
    assert acc["mean_prob"] > acc["mean_member"] and len(acc["members"]) == 6
    assert "oracle: best member on test (not a selection)" in (tmp_path / "ensembles.md").read_text()


def test_next_batch_order_is_a_permutation_per_epoch_running_on_across_epochs():
    from jaxdl.experiments.mnist_course_recipe import next_batch_indices
    order = np.asarray(next_batch_indices(jax.random.key(1), 10, 4, 6))  # 24 = 2.4 epochs
    flat = order.ravel()
    assert order.shape == (6, 4)
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    assert not (flat[:10] == flat[10:20]).all()  # reshuffled each epoch


def test_mnist_course_recipe_quick_runs_the_tf1_program(tmp_path):
    v = run_quick("mnist_course_recipe", tmp_path)
    assert v.reproduced and v.numbers["first_epoch_is_a_permutation"]
    assert abs(v.numbers["init_std_ratio"] - 0.8796) < 0.01  # TF1: truncated, not rescaled
    assert v.numbers["mean"] > 0.9 and len(v.numbers["test_accuracy"]) == 2


def test_semi_supervised_quick_confident_pseudo_labels_are_more_accurate_and_help(tmp_path):
    v = run_quick("semi_supervised", tmp_path)
    n = v.numbers
    assert v.reproduced and n["dev_gain"] > 0 and n["kept"] > 0
    assert n["pseudo_accuracy"] > n["pool_accuracy"]


def test_cifar10_fc_without_files_is_skipped_saying_where_to_put_them(tmp_path):
    v = experiments.get("cifar10_fc").run(jax.random.key(0), quick=False, out=tmp_path,
                                          data_dir=tmp_path)
    assert v.status == "skipped" and "cifar-10-python.tar.gz" in v.summary
    assert str(tmp_path / "cifar10") in v.summary


def test_cifar10_fc_quick_runs_both_recipes_on_generated_images(tmp_path):
    v = run_quick("cifar10_fc", tmp_path)
    assert v.reproduced and v.numbers["tutorial_test_accuracy"] > 0.5
    assert "| trial | lr | reg | val acc |" in (tmp_path / "cifar10_fc.md").read_text()


def test_mnist_cnn_quick_learns_stripes_in_one_ensemble_call(tmp_path):
    v = run_quick("mnist_cnn", tmp_path)
    assert v.reproduced and v.numbers["mean"] > 0.95 and len(v.numbers["test_accuracy"]) == 2


def test_sequence_gru_quick_reads_order_where_the_bag_of_embeddings_cannot(tmp_path):
    v = run_quick("sequence_gru", tmp_path)
    assert v.reproduced and v.numbers["gru"] > 0.85 and v.numbers["baseline"] < 0.6
