"""Optimizer paths on the lecture's quadratic, and their loss curves on data (lecture 003,
"Influence of step size example (constant step size)"; SGD+Momentum, Nesterov, AdaGrad,
RMSProp, Adam; tutorial 000, "Momentum update" to "Adam").

f(x1, x2) = x1^2 + x1 x2 + 4 x2^2 = x^T H x / 2 with H = [[2, 1], [1, 8]], from (3, 3).
Gradient descent x <- x - lr grad f multiplies the component along each eigenvector of H
by 1 - lr lambda_i (lambda = 5 -/+ sqrt(10) = 1.84, 8.16), so with a constant step size it
converges monotonically for lr < 1 / lambda_max = 0.1225, oscillates across the valley but
converges for 1 / lambda_max < lr < 2 / lambda_max = 0.2450, and diverges beyond, at the
rate max_i |1 - lr lambda_i| per step. (The lecture's slide names the function and the start
but its step sizes and pictures did not survive the conversion: 0.02, 0.1, 0.2 and 0.25 here
cover the three regimes.) The same start for jaxdl.optim's momentum and Nesterov (lr 0.05,
mu 0.9), Adagrad (lr 1), RMSprop (lr 0.1, decay 0.9) and Adam (lr 0.3), 200 steps each.
Checked: every step size's regime and rate against the eigenvalues; the tutorial's
"momentum has a tendency to overshoot the target" (its path passes the minimum along the
shallow valley in its first 50 steps, which gradient descent never does for
lr < 1 / lambda_min) and "Nesterov
converges better than momentum" (fewer steps to f < 1e-6 with the same lr and mu); and, on
data (full: MNIST, 784-100-10 ReLU, 5 epochs of batch 100; quick: generated blobs), that
plain SGD learns slowest at the customary learning rates (SGD, momentum, Nesterov, Adagrad
0.01; RMSprop, Adam 0.001; quick: SGD, momentum and Adam only), as in the tutorial's
animations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import losses, optim, train
from jaxdl.experiments import report
from jaxdl.experiments.learning_rate import course_splits, mlp
from jaxdl.experiments.registry import Experiment, verdict

NAME = "optimizer_paths"
HESSIAN = np.array([[2.0, 1.0], [1.0, 8.0]])
START = (3.0, 3.0)
STEPS = 200
GD_STEP_SIZES = (0.02, 0.1, 0.2, 0.25)
PATH_OPTIMIZERS = {  # name: (lr -> optimizer, lr)
    "momentum (lr 0.05, mu 0.9)": (lambda lr: optim.momentum(lr, 0.9), 0.05),
    "Nesterov (lr 0.05, mu 0.9)": (lambda lr: optim.nesterov(lr, 0.9), 0.05),
    "Adagrad (lr 1)": (optim.adagrad, 1.0),
    "RMSprop (lr 0.1, decay 0.9)": (lambda lr: optim.rmsprop(lr, 0.9), 0.1),
    "Adam (lr 0.3)": (optim.adam, 0.3),
}
QUICK_DATA_OPTIMIZERS = ("SGD (0.01)", "momentum (0.01, 0.9)", "Adam (0.001)")
DATA_OPTIMIZERS = {  # the customary learning rates
    "SGD (0.01)": lambda: optim.sgd(0.01),
    "momentum (0.01, 0.9)": lambda: optim.momentum(0.01, 0.9),
    "Nesterov (0.01, 0.9)": lambda: optim.nesterov(0.01, 0.9),
    "Adagrad (0.01)": lambda: optim.adagrad(0.01),
    "RMSprop (0.001)": lambda: optim.rmsprop(0.001),
    "Adam (0.001)": lambda: optim.adam(0.001),
}
TOLERANCE = 1e-6  # f below this counts as arrived
RATE_WINDOW = (40, 60)  # steps over which the per-step contraction is measured


def f(x):
    """The lecture's quadratic x1^2 + x1 x2 + 4 x2^2 (= x^T H x / 2)."""
    return x[..., 0] ** 2 + x[..., 0] * x[..., 1] + 4 * x[..., 1] ** 2


