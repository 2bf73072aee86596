"""The timings of a whole `emohead reproduce` run as a benchmark table (reports/benchmarks.md).

    python benchmarks/reproduce_timings.py reports/gpu            # writes reports/benchmarks/reproduce_gpu.json

Reads each notebook's ``done.json`` (wall-clock seconds of its Papermill run) and ``metrics.json`` (the training
rates it measured), checks them against the budget of issue 22 (under 25 minutes in all, no notebook over 9) and
regenerates reports/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import RESULTS, save_result  # noqa: E402

from emohead.reproduce import list_notebooks  # noqa: E402

BUDGET_NOTEBOOK_S, BUDGET_TOTAL_S = 9 * 60, 25 * 60


def timings(folder: Path) -> dict:
    """The benchmark result for the run in ``folder`` (an ``emohead reproduce --out`` folder)."""
    rows, total = [], 0.0
    names = [p.stem for p in list_notebooks(Path(__file__).resolve().parents[1] / "notebooks")]
    for name in names:
        done = json.loads((folder / name / "done.json").read_text(encoding="utf-8"))
        seconds = float(done["seconds"])
        total += seconds
        rows.append({"notebook": name, "seconds": f"{seconds:.1f}", "minutes": f"{seconds / 60:.2f}",
                     "budget (s)": BUDGET_NOTEBOOK_S, "met": "yes" if seconds < BUDGET_NOTEBOOK_S else "no"})
    rows.append({"notebook": "all seven", "seconds": f"{total:.1f}", "minutes": f"{total / 60:.2f}",
                 "budget (s)": BUDGET_TOTAL_S, "met": "yes" if total < BUDGET_TOTAL_S else "no"})
    ref = json.loads((folder / "reference.json").read_text(encoding="utf-8"))
    m03 = json.loads((folder / "03_audio_expression" / "metrics.json").read_text(encoding="utf-8"))
    m04 = json.loads((folder / "04_nerf_rendering" / "metrics.json").read_text(encoding="utf-8"))
    machine = next((line[len("Measured on "):].split(":")[0] for line in
                    (folder / "summary.md").read_text(encoding="utf-8").splitlines()
                    if line.startswith("Measured on ")), "unknown")          # the cost paragraph names the GPU
    return {"title": f"Whole reproduction on one GPU (reproduce_{ref['profile']})",
            "machine": machine,
            "command": f"emohead reproduce --profile {ref['profile']} --out DIR (in commands of at most 10 minutes, "
                       f"resuming; commit {ref['commit']})",
            "columns": ["notebook", "seconds", "minutes", "budget (s)", "met"], "rows": rows,
            "notes": [f"Training rates measured inside the run: audio-expression {m03['iterations_per_second']:.1f} it/s "
                      f"({m03['iterations']} iterations, notebook 03), NeRF {m04['iterations_per_second']:.1f} it/s "
                      f"({m04['iterations']} iterations, both stages, notebook 04).",
                      "Seconds are each notebook's Papermill wall clock from its done.json, from an empty run folder."]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="the reproduce output folder (e.g. reports/gpu)")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    result = timings(args.folder)
    name = result["title"].split("(")[-1].rstrip(")")
    print(save_result(name, result, args.results))


if __name__ == "__main__":
    main()
