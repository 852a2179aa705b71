"""Validation of training data at the door: one numpy pass per split and call, before any
step runs, so bad data fails with a message that names the split, the problem, how many
entries and the first offending index and value, instead of training silently.

Inputs must be finite. Labels are checked by what the loss takes (`losses.target_kind`):
integer class indices in [0, C) for C model outputs or one-hot rows ("classes"), 0/1
targets ("binary"), finite real targets ("values"); a loss jaxdl does not know has only
its finite-ness checked.

The course's looks at the data, each a NamedTuple verdict with its numbers: `class_balance`
(examples per class and split; missing and rare classes), `distribution_mismatch` (can a
classifier tell dev from test?), `pixel_range` (every split on one pixel scale).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import losses
from jaxdl._checks import check_key, check_positive_int, check_range


def _first(bad: np.ndarray, values: np.ndarray, what: str) -> str:
    """", first at index i (value v)" of the first True entry of `bad` (per example)."""
    index = int(np.argmax(bad.reshape(bad.shape[0], -1).any(axis=1)))
    row = values[index]
    shown = row if np.ndim(row) == 0 else row.reshape(-1)[bad[index].reshape(-1)][0]
    return f"first at {what} {index} (value {shown.item() if hasattr(shown, 'item') else shown})"


def _check_kind(where: str, split: str, name: str, array: np.ndarray) -> None:
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {split} {name} must be numbers, got dtype {array.dtype}")


def check_finite(where: str, split: str, name: str, array) -> None:
    """ValueError when `array` (x or real targets of `split`) holds NaN or inf."""
    array = np.asarray(array)
    _check_kind(where, split, name, array)
    if array.dtype.kind != "f":
        return
    bad = ~np.isfinite(array)
    count = int(bad.sum())
    if count:
        raise ValueError(f"{where}: {split} {name} has {count} non-finite value"
                         f"{'s' if count > 1 else ''} (NaN or inf), "
                         f"{_first(bad, array, 'example')}")


def _check_classes(where: str, split: str, y: np.ndarray, outputs: tuple, loss_name: str):
    classes = outputs[-1]
    batch_shape = (len(y), *outputs[:-1])
    if y.dtype.kind in "iu":
        if y.shape != batch_shape:
            raise ValueError(f"{where}: {split} labels have shape {y.shape}; {loss_name} takes "
                             f"integer class labels of shape {batch_shape} or one-hot rows of "
                             f"shape {(*batch_shape, classes)}")
        bad = (y < 0) | (y >= classes)
        count = int(bad.sum())
        if count:
            raise ValueError(f"{where}: {split} has {count} label{'s' if count > 1 else ''} "
                             f"outside [0, {classes}) (labels {int(y.min())}..{int(y.max())}, "
                             f"the model has {classes} outputs), "
                             f"{_first(bad, y, 'index')}")
        return
    if y.dtype.kind != "f" or y.shape != (*batch_shape, classes):
        raise ValueError(f"{where}: {split} labels are {y.dtype} of shape {y.shape}; "
                         f"{loss_name} takes integer class labels of shape {batch_shape} or "
                         f"one-hot rows of shape {(*batch_shape, classes)}")
    check_finite(where, split, "labels", y)
    bad = y < 0
    if bad.any():
        raise ValueError(f"{where}: {split} has {int(bad.sum())} negative one-hot/probability "
                         f"label entries, {_first(bad, y, 'index')}")


def _check_binary(where: str, split: str, y: np.ndarray, outputs: tuple, loss_name: str):
    shapes = [(len(y), *outputs)] + ([(len(y), *outputs[:-1])] if outputs[-1] == 1 else [])
    if y.shape not in shapes:
        raise ValueError(f"{where}: {split} labels have shape {y.shape}; {loss_name} takes 0/1 "
                         f"targets of shape {' or '.join(map(str, shapes))}")
    check_finite(where, split, "labels", y)
    bad = (y < 0) | (y > 1)
    count = int(bad.sum())
    if count:
        raise ValueError(f"{where}: {split} has {count} label{'s' if count > 1 else ''} "
                         f"outside [0, 1] for {loss_name}, {_first(bad, y, 'index')}")


def check_training_data(where: str, arrays: dict, *, loss, outputs: tuple) -> None:
    """Validate every split of `arrays` (name -> (x, y)) for a model with output shape
    `outputs` (one example) trained on `loss`; raises TypeError/ValueError on the first
    problem found."""
    kind = losses.target_kind(loss)
    loss_name = getattr(loss, "__name__", "the loss")
    for split, (x, y) in arrays.items():
        check_finite(where, split, "x", x)
        y = np.asarray(y)
        _check_kind(where, split, "labels", y)
        if y.dtype.kind == "b" and kind == "classes":
            raise TypeError(f"{where}: {split} labels are bool; {loss_name} takes integer class "
                            "labels (use y.astype(int)) or one-hot rows")
        if kind == "classes":
            _check_classes(where, split, y, tuple(outputs), loss_name)
        elif kind == "binary":
            _check_binary(where, split, y, tuple(outputs), loss_name)
        else:
            check_finite(where, split, "labels", y)


# ------------------------------------------------------- the course's looks at the data
# "The dataset should have similar amount of datapoints in each class", "make sure the dev
# and test set are coming from the same distribution", "verify the range of the input".


def _splits(where: str, data) -> dict:
    """{split: (x, y) numpy arrays} of anything `train.split_data` takes."""
    from jaxdl.train import split_data  # (train imports this module)
    try:
        parts = split_data(data)
    except TypeError as error:
        raise TypeError(f"{where}: {error}") from None
    return {name: (np.asarray(x), np.asarray(y)) for name, (x, y) in parts.items()}


def _class_labels(where: str, split: str, y: np.ndarray) -> np.ndarray:
    """Integer class indices from integer/0-1 labels of shape (N,) or (N, 1), or one-hot rows."""
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    y = y.reshape(len(y)) if y.ndim == 2 else y
    if y.ndim != 1 or (y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0)) or np.any(y < 0):
        raise ValueError(f"{where}: {split} labels must be class indices >= 0 (or one-hot "
                         f"rows), got {y.dtype} of shape {y.shape}")
    return y.astype(np.int64)


class ClassBalance(NamedTuple):
    """counts / fractions: {split: (C,) array}; missing / rare: {split: classes} with no
    example / fewer than min_share / C of the split; ok when no split has either."""

    counts: dict
    fractions: dict
    missing: dict
    rare: dict
    ok: bool
    message: str


def class_balance(data, *, num_classes: int | None = None,
                  min_share: float = 0.5) -> ClassBalance:
    """Examples per class in each split of `data` (Splits, Dataset, (x, y), ...); a class
    is rare in a split when its fraction is below `min_share` times the even share 1/C.
    C is `num_classes`, else the dataset's class count, else the largest label + 1."""
    check_range("class_balance", "min_share", min_share, low=0.0, high=1.0)
    labels = {name: _class_labels("class_balance", name, y)
              for name, (_, y) in _splits("class_balance", data).items()}
    largest = max(int(y.max(initial=-1)) for y in labels.values()) + 1
    if num_classes is None:
        num_classes = getattr(getattr(data, "train", data), "num_classes", None) or largest
    num_classes = check_positive_int("class_balance", "num_classes", num_classes)
    if largest > num_classes:
        raise ValueError(f"class_balance: label {largest - 1} is outside [0, {num_classes})")
    counts = {name: np.bincount(y, minlength=num_classes) for name, y in labels.items()}
    fractions = {name: c / c.sum() for name, c in counts.items()}
    missing = {name: tuple(np.flatnonzero(c == 0).tolist()) for name, c in counts.items()}
    rare = {name: tuple(np.flatnonzero((f > 0) & (f < min_share / num_classes)).tolist())
            for name, f in fractions.items()}
    problems = [f"{name}: {what} {classes}"
                for what, found in (("no example of class", missing), ("rare class", rare))
                for name, classes in found.items() if classes]
    bar = f"{min_share:g} x 1/{num_classes}"
    message = (f"no class is missing or under {bar} of a split" if not problems else
               "; ".join(problems) + f" (under {bar} of the split): collect or resample data "
               "for those classes, or stratify the split")
    return ClassBalance(counts, fractions, missing, rare, not problems, message)