def paths(make, values, steps: int = STEPS) -> np.ndarray:
    """(len(values), steps + 1, 2): the iterates on f from START of `make(v)` for each value
    v (a hyperparameter, traced: one compiled program for all), the start first."""
    x0 = jnp.asarray(START, jnp.float32)

    def one(value):
        opt = make(value)

        def step(carry, _):
            x, state = carry
            updates, state = opt.update(jax.grad(f)(x), state, x)
            x = optax.apply_updates(x, updates)
            return (x, state), x

        return jax.lax.scan(step, (x0, opt.init(x0)), None, length=steps)[1]

    xs = np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(values, jnp.float32)))
    return np.concatenate([np.broadcast_to(np.asarray(x0), (len(values), 1, 2)), xs], axis=1)


def eigen() -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and unit eigenvectors (columns, sign fixed so that START has
    positive components) of the Hessian."""
    values, vectors = np.linalg.eigh(HESSIAN)
    return values, vectors * np.sign(np.asarray(START) @ vectors)


def predicted_regime(lr: float) -> str:
    """Gradient descent's regime on f: from the factors 1 - lr lambda_i of the eigenmodes."""
    lam_max = eigen()[0][-1]
    if lr > 2 / lam_max:
        return "diverging"
    return "oscillating" if lr > 1 / lam_max else "monotone"


def observed_regime(xs: np.ndarray) -> str:
    """The regime a path shows: diverging (f ends above its start), oscillating (the steep
    eigen-component changes sign on most of the first 40 steps), else monotone."""
    values = f(xs)
    if not np.isfinite(values[-1]) or values[-1] > values[0]:
        return "diverging"
    steep = xs[:41] @ eigen()[1][:, -1]
    flips = np.mean(np.sign(steep[1:]) != np.sign(steep[:-1]))
    return "oscillating" if flips > 0.9 else "monotone"


def steps_to(xs: np.ndarray, tolerance: float = TOLERANCE) -> int | None:
    """The first step at which f < tolerance (None if never)."""
    below = np.flatnonzero(f(xs) < tolerance)
    return int(below[0]) if below.size else None


def overshoot(xs: np.ndarray, steps: int = 50) -> float:
    """How far the path passes the minimum along the shallow eigenvector in its first
    `steps` steps, as a fraction of the start's component there (0 if it never crosses)."""
    shallow = xs[:steps + 1] @ eigen()[1][:, 0]
    return float(max(0.0, -np.min(shallow / shallow[0])))


def _data_curves(key, quick: bool, data_dir):
    splits, epochs, batch = course_splits(key, quick=quick, data_dir=data_dir)
    curves = {}
    for i, (name, make) in enumerate(DATA_OPTIMIZERS.items()):
        if quick and name not in QUICK_DATA_OPTIMIZERS:
            continue
        result = train.fit(mlp(splits), make(), losses.softmax_cross_entropy, splits,
                           key=jax.random.fold_in(key, 100 + i), epochs=epochs,
                           batch_size=batch, verbose=False)
        curves[name] = {"train_loss": result.history["train_loss"],
                        "dev_accuracy": result.history["dev_accuracy"],
                        "final_train_loss": result.final["train"]["loss"]}
    return splits.train.info.name, len(splits.train), epochs, batch, curves


