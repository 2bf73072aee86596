"""Notebook conventions (DESIGN.md) and the smoke Papermill run of every notebook."""
import ast
import json

import nbformat
import pytest

from conftest import NOTEBOOKS

BOOKS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
REQUIRED_PARAMETERS = {"PROFILE", "RUN_DIR", "OUT_DIR", "SEED", "OVERRIDES"}


def test_there_are_numbered_notebooks():
    assert [b.name[:2] for b in BOOKS][:1] == ["00"]


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.stem)
def test_conventions(path):
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    intro = nb.cells[0]
    assert intro.cell_type == "markdown" and ("Sec." in intro.source or "paper" in intro.source.lower()), \
        "start with a markdown intro naming the paper section"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    tree = ast.parse(tagged[0].source)
    names = set()
    for node in tree.body:
        assert isinstance(node, ast.Assign), "the parameters cell holds only assignments"
        ast.literal_eval(node.value)  # literals only
        names |= {t.id for t in node.targets}
    assert REQUIRED_PARAMETERS <= names
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, "commit notebooks without outputs"
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), \
                "no def/class/lambda in notebooks: put logic in emohead"
        assert "sys.path" not in cell.source
        assert "plt.show" not in cell.source
    assert "import emohead as eh" in "".join(c.source for c in code)
    assert "eh.notebook.finish" in code[-1].source, "the last cell writes metrics.json"


@pytest.mark.slow
@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.stem)
def test_smoke_run_writes_metrics(smoke_reproduction, path):
    out, results = smoke_reproduction
    result = results[path.stem]
    assert result.status == "ran"
    metrics = json.loads((out / path.stem / "metrics.json").read_text())
    assert metrics["profile"] == "smoke"
    CHECKS[path.stem](metrics)
    assert (out / f"{path.stem}.ipynb").exists()


def _check_overview(m):
    assert m["n_stages"] == 7
    assert m["paper_defaults"] == {"d": 512, "n_neighbors": 5, "rho": 0.5, "nerf_iterations": 200000}


def _check_data(m):
    # smoke: 2 actors x 8 emotions x 3 sentences (levels cycle), the last sentence is test
    assert m["n_clips"] == 48 and m["splits"] == {"train": 32, "test": 16}
    assert m["n_speakers"] == 2 and len(m["emotions"]) == 8
    assert m["max_audio_video_mismatch_s"] < 1 / 25
    assert m["dims_entangled_with_3plus_emotions"] >= 1
    assert m["mar_range"][1] > m["mar_range"][0] + 0.1
    assert m["synth_seconds"] < 120
    assert m["feature_dims"]["audio"] > 0 and m["feature_dims"]["text"] == 64  # smoke: features.hashed_dim=64
    assert m["feature_backends"] == {"audio": "spectral", "emotion": "prosody", "transcript": "dataset", "text": "hashed"}
    assert m["silence_frames_in_test_clip"] >= 5                 # lead-in silence is padded (Fig. 9)
    held_out = m["analyser_held_out"]
    assert held_out["landmark_px"] < 3.0                         # 64 px frames, smoke-sized analyser
    test = m["analyser_on_test_split"]
    assert test["clips"] == 16 and test["landmark_px"] < 3.0


def _check_hyperplanes(m):
    assert m["n_emotions"] == 8 and m["train_frames"] > 500
    assert m["mean_accuracy_balanced"] > 0.8          # well above chance (0.5) on held-out sentences
    assert m["mean_cosine_to_generator"] > 0.6        # normals point along the generator's emotion directions
    after = m["happy_mar_groups_after"]
    assert after[0] == after[1]                       # balancing: both classes share one MAR histogram
    by_tau = m["recognition_mean_by_tau"]
    assert set(by_tau) == {"tau=0", "tau=3", "tau=6"} and all(0 <= v <= 1 for v in by_tau.values())


