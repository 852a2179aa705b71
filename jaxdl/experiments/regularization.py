"""Regularization on a small training set: none vs L2 vs L1 vs dropout vs early stopping vs
data augmentation (tutorial 000, "Regularization", "Dropout", "Data augmentation"; notes
001, "Regularizing your neural network": regularization reduces variance; lecture 003,
"Early stopping in NN": "how to reduce the gap?").

MNIST: 1,000 training images (a stratified draw from the 55,000; quick: 200 of the embedded
8x8 digits), 2,000 dev images (quick: 400), the 10,000 test images (quick: the rest). A
784-256-10 ReLU MLP (He init), Adam 1e-3, batch 100 (quick: 10), 100 epochs (quick: 30).
None, L2 (lam/2 sum w^2, lam 1e-3, 1e-2, 1e-1), L1 (lam sum |w|, lam 1e-4, 1e-3, 1e-2) and
dropout (keep 0.9, 0.8, 0.7 on the input and 0.8, 0.5, 0.3 after the hidden layer) differ
only in numbers, so they are the ten members of one `ensemble.sweep` (hyperparameters l2,
l1, keep_in, keep zipped); each regularizer's
strength is then the one with the smallest gap (every strength is listed). Early stopping (the
lecture's rule: stop when the validation loss stops decreasing, patience 5, and keep the best
epoch's weights) and augmentation (random shifts of up to 2 pixels, quick: 1, and rotations
of up to 10 degrees) change the program and are separate `train.fit` calls. Every variant
starts from the same key. Measured: eval-mode train and dev accuracy of the returned weights
and their gap. Reproduced when every regularizer's gap is at least 0.01 (4 dev images in
quick runs, 20 in full ones) smaller than the unregularized one's (quick runs leave early
stopping out: in 30 epochs the dev loss has not turned yet).
"""

from __future__ import annotations

import jax
import numpy as np

from jaxdl import data, ensemble, initializers, losses, nn, optim, regularizers, train
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict

NAME = "regularization"
PATIENCE, MARGIN = 5, 0.01
# (variant, setting label, (l2, l1, keep_in, keep)) per swept member; "none" first
SWEPT = [("none", "-", (0.0, 0.0, 1.0, 1.0))]
SWEPT += [("L2", f"lam {v:g}", (v, 0.0, 1.0, 1.0)) for v in (1e-3, 1e-2, 1e-1)]
SWEPT += [("L1", f"lam {v:g}", (0.0, v, 1.0, 1.0)) for v in (1e-4, 1e-3, 1e-2)]
SWEPT += [("dropout", f"keep {k_in:g} (input), {k:g} (hidden)", (0.0, 0.0, k_in, k))
          for k_in, k in ((0.9, 0.8), (0.8, 0.5), (0.7, 0.3))]


def mlp(hp):
    """784-256-10 ReLU MLP, dropout(hp["keep_in"]) on the input and dropout(hp["keep"])
    after the hidden layer (Srivastava et al. 2014: about 0.8 and 0.5)."""
    he = initializers.he_normal()
    return nn.serial(nn.flatten, nn.dropout(keep_prob=hp["keep_in"]),
                     nn.dense(256, w_init=he), nn.relu,
                     nn.dropout(keep_prob=hp["keep"]), nn.dense(10, w_init=he))


def penalty(hp):
    return regularizers.combine(regularizers.l2(hp["l2"]), regularizers.l1(hp["l1"]))


def _subset(ds: data.Dataset, n: int, key) -> data.Dataset:
    return data.partition(ds, [n, len(ds) - n], key=key)[0]


def _splits(quick: bool, data_dir, key) -> tuple[data.Splits, int]:
    if quick:
        digits = data.load("digits")
        train_part, dev, test = data.partition(digits, [200, 400, len(digits) - 600], key=key)
        return data.Splits(train_part, dev, test), 1
    full = data.load_splits("mnist", key=jax.random.fold_in(key, 0), data_dir=data_dir)
    return data.Splits(_subset(full.train, 1000, jax.random.fold_in(key, 1)),
                       _subset(full.dev, 2000, jax.random.fold_in(key, 2)), full.test), 2


