"""The bias^2 + variance + noise decomposition of test error over resampled training sets
(notes 001, "Bias / Variance": underfitting is high bias, overfitting high variance; the
lecture's and tutorial's complexity pictures).

The setup of `overfitting`: y = sin(pi x) + N(0, 0.3^2), 15 training points evenly spaced on
[-1, 1]; R = 200 (quick: 50) training sets drawn with fresh noise, each fitted by least squares
with every polynomial degree 0..12 (one vmapped call over sets and degrees). On 2,000 test
points x ~ U(-1, 1) with their own noisy labels, per degree: f_bar(x) = the mean prediction
over the R fits, bias^2 = mean_x (f_bar(x) - f(x))^2, variance = mean_x mean_r (f_r(x) -
f_bar(x))^2, noise = 0.09, and the measured test MSE = mean_x mean_r (f_r(x) - y(x))^2.
The identity E[(f_r - y)^2] = bias^2 + variance + noise holds in expectation; here it holds
up to the sampled test noise's cross term. Reproduced when bias^2 falls and variance rises
with the degree (degree 12 vs 0 and vs the best degree), the test MSE is U-shaped, and the
sum matches the measured MSE within 5 % at every degree.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.experiments import report
from jaxdl.experiments.overfitting import (NOISE, legendre, noisy_samples, polynomial_fit,
                                           target, training_inputs)
from jaxdl.experiments.registry import Experiment, verdict

NAME = "bias_variance"
MAX_DEGREE, TEST_POINTS = 12, 2000


def decomposition(key, resamples: int, degrees):
    """Per degree: bias^2, variance, noise and measured test MSE over `resamples` training
    sets (keys fold_in(key, r)), with test points from fold_in(key, resamples)."""
    x_train = training_inputs()
    test_x, test_y = noisy_samples(jax.random.fold_in(key, resamples), TEST_POINTS)
    phi_train, phi_test = legendre(x_train, MAX_DEGREE), legendre(test_x, MAX_DEGREE)

    def predictions(r, degree):
        y = noisy_samples(jax.random.fold_in(key, r), x_train)[1]
        return phi_test @ polynomial_fit(phi_train, y, degree, 0.0)

    per_set = jax.vmap(lambda r: jax.vmap(lambda d: predictions(r, d))(jnp.asarray(degrees)))
    f = np.asarray(per_set(jnp.arange(resamples)), np.float64)  # (R, degrees, test)
    mean = f.mean(axis=0)
    truth = np.asarray(target(test_x), np.float64)
    bias2 = np.mean((mean - truth) ** 2, axis=-1)
    variance = np.mean((f - mean) ** 2, axis=(0, -1))
    measured = np.mean((f - np.asarray(test_y, np.float64)) ** 2, axis=(0, -1))
    noise = float(np.mean((np.asarray(test_y, np.float64) - truth) ** 2))
    return bias2, variance, noise, measured


def run(key, *, quick: bool, out, data_dir=None):
    resamples = 50 if quick else 200
    degrees = np.arange(MAX_DEGREE + 1)
    bias2, variance, noise, measured = decomposition(key, resamples, degrees)
    total = bias2 + variance + NOISE ** 2
    mismatch = np.abs(total - measured) / measured
    best = int(np.argmin(measured))
    ok = bool(bias2[-1] < bias2[0] / 10 and bias2[best] < bias2[0] / 10
              and variance[-1] > 10 * variance[0] and variance[-1] > 3 * variance[best]
              and 0 < best < MAX_DEGREE and np.all(mismatch < 0.05))
    rows = [{"degree": int(d), "bias^2": f"{b:.4f}", "variance": f"{v:.4f}",
             "noise": f"{NOISE ** 2:.2f}", "sum": f"{t:.4f}", "measured test MSE": f"{m:.4f}",
             "sum vs measured": f"{(t - m) / m:+.2%}"}
            for d, b, v, t, m in zip(degrees, bias2, variance, total, measured)]
    table = report.comparison_table([
        ("bias^2 vs degree", "falls (underfitting = high bias)",
         f"{bias2[0]:.3f} (deg 0) -> {bias2[best]:.4f} (deg {best}) -> {bias2[-1]:.4f} "
         f"(deg {MAX_DEGREE})"),
        ("variance vs degree", "rises (overfitting = high variance)",
         f"{variance[0]:.4f} -> {variance[best]:.4f} -> {variance[-1]:.3f}"),
        ("bias^2 + variance + noise vs measured MSE", "equal (in expectation)",
         f"largest mismatch {mismatch.max():.2%}"),
        ("sampled test noise (mean (y - f)^2)", f"{NOISE ** 2:.2f}", f"{noise:.4f}"),
    ])
    markdown = (f"# Bias-variance decomposition\n\n{__doc__.split(chr(10) * 2)[1]}\n\n"
                f"This run: {resamples} training sets.\n\n{table}\n## Per degree\n\n"
                + report.markdown_table(rows))
    report.write(out, NAME, {"resamples": resamples, "degrees": degrees, "bias2": bias2,
                             "variance": variance, "noise": NOISE ** 2,
                             "sampled_noise": noise, "measured": measured}, markdown)
    report.save_figure(_figure(degrees, bias2, variance, measured), out, NAME)
    return verdict(ok, course="bias falls and variance rises with complexity; test error = "
                              "bias^2 + variance + noise",
                   measured=f"bias^2 {bias2[0]:.3f} -> {bias2[-1]:.4f}, variance "
                            f"{variance[0]:.4f} -> {variance[-1]:.3f}, sum within "
                            f"{mismatch.max():.1%}",
                   summary=f"{resamples} resampled sets: bias^2 {bias2[0]:.3f} (deg 0) -> "
                           f"{bias2[-1]:.4f} (deg {MAX_DEGREE}), variance {variance[0]:.4f} -> "
                           f"{variance[-1]:.3f}, best degree {best} (test MSE "
                           f"{measured[best]:.3f}); bias^2 + variance + noise within "
                           f"{mismatch.max():.1%} of the measured MSE",
                   numbers={"bias2": bias2.tolist(), "variance": variance.tolist(),
                            "measured": measured.tolist(), "mismatch": mismatch.tolist(),
                            "best_degree": best})


def _figure(degrees, bias2, variance, measured):
    pyplot = report.pyplot()
    fig, ax = pyplot.subplots(figsize=(7, 4.5))
    ax.semilogy(degrees, bias2, "o-", label="bias^2")
    ax.semilogy(degrees, variance, "o-", label="variance")
    ax.semilogy(degrees, bias2 + variance + NOISE ** 2, "k-", label="bias^2 + variance + noise")
    ax.semilogy(degrees, measured, "rx", ms=9, label="measured test MSE")
    ax.axhline(NOISE ** 2, color="gray", ls=":", label="noise")
    ax.set(xlabel="polynomial degree", ylabel="error",
           title="bias-variance decomposition over resampled training sets")
    ax.legend()
    return fig


EXPERIMENT = Experiment(
    name=NAME,
    claim="Test error = bias^2 + variance + noise: bias falls and variance rises with model "
          "complexity",
    source="001 (notes), Bias / Variance; 000 (tutorial), Overfitting",
    run=run, minutes=0.2, quick_seconds=3)
