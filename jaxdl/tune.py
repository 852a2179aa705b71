"""Hyperparameter search: search spaces, random search, jittered grids, coarse-to-fine.

```python
space = {"lr": tune.log_uniform(1e-4, 1e-1), "l2": tune.log_uniform(1e-6, 1e-2),
         "momentum": tune.one_minus_log_uniform(0.9, 0.999),
         "hidden": tune.choice([(256,), (128, 64)])}           # structural: a host loop
found = tune.random_search(build_model, make_opt, loss, splits, space=space, trials=64,
                           key=key, epochs=10, batch_size=100)
found.best, found.top(5)
```

Every trial of a search runs as a member of `ensemble.sweep`: the numeric dimensions are
vmapped (one compiled program per combination of the structural `choice` values), in
chunks of `members_per_call` trials. The builders get `hp`, a dict of the trial's values.
A trial that diverges (NaN, or a loss above 3x its initial loss) is marked in the table
("stopped": "nan"/"exploding") and leaves the other trials unchanged.

Coordinates. Each numeric dimension maps its range onto the unit interval u in [0, 1]:
log_uniform(a, b) by u = (log10 x - log10 a) / (log10 b - log10 a); one_minus_log_uniform(a,
b) (momentum-like, beta = 1 - 10^r) by the same on log10(1 - x); uniform(a, b) linearly.
Sampling draws u ~ U[0, 1); grids space u evenly; jitter and shrinking act on u.
Keys: samples of dimension `name` use fold_in(fold_in(key, SAMPLE), crc32(name)), training uses
fold_in(key, TRAIN), and round r of `coarse_to_fine` uses fold_in(key, r).
"""

from __future__ import annotations

import dataclasses
import warnings
import zlib
from typing import NamedTuple, Sequence

import jax
import numpy as np

from jaxdl import ensemble
from jaxdl._checks import check_positive_int, check_range

SAMPLE, TRAIN = 0, 1  # fold_in indices of a search's sampling and training keys


# ----------------------------------------------------------------------------- spaces


def _natural(kind: str, x):
    """The coordinate in which `kind` is uniform: log10 x, log10(1 - x), or x."""
    x = np.asarray(x, np.float64)
    return {"log_uniform": np.log10, "one_minus_log_uniform": lambda v: np.log10(1 - v),
            "uniform": lambda v: v}[kind](x)


def _from_natural(kind: str, r):
    r = np.asarray(r, np.float64)
    return {"log_uniform": lambda v: 10 ** v, "one_minus_log_uniform": lambda v: 1 - 10 ** v,
            "uniform": lambda v: v}[kind](r)


@dataclasses.dataclass(frozen=True)
class Range:
    """A numeric dimension from `low` to `high`, uniform in the coordinate of `kind`."""

    kind: str
    low: float
    high: float

    def to_unit(self, values) -> np.ndarray:
        """u in [0, 1]: 0 at `low`, 1 at `high`, linear in the natural coordinate."""
        lo, hi = _natural(self.kind, self.low), _natural(self.kind, self.high)
        return (_natural(self.kind, values) - lo) / (hi - lo)

    def from_unit(self, u) -> np.ndarray:
        lo, hi = _natural(self.kind, self.low), _natural(self.kind, self.high)
        values = _from_natural(self.kind, lo + np.asarray(u, np.float64) * (hi - lo))
        return np.clip(values, min(self.low, self.high), max(self.low, self.high))

    def sample(self, key, n: int) -> np.ndarray:
        """n values from u ~ U[0, 1) (so log_uniform is 10**uniform(log10 a, log10 b))."""
        return self.from_unit(np.asarray(jax.random.uniform(key, (n,)), np.float64))

    def grid(self, n: int) -> np.ndarray:
        """n values evenly spaced in u (the midpoint for n = 1)."""
        return self.from_unit(np.linspace(0, 1, n) if n > 1 else np.array([0.5]))

    def between(self, u_low: float, u_high: float) -> "Range":
        """The same kind of range over the unit interval [u_low, u_high] of this one."""
        low, high = self.from_unit([u_low, u_high])
        return Range(self.kind, float(low), float(high))


