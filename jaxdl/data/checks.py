"""Validation of training data at the door: one numpy pass per split and call, before any
step runs, so bad data fails with a message that names the split, the problem, how many
entries and the first offending index and value, instead of training silently.

Inputs must be finite. Labels are checked by what the loss takes (`losses.target_kind`):
integer class indices in [0, C) for C model outputs or one-hot rows ("classes"), 0/1
targets ("binary"), finite real targets ("values"); a loss jaxdl does not know has only
its finite-ness checked.
"""

from __future__ import annotations

import numpy as np

from jaxdl import losses


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
