"""A 16-member ensemble on digits and on MNIST: voted accuracy vs its single members.

Each member is the dataset's MLP trained from its own key fold_in(key, i) with its own data
order (ReLU, He-normal init, Adam 1e-3, early stopping on dev accuracy: each member returns
its best-dev-epoch params); all 16 are one `jaxdl.ensemble.fit` call, the member axis split
over the CPU's cores (strategy "devices"). digits: the embedded 8x8 digits, split
80/10/10, standardized, MLP 64-128-64-10, batch 64, up to 40 epochs (patience 8). MNIST:
55,000 train / 5,000 dev / 10,000 test, standardized, MLP 784-256-100-10 with L2 5e-5,
batch 100, up to 10 epochs (patience 3); skipped with a message when the files are absent.
Test accuracy of each voting rule (hard, mean_prob, confidence) against the mean single
member, the member with the best dev accuracy, and the best member on test (an optimistic
pick), and of the mean_prob vote over the first k members.
Writes results/ensemble_voting.{json,md,png}.

    python experiments/ensemble_voting.py [--members 16] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import jax

from jaxdl import ensemble

ensemble.use_host_devices()  # before any JAX operation: one CPU device per core

from jaxdl import data, initializers, losses, nn, optim, plots, regularizers  # noqa: E402

from common import mnist_dir, write_results  # noqa: E402

SETUPS = {  # name: (hidden widths, L2, batch size, max epochs, patience)
    "digits": ((128, 64), 0.0, 64, 40, 8),
    "mnist": ((256, 100), 5e-5, 100, 10, 3),
}
SIZES = (1, 2, 4, 8, 16)


def mlp(hidden):
    he = initializers.he_normal()
    layers = [nn.flatten]
    for width in hidden:
        layers += [nn.dense(width, w_init=he), nn.relu]
    return nn.serial(*layers, nn.dense(10, w_init=he))


def load(name: str, key):
    if name == "digits":
        splits = data.split(data.load("digits"), (0.8, 0.1, 0.1), key=key)
    else:
        splits = data.load_splits("mnist", key=key, data_dir=mnist_dir())
    return data.standardize_splits(splits)


def run(name: str, members: int, key) -> dict:
    hidden, l2, batch_size, epochs, patience = SETUPS[name]
    splits = load(name, jax.random.fold_in(key, 0))
    start = time.perf_counter()
    result = ensemble.fit(mlp(hidden), optim.adam(1e-3), losses.softmax_cross_entropy, splits,
                          key=jax.random.fold_in(key, 1), members=members, epochs=epochs,
                          batch_size=batch_size, early_stopping=patience,
                          regularizer=regularizers.l2(l2) if l2 else None,
                          strategy="devices")
    seconds = time.perf_counter() - start
    accuracy = ensemble.accuracies(result, splits.test)
    probs = ensemble.probabilities(ensemble.member_outputs(result, splits.test.x))
    by_size = {k: float((ensemble.vote(probs[:k], "mean_prob") == splits.test.y).mean())
               for k in SIZES if k <= members}
    steps = int(result.state.step.sum())
    return {"dataset": name, "members": members, "train": len(splits.train),
            "epochs_run": [row["epochs"] for row in result.table],
            "best_epochs": [row["best_epoch"] for row in result.table],
            "seconds": seconds, "model_steps_per_s": steps / seconds,
            "accuracy": {k: (v.tolist() if hasattr(v, "tolist") else v)
                         for k, v in accuracy.items()},
            "mean_prob_by_size": by_size}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    key = jax.random.key(args.seed)
    runs, notes = [], []
    for name in SETUPS:
        try:
            runs.append(run(name, args.members, key))
        except data.MissingDataError as error:
            notes.append(f"{name} skipped: {error}")
            print(notes[-1])
    rows = [{"dataset": r["dataset"], "mean member": r["accuracy"]["mean_member"],
             "dev-selected member": r["accuracy"]["selected_member"],
             "best member": r["accuracy"]["best_member"],
             **{f"vote {rule}": r["accuracy"][rule] for rule in ensemble.VOTES},
             "train s": r["seconds"]} for r in runs]
    sizes = [{"dataset": r["dataset"], **{f"k={k}": v for k, v in r["mean_prob_by_size"].items()}}
             for r in runs]
    table, size_table = ensemble.markdown_table(rows), ensemble.markdown_table(sizes)
    setup = __doc__.split("\n\n")[1]
    markdown = (f"# {args.members}-member ensembles: test accuracy\n\n{setup}"
                f"\n\n{table}\nmean_prob vote over the first k members:\n\n{size_table}"
                + "".join(f"\n{note}\n" for note in notes))
    out = write_results("ensemble_voting", {"setup": setup, "runs": runs,
                                            "notes": notes, "device": str(jax.devices()[0]),
                                            "devices": len(jax.devices())}, markdown)
    plots.ensemble_accuracy({r["dataset"]: r["accuracy"] for r in runs},
                            out / "ensemble_voting.png",
                            title=f"{args.members}-member ensembles (test accuracy)")
    print(table + "\n" + size_table)
    return {"runs": runs, "notes": notes}


if __name__ == "__main__":
    main()