def _check_audio_expression(m):
    assert m["train_clips"] == 32 and m["test_clips"] == 16
    assert m["last_loss"] < m["first_loss"]                       # it learns
    assert m["val_rmse"] < m["baseline_rmse"]["predict the mean"]  # better than ignoring audio and tag
    assert set(m["table_vi_rmse"]) == {"L_reg", "L_reg_const rho=0.2", "L_reg_const rho=0.5",
                                       "L_reg_const rho=0.7", "L_reg_const rho=1"}
    assert m["table_vi_rmse"]["L_reg_const rho=0.5"] == m["val_rmse"]   # the full model is reused, not retrained
    assert set(m["fig11_accuracy"]) == {"fear", "happy", "sad", "angry"}
    assert all(0 <= v <= 1 for v in m["fig11_accuracy"].values())
    assert m["switch_frames"] > 0
    comparison = m["comparison"]                                  # the module beside its literal form and 3 baselines
    assert len(comparison) == 6 and any(k.startswith("literal") for k in comparison)
    assert any("no anchor" in k for k in comparison)
    for scores in comparison.values():
        assert 0 <= scores["offset_rmse"] <= scores["rmse"] and -1 <= scores["motion_corr"] <= 1
    assert abs(comparison["emotion mean (audio-blind, knows the tag)"]["motion_corr"]) < 1e-6
    assert all(0 < peak <= 1 for peaks in m["attention_peak"].values() for peak in peaks.values())


def _check_nerf(m):
    assert m["image_size"] == 64 and m["train_frames"] == 200                 # smoke: nerf.max_frames=200
    assert m["last_photo_loss"] < m["first_photo_loss"]                      # it learns
    assert m["val_psnr"][-1] > m["val_psnr"][0] + 1.0
    assert m["test_psnr"] > 15.0                                             # composited held-out frames
    assert m["refine_losses_logged"] > 0                                     # the L_cord / L_shape stage ran
    assert m["novel_view_frames"] == 5 and len(m["interpolation_verdicts"]) == 5
    assert m["switch_video"]["has_audio"] and m["switch_video"]["n_frames"] == m["switch_video"]["frames"]
    assert m["mouth_crop_frames"] == 16
    assert all(-1 <= c <= 1 for c in m["mouth_openness_corr"].values())


def _check_evaluation(m):
    systems = ["Ground truth", "EmoHead (full)", "literal eq. 2-7 (as printed)", "w/o audio-expression alignment",
               "w/o hyperplane refinement", "w/o emotion control (neutral tag)"]
    assert m["systems"] == systems and len(m["clips"]) == 2                  # smoke: eval.max_test_clips=2
    gt, full = m["results"]["Ground truth"], m["results"]["EmoHead (full)"]
    assert gt["PSNR"] == "inf" and gt["SSIM"] > 0.999 and gt["AUE"] == 0.0
    assert m["fd_name"] == "FD (analyser)" and abs(gt["FD (analyser)"]) < 1e-3
    assert 10.0 < full["PSNR"] < 60.0 and full["FD (analyser)"] > 0
    assert m["table_I_rows"] == 5 and m["table_IV_rows"] >= 7                # ours + the paper's matching rows
    assert sorted(m["table_IV_ordering"]) == ["M-LMD", "Sync"]
    assert all(sorted(order) == sorted(systems[1:5]) for order in m["table_IV_ordering"].values())


def _check_demo(m):
    assert m["renderer"] in ("nerf", "mesh") and m["n_frames"] > 0
    steps = m["interp_code_steps"]
    assert len(steps) == m["interp_steps"] - 1 >= 1
    assert min(steps) > 0 and max(steps) - min(steps) < 1e-3 * max(steps)   # eq. 9 is linear in lambda: equal steps
    assert m["interp_end_to_end_pixel_change"] > 0                           # the face changes from A to B
    assert m["view_row_pixel_change"] > 1.0                                  # the yaw slider turns the head
    video = m["switch_video"]
    assert video["n_frames"] == m["n_frames"] and video["has_audio"]         # the export: every frame, with sound
    assert m["switch_code_error"] == {"before_vs_A": 0.0, "after_vs_B": 0.0}  # A before t_s, B after the ramp
    mesh = m["latency_mesh"]                                                 # the CPU fallback stays interactive
    assert mesh["renderer"] == "mesh" and mesh["image_size"] >= 256 and mesh["updates"] == 30
    # benchmarks/widget_speed.py holds the 200 ms target on a quiet machine; a shared CI runner gets slack
    assert mesh["median_ms"] < 1000


CHECKS = {
    "00_overview": _check_overview,
    "01_data_and_features": _check_data,
    "02_emotion_hyperplanes": _check_hyperplanes,
    "03_audio_expression": _check_audio_expression,
    "04_nerf_rendering": _check_nerf,
    "05_evaluation": _check_evaluation,
    "06_emotion_interpolation_demo": _check_demo,
}
