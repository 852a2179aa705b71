"""Classic neurons (lecture 003: McCulloch-Pitts neurons, Hebb's rule, the perceptron).

MCP gates AND, OR, NOT, NAND, NOR as single units and XOR as two layers (OR AND NAND, the
lecture's decomposition); an exhaustive vmapped search over integer weights and thresholds
finds a single unit for 14 of the 16 two-input functions, none for XOR and XNOR. Hebb's rule
reproduces the lecture's tables: binary AND learns only from the first pair (weights stay
(1 1 1)), bipolar AND ends at (2 2 -2) with the line x2 = -x1 + 1, and the 3-input bipolar
problem ends at (0 0 0 -2), wrong on the first pattern although a separating unit exists.
The perceptron learns bipolar AND and OR in a few epochs, never settles on XOR, and converges
on every one of many vmapped random Gaussian-blob problems within Novikoff's (R/gamma)^2.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import classic
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict

NAME = "classic_neurons"
BINARY = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])  # the lecture's order of the AND pairs
BIPOLAR = 2 * BINARY - 1
FAILURE_X = np.array([[1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]])
FAILURE_T = np.array([1, -1, -1, -1])
# The lecture's figures, recomputed from the rule where the converted tables are garbled.
COURSE = {
    "binary AND weights (w1 w2 b)": (1, 1, 1),
    "bipolar AND weights (w1 w2 b)": (2, 2, -2),
    "bipolar AND lines": ("x2 = -x1 - 1", "x2 = 0", "x2 = -x1 + 1", "x2 = -x1 + 1"),
    "failure weights (w1 w2 w3 b)": (0, 0, 0, -2),
}
PERCEPTRON_TASKS = {  # bipolar inputs BIPOLAR, targets per task
    "AND": np.array([1, -1, -1, -1]), "OR": np.array([1, 1, 1, -1]),
    "XOR": np.array([-1, 1, 1, -1]),
}


def _vec(*arrays) -> tuple:
    return tuple(int(v) for a in arrays for v in np.ravel(np.asarray(a)))


def _gates_markdown() -> str:
    parts = []
    for name, gate in classic.gates.items():
        n = len(gate.weights) if isinstance(gate, classic.Gate) else 2
        unit = (f"weights {gate.weights}, threshold {gate.threshold}"
                if isinstance(gate, classic.Gate) else "two layers: AND(OR(x1, x2), NAND(x1, x2))")
        parts.append(f"**{name}** ({unit})\n\n" + classic.truth_table(gate, n).to_markdown(name))
    return "\n".join(parts)


def _search_rows():
    rows = []
    for outputs in itertools.product((0, 1), repeat=4):
        found = classic.search_mcp(jnp.array(outputs), max_weight=2)
        example = found.solutions()[:1]
        rows.append({"outputs on 00 01 10 11": " ".join(map(str, outputs)),
                     "single units found": found.n_solutions,
                     "example (weights, threshold)": str(example[0]) if example else "none",
                     "candidates": found.n_candidates})
    return rows


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _blob_problems(key, count: int, n_per_class: int, max_epochs: int):
    """`count` separable blob problems (keys fold_in(key, i)), the perceptron on each (one
    vmap), its updates, Novikoff's bound for the generating separator, and whether the
    final weights separate the data."""
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(count))
    problems = jax.vmap(lambda k: classic.separable_blobs(k, n_per_class))(keys)
    fits = jax.vmap(lambda x, y: classic.perceptron(x, y, max_epochs=max_epochs))(
        problems.x, problems.y)
    bound = jax.vmap(classic.novikoff_bound)(problems.x, problems.y, problems.w, problems.b)
    margins = problems.y * (jnp.einsum("pnd,pd->pn", problems.x, fits.weights)
                            + fits.bias[:, None])
    return problems, fits, fits.errors.sum(axis=1), bound, (margins > 0).all(axis=1)


def _figure(bipolar_trace, fits, problems, out):
    plt = report.pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(16, 8))
    lim = (-2.0, 2.0)

    def points(ax, x, t):
        x, t = np.asarray(x), np.asarray(t)
        ax.scatter(*x[t > 0].T, marker="o", color="tab:blue", label="+1")
        ax.scatter(*x[t <= 0].T, marker="x", color="tab:red", label="-1")

    def line(ax, w, b, low, high, **style):
        segment = classic.boundary(w, b).segment(low, high)
        if segment is not None:
            ax.plot(*segment, **style)

    for i, ax in enumerate(axes[0]):
        w, b = bipolar_trace.weights[i], bipolar_trace.bias[i]
        points(ax, BIPOLAR, PERCEPTRON_TASKS["AND"])
        line(ax, w, b, *lim, color="black")
        ax.set_title(f"Hebb, bipolar AND, after pair {i + 1}\n"
                     f"w = {_vec(w, b)}: {classic.boundary(w, b)}", fontsize=9)
    for ax, name in zip(axes[1][:2], ("AND", "OR")):
        fit = fits[name]
        points(ax, BIPOLAR, PERCEPTRON_TASKS[name])
        line(ax, fit.weights, fit.bias, *lim, color="black")
        ax.set_title(f"perceptron, bipolar {name}: {int(fit.epochs)} epochs\n"
                     f"{classic.boundary(fit.weights, fit.bias)}", fontsize=9)
    ax, x = axes[1][2], np.asarray(problems.x[0])
    points(ax, x, problems.y[0])
    low, high = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    line(ax, fits["blobs"].weights[0], fits["blobs"].bias[0], low[0], high[0], color="black")
    ax.set(xlim=(low[0], high[0]), ylim=(low[1], high[1]), xlabel="x1", ylabel="x2")
    ax.set_title(f"perceptron, blob problem 1 of {len(problems.x)}: "
                 f"{int(fits['blobs'].epochs[0])} epochs", fontsize=9)
    ax = axes[1][3]
    points(ax, BIPOLAR, PERCEPTRON_TASKS["XOR"])
    ax.set_title(f"XOR: no line separates the classes\nperceptron after "
                 f"{int(fits['XOR'].epochs)} epochs: {int(fits['XOR'].errors[-1])} errors",
                 fontsize=9)
    for ax in axes.flat:
        if ax is not axes[1][2]:
            ax.set(xlim=lim, ylim=lim, xlabel="x1", ylabel="x2")
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower left")
    return report.save_figure(fig, out, NAME)


def _signs(result, x) -> np.ndarray:
    """A trained unit's bipolar outputs sign(w.x + b) on the rows of x."""
    return np.sign(x @ np.asarray(result.weights) + float(result.bias)).astype(int)


