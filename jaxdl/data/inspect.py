"""Look at the data and at what the model gets wrong (the course: "sample and verify
training data, labels", "display and analyse samples that have wrong predictions",
"visualize the model's parameters"). Selection only; `jaxdl.plots` draws the grids
(`sample_grid`, `first_layer_weights`, `misclassified`, `confident_mistakes`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl._checks import check_key, check_positive_int
from jaxdl.metrics import class_probabilities
from jaxdl.nn.layer import is_weight


class Sample(NamedTuple):
    """x, y: the drawn examples and labels; indices: their rows in the dataset (ascending)."""

    x: np.ndarray
    y: np.ndarray
    indices: np.ndarray


def _xy(where: str, data):
    if hasattr(data, "x") and hasattr(data, "y"):
        return np.asarray(data.x), np.asarray(data.y)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return np.asarray(data[0]), np.asarray(data[1])
    raise TypeError(f"{where}: data must be a Dataset or an (x, y) pair of arrays, got "
                    f"{type(data).__name__}")


def sample(data, n: int = 16, *, key) -> Sample:
    """`n` distinct examples of `data` (a Dataset or an (x, y) pair) drawn uniformly without
    replacement with `key`, in dataset order: "sample some data and labels and look"
    (`plots.sample_grid(sample(...))`)."""
    check_key("sample", key)
    x, y = _xy("sample", data)
    n = check_positive_int("sample", "n", n)
    if n > len(y):
        raise ValueError(f"sample: n ({n}) is larger than the dataset ({len(y)} examples)")
    indices = np.sort(np.asarray(jax.random.choice(key, len(y), (n,), replace=False)))
    return Sample(x[indices], y[indices], indices)


class Mistakes(NamedTuple):
    """indices: rows of the misclassified examples; predicted and true classes; confidence:
    the model's probability of its (wrong) predicted class."""

    indices: np.ndarray
    predicted: np.ndarray
    true: np.ndarray
    confidence: np.ndarray


def misclassified(outputs, labels) -> Mistakes:
    """The examples whose predicted class (argmax of the logits `outputs` (N, C), or
    logit > 0 for one output) is not the label (class indices or one-hot rows), in
    dataset order. confidence = softmax(outputs) of the predicted class (sigmoid, or
    1 - sigmoid, for one output)."""
    outputs, labels = jnp.asarray(outputs, jnp.float32), np.asarray(labels)
    if outputs.ndim != 2:
        raise ValueError(f"misclassified: outputs must have shape (N, C), got {outputs.shape}")
    true = np.argmax(labels, axis=-1) if labels.ndim == 2 and labels.shape[1] > 1 else \
        labels.reshape(len(labels)).astype(np.int64)
    if len(true) != outputs.shape[0]:
        raise ValueError(f"misclassified: {outputs.shape[0]} outputs but {len(true)} labels")
    probs = class_probabilities(outputs)
    predicted = (probs[:, 1] > 0.5).astype(jnp.int32) if outputs.shape[1] == 1 else \
        jnp.argmax(outputs, axis=1)
    predicted, confidence = np.asarray(predicted), np.asarray(jnp.max(probs, axis=1))
    wrong = np.flatnonzero(predicted != true)
    return Mistakes(wrong, predicted[wrong], true[wrong], confidence[wrong])


def most_confident_mistakes(outputs, labels, k: int = 16) -> Mistakes:
    """The `k` misclassified examples the model was most sure of, by decreasing
    confidence (ties in dataset order); fewer when there are fewer mistakes."""
    k = check_positive_int("most_confident_mistakes", "k", k)
    found = misclassified(outputs, labels)
    order = np.argsort(-found.confidence, kind="stable")[:k]
    return Mistakes(*(field[order] for field in found))


def first_layer_images(params, image_shape) -> np.ndarray:
    """The first weight matrix W (in, units) of `params` (the first `w` leaf in layer
    order), or W itself, as `units` images: image j = W[:, j] reshaped to `image_shape`
    (what unit j responds to in the input)."""
    if isinstance(params, (np.ndarray, jax.Array)):
        w = params
    else:
        weights = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
                   if is_weight(path)]
        if not weights:
            raise ValueError("first_layer_images: params hold no weight matrix (no 'w' leaf)")
        w = weights[0]
    w, image_shape = np.asarray(w), tuple(image_shape)
    if w.ndim != 2 or w.shape[0] != int(np.prod(image_shape)):
        raise ValueError(f"first_layer_images: the first weight matrix has shape {w.shape}; "
                         f"a dense layer on {image_shape} inputs has {int(np.prod(image_shape))}"
                         " rows")
    return w.T.reshape(w.shape[1], *image_shape)
