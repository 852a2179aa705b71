"""Run one registered experiment in quick mode for a test, checking what every run writes."""

import json

import jax

from jaxdl import experiments


def run_quick(name: str, out):
    """Run experiment `name` quick into `out`; assert NAME.md/.json/.png were written (the
    figure a real one) and NAME.json records the returned verdict; return that verdict."""
    outcome = experiments.run_experiment(experiments.get(name), jax.random.key(0), quick=True,
                                         out=out)
    assert {p.name for p in outcome.files} == {f"{name}.{s}" for s in ("md", "json", "png")}
    for suffix in ("md", "json"):
        assert (out / f"{name}.{suffix}").stat().st_size > 200, suffix
    assert (out / f"{name}.png").stat().st_size > 10_000
    record = json.loads((out / f"{name}.json").read_text())
    assert record["verdict"]["status"] == outcome.verdict.status
    return outcome.verdict
