"""The systems comparison of Sec. IV on a tiny world: every system, every metric, the tables and the CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emohead.cli import main
from emohead.config import apply_overrides
from emohead.eval import GROUND_TRUTH, FULL, LITERAL, NEUTRAL, NO_ALIGNMENT, NO_REFINEMENT, EvalError, evaluate_run, system_specs


@pytest.fixture(scope="module")
def evaluated(render_world, tmp_path_factory):
    """evaluate_run on the tiny world: 2 test clips x 12 frames, run folder linking the world's data and features."""
    run = tmp_path_factory.mktemp("eval_run")
    for name in ("data", "features", "hyperplanes"):
        (run / name).symlink_to(render_world["root"] / name)
    profile = apply_overrides(render_world["profile"], {"eval.max_test_clips": 2, "eval.max_frames_per_clip": 12,
                                                        "eval.syncnet_steps": 20})
    result = evaluate_run(profile, run, run / "out", analyser=render_world["analyser"], progress=False)
    return result, run, profile


def test_every_system_gets_every_metric(evaluated):
    result, run, _ = evaluated
    assert list(result.results) == [GROUND_TRUTH, FULL, LITERAL, NO_ALIGNMENT, NO_REFINEMENT, NEUTRAL]
    for system, row in result.results.items():
        assert set(row) == {"SSIM", "PSNR", "M-LMD", "F-LMD", "FD (analyser)", "AUE", "Sync", "ER"}, system
        assert result.samples[system].shape == (12, 32, 32, 3)
    gt = result.results[GROUND_TRUTH]
    assert gt["PSNR"] == math.inf and gt["SSIM"] == pytest.approx(1.0) and gt["AUE"] == 0.0
    assert abs(gt["FD (analyser)"]) < 1e-3                     # a set against itself
    for system in (FULL, LITERAL, NO_ALIGNMENT, NO_REFINEMENT, NEUTRAL):
        row = result.results[system]
        assert math.isfinite(row["PSNR"]) and row["SSIM"] < 1.0 and row["FD (analyser)"] > 0.0
    # the neutral-tag baseline renders other faces than the full model on the same audio
    assert not np.array_equal(result.samples[FULL], result.samples[NEUTRAL])
    # the ablation variants and the [z; alpha] NeRF were trained and cached in the run folder
    for folder in ("audio2exp/literal", "audio2exp/no_alignment", "audio2exp/no_refinement", "nerf/tag_alpha",
                   "syncnet"):
        assert (run / folder).is_dir(), folder


def test_files_and_tables(evaluated):
    result, run, _ = evaluated
    saved = json.loads((run / "out" / "evaluation.json").read_text())
    assert saved["results"][GROUND_TRUTH]["PSNR"] == "inf" and saved["frames"] == 24 and len(saved["clips"]) == 2
    tables = (run / "out" / "tables.md").read_text()
    assert "Table I (MEAD)" in tables and "Table IV (MEAD)" in tables
    assert "FD (analyser)" in tables and "paper (MEAD)" in tables and "ours (synthetic)" in tables
    t1 = result.table("I")
    ours = [r.system for r in t1.rows if r.source == "ours (synthetic)"]
    assert ours == [GROUND_TRUTH, FULL, NEUTRAL]
    paper = {r.system: r.values for r in t1.rows if r.source == "paper (MEAD)"}
    assert paper["EmoHead"]["PSNR"] == 28.262 and paper["Ground truth"]["ER"] == 79.65
    t4 = result.table("IV")
    assert {r.paper_row for r in t4.rows if r.source == "ours (synthetic)"} >= {
        "EmoHead", "w/o audio expression alignment", "w/o hyperplane refinement"}


def test_sweeps_and_bad_requests(render_world, evaluated, tmp_path):
    _, run, profile = evaluated
    swept = apply_overrides(profile, {"eval.sweep_d": [16], "eval.sweep_n": [2]})
    assert list(system_specs(swept))[-2:] == ["d=16", "n=2"]
    assert system_specs(swept)["n=2"].overrides == {"audio2exp.n_neighbors": 2}
    only = evaluate_run(swept, run, tmp_path / "swept", systems=["d=16"], analyser=render_world["analyser"],
                        progress=False)
    assert list(only.results) == ["d=16"] and (run / "audio2exp" / "d16" / "model.json").is_file()
    assert [r.paper_row for r in only.table("IV").rows] == [None]        # the paper ran d = 256 .. 1024, not 16
    with pytest.raises(EvalError, match="unknown system"):
        evaluate_run(profile, run, tmp_path, systems=["EmoHead (turbo)"], analyser=render_world["analyser"],
                     progress=False)
    with pytest.raises(EvalError, match="no processed dataset"):
        evaluate_run(profile, tmp_path, tmp_path / "o", progress=False)
    assert main(["evaluate", "--run", str(tmp_path / "nowhere"), "--profile", "smoke"]) == 2