def run(key, *, quick: bool, out, data_dir=None):
    lam, _ = eigen()
    gd_rows, trajectories = [], {}
    for lr, xs in zip(GD_STEP_SIZES, paths(optim.sgd, GD_STEP_SIZES)):
        trajectories[f"GD lr {lr}"] = xs
        start, stop = RATE_WINDOW
        norms = np.linalg.norm(xs, axis=1)
        gd_rows.append({
            "step size": lr, "predicted": predicted_regime(lr), "observed": observed_regime(xs),
            "rate max abs(1 - lr lambda)": float(np.max(np.abs(1 - lr * lam))),
            "rate measured": float((norms[stop] / norms[start]) ** (1 / (stop - start))),
            f"f after {STEPS} steps": float(f(xs[-1])), "steps to f < 1e-6": steps_to(xs),
            "overshoot": overshoot(xs)})
    opt_rows = []
    for name, (make, value) in PATH_OPTIMIZERS.items():
        xs = paths(make, [value])[0]
        trajectories[name] = xs
        opt_rows.append({"optimizer": name, f"f after {STEPS} steps": float(f(xs[-1])),
                         "lowest f": float(f(xs).min()), "at step": int(np.argmin(f(xs))),
                         "steps to f < 1e-6": steps_to(xs), "overshoot": overshoot(xs)})
    by_name = {r["optimizer"]: r for r in opt_rows}
    rms = by_name["RMSprop (lr 0.1, decay 0.9)"]
    momentum, nesterov_row = by_name["momentum (lr 0.05, mu 0.9)"], by_name["Nesterov (lr 0.05, mu 0.9)"]
    dataset, n_train, epochs, batch, curves = _data_curves(jax.random.fold_in(key, 1), quick,
                                                           data_dir)
    final = {name: c["final_train_loss"] for name, c in curves.items()}
    slowest = max(final, key=final.get)
    checks = {
        "every step size's regime as the eigenvalues predict":
            all(r["predicted"] == r["observed"] for r in gd_rows),
        "every rate = max abs(1 - lr lambda) (0.1 %)":
            all(abs(r["rate measured"] / r["rate max abs(1 - lr lambda)"] - 1) < 1e-3
                for r in gd_rows),
        "momentum overshoots, gradient descent (lr < 1/lambda_min) does not":
            momentum["overshoot"] > 0.05 and all(r["overshoot"] < 1e-3 for r in gd_rows
                                                  if r["step size"] < 1 / lam[0]),
        "Nesterov arrives in fewer steps than momentum":
            nesterov_row["steps to f < 1e-6"] is not None and (
                momentum["steps to f < 1e-6"] is None
                or nesterov_row["steps to f < 1e-6"] < momentum["steps to f < 1e-6"]),
        f"SGD learns slowest on {dataset}": slowest == "SGD (0.01)",
    }
    data_rows = [{"optimizer": name, "train loss per epoch": ", ".join(f"{v:.3f}" for v in
                                                                        c["train_loss"]),
                  "final train loss": c["final_train_loss"],
                  "final dev accuracy": c["dev_accuracy"][-1]} for name, c in curves.items()]
    table = report.comparison_table([
        *[(f"GD lr {r['step size']}", r["predicted"] + " (from lambda = 1.84, 8.16)",
           f"{r['observed']}, rate {r['rate measured']:.4f}") for r in gd_rows],
        ("momentum", "overshoots the target", f"passes the minimum by "
                                              f"{momentum['overshoot']:.0%} of the start"),
        ("Nesterov vs momentum", "Nesterov converges better",
         f"f < 1e-6 after {nesterov_row['steps to f < 1e-6']} vs "
         f"{momentum['steps to f < 1e-6']} steps"),
        (f"{dataset}: slowest learner", "regular gradient descent",
         f"{slowest} (final train loss {final[slowest]:.3f})"),
    ])
    markdown = (f"# Optimizer paths\n\n{__doc__.split(chr(10) * 2, 1)[1]}\n"
                f"## The course vs jaxdl\n\n{table}\n"
                f"## Gradient descent with constant step sizes\n\n"
                f"2 / lambda_max = {2 / lam[-1]:.4f}, 1 / lambda_max = {1 / lam[-1]:.4f}, "
                f"lambda = {lam[0]:.4f}, {lam[1]:.4f}.\n\n" + report.markdown_table(gd_rows)
                + f"\n## Optimizers on the quadratic ({STEPS} steps)\n\n"
                + report.markdown_table(opt_rows)
                + f"\nRMSprop does not settle: f falls to {rms['lowest f']:.2g} (step "
                  f"{rms['at step']}) and climbs back to {rms[f'f after {STEPS} steps']:.2g}; "
                  "with a constant learning rate its steps, lr * g / rms(g), stay of order lr "
                  "near the minimum.\n"
                + f"\n## On {dataset} ({n_train} training examples, {epochs} epochs of batch "
                  f"{batch}, {'784' if dataset == 'mnist' else '32'}-100-10 ReLU)\n\n"
                + report.markdown_table(data_rows)
                + "\n## Checks\n\n" + report.markdown_table(
                    [{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {"hessian_eigenvalues": lam, "gd": gd_rows, "optimizers": opt_rows,
                             "paths": trajectories, "data": {"dataset": dataset, "epochs": epochs,
                                                      "batch_size": batch, "curves": curves},
                             "checks": checks}, markdown)
    _figure(trajectories, curves, dataset, out)
    regimes = ", ".join(f"{r['step size']}: {r['observed']}" for r in gd_rows)
    return verdict(
        all(checks.values()),
        course="converge / oscillate / diverge with the step size; momentum overshoots; "
               "Nesterov better; SGD slowest",
        measured=f"{regimes}; Nesterov {nesterov_row['steps to f < 1e-6']} vs momentum "
                 f"{momentum['steps to f < 1e-6']} steps; slowest on {dataset}: {slowest}",
        summary=f"GD regimes {regimes} (2/lambda_max = {2 / lam[-1]:.4f}); momentum overshoot "
                f"{momentum['overshoot']:.2f}; steps to f<1e-6 Nesterov "
                f"{nesterov_row['steps to f < 1e-6']}, momentum "
                f"{momentum['steps to f < 1e-6']}; {dataset} final train loss "
                + ", ".join(f"{k} {v:.3f}" for k, v in final.items()),
        numbers={"regimes": {r["step size"]: r["observed"] for r in gd_rows},
                 "predicted": {r["step size"]: r["predicted"] for r in gd_rows},
                 "rates": {r["step size"]: r["rate measured"] for r in gd_rows},
                 "steps_to_tolerance": {r["optimizer"]: r["steps to f < 1e-6"]
                                        for r in opt_rows},
                 "overshoot": {r["optimizer"]: r["overshoot"] for r in opt_rows},
                 "final_train_loss": final, "checks": checks})


def _figure(trajectories, curves, dataset, out) -> None:
    plt = report.pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 10))
    grid = np.linspace(-4, 4, 201)
    x1, x2 = np.meshgrid(grid, grid)
    levels = np.geomspace(0.01, 100, 15)
    colors = {name: f"C{i}" for i, name in enumerate(trajectories)}  # one per path, all panels
    for ax, title, names in (
            (axes[0, 0], "gradient descent, constant step sizes",
             [n for n in trajectories if n.startswith("GD")]),
            (axes[0, 1], "momentum, Nesterov, Adagrad, RMSprop, Adam (Adagrad's and "
                     "Adam's first steps\nfollow the diagonal: their steps are ~lr * sign(g))",
             [n for n in trajectories if not n.startswith("GD")])):
        ax.contour(x1, x2, f(np.stack([x1, x2], -1)), levels=levels, colors="0.75",
                   linewidths=0.7)
        for name in names:
            xs = trajectories[name]
            ax.plot(xs[:, 0], xs[:, 1], ".-", ms=3, lw=1, color=colors[name], label=name)
        ax.plot(*START, "k^", label="start (3, 3)")
        ax.plot(0, 0, "k*", ms=10)
        ax.set(xlim=(-4, 4), ylim=(-4, 4), xlabel="x1", ylabel="x2", aspect="equal",
               title=title)
        ax.legend(fontsize=7, loc="lower left")
    ax = axes[1, 0]
    for name, xs in trajectories.items():
        ax.semilogy(np.arange(len(xs)), np.maximum(f(xs), 1e-30), color=colors[name],
                    label=name)
    ax.set(xlabel="step", ylabel="f(x)", title="f = x1^2 + x1 x2 + 4 x2^2 per step",
           ylim=(1e-20, 1e6))
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    ax.grid(alpha=0.3)
    ax = axes[1, 1]
    for name, curve in curves.items():
        ax.plot(np.arange(1, len(curve["train_loss"]) + 1), curve["train_loss"], ".-",
                label=name)
    ax.set(xlabel="epoch", ylabel="train loss (mean over the epoch)",
           title=f"{dataset}: loss curves at the customary learning rates")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="On f = x1^2 + x1 x2 + 4 x2^2 a constant step size converges, oscillates or diverges "
          "(beyond 2/lambda_max); momentum overshoots, Nesterov converges better, plain SGD "
          "learns slowest",
    source="003 (lecture), Influence of step size example; SGD+Momentum, Nesterov, AdaGrad, "
           "RMSProp, Adam; 000 (tutorial), Momentum update to Adam",
    run=run, minutes=1.5, quick_seconds=15, needs=("mnist",))
