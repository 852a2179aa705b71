"""Overfitting: model complexity vs training and dev error (tutorial 000, "Overfitting" and
"Regularization": polynomial models of growing order and L2 with a regularization factor;
notes 001, "Bias / Variance": high bias = training error high, high variance = dev error
much above training error).

Polynomials: 15 training points of y = sin(pi x) + N(0, 0.3^2), x evenly spaced on [-1, 1], and
500 dev points at x ~ U(-1, 1),
fitted by least squares (closed form, `jnp.linalg.lstsq` on a Legendre basis, the minimum-norm
solution once the degree reaches the number of points), degrees 0..14, all vmapped in one
call. The noise variance 0.09 is the Bayes error (the notes' "human error" baseline), so the
verdict per degree reads: high bias when the training MSE is above twice it (avoidable bias
train - 0.09 > 0.09), high variance when dev - train > 0.09. Then the cure: degree 14 with
an L2 penalty, J = mean (y - Phi w)^2 + lambda ||w||^2 (the constant term not penalized), for
lambda from 0 to 10.

Network width: a 2-D two-class problem (the class is whether x2 < 0.6 sin(4 x1)) with 10 %
of the labels flipped (Bayes error 10 %), 200 training points and 2,000 dev points, one ReLU
hidden layer of 1 .. 512 units trained by Adam 1e-2 without any regularization for 100 epochs
of batch 20 (quick: 1, 32, 512 units, 40 epochs, 2 seeds), every width one member of one
`ensemble.sweep` (`capacity.first_units`), 3 seeds each, their accuracies averaged; verdicts
against the 10 % label noise. Reproduced when the dev error is U-shaped in both (its minimum
inside: degree 0 over 2x and degree 14 over 3x the best; the narrowest net 0.05 and the widest
0.01 above the best width; quick runs are too short for the widest net to overfit and do not
require the width U), training MSE falls with the degree, and L2 brings degree 14 to a third
of its unregularized dev MSE.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import data, ensemble, initializers, losses, nn, optim
from jaxdl.experiments import report
from jaxdl.experiments.capacity import first_units
from jaxdl.experiments.registry import Experiment, verdict

NAME = "overfitting"
NOISE = 0.3
TRAIN_POINTS, DEV_POINTS, MAX_DEGREE = 15, 500, 14
LAMBDAS = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
FLIP = 0.1


def target(x):
    """The noise-free function, sin(pi x)."""
    return jnp.sin(jnp.pi * x)


def noisy_samples(key, x, noise: float = NOISE):
    """(x, y): y = sin(pi x) + N(0, noise^2) at the given x; x = n draws x ~ U(-1, 1) when
    `x` is an int n."""
    if isinstance(x, int):
        x = jax.random.uniform(jax.random.fold_in(key, 0), (x,), minval=-1.0, maxval=1.0)
    return x, target(x) + noise * jax.random.normal(jax.random.fold_in(key, 1), x.shape)


def training_inputs():
    """The training design: TRAIN_POINTS evenly spaced x on [-1, 1]."""
    return jnp.linspace(-1.0, 1.0, TRAIN_POINTS)


def legendre(x, degree: int):
    """(n, degree + 1) Legendre features P_0(x) .. P_degree(x) by Bonnet's recursion
    (k + 1) P_(k+1) = (2k + 1) x P_k - k P_(k-1): a well-conditioned polynomial basis on [-1, 1]."""
    columns = [jnp.ones_like(x), x]
    for k in range(1, degree):
        columns.append(((2 * k + 1) * x * columns[k] - k * columns[k - 1]) / (k + 1))
    return jnp.stack(columns[:degree + 1], axis=-1)


def polynomial_fit(features, y, degree, lam):
    """w minimizing mean (y - Phi_d w)^2 + lam ||w_(1:)||^2 over the first degree + 1 columns
    (the others get w = 0): least squares on Phi stacked on sqrt(n lam) I, the minimum-norm
    solution when it is not unique. `degree` and `lam` may be traced (vmap over them)."""
    n, columns = features.shape
    keep = (jnp.arange(columns) <= degree).astype(features.dtype)
    penalized = keep.at[0].set(0.0)
    a = jnp.concatenate([features * keep, jnp.sqrt(n * lam) * jnp.diag(penalized)])
    b = jnp.concatenate([y, jnp.zeros(columns, y.dtype)])
    return jnp.linalg.lstsq(a, b)[0]


def polynomial_errors(train, dev, degrees, lams):
    """(train MSE, dev MSE) of each (degree, lam) pair, one vmapped call."""
    phi_train, phi_dev = legendre(train[0], MAX_DEGREE), legendre(dev[0], MAX_DEGREE)

    def errors(degree, lam):
        w = polynomial_fit(phi_train, train[1], degree, lam)
        return (jnp.mean((phi_train @ w - train[1]) ** 2),
                jnp.mean((phi_dev @ w - dev[1]) ** 2))
    train_mse, dev_mse = jax.vmap(errors)(jnp.asarray(degrees), jnp.asarray(lams, jnp.float32))
    return np.asarray(train_mse, np.float64), np.asarray(dev_mse, np.float64)


def diagnosis(train_error: float, dev_error: float, bayes: float) -> str:
    """The notes' reading: high bias when the avoidable bias (train - Bayes) exceeds `bayes`,
    high variance when the dev - train gap does and dev is over 1.5x train (the notes' 1 %
    vs 11 %: high variance; 15 % vs 14 %: high bias; 15 % vs 30 %: both)."""
    gap = dev_error - train_error
    labels = [name for name, flag in (("high bias", train_error - bayes > bayes),
                                      ("high variance", gap > bayes and
                                       dev_error > 1.5 * train_error)) if flag]
    return " & ".join(labels) or "balanced"


def boundary_problem(key, n: int):
    """n points of U(-1, 1)^2, class [x2 < 0.6 sin(4 x1)], each label flipped with prob FLIP."""
    x = jax.random.uniform(jax.random.fold_in(key, 0), (n, 2), minval=-1.0, maxval=1.0)
    y = (x[:, 1] < 0.6 * jnp.sin(4 * x[:, 0])).astype(jnp.int32)
    flip = jax.random.bernoulli(jax.random.fold_in(key, 1), FLIP, (n,))
    return data.from_arrays(np.asarray(x), np.asarray(jnp.where(flip, 1 - y, y)), name="boundary")


def width_errors(key, widths, epochs: int, seeds: int = 3):
    """Mean train and dev accuracy per width: one sweep over the traced width."""
    train = boundary_problem(jax.random.fold_in(key, 0), 200)
    dev = boundary_problem(jax.random.fold_in(key, 1), 2000)
    units = widths[-1]

    def build(hp):
        return nn.serial(nn.dense(units, w_init=initializers.he_normal()), nn.relu,
                         first_units(hp["width"], units), nn.dense(2))
    result = ensemble.sweep(build, optim.adam(1e-2), losses.softmax_cross_entropy,
                            (train, dev), hparams={"width": widths}, seeds=seeds,
                            key=jax.random.fold_in(key, 2), epochs=epochs, batch_size=20,
                            verbose=False)
    per_width = {s: np.asarray(result.final[s]["accuracy"]).reshape(len(widths), seeds)
                 for s in ("train", "dev")}
    return per_width["train"].mean(axis=1), per_width["dev"].mean(axis=1)


def run(key, *, quick: bool, out, data_dir=None):
    train = noisy_samples(jax.random.fold_in(key, 0), training_inputs())
    dev = noisy_samples(jax.random.fold_in(key, 1), DEV_POINTS)
    bayes = NOISE ** 2
    degrees = np.arange(MAX_DEGREE + 1)
    train_mse, dev_mse = polynomial_errors(train, dev, degrees, np.zeros(len(degrees)))
    l2_train, l2_dev = polynomial_errors(train, dev, np.full(len(LAMBDAS), MAX_DEGREE), LAMBDAS)
    best_degree = int(np.argmin(dev_mse))
    best_lam = int(np.argmin(l2_dev))
    u_shape = (0 < best_degree < MAX_DEGREE and dev_mse[0] > 2 * dev_mse[best_degree]
               and dev_mse[-1] > 3 * dev_mse[best_degree])
    train_falls = bool(np.all(np.diff(train_mse) <= 1e-4))
    cured = 0 < best_lam and l2_dev[best_lam] < dev_mse[-1] / 3

    widths = [1, 32, 512] if quick else [1, 2, 4, 8, 32, 128, 512]
    width_train, width_dev = width_errors(jax.random.fold_in(key, 2), widths,
                                          epochs=40 if quick else 100, seeds=2 if quick else 3)
    best_width = int(np.argmax(width_dev))
    gaps = width_train - width_dev
    width_u = (0 < best_width < len(widths) - 1
               and width_dev[best_width] > width_dev[0] + 0.05
               and width_dev[best_width] > width_dev[-1] + 0.01)
    ok = bool(u_shape and train_falls and cured and (width_u or quick))

    degree_rows = [{"degree": int(d), "train MSE": f"{t:.4f}", "dev MSE": f"{v:.4g}",
                    "verdict": diagnosis(t, v, bayes)}
                   for d, t, v in zip(degrees, train_mse, dev_mse)]
    l2_rows = [{"lambda": f"{lam:g}", "train MSE": f"{t:.4f}", "dev MSE": f"{v:.4g}",
                "verdict": diagnosis(t, v, bayes)} for lam, t, v in zip(LAMBDAS, l2_train, l2_dev)]
    bayes_error = FLIP
    width_rows = [{"hidden units": w, "train error": f"{1 - t:.3f}", "dev error": f"{1 - v:.3f}",
                   "verdict": diagnosis(1 - t, 1 - v, bayes_error)}
                  for w, t, v in zip(widths, width_train, width_dev)]
    table = report.comparison_table([
        ("dev MSE vs degree", "U-shaped: falls, then rises",
         f"{dev_mse[0]:.3f} (deg 0) -> {dev_mse[best_degree]:.3f} (deg {best_degree}) -> "
         f"{dev_mse[-1]:.3g} (deg {MAX_DEGREE})"),
        ("train MSE vs degree", "falls", f"{train_mse[0]:.3f} -> {train_mse[-1]:.2e}"),
        (f"degree {MAX_DEGREE} with L2", "regularization cures the overfit",
         f"dev {l2_dev[0]:.3g} (lambda 0) -> {l2_dev[best_lam]:.3f} "
         f"(lambda {LAMBDAS[best_lam]:g})"),
        ("dev error vs hidden units", "U-shaped",
         f"{1 - width_dev[0]:.3f} ({widths[0]}) -> {1 - width_dev[best_width]:.3f} "
         f"({widths[best_width]}) -> {1 - width_dev[-1]:.3f} ({widths[-1]}); gap "
         f"{gaps[best_width]:+.3f} -> {gaps[-1]:+.3f}"),
    ])
    markdown = (f"# Overfitting: complexity vs train and dev error\n\n"
                f"{__doc__.split(chr(10) * 2)[1]}\n\n{__doc__.split(chr(10) * 2)[2]}\n\n"
                f"{table}\n"
                "## Polynomial degree (least squares)\n\n" + report.markdown_table(degree_rows)
                + f"\n## Degree {MAX_DEGREE} with L2\n\n" + report.markdown_table(l2_rows)
                + "\n## Network width\n\n" + report.markdown_table(width_rows))
    report.write(out, NAME, {"degrees": degrees, "train_mse": train_mse, "dev_mse": dev_mse,
                             "lambdas": LAMBDAS, "l2_train_mse": l2_train, "l2_dev_mse": l2_dev,
                             "widths": widths, "width_train_accuracy": width_train,
                             "width_dev_accuracy": width_dev}, markdown)
    report.save_figure(_figure(train, dev, degrees, train_mse, dev_mse, l2_dev, best_degree,
                               best_lam, widths, width_train, width_dev), out, NAME)
    return verdict(ok, course="dev error U-shaped in complexity; L2 cures the overfit",
                   measured=f"best degree {best_degree} (dev {dev_mse[best_degree]:.3f}, deg "
                            f"{MAX_DEGREE}: {dev_mse[-1]:.3g}); L2 {LAMBDAS[best_lam]:g}: "
                            f"{l2_dev[best_lam]:.3f}; best width {widths[best_width]}",
                   summary=f"polynomial dev MSE {dev_mse[0]:.3f} (deg 0) -> "
                           f"{dev_mse[best_degree]:.3f} (deg {best_degree}) -> "
                           f"{dev_mse[-1]:.3g} (deg {MAX_DEGREE}); L2 lambda "
                           f"{LAMBDAS[best_lam]:g} brings deg {MAX_DEGREE} to "
                           f"{l2_dev[best_lam]:.3f}; width: dev error "
                           f"{1 - width_dev[0]:.3f} -> {1 - width_dev[best_width]:.3f} "
                           f"({widths[best_width]} units) -> {1 - width_dev[-1]:.3f}",
                   numbers={"train_mse": train_mse.tolist(), "dev_mse": dev_mse.tolist(),
                            "best_degree": best_degree, "l2_dev_mse": l2_dev.tolist(),
                            "best_lambda": LAMBDAS[best_lam], "width_gaps": gaps.tolist(),
                            "width_dev_accuracy": width_dev.tolist(), "best_width": best_width,
                            "verdicts": [r["verdict"] for r in degree_rows],
                            "u_shape": bool(u_shape), "cured": bool(cured),
                            "width_u": bool(width_u)})


def _figure(train, dev, degrees, train_mse, dev_mse, l2_dev, best_degree, best_lam, widths,
            width_train, width_dev):
    pyplot = report.pyplot()
    fig, (ax_fit, ax_deg, ax_lam, ax_w) = pyplot.subplots(1, 4, figsize=(20, 4.5))
    grid = jnp.linspace(-1, 1, 400)
    phi_grid, phi_train = legendre(grid, MAX_DEGREE), legendre(train[0], MAX_DEGREE)
    ax_fit.scatter(train[0], train[1], c="k", s=15, label="training points")
    ax_fit.plot(grid, target(grid), "k--", alpha=0.5, label="sin(pi x)")
    for degree, lam, label in ((1, 0.0, "degree 1"), (best_degree, 0.0, f"degree {best_degree}"),
                               (MAX_DEGREE, 0.0, f"degree {MAX_DEGREE}"),
                               (MAX_DEGREE, LAMBDAS[best_lam],
                                f"degree {MAX_DEGREE}, lambda {LAMBDAS[best_lam]:g}")):
        w = polynomial_fit(phi_train, train[1], degree, lam)
        ax_fit.plot(grid, phi_grid @ w, label=label)
    ax_fit.set(ylim=(-2, 2), xlabel="x", ylabel="y", title="fits")
    ax_fit.legend(fontsize=7)
    ax_deg.semilogy(degrees, train_mse + 1e-12, "o-", label="train")
    ax_deg.semilogy(degrees, dev_mse, "o-", label="dev")
    ax_deg.axhline(NOISE ** 2, color="gray", ls=":", label="noise (Bayes)")
    ax_deg.set(xlabel="polynomial degree", ylabel="MSE", title="complexity vs error")
    ax_deg.legend()
    lams = np.maximum(np.asarray(LAMBDAS), 1e-7)
    ax_lam.loglog(lams, l2_dev, "o-")
    ax_lam.set(xlabel="lambda (0 drawn at 1e-7)", ylabel="dev MSE",
               title=f"degree {MAX_DEGREE} with L2")
    ax_w.semilogx(widths, 1 - width_train, "o-", label="train")
    ax_w.semilogx(widths, 1 - width_dev, "o-", label="dev")
    ax_w.axhline(FLIP, color="gray", ls=":", label="label noise (Bayes)")
    ax_w.set(xlabel="hidden units", ylabel="error", title="network width vs error")
    ax_w.legend()
    return fig


EXPERIMENT = Experiment(
    name=NAME,
    claim="Training error falls with model complexity while dev error is U-shaped (high bias "
          "-> high variance); L2 regularization cures the overfit model",
    source="000 (tutorial), Overfitting and Regularization; 001 (notes), Bias / Variance",
    run=run, minutes=2, quick_seconds=8)
