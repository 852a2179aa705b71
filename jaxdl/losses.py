"""Loss functions: `loss(outputs, labels, *, reduction="mean") -> scalar`.

Classification losses take `labels` either as integer class indices of shape
`outputs.shape[:-1]`, or as floating one-hot / probability vectors of `outputs`' shape.
`reduction` is "mean" (over the batch; the default), "sum", or "none" (one value per
example, for masked or weighted means). All are stable for logits of any magnitude.
"""

from __future__ import annotations

import inspect
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

from jaxdl._checks import check_choice, check_range
from jaxdl.nn.functional import log_softmax
from jaxdl.nn.layer import ShapeError

REDUCTIONS = ("mean", "sum", "none")


def reduce(per_example, reduction: str):
    """Mean or sum of per-example losses over the batch, or the per-example values."""
    check_choice("loss", "reduction", reduction, REDUCTIONS)
    if reduction == "mean":
        return jnp.mean(per_example)
    if reduction == "sum":
        return jnp.sum(per_example)
    return per_example


def takes_reduction(loss) -> bool:
    """Whether `loss` accepts the `reduction=` keyword of jaxdl's loss protocol (True
    when its signature cannot be read: the call itself then tells)."""
    try:
        parameters = inspect.signature(loss).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "reduction" or p.kind is p.VAR_KEYWORD for p in parameters)


def per_example(loss):
    """A jaxdl loss (with `reduction`) from a plain batch-mean loss `loss(outputs, labels)`
    (optax style, `lambda o, y: optax.l2_loss(o, y).mean()`): example i's value is
    loss(outputs[i:i+1], labels[i:i+1]), the mean over a batch of one, vmapped over i."""
    def wrapped(outputs, labels, *, reduction="mean"):
        values = jax.vmap(lambda o, y: loss(o[None], y[None]))(outputs, labels)
        return reduce(values, reduction)
    return wrapped


def as_distribution(where: str, outputs, labels):
    """Labels as vectors of `outputs`' shape: integer indices become one-hot rows."""
    labels = jnp.asarray(labels)
    if jnp.issubdtype(labels.dtype, jnp.integer) or labels.dtype == jnp.bool_:
        if labels.shape != outputs.shape[:-1]:
            raise ShapeError(f"{where}: integer labels must have shape {outputs.shape[:-1]} "
                             f"(outputs {outputs.shape} without the class axis), "
                             f"got {labels.shape}")
        return jax.nn.one_hot(labels, outputs.shape[-1], dtype=outputs.dtype)
    if labels.shape != outputs.shape:
        raise ShapeError(f"{where}: one-hot/probability labels must have the outputs' shape "
                         f"{outputs.shape}, got {labels.shape}")
    return labels.astype(outputs.dtype)


def _per_example_sum(values):
    """Sum over every axis but the batch axis."""
    return jnp.sum(values.reshape(values.shape[0], -1), axis=1) if values.ndim > 1 else values


def _regression(where: str, elementwise, predictions, targets, reduction: str):
    """Per example, the mean over outputs of elementwise(prediction - target), reduced.

    Integer targets with multi-column predictions are one-hot encoded (a loss on class
    scores); otherwise targets must have the predictions' shape.
    """
    targets = jnp.asarray(targets)
    if jnp.issubdtype(targets.dtype, jnp.integer) and targets.ndim == predictions.ndim - 1:
        targets = as_distribution(where, predictions, targets)
    if targets.shape != predictions.shape:
        raise ShapeError(f"{where}: targets must have the predictions' shape "
                         f"{predictions.shape}, got {targets.shape}")
    size = math.prod(predictions.shape[1:])
    return reduce(_per_example_sum(elementwise(predictions - targets)) / size, reduction)


def mse(predictions, targets, *, reduction="mean"):
    """Mean squared error: per example, mean over outputs of (prediction - target)^2.

    Integer targets with multi-column predictions are one-hot encoded (squared loss on
    class scores).
    """
    return _regression("mse", jnp.square, predictions, targets, reduction)


def mae(predictions, targets, *, reduction="mean"):
    """Mean absolute error: per example, mean over outputs of |prediction - target|.

    The L1 loss of robust regression: an outlier's pull is bounded (gradient sign(r)).
    Targets as for `mse`.
    """
    return _regression("mae", jnp.abs, predictions, targets, reduction)


