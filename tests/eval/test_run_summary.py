"""The paper-facing section of summary.md: tables from metrics, the orderings' verdicts, the paper profile's cost."""
import json

import pytest

from emohead.eval import run_summary as rs
from emohead.eval.systems import FULL, GROUND_TRUTH, NEUTRAL, NO_ALIGNMENT, NO_REFINEMENT

ROW = {"SSIM": 0.8, "PSNR": 30.0, "M-LMD": 1.0, "F-LMD": 1.0, "FD (analyser)": 5.0, "AUE": 0.1, "Sync": 5.0, "ER": 60.0}


def _m05(**changes):
    results = {GROUND_TRUTH: dict(ROW, PSNR="inf", SSIM=1.0), FULL: dict(ROW), NO_ALIGNMENT: dict(ROW, **{"M-LMD": 1.2}),
               NO_REFINEMENT: dict(ROW, ER=30.0), NEUTRAL: dict(ROW, ER=20.0), "d=256": dict(ROW, Sync=4.0),
               "n=3": dict(ROW)}
    for system, row in changes.items():
        results[system].update(row)
    return {"clips": ["a", "b"], "results": results}


M03 = {"iterations_per_second": 100.0,
       "table_vi_rmse": {"L_reg": 0.6, "L_reg_const rho=0.2": 0.55, "L_reg_const rho=0.5": 0.5,
                         "L_reg_const rho=0.7": 0.52, "L_reg_const rho=1": 0.53}}


def _verdicts(rows):
    return {(r["claim"], r["metric"]): rs._verdict(r) for r in rows}


def test_orderings_follow_the_numbers_both_ways():
    v = _verdicts(rs.ordering_checks(_m05(), M03))
    assert v[("full vs w/o audio-expression alignment", "M-LMD")] == "agrees"        # 1.0 < 1.2, lower is better
    assert v[("full vs w/o hyperplane refinement", "ER")] == "agrees"
    assert v[("d = 512 vs d=256", "Sync")] == "agrees"
    assert v[("full vs w/o hyperplane refinement", "M-LMD")] == "disagrees"          # a tie is not "better"
    assert v[("full vs neutral tag (ours; not a paper row)", "ER")] == "yes"
    assert v[("rho = 0.5 vs rho = 0.2", "RMSE")] == "agrees"
    flipped = _verdicts(rs.ordering_checks(_m05(**{NO_ALIGNMENT: {"M-LMD": 0.9}, NEUTRAL: {"ER": 90.0}}),
                                           dict(M03, table_vi_rmse=dict(M03["table_vi_rmse"], L_reg=0.4))))
    assert flipped[("full vs w/o audio-expression alignment", "M-LMD")] == "disagrees"
    assert flipped[("full vs neutral tag (ours; not a paper row)", "ER")] == "no"
    assert flipped[("L_reg^const (rho = 0.5) vs L_reg", "RMSE")] == "disagrees"


def test_table_vi_puts_the_paper_rows_beside_ours():
    text = rs.table_vi_markdown(M03)
    assert "| L_reg | 0.6000 | 0.450 |" in text
    assert "| L_reg_const rho=0.5 | 0.5000 | 0.270 |" in text and "| L_reg_const rho=1 | 0.5300 | 0.310 |" in text


def test_cost_is_iterations_over_the_measured_rates():
    c = rs.paper_profile_cost(M03, {"iterations_per_second": 50.0}, a2e_iterations=20000, nerf_iterations=200000,
                              a2e_models=3, nerfs=2)
    assert c["a2e_hours"] == pytest.approx(20000 / 100 / 3600) and c["nerf_hours"] == pytest.approx(200000 / 50 / 3600)
    assert c["all_hours"] == pytest.approx(3 * c["a2e_hours"] + 2 * c["nerf_hours"])


def test_summary_section_reads_the_notebooks_metrics(tmp_path):
    assert rs.summary_section(tmp_path) == ""
    for name, metrics in {"03_audio_expression": M03, "04_nerf_rendering": {"iterations_per_second": 50.0},
                          "05_evaluation": _m05()}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    for folder in ("audio2exp/full", "audio2exp/literal", "nerf/full"):
        (tmp_path / "run" / folder).mkdir(parents=True)
        (tmp_path / "run" / folder / "model.safetensors").write_bytes(b"x")
    text = rs.summary_section(tmp_path)
    assert text.startswith(rs.SECTION_TITLE)
    assert rs.tables_i_iv_markdown(_m05()) in text and rs.table_vi_markdown(M03) in text
    assert "(2 audio-expression models, 1 NeRFs)" in text