@dataclasses.dataclass(frozen=True)
class Choice:
    """A dimension taking one of `options`; structural (one program per option) unless
    `numeric` (then its values are vmapped like a range's)."""

    options: tuple
    numeric: bool = False

    def sample(self, key, n: int) -> list:
        picks = np.asarray(jax.random.randint(key, (n,), 0, len(self.options)))
        return [self.options[i] for i in picks]

    def grid(self, n: int) -> list:
        del n
        return list(self.options)


def log_uniform(low: float, high: float) -> Range:
    """x = 10**r with r ~ U(log10 low, log10 high) (learning rates, L2 factors); 0 < low < high."""
    check_range("log_uniform", "low", low, low=0.0, low_open=True)
    check_range("log_uniform", "high", high, low=low, low_open=True)
    return Range("log_uniform", float(low), float(high))


def one_minus_log_uniform(low: float, high: float) -> Range:
    """beta = 1 - 10**r with r ~ U(log10(1 - low), log10(1 - high)) (momentum, Adam's beta:
    [0.9, 0.999] spends as many trials on 0.99..0.999 as on 0.9..0.99); 0 <= low < high < 1."""
    check_range("one_minus_log_uniform", "low", low, low=0.0, high=1.0, high_open=True)
    check_range("one_minus_log_uniform", "high", high, low=low, high=1.0, low_open=True,
                high_open=True)
    return Range("one_minus_log_uniform", float(low), float(high))


def uniform(low: float, high: float) -> Range:
    """x ~ U(low, high) (keep probabilities, init scales); low < high."""
    check_range("uniform", "low", low)
    check_range("uniform", "high", high, low=low, low_open=True)
    return Range("uniform", float(low), float(high))


def choice(options: Sequence, *, numeric: bool = False) -> Choice:
    """One of `options`, each equally likely. Structural by default (layer sizes, activation,
    optimizer kind: a host loop); `numeric=True` vmaps numeric options instead."""
    options = tuple(options)
    if not options:
        raise ValueError("choice: options must not be empty")
    if numeric:
        for option in options:
            check_range("choice", "options", option)
    return Choice(options, numeric)


def _check_space(where: str, space: dict) -> dict:
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{where}: space must be a non-empty dict name -> dimension, got "
                         f"{space!r}")
    for name, dim in space.items():
        if not isinstance(dim, (Range, Choice)):
            raise TypeError(f"{where}: space[{name!r}] must be made by log_uniform, "
                            f"one_minus_log_uniform, uniform or choice, got {dim!r}")
    return space


def _name_key(key, name: str):
    return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def sample(space: dict, n: int, *, key) -> dict:
    """n random trials: name -> n values (a list for a structural choice)."""
    space = _check_space("sample", space)
    n = check_positive_int("sample", "trials", n)
    return {name: dim.sample(_name_key(key, name), n) for name, dim in space.items()}


