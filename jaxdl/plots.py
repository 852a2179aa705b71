"""Plots (matplotlib with the Agg backend; install the `plot` extra): each function returns
a Figure and, given `path`, also saves it as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("jaxdl.plots needs matplotlib: pip install 'jaxdl[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _finish(fig, path):
    """Lay out `fig` and, given `path`, save it atomically (a temporary file renamed over
    `path`: an interrupted or failed save leaves no partial image)."""
    from jaxdl._io import atomic_write
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as file:
            fig.savefig(file, dpi=120, format=path.suffix.lstrip(".") or "png")
    return fig


def _integer_ticks(ax) -> None:
    """Whole-number ticks on the x-axis (epochs, members): no 1.5 or -0.5."""
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _no_epochs(ax) -> None:
    """Say on `ax` that the history holds no completed epoch (a run stopped in epoch 1)."""
    ax.text(0.5, 0.5, "no completed epoch", ha="center", va="center",
            transform=ax.transAxes, color="gray")


def training_curves(history: dict, path=None, *, title: str | None = None):
    """Loss curve (train and dev) and train-vs-dev accuracy per epoch, side by side; an
    empty history (no completed epoch) gives empty axes that say so."""
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = history.get("epoch", [])
    for split in ("train", "dev"):
        if f"{split}_loss" in history:
            loss_ax.plot(epochs, history[f"{split}_loss"], label=split)
        if f"{split}_accuracy" in history:
            acc_ax.plot(epochs, history[f"{split}_accuracy"], label=split)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (loss_ax, acc_ax):
        _integer_ticks(ax)
        ax.grid(alpha=0.3)
        if epochs:
            ax.legend()
        else:
            _no_epochs(ax)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


# ------------------------------------------------------------------- diagnostics plots


def layer_curves(history: dict, key: str = "grad_norm", path=None, *, log: bool = True,
                 reference: float | None = None, title: str | None = None):
    """One line per layer of `history[key]` (a {layer: value} dict per epoch) over the
    epochs, e.g. the per-layer gradient norms ("grad_norm") or update/weight ratios
    ("update_ratio", with `reference=1e-3`, the healthy ratio, drawn dashed)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    records = [(e, r) for e, r in zip(history.get("epoch", []), history.get(key, [])) if r]
    names = list(dict.fromkeys(name for _, record in records for name in record))
    for name in names:
        points = [(e, r[name]) for e, r in records if name in r]
        ax.plot(*zip(*points), marker=".", label=name)
    if reference is not None:
        ax.axhline(reference, color="gray", linestyle="--", label=f"{reference:g}")
    if log:
        ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set(xlabel="epoch", ylabel=key, title=title or f"{key} per layer")
    _integer_ticks(ax)
    ax.grid(alpha=0.3)
    if names:
        ax.legend(fontsize="small")
    elif not history.get("epoch"):
        _no_epochs(ax)
    return _finish(fig, path)


def _is_binned(item) -> bool:
    """True for a precomputed histogram (counts, edges) with len(edges) == len(counts) + 1."""
    return (isinstance(item, (tuple, list)) and len(item) == 2
            and np.ndim(item[0]) == 1 and np.ndim(item[1]) == 1
            and len(item[1]) == len(item[0]) + 1)


def histogram_grid(rows: dict, path=None, *, bins: int = 30, title: str | None = None):
    """A grid of histograms: one row per {row label: {panel name: values}}; values are raw
    arrays or precomputed (counts, edges) pairs (as the diagnostics monitors record)."""
    plt = _pyplot()
    columns = max((len(panels) for panels in rows.values()), default=1) or 1
    fig, axes = plt.subplots(len(rows), columns, figsize=(2.4 * columns, 2.2 * len(rows)),
                             squeeze=False)
    for row, (label, panels) in zip(axes, rows.items()):
        for ax, (name, item) in zip(row, panels.items()):
            if _is_binned(item):
                ax.stairs(np.asarray(item[0]), np.asarray(item[1]), fill=True)
            else:
                ax.hist(np.ravel(np.asarray(item)), bins=bins)
            ax.set_title(name, fontsize="small")
            ax.tick_params(labelsize="x-small")
        row[0].set_ylabel(label)
        for ax in row[len(panels):]:
            ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def activation_histograms(layers: dict, path=None, *, bins: int = 30, title=None):
    """Per-layer activation histograms: {layer: values} (one row) or {row: {layer: values}}
    (e.g. one row per epoch or per initialization)."""
    nested = all(isinstance(v, dict) for v in layers.values())
    return histogram_grid(layers if nested else {"activations": layers}, path, bins=bins,
                          title=title)


def weight_histograms(weights: dict, grads: dict | None = None, path=None, *, bins: int = 30,
                      title=None):
    """Histograms of each weight leaf {name: values} and, given, of its gradient."""
    rows = {"weights": weights, **({"gradients": grads} if grads is not None else {})}
    return histogram_grid(rows, path, bins=bins, title=title)


