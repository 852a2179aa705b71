"""Feature scaling and whitening speed up gradient descent (tutorial 000, "Feature
scaling" and "whitening": "if the input features are not scaled correctly, it is impossible
to find the right learning rate that works for all the features"; notes 001, "Normalizing
inputs": the cost is elongated without it; lecture 003, Data preprocessing: Z score, PCA
whitening).

Generated data (no files): 4 latent features z ~ N(0, Sigma) with correlation 0.9 between
every pair, labels y = 1[z . w + noise > 0] (a linear teacher, 10 % noise std), and the
inputs x = z * (1, 10, 100, 1000): features of very different scales, strongly correlated.
A softmax classifier (one dense layer, 2 classes) is trained with SGD (batch 50) on four
versions of the inputs: raw, standardized (z-score, `data.standardize_fit`), PCA-whitened
and ZCA-whitened (`data.whiten_fit` + `pca_whiten_apply` / `zca_whiten_apply`), fitted on
train and applied to dev. Each is one vmapped `ensemble.sweep` over 13 learning rates
1e-6 .. 1 (the same compiled program for all four), and each preprocessing gets its best
learning rate: the one reaching the target dev accuracy (95 % of the best final dev accuracy
of all runs) in the fewest epochs. Standardizing must reach it faster than raw inputs, and
whitening no slower than standardizing; the whitened covariance must be the identity
(max |Cov - I| < 0.05), shown as an image beside the raw and standardized ones.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import data, ensemble, losses, nn, optim
from jaxdl.experiments import report
from jaxdl.experiments.batch_norm import epochs_to
from jaxdl.experiments.registry import Experiment, verdict

NAME = "feature_scaling"
SCALES = (1.0, 10.0, 100.0, 1000.0)
CORRELATION = 0.9
LEARNING_RATES = tuple(float(v) for v in np.logspace(-6, 0, 13))
MODEL = nn.serial(nn.dense(2))


def make_opt(hp):
    return optim.sgd(hp["lr"])


def scaled_problem(key, n: int):
    """(x, y): n examples of the correlated, badly scaled teacher problem (see the module)."""
    d = len(SCALES)
    sigma = np.full((d, d), CORRELATION) + (1 - CORRELATION) * np.eye(d)
    z = jax.random.multivariate_normal(jax.random.fold_in(key, 0), jnp.zeros(d),
                                       jnp.asarray(sigma), (n,))
    w = jnp.array([1.0, -1.0, 1.0, -1.0])
    noise = 0.1 * jax.random.normal(jax.random.fold_in(key, 1), (n,))
    y = (z @ w + noise > 0).astype(jnp.int32)
    return np.asarray(z * jnp.asarray(SCALES)), np.asarray(y)


def covariance(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    centred = x - x.mean(0)
    return centred.T @ centred / len(x)


def run(key, *, quick: bool, out, data_dir=None):
    del data_dir
    n, epochs = (1000, 20) if quick else (5000, 40)
    x, y = scaled_problem(jax.random.fold_in(key, 0), 2 * n)
    x_train, y_train, x_dev, y_dev = x[:n], y[:n], x[n:], y[n:]
    standard = data.standardize_fit(x_train)
    white = data.whiten_fit(x_train)
    versions = {
        "raw": (x_train, x_dev),
        "standardized": tuple(data.standardize_apply(standard, v) for v in (x_train, x_dev)),
        "PCA-whitened": tuple(data.pca_whiten_apply(white, v) for v in (x_train, x_dev)),
        "ZCA-whitened": tuple(data.zca_whiten_apply(white, v) for v in (x_train, x_dev)),
    }
    histories = {}
    for name, (train_x, dev_x) in versions.items():
        splits = data.Splits(data.from_arrays(np.asarray(train_x), y_train, name=name),
                             data.from_arrays(np.asarray(dev_x), y_dev, name=name), None)
        result = ensemble.sweep(MODEL, make_opt, losses.softmax_cross_entropy, splits,
                                hparams={"lr": list(LEARNING_RATES)},
                                key=jax.random.fold_in(key, 1), epochs=epochs, batch_size=50,
                                verbose=False)
        histories[name] = np.asarray(result.history["dev_accuracy"], float)  # (E, lrs)
    best_final = max(float(np.nanmax(h[-1])) for h in histories.values())
    target = 0.95 * best_final
    rows = []
    for name, h in histories.items():
        reach = [epochs_to(h[:, j], target) for j in range(h.shape[1])]
        j = int(np.argmin(reach)) if np.isfinite(min(reach)) else int(np.nanargmax(h[-1]))
        rows.append({"inputs": name, "best lr": LEARNING_RATES[j],
                     f"epochs to {target:.3f} dev": reach[j],
                     "final dev accuracy at that lr": float(h[-1, j]),
                     "learning rates reaching the target": int(np.sum(np.isfinite(reach)))})
    by = {r["inputs"]: r for r in rows}
    reach_key = f"epochs to {target:.3f} dev"
    covs = {name: covariance(train_x) for name, (train_x, _) in versions.items()}
    off_identity = {name: float(np.max(np.abs(covs[name] - np.eye(len(SCALES)))))
                    for name in ("PCA-whitened", "ZCA-whitened")}
    white_best = min(by["PCA-whitened"][reach_key], by["ZCA-whitened"][reach_key])
    checks = {
        "standardized reaches the target faster than raw":
            by["standardized"][reach_key] < by["raw"][reach_key],
        "whitened no slower than standardized": white_best <= by["standardized"][reach_key],
        "whitened covariance is the identity (max |Cov - I| < 0.05)":
            max(off_identity.values()) < 0.05,
    }
    table = report.comparison_table([
        *[(f"epochs to {target:.3f} dev accuracy, {r['inputs']} (best lr {r['best lr']:.1e})",
           course, f"{r[reach_key]:g}")
          for r, course in zip(rows, ("slow: no lr suits every feature", "faster",
                                      "faster still (uncorrelated)", "faster still"))],
        ("max |Cov - I| after PCA / ZCA whitening", "identity",
         f"{off_identity['PCA-whitened']:.2g} / {off_identity['ZCA-whitened']:.2g}"),
    ])
    markdown = (f"# Feature scaling and whitening\n\n{__doc__.split(chr(10) * 2, 1)[1]}\n"
                f"This run: {n} training and {n} dev examples, {epochs} epochs; target "
                f"{target:.4f} (95 % of the best final dev accuracy {best_final:.4f}).\n\n"
                f"## The course vs jaxdl\n\n{table}\n## Per preprocessing\n\n"
                + report.markdown_table(rows)
                + "\n## Training-set covariance\n\n" + report.markdown_table(
                    [{"inputs": name, **{f"col {j}": f"{v:.3g}" for j, v in enumerate(row)},
                      "row": i} for name, c in covs.items() for i, row in enumerate(c)])
                + "\n## Checks\n\n"
                + report.markdown_table([{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {"n": n, "epochs": epochs, "target": target, "rows": rows,
                             "learning_rates": LEARNING_RATES,
                             "dev_accuracy": histories, "covariance": covs,
                             "checks": checks}, markdown)
    _figure(covs, histories, by, out)
    measured = ", ".join(f"{by[k][reach_key]:g}" for k in versions)
    return verdict(
        all(checks.values()),
        course="scaled and whitened inputs train faster; whitened covariance = I",
        measured=f"epochs to target (raw, standardized, PCA, ZCA) {measured}; max |Cov - I| "
                 f"{max(off_identity.values()):.2g}",
        summary=f"epochs to {target:.3f} dev accuracy at each one's best lr (raw, "
                f"standardized, PCA-white, ZCA-white): {measured}; whitened max |Cov - I| "
                f"{max(off_identity.values()):.2g}",
        numbers={"epochs_to_target": {k: by[k][reach_key] for k in versions},
                 "best_lr": {k: by[k]["best lr"] for k in versions},
                 "off_identity": off_identity, "checks": checks})


def _figure(covs, histories, by, out) -> None:
    plt = report.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    shown = {"raw (log10 |Cov|)": np.log10(np.abs(covs["raw"]) + 1e-12),
             "standardized (Cov)": covs["standardized"], "ZCA-whitened (Cov)": covs["ZCA-whitened"]}
    for ax, (title, matrix) in zip(axes[:3], shown.items()):
        image = ax.imshow(matrix, cmap="viridis")
        ax.set(title=title, xticks=range(len(SCALES)), yticks=range(len(SCALES)))
        fig.colorbar(image, ax=ax, fraction=0.046)
    curves = axes[3]
    for name, h in histories.items():
        j = LEARNING_RATES.index(by[name]["best lr"])
        curves.plot(np.arange(1, len(h) + 1), h[:, j], marker="o", ms=3,
                    label=f"{name}, lr {by[name]['best lr']:.0e}")
    curves.set(xlabel="epoch", ylabel="dev accuracy", title="at each input's best lr")
    curves.legend(fontsize=7)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="Standardized and whitened inputs train much faster than raw features of very "
          "different scales; whitening makes the covariance the identity",
    source="000 (tutorial), Feature scaling, whitening; 001 (notes), Normalizing inputs",
    run=run, minutes=0.5, quick_seconds=10)
