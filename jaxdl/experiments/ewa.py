"""Exponentially weighted averages of a temperature-like series (notes 001, "Exponentially
weighted averages" and "Bias correction in exponentially weighted averages").

A generated year of daily temperatures, theta_t = 55 - 20 cos(2 pi (t - 15) / 365) + noise
(Fahrenheit-like: about 35 in January, 75 in July; noise N(0, 5^2), keyed), averaged as the
notes do, v_0 = 0, v_t = beta v_(t-1) + (1 - beta) theta_t, and bias-corrected as
v_t / (1 - beta^t), for beta 0.5, 0.9, 0.98 ("about 2, 10, 50 days": 1 / (1 - beta)).
Checked: the notes' worked example (40, 49, 45 -> 4, 8.5, 12.15); the uncorrected beta = 0.98
curve starts far too low (its first 10 days average under half the true temperature) while
the corrected one does not (within 20 %); the two agree once beta^t is small (the last day,
within 1 %); and the average lags the seasonal curve more as beta grows, by the filter's
phase delay on a sinusoid, atan(beta sin w / (1 - beta cos w)) / w days (w = 2 pi / 365;
about beta / (1 - beta) for short memories), measured as the shift of the clean curve that
best matches the corrected average on days 120-365, averaged over 256 generated years
(quick: 16).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl._checks import check_range
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict

NAME = "ewa"
BETAS = (0.5, 0.9, 0.98)
DAYS = 365
MEAN, AMPLITUDE, COLDEST_DAY, NOISE = 55.0, 20.0, 15, 5.0
OMEGA = 2 * np.pi / DAYS
NOTES_EXAMPLE = ((40.0, 49.0, 45.0), (4.0, 8.5, 12.15))  # theta_1..3 and the notes' V_1..3
LAG_WINDOW = slice(119, DAYS)  # days 120..365: after every average has warmed up
MAX_SHIFT = 80


def ewa(values, beta, *, bias_correction: bool = False):
    """Exponentially weighted averages along the last axis (the time), v_0 = 0 (notes 001):

        v_t = beta * v_(t-1) + (1 - beta) * theta_t,   or v_t / (1 - beta^t) bias-corrected.

    One `lax.scan` over time (any leading axes are independent series); beta in [0, 1) may
    be traced. Twin: `optax.ema(beta, debias=...)` fed the series one value at a time.
    """
    check_range("ewa", "beta", beta, low=0.0, high=1.0, high_open=True)
    values = jnp.moveaxis(jnp.asarray(values, dtype=float), -1, 0)

    def body(v, theta):
        v = beta * v + (1 - beta) * theta
        return v, v

    _, averages = jax.lax.scan(body, jnp.zeros(values.shape[1:], values.dtype), values)
    if bias_correction:
        t = jnp.arange(1, values.shape[0] + 1, dtype=values.dtype)
        averages = averages / (1 - beta ** t).reshape((-1,) + (1,) * (values.ndim - 1))
    return jnp.moveaxis(averages, 0, -1)


def clean_temperature(day):
    """The seasonal curve without noise; `day` may be any real (also before day 1)."""
    return MEAN - AMPLITUDE * np.cos(OMEGA * (np.asarray(day, float) - COLDEST_DAY))


def temperatures(key, years: int = 1) -> np.ndarray:
    """(years, 365): days 1..365 of the seasonal curve plus N(0, NOISE^2) noise, year i's
    noise drawn from fold_in(key, i)."""
    days = np.arange(1, DAYS + 1)
    noise = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (DAYS,)))(
        jnp.arange(years))
    return clean_temperature(days) + NOISE * np.asarray(noise)


def phase_lag(beta: float) -> float:
    """The delay, in days, of an exponentially weighted average on a sinusoid of angular
    frequency OMEGA: the phase of 1 / (1 - beta e^(-i w)) divided by w."""
    return float(np.arctan2(beta * np.sin(OMEGA), 1 - beta * np.cos(OMEGA)) / OMEGA)


def measured_lag(averages) -> np.ndarray:
    """Per series (the last axis is the day): the shift s = 0..MAX_SHIFT days minimizing the
    RMS difference between the average and the clean curve delayed by s, on LAG_WINDOW."""
    days = np.arange(1, DAYS + 1)[LAG_WINDOW]
    delayed = clean_temperature(days[None, :] - np.arange(MAX_SHIFT + 1)[:, None])
    window = np.asarray(averages)[..., None, LAG_WINDOW]
    return np.argmin(np.mean((window - delayed) ** 2, axis=-1), axis=-1)


def run(key, *, quick: bool, out, data_dir=None):
    del data_dir
    years = 16 if quick else 256
    theta = temperatures(key, years)  # (years, 365); the figure shows year 0
    clean = clean_temperature(np.arange(1, DAYS + 1))
    example = np.asarray(ewa(np.array(NOTES_EXAMPLE[0]), 0.9))
    example_ok = bool(np.allclose(example, NOTES_EXAMPLE[1], atol=1e-4))

    average = jax.jit(ewa, static_argnames="bias_correction")  # one program for every beta
    rows, curves = [], {}
    for beta in BETAS:
        plain = np.asarray(average(theta, beta))
        corrected = np.asarray(average(theta, beta, bias_correction=True))
        curves[beta] = (plain[0], corrected[0])
        lags, theory = measured_lag(corrected), phase_lag(beta)
        rows.append({
            "beta": beta, "course memory 1/(1-beta) (days)": round(1 / (1 - beta), 3),
            "mean weight age beta/(1-beta)": round(beta / (1 - beta), 3),
            "lag on the sinusoid, theory (days)": round(theory, 2),
            "lag measured, mean (days)": float(lags.mean()),
            "lag measured, std over years": float(lags.std()),
            "first 10 days / truth, uncorrected": float(plain[:, :10].mean() / clean[:10].mean()),
            "first 10 days / truth, corrected": float(corrected[:, :10].mean()
                                                      / clean[:10].mean()),
            "day 365 corrected vs uncorrected": float(np.max(np.abs(corrected[:, -1]
                                                                    - plain[:, -1])
                                                             / np.abs(corrected[:, -1]))),
            "RMS error vs clean curve, corrected": float(np.sqrt(np.mean((corrected - clean)
                                                                         ** 2))),
        })
    strongest = rows[BETAS.index(0.98)]
    lags = [r["lag measured, mean (days)"] for r in rows]
    lag_ok = all(abs(r["lag measured, mean (days)"] - r["lag on the sinusoid, theory (days)"])
                 <= max(1.0, 0.05 * r["lag on the sinusoid, theory (days)"]) for r in rows)
    checks = {
        "notes example 4, 8.5, 12.15": example_ok,
        "uncorrected beta=0.98 starts too low (< 0.5 of truth)":
            strongest["first 10 days / truth, uncorrected"] < 0.5,
        "corrected beta=0.98 starts right (within 10 %)":
            abs(strongest["first 10 days / truth, corrected"] - 1) < 0.1,
        "corrected = uncorrected once beta^t is small (day 365, 1 %)":
            all(r["day 365 corrected vs uncorrected"] < 0.01 for r in rows),
        "lag grows with beta": all(a < b for a, b in zip(lags, lags[1:])),
        "mean lag matches the phase delay (1 day or 5 %)": lag_ok,
    }

    table = report.comparison_table([
        ("notes example V1, V2, V3 (beta 0.9 on 40, 49, 45)", "4, 8.5, 12.15",
         ", ".join(f"{v:.4g}" for v in example)),
        *[(f"beta {r['beta']}: memory (days)", f"~{1 / (1 - r['beta']):.0f}",
           f"lags by {r['lag measured, mean (days)']:.1f} d (theory "
           f"{r['lag on the sinusoid, theory (days)']:.1f})") for r in rows],
        ("beta 0.98, first 10 days / truth, no correction", "starts far too low",
         f"{strongest['first 10 days / truth, uncorrected']:.3f}"),
        ("beta 0.98, first 10 days / truth, bias-corrected", "accurate at the start",
         f"{strongest['first 10 days / truth, corrected']:.3f}"),
    ])
    markdown = (f"# Exponentially weighted averages\n\n{__doc__.split(chr(10) * 2)[1]}\n\n"
                f"This run: {years} generated years; the figure shows the first.\n\n"
                f"## The notes vs jaxdl\n\n{table}\n## Per beta (means over the years)\n\n"
                + report.markdown_table(rows)
                + "\n## Checks\n\n" + report.markdown_table(
                    [{"check": k, "ok": v} for k, v in checks.items()]))
    report.write(out, NAME, {"betas": list(BETAS), "years": years, "theta": theta[0],
                             "clean": clean, "example": example, "rows": rows,
                             "checks": checks,
                             "averages": {str(b): {"uncorrected": p, "corrected": c}
                                          for b, (p, c) in curves.items()}}, markdown)
    _figure(theta[0], clean, curves, out)
    measured = ", ".join(f"{lag:.1f}" for lag in lags)
    start = (f"{strongest['first 10 days / truth, uncorrected']:.2f} (uncorrected) vs "
             f"{strongest['first 10 days / truth, corrected']:.2f} (corrected)")
    return verdict(
        all(checks.values()),
        course="memory ~2, 10, 50 days; uncorrected beta=0.98 starts too low",
        measured=f"lags {measured} days; beta=0.98 first 10 days at {start} of the truth",
        summary=f"notes example {', '.join(f'{v:.4g}' for v in example)}; mean lag per beta "
                f"{measured} days over {years} years (theory "
                f"{', '.join(f'{phase_lag(b):.1f}' for b in BETAS)}); beta=0.98 first 10 "
                f"days / truth: {start}",
        numbers={"example": example.tolist(), "lags": dict(zip(BETAS, lags)),
                 "theory_lags": {b: phase_lag(b) for b in BETAS},
                 "start_ratio_uncorrected": {r["beta"]: r["first 10 days / truth, uncorrected"]
                                             for r in rows},
                 "start_ratio_corrected": {r["beta"]: r["first 10 days / truth, corrected"]
                                           for r in rows},
                 "checks": checks})


def _figure(theta, clean, curves, out) -> None:
    plt = report.pyplot()
    fig, (year, start) = plt.subplots(1, 2, figsize=(12, 4.5))
    days = np.arange(1, DAYS + 1)
    colors = dict(zip(BETAS, ("tab:green", "tab:red", "tab:purple")))
    for ax, last in ((year, DAYS), (start, 60)):
        ax.plot(days[:last], theta[:last], ".", color="0.6", ms=3, label="theta_t (daily)")
        ax.plot(days[:last], clean[:last], color="0.3", lw=1, label="seasonal curve")
        for beta, (plain, corrected) in curves.items():
            ax.plot(days[:last], corrected[:last], color=colors[beta],
                    label=f"beta {beta} (~{1 / (1 - beta):.0f} days), corrected")
            ax.plot(days[:last], plain[:last], "--", color=colors[beta], lw=1,
                    label=f"beta {beta}, no bias correction")
        ax.set(xlabel="day", ylabel="temperature")
        ax.grid(alpha=0.3)
    year.set_title("a year: larger beta = smoother and later")
    start.set_title("the first 60 days: v_0 = 0 biases the uncorrected averages low")
    start.legend(fontsize=7, loc="lower right")
    report.save_figure(fig, out, NAME)


EXPERIMENT = Experiment(
    name=NAME,
    claim="An exponentially weighted average with beta averages about 1/(1-beta) days (2, 10, "
          "50 for 0.5, 0.9, 0.98), lagging more as beta grows; without bias correction it "
          "starts far too low",
    source="001 (notes), Exponentially weighted averages; Bias correction in exponentially "
           "weighted averages",
    run=run, minutes=0.1, quick_seconds=3)
