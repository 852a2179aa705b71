"""Semi-supervised learning with pseudo-labels (tutorial 000, data augmentation, "semi-learning").

A small labeled subset of the training set (MNIST: 1,000 images; quick: 100 of the embedded
digits); the rest of the training set is the unlabeled pool (its labels are hidden and used
only to count pseudo-label errors). An MLP trained on the labeled part alone (early stopping on
dev) labels the pool; the examples it classifies with top probability >= 0.95
(`data.pseudo_label`) join the training set and the same model is trained again from the
same key. Dev accuracy decides; test accuracy is reported beside it.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxdl import data, initializers, losses, nn, optim, train
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict

NAME = "semi_supervised"
THRESHOLD = 0.95


def _mlp(hidden):
    he = initializers.he_normal()
    layers = [nn.flatten]
    for width in hidden:
        layers += [nn.dense(width, w_init=he), nn.relu]
    return nn.serial(*layers, nn.dense(10, w_init=he))


def _setup(quick: bool, data_dir, key):
    if quick:
        splits = data.standardize_splits(data.split(data.load("digits"), (0.7, 0.15, 0.15),
                                                    key=key))
        return splits, 100, (64,), 32, 30
    return data.load_splits("mnist", key=key, data_dir=data_dir), 1000, (256, 100), 100, 40


def _fit(model, splits, key, batch_size, epochs):
    return train.fit(model, optim.adam(1e-3), losses.softmax_cross_entropy, splits, key=key,
                     epochs=epochs, batch_size=batch_size, early_stopping=10, verbose=False)


def run(key, *, quick: bool, out, data_dir=None):
    splits, labeled, hidden, batch_size, epochs = _setup(quick, data_dir,
                                                         jax.random.fold_in(key, 0))
    order = np.asarray(jax.random.permutation(jax.random.fold_in(key, 1), len(splits.train)))
    labeled_part, pool = splits.train.take(order[:labeled]), splits.train.take(order[labeled:])
    model = _mlp(hidden)
    fit_key = jax.random.fold_in(key, 2)
    base = _fit(model, data.Splits(labeled_part, splits.dev, splits.test), fit_key, batch_size,
                epochs)
    pseudo = data.pseudo_label(model, base.params, base.model_state, pool.x, threshold=THRESHOLD)
    true = np.asarray(pool.y)[pseudo.index]
    pool_accuracy = train.evaluate(model, base.params, base.model_state, pool)["accuracy"]
    errors = int(np.sum(pseudo.labels != true))
    extra = data.from_arrays(np.asarray(pool.x)[pseudo.index], pseudo.labels, name="pseudo",
                             classes=splits.train.info.classes)
    combined = data.concatenate({"labeled": labeled_part, "pseudo": extra}, labeled_part.info)
    again = _fit(model, data.Splits(combined, splits.dev, splits.test), fit_key, batch_size,
                 epochs)
    before, after = base.final, again.final
    gain = after["dev"]["accuracy"] - before["dev"]["accuracy"]
    rows = [{"model": "labeled only", "train examples": labeled,
             "dev accuracy": f"{before['dev']['accuracy']:.4f}",
             "test accuracy": f"{before['test']['accuracy']:.4f}"},
            {"model": f"labeled + pseudo-labeled (p >= {THRESHOLD})",
             "train examples": len(combined),
             "dev accuracy": f"{after['dev']['accuracy']:.4f}",
             "test accuracy": f"{after['test']['accuracy']:.4f}"}]
    pseudo_accuracy = 1.0 - errors / max(1, len(pseudo.index))
    facts = report.comparison_table([
        ("pool labeled with high certainty", "some", f"{len(pseudo.index)} of {len(pool)} "
                                                     f"({pseudo.fraction:.1%})"),
        ("accuracy of the kept pseudo-labels", "high (certain)",
         f"{pseudo_accuracy:.4f} ({errors} errors)"),
        ("accuracy of the model on the whole pool", "-", f"{pool_accuracy:.4f}"),
        ("dev accuracy gain", "more training data helps", f"{gain:+.2%}"),
    ])
    markdown = (f"# Semi-supervised learning with pseudo-labels\n\n"
                f"{__doc__.split(chr(10) * 2)[1]}\n\n{facts}\n" + report.markdown_table(rows))
    results = {"labeled": labeled, "pool": len(pool), "kept": len(pseudo.index),
               "pseudo_errors": errors, "pseudo_accuracy": pseudo_accuracy,
               "pool_accuracy": pool_accuracy, "threshold": THRESHOLD,
               "before": before, "after": after, "dev_gain": gain}
    report.write(out, NAME, results, markdown)
    report.save_figure(_figure(base.history, again.history, pseudo.confidence), out, NAME)
    ok = gain > 0 and pseudo_accuracy > pool_accuracy
    return verdict(ok, course="unlabeled data classified with high certainty expands the "
                              "training set", measured=f"dev {gain:+.2%}",
                   summary=f"{len(pseudo.index)} pseudo-labels ({errors} wrong, accuracy "
                           f"{pseudo_accuracy:.3f} vs {pool_accuracy:.3f} on the whole pool); "
                           f"dev accuracy {before['dev']['accuracy']:.4f} -> "
                           f"{after['dev']['accuracy']:.4f}",
                   numbers={"dev_gain": gain, "pseudo_accuracy": pseudo_accuracy,
                            "pool_accuracy": pool_accuracy, "kept": len(pseudo.index),
                            "errors": errors})


def _figure(before: dict, after: dict, confidence):
    pyplot = report.pyplot()
    fig, (ax, ax_conf) = pyplot.subplots(1, 2, figsize=(11, 4))
    for name, history in (("labeled only", before), ("+ pseudo-labels", after)):
        ax.plot(history["epoch"], history["dev_accuracy"], label=f"{name}: dev")
    ax.set(xlabel="epoch", ylabel="dev accuracy", title="dev accuracy per epoch")
    ax.legend()
    ax_conf.hist(confidence, bins=40)
    ax_conf.set(xlabel="top class probability", ylabel="kept pool examples",
                title=f"confidence of the kept pseudo-labels (>= {THRESHOLD})")
    return fig


EXPERIMENT = Experiment(
    name=NAME,
    claim="Unlabeled data the model classifies with high certainty can be used as training "
          "data (semi-learning)",
    source="000 (tutorial), data augmentation: semi-learning",
    run=run, minutes=3, quick_seconds=10, needs=("mnist",))
