"""Activation statistics of a deep network at initialization (lecture 003, "Weight initialization").

A 10-layer network of 500 units per layer (quick: 100) on unit-Gaussian input (1000 examples;
quick: 200), biases 0, the lecture's five initializations: 0.01*randn with tanh (the std
collapses to ~0), 1.0*randn with tanh (saturated, std ~0.98), the lecture's "Xavier"
randn/sqrt(fan_in) (jaxdl's `lecun_normal`; Glorot's `xavier_normal` is 2/(fan_in+fan_out),
the same here because fan_in = fan_out) with tanh (decays slowly to ~0.23) and with ReLU
(collapses to ~0.027: why He divides by 2), and He randn/sqrt(fan_in/2) with ReLU (stays ~0.84).
"""

from __future__ import annotations

from jaxdl import diagnostics, initializers, plots
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict

NAME = "activation_statistics"
# name: (weight initializer, activation, the lecture's layer-10 std, acceptance range)
INITS = {
    "0.01*randn, tanh": (initializers.normal(0.01), "tanh", 0.0, (0.0, 1e-5)),
    "1.0*randn, tanh": (initializers.normal(1.0), "tanh", 0.981730, (0.95, 1.0)),
    "Xavier (randn/sqrt(fan_in) = lecun_normal), tanh":
        (initializers.lecun_normal(), "tanh", 0.228888, (0.15, 0.32)),
    "Xavier (randn/sqrt(fan_in) = lecun_normal), ReLU":
        (initializers.lecun_normal(), "relu", 0.026676, (0.0, 0.1)),
    "He (randn/sqrt(fan_in/2) = he_normal), ReLU":
        (initializers.he_normal(), "relu", 0.844523, (0.5, 1.5)),
}
HISTOGRAM_RANGE = {"tanh": (-1.0, 1.0), "relu": (0.0, 4.0)}  # one scale for every layer


def _wide_row(name: str, values, fmt: str) -> dict:
    return {"init": name, **{f"L{i + 1}": format(float(v), fmt) for i, v in enumerate(values)}}


def run(key, *, quick: bool, out, data_dir=None):
    depth, width, batch = (10, 100, 200) if quick else (10, 500, 1000)
    layers, histograms, checks = {}, {}, []
    for name, (w_init, activation, course_std, (low, high)) in INITS.items():
        stats = diagnostics.activation_statistics(w_init, activation, key=key, depth=depth,
                                                  width=width, batch=batch,
                                                  value_range=HISTOGRAM_RANGE[activation])
        layers[name] = stats.rows()
        histograms[name] = {f"layer {i + 1}": stats.histograms[n]
                            for i, n in enumerate(stats.names)}
        last = float(stats.std[-1])
        checks.append({"init": name, "course layer-10 std": course_std,
                       "jaxdl layer-10 std": last, "accepted range": f"[{low:g}, {high:g}]",
                       "ok": bool(low <= last <= high)})
    tables = {
        "std": [_wide_row(n, [r["std"] for r in rows], ".3g") for n, rows in layers.items()],
        "mean": [_wide_row(n, [r["mean"] for r in rows], "+.3f") for n, rows in layers.items()],
        "saturated (tanh) or dead (ReLU) fraction": [
            _wide_row(n, [r["dead"] if INITS[n][1] == "relu" else r["saturated"] for r in rows],
                      ".3f") for n, rows in layers.items()],
    }
    setup = f"{depth} layers x {width} units, {batch} unit-Gaussian inputs, zero biases."
    markdown = (f"# Activation statistics at initialization\n\n{__doc__.split(chr(10) * 2)[1]}\n"
                f"\nThis run: {setup}\n\n## Layer-10 std: the lecture vs jaxdl\n\n"
                + report.markdown_table(checks))
    for title, rows in tables.items():
        markdown += f"\n## Per-layer {title}\n\n" + report.markdown_table(rows)
    report.write(out, NAME, {"depth": depth, "width": width, "batch": batch,
                             "checks": checks, "layers": layers}, markdown)
    fig = plots.activation_histograms(histograms, title=f"activations per layer at "
                                      f"initialization ({depth} x {width}, unit Gaussian input)")
    report.save_figure(fig, out, NAME)
    measured = ", ".join(f"{c['jaxdl layer-10 std']:.3g}" for c in checks)
    course = ", ".join(f"{c['course layer-10 std']:.3g}" for c in checks)
    return verdict(all(c["ok"] for c in checks),
                   course=f"layer-10 std {course}", measured=f"layer-10 std {measured}",
                   summary="layer-10 std per init (0.01, 1.0, Xavier/tanh, Xavier/ReLU, "
                           f"He/ReLU): {measured}; lecture: {course}",
                   numbers={"layer10_std": {c["init"]: c["jaxdl layer-10 std"] for c in checks},
                            "std": {n: [r["std"] for r in rows] for n, rows in layers.items()},
                            "ok": {c["init"]: c["ok"] for c in checks}})

EXPERIMENT = Experiment(
    name=NAME,
    claim="Small random init collapses the activations, large saturates tanh, Xavier keeps tanh "
          "alive but not ReLU, He keeps ReLU layers at a constant scale",
    source="003 (lecture), Weight initialization: random, Xavier, Xavier-ReLU, He",
    run=run, minutes=0.3, quick_seconds=5)
