"""Classic neuron models (lecture 003): McCulloch-Pitts units and logic gates, Hebb's rule,
Rosenblatt's perceptron.

Every learning rule is a pure function of arrays (a `lax.scan` over the training pairs, a
`lax.while_loop` over epochs) returning a NamedTuple, so a rule is `jit`-ed and `vmap`-ed
over many problems at once; static arguments such as `max_epochs` are Python ints:

```python
import jax
from jaxdl import classic

x = classic.to_bipolar(jax.numpy.array([[1, 1], [1, 0], [0, 1], [0, 0]]))
t = jax.numpy.array([1, -1, -1, -1])
classic.hebb(x, t).trace.to_markdown()              # the lecture's bipolar-AND table
keys = jax.random.split(jax.random.key(0), 1000)    # 1000 random separable problems
problems = jax.vmap(lambda k: classic.separable_blobs(k, 50))(keys)
fits = jax.vmap(lambda x, y: classic.perceptron(x, y, max_epochs=1000))(problems.x, problems.y)
fits.converged.all()
```
"""

from __future__ import annotations

import functools
import itertools
from types import MappingProxyType
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl._checks import check_key, check_positive_int, check_range, concrete_values
from jaxdl.ensemble import markdown_table

__all__ = [
    "mcp_neuron", "Gate", "MCPNetwork", "gates", "TruthTable", "truth_table", "MCPSearch",
    "search_mcp", "to_bipolar", "Boundary", "boundary", "HebbTrace", "HebbResult", "hebb",
    "PerceptronResult", "perceptron", "perceptron_criterion", "Blobs", "separable_blobs",
    "novikoff_bound",
]


def _check_values(where: str, name: str, value, allowed) -> None:
    """Raise ValueError if a concrete `value` has an entry outside `allowed` (tracers pass)."""
    values = concrete_values(value)
    if values is not None and not np.isin(values, allowed).all():
        bad = np.unique(values[~np.isin(values, allowed)])[:5]
        raise ValueError(f"{where}: {name} must contain only {', '.join(map(str, allowed))}; "
                         f"got {', '.join(f'{v:g}' for v in bad)}")


def _check_pairs(where: str, x, y):
    """x as a float (n, d) array and y as a float (n,) array, shapes checked."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"{where}: x must be 2-D (examples, inputs), got shape {x.shape}")
    if y.shape != x.shape[:1]:
        raise ValueError(f"{where}: y must have shape ({x.shape[0]},) (one target per row "
                         f"of x), got {y.shape}")
    dtype = jnp.result_type(x.dtype, y.dtype, jnp.float32)
    return x.astype(dtype), y.astype(dtype)


def _initial(where: str, w0, b0, d: int, dtype):
    w = jnp.zeros(d, dtype) if w0 is None else jnp.asarray(w0, dtype)
    if w.shape != (d,):
        raise ValueError(f"{where}: w0 must have shape ({d},) (one weight per input), "
                         f"got {w.shape}")
    b = jnp.asarray(b0, dtype)
    if b.shape != ():
        raise ValueError(f"{where}: b0 must be a scalar, got shape {b.shape}")
    return w, b


def _num(v) -> str:
    """A number as the lecture prints it: 2, -1, 0.5 (no trailing .0, no -0)."""
    return f"{float(v) + 0.0:g}"


def _vec(*parts) -> str:
    """The lecture's row vectors: (1 -1 1) from numbers, arrays or names."""
    items = [v if isinstance(v, str) else _num(v) for p in parts
             for v in (p if isinstance(p, list) else np.ravel(p))]
    return "(" + " ".join(items) + ")"


# ------------------------------------------------------------------ McCulloch-Pitts


