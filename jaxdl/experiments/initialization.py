"""Weight initialization and training (lecture 003, "Weight initialization": zero/constant
weights, small random numbers, Xavier, He; notes 001, "Weight Initialization for Deep
Networks"; tutorial 000: "often, people accidentally initialize with 0s").

One ReLU network (5 hidden layers of 100 units, zero biases) trained with plain SGD (lr
0.1, batch 50) from five initializations, all one vmapped `ensemble.sweep`, every weight
w = c / n + (s + g / sqrt(n)) * N(0, 1) with n the fan-in:
zeros (c = s = g = 0), constant 1/n (c = 1), 0.01 * randn (s = 0.01), the lecture's Xavier
randn / sqrt(n) (g = 1, jaxdl's `lecun_normal`) and He randn / sqrt(n / 2) (g = sqrt 2).
Zeros and constants are symmetric: every hidden unit of a layer computes the same function,
gets the same gradient and so stays equal to its neighbours for ever (the lecture: "all
hidden units in a layer will always behave the same"); measured as the largest difference
between two units' incoming weights after training, which must stay at float32 rounding
(< 1e-5; random inits differ by more than 0.01). Zeros cannot
learn at all (no gradient reaches the hidden layers) and 0.01 * randn starts with a vanishing
signal, while Xavier and He train. The activation statistics of these initializations at
init are the `activation_statistics` experiment's table (activation_statistics.md).
On MNIST (quick: the embedded 8x8 digits).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import diagnostics, ensemble, initializers, losses, nn, optim
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict
from jaxdl.experiments.sanity_checks import course_splits

NAME = "initialization"
DEPTH, WIDTH = 5, 100
# name: (c, s, g) of w = c / n + (s + g / sqrt(n)) N(0, 1)
INITS = {"zeros": (0.0, 0.0, 0.0), "constant 1/n": (1.0, 0.0, 0.0),
         "0.01 * randn": (0.0, 0.01, 0.0), "Xavier randn/sqrt(n)": (0.0, 0.0, 1.0),
         "He randn/sqrt(n/2)": (0.0, 0.0, math.sqrt(2.0))}
SYMMETRIC = ("zeros", "constant 1/n")
# equal units may differ by float32 rounding: XLA may sum a large matmul's columns in
# different orders (seen: 1.3e-7 on MNIST; exactly 0 on the digits)
ROUNDING = 1e-5


def family(c, s, g):
    """The initializer w = c / n + (s + g / sqrt(n)) * N(0, 1), n = fan-in; c, s, g may be
    traced (one compiled sweep over initializations)."""
    def init(key, shape, dtype=jnp.float32):
        fan_in = initializers.fans(shape)[0]
        return c / fan_in + (s + g / math.sqrt(fan_in)) * jax.random.normal(key, shape, dtype)
    return init


def network(hp) -> nn.Layer:
    w_init = family(hp["c"], hp["s"], hp["g"])
    layers = [nn.flatten]
    for _ in range(DEPTH):
        layers += [nn.dense(WIDTH, w_init=w_init), nn.relu]
    return nn.serial(*layers, nn.dense(10, w_init=w_init))


def unit_spread(params) -> float:
    """The largest |w[i, j] - w[i, 0]| over the hidden layers' incoming weights: 0 when
    every hidden unit of each layer has the same weights."""
    weights = list(diagnostics.named_leaves(params, weights_only=True).values())[:-1]
    return max(float(jnp.max(jnp.abs(w - w[:, :1]))) for w in weights)


def run(key, *, quick: bool, out, data_dir=None):
    splits = course_splits(quick, data_dir, jax.random.fold_in(key, 0))
    epochs = 15 if quick else 8
    columns = list(zip(*INITS.values()))
    result = ensemble.sweep(network, lambda hp: optim.sgd(0.1), losses.softmax_cross_entropy,
                            splits, hparams={"c": columns[0], "s": columns[1],
                                             "g": columns[2]},
                            combine="zip", key=jax.random.fold_in(key, 1), epochs=epochs,
                            batch_size=50, verbose=False)
    rows, curves = [], {}
    for i, name in enumerate(INITS):
        params = jax.tree.map(lambda leaf, i=i: leaf[i], result.params)
        row = result.table[i]
        curves[name] = (np.asarray(result.history["train_loss"][:, i]),
                        np.asarray(result.history["dev_accuracy"][:, i]))
        rows.append({"init": name, "stopped": row["stopped"],
                     "final train loss": row["final_train_loss"],
                     "final dev accuracy": row["final_dev_accuracy"],
                     "test accuracy": row["test_accuracy"],
                     "max difference between units": unit_spread(params)})
    by = {r["init"]: r for r in rows}
    dev = {name: by[name]["final dev accuracy"] for name in INITS}
    checks = {
        f"zeros and constant: every hidden unit stays equal (difference < {ROUNDING:g})":
            all(by[n]["max difference between units"] < ROUNDING for n in SYMMETRIC),
        "random inits break the symmetry (difference > 0.01)":
            all(by[n]["max difference between units"] > 0.01
                for n in INITS if n not in SYMMETRIC),
        "zeros learns nothing (dev accuracy < 0.3)": dev["zeros"] < 0.3,
        "Xavier and He train (dev accuracy > 0.85)":
            min(dev["Xavier randn/sqrt(n)"], dev["He randn/sqrt(n/2)"]) > 0.85,
        "0.01 * randn is behind He": dev["0.01 * randn"] < dev["He randn/sqrt(n/2)"],
    }
    table = report.comparison_table([
        ("zeros / constant: hidden units", "always behave the same",
         f"max difference {by['zeros']['max difference between units']:g} / "
         f"{by['constant 1/n']['max difference between units']:g}"),
        *[(f"dev accuracy after {epochs} epochs, {name}", course, f"{dev[name]:.4f}")
          for name, course in (("zeros", "no better than random guess"),
                               ("constant 1/n", "less diverse (one unit's worth)"),
                               ("0.01 * randn", "not for deep networks"),
                               ("Xavier randn/sqrt(n)", "works (breaks with ReLU in depth)"),
                               ("He randn/sqrt(n/2)", "works for ReLU"))],
    ])
    markdown = (f"# Weight initialization\n\n{__doc__.split(chr(10) * 2, 1)[1]}\n"
                f"This run: {'digits' if quick else 'MNIST'}, {epochs} epochs.\n\n"
                f"## The course vs jaxdl\n\n{table}\n## Per initialization\n\n"
                + report.markdown_table(rows)
                + "\nThe per-layer activation statistics of 0.01 * randn, Xavier and He at "
                  "initialization: [activation_statistics](activation_statistics.md).\n"
                + "\n## Checks\n\n"
                + report.markdown_table([{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {"epochs": epochs, "rows": rows, "checks": checks,
                             "curves": {n: {"train_loss": a, "dev_accuracy": b}
                                        for n, (a, b) in curves.items()}}, markdown)
    _figure(curves, out)
    measured = ", ".join(f"{dev[n]:.3f}" for n in INITS)
    return verdict(
        all(checks.values()),
        course="zeros: units stay equal, no learning; Xavier/He train",
        measured=f"dev accuracy {measured}; symmetric units' max difference "
                 f"{max(by[n]['max difference between units'] for n in SYMMETRIC):g}",
        summary=f"dev accuracy (zeros, constant, 0.01, Xavier, He) after {epochs} epochs: "
                f"{measured}; max difference between hidden units: zeros "
                f"{by['zeros']['max difference between units']:g}, constant "
                f"{by['constant 1/n']['max difference between units']:g}",
        numbers={"dev_accuracy": dev,
                 "unit_spread": {r["init"]: r["max difference between units"] for r in rows},
                 "checks": checks})


def _figure(curves, out) -> None:
    plt = report.pyplot()
    fig, (loss, accuracy) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, (train_loss, dev_accuracy) in curves.items():
        epochs = np.arange(1, len(train_loss) + 1)
        loss.plot(epochs, train_loss, marker="o", label=name)
        accuracy.plot(epochs, dev_accuracy, marker="o", label=name)
    loss.set(xlabel="epoch", ylabel="train loss", yscale="log",
             title=f"ReLU {DEPTH} x {WIDTH}, plain SGD: training loss per initialization")
    accuracy.set(xlabel="epoch", ylabel="dev accuracy", ylim=(0, 1),
                 title="zeros and constants stay symmetric")
    accuracy.legend(fontsize=8)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="Zero (or constant) weights keep every hidden unit equal and learn nothing useful; "
          "0.01 * randn is slow in deep networks; Xavier and He train",
    source="003 (lecture), Weight initialization: zero/constant weights, random, Xavier, He; "
           "001 (notes), Weight Initialization for Deep Networks",
    run=run, minutes=2, quick_seconds=10, needs=("mnist",))
