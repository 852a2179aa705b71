"""What every experiment writes: NAME.md, NAME.json and NAME.png in its output directory."""

from __future__ import annotations

import json
from pathlib import Path

from jaxdl.ensemble import markdown_table
from jaxdl.plots import _finish, _pyplot as pyplot

__all__ = ["markdown_table", "pyplot", "write", "comparison_table", "save_figure"]


def write(out, name: str, results: dict, markdown: str) -> None:
    """out/NAME.json (the measured results, JSON-ready) and out/NAME.md (the report)."""
    out = Path(out)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2, default=_plain) + "\n")
    (out / f"{name}.md").write_text(markdown if markdown.endswith("\n") else markdown + "\n")


def save_figure(fig, out, name: str) -> Path:
    """Save a matplotlib figure as out/NAME.png and close it."""
    path = Path(out) / f"{name}.png"
    _finish(fig, path)
    pyplot().close(fig)
    return path


def comparison_table(rows: list[tuple[str, str, str]]) -> str:
    """A markdown table of (quantity, the course's figure, jaxdl's figure) rows."""
    return markdown_table([{"quantity": q, "course": c, "jaxdl": m} for q, c, m in rows])


def _plain(value):
    return value.tolist() if hasattr(value, "tolist") else float(value)