def mcp_neuron(weights, threshold, *, inhibitory=None) -> Callable:
    """A McCulloch-Pitts unit `x -> y` on binary inputs: y = 1 if sum_i w_i x_i >= threshold
    else 0 (weights fixed, threshold designed by hand; McCulloch & Pitts 1943).

    `inhibitory`: optional booleans, one per input, marking absolute inhibitory inputs in the
    classic sense: if any inhibitory input is 1 the output is 0 whatever the sum; while they
    are 0 they add nothing to the sum (so their weights never matter). `x` may be one input
    vector or a batch (..., n); the output is int32 of shape x.shape[:-1].
    """
    w = jnp.asarray(weights)
    if w.ndim != 1:
        raise ValueError(f"mcp_neuron: weights must be 1-D (one per input), got shape {w.shape}")
    check_range("mcp_neuron", "threshold", threshold)
    mask = None
    if inhibitory is not None:
        mask = jnp.asarray(inhibitory, bool)
        if mask.shape != w.shape:
            raise ValueError(f"mcp_neuron: inhibitory must have shape {w.shape} (one flag "
                             f"per weight), got {mask.shape}")

    def neuron(x):
        x = jnp.asarray(x)
        if x.shape[-1:] != w.shape:
            raise ValueError(f"mcp_neuron: x must have {w.shape[0]} inputs on its last axis, "
                             f"got shape {x.shape}")
        _check_values("mcp_neuron", "x", x, (0, 1))
        fires = x @ w >= threshold
        if mask is not None:
            fires &= ~jnp.any(mask & (x != 0), axis=-1)
        return fires.astype(jnp.int32)

    return neuron


class Gate(NamedTuple):
    """One MCP neuron given by its `weights`, `threshold` and optional `inhibitory` flags."""

    weights: tuple
    threshold: float
    inhibitory: tuple | None = None

    def __call__(self, x):
        return mcp_neuron(jnp.asarray(self.weights), self.threshold,
                          inhibitory=self.inhibitory)(x)


class MCPNetwork(NamedTuple):
    """Two layers of MCP neurons: the `hidden` gates read x, the `output` gate reads them."""

    hidden: tuple
    output: Gate

    def __call__(self, x):
        return self.output(jnp.stack([gate(x) for gate in self.hidden], axis=-1))


_AND, _OR, _NAND = Gate((1, 1), 2), Gate((1, 1), 1), Gate((-1, -1), -1)
# The lecture's decomposition XOR = (x1 + x2) . (not x1 + not x2) = OR(x) AND NAND(x).
gates = MappingProxyType({
    "AND": _AND, "OR": _OR, "NOT": Gate((-1,), 0), "NAND": _NAND, "NOR": Gate((-1, -1), 0),
    "XOR": MCPNetwork((_OR, _NAND), _AND),
})


class TruthTable(NamedTuple):
    """Every binary input row (counting order 0...0 to 1...1) and the output for it."""

    inputs: jax.Array
    outputs: jax.Array

    def to_markdown(self, output: str = "out") -> str:
        n = self.inputs.shape[1]
        names = ["in"] if n == 1 else [f"in{i + 1}" for i in range(n)]
        rows = [{**dict(zip(names, map(int, row))), output: int(y)}
                for row, y in zip(np.asarray(self.inputs), np.asarray(self.outputs))]
        return markdown_table(rows, names + [output])


def _binary_rows(n: int) -> jax.Array:
    return jnp.array(list(itertools.product((0, 1), repeat=n)), jnp.int32)


def truth_table(fn: Callable, n_inputs: int) -> TruthTable:
    """`fn` (batch of binary rows -> outputs) on all 2**n_inputs input rows."""
    n_inputs = check_positive_int("truth_table", "n_inputs", n_inputs)
    inputs = _binary_rows(n_inputs)
    return TruthTable(inputs, jnp.asarray(fn(inputs)))


class MCPSearch(NamedTuple):
    """Every candidate unit of an exhaustive search and whether it computes the target."""

    weights: jax.Array      # (candidates, n_inputs) integers
    thresholds: jax.Array   # (candidates,)
    matches: jax.Array      # (candidates,) bool

    @property
    def n_candidates(self) -> int:
        return int(self.matches.size)

    @property
    def n_solutions(self) -> int:
        return int(self.matches.sum())

    def solutions(self) -> list[tuple[tuple[int, ...], int]]:
        """The matching (weights, threshold) pairs, on the host."""
        keep = np.asarray(self.matches)
        return [(tuple(map(int, w)), int(t)) for w, t in
                zip(np.asarray(self.weights)[keep], np.asarray(self.thresholds)[keep])]


