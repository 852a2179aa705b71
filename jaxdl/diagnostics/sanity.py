"""The course's sanity checks, each a NamedTuple verdict (ok, the numbers, a message):

- `above_chance` / `beats_chance`: "does early training beat random guessing?" (1/C);
- `gradient_signs`: a weight gradient whose entries all have one sign ("all positive or
  all negative: the gradient descent is zig-zagging", e.g. from all-positive inputs);
- `centering` / `preactivation_centering`: pre-activations far off 0 ("ideal activations
  should be zero centered; add batch normalization if needed");
- `initial_loss_check` (from `verdicts`): a softmax classifier starts at ~ln C.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import train
from jaxdl._checks import check_positive_int, check_range
from jaxdl.diagnostics.monitors import NONLINEARITIES, _kind, layer_outputs
from jaxdl.diagnostics.naming import named_leaves
from jaxdl.diagnostics.verdicts import InitialLossCheck, initial_loss_check  # noqa: F401
from jaxdl.nn.layer import Layer

class ChanceCheck(NamedTuple):
    """ok when accuracy > threshold = 1/C + z sqrt(1/C (1 - 1/C) / n)."""

    ok: bool
    accuracy: float
    chance: float
    threshold: float
    message: str


def above_chance(accuracy: float, num_classes: int, num_examples: int, *,
                 z: float = 3.0) -> ChanceCheck:
    """Is `accuracy` on `num_examples` examples above guessing among `num_classes`? Chance
    is 1/C; a guesser's accuracy has std sqrt(p (1 - p) / n), so ok needs `z` of them more."""
    num_classes = check_positive_int("above_chance", "num_classes", num_classes, minimum=2)
    num_examples = check_positive_int("above_chance", "num_examples", num_examples)
    check_range("above_chance", "accuracy", accuracy, low=0.0, high=1.0)
    check_range("above_chance", "z", z, low=0.0)
    chance = 1.0 / num_classes
    threshold = chance + z * math.sqrt(chance * (1 - chance) / num_examples)
    ok = bool(accuracy > threshold)
    message = (f"accuracy {accuracy:.4f} on {num_examples} examples is "
               f"{'above' if ok else 'not above'} chance 1/{num_classes} = {chance:.4f} "
               f"(needs > {threshold:.4f})")
    if not ok:
        message += ": check the labels, the loss and the learning rate before anything else"
    return ChanceCheck(ok, float(accuracy), chance, threshold, message)


def beats_chance(model: Layer, opt, loss: Callable, data, *, key, epochs: int = 1,
                 batch_size: int = 32, z: float = 3.0, **fit_options) -> ChanceCheck:
    """Train `epochs` epoch(s) with `train.fit` and judge the dev accuracy (the train
    accuracy without a dev split) with `above_chance`; C from the model's outputs."""
    parts = train.split_data(data)
    split = "dev" if "dev" in parts else "train"
    x, _ = parts[split]
    outputs = train.output_shape(model, x.shape[1:])[-1]
    result = train.fit(model, opt, loss, data, key=key, epochs=epochs, batch_size=batch_size,
                       **{"verbose": False, **fit_options})
    return above_chance(result.final[split]["accuracy"], max(outputs, 2), int(x.shape[0]),
                        z=z)


class SignCheck(NamedTuple):
    """positive_fraction: {layer: share of its nonzero gradient entries > 0};
    same_sign_units: {layer: share of output units whose incoming gradients share a sign};
    flagged: layers with every nonzero entry of one sign; ok when none."""

    ok: bool
    positive_fraction: dict
    same_sign_units: dict
    flagged: tuple
    message: str


def gradient_signs(grads, model: Layer | None = None, *, min_entries: int = 2) -> SignCheck:
    """The sign pattern of every weight gradient (`w` leaves; names as `named_leaves`).
    A layer with at least `min_entries` nonzero entries, all of one sign, is flagged:
    every weight moves the same way at once, so descent zig-zags (the course's warning;
    with inputs x >= 0 each unit's dW[:, j] = x delta_j has one sign per example)."""
    min_entries = check_positive_int("gradient_signs", "min_entries", min_entries)
    positive, units, flagged = {}, {}, []
    for name, g in named_leaves(grads, model, weights_only=True).items():
        g = np.asarray(g, np.float64)
        nonzero = g[g != 0]
        positive[name] = float(np.mean(nonzero > 0)) if nonzero.size else float("nan")
        columns = g.reshape(-1, g.shape[-1]) if g.ndim else g.reshape(1, 1)
        one_sign = np.all(columns >= 0, axis=0) | np.all(columns <= 0, axis=0)
        units[name] = float(np.mean(one_sign))
        if nonzero.size >= min_entries and positive[name] in (0.0, 1.0):
            flagged.append(name)
    message = ("every weight gradient has entries of both signs" if not flagged else
               f"all gradient entries of {', '.join(flagged)} have one sign: the weights "
               "all move together and descent zig-zags; zero-centre the inputs of that "
               "layer (preprocessing, a zero-centred activation such as tanh, batch norm)")
    return SignCheck(not flagged, positive, units, tuple(flagged), message)


class CenteringCheck(NamedTuple):
    """offsets: {layer: median over units of |mean_j| / std_j of its pre-activation};
    flagged: layers whose offset exceeds the threshold; ok when none."""

    ok: bool
    offsets: dict
    flagged: tuple
    threshold: float
    message: str


def _offset(z) -> float:
    """Median over the units (last axis) of |mean| / std over everything else."""
    z = np.asarray(z, np.float64)
    z = z.reshape(-1, z.shape[-1])
    mean, std = np.abs(z.mean(0)), z.std(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(std > 0, mean / std, np.where(mean == 0, 0.0, np.inf))
    return float(np.median(ratio))


def centering(preactivations: dict, *, threshold: float = 0.5) -> CenteringCheck:
    """Judge {layer: pre-activations (batch, ..., units)}: a layer whose units sit on
    average (median) more than `threshold` of their std away from 0 is off-centre."""
    check_range("centering", "threshold", threshold, low=0.0, low_open=True)
    offsets = {name: _offset(z) for name, z in preactivations.items()}
    flagged = tuple(name for name, value in offsets.items() if value > threshold)
    message = (f"every pre-activation is centred (|mean| / std <= {threshold:g})" if not flagged
               else "off-centre pre-activations (|mean| / std): " + ", ".join(
                   f"{name} {offsets[name]:.3g}" for name in flagged) +
               f" > {threshold:g}: zero-centre the inputs, or add batch normalization before "
               "the activation")
    return CenteringCheck(not flagged, offsets, flagged, float(threshold), message)


def preactivation_centering(model: Layer, params, state, x, *, threshold: float = 0.5
                            ) -> CenteringCheck:
    """`centering` of the input of every nonlinearity child of a serial `model` on `x`
    (eval mode), named like "2:relu"."""
    if model.name != "serial":
        raise ValueError(f"preactivation_centering: model must be a serial model, got "
                         f"{model.name}")
    @jax.jit
    def preactivations(params, state, x):
        inputs = (x,) + layer_outputs(model, params, state, x)[:-1]
        return {f"{position}:{layer.name}": z
                for position, (layer, z) in enumerate(zip(model.children, inputs))
                if _kind(layer) in NONLINEARITIES}
    return centering(jax.device_get(preactivations(params, state, jnp.asarray(x))),
                     threshold=threshold)
