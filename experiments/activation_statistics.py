"""Activation statistics of a deep network at initialization (the course experiment).

A 10-layer network of 500 units per layer on unit-Gaussian input (1000 examples), biases 0,
four weight initializations: 0.01*randn with tanh (the std collapses to ~0 by layer 10),
1.0*randn with tanh (saturated, std ~0.98), Xavier (N(0, 1/500) here) with tanh (decays
slowly from ~0.63), and He (N(0, 2/500)) with ReLU (stays ~0.8). Writes
results/activation_statistics.{json,md,png}: per-layer mean and std, the saturated (tanh,
|pre-activation| > 5) or dead (ReLU) fraction, and the per-layer activation histograms.

    python experiments/activation_statistics.py [--batch 1000] [--seed 0]
"""

from __future__ import annotations

import argparse

import jax

from jaxdl import diagnostics, initializers, plots
from jaxdl.ensemble import markdown_table

from common import write_results

INITS = {  # name: (weight initializer, activation)
    "0.01*randn, tanh": (initializers.normal(0.01), "tanh"),
    "1.0*randn, tanh": (initializers.normal(1.0), "tanh"),
    "Xavier, tanh": (initializers.xavier_normal(), "tanh"),
    "He, ReLU": (initializers.he_normal(), "relu"),
}
HISTOGRAM_RANGE = {"tanh": (-1.0, 1.0), "relu": (0.0, 4.0)}  # one scale for every layer


def wide_row(name: str, values, fmt: str) -> dict:
    return {"init": name, **{f"L{i + 1}": format(float(v), fmt) for i, v in enumerate(values)}}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    key = jax.random.key(args.seed)
    results, histograms = {}, {}
    for name, (w_init, activation) in INITS.items():
        stats = diagnostics.activation_statistics(w_init, activation, key=key,
                                                  depth=args.depth, width=args.width,
                                                  batch=args.batch,
                                                  value_range=HISTOGRAM_RANGE[activation])
        results[name] = stats.rows()
        histograms[name] = {f"layer {i + 1}": stats.histograms[n]
                            for i, n in enumerate(stats.names)}
    tables = {
        "std": [wide_row(n, [r["std"] for r in rows], ".3g") for n, rows in results.items()],
        "mean": [wide_row(n, [r["mean"] for r in rows], "+.3f") for n, rows in results.items()],
        "saturated (tanh) or dead (ReLU) fraction": [
            wide_row(n, [r["dead"] if n.endswith("ReLU") else r["saturated"] for r in rows],
                     ".3f") for n, rows in results.items()],
    }
    setup = __doc__.split("\n\n")[1]
    markdown = f"# Activation statistics at initialization\n\n{setup}\n"
    for title, rows in tables.items():
        markdown += f"\n## Per-layer {title}\n\n" + markdown_table(rows)
    payload = {"setup": setup, "batch": args.batch, "depth": args.depth, "width": args.width,
               "seed": args.seed, "layers": results}
    out = write_results("activation_statistics", payload, markdown)
    plots.activation_histograms(histograms, out / "activation_statistics.png",
                                title="activations per layer at initialization "
                                      f"({args.depth} x {args.width}, unit Gaussian input)")
    print(markdown)
    return payload


if __name__ == "__main__":
    main()