def search_mcp(target, *, max_weight: int = 2) -> MCPSearch:
    """Try every single MCP unit with integer weights in [-max_weight, max_weight] and every
    threshold that splits the reachable sums differently ([-n*max_weight, n*max_weight + 1]),
    one `vmap` over the candidates; `target` lists the outputs of the truth-table rows.

    For 2 inputs, max_weight=1 already realizes every linearly separable function, so no
    match for XOR means no single unit computes it (XOR is not linearly separable).
    """
    max_weight = check_positive_int("search_mcp", "max_weight", max_weight)
    target = jnp.asarray(target)
    n = int(np.log2(max(target.size, 1)))
    if target.ndim != 1 or target.size != 2 ** n or n == 0:
        raise ValueError(f"search_mcp: target must list 2**n outputs (one per truth-table row, "
                         f"n >= 1), got shape {target.shape}")
    _check_values("search_mcp", "target", target, (0, 1))
    values = range(-max_weight, max_weight + 1)
    thresholds = range(-n * max_weight, n * max_weight + 2)
    grid = np.array([(*w, t) for w in itertools.product(values, repeat=n) for t in thresholds])
    weights, thresholds = jnp.asarray(grid[:, :n]), jnp.asarray(grid[:, n])
    inputs = _binary_rows(n)
    matches = jax.vmap(lambda w, t: jnp.all(mcp_neuron(w, t)(inputs) == target))(weights,
                                                                                  thresholds)
    return MCPSearch(weights, thresholds, matches)


# ------------------------------------------------------------------ Hebb's rule


def to_bipolar(a):
    """Binary {0, 1} to bipolar {-1, +1}: 2a - 1."""
    a = jnp.asarray(a)
    _check_values("to_bipolar", "a", a, (0, 1))
    return 2 * a - 1


class Boundary(NamedTuple):
    """The line w1 x1 + w2 x2 + b = 0 of a 2-input unit: x2 = slope * x1 + intercept, or the
    vertical line x1 = `x1` when w2 = 0 (slope and intercept None); all None when w = 0."""

    slope: float | None
    intercept: float | None
    x1: float | None

    def __str__(self) -> str:
        if self.x1 is not None:
            return f"x1 = {_num(self.x1)}"
        if self.slope is None:
            return "no line (w = 0)"
        terms = []
        if self.slope != 0:
            coefficient = {1.0: "", -1.0: "-"}.get(self.slope, f"{_num(self.slope)} ")
            terms.append(f"{coefficient}x1")
        if self.intercept != 0 or not terms:
            value = _num(abs(self.intercept) if terms else self.intercept)
            terms.append(value if not terms else ("- " if self.intercept < 0 else "+ ") + value)
        return "x2 = " + " ".join(terms)

    def segment(self, low: float, high: float):
        """Two points ((x1a, x1b), (x2a, x2b)) of the line across [low, high] (for plots);
        None when there is no line."""
        if self.x1 is not None:
            return (self.x1, self.x1), (low, high)
        if self.slope is None:
            return None
        return (low, high), (self.slope * low + self.intercept, self.slope * high + self.intercept)


def boundary(w, b) -> Boundary:
    """The separating line of a 2-input unit: x2 = -(w1/w2) x1 - b/w2 (w2 != 0), else the
    vertical line x1 = -b/w1."""
    w = np.asarray(w, np.float64)
    if w.shape != (2,):
        raise ValueError(f"boundary: w must hold the 2 weights of a 2-input unit, got shape "
                         f"{w.shape}")
    b = float(b)
    if w[1] != 0:
        return Boundary(float(-w[0] / w[1]) + 0.0, -b / w[1] + 0.0, None)
    if w[0] != 0:
        return Boundary(None, None, -b / w[0] + 0.0)
    return Boundary(None, None, None)