def _perceptron_row(problem: str, fit, theta: float) -> dict:
    epochs, converged = int(fit.epochs), bool(fit.converged)
    errors = " ".join(map(str, np.asarray(fit.errors)[:min(epochs, 10)]))
    return {"problem": problem, "theta": theta, "epochs": epochs, "converged": converged,
            "updates per epoch": errors + (" ..." if epochs > 10 else ""),
            "final weights (w b)": _vec(fit.weights, fit.bias) if converged else "-",
            "line": str(classic.boundary(fit.weights, fit.bias))
            if converged and fit.weights.shape == (2,) else "-"}


def run(key, *, quick: bool, out, data_dir=None):
    count, n_per_class, max_epochs = (100, 25, 500) if quick else (1000, 50, 1000)
    binary = classic.hebb(BINARY, np.array([1, 0, 0, 0]))
    bipolar = classic.hebb(BIPOLAR, PERCEPTRON_TASKS["AND"])
    failure = classic.hebb(FAILURE_X, FAILURE_T)
    failure_wrong = _signs(failure, FAILURE_X) != FAILURE_T
    lines = tuple(str(classic.boundary(w, b)) for w, b in
                  zip(bipolar.trace.weights, bipolar.trace.bias))
    measured = {"binary AND weights (w1 w2 b)": _vec(binary.weights, binary.bias),
                "bipolar AND weights (w1 w2 b)": _vec(bipolar.weights, bipolar.bias),
                "bipolar AND lines": lines,
                "failure weights (w1 w2 w3 b)": _vec(failure.weights, failure.bias)}
    binary_changes = [_vec(dw, db) for dw, db in zip(binary.trace.dw, binary.trace.db)]

    search = _search_rows()
    realizable = [r["outputs on 00 01 10 11"] for r in search if r["single units found"]]
    xor_units = next(r["single units found"] for r in search
                     if r["outputs on 00 01 10 11"] == "0 1 1 0")

    fits = {name: classic.perceptron(BIPOLAR, t, max_epochs=100)
            for name, t in PERCEPTRON_TASKS.items()}
    failure_fit = classic.perceptron(FAILURE_X, FAILURE_T, max_epochs=100)
    fausett = classic.perceptron(BINARY, PERCEPTRON_TASKS["AND"], theta=0.2)
    problems, fits["blobs"], *arrays = _blob_problems(key, count, n_per_class, max_epochs)
    updates, bound, separated = map(np.asarray, arrays)
    blob_epochs = np.asarray(fits["blobs"].epochs)
    blob_converged = np.asarray(fits["blobs"].converged)

    same = {q: measured[q] == COURSE[q] for q in COURSE}
    checks = {
        "binary AND: only the first pair changes the weights, (1 1 1)":
            same["binary AND weights (w1 w2 b)"] and binary_changes[1:] == [(0, 0, 0)] * 3,
        "bipolar AND: (2 2 -2), the lecture's four lines, all four pairs right":
            same["bipolar AND weights (w1 w2 b)"] and same["bipolar AND lines"]
            and bool(np.all(_signs(bipolar, BIPOLAR) == PERCEPTRON_TASKS["AND"])),
        "3-input failure: (0 0 0 -2), wrong on the first pattern; the perceptron learns it":
            same["failure weights (w1 w2 w3 b)"]
            and failure_wrong.tolist() == [True, False, False, False]
            and bool(failure_fit.converged),
        "no single MCP unit computes XOR (14 of 16 functions realizable)":
            xor_units == 0 and len(realizable) == 14,
        "perceptron: AND and OR converge, XOR does not":
            bool(fits["AND"].converged) and bool(fits["OR"].converged)
            and not bool(fits["XOR"].converged),
        f"perceptron: all {count} blob problems converge, separate, within Novikoff's bound":
            bool(blob_converged.all() and separated.all() and (updates <= bound).all()),
    }

    perceptron_rows = [_perceptron_row(f"bipolar {name}", fits[name], 0)
                       for name in PERCEPTRON_TASKS]
    perceptron_rows += [_perceptron_row("Hebb's 3-input failure case", failure_fit, 0),
                        _perceptron_row("binary-input AND, bipolar targets (Fausett's example)",
                                        fausett, 0.2)]
    blob_rows = [{"problem": p + 1, "epochs": int(blob_epochs[p]), "updates": int(updates[p]),
                  "Novikoff bound (R/gamma)^2": float(bound[p]),
                  "converged": bool(blob_converged[p]), "separates": bool(separated[p])}
                 for p in range(min(count, 20))]
    epoch_counts = dict(zip(*(v.tolist() for v in np.unique(blob_epochs, return_counts=True))))
    shown = lambda v: " / ".join(v) if isinstance(v[0], str) else str(v)  # noqa: E731
    markdown = "\n".join([
        "# Classic neurons: McCulloch-Pitts units, Hebb's rule, the perceptron", "",
        __doc__.split("\n\n", 1)[1].strip(), "",
        "## The lecture's figures vs jaxdl", "",
        report.comparison_table([(q, shown(COURSE[q]), shown(measured[q])) for q in COURSE]),
        "## Checks", "",
        report.markdown_table([{"check": c, "ok": ok} for c, ok in checks.items()]),
        "## McCulloch-Pitts gates (truth tables)", "", _gates_markdown(),
        "## One MCP unit per two-input function? (exhaustive search, integer weights in "
        "[-2, 2])", "", report.markdown_table(search),
        "## Hebb's rule: binary AND", "", binary.trace.to_markdown(),
        "## Hebb's rule: bipolar AND", "", bipolar.trace.to_markdown(),
        "## Hebb's rule: the failure case (3 bipolar inputs)", "", failure.trace.to_markdown(),
        f"Final outputs sign(w.x + b) {_signs(failure, FAILURE_X).tolist()} vs targets "
        f"{FAILURE_T.tolist()}: wrong on pattern(s) {(np.flatnonzero(failure_wrong) + 1).tolist()}"
        ". Yet the problem is linearly separable (w = (1 1 1), b = -2 separates it) and the "
        f"perceptron learns it in {int(failure_fit.epochs)} epochs.", "",
        "## The perceptron (lr 1, w0 = 0, examples in order)", "",
        report.markdown_table(perceptron_rows),
        f"## The perceptron on {count} random separable Gaussian-blob problems (one vmap)", "",
        f"{2 * n_per_class} points per problem, two unit-variance blobs 4 apart, margin >= 0.5 "
        f"around the bisector; max_epochs {max_epochs}. Epochs: min {blob_epochs.min()}, "
        f"median {np.median(blob_epochs):g}, max {blob_epochs.max()}; converged "
        f"{int(blob_converged.sum())}/{count}; separating {int(separated.sum())}/{count}; "
        f"updates within Novikoff's bound {int((updates <= bound).sum())}/{count}.", "",
        "Problems per epoch count: " + ", ".join(f"{e}: {n}" for e, n in epoch_counts.items()),
        "", f"The first {len(blob_rows)} problems:", "", report.markdown_table(blob_rows),
    ])
    results = {"course": COURSE, "measured": measured, "checks": checks,
               "hebb_binary_changes": binary_changes, "xor_single_units": xor_units,
               "realizable_functions": realizable, "perceptron": perceptron_rows,
               "blob_epochs": blob_epochs, "blob_updates": updates, "novikoff_bound": bound}
    report.write(out, NAME, results, markdown)
    _figure(bipolar.trace, fits, problems, out)
    epochs = {name: int(fits[name].epochs) for name in PERCEPTRON_TASKS}
    return verdict(
        all(checks.values()),
        course="Hebb binary AND (1 1 1), bipolar AND (2 2 -2) with x2 = -x1 + 1, failure "
               "(0 0 0 -2); no single MCP unit for XOR; perceptron converges on separable data",
        measured=f"Hebb {measured['binary AND weights (w1 w2 b)']}, "
                 f"{measured['bipolar AND weights (w1 w2 b)']} with {lines[-1]}, "
                 f"{measured['failure weights (w1 w2 w3 b)']}; {xor_units} units for XOR; "
                 f"perceptron AND {epochs['AND']} / OR {epochs['OR']} epochs, XOR unconverged, "
                 f"blobs {int(blob_converged.sum())}/{count} converged",
        summary=f"{sum(checks.values())}/{len(checks)} checks; Hebb bipolar AND "
                f"{measured['bipolar AND weights (w1 w2 b)']}, line {lines[-1]}; perceptron "
                f"epochs AND {epochs['AND']}, OR {epochs['OR']}, XOR not converged after "
                f"{epochs['XOR']}; {count} blob problems: epochs {blob_epochs.min()}-"
                f"{blob_epochs.max()}, {int((updates <= bound).sum())} within (R/gamma)^2",
        numbers={"hebb_binary": measured["binary AND weights (w1 w2 b)"],
                 "hebb_bipolar": measured["bipolar AND weights (w1 w2 b)"],
                 "hebb_bipolar_lines": list(lines),
                 "hebb_failure": measured["failure weights (w1 w2 w3 b)"],
                 "failure_wrong": failure_wrong.tolist(), "xor_single_units": xor_units,
                 "realizable_functions": len(realizable), "perceptron_epochs": epochs,
                 "perceptron_converged": {n: bool(fits[n].converged) for n in PERCEPTRON_TASKS},
                 "fausett": _vec(fausett.weights, fausett.bias),
                 "blob_problems": count, "blob_converged": int(blob_converged.sum()),
                 "blob_separated": int(separated.sum()),
                 "blob_within_bound": int((updates <= bound).sum()),
                 "blob_epochs_max": int(blob_epochs.max()), "checks": checks})


EXPERIMENT = Experiment(
    name=NAME,
    claim="A single MCP neuron cannot compute XOR (two layers can); Hebb's rule learns bipolar "
          "AND but fails on a separable problem; the perceptron converges on separable data",
    source="003 (lecture), McCulloch-Pitts neurons, Hebb's rule, Perceptron",
    run=run, minutes=0.5, quick_seconds=10)
