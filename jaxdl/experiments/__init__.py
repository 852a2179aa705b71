"""The course's claims as named, runnable, tested experiments (`jaxdl experiments`).

    from jaxdl import experiments
    outcome = experiments.run_experiment(experiments.get("classic_neurons"), jax.random.key(0),
                                         quick=True, out="results/quick")
    outcome.verdict.status, outcome.verdict.summary

Each experiment module defines `EXPERIMENT`; `registry.MODULES` lists them in the course's
order. See `registry` for the protocol.
"""

from jaxdl.experiments.registry import (Experiment, Outcome, Verdict, all_experiments, get,
                                        listing, run_experiment, run_many, skipped,
                                        summary_rows, verdict, write_index)

__all__ = ["Experiment", "Outcome", "Verdict", "all_experiments", "get", "listing",
           "run_experiment", "run_many", "skipped", "summary_rows", "verdict", "write_index"]
