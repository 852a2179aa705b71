"""Gradient checking finds a wrong backward pass (notes 001, "Gradient checking" and its
implementation notes; tutorial 000: "compare the backpropagation result with the naive
gradient check" for custom layers).

`diagnostics.check_model_gradients` compares jax.grad of the training loss with centered
differences (J(theta + eps) - J(theta - eps)) / 2 eps, eps = 1e-7, in float64, over every
parameter, and reports ||g_approx - g|| / (||g_approx|| + ||g||) with the notes' verdict
(< 1e-7 great, ~1e-5 inspect, >= 1e-3 a bug). Three models on one batch of the embedded
digits (quick: 32 examples, hidden 16; full: 128 examples, hidden 32), all
64 -> hidden -> act -> hidden -> act -> 10 with softmax cross-entropy:
a correct tanh network; the same network whose tanh is a custom layer with a hand-written
backward pass (`jax.custom_vjp`) that is right, 1 - tanh^2; and the planted bug, the
classic slip of using 1 - tanh for the derivative. The check must pass the first two and
flag the third, and its worst leaf must be a layer before the buggy activation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl import data, diagnostics, initializers, nn
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict
from jaxdl.nn.layer import Layer

NAME = "gradient_check"


def custom_tanh(derivative) -> Layer:
    """tanh with a hand-written backward pass: dL/dx = dL/dy * derivative(y), y = tanh(x)."""

    @jax.custom_vjp
    def forward(x):
        return jnp.tanh(x)

    def fwd(x):
        y = jnp.tanh(x)
        return y, y

    def bwd(y, g):
        return (g * derivative(y),)

    forward.defvjp(fwd, bwd)
    return Layer(lambda key, shape: ({}, {}, tuple(shape)),
                 lambda params, state, x, *, key=None, train=False: (forward(x), state),
                 "custom_tanh", uses_key=False)


def right_derivative(y):
    """d tanh / dx = 1 - tanh^2."""
    return 1 - y ** 2


def buggy_derivative(y):
    """The planted bug: 1 - tanh instead of 1 - tanh^2."""
    return 1 - y


def mlp(activation: Layer, hidden: int) -> Layer:
    xavier = initializers.xavier_normal()
    return nn.serial(nn.dense(hidden, w_init=xavier), activation,
                     nn.dense(hidden, w_init=xavier), activation, nn.dense(10, w_init=xavier))


def run(key, *, quick: bool, out, data_dir=None):
    del data_dir
    batch, hidden = (32, 16) if quick else (128, 32)
    digits = data.load("digits")
    order = jax.random.permutation(jax.random.fold_in(key, 0), len(digits))[:batch]
    x = jnp.asarray(digits.x)[order].reshape(batch, -1)
    x, y = x / jnp.max(x), jnp.asarray(digits.y)[order]
    models = {"tanh (autodiff)": (nn.tanh, "correct"),
              "custom tanh, backward 1 - tanh^2": (custom_tanh(right_derivative), "correct"),
              "custom tanh, backward 1 - tanh (planted bug)": (custom_tanh(buggy_derivative),
                                                               "bug")}
    rows, reports = [], {}
    init_key = jax.random.fold_in(key, 1)
    for name, (activation, expected) in models.items():
        model = mlp(activation, hidden)
        params, state, _ = model.init(init_key, (64,))  # the same weights for every model
        check = diagnostics.check_model_gradients(model, params, state, x, y)
        reports[name] = check
        worst = check.worst_leaf
        rows.append({"model": name, "expected": expected,
                     "relative error": f"{check.relative_error:.2e}",
                     "max relative error": f"{check.max_relative_error:.2e}",
                     "verdict": check.verdict, "worst leaf": worst.name if worst else "-",
                     "checked": f"{check.checked} of {check.total}",
                     "ok": check.verdict == expected})
    bug = reports["custom tanh, backward 1 - tanh (planted bug)"]
    worst_is_before = bug.worst_leaf is not None and not bug.worst_leaf.name.startswith("4:")
    checks = {"each model gets its expected verdict": all(r["ok"] for r in rows),
              "the bug's worst leaf is before the last activation": worst_is_before}
    errors = {name: r.max_relative_error for name, r in reports.items()}
    table = report.comparison_table([
        (f"relative error, {name}", "< 1e-7 (great)" if expected == "correct"
         else ">= 1e-3 (bug)", f"{errors[name]:.2e} ({reports[name].verdict})")
        for name, (_, expected) in models.items()])
    markdown = (f"# Gradient checking\n\n{__doc__.split(chr(10) * 2, 1)[1]}\n"
                f"This run: batch {batch}, hidden {hidden}, every parameter checked.\n\n"
                f"## The notes vs jaxdl\n\n{table}\n## Per model\n\n"
                + report.markdown_table(rows)
                + "\n## The planted bug, per leaf\n\n" + report.markdown_table(
                    [{"leaf": leaf.name, "relative error": "within noise"
                      if leaf.relative_error is None or not leaf.above_noise
                      else f"{leaf.relative_error:.2e}"} for leaf in bug.leaves])
                + f"\n## The report of the planted bug\n\n```\n{bug}\n```\n")
    report.write(out, NAME, {"batch": batch, "hidden": hidden, "rows": rows,
                             "checks": checks,
                             "leaves": {name: [leaf._asdict() for leaf in r.leaves]
                                        for name, r in reports.items()}}, markdown)
    _figure(reports, out)
    measured = ", ".join(f"{e:.1e}" for e in errors.values())
    return verdict(
        all(checks.values()),
        course="< 1e-7 correct, >= 1e-3 bug",
        measured=f"max relative errors {measured}",
        summary=f"max relative error (tanh, custom right, custom bug): {measured}; verdicts "
                + ", ".join(r.verdict for r in reports.values()),
        numbers={"max_relative_error": errors,
                 "verdict": {name: r.verdict for name, r in reports.items()},
                 "worst_leaf": {name: r.worst_leaf.name if r.worst_leaf else None
                                for name, r in reports.items()},
                 "checks": checks})


def _figure(reports, out) -> None:
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    names = [leaf.name for leaf in next(iter(reports.values())).leaves]
    for offset, (model, check) in enumerate(reports.items()):
        errors = [max(leaf.relative_error or 0.0, 1e-17) for leaf in check.leaves]
        ax.bar([i + 0.27 * (offset - 1) for i in range(len(names))], errors, width=0.27,
               label=f"{model} ({check.verdict})")
    for bound, style in ((1e-7, ":"), (1e-5, "--"), (1e-3, "-")):
        ax.axhline(bound, color="0.4", ls=style, lw=1)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="relative error per leaf",
           title="gradient check: 1e-7 great, 1e-5 inspect, 1e-3 bug (the notes)")
    ax.legend(fontsize=8)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="Gradient checking (centered differences, eps 1e-7) passes a correct backward pass "
          "(< 1e-7) and flags a wrong one (>= 1e-3)",
    source="001 (notes), Gradient checking; Gradient checking implementation notes",
    run=run, minutes=0.2, quick_seconds=4)
