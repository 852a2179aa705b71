"""k-fold cross-validation vs a single held-out split (lecture 003, "Cross validation:
held-out" and "Cross validation: K-fold": "fours parts for training, one part for validation
... final accuracy = average accuracy").

Small data: 200 (quick: 100) examples of the embedded 8x8 digits; the other 1,597 (quick:
1,697) are a large test set that says what the estimates estimate. The small set is cut R =
40 (quick: 15) times at random into k = 5 stratified folds (`data.kfold`, key per
repetition); for each cut, 5 models (a 64-32-10 ReLU MLP, Adam 1e-2, 30 epochs of batch 32;
quick: 20 epochs) train on 4 folds and are scored on the fifth. The single-split estimate of
a cut is its first fold's accuracy (an 80/20 held-out split), the k-fold estimate the mean of
its 5. All R x 5
trainings are one vmapped program (`train.make_epoch_and_evaluate` scanned over epochs).
Both estimate the accuracy of a model trained on 80 % of the small set (their target: the
mean large-test accuracy of all those models); the k-fold estimate validates on every
example instead of a fifth of them, so it varies less from cut to cut. Reproduced when its
spread (std over the cuts) is under 0.8x the single split's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import data, losses, nn, optim, train
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict

NAME = "kfold"
K, BATCH = 5, 32


def mlp():
    return nn.serial(nn.flatten, nn.dense(32), nn.relu, nn.dense(10))


def cross_validation_accuracies(small: data.Dataset, test: data.Dataset, repeats: int, *, key,
                                epochs: int):
    """(validation, test) accuracies, each (repeats, K): repetition r cuts `small` into K
    folds with fold_in(key, r) and trains member (r, i) with fold_in(fold_in(key, r), i + 1)."""
    model, loss = mlp(), losses.softmax_cross_entropy
    opt = optim.adam(1e-2)
    epoch = train.make_epoch_and_evaluate(model, opt, loss, batch_size=BATCH)
    evaluate = train.make_evaluate(model, loss)
    parts = [list(data.kfold(small, K, key=jax.random.fold_in(key, r))) for r in range(repeats)]
    stack = lambda get: jnp.asarray(np.stack([[get(pair) for pair in cut] for cut in parts]))
    train_x, train_y = stack(lambda p: p[0].x), stack(lambda p: p[0].y)
    val_x, val_y = stack(lambda p: p[1].x), stack(lambda p: p[1].y)
    keys = jnp.stack([jnp.stack([jax.random.fold_in(jax.random.fold_in(key, r), i + 1)
                                 for i in range(K)]) for r in range(repeats)])

    def member(member_key, tx, ty, vx, vy):
        state = train.init_state(model, opt, tx.shape[1:], key=member_key)
        shuffle_key = jax.random.fold_in(member_key, 0)

        def body(state, e):
            return epoch(state, shuffle_key, e, tx, ty, None)[0], None
        state, _ = jax.lax.scan(body, state, jnp.arange(1, epochs + 1))
        return (evaluate(state.params, state.model_state, vx, vy)["accuracy"],
                evaluate(state.params, state.model_state, test_x, test_y)["accuracy"])

    test_x, test_y = jnp.asarray(test.x), jnp.asarray(test.y)
    run_all = jax.jit(jax.vmap(jax.vmap(member)))
    val, test_acc = run_all(keys, train_x, train_y, val_x, val_y)
    return np.asarray(val, np.float64), np.asarray(test_acc, np.float64)


def run(key, *, quick: bool, out, data_dir=None):
    size, repeats, epochs = (100, 15, 20) if quick else (200, 40, 30)
    digits = data.load("digits")
    order = np.asarray(jax.random.permutation(jax.random.fold_in(key, 0), len(digits)))
    small, test = digits.take(order[:size]), digits.take(order[size:])
    val, test_acc = cross_validation_accuracies(small, test, repeats,
                                                key=jax.random.fold_in(key, 1), epochs=epochs)
    single, kfold_mean = val[:, 0], val.mean(axis=1)
    target = float(test_acc.mean())
    spread = {"single": float(single.std(ddof=1)), "kfold": float(kfold_mean.std(ddof=1))}
    rmse = {"single": float(np.sqrt(np.mean((single - target) ** 2))),
            "kfold": float(np.sqrt(np.mean((kfold_mean - target) ** 2)))}
    ratio = spread["kfold"] / spread["single"]
    ok = ratio < 0.8
    rows = [{"estimate": name, "mean": f"{est.mean():.4f}", "std over cuts": f"{spread[k]:.4f}",
             "RMSE vs target": f"{rmse[k]:.4f}", "min": f"{est.min():.3f}",
             "max": f"{est.max():.3f}"}
            for name, k, est in (("single 80/20 split", "single", single),
                                 (f"{K}-fold mean", "kfold", kfold_mean))]
    table = report.comparison_table([
        ("spread of the estimate over random cuts", "k-fold: more robust (averages k folds)",
         f"single {spread['single']:.4f}, {K}-fold {spread['kfold']:.4f} (x{ratio:.2f})"),
        ("target (large test set, models trained on 80 %)", "-", f"{target:.4f}"),
    ])
    markdown = (f"# k-fold cross-validation vs a single split\n\n"
                f"{__doc__.split(chr(10) * 2)[1]}\n\n{table}\n" + report.markdown_table(rows))
    report.write(out, NAME, {"size": size, "repeats": repeats, "k": K, "validation": val,
                             "test": test_acc, "target": target, "spread": spread,
                             "rmse": rmse}, markdown)
    report.save_figure(_figure(single, kfold_mean, target), out, NAME)
    return verdict(ok, course="k-fold averages k validation folds: a more robust estimate",
                   measured=f"std {spread['single']:.4f} (single) vs {spread['kfold']:.4f} "
                            f"({K}-fold)",
                   summary=f"{repeats} random cuts of {size} digits: single-split accuracy "
                           f"{single.mean():.3f} +- {spread['single']:.3f}, {K}-fold "
                           f"{kfold_mean.mean():.3f} +- {spread['kfold']:.3f} (x{ratio:.2f}); "
                           f"target {target:.3f}",
                   numbers={"spread": spread, "rmse": rmse, "ratio": ratio, "target": target,
                            "single_mean": float(single.mean()),
                            "kfold_mean": float(kfold_mean.mean())})


def _figure(single, kfold_mean, target):
    pyplot = report.pyplot()
    fig, ax = pyplot.subplots(figsize=(7, 4.5))
    bins = np.linspace(min(single.min(), kfold_mean.min()), max(single.max(),
                                                              kfold_mean.max()), 20)
    ax.hist(single, bins=bins, alpha=0.6, label="single 80/20 split")
    ax.hist(kfold_mean, bins=bins, alpha=0.6, label=f"{K}-fold mean")
    ax.axvline(target, color="k", ls="--", label="target (large test set)")
    ax.set(xlabel="estimated accuracy", ylabel="random cuts",
           title="validation estimates over random cuts of the same small set")
    ax.legend()
    return fig


EXPERIMENT = Experiment(
    name=NAME,
    claim="k-fold cross-validation (average accuracy over k folds) is a more robust estimate "
          "than a single held-out split",
    source="003 (lecture), Cross validation: held-out and K-fold",
    run=run, minutes=1, quick_seconds=5)
