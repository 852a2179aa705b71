"""Gradient checking: autodiff against centered finite differences, in float64.

    g_approx_i = (J(theta + eps e_i) - J(theta - eps e_i)) / 2 eps
    relative error = ||g_approx - g|| / (||g_approx|| + ||g||)

Verdict bands of a relative error r. The course (notes, eps = 1e-7) gives three: < 1e-7
great, around 1e-5 can be OK but inspect, >= 1e-3 probably a bug. jaxdl keeps them and
splits the course's middle range at 1e-5, adding the band "suspicious":
r < 1e-7 "correct" (the course's "great"); 1e-7 <= r < 1e-5 "inspect" (the course's
"around 1e-5": probably right; look at the per-leaf errors, a loss with kinks such as ReLU
or max can land here); 1e-5 <= r < 1e-3 "suspicious" (jaxdl's addition: likely a bug unless
a kink is crossed within eps or the loss is badly scaled: re-check at another point);
r >= 1e-3 "bug" (the course's "bad").

The verdict is the band of `max_relative_error`, the larger of the overall error and the
worst per-leaf error, so a bug in a leaf with small gradients is not averaged away. A
leaf's error counts only when its disagreement ||g_approx - g|| exceeds the
finite-difference noise of its k checked coordinates, noise_floor = 10 * u * |J| / eps *
sqrt(k) (u the float64 unit roundoff; measured noise is about 0.5 u |J| / eps per
coordinate). Below it the leaf agrees as well as differences can tell: e.g. a dense bias
followed by batch norm has a true gradient of 0, its finite differences are pure noise and
its relative error is about 1, shown as "(within noise)".
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxdl import losses
from jaxdl._checks import check_positive_int, check_range
from jaxdl.diagnostics.naming import leaf_name
from jaxdl.nn.layer import Layer, ShapeError
from jaxdl.train import make_objective

# upper bounds: "correct", "inspect" and "bug" are the course's bands, "suspicious" jaxdl's
BANDS = ((1e-7, "correct"), (1e-5, "inspect"), (1e-3, "suspicious"))
MEANING = {
    "correct": "the gradient is right (the course: < 1e-7, great)",
    "inspect": "probably right; look at the per-leaf errors (kinks such as ReLU or max can "
               "land here; the course: around 1e-5, inspect)",
    "suspicious": "likely a bug unless the loss has a kink within eps of this point; "
                  "re-check at another point (a band jaxdl adds between the course's "
                  "inspect and bug)",
    "bug": "the backward pass disagrees with the loss: look at the worst leaf (the course: "
           ">= 1e-3, bad)",
}
ROUNDOFF = np.finfo(np.float64).eps / 2  # u, the unit roundoff of float64
NOISE_FACTOR = 10.0  # noise floor per coordinate = NOISE_FACTOR * u * |J| / eps


def verdict(relative_error: float) -> str:
    """The band of a relative error: correct / inspect / suspicious / bug (see module doc)."""
    for bound, name in BANDS:
        if relative_error < bound:
            return name
    return "bug"


def relative_error(approx, exact) -> float:
    """||approx - exact|| / (||approx|| + ||exact||); 0 when both are zero."""
    approx, exact = np.asarray(approx, np.float64), np.asarray(exact, np.float64)
    denominator = np.linalg.norm(approx) + np.linalg.norm(exact)
    return float(np.linalg.norm(approx - exact) / denominator) if denominator > 0 else 0.0


class LeafCheck(NamedTuple):
    """One parameter leaf: its checked coordinates, gradient norms and relative error.

    `relative_error` is None when no coordinate of the leaf was sampled; it sets the
    verdict only when `above_noise` (||g_approx - g|| > `noise_floor`, see module doc).
    """

    name: str
    size: int
    checked: int
    numeric_norm: float
    analytic_norm: float
    difference_norm: float
    noise_floor: float
    relative_error: float | None

    @property
    def above_noise(self) -> bool:
        return self.relative_error is not None and self.difference_norm > self.noise_floor


class Entry(NamedTuple):
    """One checked coordinate: its leaf, index inside the leaf, both gradient values."""

    name: str
    index: tuple[int, ...]
    analytic: float
    numeric: float

    @property
    def difference(self) -> float:
        return abs(self.numeric - self.analytic)


class GradientCheck(NamedTuple):
    """The report of `check_gradients`; `str(report)` prints it."""

    relative_error: float  # overall, over the checked coordinates
    max_relative_error: float  # max(overall, worst leaf above its noise floor): the verdict
    verdict: str
    leaves: tuple[LeafCheck, ...]
    worst: tuple[Entry, ...]  # largest |numeric - analytic| first
    loss: float
    checked: int
    total: int
    eps: float
    dtype: str

    @property
    def worst_leaf(self) -> LeafCheck | None:
        """The leaf with the largest relative error among those above the noise floor."""
        counted = [leaf for leaf in self.leaves if leaf.above_noise]
        return max(counted, key=lambda leaf: leaf.relative_error) if counted else None

    def __str__(self) -> str:
        scope = "all" if self.checked == self.total else "a random subset"
        lines = [f"gradient check: {self.checked} of {self.total} parameters ({scope}), "
                 f"{self.dtype}, eps {self.eps:g}, loss {self.loss:.6g}",
                 f"overall relative error {self.relative_error:.3e}",
                 f"{'leaf':<26} {'size':>6} {'checked':>7} {'|g_approx|':>11} "
                 f"{'|g|':>11} {'rel. error':>11}"]
        noisy = [leaf.relative_error is not None and not leaf.above_noise
                 and verdict(leaf.relative_error) != "correct" for leaf in self.leaves]
        for leaf, hidden in zip(self.leaves, noisy):
            if leaf.relative_error is None:
                error = "  (not sampled)"
            else:
                error = f"{leaf.relative_error:11.3e}" + (" (within noise)" if hidden else "")
            lines.append(f"{leaf.name:<26} {leaf.size:>6} {leaf.checked:>7} "
                         f"{leaf.numeric_norm:11.4e} {leaf.analytic_norm:11.4e}{error}")
        if any(noisy):
            lines.append("(within noise): |g_approx - g| is below the finite-difference "
                         "noise floor, so this leaf does not set the verdict")
        lines.append("worst entries (largest |g_approx - g|):")
        for entry in self.worst:
            lines.append(f"  {entry.name}{list(entry.index)}: g {entry.analytic:+.10e}  "
                         f"g_approx {entry.numeric:+.10e}  diff {entry.difference:.2e}")
        worst = self.worst_leaf
        where = f"; worst leaf {worst.name}" if worst is not None else ""
        lines.append(f"verdict: {self.verdict} (max relative error "
                     f"{self.max_relative_error:.3e}{where}): {MEANING[self.verdict]}")
        return "\n".join(lines)


def _to_dtype(tree, dtype):
    """Floating leaves of `tree` cast to `dtype`; other leaves unchanged."""
    def cast(leaf):
        leaf = jnp.asarray(leaf)
        return leaf.astype(dtype) if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf
    return jax.tree.map(cast, tree)


def _coordinates(total: int, n: int | None, key) -> np.ndarray:
    """Indices into the flat parameter vector: all of them, or n drawn without replacement."""
    if n is None or n >= total:
        return np.arange(total)
    check_positive_int("check_gradients", "n", n)
    if key is None:
        raise ValueError(f"check_gradients: checking a random subset of n={n} of the {total} "
                         "parameters needs key= (the subset is drawn from it)")
    return np.sort(np.asarray(jax.random.choice(key, total, (n,), replace=False)))


def _centered_differences(objective, flat, unravel, indices, eps, batch_size):
    """(J(theta + eps e_i) - J(theta - eps e_i)) / (theta_i^+ - theta_i^-) for each index.

    Dividing by the representable step theta_i^+ - theta_i^- rather than 2 eps removes the
    rounding of theta_i + eps.
    """
    def one(i):
        plus, minus = flat.at[i].add(eps), flat.at[i].add(-eps)
        return (objective(unravel(plus)) - objective(unravel(minus))) / (plus[i] - minus[i])

    return jax.jit(lambda idx: jax.lax.map(one, idx, batch_size=batch_size))(indices)


def _leaf_table(params, model):
    """[(name, shape, offset)] of every leaf in flattening (= ravel) order."""
    table, offset = [], 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        table.append((leaf_name(path, model), tuple(np.shape(leaf)), offset))
        offset += int(np.size(leaf))
    return table


def _leaf_checks(table, indices, numeric, analytic, floor_per_coordinate):
    checks = []
    for name, shape, offset in table:
        size = math.prod(shape)
        inside = (indices >= offset) & (indices < offset + size)
        a, g, k = numeric[inside], analytic[inside], int(inside.sum())
        checks.append(LeafCheck(name, size, k, float(np.linalg.norm(a)),
                                float(np.linalg.norm(g)), float(np.linalg.norm(a - g)),
                                floor_per_coordinate * math.sqrt(k),
                                relative_error(a, g) if k else None))
    return tuple(checks)


def _worst_entries(table, indices, numeric, analytic, count):
    order = np.argsort(-np.abs(numeric - analytic), kind="stable")[:count]
    offsets = np.array([offset for _, _, offset in table])
    entries = []
    for k in order:
        leaf = int(np.searchsorted(offsets, indices[k], side="right") - 1)
        name, shape, offset = table[leaf]
        index = tuple(int(i) for i in np.unravel_index(indices[k] - offset, shape)) if shape else ()
        entries.append(Entry(name, index, float(analytic[k]), float(numeric[k])))
    return tuple(entries)


def check_gradients(loss_fn: Callable, params, *args, eps: float = 1e-7, n: int | None = None,
                    key=None, regularizer: Callable | None = None, dtype=jnp.float64,
                    worst: int = 5, model: Layer | None = None,
                    batch_size: int = 128) -> GradientCheck:
    """Compare jax.grad of J(params) = loss_fn(params, *args) (+ regularizer(params)) with
    centered differences over every parameter, or over `n` coordinates drawn with `key`.

    Runs with x64 enabled only inside this call (the caller's setting is restored); the
    floating leaves of `params` and `args` are cast to `dtype` (float64). `loss_fn` must be
    deterministic: give a model with dropout a fixed key (see `check_model_gradients`).
    `model` only names the leaves (e.g. "1:dense(128)/w"). Returns a GradientCheck.
    """
    check_range("check_gradients", "eps", eps, low=0.0, low_open=True)
    worst = check_positive_int("check_gradients", "worst", worst)
    with jax.enable_x64(True):
        params = _to_dtype(params, dtype)
        args = _to_dtype(args, dtype)

        def objective(p):
            value = loss_fn(p, *args)
            return value + regularizer(p) if regularizer is not None else value

        flat, unravel = ravel_pytree(params)
        indices = _coordinates(flat.size, n, key)
        value, grads = jax.jit(jax.value_and_grad(objective))(params)
        analytic = np.asarray(ravel_pytree(grads)[0])[indices]
        numeric = np.asarray(_centered_differences(objective, flat, unravel,
                                                   jnp.asarray(indices), eps, batch_size))
        value = float(value)
    table = _leaf_table(params, model)
    floor = NOISE_FACTOR * ROUNDOFF * max(abs(value), 1.0) / eps
    leaves = _leaf_checks(table, indices, numeric, analytic, floor)
    overall = relative_error(numeric, analytic)
    leaf_errors = [leaf.relative_error for leaf in leaves if leaf.above_noise]
    worst_error = max([overall, *leaf_errors])
    return GradientCheck(overall, worst_error, verdict(worst_error), leaves,
                         _worst_entries(table, indices, numeric, analytic, worst),
                         value, int(indices.size), int(flat.size), float(eps),
                         np.dtype(dtype).name)


def model_objective(model: Layer, model_state, *, loss=losses.softmax_cross_entropy,
                    key=None, train: bool = True) -> Callable:
    """`J(params, x, y)`: the mean `loss` of `model` on (x, y), as `train.fit` minimizes it.

    Training mode (`train=True`) uses batch statistics and, with `key`, the dropout mask
    of that fixed key; evaluation mode uses the running statistics and no dropout. The
    new model state is discarded.
    """
    if not train:
        return lambda params, x, y: loss(model.apply(params, model_state, x)[0], y)
    objective = make_objective(model, loss)
    return lambda params, x, y: objective(params, model_state, x, y,
                                          jnp.ones(jnp.shape(y)[0], bool), key)[0]


def _refuse_random(loss_fn, params, x, y) -> None:
    """ValueError when `loss_fn` cannot run without a key (a layer draws random numbers)."""
    try:
        jax.eval_shape(loss_fn, params, x, y)
    except ShapeError:
        raise
    except ValueError as error:
        raise ValueError(
            f"gradient check: the model cannot run in training mode without a key ({error}); "
            "it draws random numbers (dropout), and a random loss cannot be checked. Pass a "
            "fixed key= (every evaluation then uses the same mask) or train=False.") from None


def check_model_gradients(model: Layer, params, model_state, x, y, *,
                          loss=losses.softmax_cross_entropy, regularizer=None, key=None,
                          train: bool = True, subset_key=None, **options) -> GradientCheck:
    """`check_gradients` of the training objective of `model` on one batch (x, y).

    J(params) = mean loss(model(x), y) + regularizer(params), exactly as `train.fit`
    computes it (`model_objective`). A model with dropout in training mode needs a fixed
    `key` (else ValueError). `subset_key` draws the `n` checked coordinates; other
    `options` (eps, n, worst, dtype) go to `check_gradients`.
    """
    loss_fn = model_objective(model, model_state, loss=loss, key=key, train=train)
    if key is None and train:
        _refuse_random(loss_fn, params, x, y)
    return check_gradients(loss_fn, params, x, y, regularizer=regularizer, key=subset_key,
                           model=model, **options)