class HebbTrace(NamedTuple):
    """Hebb's rule pair by pair: input, target, weight change, weights after (the lecture's
    table); `w0`, `b0` the starting weights."""

    x: jax.Array
    y: jax.Array
    dw: jax.Array
    db: jax.Array
    weights: jax.Array
    bias: jax.Array
    w0: jax.Array
    b0: jax.Array

    def to_markdown(self) -> str:
        """The lecture's table: INPUT (x1 ... 1), TARGET, WEIGHT CHANGES, WEIGHTS, and for a
        2-input unit the separating line after each pair (one trace, not a vmapped batch)."""
        if np.ndim(self.x) != 2:
            raise ValueError(f"HebbTrace.to_markdown: needs the trace of one run (x of shape "
                             f"(pairs, inputs)), got x of shape {np.shape(self.x)}; index "
                             f"a vmapped trace first, e.g. jax.tree.map(lambda a: a[0], trace)")
        n = self.x.shape[1]
        index = range(1, n + 1)
        columns = ["input " + _vec([f"x{i}" for i in index] + ["1"]), "target",
                   "weight changes " + _vec([f"Δw{i}" for i in index] + ["Δb"]),
                   "weights " + _vec([f"w{i}" for i in index] + ["b"])]
        if n == 2:
            columns.append("separating line")
        start = {columns[0]: "start", columns[3]: _vec(self.w0, self.b0)}
        rows = [start] if n != 2 else [{**start, columns[4]: str(boundary(self.w0, self.b0))}]
        for x, y, dw, db, w, b in zip(*(np.asarray(a) for a in self[:6])):
            row = dict(zip(columns, (_vec(x, 1), _num(y), _vec(dw, db), _vec(w, b))))
            if n == 2:
                row[columns[4]] = str(boundary(w, b))
            rows.append(row)
        return markdown_table(rows, columns)


class HebbResult(NamedTuple):
    weights: jax.Array
    bias: jax.Array
    trace: HebbTrace


def hebb(x, y, *, w0=None, b0=0.0) -> HebbResult:
    """Hebb's rule, one pass over the pairs in order (Hebb 1949; a `lax.scan`):
    w_i(new) = w_i(old) + x_i y, b(new) = b(old) + y. `x`: (pairs, inputs), `y`: (pairs,)."""
    x, y = _check_pairs("hebb", x, y)
    w, b = _initial("hebb", w0, b0, x.shape[1], x.dtype)

    def step(carry, pair):
        (w, b), (xi, yi) = carry, pair
        dw, db = xi * yi, yi
        return (w + dw, b + db), (dw, db, w + dw, b + db)

    (w_final, b_final), (dw, db, ws, bs) = jax.lax.scan(step, (w, b), (x, y))
    return HebbResult(w_final, b_final, HebbTrace(x, y, dw, db, ws, bs, w, b))


# ------------------------------------------------------------------ the perceptron


class PerceptronResult(NamedTuple):
    """`epochs`: epochs run (the last one, if `converged`, made no update); `errors[e]`: the
    updates (misclassified examples) of epoch e, 0 after the last epoch run."""

    weights: jax.Array
    bias: jax.Array
    epochs: jax.Array
    converged: jax.Array
    errors: jax.Array


def _band(net, theta):
    """Rosenblatt's output with a threshold band: +1 above theta, -1 below -theta, else 0."""
    return jnp.where(net > theta, 1.0, jnp.where(net < -theta, -1.0, 0.0)).astype(net.dtype)


def perceptron(x, y, *, lr=1.0, theta=0.0, max_epochs: int = 100, w0=None, b0=0.0,
               shuffle_key=None) -> PerceptronResult:
    """Rosenblatt's perceptron rule (1958): for each example, output = band(w.x + b, theta);
    where it differs from the bipolar target t, w += lr t x and b += lr t. Epochs (a
    `lax.while_loop` of `lax.scan`s over the examples) run until one makes no update or
    `max_epochs` (a Python int). With `shuffle_key`, epoch e visits the examples in the order
    `permutation(fold_in(shuffle_key, e))`, else in order. `lr` and `theta` may be traced.
    """
    x, y = _check_pairs("perceptron", x, y)
    _check_values("perceptron", "y", y, (-1, 1))
    check_range("perceptron", "lr", lr, low=0, low_open=True)
    check_range("perceptron", "theta", theta, low=0)
    max_epochs = check_positive_int("perceptron", "max_epochs", max_epochs)
    if shuffle_key is not None:
        check_key("perceptron", shuffle_key)
    w, b = _initial("perceptron", w0, b0, x.shape[1], x.dtype)
    n = x.shape[0]

    def step(carry, i):
        w, b = carry
        wrong = _band(x[i] @ w + b, theta) != y[i]
        change = jnp.where(wrong, lr * y[i], 0.0).astype(x.dtype)
        return (w + change * x[i], b + change), wrong

    def epoch(state):
        e, w, b, errors, _ = state
        order = (jnp.arange(n) if shuffle_key is None
                 else jax.random.permutation(jax.random.fold_in(shuffle_key, e), n))
        (w, b), wrong = jax.lax.scan(step, (w, b), order)
        updates = wrong.sum(dtype=jnp.int32)
        return e + 1, w, b, errors.at[e].set(updates), updates

    def more(state):
        e, *_, updates = state
        return (e < max_epochs) & (updates > 0)

    start = (jnp.int32(0), w, b, jnp.zeros(max_epochs, jnp.int32), jnp.int32(1))
    epochs, w, b, errors, last = jax.lax.while_loop(more, epoch, start)
    return PerceptronResult(w, b, epochs, last == 0, errors)


