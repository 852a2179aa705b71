"""Vanishing and exploding gradients (tutorial 000, "Diminishing and exploding gradient",
"Gradient clipping for gradient explosion").

Vanishing: the tutorial's log of a 7-layer network shows the gradient norm falling from
49.3 at layer 6 (next to the loss) to 2.3e-5 at layer 0, a factor 2.1e6: "layer 0 almost
learns nothing". Here: ||dJ/dW|| per weight layer at initialization, on one batch of 256
training examples, of three 7-layer networks (6 hidden layers of 100 units): sigmoid with
Xavier init (each sigmoid' <= 0.25 gates the signal), ReLU with He init, and sigmoid with
batch norm before each activation. The sigmoid network's ratio last/first must exceed 1e2;
ReLU + He and batch norm must keep it under 10.

Exploding: the same depth, ReLU + He, trained with plain SGD (batch 50) at learning rates
0.3 and 1.0, with and without `optim.clip_by_global_norm(1.0)` (the tutorial's
clip_by_global_norm: g * clip / max(||g||, clip)), as one vmapped `ensemble.sweep`.
Without clipping, lr 1.0 blows up (the loss explodes and `fit` stops the member); with
clipping, the same learning rate trains. On MNIST (quick: the embedded 8x8 digits).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import diagnostics, ensemble, initializers, losses, nn, optim, train
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict
from jaxdl.experiments.sanity_checks import course_splits

NAME = "vanishing_gradients"
DEPTH, WIDTH = 7, 100
COURSE_LOG = (2.337481559834108e-05, 0.00010808796151264163, 0.0012733936924033608,
              0.01758514040640722, 0.20165907211476816, 3.3937365923146308, 49.335409914253)
NO_CLIP = 1e30  # clip_by_global_norm with this bound never clips
LEARNING_RATES = (0.3, 1.0)
CLIP = 1.0


def deep_net(activation: nn.Layer, w_init, *, batchnorm: bool = False, depth: int = DEPTH,
             width: int = WIDTH, classes: int = 10) -> nn.Layer:
    """flatten, (depth - 1) x [dense(width) (-> batchnorm) -> activation], dense(classes):
    `depth` weight layers."""
    layers = [nn.flatten]
    for _ in range(depth - 1):
        layers += [nn.dense(width, w_init=w_init), *([nn.batchnorm()] if batchnorm else []),
                   activation]
    return nn.serial(*layers, nn.dense(classes, w_init=w_init))


NETWORKS = {
    "sigmoid, Xavier": deep_net(nn.sigmoid, initializers.lecun_normal()),
    "ReLU, He": deep_net(nn.relu, initializers.he_normal()),
    "sigmoid + batch norm, Xavier": deep_net(nn.sigmoid, initializers.lecun_normal(),
                                             batchnorm=True),
}


def layer_gradient_norms(model: nn.Layer, x, y, *, key) -> np.ndarray:
    """||dJ/dW|| of each weight layer, input side first, of the training loss at init."""
    params, state, _ = model.init(key, x.shape[1:])
    objective = train.make_objective(model, losses.softmax_cross_entropy)
    grads, _ = jax.grad(objective, has_aux=True)(params, state, x, y,
                                                 jnp.ones(len(y), bool), None)
    return np.array(list(diagnostics.to_python(diagnostics.gradient_norms(grads, model))
                         .values()))


def run(key, *, quick: bool, out, data_dir=None):
    splits = course_splits(quick, data_dir, jax.random.fold_in(key, 0))
    x, y = jnp.asarray(splits.train.x[:256]), jnp.asarray(splits.train.y[:256])
    norms = {name: layer_gradient_norms(model, x, y, key=jax.random.fold_in(key, 1))
             for name, model in NETWORKS.items()}
    ratios = {name: float(n[-1] / n[0]) for name, n in norms.items()}
    course_ratio = COURSE_LOG[-1] / COURSE_LOG[0]

    epochs = 10 if quick else 3
    sweep = ensemble.sweep(
        NETWORKS["ReLU, He"],
        lambda hp: optax.chain(optim.clip_by_global_norm(hp["clip"]), optim.sgd(hp["lr"])),
        losses.softmax_cross_entropy, splits,
        hparams={"lr": list(LEARNING_RATES), "clip": [NO_CLIP, CLIP]},
        key=jax.random.fold_in(key, 2), epochs=epochs, batch_size=50, verbose=False)
    runs = []
    for i, row in enumerate(sweep.table):
        runs.append({"lr": row["lr"], "clipping": "off" if row["clip"] == NO_CLIP
                     else f"global norm {row['clip']:g}", "stopped": row["stopped"],
                     "epochs trained": row["epochs"],
                     "final train loss": row["final_train_loss"],
                     "final dev accuracy": row["final_dev_accuracy"],
                     "curve": sweep.history["train_loss"][:, i]})
    by = {(r["lr"], r["clipping"] == "off"): r for r in runs}
    high, clipped = by[(max(LEARNING_RATES), True)], by[(max(LEARNING_RATES), False)]
    clipped_dev = clipped["final dev accuracy"]

    checks = {
        "sigmoid: last/first gradient norm > 1e2": ratios["sigmoid, Xavier"] > 1e2,
        "sigmoid: norms grow monotonically towards the loss":
            bool(np.all(np.diff(norms["sigmoid, Xavier"]) > 0)),
        "ReLU + He: ratio < 10": ratios["ReLU, He"] < 10,
        "batch norm: ratio < 10": ratios["sigmoid + batch norm, Xavier"] < 10,
        f"lr {max(LEARNING_RATES):g} without clipping blows up":
            high["stopped"] in ("nan", "exploding"),
        f"lr {max(LEARNING_RATES):g} with clipping trains (dev accuracy > 0.8)":
            bool(clipped["stopped"] == "completed" and clipped_dev > 0.8),
    }
    layer_rows = [{"layer": i, "course log (iteration 0)": f"{COURSE_LOG[i]:.3g}",
                   **{name: f"{n[i]:.3g}" for name, n in norms.items()}}
                  for i in range(DEPTH)]
    table = report.comparison_table([
        ("layer 0 gradient norm, sigmoid", "2.3e-05", f"{norms['sigmoid, Xavier'][0]:.2e}"),
        ("layer 6 gradient norm, sigmoid", "49.3", f"{norms['sigmoid, Xavier'][-1]:.3g}"),
        ("ratio layer 6 / layer 0, sigmoid", f"{course_ratio:.2g}",
         f"{ratios['sigmoid, Xavier']:.2g}"),
        ("ratio, ReLU + He", "-", f"{ratios['ReLU, He']:.2g}"),
        ("ratio, sigmoid + batch norm", "-", f"{ratios['sigmoid + batch norm, Xavier']:.2g}"),
        (f"SGD lr {max(LEARNING_RATES):g}, no clipping", "explodes",
         f"{high['stopped']} after {high['epochs trained']} epochs"),
        (f"SGD lr {max(LEARNING_RATES):g}, clip_by_global_norm({CLIP:g})", "trains",
         f"dev accuracy {clipped_dev:.3f}"),
    ])
    markdown = (f"# Vanishing and exploding gradients\n\n{__doc__.split(chr(10) * 2, 1)[1]}\n"
                f"This run: {'digits' if quick else 'MNIST'}; the sweep trains {epochs} "
                f"epochs.\n\n## The tutorial vs jaxdl\n\n{table}\n"
                "## Gradient norm per weight layer at initialization (0 = input side)\n\n"
                + report.markdown_table(layer_rows)
                + "\n## Exploding: SGD with and without gradient clipping\n\n"
                + report.markdown_table([{k: v for k, v in r.items() if k != "curve"}
                                         for r in runs])
                + "\n## Checks\n\n"
                + report.markdown_table([{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {"course_log": COURSE_LOG, "norms": norms, "ratios": ratios,
                             "clipping": runs, "checks": checks}, markdown)
    _figure(norms, runs, out)
    return verdict(
        all(checks.values()),
        course=f"layer 6 / layer 0 = {course_ratio:.1e} (sigmoid); clipping tames explosion",
        measured=f"{ratios['sigmoid, Xavier']:.1e} (sigmoid), {ratios['ReLU, He']:.2g} "
                 f"(ReLU+He), {ratios['sigmoid + batch norm, Xavier']:.2g} (BN); lr "
                 f"{max(LEARNING_RATES):g}: {high['stopped']} vs {clipped_dev:.3f} clipped",
        summary=f"gradient norm last/first layer: sigmoid {ratios['sigmoid, Xavier']:.2g} "
                f"(tutorial {course_ratio:.2g}), ReLU+He {ratios['ReLU, He']:.2g}, sigmoid+BN "
                f"{ratios['sigmoid + batch norm, Xavier']:.2g}; SGD lr "
                f"{max(LEARNING_RATES):g}: {high['stopped']} without clipping, dev accuracy "
                f"{clipped_dev:.3f} with clip_by_global_norm({CLIP:g})",
        numbers={"norms": {k: v.tolist() for k, v in norms.items()}, "ratios": ratios,
                 "unclipped_stopped": high["stopped"], "clipped_dev_accuracy": clipped_dev,
                 "checks": checks})


def _figure(norms, runs, out) -> None:
    plt = report.pyplot()
    fig, (grads, curves) = plt.subplots(1, 2, figsize=(12, 4.5))
    layers = np.arange(DEPTH)
    grads.semilogy(layers, COURSE_LOG, "k--", marker="s", label="tutorial's log (iteration 0)")
    for name, n in norms.items():
        grads.semilogy(layers, n, marker="o", label=name)
    grads.set(xlabel="weight layer (0 = input side)", ylabel="||dJ/dW||",
              title="gradient norm per layer at initialization")
    grads.legend(fontsize=8)
    grads.grid(alpha=0.3)
    for r in runs:
        curve = np.asarray(r["curve"], float)
        epochs = np.arange(1, len(curve) + 1)
        style = "-" if r["clipping"] == "off" else "--"
        label = f"lr {r['lr']:g}, clipping {r['clipping']}: {r['stopped']}"
        curves.semilogy(epochs, np.where(np.isfinite(curve), curve, np.nan), style, marker="o",
                        label=label)
    curves.set(xlabel="epoch", ylabel="train loss",
               title="plain SGD, ReLU + He: without clipping lr 1.0 explodes")
    curves.legend(fontsize=8)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="In a deep sigmoid network the gradient vanishes towards the input (the tutorial: "
          "49.3 at layer 6, 2.3e-5 at layer 0); ReLU + He and batch norm keep it level, and "
          "clipping the global norm tames an exploding run",
    source="000 (tutorial), Diminishing and exploding gradient; Gradient clipping for "
           "gradient explosion",
    run=run, minutes=1.5, quick_seconds=12, needs=("mnist",))
