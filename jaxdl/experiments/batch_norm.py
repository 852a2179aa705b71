"""Batch normalization: faster training and a larger learning rate (tutorial 000, "Batch
normalization": "the gradient descent can train the model faster ... we can increase the
learning rate higher without lower the accuracy"; notes 001 and lecture 003, Batch
normalization).

A deep ReLU network (6 hidden layers of 100 units, He init), with and without
`nn.batchnorm()` between each dense layer and its ReLU (the tutorial's
affine -> batchnorm -> relu), trained with plain SGD (batch 50) at lr 0.1 and at 10x that,
1.0; each network is one vmapped `ensemble.sweep` over the two learning rates and two seeds.
Measured: the epochs until dev accuracy first reaches the target (MNIST 97 %, quick: the
embedded digits, 93 %; the mean over seeds, never reached = not reached) and the final dev
accuracy. Batch norm must reach the target no later than the plain network at lr 0.1, and
at lr 1.0 it must still train (within 2 points of its lr 0.1 accuracy) while the plain
network does not (it blows up or ends more than 2 points lower).
"""

from __future__ import annotations

import jax
import numpy as np

from jaxdl import ensemble, initializers, losses, nn, optim
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict
from jaxdl.experiments.sanity_checks import course_splits
from jaxdl.experiments.vanishing_gradients import deep_net

NAME = "batch_norm"
BASE_LR = 0.1
LEARNING_RATES = (BASE_LR, 10 * BASE_LR)
SEEDS = 2
DEPTH = 7  # weight layers


def epochs_to(curve, target: float) -> float:
    """The first epoch (1-based) whose value is >= target; inf if none."""
    hits = np.flatnonzero(np.nan_to_num(np.asarray(curve, float), nan=-np.inf) >= target)
    return float(hits[0] + 1) if hits.size else float("inf")