def grid(space: dict, points, *, key=None, jitter: float = 0.0) -> dict:
    """Every combination of `points` values per numeric dimension (an int for all, or a
    dict name -> int) and every option of each choice; the first name varies slowest.
    `jitter` in [0, 0.5) moves each trial's u by U(-jitter, jitter) x the grid spacing
    1 / (points - 1), clipped to [0, 1] (needs `key`)."""
    space = _check_space("grid", space)
    check_range("grid", "jitter", jitter, low=0.0, high=0.5, high_open=True)
    if jitter and key is None:
        raise ValueError("grid: jitter > 0 needs a key")
    counts = {}
    for name, dim in space.items():
        given = points.get(name, 1) if isinstance(points, dict) else points
        counts[name] = check_positive_int("grid", f"points[{name!r}]", given)
    axes = [space[name].grid(counts[name]) for name in space]
    index = np.stack(np.meshgrid(*[np.arange(len(a)) for a in axes], indexing="ij"),
                     -1).reshape(-1, len(axes))
    out = {}
    for j, (name, dim) in enumerate(space.items()):
        picked = [axes[j][i] for i in index[:, j]]
        if isinstance(dim, Range):
            u = dim.to_unit(np.asarray(picked, np.float64))
            if jitter and counts[name] > 1:
                noise = np.asarray(jax.random.uniform(_name_key(key, name), (len(u),),
                                                      minval=-jitter, maxval=jitter))
                u = np.clip(u + noise / (counts[name] - 1), 0.0, 1.0)
            picked = dim.from_unit(u)
        out[name] = picked
    return out


def shrink(space: dict, values: dict, *, margin: float = 0.1) -> dict:
    """A smaller space around `values` (name -> values of the best trials): each range
    becomes [min u - margin, max u + margin] (clipped to its [0, 1]) of its unit interval;
    each choice keeps the options the best trials used."""
    check_range("shrink", "margin", margin, low=0.0)
    out = {}
    for name, dim in _check_space("shrink", space).items():
        if isinstance(dim, Range):
            u = dim.to_unit(np.asarray(values[name], np.float64))
            out[name] = dim.between(max(0.0, float(u.min()) - margin),
                                    min(1.0, float(u.max()) + margin))
        else:
            out[name] = Choice(tuple(o for o in dim.options if o in list(values[name])),
                               dim.numeric)
    return out


# ----------------------------------------------------------------------------- searches


class SearchResult(NamedTuple):
    """A search's trials: `table` (one row per trial and seed, with "round" and "trial"),
    `best` (the row with the best monitored value, as in `ensemble.EnsembleResult`),
    `results` (the EnsembleResult of each sweep call; their tables carry the same "trial"
    ids), `spaces` (the space of each round), `monitor` (the ranking column: the dev
    metric at the epoch of the returned params), `maximize` (whether larger values of it
    rank first), `sources` ((result index, member index) of each row; see `member`)."""

    table: list
    best: dict
    results: list
    spaces: list
    monitor: str
    maximize: bool = True
    sources: tuple = ()

    def top(self, n: int = 10) -> list:
        """The n best rows by the monitored value (NaN last)."""
        return ensemble.ranked(self.table, self.monitor, self.maximize)[:n]

    @property
    def best_index(self) -> int:
        """The index of `best` in `table`."""
        return self.table.index(self.best)

    def member(self, i: int):
        """(model, params, model_state) of the trial in row i of `table` (row i is trial i
        with one seed and one round), from the sweep that trained it."""
        i = check_positive_int("member", "i", i, minimum=0)
        if i >= len(self.sources):
            raise ValueError(f"member: i must be below the {len(self.table)} rows, got {i}")
        result, index = self.sources[i]
        return self.results[result].member(index)


def _structural(space: dict) -> list:
    return [n for n, d in space.items() if isinstance(d, Choice) and not d.numeric]


class _RecordingHp(dict):
    """A trial's hp that records which names the builders read."""

    def __init__(self, values: dict):
        super().__init__(values)
        self.read: set = set()

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)


def unread_names(builders, values: dict) -> list:
    """The names of `values` (name -> per-trial values) that no builder (`hp -> ...`
    functions; Layers, optimizers and None are skipped) reads when given the first trial's
    hp. Empty when a builder fails on it: the sweep then reports the error itself."""
    hp = _RecordingHp({name: v[0] for name, v in values.items()})
    try:
        for build in builders:
            if callable(build) and not isinstance(build, tuple):  # optax transforms are tuples
                build(hp)
    except Exception:  # noqa: BLE001 - the sweep raises it with its own context
        return []
    return [name for name in values if name not in hp.read]


