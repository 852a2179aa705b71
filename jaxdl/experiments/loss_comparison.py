"""Choice of cost function (tutorial 000, "Mean square error (MSE)", "SVM classifier",
"Softmax vs SVM").

1. Cross-entropy vs MSE with saturated outputs. The tutorial: with MSE "we learn very
   slowly when the node is saturated"; cross-entropy "punishes bad predictions
   exponentially" and trains better. One network (flatten -> 50 ReLU (He) -> 10 scores with
   1.0 * randn weights, so the softmax starts saturated), from the same initial weights, with
   plain SGD (lr 0.1, batch 50): scores -> softmax cross-entropy, or scores -> softmax -> MSE
   against one-hot labels. The MSE gradient carries the softmax's vanishing slope
   p (1 - p); cross-entropy's is p - y. Cross-entropy must end ahead in dev accuracy.
2. Softmax vs SVM (multiclass hinge, margin 1) on the same network with 0.01 * randn scores:
   "in practice, the performance between both are small" (within 3 points of dev accuracy),
   while the SVM stops caring about examples past the margin (most training examples end
   with zero hinge loss) and softmax never does (every cross-entropy term stays > 0).
   The tutorial's hinge example: scores (8, 14, 9.5, 10), true class 4: loss 5.5.
On MNIST (quick: the embedded 8x8 digits).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import losses, metrics, nn, optim, train
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict
from jaxdl.experiments.sanity_checks import course_splits, two_layer

NAME = "loss_comparison"
HINGE_EXAMPLE = ((8.0, 14.0, 9.5, 10.0), 3, 5.5)  # scores, true class (0-based), the loss


def _fit(model, loss, splits, key, epochs):
    return train.fit(model, optim.sgd(0.1), loss, splits, key=key, epochs=epochs,
                     batch_size=50, metrics={"accuracy": metrics.accuracy}, verbose=False)


def run(key, *, quick: bool, out, data_dir=None):
    splits = course_splits(quick, data_dir, jax.random.fold_in(key, 0))
    epochs = 10 if quick else 5
    fit_key = jax.random.fold_in(key, 1)
    saturated = two_layer(score_std=1.0)
    runs = {
        "cross-entropy (saturated start)": _fit(saturated, losses.softmax_cross_entropy,
                                                splits, fit_key, epochs),
        "MSE on softmax (saturated start)": _fit(nn.serial(saturated, nn.softmax), losses.mse,
                                                 splits, fit_key, epochs),
        "softmax cross-entropy": _fit(two_layer(), losses.softmax_cross_entropy, splits,
                                      fit_key, epochs),
        "SVM (multiclass hinge)": _fit(two_layer(), losses.multiclass_hinge, splits, fit_key,
                                       epochs),
    }
    x, y = splits.train.x, splits.train.y
    zero_share = {}
    for name, loss in (("softmax cross-entropy", losses.softmax_cross_entropy),
                       ("SVM (multiclass hinge)", losses.multiclass_hinge)):
        r = runs[name]
        scores = two_layer().apply(r.params, r.model_state, x)[0]
        zero_share[name] = float(jnp.mean(loss(scores, y, reduction="none") == 0))
    scores, label, course_hinge = HINGE_EXAMPLE
    hinge = float(losses.multiclass_hinge(jnp.array([scores]), jnp.array([label])))
    dev = {name: r.final["dev"]["accuracy"] for name, r in runs.items()}
    curves = {name: np.asarray(r.history["dev_accuracy"], float) for name, r in runs.items()}
    checks = {
        "tutorial's hinge example = 5.5": abs(hinge - course_hinge) < 1e-6,
        "saturated start: cross-entropy learns faster (after epoch 1, at most 0.8x MSE's "
        "dev error)":
            1 - curves["cross-entropy (saturated start)"][0]
            <= 0.8 * (1 - curves["MSE on softmax (saturated start)"][0]),
        "saturated start: cross-entropy still ahead at the end":
            dev["cross-entropy (saturated start)"] > dev["MSE on softmax (saturated start)"],
        "softmax and SVM within 3 points":
            abs(dev["softmax cross-entropy"] - dev["SVM (multiclass hinge)"]) < 0.03,
        "SVM: most training examples past the margin (zero loss)":
            zero_share["SVM (multiclass hinge)"] > 0.5,
        # every cross-entropy term is > 0; float32 rounds a few very confident ones to 0
        "softmax: (almost) no training example at zero loss (< 0.1 %, float32 rounding)":
            zero_share["softmax cross-entropy"] < 1e-3,
    }
    rows = [{"loss": name, "final train loss": r.final["train"]["loss"],
             "final dev accuracy": dev[name],
             "dev accuracy per epoch": ", ".join(f"{a:.3f}" for a in curves[name]),
             "training examples at zero loss": zero_share.get(name, "-")}
            for name, r in runs.items()]
    table = report.comparison_table([
        ("hinge loss of (8, 14, 9.5, 10), true class 4", "5.5", f"{hinge:g}"),
        ("dev accuracy after epoch 1, saturated start", "cross-entropy trains faster than "
         "MSE", f"CE {curves['cross-entropy (saturated start)'][0]:.4f} vs MSE "
         f"{curves['MSE on softmax (saturated start)'][0]:.4f}"),
        (f"dev accuracy after {epochs} epochs, saturated start", "-",
         f"CE {dev['cross-entropy (saturated start)']:.4f} vs MSE "
         f"{dev['MSE on softmax (saturated start)']:.4f}"),
        ("dev accuracy, softmax vs SVM", "small difference",
         f"{dev['softmax cross-entropy']:.4f} vs {dev['SVM (multiclass hinge)']:.4f}"),
        ("training examples with zero loss, softmax vs SVM", "SVM ignores examples past "
         "the margin", f"{zero_share['softmax cross-entropy']:.1%} vs "
                       f"{zero_share['SVM (multiclass hinge)']:.1%}"),
    ])
    markdown = (f"# Choice of cost function\n\n{__doc__.split(chr(10) * 2, 1)[1]}\n"
                f"This run: {'digits' if quick else 'MNIST'}, {epochs} epochs.\n\n"
                f"## The tutorial vs jaxdl\n\n{table}\n## Per loss\n\n"
                + report.markdown_table(rows)
                + "\n## Checks\n\n"
                + report.markdown_table([{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {"epochs": epochs, "rows": rows, "hinge_example": hinge,
                             "curves": curves, "checks": checks}, markdown)
    _figure(curves, out)
    return verdict(
        all(checks.values()),
        course="CE trains better than MSE on saturated outputs; softmax ~ SVM; hinge 5.5",
        measured=f"after epoch 1: CE {curves['cross-entropy (saturated start)'][0]:.3f} vs "
                 f"MSE {curves['MSE on softmax (saturated start)'][0]:.3f}; softmax "
                 f"{dev['softmax cross-entropy']:.3f} vs SVM "
                 f"{dev['SVM (multiclass hinge)']:.3f}; hinge {hinge:g}",
        summary=f"dev accuracy after 1 / {epochs} epochs from a saturated start: "
                f"cross-entropy {curves['cross-entropy (saturated start)'][0]:.4f} / "
                f"{dev['cross-entropy (saturated start)']:.4f}, MSE "
                f"{curves['MSE on softmax (saturated start)'][0]:.4f} / "
                f"{dev['MSE on softmax (saturated start)']:.4f}; softmax "
                f"{dev['softmax cross-entropy']:.4f} vs SVM {dev['SVM (multiclass hinge)']:.4f}"
                f" ({zero_share['SVM (multiclass hinge)']:.0%} of training examples past the "
                f"margin); hinge example {hinge:g}",
        numbers={"dev_accuracy": dev, "zero_loss_share": zero_share, "hinge_example": hinge,
                 "first_epoch_dev_accuracy": {n: float(c[0]) for n, c in curves.items()},
                 "checks": checks})


def _figure(curves, out) -> None:
    plt = report.pyplot()
    fig, (saturated, svm) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, curve in curves.items():
        ax = saturated if "saturated" in name else svm
        ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", label=name)
    saturated.set(xlabel="epoch", ylabel="dev accuracy", ylim=(0, 1),
                  title="saturated softmax: cross-entropy vs MSE")
    svm.set(xlabel="epoch", ylabel="dev accuracy", ylim=(0, 1), title="softmax vs SVM loss")
    for ax in (saturated, svm):
        ax.legend(fontsize=8)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="Cross-entropy trains faster than MSE when the outputs are saturated; softmax and "
          "SVM losses perform about the same",
    source="000 (tutorial), Choice of cost function: Mean square error; SVM classifier; "
           "Softmax vs SVM",
    run=run, minutes=1.5, quick_seconds=15, needs=("mnist",))