def run(key, *, quick: bool, out, data_dir=None):
    splits, shift = _splits(quick, data_dir, jax.random.fold_in(key, 0))
    epochs, batch = (30, 10) if quick else (100, 100)
    fit_key = jax.random.fold_in(key, 1)
    loss, opt = losses.softmax_cross_entropy, optim.adam(1e-3)
    hparams = {name: [values[i] for _, _, values in SWEPT]
               for i, name in enumerate(("l2", "l1", "keep_in", "keep"))}
    swept = ensemble.sweep(mlp, opt, loss, splits, hparams=hparams, combine="zip", key=fit_key,
                           epochs=epochs, batch_size=batch, regularizer=penalty,
                           same_order=True, verbose=False)
    plain = mlp({"keep_in": 1.0, "keep": 1.0})
    stopped = train.fit(plain, opt, loss, splits, key=fit_key, epochs=epochs, batch_size=batch,
                        early_stopping=train.EarlyStopping(PATIENCE, monitor="dev_loss"),
                        verbose=False)
    augment = data.compose(data.random_shift(shift), data.random_rotation(10.0))
    augmented = train.fit(plain, opt, loss, splits, key=fit_key, epochs=epochs,
                          batch_size=batch, augment=augment, verbose=False)
    members = [{s: float(swept.final[s]["accuracy"][i]) for s in ("train", "dev", "test")}
               for i in range(len(SWEPT))]
    member_gaps = [m["train"] - m["dev"] for m in members]
    chosen = {}  # variant -> its member with the smallest train - dev gap
    for i, (name, _, _) in enumerate(SWEPT):
        if name not in chosen or member_gaps[i] < member_gaps[chosen[name]]:
            chosen[name] = i
    accuracy = {name: members[i] for name, i in chosen.items()}
    for name, result in (("early stopping", stopped), ("augmentation", augmented)):
        accuracy[name] = {s: result.final[s]["accuracy"] for s in ("train", "dev", "test")}
    gap = {name: a["train"] - a["dev"] for name, a in accuracy.items()}
    shrunk = {name: gap[name] < gap["none"] - MARGIN for name in accuracy if name != "none"}
    # quick runs stop after 30 epochs, before the dev loss turns: early stopping keeps the end
    ok = all(v for name, v in shrunk.items() if not (quick and name == "early stopping"))
    settings = {name: SWEPT[i][1] for name, i in chosen.items()}
    settings |= {"early stopping": f"patience {PATIENCE}, best epoch {stopped.best_epoch}",
                 "augmentation": f"shift {shift} px, rotation 10 deg"}
    rows = [{"variant": name, "setting": settings[name], "train accuracy": f"{a['train']:.4f}",
             "dev accuracy": f"{a['dev']:.4f}", "gap": f"{gap[name]:+.4f}",
             "test accuracy": f"{a['test']:.4f}",
             f"gap {MARGIN:g} below none": "-" if name == "none" else str(shrunk[name])}
            for name, a in accuracy.items()]
    table = report.comparison_table([
        ("train - dev accuracy gap", "regularization shrinks it",
         ", ".join(f"{n} {g:+.3f}" for n, g in gap.items())),
    ])
    strengths = [{"variant": name, "setting": label, "train accuracy": f"{m['train']:.4f}",
                  "dev accuracy": f"{m['dev']:.4f}", "gap": f"{g:+.4f}"}
                 for (name, label, _), m, g in zip(SWEPT, members, member_gaps)]
    what = "digits (quick)" if quick else "MNIST"
    markdown = (f"# Regularization on a small training set\n\n"
                f"{__doc__.split(chr(10) * 2)[1]}\n\nThis run: {what}, "
                f"{len(splits.train)} training images.\n\n{table}\n"
                + report.markdown_table(rows) + "\n## Every strength of the sweep\n\n"
                + report.markdown_table(strengths))
    histories = {name: {k: np.asarray(swept.history[k])[:, i]  # (epochs, members)
                        for k in ("train_accuracy", "dev_accuracy")}
                 for name, i in chosen.items()}
    histories["early stopping"] = {k: stopped.history[k] for k in ("train_accuracy",
                                                                   "dev_accuracy")}
    histories["augmentation"] = {k: augmented.history[k] for k in ("train_accuracy",
                                                                   "dev_accuracy")}
    report.write(out, NAME, {"dataset": what, "train_size": len(splits.train),
                             "accuracy": accuracy, "gap": gap, "settings": settings,
                             "sweep": strengths, "histories": histories},
                 markdown)
    report.save_figure(_figure(histories, gap), out, NAME)
    return verdict(ok, course="regularization reduces variance: a smaller train-dev gap",
                   measured=", ".join(f"{n} {g:+.3f}" for n, g in gap.items()),
                   summary=f"{what}, {len(splits.train)} training images: train-dev gap "
                           + ", ".join(f"{n} {g:+.3f}" for n, g in gap.items())
                           + "; dev accuracy "
                           + ", ".join(f"{n} {a['dev']:.3f}" for n, a in accuracy.items()),
                   numbers={"gap": gap, "accuracy": accuracy, "shrunk": shrunk,
                            "settings": settings,
                            "sweep": [{"variant": name, "setting": label, **m}
                                      for (name, label, _), m in zip(SWEPT, members)]})


def _figure(histories, gap):
    pyplot = report.pyplot()
    fig, (ax_curves, ax_gap) = pyplot.subplots(1, 2, figsize=(13, 4.5))
    for i, (name, history) in enumerate(histories.items()):
        color = f"C{i}"
        epochs = np.arange(1, len(history["dev_accuracy"]) + 1)
        ax_curves.plot(epochs, history["train_accuracy"], color=color, ls=":", lw=1)
        ax_curves.plot(epochs, history["dev_accuracy"], color=color, label=name)
    ax_curves.set(xlabel="epoch", ylabel="accuracy (dotted: train, training mode)",
                  title="dev accuracy per epoch")
    ax_curves.legend(fontsize=8)
    ax_gap.bar(list(gap), list(gap.values()), color=[f"C{i}" for i in range(len(gap))])
    ax_gap.set(ylabel="train - dev accuracy", title="the gap, eval mode, returned weights")
    ax_gap.tick_params(axis="x", rotation=20)
    return fig


EXPERIMENT = Experiment(
    name=NAME,
    claim="On a small training set, L2, L1, dropout, early stopping and data augmentation "
          "each shrink the train-dev gap",
    source="000 (tutorial), Regularization, Dropout, Data augmentation; 001 (notes), "
           "Regularization; 003 (lecture), Early stopping",
    run=run, minutes=3, quick_seconds=10, needs=("mnist",))
