"""The registry of the course's claims: each experiment is a name, a claim, and a keyed run.

An experiment module defines `EXPERIMENT = Experiment(...)` whose `run(key, *, quick, out,
data_dir)` writes `out/NAME.md` (the course's figure beside the measured one), `out/NAME.json`
and `out/NAME.png`, and returns a `Verdict`. `run_experiment` times it, derives its key from
the root key by a stable index (the CRC-32 of its name, so adding an experiment changes no
other's numbers), records the verdict inside NAME.json, and `write_index` gathers every
NAME.json of a directory into its README.md.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, NamedTuple

import jax

from jaxdl import _io

# Experiment modules of jaxdl.experiments, in the order of the course (the listing's order).
MODULES = (
    "classic_neurons",
    "activation_statistics",
    "variance_demos",
    "loss_comparison",
    "optimizer_paths",
    "learning_rate",
    "ewa",
    "mini_batch",
    "overfitting",
    "capacity",
    "bias_variance",
    "regularization",
    "kfold",
    "search",
    "initialization",
    "vanishing_gradients",
    "batch_norm",
    "feature_scaling",
    "gradient_check",
    "sanity_checks",
    "mnist_course_recipe",
    "semi_supervised",
    "ensembles",
    "cifar10_fc",
    "mnist_cnn",
    "sequence_gru",
)

STATUSES = ("reproduced", "not reproduced", "skipped")


class Verdict(NamedTuple):
    """What an experiment found: `status` one of STATUSES, the course's figure and jaxdl's.

    `summary` is one line with the numbers; `numbers` the values a test asserts on;
    `skipped` means required data is absent (`summary` then says which files to put where).
    """

    status: str
    course: str
    measured: str
    summary: str
    numbers: dict

    @property
    def reproduced(self) -> bool:
        return self.status == "reproduced"


class Outcome(NamedTuple):
    """A finished run: the experiment, its verdict, wall time and the files it wrote."""

    name: str
    claim: str
    verdict: Verdict
    seconds: float
    quick: bool
    files: tuple[Path, ...]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One claim of the course. `source`: the course file and section it comes from.

    `minutes`: approximate time of a full run on a 2-core CPU; `quick_seconds`: of a quick one.
    `needs`: datasets the full run reads (e.g. ("mnist",)); `run(key, *, quick, out, data_dir)`.
    """

    name: str
    claim: str
    source: str
    run: Callable[..., Verdict]
    minutes: float
    quick_seconds: float
    needs: tuple[str, ...] = ()


def verdict(reproduced: bool, *, course: str, measured: str, summary: str,
            numbers: dict) -> Verdict:
    """A reproduced / not reproduced verdict."""
    return Verdict("reproduced" if reproduced else "not reproduced", course, measured,
                   summary, numbers)


def skipped(reason: str, *, course: str = "") -> Verdict:
    """The verdict of a run whose data is absent: `reason` says which files to put where."""
    return Verdict("skipped", course, "", reason, {})


def all_experiments() -> dict[str, Experiment]:
    """Every registered experiment by name, in the course's order."""
    experiments = {}
    for module_name in MODULES:
        experiment = importlib.import_module(f"jaxdl.experiments.{module_name}").EXPERIMENT
        experiments[experiment.name] = experiment
    return experiments


def get(name: str) -> Experiment:
    """The experiment called `name`; a KeyError lists the known names."""
    experiments = all_experiments()
    if name not in experiments:
        raise KeyError(f"no experiment {name!r}; known: {', '.join(experiments)}")
    return experiments[name]


