"""Hyperparameter search: grid vs random, log scale, coarse to fine (notes 001, "Tuning
process": "try random values: don't use a grid", coarse to fine, "Using an appropriate scale
to pick hyperparameters": r = -4 * rand(), alpha = 10^r, and 1 - beta = 10^r for momentum;
tutorial 000, "Grid search for hyperparameters"; lecture 003, random search in log space).

A cheap synthetic objective where one of two hyperparameters matters: score(lr, b) =
exp(-(log10 lr - c)^2 / (2 * 0.4^2)) * (1 - 0.05 (b - d)^2), lr in [1e-4, 1] (log scale),
b in [0, 1] (linear), the optimum (10^c, d) drawn at random per problem (c ~ U(-4, 0), d ~
U(0, 1)); 1,000 problems (quick: 200). With 9 trials, the 3 x 3 grid (`tune.grid`) tries 3
distinct learning rates, random search (`tune.sample`) 9, the tutorial's jittered grid
(`tune.grid(jitter=0.25)`) 9 near the grid's. Log scale: 10,000 draws of lr from
`tune.log_uniform(1e-4, 1)` vs a linear uniform, and of momentum from
`tune.one_minus_log_uniform(0.9, 0.999)` vs a linear uniform. Coarse to fine: 3 rounds of 9
random trials, each round in the space `tune.shrink` makes around the round's 3 best (margin
0.1), vs 27 random trials at once. Full runs also search a real model: a 64-32-10 MLP on
the embedded digits, Adam with lr in [1e-4, 1] (log) and L2 in [1e-6, 1e-4] (log: little
effect), 9 trials of 10 epochs each by `tune.grid_search` (no jitter) and `tune.random_search`.
Reproduced when random search's mean best score beats the grid's and it wins on more
problems than it loses, log scale puts 20-30 % of the draws in each decade (the linear draws
put about 90 % in the top one) and about half the momenta in [0.99, 0.999] (linear: 10 %),
and coarse to fine raises the mean best score from round 1 to round 3.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxdl import data, losses, nn, optim, regularizers, tune
from jaxdl.experiments import report
from jaxdl.experiments.registry import Experiment, verdict

NAME = "search"
WIDTH = 0.4  # std of the score's bump, in decades of lr
SPACE = {"lr": tune.log_uniform(1e-4, 1.0), "b": tune.uniform(0.0, 1.0)}


def score(lr, b, c, d):
    """The synthetic objective: a bump of width WIDTH decades at lr = 10^c, b barely matters."""
    return (np.exp(-(np.log10(lr) - c) ** 2 / (2 * WIDTH ** 2))
            * (1 - 0.05 * (np.asarray(b) - d) ** 2))


def _best(trials: dict, c, d) -> float:
    return float(np.max(score(np.asarray(trials["lr"]), np.asarray(trials["b"]), c, d)))


def grid_vs_random(key, problems: int) -> dict:
    """Best score of 9 trials per problem: plain grid, jittered grid, random."""
    optima = np.asarray(jax.random.uniform(jax.random.fold_in(key, 0), (problems, 2)))
    plain = tune.grid(SPACE, 3)
    best = {"grid": [], "jittered grid": [], "random": []}
    for p, (u_c, d) in enumerate(optima):
        c = -4.0 + 4.0 * u_c
        problem_key = jax.random.fold_in(key, p + 1)
        best["grid"].append(_best(plain, c, d))
        best["jittered grid"].append(_best(tune.grid(SPACE, 3, jitter=0.25, key=problem_key),
                                           c, d))
        best["random"].append(_best(tune.sample(SPACE, 9, key=problem_key), c, d))
    distinct = {"grid": len(set(np.round(plain["lr"], 12))),
                "random": len(set(np.round(tune.sample(SPACE, 9, key=key)["lr"], 12)))}
    return {"best": {k: np.asarray(v) for k, v in best.items()}, "distinct_lr": distinct}


def coarse_to_fine(key, problems: int, rounds: int = 3, trials: int = 9, keep: int = 3):
    """Best score so far after each round (problems, rounds), and 27 random trials at once."""
    optima = np.asarray(jax.random.uniform(jax.random.fold_in(key, 0), (problems, 2)))
    per_round, at_once, widths = [], [], []
    for p, (u_c, d) in enumerate(optima):
        c, space, best, history = -4.0 + 4.0 * u_c, SPACE, -np.inf, []
        problem_key = jax.random.fold_in(key, p + 1)
        for r in range(rounds):
            values = tune.sample(space, trials, key=jax.random.fold_in(problem_key, r))
            scores = score(values["lr"], values["b"], c, d)
            best = max(best, float(scores.max()))
            history.append(best)
            top = np.argsort(-scores)[:keep]
            if r + 1 < rounds:
                space = tune.shrink(space, {n: np.asarray(values[n])[top] for n in space},
                                    margin=0.1)
        widths.append(np.log10(space["lr"].high / space["lr"].low))
        per_round.append(history)
        at_once.append(_best(tune.sample(SPACE, rounds * trials,
                                         key=jax.random.fold_in(problem_key, rounds)), c, d))
    return np.asarray(per_round), np.asarray(at_once), np.asarray(widths)


def scale_fractions(key, n: int = 10_000) -> dict:
    """Share of lr draws per decade of [1e-4, 1] and of momenta in [0.99, 0.999]."""
    lr_log = tune.log_uniform(1e-4, 1.0).sample(jax.random.fold_in(key, 0), n)
    lr_lin = tune.uniform(1e-4, 1.0).sample(jax.random.fold_in(key, 1), n)
    beta_log = tune.one_minus_log_uniform(0.9, 0.999).sample(jax.random.fold_in(key, 2), n)
    beta_lin = tune.uniform(0.9, 0.999).sample(jax.random.fold_in(key, 3), n)
    decades = [(10.0 ** e, 10.0 ** (e + 1)) for e in range(-4, 0)]
    share = lambda v, lo, hi: float(np.mean((v >= lo) & (v < hi)))
    return {"decades": [f"[{lo:g}, {hi:g})" for lo, hi in decades],
            "lr_log": [share(lr_log, lo, hi) for lo, hi in decades],
            "lr_linear": [share(lr_lin, lo, hi) for lo, hi in decades],
            "beta_log_top": share(beta_log, 0.99, 0.9991),
            "beta_linear_top": share(beta_lin, 0.99, 0.9991)}


def real_search(key) -> dict:
    """9 grid and 9 random trials of an MLP on the digits: best dev accuracy and lr of each."""
    splits = data.standardize_splits(data.split(data.load("digits"), (0.7, 0.15, 0.15),
                                                key=jax.random.fold_in(key, 0)))
    model = nn.serial(nn.flatten, nn.dense(32), nn.relu, nn.dense(10))
    space = {"lr": tune.log_uniform(1e-4, 1.0), "l2": tune.log_uniform(1e-6, 1e-4)}
    common = dict(space=space, key=jax.random.fold_in(key, 1), epochs=10, batch_size=32,
                  regularizer=lambda hp: regularizers.l2(hp["l2"]), verbose=False)
    grid = tune.grid_search(model, lambda hp: optim.adam(hp["lr"]),
                            losses.softmax_cross_entropy, splits, points=3, jitter=0.0,
                            **common)
    rand = tune.random_search(model, lambda hp: optim.adam(hp["lr"]),
                              losses.softmax_cross_entropy, splits, trials=9, **common)
    return {name: {"best_dev_accuracy": found.best[found.monitor],  # the ranking column
                   "lr": found.best["lr"], "l2": found.best["l2"],
                   "distinct_lr": len({round(r["lr"], 12) for r in found.table}),
                   "table": [{"lr": r["lr"], "l2": r["l2"], "dev_accuracy": r[found.monitor]}
                             for r in found.table]}
            for name, found in (("grid", grid), ("random", rand))}


def run(key, *, quick: bool, out, data_dir=None):
    problems = 200 if quick else 1000
    gvr = grid_vs_random(jax.random.fold_in(key, 0), problems)
    best = gvr["best"]
    wins = float(np.mean(best["random"] > best["grid"]))
    losses_ = float(np.mean(best["random"] < best["grid"]))
    fractions = scale_fractions(jax.random.fold_in(key, 1))
    per_round, at_once, widths = coarse_to_fine(jax.random.fold_in(key, 2), problems // 2)
    rounds_mean = per_round.mean(axis=0)
    real = None if quick else real_search(jax.random.fold_in(key, 3))
    ok = bool(best["random"].mean() > best["grid"].mean() and wins > losses_
              and all(0.2 <= f <= 0.3 for f in fractions["lr_log"])
              and fractions["lr_linear"][-1] > 0.85
              and 0.4 <= fractions["beta_log_top"] <= 0.6
              and fractions["beta_linear_top"] < 0.15
              and rounds_mean[-1] > rounds_mean[0])
    rows = [{"search (9 trials)": label, "distinct lr values": n_lr,
             "mean best score": f"{best[name].mean():.3f}",
             "worst best score": f"{best[name].min():.3f}"}
            for name, label, n_lr in (("grid", "3 x 3 grid", 3),
                                      ("jittered grid", "jittered grid (0.25)", 9),
                                      ("random", "random", 9))]
    table = report.comparison_table([
        ("distinct values of the important hyperparameter, 9 trials", "grid 3, random 9",
         f"grid {gvr['distinct_lr']['grid']}, random {gvr['distinct_lr']['random']}"),
        ("random vs grid, mean best score", "random is better",
         f"{best['random'].mean():.3f} vs {best['grid'].mean():.3f}; random wins "
         f"{wins:.0%}, loses {losses_:.0%} of {problems} problems"),
        ("lr ~ 10^U(-4, 0): share per decade 1e-4..1", "uniform in log scale",
         ", ".join(f"{f:.1%}" for f in fractions["lr_log"])),
        ("lr ~ U(1e-4, 1): share per decade", "wastes the small values",
         ", ".join(f"{f:.1%}" for f in fractions["lr_linear"])),
        ("beta = 1 - 10^U(-3, -1): share in [0.99, 0.999]", "as much as in [0.9, 0.99]",
         f"{fractions['beta_log_top']:.1%} (linear: {fractions['beta_linear_top']:.1%})"),
        ("coarse to fine, mean best after rounds 1, 2, 3 (9 trials each)",
         "zoom in where it is good", ", ".join(f"{v:.3f}" for v in rounds_mean)
         + f" (27 random at once: {at_once.mean():.3f}); final lr range "
           f"{np.median(widths):.2f} decades (median; from 4)"),
    ] + ([] if real is None else [
        ("digits MLP, 9 trials: best dev accuracy", "random finds a better lr",
         f"grid {real['grid']['best_dev_accuracy']:.4f} (lr {real['grid']['lr']:.2g}, "
         f"{real['grid']['distinct_lr']} lrs), random {real['random']['best_dev_accuracy']:.4f}"
         f" (lr {real['random']['lr']:.2g}, {real['random']['distinct_lr']} lrs)")]))
    markdown = (f"# Hyperparameter search: grid vs random, log scale, coarse to fine\n\n"
                f"{__doc__.split(chr(10) * 2)[1]}\n\n{table}\n## Synthetic objective, "
                f"{problems} problems\n\n" + report.markdown_table(rows))
    results = {"problems": problems, "best": best, "distinct_lr": gvr["distinct_lr"],
               "wins": wins, "losses": losses_, "fractions": fractions,
               "coarse_to_fine": {"per_round_mean": rounds_mean, "at_once_mean": at_once.mean(),
                                  "final_lr_decades": widths},
               "real": real}
    report.write(out, NAME, results, markdown)
    report.save_figure(_figure(jax.random.fold_in(key, 4), fractions), out, NAME)
    return verdict(ok, course="random search beats a grid when one hyperparameter matters; "
                              "sample on a log scale; coarse to fine",
                   measured=f"random {best['random'].mean():.3f} vs grid "
                            f"{best['grid'].mean():.3f}; coarse to fine "
                            + " -> ".join(f"{v:.3f}" for v in rounds_mean),
                   summary=f"9 trials on {problems} problems: random mean best "
                           f"{best['random'].mean():.3f} vs grid {best['grid'].mean():.3f} "
                           f"(wins {wins:.0%}); log-scale decades "
                           + "/".join(f"{f:.0%}" for f in fractions["lr_log"])
                           + "; coarse to fine " + " -> ".join(f"{v:.3f}" for v in rounds_mean)
                           + ("" if real is None else
                              f"; digits grid {real['grid']['best_dev_accuracy']:.3f} vs "
                              f"random {real['random']['best_dev_accuracy']:.3f}"),
                   numbers={"random_mean": float(best["random"].mean()),
                            "grid_mean": float(best["grid"].mean()),
                            "jittered_mean": float(best["jittered grid"].mean()),
                            "wins": wins, "losses": losses_,
                            "distinct_lr": gvr["distinct_lr"], "fractions": fractions,
                            "rounds_mean": rounds_mean.tolist(),
                            "at_once_mean": float(at_once.mean())})


def _figure(key, fractions):
    pyplot = report.pyplot()
    fig, (ax_grid, ax_rand, ax_scale) = pyplot.subplots(1, 3, figsize=(16, 4.5))
    c, d = -1.7, 0.4
    lr = np.logspace(-4, 0, 200)
    b = np.linspace(0, 1, 100)
    surface = score(lr[None, :], b[:, None], c, d)
    for ax, trials, title in ((ax_grid, tune.grid(SPACE, 3), "3 x 3 grid: 3 learning rates"),
                              (ax_rand, tune.sample(SPACE, 9, key=key),
                               "9 random trials: 9 learning rates")):
        ax.contourf(lr, b, surface, levels=20, cmap="viridis")
        ax.scatter(trials["lr"], trials["b"], c="r", s=40)
        for x in trials["lr"]:
            ax.axvline(x, color="r", lw=0.5, alpha=0.5)
        ax.set(xscale="log", xlabel="lr (matters)", ylabel="b (barely matters)", title=title)
    width = 0.35
    positions = np.arange(len(fractions["decades"]))
    ax_scale.bar(positions - width / 2, fractions["lr_log"], width, label="10^U(-4, 0)")
    ax_scale.bar(positions + width / 2, fractions["lr_linear"], width, label="U(1e-4, 1)")
    ax_scale.set_xticks(positions, fractions["decades"])
    ax_scale.set(ylabel="share of draws", title="learning-rate draws per decade")
    ax_scale.legend()
    return fig


EXPERIMENT = Experiment(
    name=NAME,
    claim="Random search beats a grid when hyperparameters differ in importance; sample on a "
          "log scale; zoom in coarse to fine",
    source="001 (notes), Tuning process and Using an appropriate scale; 000 (tutorial), Grid "
           "search; 003 (lecture), random search in log space",
    run=run, minutes=1, quick_seconds=6)