def run_trials(model, make_opt, loss, data, *, space: dict, values: dict, key, epochs: int,
               batch_size: int, seeds=1, members_per_call: int | None = None,
               round_index: int = 0, monitor: str | None = None, verbose: bool = True,
               **sweep_kwargs) -> SearchResult:
    """Train the trials `values` (name -> one value per trial): one `ensemble.sweep` per
    combination of structural values, its numeric values zipped and vmapped, at most
    `members_per_call` members at a time. `monitor` ranks the rows (a table column;
    default: the sweeps' own, the dev accuracy (else loss) at the epoch of the returned
    params: final_dev_accuracy, or best_dev_accuracy with early stopping; final_train_loss
    without a dev set); its direction follows the metric (`metrics.maximized`)."""
    space = _check_space("run_trials", space)
    unread = unread_names((model, make_opt, sweep_kwargs.get("regularizer")), values)
    if unread:
        warnings.warn(f"tune: space entries {', '.join(map(repr, unread))} are never read by "
                      "the model, make_opt or regularizer builders: every value trains the "
                      "same network, yet the table and best row report them", stacklevel=3)
    structural = _structural(space)
    numeric = [n for n in space if n not in structural]
    groups: dict = {}
    for t in range(len(next(iter(values.values())))):
        groups.setdefault(tuple(values[n][t] for n in structural), []).append(t)
    rows, results, sources = [], [], []
    for static_values, indices in groups.items():
        hparams = {n: np.asarray(values[n], np.float64)[indices] for n in numeric}
        result = ensemble.sweep(model, make_opt, loss, data, hparams=hparams, key=key,
                                epochs=epochs, batch_size=batch_size, seeds=seeds,
                                combine="zip", static=dict(zip(structural, static_values)),
                                members_per_call=members_per_call, verbose=verbose,
                                **sweep_kwargs)
        per_trial = len(result.table) // (len(indices) if numeric else 1)
        # the sweep's rows with the search's trial ids (without numeric dimensions, equal
        # trials are one run: each trial gets a copy of its rows, the sweep the first)
        table = [{"round": round_index, "trial": indices[i // per_trial if numeric else 0],
                  **{k: v for k, v in row.items() if k != "trial"}}
                 for i, row in enumerate(result.table)]
        for i, row in enumerate(table):
            for trial in ([row["trial"]] if numeric else indices):
                rows.append(row if trial == row["trial"] else {**row, "trial": trial})
                sources.append((len(results), i))
        results.append(result._replace(table=table, best=table[result.best_index]))
    order = sorted(range(len(rows)), key=lambda r: (rows[r]["trial"], rows[r]["seed"]))
    rows, sources = [rows[r] for r in order], tuple(sources[r] for r in order)
    monitor = monitor or results[0].monitor
    if monitor not in rows[0]:
        columns = [k for k in rows[0] if k.startswith(("best_", "final_"))]
        raise ValueError(f"run_trials: monitor {monitor!r} is not a table column; choose "
                         f"one of {', '.join(columns)}")
    maximize = ensemble.maximize(monitor, results[0].metrics)
    return SearchResult(rows, ensemble.ranked(rows, monitor, maximize)[0], results, [space],
                        monitor, maximize, sources)


def random_search(model, make_opt, loss, data, *, space: dict, trials: int, key,
                  epochs: int, batch_size: int, **kwargs) -> SearchResult:
    """`trials` random points of `space` (keyed), trained as sweeps (see `run_trials`)."""
    values = sample(space, trials, key=jax.random.fold_in(key, SAMPLE))
    return run_trials(model, make_opt, loss, data, space=space, values=values,
                      key=jax.random.fold_in(key, TRAIN), epochs=epochs,
                      batch_size=batch_size, **kwargs)


def grid_search(model, make_opt, loss, data, *, space: dict, points, key, epochs: int,
                batch_size: int, jitter: float = 0.1, **kwargs) -> SearchResult:
    """Every point of `grid(space, points, jitter=jitter)`, trained as sweeps."""
    values = grid(space, points, key=jax.random.fold_in(key, SAMPLE), jitter=jitter)
    return run_trials(model, make_opt, loss, data, space=space, values=values,
                      key=jax.random.fold_in(key, TRAIN), epochs=epochs,
                      batch_size=batch_size, **kwargs)


def coarse_to_fine(model, make_opt, loss, data, *, space: dict, trials: int, key, epochs,
                   batch_size: int, rounds: int = 2, keep: int | float = 0.25,
                   margin: float = 0.1, **kwargs) -> SearchResult:
    """Random search in rounds: after each, `shrink` the space around the `keep` best trials
    (a count, or a fraction of `trials`) and search again with more epochs.

    `epochs`: one int per round, or an int doubled each round (e.g. 5 -> 5, 10, 20).
    The table holds every round's trials (column "round"); `best` is over all rounds.
    """
    rounds = check_positive_int("coarse_to_fine", "rounds", rounds)
    trials = check_positive_int("coarse_to_fine", "trials", trials)
    if isinstance(epochs, (int, np.integer)) and not isinstance(epochs, bool):
        per_round = [int(epochs) * 2 ** r for r in range(rounds)]
    else:
        per_round = list(epochs)
        if len(per_round) != rounds:
            raise ValueError(f"coarse_to_fine: epochs must be an int or one per round "
                             f"({rounds}), got {per_round}")
    if isinstance(keep, float):
        check_range("coarse_to_fine", "keep", keep, low=0.0, high=1.0, low_open=True)
        keep = max(1, int(round(keep * trials)))
    keep = check_positive_int("coarse_to_fine", "keep", keep)
    rows, results, spaces, sources = [], [], [], []
    current = _check_space("coarse_to_fine", space)
    for r in range(rounds):
        found = random_search(model, make_opt, loss, data, space=current, trials=trials,
                              key=jax.random.fold_in(key, r), epochs=per_round[r],
                              batch_size=batch_size, round_index=r, **kwargs)
        rows += found.table
        sources += [(len(results) + result, i) for result, i in found.sources]
        results += found.results
        spaces.append(current)
        if r + 1 < rounds:
            best = found.top(keep)
            current = shrink(current, {n: [row[n] for row in best] for n in current},
                             margin=margin)
    return SearchResult(rows, ensemble.ranked(rows, found.monitor, found.maximize)[0],
                        results, spaces, found.monitor, found.maximize, tuple(sources))


def to_json(found: SearchResult) -> dict:
    """A search as JSON data: monitor, best row, the space of each round, every row."""
    def row(r):
        return {k: ensemble.jsonable(v) for k, v in r.items()}
    return {"monitor": found.monitor, "best": row(found.best),
            "spaces": [space_json(space) for space in found.spaces],
            "table": [row(r) for r in found.table]}


def space_json(space: dict) -> dict:
    """A JSON-able description of a space."""
    return {name: (dataclasses.asdict(dim) if isinstance(dim, Range)
                   else {"options": [list(o) if isinstance(o, tuple) else o
                                     for o in dim.options], "numeric": dim.numeric})
            for name, dim in space.items()}


def parse_range(text: str) -> Range:
    """A Range from "LOW:HIGH" (uniform), "LOW:HIGH:log" or "LOW:HIGH:1-log"."""
    parts = text.split(":")
    kinds = {"": uniform, "lin": uniform, "log": log_uniform, "1-log": one_minus_log_uniform}
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in kinds):
        raise ValueError(f"expected LOW:HIGH, LOW:HIGH:log or LOW:HIGH:1-log, got {text!r}")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"expected numbers in LOW:HIGH[:log|:1-log], got {text!r}") from None
    return kinds[parts[2] if len(parts) == 3 else ""](low, high)