def experiment_key(root, name: str):
    """The experiment's key: fold_in(root, crc32(name)), stable whatever else is registered."""
    return jax.random.fold_in(root, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def output_files(out: Path, name: str) -> tuple[Path, ...]:
    return tuple(out / f"{name}.{suffix}" for suffix in ("md", "json", "png"))


def run_experiment(experiment: Experiment, root_key, *, quick: bool, out, data_dir=None) -> Outcome:
    """Run one experiment into `out`: it writes into a staging directory, and only a run that
    returns moves its files over the previous ones (a failed rerun loses nothing). NAME.json
    becomes {name, claim, source, quick, seconds, verdict, results: what the run wrote}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=f".{experiment.name}.", suffix=".tmp"))
    try:
        start = time.perf_counter()
        result = experiment.run(experiment_key(root_key, experiment.name), quick=quick,
                                out=staging, data_dir=data_dir)
        seconds = time.perf_counter() - start
        if not isinstance(result, Verdict) or result.status not in STATUSES:
            raise TypeError(f"experiment {experiment.name!r} returned {result!r}; expected a "
                            f"Verdict with status one of {STATUSES}")
        json_path = staging / f"{experiment.name}.json"
        results = json.loads(json_path.read_text()) if json_path.exists() else {}
        record = {"name": experiment.name, "claim": experiment.claim,
                  "source": experiment.source, "quick": quick, "seconds": round(seconds, 2),
                  "verdict": {**result._asdict(), "numbers": _plain(result.numbers)},
                  "results": _plain(results)}
        json_path.write_text(json.dumps(record, indent=2) + "\n")
        files = []
        for staged in output_files(staging, experiment.name):
            if staged.exists():
                os.replace(staged, out / staged.name)
                files.append(out / staged.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Outcome(experiment.name, experiment.claim, result, seconds, quick, tuple(files))


def _plain(tree):
    """JSON-ready copy: arrays and numpy scalars become lists and Python numbers."""
    return json.loads(json.dumps(tree, default=lambda v: v.tolist() if hasattr(v, "tolist")
                                 else float(v)))


def write_index(out) -> Path:
    """out/README.md: one row per experiment recorded in out/*.json (claim, figures, verdict)."""
    out = Path(out)
    order = {name: i for i, name in enumerate(MODULES)}
    records = []
    for path in out.glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "verdict" in record and "claim" in record:
            records.append(record)
    records.sort(key=lambda r: (order.get(r["name"], len(order)), r["name"]))
    lines = ["# Experiments: the course's claims, measured by jaxdl", "",
             "Generated by `jaxdl experiments`; each row links the experiment's table and figure.",
             "", "| experiment | claim | course | jaxdl | verdict | run | files |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in records:
        v, name = r["verdict"], r["name"]
        links = " ".join(f"[{s}]({name}.{s})" for s in ("md", "png")
                         if (out / f"{name}.{s}").exists())
        mode = "quick" if r.get("quick") else "full"
        measured = v["summary"] if v["status"] == "skipped" else v["measured"]  # the reason
        lines.append(f"| {name} | {_cell(r['claim'])} | {_cell(v['course'])} | "
                     f"{_cell(measured)} | {v['status']} | {mode}, {r['seconds']:.0f} s | "
                     f"{links} |")
    index = out / "README.md"
    with _io.atomic_write(index) as file:
        file.write(("\n".join(lines) + "\n").encode())
    return index


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def listing() -> list[dict]:
    """One row per experiment: name, claim, source, approximate full and quick times."""
    return [{"name": e.name, "claim": e.claim, "source": e.source,
             "full": f"~{e.minutes:g} min", "quick": f"~{e.quick_seconds:g} s",
             "needs": ", ".join(e.needs) or "-"} for e in all_experiments().values()]


def run_many(names, root_key, *, quick: bool, out, data_dir=None,
             callback: Callable[[str, Outcome | None], None] | None = None) -> list[Outcome]:
    """Run the named experiments in order into `out`, then regenerate out/README.md.

    `callback(name, None)` is called before each run and `callback(name, outcome)` after it
    (the CLI's progress). An experiment that raises stops the batch; the outcomes so far
    are kept in out/README.md.
    """
    experiments = [get(name) for name in names]  # every name checked before any run
    outcomes = []
    try:
        for experiment in experiments:
            if callback is not None:
                callback(experiment.name, None)
            outcomes.append(run_experiment(experiment, root_key, quick=quick, out=out,
                                           data_dir=data_dir))
            if callback is not None:
                callback(experiment.name, outcomes[-1])
    finally:
        if outcomes:
            write_index(out)
    return outcomes


def summary_rows(outcomes) -> list[dict]:
    """The final summary table: experiment, verdict, course vs jaxdl, seconds."""
    return [{"experiment": o.name, "verdict": o.verdict.status, "course": o.verdict.course,
             "jaxdl": o.verdict.measured, "seconds": round(o.seconds, 1)} for o in outcomes]