def decision_boundary(predict, x, y, path=None, *, resolution: int = 200,
                      padding: float = 0.5, title: str | None = None):
    """The classes `predict` assigns over the plane of 2-D inputs `x`, with the points.

    `predict(points (N, 2)) -> outputs (N, C)` (logits or probabilities; the class is the
    argmax, or output > 0 for C = 1) or class labels (N,). The class map is an image
    (origin lower-left) over the data's bounding box plus `padding`.
    """
    from jaxdl.metrics import predicted_classes

    plt = _pyplot()
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"decision_boundary: x must have shape (N, 2), got {x.shape}")
    (x0, y0), (x1, y1) = x.min(0) - padding, x.max(0) + padding
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    outputs = np.asarray(predict(grid))
    classes = outputs if outputs.ndim == 1 else np.asarray(predicted_classes(outputs))
    count = int(max(classes.max(), y.max())) + 1
    colors = dict(cmap="tab10", vmin=0, vmax=9) if count <= 10 else dict(cmap="tab20", vmin=0,
                                                                          vmax=19)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(classes.reshape(resolution, resolution), origin="lower", extent=(x0, x1, y0, y1),
              alpha=0.35, aspect="auto", interpolation="nearest", **colors)
    ax.scatter(x[:, 0], x[:, 1], c=y, edgecolors="k", s=18, **colors)
    ax.set(xlabel="x1", ylabel="x2", title=title or f"decision boundary ({count} classes)")
    return _finish(fig, path)


def diagnostics_plots(history: dict, histograms: dict, directory) -> list[Path]:
    """Write the plots of a `diagnostics.TrainingMonitor` run into `directory` and return
    their paths: gradient_norms.png, update_ratios.png (when recorded), activation_std.png,
    activation_histograms.png (first vs last recorded epoch) and weight_histograms.png
    (weights and gradients at the last epoch). `histograms` is the monitor's
    {epoch: {"weights", "grads", "activations"}}."""
    from jaxdl.diagnostics.monitors import HEALTHY_RATIO  # (jax: not at plots' import time)
    directory = Path(directory)
    paths = []

    def save(name, draw):
        paths.append(directory / name)
        _pyplot().close(draw(paths[-1]))

    save("gradient_norms.png", lambda p: layer_curves(history, "grad_norm", p))
    if any(history.get("update_ratio", [])):
        save("update_ratios.png", lambda p: layer_curves(history, "update_ratio", p,
                                                         reference=HEALTHY_RATIO))
    save("activation_std.png", lambda p: layer_curves(history, "activation_std", p, log=False))
    if histograms:
        first, last = min(histograms), max(histograms)
        rows = {f"epoch {e}": histograms[e]["activations"] for e in dict.fromkeys((first, last))}
        save("activation_histograms.png", lambda p: activation_histograms(rows, p))
        save("weight_histograms.png", lambda p: weight_histograms(
            histograms[last]["weights"], histograms[last]["grads"], p, title=f"epoch {last}"))
    return paths


# ------------------------------------------------------------------- ensembles and sweeps


