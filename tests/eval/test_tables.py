"""The paper's tables as data and "ours vs paper" comparisons."""
from __future__ import annotations

import math

import pytest

from emohead.eval.tables import (FID_VS_FD_HEADING, PAPER_TABLES, compare_with_paper, format_value, paper_row_for,
                                 paper_table)


def test_transcribed_values_and_directions():
    t1, t4, t6 = paper_table("I"), paper_table("Table IV"), paper_table("VI")
    assert t1.value("EmoHead", "SSIM") == 0.891 and t1.value("EmoHead", "F-LMD") == 0.981
    assert t1.value("Ground truth", "PSNR") is None and t1.value("Ground truth", "Sync") == 7.36
    assert t4.value("n = 3", "PSNR") == 26.114 and t4.value("w/o audio expression alignment", "FID") == 89.6
    assert t6.value("rho = 0.5", "RMSE") == 0.27
    # the paper's best row is EmoHead in every metric column of Table I but Sync-vs-ground-truth
    for col in ("SSIM", "PSNR", "ER"):
        best = max((r for r in t1.rows if t1.rows[r][col] is not None and r != "Ground truth"),
                   key=lambda r: t1.rows[r][col])
        assert best == "EmoHead", col
    assert t1.higher_is_better("PSNR") and not t1.higher_is_better("M-LMD")
    assert set(PAPER_TABLES) == {"I", "II", "IV", "VI", "VI (CREMA-D)"}
    with pytest.raises(ValueError, match="unknown paper table"):
        paper_table("IX")


def test_rows_map_systems_and_sweeps():
    assert paper_row_for("EmoHead (full)", "IV") == "EmoHead"
    assert paper_row_for("d=256", "IV") == "d, d_h = 256, 256" and paper_row_for("n=3", "IV") == "n = 3"
    assert paper_row_for("n=4", "IV") is None                     # a sweep value the paper did not run
    assert paper_row_for("w/o emotion control (neutral tag)", "I") is None
    with pytest.raises(ValueError, match="unknown system"):
        paper_row_for("EmoHead (turbo)", "I")


def test_comparison_keeps_our_fd_apart_from_the_papers_fid():
    ours = {"Ground truth": {"PSNR": math.inf, "SSIM": 1.0, "FD (analyser)": 0.0},
            "EmoHead (full)": {"PSNR": 31.5, "SSIM": 0.95, "FD (analyser)": 3.25, "ER": 80.0}}
    table = compare_with_paper(ours, "I")
    assert [r.source for r in table.rows] == ["ours (synthetic)", "paper (MEAD)"] * 2
    assert any(FID_VS_FD_HEADING in h for h in table.headings)
    md = table.to_markdown()
    assert "| ours (synthetic) | Ground truth | 1.000 | inf |" in md and "31.500" in md
    records = table.to_records()
    assert records[0]["PSNR"] == "inf" and "FD (analyser)" in records[2] and "FID" not in records[2]
    with pytest.raises(ValueError, match="mix"):
        compare_with_paper({"a": {"FID": 1.0}, "EmoHead (full)": {"FD (analyser)": 2.0}}, "I",
                           row_map={"a": None})
    with pytest.raises(ValueError, match="unknown metric"):
        compare_with_paper({"EmoHead (full)": {"Smile": 1.0}}, "I")
    assert format_value(None) == "–" and format_value(float("nan")) == "–" and format_value(1.23456, "FID") == "1.2"
