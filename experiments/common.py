"""Shared by the experiment scripts: where real data and results live, and result writing."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"


def mnist_dir() -> Path:
    """$JAXDL_MNIST_DIR, else the checkout's sibling shared/datasets/mnist."""
    return Path(os.environ.get("JAXDL_MNIST_DIR", REPO.parent / "shared" / "datasets" / "mnist"))


def write_results(name: str, payload: dict, markdown: str) -> Path:
    """Write results/<name>.json and results/<name>.md; returns the results directory."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown)
    return RESULTS
