"""The lecture's sanity checks before a long training run (lecture 003, "Cross validation:
tuning hyperparameter"; tutorial 000, troubleshooting and "Monitor the updates to ratio").

A two-layer network like the lecture's (input -> 50 ReLU -> 10, He init for the hidden
layer, 0.01 * randn for the scores) on MNIST (quick: the embedded 8x8 digits, standardized):
1. the initial loss of a softmax classifier with small weights is ln(10) = 2.303 (every
   class ~1/10); the same network with 1.0 * randn scores starts far above it, and
   `diagnostics.initial_loss_check` tells the two apart;
2. with regularization off it memorizes 20 training examples (the lecture: 200 epochs of
   plain SGD, loss 0.0026, train accuracy 1.00): `diagnostics.overfit_small_subset`;
3. a healthy run (SGD, lr 0.1 (quick: 0.05), batch 100, Xavier scores) moves each weight
   matrix by about 1e-3 of its norm per step (||dW|| / ||W|| on a probe batch once per epoch,
   `diagnostics.TrainingMonitor`): every layer's median inside [1e-4, 1e-2], the band
   outside which `diagnostics.update_ratio_advice` says to change the learning rate.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from jaxdl import data, diagnostics, initializers, losses, nn, optim, train
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict

NAME = "sanity_checks"
CLASSES = 10
HIDDEN = 50
TINY = 20


def course_splits(quick: bool, data_dir, key) -> data.Splits:
    """The course's MNIST splits (55,000 / 5,000 / 10,000, pixels in [0, 1]); quick: the
    embedded digits split 70/15/15 by `key` and standardized on train (no files needed)."""
    if quick:
        return data.standardize_splits(data.split(data.load("digits"), (0.7, 0.15, 0.15),
                                                  key=key))
    return data.load_splits("mnist", key=key, data_dir=data_dir)


def two_layer(score_std: float | None = 0.01, hidden: int = HIDDEN) -> nn.Layer:
    """flatten -> dense(hidden, He) -> ReLU -> dense(10, score_std * randn; None: Xavier)."""
    scores = None if score_std is None else initializers.normal(score_std)
    return nn.serial(nn.flatten, nn.dense(hidden, w_init=initializers.he_normal()), nn.relu,
                     nn.dense(CLASSES, w_init=scores))


def run(key, *, quick: bool, out, data_dir=None):
    splits = course_splits(quick, data_dir, jax.random.fold_in(key, 0))
    loss = losses.softmax_cross_entropy
    x, y = splits.train.x, splits.train.y

    # 1. initial loss
    initial = {}
    for std in (0.01, 1.0):
        model = two_layer(std)
        params, state, _ = model.init(jax.random.fold_in(key, 1), x.shape[1:])
        value = float(loss(model.apply(params, state, x)[0], y))
        initial[std] = diagnostics.initial_loss_check(value, CLASSES)

    # 2. overfit 20 examples, regularization off, full batch, plain SGD
    overfit = diagnostics.overfit_small_subset(two_layer(), optim.sgd(0.5), loss, splits,
                                               n=TINY, key=jax.random.fold_in(key, 2),
                                               epochs=200)

    # 3. update / weight ratios of a healthy run (Xavier scores: a 0.01 * randn matrix has
    # so small a norm that any step is a large share of it)
    lr, epochs = (0.05, 5) if quick else (0.1, 3)
    opt, model = optim.sgd(lr), two_layer(score_std=None)
    monitor = diagnostics.TrainingMonitor(model, loss, x[:256], y[:256], opt=opt)
    result = train.fit(model, opt, loss, splits, key=jax.random.fold_in(key, 3),
                       epochs=epochs, batch_size=100, callbacks=[monitor], verbose=False)
    ratios = result.history["update_ratio"]
    per_layer = {name: float(np.median([r[name] for r in ratios])) for name in ratios[0]}
    median = float(np.median(list(per_layer.values())))
    advice = diagnostics.update_ratio_advice(per_layer)
    dev = result.final["dev"]["accuracy"]

    checks = {
        "initial loss with 0.01 * randn scores ~ ln(10)": initial[0.01].ok,
        "initial loss with 1.0 * randn scores flagged": not initial[1.0].ok,
        f"{TINY} examples overfit to 100 %": overfit.passed,
        "healthy run: every layer's median update/weight ratio in [1e-4, 1e-2]":
            not advice,
        "healthy run learns (dev accuracy > 0.8)": dev > 0.8,
    }
    table = report.comparison_table([
        ("initial loss, 0.01 * randn scores", f"ln(10) = {math.log(10):.4f} (2.302603)",
         f"{initial[0.01].loss:.4f}"),
        ("initial loss, 1.0 * randn scores", "well above ln(10)", f"{initial[1.0].loss:.4f}"),
        (f"overfit {TINY} examples: final train accuracy", "1.00",
         f"{overfit.final_accuracy:.2f}"),
        (f"overfit {TINY} examples: final loss", "0.0026 (after 200 epochs)",
         f"{overfit.final_loss:.4g}"),
        *[(f"update/weight ratio {name} (lr {lr:g}, median)", "~1e-3", f"{value:.2e}")
          for name, value in per_layer.items()],
    ])
    ratio_rows = [{"epoch": epoch, **{k: f"{v:.2e}" for k, v in r.items()}}
                  for epoch, r in enumerate(ratios, 1)]
    markdown = (f"# Sanity checks\n\n{__doc__.split(chr(10) * 2, 1)[1]}\n"
                f"This run: {'digits' if quick else 'MNIST'}, {len(splits.train)} training "
                f"examples; the healthy run reaches dev accuracy {dev:.4f} in {epochs} "
                f"epochs.\n\n## The course vs jaxdl\n\n{table}\n"
                f"## Messages\n\n- {initial[0.01].message}\n- {initial[1.0].message}\n"
                f"- overfit: {overfit.message}\n"
                + "".join(f"- {line}\n" for line in advice or ["update/weight ratios: every "
                                                               "layer inside the band"])
                + "\n## Update/weight ratio per layer and epoch\n\n"
                + report.markdown_table(ratio_rows)
                + "\n## Checks\n\n"
                + report.markdown_table([{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {
        "initial_loss": {str(s): c.loss for s, c in initial.items()},
        "overfit": {"losses": overfit.losses, "accuracies": overfit.accuracies,
                    "passed": overfit.passed},
        "update_ratio": ratios, "dev_accuracy": dev, "checks": checks}, markdown)
    _figure(overfit, ratios, lr, out)
    summary = (f"initial loss {initial[0.01].loss:.4f} (ln 10 = {math.log(10):.4f}; "
               f"1.0*randn: {initial[1.0].loss:.1f}); {TINY} examples overfit to train "
               f"accuracy {overfit.final_accuracy:.2f}, loss {overfit.final_loss:.3g}; "
               f"update/weight ratio {median:.1e} (median of "
               f"{', '.join(f'{v:.1e}' for v in per_layer.values())}; lr {lr:g}, dev "
               f"accuracy {dev:.3f})")
    return verdict(
        all(checks.values()),
        course="initial loss 2.3026; 20 examples to 100 %; ratio ~1e-3",
        measured=f"{initial[0.01].loss:.4f}; {overfit.final_accuracy:.0%}; {median:.1e}",
        summary=summary,
        numbers={"initial_loss": initial[0.01].loss, "initial_loss_large": initial[1.0].loss,
                 "overfit_accuracy": overfit.final_accuracy, "overfit_loss": overfit.final_loss,
                 "ratio": per_layer, "ratio_median": median, "dev_accuracy": dev,
                 "checks": checks})


def _figure(overfit, ratios, lr, out) -> None:
    plt = report.pyplot()
    fig, (tiny, ratio) = plt.subplots(1, 2, figsize=(12, 4.5))
    epochs = np.arange(1, len(overfit.losses) + 1)
    tiny.semilogy(epochs, overfit.losses, label="train loss")
    tiny.axhline(math.log(CLASSES), color="0.5", ls=":", label="ln(10)")
    twin = tiny.twinx()
    twin.plot(epochs, overfit.accuracies, color="tab:green", label="train accuracy")
    twin.set(ylim=(0, 1.05), ylabel="train accuracy")
    tiny.set(xlabel="epoch", ylabel="loss",
             title=f"overfitting {TINY} examples (no regularization)")
    tiny.legend(loc="center left")
    for layer in ratios[0]:
        ratio.semilogy(range(1, len(ratios) + 1), [r[layer] for r in ratios], "o-",
                       label=layer)
    ratio.axhspan(1e-4, 1e-2, color="tab:green", alpha=0.1, label="~1e-3 (x/10 .. x10)")
    ratio.set(xlabel="epoch", ylabel="||dW|| / ||W|| per step",
              title=f"update/weight ratio per layer, SGD lr {lr:g}")
    ratio.legend(fontsize=8)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="Before training: the initial softmax loss is ln(10) for 10 classes, the network "
          "can overfit 20 examples to 100 %, and a healthy run updates weights by ~1e-3 of "
          "their norm per step",
    source="003 (lecture), Cross validation: tuning hyperparameter (sanity checks); 000 "
           "(tutorial), Monitor the updates to ratio",
    run=run, minutes=1.0, quick_seconds=8, needs=("mnist",))