def huber(predictions, targets, *, delta=1.0, reduction="mean"):
    """Huber loss (Huber 1964), per example the mean over outputs of, with r = pred - target,

        0.5 r^2                      for |r| <= delta,
        delta * (|r| - 0.5 delta)    otherwise:

    squared near 0, absolute (robust to outliers) beyond delta > 0. Equals
    `optax.huber_loss(predictions, targets, delta)` averaged over outputs. Targets as for
    `mse`.
    """
    check_range("huber", "delta", delta, low=0.0, low_open=True)

    def elementwise(r):
        a = jnp.abs(r)
        return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))

    return _regression("huber", elementwise, predictions, targets, reduction)


def softmax_cross_entropy(logits, labels, *, reduction="mean"):
    """L = -sum_k t_k log softmax(z)_k, with log softmax computed stably (max subtracted)."""
    targets = as_distribution("softmax_cross_entropy", logits, labels)
    return reduce(-jnp.sum(targets * log_softmax(logits), axis=-1), reduction)


def sigmoid_cross_entropy(logits, labels, *, reduction="mean"):
    """Logistic loss L = -y log s(z) - (1 - y) log(1 - s(z)), mean over outputs.

    Computed as max(z, 0) - z y + log(1 + e^-|z|), exact and finite for any |z|.
    Labels are 0/1 (or probabilities) of the logits' shape; logits of shape (N, 1) also
    take labels of shape (N,).
    """
    labels = jnp.asarray(labels)
    if logits.ndim == labels.ndim + 1 and logits.shape[-1] == 1:
        labels = labels[..., None]
    if labels.shape != logits.shape:
        raise ShapeError(f"sigmoid_cross_entropy: labels must have the logits' shape "
                         f"{logits.shape}, got {labels.shape}")
    labels = labels.astype(logits.dtype)
    elementwise = (jnp.maximum(logits, 0) - logits * labels
                   + jnp.log1p(jnp.exp(-jnp.abs(logits))))
    size = math.prod(logits.shape[1:])
    return reduce(_per_example_sum(elementwise) / size, reduction)


logistic_loss = sigmoid_cross_entropy


def multiclass_hinge(scores, labels, *, margin=1.0, reduction="mean"):
    """Multiclass SVM loss (Weston & Watkins): L = sum_{j != y} max(0, s_j - s_y + margin)."""
    targets = as_distribution("multiclass_hinge", scores, labels)
    correct = jnp.sum(targets * scores, axis=-1, keepdims=True)
    margins = jnp.maximum(0.0, scores - correct + margin) * (1.0 - targets)
    return reduce(jnp.sum(margins, axis=-1), reduction)


def cross_entropy(targets, probabilities, *, reduction="mean"):
    """H(p, q) = -sum_k p_k log q_k between probability vectors (0 log 0 = 0)."""
    p = as_distribution("cross_entropy", probabilities, targets)
    return reduce(-jnp.sum(xlogy(p, probabilities), axis=-1), reduction)


def entropy(probabilities, *, base=math.e, reduction="mean"):
    """H(p) = -sum_k p_k log_base p_k; base=2 gives bits, the default e gives nats."""
    h = -jnp.sum(xlogy(probabilities, probabilities), axis=-1) / math.log(base)
    return reduce(h, reduction) if h.ndim else h


def kl_divergence(targets, probabilities, *, reduction="mean"):
    """KL(p || q) = sum_k p_k log(p_k / q_k) = H(p, q) - H(p) (0 log 0 = 0)."""
    p = as_distribution("kl_divergence", probabilities, targets)
    per_example = jnp.sum(xlogy(p, p) - xlogy(p, probabilities), axis=-1)
    return reduce(per_example, reduction)


def nll(log_probabilities, labels, *, reduction="mean"):
    """Negative log-likelihood L = -log q_y from log-probabilities (e.g. nn.log_softmax)."""
    targets = as_distribution("nll", log_probabilities, labels)
    return reduce(-jnp.sum(targets * log_probabilities, axis=-1), reduction)


_TARGET_KINDS = {softmax_cross_entropy: "classes", multiclass_hinge: "classes", nll: "classes",
                 sigmoid_cross_entropy: "binary", mse: "values", mae: "values",
                 huber: "values"}


def target_kind(loss) -> str | None:
    """What `loss` takes as labels: "classes" (integer class indices or one-hot rows:
    softmax_cross_entropy, multiclass_hinge, nll), "binary" (0/1 targets per output:
    sigmoid_cross_entropy), "values" (real targets: mse, mae, huber), or None for a loss
    jaxdl does not know (its labels are not validated). `functools.partial` wrappers are
    looked through."""
    while hasattr(loss, "func") and hasattr(loss, "keywords"):  # functools.partial
        loss = loss.func
    try:
        return _TARGET_KINDS.get(loss)
    except TypeError:  # an unhashable callable
        return None