def run(key, *, quick: bool, out, data_dir=None):
    splits = course_splits(quick, data_dir, jax.random.fold_in(key, 0))
    epochs, target = (15, 0.93) if quick else (8, 0.97)
    he = initializers.he_normal()
    networks = {"plain": deep_net(nn.relu, he, depth=DEPTH),
                "batch norm": deep_net(nn.relu, he, batchnorm=True, depth=DEPTH)}
    rows, curves = [], {}
    for net_index, (name, model) in enumerate(networks.items()):
        result = ensemble.sweep(model, lambda hp: optim.sgd(hp["lr"]),
                                losses.softmax_cross_entropy, splits,
                                hparams={"lr": list(LEARNING_RATES)}, seeds=SEEDS,
                                key=jax.random.fold_in(key, 1), epochs=epochs, batch_size=50,
                                verbose=False)
        accuracy = np.asarray(result.history["dev_accuracy"], float)
        for lr in LEARNING_RATES:
            members = [i for i, row in enumerate(result.table) if row["lr"] == lr]
            reached = [epochs_to(accuracy[:, i], target) for i in members]
            finals = [result.table[i]["final_dev_accuracy"] for i in members]
            stopped = [result.table[i]["stopped"] for i in members]
            curves[(name, lr)] = accuracy[:, members]
            rows.append({"network": name, "lr": lr, "stopped": ", ".join(stopped),
                         "blew up": any(s in ("nan", "exploding") for s in stopped),
                         f"epochs to {target:.0%} dev (mean)": float(np.mean(reached)),
                         "final dev accuracy (mean of finite)": float(np.mean(
                             [f for f in finals if np.isfinite(f)] or [np.nan])),
                         "final dev accuracy per seed": ", ".join(f"{f:.4f}" for f in finals)})
    by = {(r["network"], r["lr"]): r for r in rows}
    reach = f"epochs to {target:.0%} dev (mean)"
    final = "final dev accuracy (mean of finite)"
    high = LEARNING_RATES[1]
    checks = {
        f"batch norm reaches {target:.0%} no later than plain at lr {BASE_LR:g}":
            bool(by[("batch norm", BASE_LR)][reach] <= by[("plain", BASE_LR)][reach]
                 and np.isfinite(by[("batch norm", BASE_LR)][reach])),
        f"batch norm still trains at lr {high:g} (within 2 points)":
            not by[("batch norm", high)]["blew up"]
            and by[("batch norm", high)][final] >= by[("batch norm", BASE_LR)][final] - 0.02,
        f"plain network does not (blows up or > 2 points lower) at lr {high:g}":
            by[("plain", high)]["blew up"]
            or by[("plain", high)][final] < by[("plain", BASE_LR)][final] - 0.02,
    }
    table = report.comparison_table([
        (f"epochs to {target:.0%} dev, lr {BASE_LR:g}", "batch norm trains faster",
         f"plain {by[('plain', BASE_LR)][reach]:g}, batch norm "
         f"{by[('batch norm', BASE_LR)][reach]:g}"),
        (f"final dev accuracy at lr {high:g} (10x)", "batch norm: higher lr without lower "
         "accuracy", f"plain {by[('plain', high)][final]:.4f}, batch norm "
         f"{by[('batch norm', high)][final]:.4f}"),
        (f"final dev accuracy at lr {BASE_LR:g}", "-",
         f"plain {by[('plain', BASE_LR)][final]:.4f}, batch norm "
         f"{by[('batch norm', BASE_LR)][final]:.4f}"),
    ])
    markdown = (f"# Batch normalization\n\n{__doc__.split(chr(10) * 2, 1)[1]}\n"
                f"This run: {'digits' if quick else 'MNIST'}, {epochs} epochs, {SEEDS} seeds "
                f"per setting.\n\n## The course vs jaxdl\n\n{table}\n## Per setting\n\n"
                + report.markdown_table(rows)
                + "\n## Checks\n\n"
                + report.markdown_table([{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {"epochs": epochs, "target": target, "rows": rows,
                             "checks": checks,
                             "curves": {f"{n}, lr {lr:g}": c for (n, lr), c in curves.items()}},
                 markdown)
    _figure(curves, target, out)
    return verdict(
        all(checks.values()),
        course="faster training; 10x learning rate without lower accuracy",
        measured=f"epochs to {target:.0%}: {by[('plain', BASE_LR)][reach]:g} plain vs "
                 f"{by[('batch norm', BASE_LR)][reach]:g} BN; lr {high:g}: "
                 f"{by[('plain', high)][final]:.3f} plain vs "
                 f"{by[('batch norm', high)][final]:.3f} BN",
        summary=f"epochs to {target:.0%} dev at lr {BASE_LR:g}: plain "
                f"{by[('plain', BASE_LR)][reach]:g}, batch norm "
                f"{by[('batch norm', BASE_LR)][reach]:g}; final dev accuracy at lr {high:g}: "
                f"plain {by[('plain', high)]['final dev accuracy per seed']} "
                f"({by[('plain', high)]['stopped']}), "
                f"batch norm {by[('batch norm', high)][final]:.4f}",
        numbers={"epochs_to_target": {f"{n}, lr {lr:g}": r[reach] for (n, lr), r in by.items()},
                 "final_dev_accuracy": {f"{n}, lr {lr:g}": r[final] for (n, lr), r in by.items()},
                 "checks": checks})


def _figure(curves, target, out) -> None:
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    styles = {"plain": "-", "batch norm": "--"}
    for index, ((name, lr), seeds) in enumerate(curves.items()):
        for seed, curve in enumerate(seeds.T):
            ax.plot(np.arange(1, len(curve) + 1), curve, styles[name], marker="o",
                    color=f"C{index}", label=f"{name}, lr {lr:g}" if seed == 0 else None)
    ax.axhline(target, color="0.5", ls=":", label=f"target {target:.0%}")
    ax.set(xlabel="epoch", ylabel="dev accuracy (each seed)", ylim=(0, 1),
           title=f"deep ReLU network ({DEPTH} weight layers), plain SGD, with and without "
                 "batch norm")
    ax.legend(fontsize=8)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="Batch normalization trains a deep network faster and tolerates a 10x larger "
          "learning rate without losing accuracy",
    source="000 (tutorial), Batch normalization; 001 (notes), Normalizing activations in a "
           "network",
    run=run, minutes=3, quick_seconds=15, needs=("mnist",))
