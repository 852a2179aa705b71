"""Ensembles with voting (tutorial 000, "Model ensembles": a few points of accuracy).

Members are the same MLP trained from keys fold_in(key, i), each with its own data order and
early stopping on dev accuracy, all in one `ensemble.fit` call. digits: the embedded 8x8
digits split 80/10/10 and standardized, MLP 64-128-64-10 (He normal), Adam 1e-3, batch 64, up
to 40 epochs (patience 8), 16 members. MNIST: 55,000 / 5,000 / 10,000, pixels in [0, 1], the
tutorial's 784-256-100-10 (TF1 truncated-normal init, L2 5e-5), batch 100, up to 10 epochs
(patience 3), 16 members. Test accuracy of each voting rule (one vote per model, mean
probability, confidence-weighted) against the mean member and the member picked on dev; the
member that is best on test is shown as an oracle (the test set never selects). Quick mode:
digits only, 6 members, 12 epochs.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxdl import data, ensemble, initializers, losses, nn, optim, plots, regularizers
from jaxdl.experiments import report
from jaxdl.experiments.mnist_course_recipe import tf1_mlp
from jaxdl.experiments.registry import Experiment, verdict

NAME = "ensembles"
SIZES = (1, 2, 4, 8, 16)


def digits_mlp():
    he = initializers.he_normal()
    return nn.serial(nn.flatten, nn.dense(128, w_init=he), nn.relu, nn.dense(64, w_init=he),
                     nn.relu, nn.dense(10, w_init=he))


def _setups(quick: bool, data_dir, key):
    digits = data.standardize_splits(data.split(data.load("digits"), (0.8, 0.1, 0.1),
                                                key=jax.random.fold_in(key, 0)))
    yield "digits", digits, digits_mlp(), None, 64, (12 if quick else 40), (4 if quick else 8)
    if not quick:
        mnist = data.load_splits("mnist", key=jax.random.fold_in(key, 1), data_dir=data_dir)
        yield "mnist", mnist, tf1_mlp(), regularizers.l2(5e-5), 100, 10, 3


def _run_one(name, splits, model, regularizer, batch_size, epochs, patience, members, key):
    result = ensemble.fit(model, optim.adam(1e-3), losses.softmax_cross_entropy, splits,
                          key=key, members=members, epochs=epochs, batch_size=batch_size,
                          early_stopping=patience, regularizer=regularizer, verbose=False)
    accuracy = ensemble.accuracies(result, splits.test)
    probs = ensemble.probabilities(ensemble.member_outputs(result, splits.test.x))
    test_y = np.asarray(splits.test.y)
    by_size = {k: float(np.mean(np.asarray(ensemble.vote(probs[:k], "mean_prob")) == test_y))
               for k in SIZES if k <= members}
    return {"dataset": name, "members": members,
            "epochs_run": [row["epochs"] for row in result.table],
            "accuracy": {k: np.asarray(v).tolist() for k, v in accuracy.items()},
            "mean_prob_by_size": by_size}


def run(key, *, quick: bool, out, data_dir=None):
    members = 6 if quick else 16
    runs = [_run_one(*setup, members, jax.random.fold_in(key, 10 + i))
            for i, setup in enumerate(_setups(quick, data_dir, key))]
    rows, gains = [], {}
    for r in runs:
        acc = r["accuracy"]
        gains[r["dataset"]] = acc["mean_prob"] - acc["mean_member"]
        rows.append({"dataset": r["dataset"], "members": r["members"],
                     "mean member": f"{acc['mean_member']:.4f}",
                     "dev-selected member": f"{acc['selected_member']:.4f}",
                     **{f"vote: {rule}": f"{acc[rule]:.4f}" for rule in ensemble.VOTES},
                     "gain of mean_prob over mean member": f"{gains[r['dataset']]:+.2%}",
                     "oracle: best member on test (not a selection)": f"{acc['best_member']:.4f}"})
    sizes = [{"dataset": r["dataset"], **{f"k={k}": f"{v:.4f}"
                                          for k, v in r["mean_prob_by_size"].items()}}
             for r in runs]
    # The claim: the vote beats the average member, by up to "a few percentage points".
    ok = all(0.0 < g <= 0.05 for g in gains.values())
    measured = ", ".join(f"{d} {g:+.2%}" for d, g in gains.items())
    markdown = (f"# Ensembles with voting: test accuracy\n\n{__doc__.split(chr(10) * 2)[1]}\n\n"
                + report.comparison_table([("vote over the mean member",
                                            "+ a few percentage points in some problems",
                                            measured)])
                + "\n" + report.markdown_table(rows)
                + "\nmean_prob vote over the first k members:\n\n" + report.markdown_table(sizes))
    report.write(out, NAME, {"runs": runs, "gains": gains}, markdown)
    fig = plots.ensemble_accuracy({r["dataset"]: r["accuracy"] for r in runs}, None,
                                  title=f"{members}-member ensembles (test accuracy)")
    report.save_figure(fig, out, NAME)
    return verdict(ok, course="a few percentage points", measured=measured,
                   summary=f"mean_prob vote minus mean member: {measured}",
                   numbers={"gains": gains,
                            "accuracy": {r["dataset"]: r["accuracy"] for r in runs}})


EXPERIMENT = Experiment(
    name=NAME,
    claim="Votes of models trained from different seeds beat the single models (a few "
          "percentage points in some problems)",
    source="000 (tutorial), Model ensembles",
    run=run, minutes=4, quick_seconds=15, needs=("mnist",))
