"""The paper-facing sections of a run's ``summary.md`` (written by ``emohead reproduce``).

* Tables I and IV: our systems beside the paper's rows (the same tables notebook 05 writes to ``tables.md``);
* Table VI: the held-out RMSE of the audio-expression losses and rho sweep of notebook 03 beside the paper's;
* the paper's orderings (full model vs each ablation, d, n, rho, L_reg^const vs L_reg) checked one by one;
* what the ``paper`` profile (20k audio-expression and 200k NeRF iterations) would cost on the machine that ran,
  from the iteration rates the run measured.

Every function reads only the notebooks' ``metrics.json`` dictionaries, so a test rebuilds each section from the
committed metrics and finds it verbatim in summary.md (tests/test_gpu_reports.py).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

from .faces import real_faces
from .paper import format_value, paper_table
from .systems import FULL, GROUND_TRUTH, NEUTRAL, NO_ALIGNMENT, NO_REFINEMENT, EvaluationResult

SECTION_TITLE = "## The paper's tables and orderings"

_RHO_PREFIX = "L_reg_const rho="


def _number(value: Any) -> float | None:
    """A metric as metrics.json stores it ("inf"/"nan" as strings, None) -> float or None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return float(value)


def results_from_metrics(metrics05: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """{system: {metric: value}} of notebook 05's metrics.json, with "inf" strings turned back into floats."""
    return {system: {k: _number(v) for k, v in row.items()} for system, row in metrics05["results"].items()}


def tables_i_iv_markdown(metrics05: Mapping[str, Any]) -> str:
    """Tables I and IV, ours beside the paper's, exactly as notebook 05 writes them to ``tables.md`` (on a prepared
    dataset, named by the ``dataset`` entry, labelled as measured by the real trackers)."""
    dataset = metrics05.get("dataset")
    real = isinstance(dataset, Mapping) and real_faces(str(dataset.get("source", "")))
    return EvaluationResult(results_from_metrics(metrics05), {}, {}, list(metrics05.get("clips", [])),
                            "real" if real else "synthetic").to_markdown()


def table_vi_markdown(metrics03: Mapping[str, Any]) -> str:
    """Table VI's RMSE rows (losses and rho of eq. 13): ours (synthetic, held-out sentences) beside the paper's (MEAD)."""
    paper = paper_table("VI").rows
    lines = ["### Ours vs paper: Table VI (MEAD), RMSE of the predicted expression parameters", "",
             "| losses | RMSE, ours (synthetic) | RMSE, paper (MEAD) |", "|---|---|---|"]
    for name, rmse in metrics03["table_vi_rmse"].items():
        if name == "L_reg":
            row = "L_reg"
        elif name.startswith(_RHO_PREFIX):
            row = f"rho = {name[len(_RHO_PREFIX):]}"
        else:
            row = None
        theirs = paper.get(row, {}).get("RMSE") if row else None
        lines.append(f"| {name} | {format_value(_number(rmse), 'RMSE', 4)} | {format_value(theirs, 'RMSE')} |")
    lines += ["", "RMSE is in units of each dataset's own expression parameters (our generator's alpha; the paper's "
              "3DDFA alpha on MEAD), so only the orderings compare. The paper's L_reg^const row is rho = 0.5."]
    return "\n".join(lines)


def _better(metric: str, a: float | None, b: float | None) -> bool | None:
    """Is a better than b on ``metric`` (None when either is missing)?"""
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return None
    higher = paper_table("IV").higher_is_better(metric) if metric != "RMSE" else False
    return a > b if higher else a < b


def ordering_checks(metrics05: Mapping[str, Any] | None, metrics03: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The paper's orderings, one row each: {claim, metric, paper: (a, b), ours: (a, b), paper_says, ours_says}.

    "a" is the side the paper finds better (the full model; d = 512; n = 5; rho = 0.5; L_reg^const).
    """
    rows: list[dict[str, Any]] = []
    iv = paper_table("IV").rows
    if metrics05 is not None:
        ours = results_from_metrics(metrics05)
        pairs = [("full vs w/o audio-expression alignment", FULL, NO_ALIGNMENT, "EmoHead", "w/o audio expression alignment"),
                 ("full vs w/o hyperplane refinement", FULL, NO_REFINEMENT, "EmoHead", "w/o hyperplane refinement")]
        pairs += [(f"d = 512 vs {s}", FULL, s, "d, d_h = 512, 512", "d, d_h = 256, 256") for s in ours if s == "d=256"]
        pairs += [(f"n = 5 vs {s}", FULL, s, "n = 5", "n = 3") for s in ours if s == "n=3"]
        for claim, a, b, pa, pb in pairs:
            if a not in ours or b not in ours:
                continue
            for metric in ("M-LMD", "Sync", "ER", "AUE"):
                oa, ob = ours[a].get(metric), ours[b].get(metric)
                rows.append({"claim": claim, "metric": metric, "paper": (iv[pa][metric], iv[pb][metric]),
                             "ours": (oa, ob), "paper_says": _better(metric, iv[pa][metric], iv[pb][metric]),
                             "ours_says": _better(metric, oa, ob)})
        if NEUTRAL in ours:                    # not in the paper: the emotion tag must move ER
            oa, ob = ours[FULL].get("ER"), ours[NEUTRAL].get("ER")
            rows.append({"claim": "full vs neutral tag (ours; not a paper row)", "metric": "ER", "paper": (None, None),
                         "ours": (oa, ob), "paper_says": None, "ours_says": _better("ER", oa, ob)})
        if GROUND_TRUTH in ours:
            oa, ob = ours[FULL].get("Sync"), ours[GROUND_TRUTH].get("Sync")
            pi = paper_table("I").rows
            rows.append({"claim": "full vs ground truth", "metric": "Sync", "paper": (pi["EmoHead"]["Sync"], pi["Ground truth"]["Sync"]),
                         "ours": (oa, ob), "paper_says": _better("Sync", pi["EmoHead"]["Sync"], pi["Ground truth"]["Sync"]),
                         "ours_says": _better("Sync", oa, ob)})
    if metrics03 is not None:
        vi = paper_table("VI").rows
        rmse = {k: _number(v) for k, v in metrics03["table_vi_rmse"].items()}
        rho = {k[len(_RHO_PREFIX):]: v for k, v in rmse.items() if k.startswith(_RHO_PREFIX)}
        if "L_reg" in rmse and "0.5" in rho:
            rows.append({"claim": "L_reg^const (rho = 0.5) vs L_reg", "metric": "RMSE",
                         "paper": (vi["L_reg^const"]["RMSE"], vi["L_reg"]["RMSE"]), "ours": (rho["0.5"], rmse["L_reg"]),
                         "paper_says": True, "ours_says": _better("RMSE", rho["0.5"], rmse["L_reg"])})
        for other in sorted(set(rho) - {"0.5"}):
            if f"rho = {other}" not in vi:
                continue
            rows.append({"claim": f"rho = 0.5 vs rho = {other}", "metric": "RMSE",
                         "paper": (vi["rho = 0.5"]["RMSE"], vi[f"rho = {other}"]["RMSE"]), "ours": (rho["0.5"], rho[other]),
                         "paper_says": _better("RMSE", vi["rho = 0.5"]["RMSE"], vi[f"rho = {other}"]["RMSE"]),
                         "ours_says": _better("RMSE", rho["0.5"], rho[other])})
    return rows


def _verdict(row: Mapping[str, Any]) -> str:
    if row["ours_says"] is None:
        return "n/a"
    if row["paper_says"] is None:
        return "yes" if row["ours_says"] else "no"
    return "agrees" if row["ours_says"] == row["paper_says"] else "disagrees"


def orderings_markdown(metrics05: Mapping[str, Any] | None, metrics03: Mapping[str, Any] | None) -> str:
    """:func:`ordering_checks` as a markdown table, with the count that agree."""
    rows = ordering_checks(metrics05, metrics03)
    lines = ["### The paper's orderings, checked on our run", "",
             "| claim (first side: the one the paper finds better) | metric | paper | ours | ours vs paper |",
             "|---|---|---|---|---|"]
    for r in rows:
        paper = " vs ".join(format_value(v, r["metric"]) for v in r["paper"]) if r["paper"][0] is not None else "-"
        ours = " vs ".join(format_value(v, r["metric"]) for v in r["ours"])
        lines.append(f"| {r['claim']} | {r['metric']} | {paper} | {ours} | {_verdict(r)} |")
    judged = [r for r in rows if r["paper_says"] is not None and r["ours_says"] is not None]
    agree = sum(r["ours_says"] == r["paper_says"] for r in judged)
    lines += ["", f"{agree} of {len(judged)} orderings that the paper states agree on our run."]
    return "\n".join(lines)


def paper_profile_cost(metrics03: Mapping[str, Any], metrics04: Mapping[str, Any], *,
                       a2e_iterations: int, nerf_iterations: int, a2e_models: int = 1, nerfs: int = 1) -> dict[str, float]:
    """GPU hours of the paper's budgets at this run's measured rates (iterations / measured iterations per second).

    The NeRF rate is the run's average over its two stages (L_photo, then + L_cord + L_shape from the middle), the
    same split as the paper profile's (refine_start = iterations / 2). Feature extraction is not included.
    """
    a2e_rate, nerf_rate = float(metrics03["iterations_per_second"]), float(metrics04["iterations_per_second"])
    a2e_h = a2e_iterations / a2e_rate / 3600
    nerf_h = nerf_iterations / nerf_rate / 3600
    return {"a2e_rate": a2e_rate, "nerf_rate": nerf_rate, "a2e_hours": a2e_h, "nerf_hours": nerf_h,
            "one_model_hours": a2e_h + nerf_h, "all_hours": a2e_models * a2e_h + nerfs * nerf_h,
            "a2e_models": a2e_models, "nerfs": nerfs}


def cost_markdown(metrics03: Mapping[str, Any], metrics04: Mapping[str, Any], *, a2e_iterations: int,
                  nerf_iterations: int, a2e_models: int, nerfs: int, machine: str) -> str:
    """:func:`paper_profile_cost` as a short markdown paragraph."""
    c = paper_profile_cost(metrics03, metrics04, a2e_iterations=a2e_iterations, nerf_iterations=nerf_iterations,
                           a2e_models=a2e_models, nerfs=nerfs)
    return "\n".join([
        "### What the `paper` profile would cost here", "",
        f"Measured on {machine}: audio-expression training {c['a2e_rate']:.1f} it/s (notebook 03), NeRF training "
        f"{c['nerf_rate']:.1f} it/s averaged over both stages (notebook 04).", "",
        "| budget | GPU hours |", "|---|---|",
        f"| one audio-expression model, {a2e_iterations:,} iterations | {c['a2e_hours']:.2f} |",
        f"| one NeRF, {nerf_iterations:,} iterations | {c['nerf_hours']:.2f} |",
        f"| one full system (both) | {c['one_model_hours']:.2f} |",
        f"| every model notebooks 03-05 train ({a2e_models} audio-expression models, {nerfs} NeRFs) | {c['all_hours']:.2f} |",
        "", "Feature extraction with the pretrained encoders (HuBERT, emotion2vec, LLaMA) and rendering are not "
        "included; the rates are this run's, at this run's batch sizes."])


def _machine() -> str:
    """The accelerator (or CPU) this process runs on, in words."""
    import platform

    import torch

    if torch.cuda.is_available():
        return f"one {torch.cuda.get_device_name(0)}"
    return f"{platform.machine()} CPU ({os.cpu_count()} cores)"


def _trained(folder: Path) -> int:
    """How many trained models a stage folder holds (sub-folders with a model.safetensors or nerf weights)."""
    if not folder.is_dir():
        return 0
    return sum(1 for sub in folder.iterdir() if sub.is_dir() and any(sub.glob("*.safetensors")))


def summary_section(out_dir: str | Path, run_dir: str | Path | None = None) -> str:
    """The whole paper-facing section of ``out_dir/summary.md`` from the notebooks' metrics.json ("" if none ran)."""
    from ..config import load_profile

    out_dir = Path(out_dir)
    run_dir = Path(run_dir) if run_dir is not None else out_dir / "run"

    def metrics(name: str) -> dict[str, Any] | None:
        path = out_dir / name / "metrics.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    m03, m04, m05 = metrics("03_audio_expression"), metrics("04_nerf_rendering"), metrics("05_evaluation")
    parts = []
    if m05 is not None and "results" in m05:
        parts.append(tables_i_iv_markdown(m05))
    if m03 is not None and "table_vi_rmse" in m03:
        parts.append(table_vi_markdown(m03))
    if (m05 is not None and "results" in m05) or (m03 is not None and "table_vi_rmse" in m03):
        parts.append(orderings_markdown(m05 if m05 and "results" in m05 else None,
                                        m03 if m03 and "table_vi_rmse" in m03 else None))
    if m03 is not None and m04 is not None:
        paper = load_profile("paper")
        parts.append(cost_markdown(m03, m04, a2e_iterations=paper.audio2exp.iterations,
                                   nerf_iterations=paper.nerf.iterations,
                                   a2e_models=max(1, _trained(run_dir / "audio2exp")),
                                   nerfs=max(1, _trained(run_dir / "nerf")), machine=_machine()))
    if not parts:
        return ""
    return "\n\n".join([SECTION_TITLE, *parts])


__all__ = ["SECTION_TITLE", "cost_markdown", "summary_section", "ordering_checks", "orderings_markdown", "paper_profile_cost",
           "results_from_metrics", "table_vi_markdown", "tables_i_iv_markdown"]
