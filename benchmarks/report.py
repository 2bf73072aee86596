"""Collect benchmark results (reports/benchmarks/*.json) into reports/benchmarks.md.

Each benchmark script writes one JSON file: {"title", "machine", "command", "columns", "rows", "notes"}.
"""
from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "reports" / "benchmarks"
sys.path.insert(0, str(REPO))

from emohead.files import write_json_atomic, write_text_atomic  # noqa: E402


def machine() -> str:
    """A one-line description of where the benchmark ran."""
    import os

    import torch

    desc = f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    if torch.cuda.is_available():
        desc += f", {torch.cuda.get_device_name(0)}"
    return desc


def save_result(name: str, result: dict, results_dir: Path = RESULTS) -> Path:
    """Write one benchmark's JSON; regenerate reports/benchmarks.md when writing into reports/."""
    path = write_json_atomic(results_dir / f"{name}.json", result)
    if results_dir.resolve() == RESULTS.resolve():
        render_markdown(results_dir)
    return path


def render_markdown(results_dir: Path = RESULTS, out: Path | None = None) -> Path:
    out = out or results_dir.parent / "benchmarks.md"
    lines = ["# Benchmarks", "",
             "Measured by the scripts in `benchmarks/`; each table says the command and machine. "
             "All data is the embedded synthetic world.", ""]
    for path in sorted(results_dir.glob("*.json")):
        r = json.loads(path.read_text())
        lines += [f"## {r['title']}", "", f"Machine: {r['machine']}  ", f"Command: `{r['command']}`", ""]
        cols = r["columns"]
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(str(row.get(c, "")) for c in cols) + " |" for row in r["rows"]]
        for note in r.get("notes", []):
            lines += ["", note]
        lines.append("")
    return write_text_atomic(out, "\n".join(lines))


if __name__ == "__main__":
    print(render_markdown())
