"""Learning rates too low, good and too high, and the decay schedules (lecture 003,
"Cross validation: tuning hyperparameter" and "Learning rate decay"; notes 001, "Learning
rate decay"; tutorial 000, "Monitor loss" and "Rate of decay").

One `ensemble.sweep` trains the same network (784-100-10 ReLU on MNIST, 5 epochs of batch
100; quick: 32-100-10 on generated Gaussian blobs) with SGD at learning rates 1e-5, 0.1
and 10, in one compiled program. The lecture's log: at 1e-6 the loss barely changes
(2.302576 -> 2.302420 in 10 epochs), at 1e6 it is NaN, at 3e-3 it explodes in epoch 5.
Checked: too low, the train loss moves less than 2 % from its initial value; good, the dev
loss falls below half of it; too high, the loss explodes or turns NaN (the sweep's guard
stops that member) or at least rises above its initial value. Then the decay schedules of `jaxdl.optim.schedules` with lr0 = 0.2:
step decay (halve every 2 epochs), exponential (lr0 e^(-k t), k = 0.1), 1/t
(lr0 / (1 + decay_rate epoch_num), decay_rate 1), 0.95^epoch_num lr0 and
k / sqrt(epoch_num) lr0 (k = 1), their first values compared with the course's formulas.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import data, ensemble, initializers, losses, nn, optim, train
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict
from jaxdl.optim import schedules

NAME = "learning_rate"
LEARNING_RATES = {"too low": 1e-5, "good": 0.1, "too high": 10.0}
LR0, EPOCHS_SHOWN = 0.2, 30
SCHEDULES = {  # name: (jaxdl schedule, one update per epoch; the course's rate in epoch n = 1, 2..)
    "step: halve every 2 epochs": (schedules.step_decay(LR0, 0.5, every=2),
                                   lambda n: LR0 * 0.5 ** ((n - 1) // 2)),
    "exponential: lr0 e^(-k t), t = n - 1, k 0.1": (schedules.exponential(LR0, k=0.1),
                                                    lambda n: LR0 * math.exp(-0.1 * (n - 1))),
    "1/t: lr0 / (1 + decay_rate epoch_num), decay_rate 1":
        (schedules.inverse_time(LR0, 1.0, steps_per_epoch=1), lambda n: LR0 / (1 + n)),
    "0.95^epoch_num lr0": (schedules.per_epoch_power(LR0, 0.95), lambda n: 0.95 ** n * LR0),
    "k / sqrt(epoch_num) lr0, k 1": (schedules.inverse_sqrt(LR0, 1.0),
                                     lambda n: 1 / math.sqrt(n) * LR0),
}
COURSE_INVERSE_TIME = (0.1, 0.067, 0.05, 0.04)  # lr0 0.2, decay_rate 1, epoch_num 1..4


def generated(key, sizes=(1000, 250), *, dim: int = 32, classes: int = 10,
              noise: float = 2.0) -> data.Splits:
    """A small generated classification problem: `classes` Gaussian blobs in `dim`
    dimensions, x = (prototype[y] + noise * N(0, I)) / sqrt(1 + noise^2) with prototypes
    N(0, I) from fold_in(key, 0) shared by every split; sizes: (train, dev[, test])."""
    parts = _blobs(key, tuple(sizes), dim, classes, noise)
    parts = [data.from_arrays(np.asarray(x), np.asarray(y), name="generated blobs")
             for x, y in parts]
    return data.Splits(*parts, *([None] * (3 - len(parts))))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _blobs(key, sizes, dim, classes, noise):
    prototypes = jax.random.normal(jax.random.fold_in(key, 0), (classes, dim))
    parts = []
    for i, n in enumerate(sizes):
        y = jax.random.randint(jax.random.fold_in(key, 2 * i + 1), (n,), 0, classes)
        spread = jax.random.normal(jax.random.fold_in(key, 2 * i + 2), (n, dim))
        parts.append(((prototypes[y] + noise * spread) / jnp.sqrt(1 + noise ** 2), y))
    return parts


def course_splits(key, *, quick: bool, data_dir=None, train_size: int | None = None):
    """(splits, epochs, batch size): MNIST's 55,000 / 5,000 / 10,000 (the first `train_size`
    training images if given), 5 epochs of batch 100; quick: `generated`, 5 epochs of 50."""
    if quick:
        return generated(key), 5, 50
    splits = data.load_splits("mnist", key=key, data_dir=data_dir)
    if train_size is not None:
        splits = data.Splits(splits.train.take(np.arange(train_size)), splits.dev, splits.test)
    return splits, 5, 100


def mlp(splits: data.Splits, hidden: int = 100) -> nn.Layer:
    """in-100-classes ReLU with He-normal weights (flattening images)."""
    return nn.serial(nn.flatten, nn.dense(hidden, w_init=initializers.he_normal()), nn.relu,
                     nn.dense(splits.train.num_classes))


def schedule_rows() -> list[dict]:
    """Per schedule: the course's formula in epochs 1..4 beside jaxdl's learning rate there
    (update counts 0..3 with one update per epoch)."""
    rows = []
    for name, (schedule, formula) in SCHEDULES.items():
        course = [formula(n) for n in range(1, 5)]
        ours = [float(schedule(jnp.asarray(n - 1, jnp.int32))) for n in range(1, 5)]
        rows.append({"schedule": name,
                     "course, epochs 1..4": ", ".join(f"{v:.4g}" for v in course),
                     "jaxdl, epochs 1..4": ", ".join(f"{v:.4g}" for v in ours),
                     "max difference": max(abs(a - b) for a, b in zip(course, ours))})
    return rows


def run(key, *, quick: bool, out, data_dir=None):
    splits, epochs, batch = course_splits(jax.random.fold_in(key, 0), quick=quick,
                                          data_dir=data_dir)
    model = mlp(splits)
    sweep = ensemble.sweep(model, lambda hp: optim.sgd(hp["lr"]), losses.softmax_cross_entropy,
                           splits, hparams={"lr": list(LEARNING_RATES.values())},
                           key=jax.random.fold_in(key, 1), epochs=epochs, batch_size=batch,
                           verbose=False)
    # every trial has seed 0, so one member key and one initialization: fold_in(key1, 0)
    init = jax.jit(lambda k: train.init_state(model, optim.sgd(0.0), splits.train.x.shape[1:],
                                              key=k))(jax.random.fold_in(jax.random.fold_in(
                                                  key, 1), 0))
    initial = train.evaluate(model, init.params, init.model_state, splits.train)["loss"]
    curves, rows = {}, []
    for (label, lr), row, k in zip(LEARNING_RATES.items(), sweep.table, range(len(sweep.table))):
        curve = np.asarray(sweep.history["train_loss"])[:, k]
        curves[label] = curve
        rows.append({"learning rate": label, "lr": lr, "stopped": row["stopped"],
                     "initial train loss": initial,
                     "train loss per epoch": ", ".join(f"{v:.4f}" for v in curve),
                     "final dev loss": row["final_dev_loss"],
                     "final dev accuracy": row["final_dev_accuracy"]})
    low, good, high = (rows[i] for i in range(3))
    low_change = abs(curves["too low"][-1] - initial) / initial
    high_max = float(np.nanmax(curves["too high"])) if np.isfinite(curves["too high"]).any() \
        else float("nan")
    sched = schedule_rows()
    inverse_time = [float(SCHEDULES["1/t: lr0 / (1 + decay_rate epoch_num), decay_rate 1"][0](
        jnp.asarray(e, jnp.int32))) for e in range(4)]
    checks = {
        "too low: train loss moves < 2 % in all epochs": bool(low_change < 0.02),
        "good: dev loss below half the initial loss": bool(good["final dev loss"] < initial / 2),
        "too high: the loss explodes, turns NaN or rises above its initial value":
            high["stopped"] in ("nan", "exploding") or high_max > initial,
        "schedules equal the course's formulas (1e-6)":
            all(r["max difference"] < 1e-6 for r in sched),
        "1/t gives 0.1, 0.067, 0.05, 0.04": bool(np.allclose(inverse_time, COURSE_INVERSE_TIME,
                                                             atol=5e-4)),
    }
    table = report.comparison_table([
        ("too low (course 1e-6; here 1e-5)", "loss barely changes: 2.302576 -> 2.302420",
         f"{initial:.4f} -> {curves['too low'][-1]:.4f} ({low_change:.2%})"),
        ("good (here 0.1)", "loss goes down",
         f"dev loss {good['final dev loss']:.3f}, accuracy {good['final dev accuracy']:.3f}"),
        ("too high (course 1e6 / 3e-3; here 10)", "cost NaN / explodes",
         f"stopped: {high['stopped']}" + ("" if not np.isfinite(curves["too high"]).any() else
                                          f"; highest epoch loss {high_max:.3g} > initial "
                                          f"{initial:.3g}, dev accuracy "
                                          f"{high['final dev accuracy']:.3f}")),
        ("1/t decay, lr0 0.2, decay_rate 1, epoch_num 1..4", "0.1, 0.067, 0.05, 0.04",
         ", ".join(f"{v:.3g}" for v in inverse_time)),
    ])
    dataset = splits.train.info.name
    markdown = (f"# Learning rate: too low, good, too high; decay schedules\n\n"
                f"{__doc__.split(chr(10) * 2)[1]}\n\n## The course vs jaxdl\n\n{table}\n"
                f"## Loss curves ({dataset}, {len(splits.train)} training examples, {epochs} "
                f"epochs of batch {batch}, SGD)\n\n" + report.markdown_table(rows)
                + "\n## Decay schedules (lr0 = 0.2)\n\nThe per-epoch schedules count "
                  "epoch_num from 1 as the notes do (the first epoch already runs at the "
                  "decayed rate); step and exponential decay count t from 0.\n\n"
                + report.markdown_table(sched)
                + "\n## Checks\n\n" + report.markdown_table(
                    [{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {"dataset": dataset, "epochs": epochs, "batch_size": batch,
                             "initial_train_loss": initial, "runs": rows,
                             "curves": curves, "schedules": sched, "checks": checks}, markdown)
    _figure(curves, initial, dataset, out)
    return verdict(
        all(checks.values()),
        course="too low: flat; too high: NaN/explodes; 1/t decay 0.1, 0.067, 0.05, 0.04",
        measured=f"too low {low_change:.2%} change; good dev loss "
                 f"{good['final dev loss']:.3f}; too high {high['stopped']} (highest loss "
                 f"{high_max:.3g}); 1/t "
                 + ", ".join(f"{v:.3g}" for v in inverse_time),
        summary=f"{dataset}, SGD, initial loss {initial:.3f}: lr 1e-5 -> "
                f"{curves['too low'][-1]:.4f} ({low_change:.2%}), lr 0.1 -> dev loss "
                f"{good['final dev loss']:.3f}, lr 10 {high['stopped']} (highest epoch loss "
                f"{high_max:.3g}); schedules match the "
                f"course's formulas (max difference "
                f"{max(r['max difference'] for r in sched):.1g})",
        numbers={"initial_loss": initial, "low_change": float(low_change),
                 "good_dev_loss": good["final dev loss"], "high_stopped": high["stopped"],
                 "high_max_loss": high_max,
                 "inverse_time": inverse_time,
                 "schedule_differences": {r["schedule"]: r["max difference"] for r in sched},
                 "checks": checks})


def _figure(curves, initial, dataset, out) -> None:
    plt = report.pyplot()
    fig, (loss_ax, decay_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, curve in curves.items():
        shown = np.where(np.isfinite(curve), curve, np.nan)
        epochs = np.arange(1, len(curve) + 1)
        loss_ax.plot(epochs, shown, ".-", label=f"{label} (lr {LEARNING_RATES[label]:g})")
        if not np.isfinite(curve).all():
            loss_ax.annotate(f"{label}: NaN / exploded in epoch 1", (1, initial),
                             textcoords="offset points", xytext=(10, 10), color="tab:green")
    loss_ax.axhline(initial, color="0.5", ls="--", lw=1, label="initial loss")
    loss_ax.set(xlabel="epoch", ylabel="train loss (mean over the epoch)",
                title=f"{dataset}, SGD: learning rate too low / good / too high")
    loss_ax.legend(fontsize=8)
    loss_ax.grid(alpha=0.3)
    epochs = np.arange(EPOCHS_SHOWN)
    for name, (schedule, _) in SCHEDULES.items():
        decay_ax.plot(epochs + 1, [float(schedule(jnp.asarray(e, jnp.int32))) for e in epochs],
                      label=name)
    decay_ax.set(xlabel="epoch", ylabel="learning rate", ylim=(0, LR0 * 1.05),
                 title="decay schedules, lr0 = 0.2 (jaxdl.optim.schedules)")
    decay_ax.legend(fontsize=7)
    decay_ax.grid(alpha=0.3)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="A learning rate too low barely moves the loss, a good one lowers it, one too high "
          "makes it explode (NaN); decay schedules lower it over the epochs",
    source="003 (lecture), Cross validation: tuning hyperparameter; Learning rate decay; "
           "001 (notes), Learning rate decay",
    run=run, minutes=0.7, quick_seconds=12, needs=("mnist",))
