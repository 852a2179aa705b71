"""Monitors: per-layer gradient norms, update/weight ratios, activation statistics, dead and
saturated units, histograms; pure functions (jit- and vmap-able) and a `fit` callback.

"Layer" means a weight leaf (`w`) for gradients and updates, named like "1:dense(128)/w",
and the output of a nonlinearity child (sigmoid, tanh, relu, leaky_relu, maxout) of a
serial model for activations, named like "2:relu".
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import nn, train
from jaxdl._checks import check_positive_int
from jaxdl.diagnostics.naming import in_layer_order, named_leaves
from jaxdl.nn.combinators import serial_outputs
from jaxdl.nn.layer import Layer

NONLINEARITIES = ("sigmoid", "tanh", "relu", "leaky_relu", "maxout")
SATURATING = ("sigmoid", "tanh")
SATURATION = 5.0  # |pre-activation| above which sigmoid/tanh count as saturated
HEALTHY_RATIO = 1e-3  # the course's healthy update-to-weight ratio ||dw|| / ||w||


def _kind(layer: Layer) -> str:
    """"relu" for relu, "leaky_relu" for leaky_relu(0.01), "dense" for dense(128) ..."""
    return layer.name.split("(")[0]


# ----------------------------------------------------------------------- pure functions


def layer_outputs(model: Layer, params, state, x, *, key=None, train: bool = False) -> tuple:
    """The output of every child of a serial `model` on `x` (the last one is the model's).

    Children get the sub-keys `serial` gives them, so with the same key the outputs are
    those of `model.apply`. Any other layer is one block: a 1-tuple of its output.
    """
    if model.name != "serial":
        return (model.apply(params, state, x, key=key, train=train)[0],)
    return serial_outputs(model.children, params, state, x, key=key, train=train)[0]


def gradient_norms(grads, model: Layer | None = None) -> dict:
    """{layer: ||dJ/dW||_2} over the weight leaves."""
    return {name: jnp.linalg.norm(jnp.ravel(g))
            for name, g in named_leaves(grads, model, weights_only=True).items()}


def update_ratios(params, updates, model: Layer | None = None) -> dict:
    """{layer: ||dW|| / ||W||} over the weight leaves; healthy near 1e-3."""
    weights = named_leaves(params, model, weights_only=True)
    steps = named_leaves(updates, model, weights_only=True)
    return {name: jnp.linalg.norm(jnp.ravel(steps[name])) /
            jnp.maximum(jnp.linalg.norm(jnp.ravel(w)), jnp.finfo(w.dtype).tiny)
            for name, w in weights.items()}


def histogram(values, bins: int = 30, value_range=None):
    """(counts, edges) of `values` over `bins` equal bins spanning `value_range` (values
    outside are not counted), by default from their min to their max."""
    values = jnp.ravel(values)
    if value_range is None:
        low, high = jnp.min(values), jnp.max(values)
        value_range = (low, jnp.where(high > low, high, low + 1.0))
    return jnp.histogram(values, bins=bins, range=value_range)


def activation_stats(model: Layer, x, outputs) -> dict:
    """Per nonlinearity child of a serial model, from its input and `outputs`:

    activation_mean / activation_std: mean and std of its output over batch and units;
    dead_relu_fraction (relu): units (the last axis: features, or the channels of a feature
    map) that output 0 for every example of the batch (and every position);
    saturated_fraction (sigmoid, tanh): entries of the pre-activation with |z| > 5.
    """
    stats = {"activation_mean": {}, "activation_std": {}, "dead_relu_fraction": {},
             "saturated_fraction": {}}
    inputs = (x,) + tuple(outputs[:-1])
    for position, (layer, z, a) in enumerate(zip(model.children, inputs, outputs)):
        kind, name = _kind(layer), f"{position}:{layer.name}"
        if kind not in NONLINEARITIES:
            continue
        stats["activation_mean"][name] = jnp.mean(a)
        stats["activation_std"][name] = jnp.std(a)
        if kind == "relu":
            per_unit = jnp.reshape(a, (-1, a.shape[-1]))  # a conv channel is one unit
            stats["dead_relu_fraction"][name] = jnp.mean(jnp.all(per_unit == 0, axis=0))
        if kind in SATURATING:
            stats["saturated_fraction"][name] = jnp.mean(jnp.abs(z) > SATURATION)
    return stats


def activation_outputs(model: Layer, outputs) -> dict:
    """{name: output} of the nonlinearity children (the layers `activation_stats` covers)."""
    return {f"{position}:{layer.name}": a
            for position, (layer, a) in enumerate(zip(model.children, outputs))
            if _kind(layer) in NONLINEARITIES}


def make_probe(model: Layer, loss: Callable, opt: optax.GradientTransformation | None = None,
               regularizer: Callable | None = None, *, bins: int = 30) -> Callable:
    """`probe(state: TrainState, x, y) -> dict`: every monitor on one probe batch, pure.

    It sees what the next training step would: the training objective (train mode, the
    step's dropout key) and, given `opt`, the update the optimizer would make. Keys:
    grad_norm, update_ratio (with `opt`), the `activation_stats` keys, and histograms
    {"weights", "grads", "activations": {name: (counts, edges)}}. vmap it over the
    member axis of an ensemble's stacked TrainState.
    """
    bins = check_positive_int("make_probe", "bins", bins)
    objective = train.make_objective(model, loss, regularizer)

    def probe(state: train.TrainState, x, y) -> dict:
        key = train.step_key(state)
        mask = jnp.ones(jnp.shape(y)[0], bool)
        grads, _ = jax.grad(objective, has_aux=True)(state.params, state.model_state, x, y,
                                                     mask, key)
        outputs = layer_outputs(model, state.params, state.model_state, x,
                                key=jax.random.fold_in(key, train.DROPOUT), train=True)
        record = {"grad_norm": gradient_norms(grads, model),
                  **activation_stats(model, x, outputs)}
        if opt is not None:
            updates, _ = opt.update(grads, state.opt_state, state.params)
            record["update_ratio"] = update_ratios(state.params, updates, model)
        hist = lambda tree: {k: histogram(v, bins) for k, v in tree.items()}  # noqa: E731
        record["histograms"] = {
            "weights": hist(named_leaves(state.params, model, weights_only=True)),
            "grads": hist(named_leaves(grads, model, weights_only=True)),
            "activations": hist(activation_outputs(model, outputs))}
        return record

    return probe


# --------------------------------------------------------------------------- the host


def to_python(tree):
    """Arrays as Python floats (scalars) or nested lists, dicts in layer order: JSON-ready."""
    return in_layer_order(jax.tree.map(lambda leaf: np.asarray(leaf).tolist(),
                                       jax.device_get(tree)))


class TrainingMonitor:
    """A `train.fit` callback recording the monitors once per epoch on a fixed probe batch.

        monitor = TrainingMonitor(model, loss, x[:256], y[:256], opt=opt)
        result = train.fit(model, opt, loss, data, ..., callbacks=[monitor])
        result.history["grad_norm"][-1]   # {"1:dense(128)/w": 0.41, ...} per epoch
        monitor.histograms[epoch]          # weight/grad/activation histograms
        monitor.advice()                   # what the latest record suggests

    The history gets the scalar monitors (dicts of floats, one per epoch); histograms stay
    on the monitor. `monitor(0, init_state, None)` records the untrained network.
    """

    def __init__(self, model: Layer, loss: Callable, x, y, *, opt=None, regularizer=None,
                 bins: int = 30):
        self.probe = jax.jit(make_probe(model, loss, opt, regularizer, bins=bins))
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)
        self.histograms: dict[int, dict] = {}
        self.latest: dict | None = None

    def __call__(self, epoch: int, state, metrics) -> dict:
        record = to_python(self.probe(state, self.x, self.y))
        self.histograms[epoch] = record.pop("histograms")
        self.latest = record
        return record

    def advice(self) -> list[str]:
        return monitor_advice(self.latest) if self.latest is not None else []


def update_ratio_advice(ratios: dict, *, healthy: float = HEALTHY_RATIO,
                        band: float = 10.0) -> list[str]:
    """One line per layer whose ||dW||/||W|| is outside [healthy / band, healthy * band]."""
    lines = []
    for name, ratio in ratios.items():
        if not np.isfinite(ratio) or ratio > healthy * band:
            lines.append(f"{name}: update/weight ratio {ratio:.1e} is far above the healthy "
                         f"~{healthy:.0e}: the learning rate is likely too high, lower it")
        elif ratio < healthy / band:
            lines.append(f"{name}: update/weight ratio {ratio:.1e} is far below the healthy "
                         f"~{healthy:.0e}: the learning rate may be too low, raise it")
    return lines


def monitor_advice(record: dict, *, spread: float = 1e3, dead: float = 0.5,
                   saturated: float = 0.5) -> list[str]:
    """Warnings from one monitor record: update ratios out of band, gradient norms that
    differ by more than `spread` across layers (vanishing/exploding), layers with more
    than `dead` dead ReLUs or `saturated` saturated sigmoid/tanh pre-activations."""
    lines = update_ratio_advice(record.get("update_ratio", {}))
    norms = record.get("grad_norm", {})
    if norms:
        low, high = min(norms, key=norms.get), max(norms, key=norms.get)
        if norms[low] == 0 or norms[high] / norms[low] > spread:
            lines.append(f"gradient norms range from {norms[low]:.1e} ({low}) to "
                         f"{norms[high]:.1e} ({high}): vanishing/exploding gradients; try "
                         "He/Xavier init, batch norm or residual connections")
    for name, fraction in record.get("dead_relu_fraction", {}).items():
        if fraction > dead:
            lines.append(f"{name}: {fraction:.0%} of the ReLUs are dead (0 on the whole "
                         "batch): lower the learning rate, use He init or leaky ReLU")
    for name, fraction in record.get("saturated_fraction", {}).items():
        if fraction > saturated:
            lines.append(f"{name}: {fraction:.0%} of the pre-activations are saturated "
                         f"(|z| > {SATURATION:g}): use smaller (Xavier) init or batch norm")
    return lines


# ------------------------------------------------------------ the course's experiment


class ActivationStatistics(NamedTuple):
    """Per nonlinearity layer of `activation_statistics`: names, mean, std, dead-ReLU and
    saturated fractions (NaN where not applicable), histograms {name: (counts, edges)}."""

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    dead: np.ndarray
    saturated: np.ndarray
    histograms: dict

    def rows(self) -> list[dict]:
        """One dict per layer (for tables)."""
        return [{"layer": i + 1, "name": name, "mean": float(self.mean[i]),
                 "std": float(self.std[i]), "dead": float(self.dead[i]),
                 "saturated": float(self.saturated[i])} for i, name in enumerate(self.names)]


def deep_network(w_init, activation="tanh", *, depth: int = 10, width: int = 500) -> Layer:
    """`depth` x [dense(width, w_init, zero bias) -> activation] (a name or a Layer)."""
    depth = check_positive_int("deep_network", "depth", depth)
    act = nn.activation(activation) if isinstance(activation, str) else activation
    return nn.serial(*[layer for _ in range(depth)
                       for layer in (nn.dense(width, w_init=w_init), act)])


def activation_statistics(w_init=None, activation="tanh", *, key, depth: int = 10,
                          width: int = 500, x=None, batch: int = 1000, model: Layer | None = None,
                          bins: int = 30, value_range=None) -> ActivationStatistics:
    """Forward unit-Gaussian input through a deep network and measure every activation layer.

    The course experiment: `deep_network(w_init, activation, depth, width)` (default 10 x
    500 tanh units) on x ~ N(0, 1) of shape (batch, width). With 0.01*randn weights the std
    collapses to ~0 by layer 10; 1.0*randn saturates (std ~0.98); Xavier decays slowly from
    ~0.63; He with ReLU stays ~0.8. Or give your own `model` and `x`. Params come from
    fold_in(key, 0), x from fold_in(key, 1). Histograms: `bins` over `value_range` (default
    each layer's min to max).
    """
    if model is None:
        if w_init is None:
            raise ValueError("activation_statistics: give w_init (with activation) or model")
        model = deep_network(w_init, activation, depth=depth, width=width)
    if x is None:
        x = jax.random.normal(jax.random.fold_in(key, 1),
                              (check_positive_int("activation_statistics", "batch", batch),
                               width))

    params, state, _ = model.init(jax.random.fold_in(key, 0), tuple(jnp.shape(x)[1:]))

    @jax.jit  # init stays eager: its random draws compile once per shape, for every w_init
    def measure(params, state, x):
        outputs = layer_outputs(model, params, state, x)
        activations = activation_outputs(model, outputs)
        return (activation_stats(model, x, outputs),
                {name: histogram(a, bins, value_range) for name, a in activations.items()})

    stats, histograms = in_layer_order(jax.device_get(measure(params, state, jnp.asarray(x))))
    names = tuple(stats["activation_mean"])
    column = lambda k: np.array([stats[k].get(n, np.nan) for n in names])  # noqa: E731
    return ActivationStatistics(names, column("activation_mean"), column("activation_std"),
                                column("dead_relu_fraction"), column("saturated_fraction"),
                                histograms)
