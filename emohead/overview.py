"""The pipeline at a glance: each stage, the paper section it implements, its module and notebook."""
from __future__ import annotations

from dataclasses import dataclass, fields

from .config import PROFILES


@dataclass(frozen=True)
class Stage:
    name: str        # short label
    paper: str       # section / equations of the paper
    module: str      # where the code lives
    notebook: str    # where it is taught
    produces: str    # the artifact handed to the next stage


PIPELINE: tuple[Stage, ...] = (
    Stage("data", "Sec. IV (MEAD, CREMA-D); DESIGN.md synthetic world", "emohead.synth, emohead.data",
          "01_data_and_features", "clips: 16 kHz audio, 25 fps frames, alpha, pose, landmarks, MAR, words"),
    Stage("features", "Sec. III-A, eq. 1, Fig. 9", "emohead.features", "01_data_and_features",
          "per-frame v~ [T,768], e~ [T,768], g~ [T,4096]"),
    Stage("hyperplanes", "Sec. III-B, eq. 8-9, App. B, Fig. 5", "emohead.emotion",
          "02_emotion_hyperplanes", "normals w_z [8,10]"),
    Stage("audio2exp", "Sec. III-A, III-D, eq. 2-9, 13", "emohead.audio2exp", "03_audio_expression",
          "alpha~ [T,10], tau [T] -> alpha^ = alpha~ + tau w_z"),
    Stage("render", "Sec. III-C, III-D, eq. 11-12, 15-16", "emohead.render", "04_nerf_rendering",
          "frames [T,H,W,3] -> mp4 with audio"),
    Stage("evaluate", "Sec. IV, Tables I, IV, VI", "emohead.eval", "05_evaluation",
          "PSNR, SSIM, M/F-LMD, FID, AUE, Sync, ER tables"),
    Stage("demo", "Table III, Fig. 4", "emohead.widgets", "06_emotion_interpolation_demo",
          "live emotion mixing and switching"),
)


def pipeline_markdown() -> str:
    """The PIPELINE as a markdown table."""
    head = "| stage | paper | module | notebook | produces |\n|---|---|---|---|---|\n"
    return head + "\n".join(f"| {s.name} | {s.paper} | `{s.module}` | {s.notebook} | {s.produces} |"
                            for s in PIPELINE)


def profiles_markdown(fields_to_show: tuple[str, ...] = (
        "synth.image_size", "synth.n_actors", "synth.n_sentences", "audio2exp.d",
        "audio2exp.iterations", "nerf.iterations", "nerf.image_size", "nerf.backend", "device")) -> str:
    """Budgets of every named profile side by side, as a markdown table."""
    names = list(PROFILES)
    rows = []
    for path in fields_to_show:
        values = []
        for n in names:
            obj = PROFILES[n]
            for part in path.split("."):
                obj = getattr(obj, part)
            values.append(str(obj))
        rows.append(f"| `{path}` | " + " | ".join(values) + " |")
    return ("| field | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n" + "\n".join(rows))


def stage_field_count() -> dict[str, int]:
    """Number of configurable fields per stage (for the overview notebook's metrics)."""
    from .config import STAGES, Profile

    base = Profile()
    return {s: len(fields(getattr(base, s))) for s in STAGES}
