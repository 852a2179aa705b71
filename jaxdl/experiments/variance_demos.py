"""Two demonstrations of why the initialization scale matters (tutorial 000, "Weight
initialization"; notes 001, "Vanishing / Exploding gradients").

1. One unit with n = 1,000 inputs, weights w ~ N(0, 1), z = sum_i w_i x_i, 20,000 draws of
   w (quick: 2,000). The tutorial sets half the inputs to 1 and half to 0: Var(z) =
   sum_i x_i^2 = 500 ("the variance of the output jumps almost 500 times"). ReLU inputs
   x = max(0, g), g ~ N(0, 1) (about half of them on) give the same E[Var(z)] = n E[x^2] =
   n / 2 = 500. The tutorial's cure, w ~ N(0, 1) * sqrt(2 / n), brings it back to ~1.
2. The notes' deep linear network: L layers of 2 units, biases 0, W[l] = 1.5 I (or 0.5 I),
   x = (1, 1): y = 1.5^L x explodes, 0.5^L x vanishes, and so does the gradient of the
   output with respect to the first layer's weights (~ 1.5^(L-1), 0.5^(L-1)). Built as
   jaxdl dense layers, measured against the formula for L = 1..30 (quick: 1..12).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import nn
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict

NAME = "variance_demos"
FAN_IN = 1000
COURSE_VARIANCE = 500.0
GAINS = (1.5, 0.5)


def unit_outputs(key, x, draws: int, *, scale=1.0):
    """z = w . x for `draws` weight vectors w ~ N(0, scale^2 I), one (draws, n) draw."""
    w = scale * jax.random.normal(key, (draws, x.shape[-1]))
    return w @ x


def scaled_identity(gain: float):
    """An initializer giving gain * I (the notes' W[l] = [[1.5, 0], [0, 1.5]])."""
    def init(key, shape, dtype=jnp.float32):
        del key
        return gain * jnp.eye(*shape, dtype=dtype)
    return init


def linear_chain(depth: int, gain: float, width: int = 2):
    """`depth` dense(width) layers with W = gain * I and zero biases, no activations."""
    return nn.serial(*[nn.dense(width, w_init=scaled_identity(gain)) for _ in range(depth)])


def chain_measurements(depth: int, gain: float):
    """(y_1 of the output, d y_1 / d W[1]_11) of `linear_chain(depth, gain)` on x = (1, 1)."""
    model = linear_chain(depth, gain)
    params, state, _ = model.init(jax.random.key(0), (2,))
    x = jnp.ones((1, 2))

    def first_output(p):
        return model.apply(p, state, x)[0][0, 0]

    y, grads = jax.value_and_grad(first_output)(params)
    return float(y), float(grads[0]["w"][0, 0])


def run(key, *, quick: bool, out, data_dir=None):
    del data_dir
    draws, max_depth = (2000, 12) if quick else (20000, 30)
    binary = jnp.concatenate([jnp.ones(FAN_IN // 2), jnp.zeros(FAN_IN - FAN_IN // 2)])
    relu_inputs = jax.nn.relu(jax.random.normal(jax.random.fold_in(key, 1), (FAN_IN,)))
    cases = {
        "half the inputs 1, half 0 (the tutorial)": (binary, 1.0, float(jnp.sum(binary ** 2))),
        "ReLU inputs max(0, N(0,1))": (relu_inputs, 1.0, float(jnp.sum(relu_inputs ** 2))),
        "half on, w * sqrt(2/n) (the cure)": (binary, float(np.sqrt(2 / FAN_IN)),
                                             float(jnp.sum(binary ** 2)) * 2 / FAN_IN),
    }
    unit_rows, samples = [], {}
    for i, (name, (x, scale, expected)) in enumerate(cases.items()):
        z = np.asarray(unit_outputs(jax.random.fold_in(key, 10 + i), x, draws, scale=scale))
        samples[name] = z
        variance = float(z.var())
        # the sample variance of `draws` Gaussians has relative std sqrt(2 / draws)
        tolerance = 4 * np.sqrt(2 / draws)
        unit_rows.append({"inputs": name, "weight std": f"{scale:.4g}",
                          "course Var(z)": "~500" if scale == 1.0 else "~1",
                          "formula sum x_i^2 scale^2": round(expected, 3),
                          "measured Var(z)": round(variance, 3),
                          "ok": bool(abs(variance / expected - 1) < tolerance)})

    chain_rows = []
    for depth in range(1, max_depth + 1):
        row = {"L": depth}
        for gain in GAINS:
            y, g = chain_measurements(depth, gain)
            row[f"y, W = {gain} I"] = y
            row[f"{gain}^L"] = gain ** depth
            row[f"dy/dW1, W = {gain} I"] = g
            row[f"{gain}^(L-1)"] = gain ** (depth - 1)
        chain_rows.append(row)
    chain_ok = all(np.isclose(r[f"y, W = {g} I"], r[f"{g}^L"], rtol=1e-4)
                   and np.isclose(r[f"dy/dW1, W = {g} I"], r[f"{g}^(L-1)"], rtol=1e-4)
                   for r in chain_rows for g in GAINS)
    last = chain_rows[-1]
    checks = {"Var(z) of each unit case within 4 sampling stds of the formula":
              all(r["ok"] for r in unit_rows),
              "the tutorial's case is about 500 (within 5 %)":
              abs(unit_rows[0]["measured Var(z)"] / COURSE_VARIANCE - 1) < 0.05,
              "linear chain: y = gain^L and dy/dW1 = gain^(L-1) for every L": chain_ok}

    table = report.comparison_table([
        *[(f"Var(z), {r['inputs']}", r["course Var(z)"], f"{r['measured Var(z)']:.4g}")
          for r in unit_rows],
        (f"y after L = {max_depth} layers of 1.5 I", f"1.5^{max_depth} = {1.5 ** max_depth:.4g}",
         f"{last['y, W = 1.5 I']:.4g}"),
        (f"y after L = {max_depth} layers of 0.5 I", f"0.5^{max_depth} = {0.5 ** max_depth:.4g}",
         f"{last['y, W = 0.5 I']:.4g}"),
    ])
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else v  # noqa: E731
    markdown = (f"# Variance demonstrations\n\n{__doc__.split(chr(10) * 2, 1)[1]}\n"
                f"This run: {draws} weight draws; chains of depth 1..{max_depth}.\n\n"
                f"## The course vs jaxdl\n\n{table}\n## One unit, {FAN_IN} inputs\n\n"
                + report.markdown_table(unit_rows)
                + "\n## Deep linear network (2 units per layer, x = (1, 1))\n\n"
                + report.markdown_table([{k: fmt(v) for k, v in r.items()} for r in chain_rows])
                + "\n## Checks\n\n"
                + report.markdown_table([{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {"draws": draws, "unit": unit_rows, "chain": chain_rows,
                             "checks": checks}, markdown)
    _figure(samples, chain_rows, out)
    variances = [r["measured Var(z)"] for r in unit_rows]
    return verdict(
        all(checks.values()),
        course="Var(z) ~500 for 1,000 inputs, half on; y = 1.5^L, 0.5^L",
        measured=f"Var(z) {variances[0]:.1f} (binary), {variances[1]:.1f} (ReLU), "
                 f"{variances[2]:.3f} (sqrt(2/n)); y(L={max_depth}) "
                 f"{last['y, W = 1.5 I']:.4g}, {last['y, W = 0.5 I']:.3g}",
        summary=f"Var(z) of a 1,000-input unit: {variances[0]:.1f} (half on), "
                f"{variances[1]:.1f} (ReLU inputs), {variances[2]:.3f} with sqrt(2/n); "
                f"linear chain L={max_depth}: y = {last['y, W = 1.5 I']:.4g} "
                f"(1.5^L {1.5 ** max_depth:.4g}), {last['y, W = 0.5 I']:.3g} (0.5^L "
                f"{0.5 ** max_depth:.3g})",
        numbers={"variance": dict(zip(cases, variances)),
                 "expected_variance": {r["inputs"]: r["formula sum x_i^2 scale^2"]
                                       for r in unit_rows},
                 "chain_y": {g: [r[f"y, W = {g} I"] for r in chain_rows] for g in GAINS},
                 "chain_grad": {g: [r[f"dy/dW1, W = {g} I"] for r in chain_rows]
                                for g in GAINS},
                 "checks": checks})


def _figure(samples, chain_rows, out) -> None:
    plt = report.pyplot()
    fig, (hist, chain) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, z in samples.items():
        hist.hist(z, bins=80, range=(-80, 80), histtype="step", density=True,
                  label=f"{name}: Var {z.var():.3g}")
    hist.set(xlabel="z = w . x", ylabel="density",
             title=f"one unit, {FAN_IN} inputs, w ~ N(0, 1): Var(z) ~ 500")
    hist.legend(fontsize=7)
    depths = [r["L"] for r in chain_rows]
    for gain, color in zip(GAINS, ("tab:red", "tab:blue")):
        chain.semilogy(depths, [r[f"y, W = {gain} I"] for r in chain_rows], "o", color=color,
                       label=f"y, W = {gain} I (jaxdl)")
        chain.semilogy(depths, [gain ** d for d in depths], "-", color=color, lw=1,
                       label=f"{gain}^L")
        chain.semilogy(depths, [r[f"dy/dW1, W = {gain} I"] for r in chain_rows], "x",
                       color=color, label=f"dy/dW1, W = {gain} I")
    chain.set(xlabel="depth L", ylabel="value (log scale)",
              title="deep linear network: explodes as 1.5^L, vanishes as 0.5^L")
    chain.legend(fontsize=7)
    chain.grid(alpha=0.3)
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="A unit with 1,000 N(0,1) weights and half its inputs on has output variance ~500 "
          "(sqrt(2/n) scaling restores ~1); a deep linear network grows as 1.5^L and "
          "vanishes as 0.5^L",
    source="000 (tutorial), Weight initialization; 001 (notes), Vanishing / Exploding "
           "gradients",
    run=run, minutes=0.2, quick_seconds=3)