def _flat_inputs(where: str, name: str, data) -> np.ndarray:
    """(N, D) float64 inputs of a Dataset, an (x, y) pair or an array x."""
    x = data.x if hasattr(data, "x") else data[0] if isinstance(data, (tuple, list)) else data
    x = np.asarray(x)
    _check_kind(where, name, "x", x)
    check_finite(where, name, "x", x)
    if x.ndim == 0 or len(x) < 4:
        raise ValueError(f"{where}: {name} needs at least 4 examples, got shape {x.shape}")
    return x.reshape(len(x), -1).astype(np.float64)


def standardized_differences(a, b) -> np.ndarray:
    """Per feature (mean_a - mean_b) / sqrt((var_a + var_b) / 2) (Cohen's d): 0 where both
    are the same constant, +-inf where they are different constants."""
    a, b = _flat_inputs("standardized_differences", "a", a), _flat_inputs(
        "standardized_differences", "b", b)
    diff = a.mean(0) - b.mean(0)
    pooled = np.sqrt((a.var(0) + b.var(0)) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pooled > 0, diff / pooled, np.where(diff == 0, 0.0, np.sign(diff) * np.inf))


def auc(scores, labels) -> float:
    """Area under the ROC curve of `scores` for 0/1 `labels`: the Mann-Whitney statistic
    (sum of the positives' ranks - n1 (n1 + 1) / 2) / (n1 n0), tied scores averaged."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if not n1 or not n0:
        raise ValueError("auc: labels need both classes")
    _, which, counts = np.unique(scores, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)                       # 1-based rank of each value's last copy
    ranks = (last - (counts - 1) / 2)[which]       # tied scores share their mean rank
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


class Mismatch(NamedTuple):
    """auc: held-out AUC of a logistic classifier telling a from b (0.5 when it cannot);
    differences: per-feature standardized mean differences; mismatch when auc >= threshold."""

    mismatch: bool
    auc: float
    differences: np.ndarray
    worst_feature: int
    message: str


@functools.partial(jax.jit, static_argnames="steps")
def _logistic_fit(x, t, weights, lr, l2, *, steps: int):
    """theta = (w, b) after `steps` gradient steps on sum_n weights_n log-loss_n + l2/2 |w|^2."""
    def objective(theta):
        logits = x @ theta[:-1] + theta[-1]
        return (jnp.sum(weights * (jnp.logaddexp(0.0, logits) - t * logits))
                + l2 / 2 * jnp.sum(theta[:-1] ** 2))

    grad = jax.grad(objective)
    return jax.lax.fori_loop(0, steps, lambda _, theta: theta - lr * grad(theta),
                             jnp.zeros(x.shape[1] + 1, jnp.float32))


def _logistic_scores(x_fit, t_fit, x_eval, *, steps: int, lr: float, l2: float):
    """Logistic regression on standardized features, full-batch gradient descent on the
    class-balanced mean log-loss + l2/2 |w|^2; the logits of `x_eval`."""
    mean, std = x_fit.mean(0), x_fit.std(0)
    std = np.where(std > 0, std, 1.0)
    x_fit, x_eval = (jnp.asarray((v - mean) / std, jnp.float32) for v in (x_fit, x_eval))
    weights = np.where(t_fit, 0.5 / t_fit.sum(), 0.5 / (~t_fit).sum())
    theta = _logistic_fit(x_fit, jnp.asarray(t_fit, jnp.float32),
                          jnp.asarray(weights, jnp.float32), lr, l2, steps=steps)
    return np.asarray(x_eval @ theta[:-1] + theta[-1])


def distribution_mismatch(a, b, *, key, threshold: float = 0.6, steps: int = 200,
                          lr: float = 0.5, l2: float = 1e-2,
                          names: tuple[str, str] = ("dev", "test")) -> Mismatch:
    """Do `a` and `b` (e.g. the dev and test sets: Datasets, (x, y) pairs or arrays) come
    from one distribution? A logistic classifier is fit on a random half of each (key) to
    tell a (0) from b (1); its AUC on the other halves is ~0.5 for one distribution and
    towards 1 for shifted ones (mismatch when >= `threshold`). The per-feature
    standardized differences name the feature that moved most."""
    check_key("distribution_mismatch", key)
    check_range("distribution_mismatch", "threshold", threshold, low=0.5, high=1.0)
    steps = check_positive_int("distribution_mismatch", "steps", steps)
    check_range("distribution_mismatch", "lr", lr, low=0.0, low_open=True)
    check_range("distribution_mismatch", "l2", l2, low=0.0)
    xa, xb = (_flat_inputs("distribution_mismatch", n, d) for n, d in zip(names, (a, b)))
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"distribution_mismatch: {names[0]} has {xa.shape[1]} features per "
                         f"example, {names[1]} has {xb.shape[1]}")
    halves = []
    for index, x in enumerate((xa, xb)):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, index), len(x)))
        halves.append((x[order[:len(x) // 2]], x[order[len(x) // 2:]]))
    (fit_a, eval_a), (fit_b, eval_b) = halves

    def stacked(first, second):
        return (np.concatenate([first, second]),
                np.concatenate([np.zeros(len(first), bool), np.ones(len(second), bool)]))
    x_fit, t_fit = stacked(fit_a, fit_b)
    x_eval, t_eval = stacked(eval_a, eval_b)
    score = auc(_logistic_scores(x_fit, t_fit, x_eval, steps=steps, lr=lr, l2=l2), t_eval)
    differences = standardized_differences(xa, xb)
    worst = int(np.argmax(np.abs(differences)))
    found = score >= threshold
    verdict = (f"{names[0]} and {names[1]} differ" if found
               else f"{names[0]} and {names[1]} look alike")
    message = (f"{verdict}: a classifier tells them apart with held-out AUC {score:.3f} "
               f"(0.5 = chance, mismatch from {threshold:g}); the largest standardized "
               f"mean difference is {differences[worst]:.3g} at feature {worst}")
    if found:
        message += ". The course: dev and test must come from the same distribution"
    return Mismatch(bool(found), score, differences, worst, message)


class PixelRange(NamedTuple):
    """ranges: {split: (min, max)}; scales: {split: "[0, 1]", "[-1, 1]", "[0, 255]" or
    "other"}; ok when every split has the same known scale."""

    ok: bool
    ranges: dict
    scales: dict
    message: str


def _scale(low: float, high: float) -> str:
    if low >= 0 and high <= 1:
        return "[0, 1]"
    if low >= -1 and high <= 1:
        return "[-1, 1]"
    if low >= 0 and high <= 255:
        return "[0, 255]"
    return "other"


def pixel_range(data) -> PixelRange:
    """The value range of the inputs of each split and the pixel scale it fits: flags a
    split in 0..255 beside one in 0..1 (one forgot x / 255), or inputs in no pixel range."""
    ranges = {name: (float(x.min()), float(x.max()))
              for name, (x, _) in _splits("pixel_range", data).items()}
    scales = {name: _scale(*bounds) for name, bounds in ranges.items()}
    kinds = sorted(set(scales.values()))
    ok = len(kinds) == 1 and kinds != ["other"]
    if ok:
        message = f"every split is in {kinds[0]}"
    elif len(kinds) == 1:
        message = ("the inputs are in no pixel range (" + ", ".join(
            f"{n} {lo:.3g}..{hi:.3g}" for n, (lo, hi) in ranges.items()) +
            "): already standardized, or not images?")
    else:
        message = "the splits are scaled differently: " + ", ".join(
            f"{n} in {scales[n]} ({lo:.3g}..{hi:.3g})" for n, (lo, hi) in ranges.items()) + \
            "; scale them alike (e.g. x / 255 for bytes)"
    return PixelRange(ok, ranges, scales, message)
