"""A saved training run, reloaded to predict: `run = jaxdl.load_run(DIR)` on a directory
written by `jaxdl train --out DIR`, then `run.predict(x_raw)` in any later process.

A run directory holds config.json (`recipes.TrainConfig`), checkpoint.npz (the last
TrainState and the best epoch's) and preprocessing.npz (the statistics of
`config.preprocess` fitted on the training inputs, with the class names and input shape).
`load_run` rebuilds the model from the config and takes the params `fit` returned: the
best dev epoch's with early stopping, else the last epoch's (their running average with
`ema_decay`). New inputs go through the saved preprocessing: x' = apply(stats, x_raw).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxdl import checkpoint, data, losses, recipes, train
from jaxdl.nn.layer import Layer

CONFIG_FILE, CHECKPOINT_FILE, PREPROCESSING_FILE = ("config.json", "checkpoint.npz",
                                                     "preprocessing.npz")


def save_preprocessing(directory, config: recipes.TrainConfig, stats, info) -> Path:
    """Write `stats` (None for preprocess "none"), the class names and the input shape of
    the dataset `info` to `directory`/preprocessing.npz, atomically."""
    return checkpoint.save(Path(directory) / PREPROCESSING_FILE, {"stats": stats},
                           {"method": config.preprocess, "classes": list(info.classes),
                            "input_shape": list(info.input_shape)})


class Run(NamedTuple):
    """A reloaded run: its `config`, `model` (a Layer), `params`, `state` (the model state:
    batch-norm statistics), `preprocessing` (the fitted statistics, None for "none"),
    `classes` (names; label i is classes[i]), `input_shape` and `directory`."""

    directory: Path
    config: recipes.TrainConfig
    model: Layer
    params: Any
    state: Any
    preprocessing: Any
    classes: tuple
    input_shape: tuple

    def preprocess(self, x_raw) -> np.ndarray:
        """Raw inputs (as `data.load` gives them, e.g. pixels in [0, 1]) as the model saw
        them in training: apply(stats, x_raw)."""
        x = np.asarray(x_raw, np.float32)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"run {self.directory}: inputs must have shape (N, "
                             f"{', '.join(map(str, self.input_shape))}), got {x.shape}")
        if self.preprocessing is None:
            return x
        return np.asarray(data.PREPROCESSORS[self.config.preprocess].apply(
            self.preprocessing, x))

    def outputs(self, x_raw, *, batch_size: int = 1000) -> np.ndarray:
        """Eval-mode outputs (logits) (N, classes) of the raw inputs."""
        x = self.preprocess(x_raw)
        apply = _apply(self.model)
        parts = [np.asarray(apply(self.params, self.state, x[i:i + batch_size]))
                 for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes)))

    def predict(self, x_raw, *, batch_size: int = 1000) -> np.ndarray:
        """The predicted class index (N,) of each raw input: argmax of the outputs."""
        return np.argmax(self.outputs(x_raw, batch_size=batch_size), axis=-1)

    def evaluate(self, x_raw, y) -> dict:
        """Eval-mode loss and accuracy on raw inputs `x_raw` with labels `y`."""
        return train.evaluate(self.model, self.params, self.state,
                              (self.preprocess(x_raw), np.asarray(y)),
                              loss=losses.softmax_cross_entropy)


def _apply(model: Layer):
    return jax.jit(lambda params, state, x: model.apply(params, state, x, train=False)[0])


def load_run(directory) -> Run:
    """The run saved in `directory` by `jaxdl train --out` (see the module docstring).
    A run written before preprocessing.npz existed gets its statistics refitted on its
    training split (the same split key, so the same numbers)."""
    directory = Path(directory)
    config = recipes.TrainConfig.load(directory / CONFIG_FILE)
    saved = checkpoint.restore(directory / CHECKPOINT_FILE).tree
    chosen = saved["best"] if config.early_stopping is not None else saved["state"]
    path = directory / PREPROCESSING_FILE
    if path.is_file():
        found = checkpoint.restore(path)
        if found.config.get("method") != config.preprocess:
            raise checkpoint.CheckpointError(
                f"{path} holds {found.config.get('method')!r} statistics, but "
                f"{directory / CONFIG_FILE} says preprocess {config.preprocess!r}")
        stats = found.tree["stats"]
        classes, shape = found.config["classes"], found.config["input_shape"]
    else:
        splits, stats = recipes.load_data_and_stats(config)
        classes, shape = splits.train.info.classes, splits.train.info.input_shape
    model = recipes.model(config, len(classes))
    return Run(directory, config, model, train.averaged(chosen), chosen.model_state, stats,
               tuple(classes), tuple(shape))