def perceptron_criterion(w, b, x, y):
    """The perceptron criterion J(w, b) = -sum_{i in M} t_i (w.x_i + b) over the misclassified
    set M = {i : t_i (w.x_i + b) <= 0}; zero when every example is on its side. Its gradient
    is -sum_M t_i (x_i, 1), so w <- w - lr dJ/dw is the perceptron's update (theta = 0; the
    lecture writes the step with + dJ/dw, a sign slip)."""
    x, y = _check_pairs("perceptron_criterion", x, y)
    margins = y * (x @ jnp.asarray(w) + b)
    return -jnp.sum(jnp.where(jax.lax.stop_gradient(margins) <= 0, margins, 0.0))


class Blobs(NamedTuple):
    """A 2-class problem: inputs `x` (n, dim), bipolar targets `y`, and the separator the
    data were built around: unit normal `w` and bias `b` (t (w.x + b) >= margin for all)."""

    x: jax.Array
    y: jax.Array
    w: jax.Array
    b: jax.Array


def separable_blobs(key, n_per_class: int = 50, *, dim: int = 2, separation: float = 4.0,
                    margin: float = 0.5) -> Blobs:
    """Two unit-variance Gaussian blobs at c -/+ (separation/2) u (u a random unit vector, c a
    standard normal centre); any point closer than `margin` to the bisecting hyperplane
    u.(x - c) = 0, or across it, is moved along u to distance `margin` on its own side, so
    the problem is linearly separable with margin >= `margin` by construction. Vmappable
    over keys; the first n_per_class examples have target -1, the rest +1."""
    check_key("separable_blobs", key)
    n_per_class = check_positive_int("separable_blobs", "n_per_class", n_per_class)
    dim = check_positive_int("separable_blobs", "dim", dim)
    check_range("separable_blobs", "separation", separation, low=0)
    check_range("separable_blobs", "margin", margin, low=0, low_open=True)
    return _blobs(key, n_per_class, dim, separation, margin)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _blobs(key, n_per_class, dim, separation, margin) -> Blobs:
    direction = jax.random.normal(jax.random.fold_in(key, 0), (dim,))
    u = direction / jnp.linalg.norm(direction)
    centre = jax.random.normal(jax.random.fold_in(key, 1), (dim,))
    y = jnp.repeat(jnp.array([-1.0, 1.0]), n_per_class)
    noise = jax.random.normal(jax.random.fold_in(key, 2), (2 * n_per_class, dim))
    x = centre + (y * separation / 2)[:, None] * u + noise
    side = y * ((x - centre) @ u)
    x = x + (y * (jnp.maximum(side, margin) - side))[:, None] * u
    return Blobs(x, y, u, -(centre @ u))


def novikoff_bound(x, y, w, b):
    """Novikoff's bound (1962) on the perceptron's updates from w0 = 0, theta = 0:
    (R / gamma)^2 with R = max_i |(x_i, 1)| and gamma = min_i t_i (w.x_i + b) / |(w, b)| the
    margin of the separator (w, b) in the augmented space; inf if (w, b) does not separate."""
    x, y = _check_pairs("novikoff_bound", x, y)
    augmented = jnp.concatenate([x, jnp.ones_like(x[:, :1])], axis=1)
    normal = jnp.append(jnp.asarray(w, x.dtype), jnp.asarray(b, x.dtype))
    radius = jnp.max(jnp.linalg.norm(augmented, axis=1))
    gamma = jnp.min(y * (augmented @ normal)) / jnp.linalg.norm(normal)
    return jnp.where(gamma > 0, (radius / gamma) ** 2, jnp.inf)
