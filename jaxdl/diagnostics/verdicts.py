"""Verdicts and sanity checks: bias/variance, overfit a tiny subset, the initial loss, and
reading a loss curve."""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from jaxdl import train
from jaxdl._checks import check_positive_int, check_range

BIAS_ADVICE = ("train a bigger network (more units or layers)", "train longer",
               "try a better optimizer or another architecture")
VARIANCE_ADVICE = ("get more training data (or augment it)",
                   "add regularization (L2, dropout, early stopping)",
                   "try another architecture")


class BiasVariance(NamedTuple):
    """verdict: "high bias", "high variance", "high bias and high variance" or "good";
    avoidable_bias = train_error - base_error; variance = dev_error - train_error."""

    verdict: str
    avoidable_bias: float
    variance: float
    advice: tuple[str, ...]

    def __str__(self) -> str:
        lines = [f"{self.verdict} (avoidable bias {self.avoidable_bias:.2%}, variance "
                 f"{self.variance:.2%})"]
        return "\n".join(lines + [f"  - {step}" for step in self.advice])


def bias_variance(train_error: float, dev_error: float, base_error: float = 0.0, *,
                  tolerance: float = 0.02) -> BiasVariance:
    """The course's diagnosis from error rates in [0, 1]: high bias when the avoidable bias
    train_error - base_error exceeds `tolerance`, high variance when dev_error - train_error
    does; the advice lists the next steps (bias first: fix it before the variance)."""
    for name, value in (("train_error", train_error), ("dev_error", dev_error),
                        ("base_error", base_error), ("tolerance", tolerance)):
        check_range("bias_variance", name, value, low=0.0, high=1.0)
    bias, variance = train_error - base_error, dev_error - train_error
    high_bias, high_variance = bias > tolerance, variance > tolerance
    verdict = {(True, True): "high bias and high variance", (True, False): "high bias",
               (False, True): "high variance", (False, False): "good"}[high_bias, high_variance]
    advice = (BIAS_ADVICE if high_bias else ()) + (VARIANCE_ADVICE if high_variance else ())
    return BiasVariance(verdict, float(bias), float(variance), advice)


class InitialLossCheck(NamedTuple):
    """ok when |loss - ln C| <= tolerance * ln C."""

    ok: bool
    loss: float
    expected: float
    message: str


def initial_loss_check(initial_loss: float, num_classes: int, *,
                       tolerance: float = 0.25) -> InitialLossCheck:
    """A softmax classifier with small random weights predicts ~1/C for every class, so its
    initial cross-entropy is ~ -ln(1/C) = ln C (2.303 for 10 classes). E.g.
    `initial_loss_check(fit(...).initial_loss, C)` or of `train.evaluate(...)["loss"]`."""
    num_classes = check_positive_int("initial_loss_check", "num_classes", num_classes,
                                     minimum=2)
    check_range("initial_loss_check", "tolerance", tolerance, low=0.0, low_open=True)
    expected = math.log(num_classes)
    ok = bool(abs(initial_loss - expected) <= tolerance * expected)
    if ok:
        message = f"initial loss {initial_loss:.4g} is close to ln({num_classes}) = {expected:.4g}"
    elif initial_loss > expected:
        message = (f"initial loss {initial_loss:.4g} is well above ln({num_classes}) = "
                   f"{expected:.4g}: the initial logits are too large (smaller init scale?) "
                   "or the loss/labels are wrong")
    else:
        message = (f"initial loss {initial_loss:.4g} is well below ln({num_classes}) = "
                   f"{expected:.4g}: is the model seeing the labels, or the loss not a mean?")
    return InitialLossCheck(ok, float(initial_loss), expected, message)


class OverfitCheck(NamedTuple):
    """passed when the final train accuracy is 1.0 and the final loss below the threshold;
    losses/accuracies are the per-epoch training curve."""

    passed: bool
    final_loss: float
    final_accuracy: float
    losses: tuple[float, ...]
    accuracies: tuple[float, ...]
    message: str


def overfit_small_subset(model, opt, loss: Callable, data, n: int = 20, *, key,
                         epochs: int = 200, max_loss: float = 0.05,
                         **fit_options) -> OverfitCheck:
    """Train on the first `n` training examples, full batch, regularization off.

    A network that is able to learn must memorize them: the loss drops towards zero and
    the accuracy reaches 1.0. Failing points at a bug (loss, labels, learning rate, a
    broken layer). Passes when the eval-mode train accuracy is 1.0 and the loss < max_loss.
    """
    n = check_positive_int("overfit_small_subset", "n", n)
    if "regularizer" in fit_options:
        raise ValueError("overfit_small_subset: regularization is off by design (the network "
                         "must be free to memorize); drop regularizer=")
    x, y = train.split_data(data)["train"]
    if n > x.shape[0]:
        raise ValueError(f"overfit_small_subset: n ({n}) is larger than the training set "
                         f"({x.shape[0]} examples)")
    result = train.fit(model, opt, loss, (x[:n], y[:n]), key=key, epochs=epochs,
                       batch_size=n, regularizer=None, **{"verbose": False, **fit_options})
    final = result.final["train"]
    passed = final["accuracy"] == 1.0 and final["loss"] < max_loss
    if passed:
        message = (f"passed: {n} examples memorized in {len(result.history['epoch'])} "
                   f"epochs (loss {final['loss']:.3g}, accuracy 1.0)")
    else:
        message = (f"failed: after {len(result.history.get('epoch', []))} epochs on {n} "
                   f"examples the loss is {final['loss']:.3g} (needs < {max_loss:g}) and the "
                   f"accuracy {final['accuracy']:.3f} (needs 1.0)"
                   f"{'; ' + result.message if result.message else ''}. Check the loss and "
                   "labels, raise the learning rate or train longer, then check gradients")
    return OverfitCheck(bool(passed), final["loss"], final["accuracy"],
                        tuple(result.history.get("train_loss", ())),
                        tuple(result.history.get("train_accuracy", ())), message)


