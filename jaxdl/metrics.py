"""Metrics: per-example values whose masked mean the compiled epoch records.

A metric is a `Metric(per_example, finalize=None, maximize=False)`: `per_example(outputs,
labels)` gives one value per example, the run averages it over the real (unmasked)
examples of a split or epoch, then applies `finalize` to the mean (RMSE = sqrt of the mean
squared error). `fit`, the ensembles, `tune` and `evaluate` take `metrics={"name": metric}`
(a plain function counts as a Metric to minimize) and record `train_<name>`,
`dev_<name>`; the default set follows the loss (`default_for`): accuracy for the
classification losses, nothing beyond the loss for regression losses such as `mse`.

```python
train.fit(..., loss=losses.mse, metrics={"rmse": metrics.rmse, "mae": metrics.mae})
```
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxdl import losses

RESERVED = ("loss", "count", "finite")  # names the run records itself


class Metric(NamedTuple):
    """`per_example(outputs, labels) -> (N,)`; the record is `finalize(masked mean)`;
    `maximize` says which way is better (early stopping, best epoch, rankings)."""

    per_example: Callable
    finalize: Callable | None = None
    maximize: bool = False

    def result(self, mean):
        return mean if self.finalize is None else self.finalize(mean)


def _per_example_mean(values):
    """Mean over every axis but the batch axis."""
    return jnp.mean(values.reshape(values.shape[0], -1), axis=1)


def _aligned_targets(predictions, targets):
    """Targets of the predictions' shape: (N,) targets of a single output become (N, 1)."""
    targets = jnp.asarray(targets)
    if targets.ndim == predictions.ndim - 1 and predictions.shape[-1] == 1:
        targets = targets[..., None]
    return targets.astype(predictions.dtype)


def class_probabilities(outputs):
    """Class probabilities of classifier outputs: softmax over the last axis; one output (a
    logit z) becomes the two classes (1 - sigmoid(z), sigmoid(z))."""
    outputs = jnp.asarray(outputs)
    if outputs.shape[-1] == 1:
        p = jax.nn.sigmoid(outputs)
        return jnp.concatenate([1 - p, p], axis=-1)
    return jax.nn.softmax(outputs, axis=-1)


def predicted_classes(outputs):
    """The predicted class: argmax over the last axis, or logit > 0 for a single output."""
    if outputs.shape[-1] == 1:
        return (outputs[..., 0] > 0).astype(jnp.int32)
    return jnp.argmax(outputs, axis=-1)


def correct(outputs, labels):
    """1.0 where the predicted class is the label, per example.

    Several outputs: the class is argmax over the last axis; labels are integer indices or
    one-hot rows. One output (a logit z of a binary classifier): the class is z > 0, and
    labels may be (N,) or (N, 1), integer or float 0/1 (probabilities count as 1 above 0.5).
    """
    labels = jnp.asarray(labels)
    if outputs.shape[-1] == 1:
        if labels.ndim == outputs.ndim:
            labels = labels[..., 0]
        labels = labels > 0.5
    elif not jnp.issubdtype(labels.dtype, jnp.integer):
        labels = jnp.argmax(labels, axis=-1)
    return (predicted_classes(outputs) == labels).astype(jnp.float32)


def squared_error(predictions, targets):
    """Per example: mean over outputs of (prediction - target)^2."""
    return _per_example_mean((predictions - _aligned_targets(predictions, targets)) ** 2)


def absolute_error(predictions, targets):
    """Per example: mean over outputs of |prediction - target|."""
    return _per_example_mean(jnp.abs(predictions - _aligned_targets(predictions, targets)))


accuracy = Metric(correct, maximize=True)
"""Fraction of examples whose predicted class is the label (see `correct`)."""
mse = Metric(squared_error)
"""Mean squared error, mean over examples and outputs."""
rmse = Metric(squared_error, finalize=jnp.sqrt)
"""Root mean squared error: sqrt of `mse` over the whole split (not a mean of roots)."""
mae = Metric(absolute_error)
"""Mean absolute error, mean over examples and outputs."""


def default_for(loss: Callable) -> dict:
    """The metrics a run records by default: accuracy for the losses that take class labels
    (`losses.target_kind` "classes" or "binary"), none for any other loss."""
    return {"accuracy": accuracy} if losses.target_kind(loss) in ("classes", "binary") else {}


def resolve(where: str, metrics, loss: Callable) -> tuple:
    """Sorted ((name, Metric), ...) of `metrics` (None: `default_for(loss)`), checked."""
    if metrics is None:
        metrics = default_for(loss)
    if not isinstance(metrics, dict):
        raise TypeError(f"{where}: metrics must be a dict name -> metric function, got "
                        f"{type(metrics).__name__}")
    out = []
    for name, metric in metrics.items():
        if not isinstance(name, str) or not name.isidentifier() or name in RESERVED:
            raise ValueError(f"{where}: metric name {name!r} must be an identifier other than "
                             f"{', '.join(RESERVED)}")
        if not isinstance(metric, Metric):
            if not callable(metric):
                raise TypeError(f"{where}: metrics[{name!r}] must be a Metric or a function "
                                f"(outputs, labels) -> per-example values, got "
                                f"{type(metric).__name__}")
            metric = Metric(metric)
        out.append((name, metric))
    return tuple(sorted(out, key=lambda item: item[0]))


def base_name(column: str) -> str:
    """The metric a history key or table column measures: "best_dev_accuracy" -> "accuracy"."""
    for prefix in ("best_", "final_"):
        column = column.removeprefix(prefix)
    for split in ("train_", "dev_", "test_"):
        if column.startswith(split):
            return column[len(split):]
    return column


def maximized(column: str, metrics: tuple | dict = ()) -> bool:
    """Whether larger is better for `column`: its metric's `maximize`; for names no metric
    defines (a callback's record), names ending in "accuracy" are maximized."""
    name = base_name(column)
    known = dict(metrics)
    if name in known:
        return known[name].maximize
    return name.endswith("accuracy")
