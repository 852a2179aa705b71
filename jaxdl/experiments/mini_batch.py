"""Batch vs stochastic vs mini-batch gradient descent (notes 001, "Mini-batch gradient
descent" and "Understanding mini-batch gradient descent").

The same network (784-100-10 ReLU on the first 10,000 MNIST training images; quick:
64-100-10 on 2,000 generated blob examples) from the same initialization, trained by SGD
at one learning rate (0.05) with batch size m (batch gradient descent: one step per
epoch), 1 (stochastic: m steps per epoch) and 64 (mini-batch), for the same number of
epochs, so every run sees the same number of examples. Recorded per epoch: the full
training loss after the epoch and the wall time (each epoch is one compiled call; the
compilation, in the first epoch, is left out: seconds per epoch are the median of the
later epochs). The notes: batch gradient descent is "too long per iteration", stochastic
gradient descent "too noisy", "loses the speedup from vectorization", mini-batch has "the
vectorization advantage" and "makes progress without waiting for the entire training
set". Checked: per epoch, SGD lowers the loss most and batch gradient descent least; per
second, mini-batch reaches the target loss (0.3 x the initial loss) first; and SGD is
noisy: over its first 50 steps the full training loss goes up on more of SGD's steps than
of mini-batch's, and never on batch gradient descent's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import data, losses, optim, train
from jaxdl.experiments import report
from jaxdl.experiments.learning_rate import course_splits, generated, mlp
from jaxdl.experiments.registry import Experiment, verdict

NAME = "mini_batch"
LR = 0.05
MINI = 64
TARGET = 0.3  # target loss: this fraction of the initial training loss
PROBE_STEPS = 50
PROBE_EXAMPLES = 1000  # the full training loss of the probe is measured on these


def methods(n: int) -> dict:
    """name -> batch size."""
    return {"batch (m)": n, "stochastic (1)": 1, f"mini-batch ({MINI})": MINI}


def loss_after_each_step(model, splits: data.Splits, batch_size: int, *, key,
                         steps: int = PROBE_STEPS) -> np.ndarray:
    """(steps + 1,): the training loss (on the first PROBE_EXAMPLES training examples, eval
    mode) at the start and after each of the first `steps` SGD steps of `batch_size`,
    batches drawn as `train.fit` draws them (epoch e from fold_in(fold_in(key, SHUFFLE), e))
    and the initialization of `train.fit(..., key=key)`."""
    x, y = jnp.asarray(splits.train.x), jnp.asarray(splits.train.y)
    n = x.shape[0]
    opt = optim.sgd(LR)
    step = train.make_train_step(model, opt, losses.softmax_cross_entropy)
    evaluate = train.make_evaluate(model, losses.softmax_cross_entropy)
    probe = (x[:PROBE_EXAMPLES], y[:PROBE_EXAMPLES])
    epochs = -(-steps * batch_size // n)  # enough epochs for `steps` batches
    shuffle = jax.random.fold_in(key, train.SHUFFLE)

    def run(key):
        state = train.init_state(model, opt, x.shape[1:], key=key)
        indices, mask = jax.vmap(lambda e: data.epoch_batches(
            jax.random.fold_in(shuffle, e), n, batch_size))(jnp.arange(1, epochs + 1))
        indices = indices.reshape(-1, batch_size)[:steps]
        mask = mask.reshape(-1, batch_size)[:steps]

        def body(state, batch):
            rows, real = batch
            state, _ = step(state, (x[rows], y[rows], real))
            return state, evaluate(state.params, state.model_state, *probe)["loss"]

        first = evaluate(state.params, state.model_state, *probe)["loss"]
        _, after = jax.lax.scan(body, state, (indices, mask))
        return jnp.concatenate([first[None], after])

    return np.asarray(jax.jit(run)(key))


def run(key, *, quick: bool, out, data_dir=None):
    if quick:  # wider inputs than the other quick runs: a batch of 1 wastes vectorization
        splits = generated(jax.random.fold_in(key, 0), (2000, 10), dim=64, noise=3.0)
    else:
        splits, _, _ = course_splits(jax.random.fold_in(key, 0), quick=False,
                                     data_dir=data_dir, train_size=10_000)
    n = len(splits.train)
    epochs = 10 if quick else 8
    # the training set as the "dev" set: its loss after every epoch, in eval mode
    measured = data.Splits(splits.train, splits.train, None)
    model = mlp(splits)
    fit_key = jax.random.fold_in(key, 1)
    runs, rows = {}, []
    for name, batch_size in methods(n).items():
        result = train.fit(model, optim.sgd(LR), losses.softmax_cross_entropy, measured,
                           key=fit_key, epochs=epochs, batch_size=batch_size, verbose=False)
        wall = np.asarray(result.history["wall_time"])
        per_epoch = float(np.median(np.diff(wall)))
        probe = loss_after_each_step(model, splits, batch_size, key=fit_key)
        runs[name] = {"batch_size": batch_size, "loss": result.history["dev_loss"],
                      "initial_loss": result.initial_loss, "seconds_per_epoch": per_epoch,
                      "first_epoch_seconds": float(wall[0]), "probe": probe,
                      "stopped": result.stopped}
    initial = runs["batch (m)"]["initial_loss"]
    target = TARGET * initial
    for name, r in runs.items():
        below = np.flatnonzero(np.asarray(r["loss"]) <= target)
        r["epochs_to_target"] = int(below[0]) + 1 if below.size else None
        r["seconds_to_target"] = (r["epochs_to_target"] * r["seconds_per_epoch"]
                                  if below.size else None)
        r["rises"] = float(np.mean(np.diff(r["probe"]) > 0))
        rows.append({"method": name, "batch size": r["batch_size"],
                     "steps per epoch": -(-n // r["batch_size"]),
                     "loss per epoch": ", ".join(f"{v:.3f}" for v in r["loss"]),
                     "seconds per epoch": r["seconds_per_epoch"],
                     f"epochs to loss {target:.3f}": r["epochs_to_target"] or "not reached",
                     f"seconds to loss {target:.3f}": r["seconds_to_target"] or "not reached",
                     f"steps (of the first {PROBE_STEPS}) raising the loss": r["rises"]})
    batch, sgd, mini = (runs[name] for name in methods(n))
    after_one = {name: r["loss"][0] for name, r in runs.items()}
    checks = {
        "per epoch: stochastic lowers the loss most, batch least (after epoch 1)":
            after_one["stochastic (1)"] < after_one[f"mini-batch ({MINI})"]
            < after_one["batch (m)"],
        "per second: mini-batch reaches the target first":
            mini["seconds_to_target"] is not None and all(
                r["seconds_to_target"] is None or mini["seconds_to_target"] < r["seconds_to_target"]
                for name, r in runs.items() if r is not mini),
        "stochastic is noisy: more of its steps raise the loss than mini-batch's, none of "
        "batch's": sgd["rises"] > mini["rises"] and batch["rises"] == 0,
    }
    seconds = {name: r["seconds_to_target"] for name, r in runs.items()}
    shown = ", ".join(f"{k} {'not reached' if v is None else f'{v:.2f} s'}"
                      for k, v in seconds.items())
    rises = ", ".join(f"{k} {r['rises']:.0%}" for k, r in runs.items())
    table = report.comparison_table([
        ("batch gradient descent", "too long per iteration",
         f"{batch['seconds_per_epoch']:.3f} s per step; loss {batch['loss'][-1]:.3f} "
         f"after {epochs} epochs"),
        ("stochastic gradient descent", "too noisy; loses the vectorization speedup",
         f"loss rises on {sgd['rises']:.0%} of its steps; {sgd['seconds_per_epoch']:.3f} s "
         f"per epoch"),
        ("mini-batch gradient descent", "faster learning",
         f"target {target:.3f} in {mini['seconds_to_target'] or float('nan'):.2f} s "
         f"(stochastic: {sgd['seconds_to_target'] or float('nan'):.2f} s)"),
    ])
    dataset = splits.train.info.name
    markdown = (f"# Batch, stochastic and mini-batch gradient descent\n\n"
                f"{__doc__.split(chr(10) * 2, 1)[1]}\n"
                f"This run: {dataset}, {n} training examples, {epochs} epochs, lr {LR}, "
                f"initial loss {initial:.3f}, target {target:.3f}.\n\n"
                f"## The notes vs jaxdl\n\n{table}\n## Per method\n\n"
                + report.markdown_table(rows)
                + "\n## Checks\n\n" + report.markdown_table(
                    [{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {"dataset": dataset, "train_size": n, "epochs": epochs, "lr": LR,
                             "target": target, "runs": runs, "checks": checks}, markdown)
    _figure(runs, target, dataset, out)
    return verdict(
        all(checks.values()),
        course="mini-batch fastest; SGD noisy; batch too long per iteration",
        measured=f"seconds to target: {shown}; steps raising the loss: {rises}",
        summary=f"{dataset} ({n} examples, lr {LR}): seconds to loss {target:.3f}: {shown}; "
                f"loss after epoch 1: " + ", ".join(f"{k} {v:.3f}" for k, v in after_one.items())
                + f"; steps raising the loss: {rises}",
        numbers={"seconds_to_target": seconds,
                 "epochs_to_target": {k: r["epochs_to_target"] for k, r in runs.items()},
                 "seconds_per_epoch": {k: r["seconds_per_epoch"] for k, r in runs.items()},
                 "loss_after_epoch_1": after_one,
                 "rises": {k: r["rises"] for k, r in runs.items()}, "checks": checks})


def _figure(runs, target, dataset, out) -> None:
    plt = report.pyplot()
    fig, (per_epoch, per_second, probe) = plt.subplots(1, 3, figsize=(15, 4.5))
    for name, r in runs.items():
        loss = np.asarray([r["initial_loss"], *r["loss"]])
        epochs = np.arange(len(loss))
        per_epoch.plot(epochs, loss, ".-", label=name)
        per_second.plot(epochs * r["seconds_per_epoch"], loss, ".-", label=name)
        probe.plot(np.arange(len(r["probe"])), r["probe"], label=name)
    for ax in (per_epoch, per_second):
        ax.axhline(target, color="0.5", ls="--", lw=1, label=f"target {target:.3f}")
        ax.set(ylabel="training loss", yscale="log")
    per_epoch.set(xlabel="epoch (examples seen / m)", title=f"{dataset}: loss per epoch")
    per_second.set(xlabel="seconds (compilation excluded)", title="loss per second")
    probe.set(xlabel="step", ylabel="training loss",
              title=f"the first {PROBE_STEPS} steps: SGD's loss goes up and down")
    for ax in (per_epoch, per_second, probe):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="Mini-batch gradient descent reaches a given loss fastest per second; batch "
          "gradient descent is too long per iteration, stochastic too noisy",
    source="001 (notes), Mini-batch gradient descent; Understanding mini-batch gradient "
           "descent",
    run=run, minutes=1.5, quick_seconds=18, needs=("mnist",))
