"""Capacity of one hidden layer (lecture 003, "Capacity of Neural Network": the universal
approximation theorem, Hornik 1991: "a single hidden layer neural network with a linear
output unit can approximate any continuous function arbitrarily well, given enough hidden
units").

A bumpy 1-D function, f(x) = sin(3x) + 0.3 cos(6x) + 0.2 x^2 on [-2, 2] (1,024 evenly spaced
training points, quick: 256; noise-free: the question is approximation, not generalization),
fitted by x -> tanh hidden layer of k units -> linear output, k = 1, 2, 4, ..., 128 (quick: up
to 16), Adam from 1e-2 decaying exponentially to 1e-4 at the end, 200 epochs (quick: 150) of
batch 32, mean squared error. Hidden weights ~ N(0, 3^2) and biases ~ U(-6, 6), so the units'
transitions (at x = -b/w) start spread over the input range. Every width is one member of a
single `ensemble.sweep`: the network has 128 (quick: 16) hidden units and the hyperparameter
`width` k zeroes all but the first k (`first_units`), so units beyond k are 0 in the forward
pass and get zero gradients: the member is exactly a width-k network, and all widths train in
one vmapped program. Measured:
the MSE on 2,001 points of [-2, 2] after training, best of 2 seeds per width;
reproduced when it falls more than 100x (quick: 10x) from 1 unit to the widest, and no
doubling raises it by more than 1.5x.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import ensemble, initializers, losses, nn, optim
from jaxdl._checks import check_positive_int
from jaxdl.nn.layer import as_shape
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict

NAME = "capacity"
LR, BATCH = 1e-2, 32


def bumpy(x):
    """The target, sin(3x) + 0.3 cos(6x) + 0.2 x^2."""
    return jnp.sin(3 * x) + 0.3 * jnp.cos(6 * x) + 0.2 * x ** 2


def first_units(k, units: int) -> nn.Layer:
    """y = x * [i < k] on the last axis of `units` features: only the first k are kept.

    `k` may be traced (a sweep's hyperparameter), so one program holds every width <= units;
    the dropped units output 0 and get zero gradients, as if the layer were k units wide.
    """
    units = check_positive_int("first_units", "units", units)
    name = f"first_units(of {units})"

    def init(key, input_shape):
        shape = as_shape(name, input_shape)
        if shape[-1] != units:
            raise nn.ShapeError(f"{name}: expected {units} features, got input {shape}")
        return {}, {}, shape

    def apply(params, state, x, *, key=None, train=False):
        return x * (jnp.arange(units) < k).astype(x.dtype), state

    return nn.Layer(init, apply, name, uses_key=False)


def one_hidden_layer(units: int, activation=nn.tanh):
    """`hp -> Layer`: x -> dense(units, transitions spread over [-2, 2]) -> activation ->
    the first hp["width"] units -> dense(1)."""
    def build(hp):
        return nn.serial(nn.dense(units, w_init=initializers.normal(3.0),
                                  b_init=initializers.uniform(-6.0, 6.0)),
                         activation, first_units(hp["width"], units), nn.dense(1))
    return build


def run(key, *, quick: bool, out, data_dir=None):
    widths = [1, 2, 4, 8, 16] if quick else [1, 2, 4, 8, 16, 32, 64, 128]
    epochs, points = (150, 256) if quick else (200, 1024)
    units, seeds = widths[-1], 2
    x = jnp.linspace(-2.0, 2.0, points)[:, None]
    grid = jnp.linspace(-2.0, 2.0, 2001)[:, None]
    build = one_hidden_layer(units)
    steps = epochs * points // BATCH
    opt = optim.adam(optim.schedules.exponential(LR, rate=0.01, every=steps))
    result = ensemble.sweep(build, opt, losses.mse, (x, bumpy(x)),
                            hparams={"width": widths}, seeds=seeds, key=key, epochs=epochs,
                            batch_size=BATCH, verbose=False)
    # member i is width widths[i // seeds], seed i % seeds (trial-major)
    predict = jax.vmap(lambda hp, p, s: build({"width": hp})
                       .apply(p, s, grid)[0][:, 0])
    curves = np.asarray(predict(jnp.asarray(result.hparams["width"]), result.params,
                                result.model_state))
    errors = np.mean((curves - np.asarray(bumpy(grid))[:, 0]) ** 2, axis=1).reshape(
        len(widths), seeds)
    best = errors.argmin(axis=1)
    mse = errors.min(axis=1)
    rows = [{"hidden units": w, "parameters": 3 * w + 1, "grid MSE (best seed)": f"{m:.2e}",
             "grid MSE per seed": ", ".join(f"{e:.2e}" for e in errors[i])}
            for i, (w, m) in enumerate(zip(widths, mse))]
    # the claim: error falls with width; each doubling may stall (optimization) but not undo it
    ratio, needed = float(mse[0] / mse[-1]), 10 if quick else 100  # quick: 1,200 steps only
    non_increasing = bool(np.all(mse[1:] <= mse[:-1] * 1.5))
    ok = ratio > needed and non_increasing
    table = report.comparison_table([
        ("error vs hidden units", "falls: any continuous f, given enough units",
         f"{mse[0]:.2e} (1 unit) -> {mse[-1]:.2e} ({widths[-1]} units), x{ratio:.0f}"),
        (f"the error falls more than x{needed}", "-", str(ratio > needed)),
        ("every doubling keeps or lowers the error (within x1.5)", "-", str(non_increasing)),
    ])
    markdown = (f"# Capacity of one hidden layer\n\n{__doc__.split(chr(10) * 2)[1]}\n\n"
                f"{table}\n## Error per width\n\n" + report.markdown_table(rows))
    report.write(out, NAME, {"widths": widths, "epochs": epochs, "seeds": seeds,
                             "mse": mse, "mse_per_seed": errors}, markdown)
    report.save_figure(_figure(widths, mse, grid, curves.reshape(len(widths), seeds, -1),
                               best), out, NAME)
    return verdict(ok, course="error falls as hidden units grow (universal approximation)",
                   measured=f"MSE {mse[0]:.2e} -> {mse[-1]:.2e}",
                   summary="one tanh layer on sin(3x)+0.3cos(6x)+0.2x^2: grid MSE "
                           + ", ".join(f"{w}: {m:.1e}" for w, m in zip(widths, mse)),
                   numbers={"widths": widths, "mse": [float(m) for m in mse], "ratio": ratio,
                            "non_increasing": non_increasing})


def _figure(widths, mse, grid, curves, best):
    pyplot = report.pyplot()
    fig, (ax_fit, ax_err) = pyplot.subplots(1, 2, figsize=(12, 4.5))
    g = np.asarray(grid)[:, 0]
    ax_fit.plot(g, np.asarray(bumpy(grid))[:, 0], "k", lw=3, alpha=0.4, label="target")
    for i, w in enumerate(widths):
        ax_fit.plot(g, curves[i, best[i]], lw=1, label=f"{w} units")
    ax_fit.set(xlabel="x", ylabel="f(x)", title="one hidden tanh layer, growing width")
    ax_fit.legend(fontsize=7, ncol=2)
    ax_err.loglog(widths, mse, "o-")
    ax_err.set(xlabel="hidden units", ylabel="MSE on [-2, 2]", title="approximation error")
    return fig


EXPERIMENT = Experiment(
    name=NAME,
    claim="One hidden layer approximates a continuous function arbitrarily well given "
          "enough hidden units: the error falls as the width grows",
    source="003 (lecture), Capacity of Neural Network: universal approximation theorem",
    run=run, minutes=0.5, quick_seconds=5)
