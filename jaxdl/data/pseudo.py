"""Pseudo-labels: the unlabeled examples a trained classifier labels with high certainty.

The tutorial's "semi-learning" (000, data augmentation: "allowing some data without labels to
be used as training data if the model can classify them with high certainty"): classify the
unlabeled pool, keep the examples whose top class probability is at least `threshold`, and
train again on the labeled set plus those (Lee 2013, "Pseudo-Label").
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from jaxdl._checks import check_range
from jaxdl.metrics import class_probabilities


class PseudoLabels(NamedTuple):
    """`index` into the pool of the kept examples, their predicted `labels` and `confidence`
    (top class probability), all (K,), ordered by index; `fraction` = K / pool size."""

    index: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    fraction: float


def pseudo_label(model, params, state, x, *, threshold: float = 0.95,
                 batch_size: int = 1000) -> PseudoLabels:
    """Label the pool `x` with `model` (eval mode) and keep the examples with top class
    probability >= `threshold` (in (0, 1]); batches of `batch_size`, one compilation."""
    check_range("pseudo_label", "threshold", threshold, low=0.0, high=1.0, low_open=True)
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"pseudo_label: x must be a non-empty batch of examples, got shape "
                         f"{x.shape}")
    size = min(int(batch_size), len(x))
    def probabilities(xb):  # (N,) single logits count as (N, 1)
        outputs = model.apply(params, state, xb, train=False)[0]
        return class_probabilities(outputs[:, None] if outputs.ndim == 1 else outputs)

    apply = jax.jit(probabilities)
    padded = np.concatenate([x, np.repeat(x[:1], -len(x) % size, axis=0)])
    probs = np.concatenate([np.asarray(apply(padded[i:i + size]))
                            for i in range(0, len(padded), size)])[:len(x)]
    confidence = probs.max(axis=-1)
    index = np.flatnonzero(confidence >= threshold)
    return PseudoLabels(index, probs.argmax(axis=-1)[index].astype(np.int32),
                        confidence[index], len(index) / len(x))