def _finite(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def diagnose_history(history: dict, *, initial_loss: float | None = None,
                     stopped: str | None = None, jump: float = 0.1, flat: float = 0.05,
                     gap: float = 0.1, early: int = 3) -> dict:
    """Read the loss curves of a `fit` history; returns {flag: explanation}, empty if fine.

    The train-loss curve starts at `initial_loss` (e.g. `FitResult.initial_loss`), else at
    the first epoch; rises are measured in units of that start value L0.
    lr_too_high: `fit` stopped on a NaN or exploding loss (`stopped`), or the loss is not
    finite, rises by more than 1% of L0 within the first `early` epochs, jumps up by more
    than `jump` * L0 anywhere, or ends above L0.
    lr_too_low: it falls by less than `flat` * L0 in all while the train accuracy stays
    below 0.99. overfitting (not judged when the lr is too high: the curves are then
    unreliable): train accuracy exceeds dev accuracy by more than `gap` at the end, or the
    dev loss ends more than `jump` (relative) above its minimum while the train loss kept
    falling.
    """
    check_range("diagnose_history", "jump", jump, low=0.0, low_open=True)
    check_range("diagnose_history", "flat", flat, low=0.0, low_open=True)
    check_range("diagnose_history", "gap", gap, low=0.0, low_open=True)
    early = check_positive_int("diagnose_history", "early", early)
    train_loss = _finite(history.get("train_loss", []))
    if stopped in ("nan", "exploding"):
        what = "an exploding" if stopped == "exploding" else "a NaN"
        return {"lr_too_high": f"training stopped on {what} loss: the learning rate is likely "
                               "too high, lower it (or clip gradients)"}
    if train_loss.size == 0:
        raise ValueError("diagnose_history: the history has no train_loss")
    start = train_loss[0] if initial_loss is None else float(initial_loss)
    curve = np.concatenate([[start], train_loss])  # curve[t]: after epoch t (t=0: start)
    train_acc = _finite(history.get("train_accuracy", [np.nan]))
    too_high = _rising(curve, early, jump)
    if too_high:
        return {"lr_too_high": too_high}
    flags = {}
    drop = (curve[0] - curve[-1]) / (abs(curve[0]) or 1.0)
    if drop < flat and not train_acc[-1] >= 0.99:
        flags["lr_too_low"] = (f"the train loss barely changes ({curve[0]:.4g} -> "
                               f"{curve[-1]:.4g}, {drop:.1%}): the learning rate is likely "
                               "too low, raise it (or train longer)")
    overfitting = _overfitting(history, train_loss, train_acc, gap, jump)
    if overfitting:
        flags["overfitting"] = overfitting
    return flags


def _rising(curve, early: int, jump: float) -> str | None:
    """Why the loss curve says the learning rate is too high, or None."""
    if not np.all(np.isfinite(curve)):
        return "the train loss became NaN/inf: lower the learning rate"
    rises = np.diff(curve) / (abs(curve[0]) or 1.0)
    if np.max(rises[:early]) > 0.01 or np.max(rises) > jump or curve[-1] > curve[0]:
        t = int(np.argmax(rises))
        return (f"the train loss goes up ({curve[t]:.4g} -> {curve[t + 1]:.4g} in epoch "
                f"{t + 1}): the learning rate is likely too high, lower it")
    return None


def _overfitting(history, train_loss, train_acc, gap: float, jump: float) -> str | None:
    """Why the dev curves say the model overfits, or None."""
    dev_acc = _finite(history.get("dev_accuracy", []))
    if dev_acc.size and np.isfinite(dev_acc[-1]) and train_acc[-1] - dev_acc[-1] > gap:
        return (f"train accuracy {train_acc[-1]:.3f} is far above dev accuracy "
                f"{dev_acc[-1]:.3f}: overfitting; add regularization or data")
    dev_loss = _finite(history.get("dev_loss", []))
    if dev_loss.size > 1 and np.all(np.isfinite(dev_loss)):
        best = int(np.argmin(dev_loss))
        if dev_loss[-1] > (1 + jump) * dev_loss[best] and train_loss[-1] < train_loss[best]:
            return (f"the dev loss rose from {dev_loss[best]:.4g} (epoch {best + 1}) to "
                    f"{dev_loss[-1]:.4g} while the train loss kept falling: overfitting; use "
                    "early stopping or regularization")
    return None
