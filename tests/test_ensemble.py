"""Ensembles and sweeps: member = solo run, guards, early stopping, voting, devices, CLI."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import cli, data, ensemble, initializers, losses, nn, optim, regularizers, train

KEY = jax.random.key(0)
MODEL = nn.serial(nn.dense(16), nn.relu, nn.dropout(0.9), nn.dense(3))
OPT = optim.adam(1e-2)
LOSS = losses.softmax_cross_entropy
ROOT = Path(__file__).parents[1]


def ens_fit(splits, **kwargs):
    options = dict(key=KEY, members=3, epochs=3, batch_size=16, verbose=False)
    options.update(kwargs)
    return ensemble.fit(options.pop("model", MODEL), options.pop("opt", OPT), LOSS, splits,
                        **options)


def solo_fit(splits, key, **kwargs):
    options = dict(epochs=3, batch_size=16, verbose=False)
    options.update(kwargs)
    return train.fit(options.pop("model", MODEL), options.pop("opt", OPT), LOSS, splits,
                     key=key, **options)


def member(tree, i):
    return jax.tree.map(lambda a: a[i], tree)


def max_diff(a, b) -> float:
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in
               zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def make_opt(hp):  # module level: one compiled sweep program shared by the tests
    return optim.adam(hp["lr"])


# ----------------------------------------------------------------------------- members


@pytest.mark.parity  # ensemble members vs solo runs: different programs
def test_member_i_equals_a_solo_fit_with_key_fold_in_i(blob_splits):
    ens = ens_fit(blob_splits, epochs=7)  # 7 epochs x 8 steps = 56 steps, with dropout
    assert int(ens.state.step[0]) == 56
    for i in range(3):
        solo = solo_fit(blob_splits, jax.random.fold_in(KEY, i), epochs=7)
        assert max_diff(member(ens.params, i), solo.params) < 1e-5
        assert ens.table[i]["best_epoch"] == solo.best_epoch
        assert ens.final["test"]["accuracy"][i] == pytest.approx(
            solo.final["test"]["accuracy"], abs=1e-6)
        np.testing.assert_allclose(ens.history["dev_accuracy"][:, i],
                                   solo.history["dev_accuracy"], atol=1e-6)
    assert max_diff(member(ens.params, 0), member(ens.params, 1)) > 1e-3  # members differ


@pytest.mark.parity  # ensemble members vs solo runs: different programs
def test_batchnorm_members_keep_their_own_running_statistics(blob_splits):
    model = nn.serial(nn.dense(8), nn.batchnorm(), nn.relu, nn.dense(3))
    ens = ens_fit(blob_splits, model=model, members=2, epochs=2)
    for i in range(2):
        solo = solo_fit(blob_splits, jax.random.fold_in(KEY, i), model=model, epochs=2)
        assert max_diff(member(ens.model_state, i), solo.model_state) < 1e-5
    assert max_diff(member(ens.model_state, 0), member(ens.model_state, 1)) > 1e-4


@pytest.mark.parity
@pytest.mark.parametrize("strategy", ["vmap", "sequential"])
def test_batchnorm_adam_members_agree_with_solo_runs_to_rounding(strategy):
    """The README's claim, measured on digits (MLP 64-128(bn)-64-10, Adam 1e-3, 10 epochs):
    vmapped members equal their solo runs bit for bit on one CPU, while one member per
    program ("sequential") rounds batch norm's reductions differently and Adam amplifies it
    to ~1e-2 in the params (SSE4_2 and AVX2 alike) with the same test accuracy. The
    tolerance here holds on any ISA: params to 5e-2, dev accuracy to one example."""
    splits = data.split(data.load("digits"), (0.8, 0.1, 0.1), key=KEY)
    model = nn.serial(nn.flatten, nn.dense(128), nn.batchnorm(), nn.relu, nn.dense(64),
                      nn.relu, nn.dense(10))
    opt = optim.adam(1e-3)
    ens = ens_fit(splits, model=model, opt=opt, members=2, epochs=4, batch_size=64,
                  strategy=strategy)
    for i in range(2):
        solo = solo_fit(splits, jax.random.fold_in(KEY, i), model=model, opt=opt, epochs=4,
                        batch_size=64)
        assert max_diff(member(ens.state.params, i), solo.state.params) < 5e-2
        np.testing.assert_allclose(ens.history["dev_accuracy"][:, i],
                                   solo.history["dev_accuracy"], atol=1.01 / len(splits.dev))


def test_same_order_shares_batches_and_bootstrap_resamples(blob_splits):
    model = nn.dense(3, w_init=initializers.zeros)  # every member starts identical
    own = ens_fit(blob_splits, model=model, members=2, epochs=1)
    same = ens_fit(blob_splits, model=model, members=2, epochs=1, same_order=True)
    boot = ens_fit(blob_splits, model=model, members=2, epochs=1, bootstrap=True)
    assert max_diff(member(same.params, 0), member(same.params, 1)) == 0.0
    assert max_diff(member(own.params, 0), member(own.params, 1)) > 1e-4
    # bootstrap member 1 = a solo fit on its resample (rows drawn with fold_in(., BOOTSTRAP))
    member_key = jax.random.fold_in(KEY, 1)
    n = len(blob_splits.train)
    rows = np.asarray(jax.random.randint(jax.random.fold_in(member_key, ensemble.BOOTSTRAP),
                                         (n,), 0, n))
    assert len(np.unique(rows)) < 0.8 * n  # with replacement: about 63% distinct
    resampled = data.Splits(blob_splits.train.take(rows), blob_splits.dev, blob_splits.test)
    solo = solo_fit(resampled, member_key, model=model, epochs=1)
    assert max_diff(member(boot.params, 1), solo.params) < 1e-5


@pytest.mark.parity  # ensemble members vs solo runs: different programs
def test_per_member_early_stopping_matches_solo_runs(blob_splits):
    stopper = train.EarlyStopping(patience=2, min_delta=0.02)
    ens = ens_fit(blob_splits, members=3, epochs=12, early_stopping=stopper)
    for i in range(3):
        solo = solo_fit(blob_splits, jax.random.fold_in(KEY, i), epochs=12,
                        early_stopping=stopper)
        row = ens.table[i]
        assert (row["stopped"], row["best_epoch"]) == (solo.stopped, solo.best_epoch)
        assert row["epochs"] == len(solo.history["epoch"])
        assert max_diff(member(ens.params, i), solo.params) < 1e-5  # best-epoch params
    assert {row["stopped"] for row in ens.table} == {"early_stopping"}
    stopped_at = [row["epochs"] for row in ens.table]
    for i, epochs in enumerate(stopped_at):  # masked: NaN in the history after stopping
        assert np.all(np.isnan(ens.history["train_loss"][epochs:, i]))


def test_a_diverging_trial_is_marked_and_does_not_poison_the_others(blob_splits):
    both = ensemble.sweep(MODEL, make_opt, LOSS, blob_splits, hparams={"lr": [1e-2, 1e4]},
                          key=KEY, epochs=3, batch_size=16, verbose=False)
    alone = ensemble.sweep(MODEL, make_opt, LOSS, blob_splits, hparams={"lr": [1e-2, 2e-2]},
                           key=KEY, epochs=3, batch_size=16, verbose=False)
    assert both.table[0]["stopped"] == "completed"
    assert both.table[1]["stopped"] in ("nan", "exploding")
    assert both.table[1]["epochs"] < 3
    assert all(np.all(np.isfinite(leaf[1])) for leaf in jax.tree.leaves(both.params))
    assert max_diff(member(both.params, 0), member(alone.params, 0)) < 1e-6
    assert both.best_index == 0 and both.best is both.table[0]


# ----------------------------------------------------------------------------- sweeps


def test_trials_grid_and_zip_crossed_with_seeds():
    hp, seeds = ensemble.trials({"lr": [0.1, 0.2], "l2": [1.0, 2.0, 3.0]}, seeds=2)
    assert len(seeds) == 12 and seeds.tolist() == [0, 1] * 6
    assert hp["lr"].tolist() == [0.1] * 6 + [0.2] * 6
    assert hp["l2"].tolist()[:6] == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    hp, seeds = ensemble.trials({"lr": [0.1, 0.2], "l2": [1.0, 2.0]}, seeds=[5],
                                combine="zip")
    assert hp["lr"].tolist() == [0.1, 0.2] and hp["l2"].tolist() == [1.0, 2.0]
    assert seeds.tolist() == [5, 5]


@pytest.mark.parity  # ensemble members vs solo runs: different programs
def test_sweep_trials_equal_runs_with_those_values_and_new_values_do_not_recompile(
        blob_splits):
    traced = []

    def opt_of(hp):
        if isinstance(hp["lr"], jax.core.Tracer):
            traced.append(1)
        return optim.momentum(hp["lr"], hp["mu"])

    def reg_of(hp):
        return regularizers.l2(hp["l2"])

    def run(lrs):
        return ensemble.sweep(MODEL, opt_of, LOSS, blob_splits,
                              hparams={"lr": lrs, "mu": [0.5, 0.9], "l2": [1e-3, 1e-2]},
                              combine="zip", seeds=[0, 2], key=KEY, epochs=2, batch_size=16,
                              regularizer=reg_of, verbose=False)

    first = run([0.05, 0.1])
    traces = len(traced)
    second = run([0.02, 0.2])
    assert traces > 0 and len(traced) == traces  # new values: same compiled program
    assert max_diff(first.params, second.params) > 1e-4
    # trial (lr=0.2, mu=0.9, l2=1e-2) with seed 2 is member 3
    assert [second.table[3][k] for k in ("lr", "mu", "l2", "seed")] == [0.2, 0.9, 0.01, 2]
    solo = solo_fit(blob_splits, jax.random.fold_in(KEY, 2), epochs=2,
                    opt=optim.momentum(0.2, 0.9), regularizer=regularizers.l2(1e-2))
    assert max_diff(member(second.params, 3), solo.params) < 1e-5


def test_static_hyperparameters_build_one_program_each(blob_splits):
    seen = []

    def model_of(hp):
        seen.append(hp["width"])
        return nn.serial(nn.dense(hp["width"]), nn.relu, nn.dense(3))

    for width in (4, 8):
        result = ensemble.sweep(model_of, make_opt, LOSS, blob_splits,
                                hparams={"lr": [1e-2]}, static={"width": width}, key=KEY,
                                epochs=1, batch_size=16, verbose=False)
        assert result.params[0]["w"].shape == (1, 4, width)
        assert result.table[0]["width"] == width
    assert set(seen) == {4, 8} and all(isinstance(w, int) for w in seen)


@pytest.mark.parity  # ensemble members vs solo runs: different programs
def test_chunks_groups_and_strategies_give_the_same_members(blob_splits):
    reference = ens_fit(blob_splits, members=5, epochs=2, chunk_size=5)
    for options in ({"chunk_size": 2}, {"members_per_call": 2, "chunk_size": 1},
                    {"strategy": "sequential"}, {"strategy": "devices"}):
        other = ens_fit(blob_splits, members=5, epochs=2, **options)
        assert max_diff(reference.params, other.params) < 1e-6, options
        np.testing.assert_allclose(reference.history["dev_loss"], other.history["dev_loss"],
                                   atol=1e-6)


def test_devices_strategy_on_eight_cpu_devices_equals_the_unsharded_run(blob_splits, tmp_path):
    script = textwrap.dedent("""
        import os
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
        import jax, numpy as np
        from jaxdl import data, ensemble
        from tests.conftest import blobs
        from tests.test_ensemble import ens_fit
        assert len(jax.devices()) == 8
        splits = data.Splits(blobs(120, seed=0), blobs(40, seed=1), blobs(40, seed=2))
        sharded = ens_fit(splits, members=10, epochs=2, strategy="devices")
        leaf = sharded.state.params[0]["w"]
        print(len(leaf.sharding.device_set))
        np.save(os.environ["OUT"], np.concatenate([np.ravel(l) for l in
                                                    jax.tree.leaves(sharded.params)]))
    """)
    target = tmp_path / "sharded_params.npy"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=str(ROOT), env={**os.environ, "OUT": str(target)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-1] == "8"  # 10 members padded to 16, two per device
    here = ens_fit(blob_splits, members=10, epochs=2)
    flat = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(here.params)])
    np.testing.assert_allclose(np.load(target), flat, atol=1e-6)


# ----------------------------------------------------------------------------- voting


PROBS = np.array([  # 3 members x 3 examples x 3 classes
    [[0.40, 0.35, 0.25], [0.50, 0.45, 0.05], [0.34, 0.33, 0.33]],
    [[0.40, 0.38, 0.22], [0.50, 0.45, 0.05], [0.34, 0.33, 0.33]],
    [[0.05, 0.95, 0.00], [0.05, 0.25, 0.70], [0.00, 0.90, 0.10]],
])


def test_voting_rules_on_a_hand_computed_example():
    # hard: two members vote class 0 everywhere
    assert ensemble.vote(PROBS, "hard").tolist() == [0, 0, 0]
    # mean_prob: example 1 means (0.35, 0.3833, 0.2667): class 1, which nobody voted for
    assert ensemble.vote(PROBS, "mean_prob").tolist() == [1, 1, 1]
    # confidence: example 0: class 0 gets 0.40 + 0.40 = 0.80 < 0.95 for class 1;
    # example 1: 0.50 + 0.50 = 1.00 > 0.70; example 2: 0.34 + 0.34 = 0.68 < 0.90
    assert ensemble.vote(PROBS, "confidence").tolist() == [1, 0, 1]
    tie = np.array([[[0.1, 0.2, 0.7]], [[0.1, 0.6, 0.3]]])  # one vote each for 2 and 1
    assert ensemble.vote(tie, "hard").tolist() == [1]  # ties go to the smallest class


def test_ranked_puts_the_best_first_and_missing_or_nan_last():
    rows = [{"t": 0, "accuracy": 0.5, "loss": 1.0},
            {"t": 1, "accuracy": float("nan"), "loss": 0.1},
            {"t": 2, "accuracy": 0.9, "loss": None}, {"t": 3, "accuracy": 0.9, "loss": 0.5},
            {"t": 4}]
    assert [r["t"] for r in ensemble.ranked(rows, "accuracy")] == [2, 3, 0, 1, 4]
    assert [r["t"] for r in ensemble.ranked(rows, "loss")] == [1, 3, 0, 2, 4]


def test_probabilities_softmax_and_single_logit():
    probs = np.asarray(ensemble.probabilities(np.log([[[1.0, 3.0]]])))
    np.testing.assert_allclose(probs, [[[0.25, 0.75]]], rtol=1e-6)
    single = np.asarray(ensemble.probabilities(np.array([[[0.0], [np.log(3.0)]]])))
    np.testing.assert_allclose(single, [[[0.5, 0.5], [0.25, 0.75]]], rtol=1e-6)


def test_predict_and_accuracies_of_a_fitted_ensemble(blob_splits):
    ens = ens_fit(blob_splits, epochs=2)
    test = blob_splits.test
    outputs = [MODEL.apply(member(ens.params, i), member(ens.model_state, i),
                           jnp.asarray(test.x), train=False)[0] for i in range(3)]
    mean = np.mean([np.asarray(jax.nn.softmax(o)) for o in outputs], axis=0)
    assert ensemble.predict(ens, test.x, batch_size=16).tolist() == np.argmax(mean, -1).tolist()
    acc = ensemble.accuracies(ens, test, batch_size=16)
    np.testing.assert_allclose(acc["members"], ens.final["test"]["accuracy"], atol=1e-6)
    assert acc["mean_member"] == pytest.approx(np.mean(acc["members"]))
    assert acc["best_member"] == pytest.approx(np.max(acc["members"]))
    assert acc["selected_member"] == pytest.approx(acc["members"][ens.best_index])
    assert ens.best_index == int(np.argmax([row["final_dev_accuracy"] for row in ens.table]))
    assert acc["mean_prob"] == pytest.approx(np.mean(np.argmax(mean, -1) == test.y))
    assert set(acc) >= set(ensemble.VOTES)


# ----------------------------------------------------------------------------- snapshots


def test_cyclic_cosine_schedule_values():
    schedule = ensemble.cyclic_cosine(1.0, 4)
    got = [float(schedule(jnp.int32(t))) for t in (0, 1, 2, 4, 5)]
    np.testing.assert_allclose(got, [1.0, (1 + np.cos(np.pi / 4)) / 2, 0.5, 1.0,
                                     (1 + np.cos(np.pi / 4)) / 2], rtol=1e-6)


def test_snapshot_ensemble_keeps_the_params_every_n_epochs(blob_splits):
    snaps = ensemble.snapshots(MODEL, OPT, LOSS, blob_splits, key=KEY, epochs=4,
                               batch_size=16, every=2, verbose=False)
    assert [row["epoch"] for row in snaps.table] == [2, 4]
    two = solo_fit(blob_splits, KEY, epochs=2)
    assert max_diff(member(snaps.params, 0), two.params) == 0.0
    acc = ensemble.accuracies(snaps, blob_splits.test)
    np.testing.assert_allclose(acc["members"], snaps.final["test"]["accuracy"], atol=1e-6)


# ----------------------------------------------------------------------------- errors, output


@pytest.mark.parametrize("kwargs, match", [
    ({"members": 0}, "members"),
    ({"strategy": "threads"}, "strategy"),
    ({"chunk_size": 0}, "chunk_size"),
    ({"members_per_call": -1}, "members_per_call"),
    ({"batch_size": 500}, "batch_size"),
    ({"explode_factor": 1.0}, "explode_factor"),
    ({"early_stopping": train.EarlyStopping(monitor="dev_f1")}, "monitor"),
])
def test_bad_fit_arguments_name_the_argument(blob_splits, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ens_fit(blob_splits, **kwargs)


def test_bad_sweep_arguments_name_the_argument(blob_splits):
    def sweep(**kwargs):
        options = dict(hparams={"lr": [1e-2]}, key=KEY, epochs=1, batch_size=16,
                       verbose=False)
        options.update(kwargs)
        return ensemble.sweep(MODEL, options.pop("make_opt", make_opt), LOSS, blob_splits,
                              **options)

    with pytest.raises(ValueError, match=r"trial 1 \(lr=-1\): adam: lr must be"):
        sweep(hparams={"lr": [1e-2, -1.0]})
    with pytest.raises(ValueError, match=r"hparams\['lr'\]"):
        sweep(hparams={"lr": [[1e-2]]})
    with pytest.raises(ValueError, match="equal length"):
        sweep(hparams={"lr": [1e-2, 1e-3], "l2": [1.0]}, combine="zip")
    with pytest.raises(ValueError, match="combine"):
        sweep(combine="outer")
    with pytest.raises(ValueError, match="seeds"):
        sweep(seeds=[-1])
    with pytest.raises(TypeError, match="regularizer must be a function hp"):
        sweep(regularizer=regularizers.l2(1e-3))
    with pytest.raises(TypeError, match="make_opt must be"):
        sweep(make_opt=lambda hp: 0.1)
    with pytest.raises(ValueError, match="vote"):
        ensemble.vote(PROBS, "majority")


def test_json_and_markdown_output(blob_splits):
    result = ensemble.sweep(MODEL, make_opt, LOSS, blob_splits, hparams={"lr": [1e-2, 1e4]},
                            key=KEY, epochs=2, batch_size=16, verbose=False)
    payload = json.loads(json.dumps(ensemble.to_json(result), allow_nan=False))
    assert payload["members"] == 2 and payload["table"][1]["lr"] == 1e4
    assert payload["history"]["epoch"][0] == 1
    text = ensemble.to_markdown(result, top=1)
    assert text.splitlines()[0].startswith("| trial | lr | seed |")
    assert len(text.splitlines()) == 3 and "| 0 | 0.01 |" in text


# ----------------------------------------------------------------------------- CLI


def test_cli_ensemble_prints_members_and_votes(tmp_path, capsys):
    code = cli.main(["ensemble", "--members", "3", "--epochs", "2", "--hidden", "16",
                     "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    for word in ("member", "hard", "mean_prob", "confidence", "mean member",
                 "dev-selected member"):
        assert word in out
    summary = json.loads((tmp_path / "ensemble.json").read_text())
    assert len(summary["table"]) == 3 and 0 < summary["accuracy"]["test"]["mean_prob"] <= 1
    assert (tmp_path / "ensemble.md").exists() and (tmp_path / "ensemble.png").exists()


def test_cli_sweep_prints_the_top_trials(tmp_path, capsys):
    code = cli.main(["sweep", "--lr", "1e-3:1e-1:log", "--l2", "1e-5:1e-2:log", "--trials",
                     "4", "--epochs", "2", "--hidden", "16", "--top", "3", "--quiet",
                     "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "top 3 of 4 trials" in out
    assert "adam lr swept (constant); l2 swept" in out and "lr=0.001" not in out
    payload = json.loads((tmp_path / "sweep.json").read_text())
    assert len(payload["table"]) == 4
    assert all(1e-3 <= row["lr"] <= 1e-1 for row in payload["table"])
    assert (tmp_path / "sweep.png").exists()


def test_cli_ensemble_splits_the_cpu_for_the_devices_strategy():
    run = subprocess.run([sys.executable, "-m", "jaxdl", "ensemble", "--members", "3",
                          "--epochs", "1", "--hidden", "8", "--strategy", "devices",
                          "--host-devices", "3", "--quiet"], capture_output=True, text=True,
                         cwd=str(ROOT))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "strategy devices on 3 devices" in run.stdout and "vote mean_prob" in run.stdout


@pytest.mark.parametrize("argv, match", [
    (["sweep", "--lr", "1:2:cubic"], "--lr"),
    (["sweep", "--trials", "4"], "give at least one range"),
    (["sweep", "--lr", "1e-3:1e-1:log", "--trials", "0"], "trials"),
    (["ensemble", "--members", "0"], "members"),
])
def test_cli_bad_values_give_one_line_errors(argv, match, capsys):
    assert cli.main(argv + ["--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1


# ----------------------------------------------------------------------------- issue 14


@pytest.mark.parity  # ensemble members vs solo runs: different programs
def test_members_keep_the_ema_of_their_weights_like_solo_runs(blob_splits):
    ens = ens_fit(blob_splits, members=2, epochs=2, ema_decay=0.8)
    for i in range(2):
        solo = solo_fit(blob_splits, jax.random.fold_in(KEY, i), epochs=2, ema_decay=0.8)
        assert max_diff(member(ens.params, i), solo.params) < 1e-5  # the averages
        assert max_diff(member(ens.state.params, i), solo.state.params) < 1e-5  # raw
        assert max_diff(member(ens.state.average, i), solo.state.average) < 1e-5
        assert ens.final["dev"]["loss"][i] == pytest.approx(solo.final["dev"]["loss"],
                                                            rel=1e-5)
    assert max_diff(ens.params, ens.state.params) > 1e-3  # the average is not the weights


def test_top_k_voters_are_ranked_on_the_dev_set_only(blob_splits):
    ens = ens_fit(blob_splits, members=4, epochs=1)
    assert ens.monitor == "final_dev_accuracy"
    dev, test = [0.5, 0.9, 0.7, 0.8], [0.99, 0.1, 0.2, 0.3]
    table = [{**row, "final_dev_accuracy": d, "test_accuracy": t}
             for row, d, t in zip(ens.table, dev, test)]
    ens = ens._replace(table=table, best=table[1])
    assert ensemble.voters(ens, "top2").tolist() == [1, 3]  # by dev, never by test
    assert ensemble.voters(ens, 3).tolist() == [1, 3, 2]
    assert ensemble.voters(ens, "best").tolist() == [1]
    assert ensemble.voters(ens, "all").tolist() == [0, 1, 2, 3]
    flipped = ens._replace(table=[{**row, "test_accuracy": 1 - row["test_accuracy"]}
                                  for row in table])
    assert ensemble.voters(flipped, "top2").tolist() == [1, 3]
    x = blob_splits.test.x
    outputs = ensemble.member_outputs(ens, x)
    mean = np.mean(np.asarray(jax.nn.softmax(outputs[[1, 3]], axis=-1)), axis=0)
    assert ensemble.predict(ens, x, members="top2").tolist() == np.argmax(mean, -1).tolist()
    acc = ensemble.accuracies(ens, blob_splits.test, members="top2")
    assert acc["voters"] == [1, 3]
    assert acc["mean_prob"] == pytest.approx(np.mean(np.argmax(mean, -1) == blob_splits.test.y))


@pytest.mark.parametrize("members, match", [
    ("top5", "top 5 of an ensemble of 4 members"), (0, "top 0"),
    ("first", "members must be 'all', 'best', 'topK'"), (True, "members must be")])
def test_bad_voters_are_named(blob_splits, members, match):
    ens = ensemble.EnsembleResult(*[None] * 4, [{}] * 4, {}, {}, {}, np.arange(4), {}, MODEL,
                                  monitor="final_dev_accuracy")
    with pytest.raises(ValueError, match=match):
        ensemble.voters(ens, members)
    no_dev = ens._replace(monitor="final_train_loss")
    with pytest.raises(ValueError, match="has no dev metrics"):
        ensemble.voters(no_dev, "top2")


def test_cli_ensemble_votes_among_the_top_k_on_dev(tmp_path, capsys):
    code = cli.main(["ensemble", "--members", "3", "--epochs", "2", "--hidden", "16",
                     "--voters", "top2", "--quiet", "--strategy", "vmap", "--out",
                     str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "vote mean_prob (top2)" in out
    summary = json.loads((tmp_path / "ensemble.json").read_text())
    ranked = sorted(range(3), key=lambda i: -summary["table"][i]["final_dev_accuracy"])
    assert summary["accuracy"]["test"]["voters"] == ranked[:2]
    assert f"voters (top2 by final_dev_accuracy): members {ranked[0]}, {ranked[1]}" in out
    assert cli.main(["ensemble", "--members", "2", "--voters", "top3"]) == 2
    assert "--voters top3 needs at least 3 members" in capsys.readouterr().err


# ----------------------------------------------------------------------------- selection (issue 18)


@pytest.mark.parametrize("early, column", [
    (None, "final_dev_accuracy"),  # the last epoch's params are returned
    (train.EarlyStopping(patience=1, monitor="dev_loss"), "best_dev_loss")])  # the best's
def test_members_rank_by_the_dev_metric_of_the_params_they_return(blob_splits, early, column):
    sw = ensemble.sweep(MODEL, make_opt, LOSS, blob_splits, hparams={"lr": [1e-3, 1e-2, 0.3]},
                        key=KEY, epochs=4, batch_size=16, verbose=False, early_stopping=early)
    assert sw.monitor == column
    returned = sw.final["dev"][column.rsplit("_", 1)[1]]  # eval of the returned params
    np.testing.assert_allclose([row[column] for row in sw.table], returned, rtol=1e-5)
    pick = np.argmax(returned) if column.endswith("accuracy") else np.argmin(returned)
    assert sw.best_index == int(pick) and sw.best is sw.table[sw.best_index]


def test_member_i_is_the_model_params_and_state_of_row_i(blob_splits):
    def model(hp):
        return nn.serial(nn.dense(hp["width"]), nn.relu, nn.dense(3))
    sw = ensemble.sweep(model, make_opt, LOSS, blob_splits, hparams={"lr": [1e-2, 3e-2]},
                        static={"width": 8}, key=KEY, epochs=1, batch_size=16, verbose=False)
    x = blob_splits.test.x
    outputs = ensemble.member_outputs(sw, x)
    for i in range(2):
        layer, params, state = sw.member(i)
        assert params[0]["w"].shape == (x.shape[1], 8)  # one member's, width 8
        np.testing.assert_allclose(layer.apply(params, state, x, train=False)[0], outputs[i],
                                   atol=1e-6)
    assert max_diff(sw.member(0)[1], sw.member(1)[1]) > 1e-4
    with pytest.raises(ValueError, match="below the 2 members"):
        sw.member(2)


def test_predict_of_a_regression_ensemble_averages_the_outputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    ens = ensemble.fit(nn.dense(1), optim.sgd(0.05), losses.mse, data.Splits((x, y), (x, y)),
                       key=KEY, members=3, epochs=2, batch_size=16, verbose=False)
    assert not ensemble.is_classifier(ens)
    by_hand = np.mean([x @ np.asarray(ens.params["w"][i]) + np.asarray(ens.params["b"][i])
                       for i in range(3)], axis=0)
    predicted = ensemble.predict(ens, x)
    assert predicted.shape == (64, 1)
    np.testing.assert_allclose(predicted, by_hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ensemble.predict(ens, x, members="best"),
                               by_hand * 0 + x @ np.asarray(ens.params["w"][ens.best_index])
                               + np.asarray(ens.params["b"][ens.best_index]), atol=1e-6)


def test_cli_ensemble_reports_one_dev_selected_member_and_no_test_oracle(tmp_path, capsys):
    assert cli.main(["ensemble", "--members", "4", "--epochs", "2", "--hidden", "16",
                     "--lr", "0.003", "--quiet", "--strategy", "vmap", "--out",
                     str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "best member" not in out
    summary = json.loads((tmp_path / "ensemble.json").read_text())
    dev = [row["final_dev_accuracy"] for row in summary["table"]]
    chosen = int(np.argmax(dev))  # on dev only; the test column plays no part
    assert summary["best"]["member"] == chosen
    selected = next(line for line in out.splitlines() if "dev-selected member" in line)
    member_row = next(line for line in out.splitlines() if line.startswith(f"| {chosen} |"))
    assert selected.startswith(f"| dev-selected member {chosen} |")
    # dev_acc and test_acc both of that one member
    assert selected.split("|")[2:] == member_row.split("|")[-3:]