def ensemble_accuracy(panels: dict, path=None, *, title: str | None = None):
    """Member accuracies (bars) against the ensemble's votes (lines), one panel per
    {name: accuracies} where accuracies is `jaxdl.ensemble.accuracies(...)`'s dict."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    styles = {"mean_member": ("gray", ":"), "selected_member": ("black", (0, (1, 3))),
              "hard": ("tab:blue", "--"),
              "mean_prob": ("tab:orange", "-"), "confidence": ("tab:green", "-.")}
    for ax, (name, acc) in zip(axes[0], panels.items()):
        members = np.asarray(acc["members"])
        ax.bar(np.arange(len(members)), members, color="lightsteelblue", label="members")
        for key, (color, style) in styles.items():
            if key in acc:
                ax.axhline(acc[key], color=color, linestyle=style,
                           label=f"{key} {acc[key]:.4f}")
        low = min(members.min(), *(acc[k] for k in styles if k in acc))
        ax.set_ylim(max(0.0, low - 0.02), min(1.0, max(members.max(), *(
            acc[k] for k in styles if k in acc)) + 0.01))
        ax.set(xlabel="member", ylabel="accuracy", title=name)
        _integer_ticks(ax)
        ax.set_xlim(-0.6, len(members) - 0.4)
        # below the axes, so no line label covers a bar
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
        ax.grid(alpha=0.3, axis="y")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def sweep_scatter(rows: list, names: list, path=None, *, metric: str = "best_dev_accuracy",
                  log: dict | None = None, title: str | None = None):
    """`metric` of each trial against each swept hyperparameter (one panel per name; log
    x-axis where `log[name]`); diverged trials (stopped nan/exploding) are red crosses."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.8), squeeze=False)
    values = np.array([row.get(metric, np.nan) for row in rows], np.float64)
    bad = np.array([row.get("stopped") in ("nan", "exploding") for row in rows])
    floor = np.nanmin(values) if np.any(np.isfinite(values)) else 0.0
    for ax, name in zip(axes[0], names):
        x = np.array([row[name] for row in rows], np.float64)
        ax.scatter(x[~bad], values[~bad], s=18, label="trials")
        if bad.any():
            ax.scatter(x[bad], np.full(bad.sum(), floor), marker="x", color="red",
                       label="diverged")
        if (log or {}).get(name):
            ax.set_xscale("log")
        ax.set(xlabel=name, ylabel=metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


# ------------------------------------------------------------------- looking at images


def _grayscale(images: np.ndarray) -> bool:
    return images.ndim == 3 or images.shape[-1] == 1


def image_grid(images, titles=None, path=None, *, columns: int = 8, signed: bool = False,
               title: str | None = None):
    """`images` (N, H, W), (N, H, W, 1) or (N, H, W, 3) in a grid of `columns`, each with
    its title. Gray images share one gray scale (min..max of all); `signed` draws each
    image on its own red-blue scale symmetric about 0 (weights). RGB is rescaled to [0, 1]
    (per image with `signed`, else over all)."""
    plt = _pyplot()
    images = np.asarray(images, np.float64)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
        raise ValueError("image_grid: images must have shape (N, H, W), (N, H, W, 1) or "
                         f"(N, H, W, 3), got {images.shape}")
    count = len(images)
    columns = max(1, min(columns, count))
    rows = max(1, -(-count // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.45 * rows + 0.3),
                             squeeze=False)
    low, high = (images.min(), images.max()) if count else (0.0, 1.0)
    if not count:
        axes[0][0].text(0.5, 0.5, "nothing to show", ha="center", va="center", color="gray")
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        image = images[index]
        if _grayscale(images):
            image = image.reshape(image.shape[:2])
            if signed:
                bound = np.abs(image).max() or 1.0
                ax.imshow(image, cmap="RdBu_r", vmin=-bound, vmax=bound)
            else:
                ax.imshow(image, cmap="gray", vmin=low, vmax=high)
        else:
            lo, hi = ((-np.abs(image).max(), np.abs(image).max()) if signed
                      else (low, high))
            ax.imshow((image - lo) / ((hi - lo) or 1.0))
        if titles is not None:
            ax.set_title(str(titles[index]), fontsize="x-small")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def _class_name(classes, label) -> str:
    return str(classes[int(label)]) if classes is not None else str(int(label))


def sample_grid(sample, path=None, *, classes=None, columns: int = 8, title=None):
    """The examples of `data.inspect.sample(...)` (or any (x, y) pair of images) titled
    with their labels (names from `classes`): look at the data before training."""
    x, y = sample[0], sample[1]
    return image_grid(x, [_class_name(classes, label) for label in np.asarray(y)], path,
                      columns=columns, title=title or f"{len(y)} examples and their labels")


def first_layer_weights(params, image_shape, path=None, *, units: int | None = 64,
                        columns: int = 8, title=None):
    """The first dense layer's weights as images (`data.inspect.first_layer_images`), the
    first `units` of them (None: all), each on a red-blue scale symmetric about 0."""
    from jaxdl.data.inspect import first_layer_images
    images = first_layer_images(params, image_shape)[slice(units)]
    return image_grid(images, [f"unit {j}" for j in range(len(images))], path,
                      columns=columns, signed=True,
                      title=title or "first-layer weights")


def _mistake_grid(x, found, path, classes, columns, title):
    titles = [f"{_class_name(classes, p)} ({c:.2f})\ntrue {_class_name(classes, t)}"
              for p, t, c in zip(found.predicted, found.true, found.confidence)]
    return image_grid(np.asarray(x)[found.indices], titles, path, columns=columns,
                      title=title)


def misclassified(x, outputs, labels, path=None, *, limit: int | None = 32, classes=None,
                  columns: int = 8, title=None):
    """The first `limit` misclassified examples of a split (dataset order), titled with
    "predicted (confidence)" and the true class (`data.inspect.misclassified`)."""
    from jaxdl.data.inspect import Mistakes, misclassified as find
    found = find(outputs, labels)
    shown = Mistakes(*(field[slice(limit)] for field in found))
    return _mistake_grid(x, shown, path, classes, columns,
                         title or f"{len(found.indices)} misclassified of {len(x)}")


def confident_mistakes(x, outputs, labels, path=None, *, k: int = 16, classes=None,
                       columns: int = 8, title=None):
    """The `k` mistakes the model was most confident of, most confident first
    (`data.inspect.most_confident_mistakes`)."""
    from jaxdl.data.inspect import most_confident_mistakes
    return _mistake_grid(x, most_confident_mistakes(outputs, labels, k), path, classes,
                         columns, title or f"the {k} most confident mistakes")
