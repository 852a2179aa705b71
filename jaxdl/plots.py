"""Plots (matplotlib with the Agg backend; install the `plot` extra): each function returns
a Figure and, given `path`, also saves it as a PNG."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("jaxdl.plots needs matplotlib: pip install 'jaxdl[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig


def training_curves(history: dict, path=None, *, title: str | None = None):
    """Loss curve (train and dev) and train-vs-dev accuracy per epoch, side by side."""
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = history["epoch"]
    for split in ("train", "dev"):
        if f"{split}_loss" in history:
            loss_ax.plot(epochs, history[f"{split}_loss"], label=split)
        if f"{split}_accuracy" in history:
            acc_ax.plot(epochs, history[f"{split}_accuracy"], label=split)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(fig, path)
