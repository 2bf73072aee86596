"""Which face reader measures generated frames: the synthetic world's analyser, or the real trackers.

On the synthetic world (``emohead synth``) the face analyser (:mod:`emohead.analyser`, trained on its renders)
reads landmarks, AUs, emotion and the FD embedding. On a dataset of recorded people (``emohead prepare``: your
video, MEAD, CREMA-D) it cannot read a face, so :func:`real_faces` switches the evaluation to the real trackers:

* landmarks (M-LMD, F-LMD, the SyncNet mouth crop) from :class:`emohead.tracking.FaceTracker` (MediaPipe face mesh
  -> 68 points), the tracker that made the dataset's ground-truth landmarks, so both sides are read alike;
* ``EXP-RMSE (3DDFA)``: RMSE of the generated video's 3DDFA_V2 expression alpha [T, 10] against the dataset's
  (3DDFA_V2's on the real video);
* FID only with real Inception weights (``eval.inception_path``); AUE and ER have no real evaluator here and are
  reported as unavailable, with the reason (:data:`UNAVAILABLE`), never as numbers.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..data.format import SYNTHETIC_SOURCE
from .result import EvalError, MetricResult

log = logging.getLogger(__name__)

EXPRESSION_RMSE = "EXP-RMSE (3DDFA)"
"""RMSE of 3DDFA_V2 expression alpha, generated vs real video (real data only; ours, no paper column)."""
UNAVAILABLE: Mapping[str, str] = {
    "AUE": "no real action-unit estimator is configured (OpenFace's AU intensities in the paper); the face analyser "
           "is trained on synthetic renders only and cannot read a real face",
    "ER": "no real emotion classifier is configured (the paper's is trained on MEAD); the face analyser's emotion "
          "head is trained on synthetic renders only and cannot read a real face",
    "FD": "no Inception weights (eval.inception_path) for FID; the face analyser's embedding (FD (analyser)) is "
          "trained on synthetic renders only",
}
"""Why each metric without a real evaluator is left out on real data (keyed as :meth:`Evaluator.measure` keys)."""


def real_faces(ds: Any) -> bool:
    """True when ``ds`` (a :class:`~emohead.data.ProcessedDataset`, or its manifest's ``source`` string) holds
    recorded people, read by the real trackers; False for the synthetic world (source "synthetic"), read by the
    face analyser. The one place that decides."""
    source = ds if isinstance(ds, str) else ds.source
    return str(source) != SYNTHETIC_SOURCE


def unavailable(key: str, reason: str | None = None) -> MetricResult:
    """A metric that is not measured: value NaN, ``extra`` {"available": False, "reason": ...}."""
    return MetricResult(key, float("nan"), extra={"available": False, "reason": reason or UNAVAILABLE[key]})


def is_available(metric: MetricResult) -> bool:
    return metric.extra.get("available", True) is not False


@dataclass
class FaceReading:
    """What the tracker read from one video: landmarks [T, 68, 2] (pixels of the frames; missing frames
    interpolated), alpha [T, 10] (3DDFA_V2 expression), found bool [T] (a face in that frame). ``found`` all
    False: no face in any frame (landmarks and alpha are then NaN)."""

    landmarks: np.ndarray
    alpha: np.ndarray
    found: np.ndarray


class TrackerFaces:
    """Reads generated or real frames with the real trackers: ``read(frames [T, S, S, 3] uint8, name) -> FaceReading``.

    tracker: a :class:`emohead.tracking.FaceTracker` (default: one from ``model_dir`` / ``$EMOHEAD_MODELS``, with no
    limit on frames without a face, since a generated video may lose the face in some frames).
    """

    def __init__(self, tracker: Any = None, *, model_dir: Any = None, device: str = "cpu"):
        if tracker is None:
            from ..tracking import FaceTracker, ModelsMissingError

            try:
                tracker = FaceTracker(model_dir, max_missing_fraction=1.0, progress=False, device=device)
            except ModelsMissingError as exc:
                raise EvalError(f"evaluating a real dataset needs the face models of emohead.tracking: {exc}") from exc
        self.tracker = tracker

    def read(self, frames: np.ndarray, *, name: str) -> FaceReading:
        from ..tracking import NoFaceError

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise EvalError(f"clip {name!r}: frames must be uint8 [T, H, W, 3], got {frames.shape} {frames.dtype}")
        try:
            track = self.tracker.track(frames, name=name)
        except NoFaceError:
            log.warning("clip %r: the tracker found no face in any of its %d frames", name, len(frames))
            T = len(frames)
            return FaceReading(np.full((T, 68, 2), np.nan, np.float32), np.full((T, 10), np.nan, np.float32),
                               np.zeros(T, bool))
        return FaceReading(np.asarray(track.landmarks, np.float32), np.asarray(track.alpha, np.float32),
                           np.asarray(track.found, bool))


def mouth_openness(reading: FaceReading) -> np.ndarray:
    """Inner-lip MAR [T] of a reading's 68 landmarks (NaN in the frames of a video with no face at all)."""
    from ..tracking.landmarks68 import mouth_aspect_ratio

    return mouth_aspect_ratio(reading.landmarks)


def read_mouth_openness(frames: np.ndarray, reader: Any, *, name: str, device: str = "cpu") -> np.ndarray:
    """Inner-lip MAR [T] of frames uint8 [T, S, S, 3] as an evaluator reads it: ``reader`` a :class:`TrackerFaces`
    (recorded people; NaN where no face was read) or the synthetic world's face analyser (a FaceAnalyser)."""
    if isinstance(reader, TrackerFaces):
        return mouth_openness(reader.read(frames, name=name))
    from ..analyser import analyse_frames
    from ..face.mar import mouth_aspect_ratio

    return mouth_aspect_ratio(analyse_frames(reader, frames, device=device).landmarks)


def hyperplane_verdict(planes: Any, alpha: np.ndarray) -> int | None:
    """The emotion (index into ``planes.emotions``) whose hyperplane's decision value, averaged over the frames,
    is largest: a real-data judge of a rendered expression. None when no frame holds a face.

    planes: the :class:`~emohead.emotion.EmotionHyperplanes` fitted on the dataset's 3DDFA_V2 alpha; alpha [N, m]:
    3DDFA_V2 read from N frames (rows with NaN, frames without a face, are left out).
    """
    alpha = np.asarray(alpha, np.float64)
    if alpha.ndim != 2 or alpha.shape[1] != planes.dims:
        raise EvalError(f"alpha must be [N, {planes.dims}] to match the hyperplanes, got {list(alpha.shape)}")
    seen = alpha[np.isfinite(alpha).all(1)]
    return int(np.argmax(planes.decision(seen).mean(0))) if len(seen) else None


def finite_correlation(a: np.ndarray, b: np.ndarray, *, min_frames: int = 3) -> float | None:
    """Pearson correlation of a [T] and b [T] over the frames where both are finite (a reader that found no face
    gives NaN); None with fewer than ``min_frames`` such frames or a constant side."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise EvalError(f"a and b must be equal [T] arrays, got {list(a.shape)} and {list(b.shape)}")
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < min_frames or a[both].std() == 0 or b[both].std() == 0:
        return None
    return float(np.corrcoef(a[both], b[both])[0, 1])


def expression_rmse(pred: Any, real: Any) -> MetricResult:
    """EXP-RMSE: sqrt(mean over frames and dims of (alpha_pred - alpha_real)^2); pred, real [N, 10] 3DDFA_V2 alpha."""
    p, r = np.asarray(pred, np.float64), np.asarray(real, np.float64)
    if p.ndim != 2 or p.shape != r.shape or len(p) == 0:
        raise EvalError(f"pred and real alpha must be equal non-empty [N, K], got {p.shape} and {r.shape}")
    per_frame = np.sqrt(((p - r) ** 2).mean(1))
    return MetricResult(EXPRESSION_RMSE, float(np.sqrt(((p - r) ** 2).mean())), "", per_frame,
                        {"estimator": "3DDFA_V2 (emohead.tracking)"})


__all__ = ["EXPRESSION_RMSE", "SYNTHETIC_SOURCE", "UNAVAILABLE", "FaceReading", "TrackerFaces", "expression_rmse",
           "finite_correlation", "hyperplane_verdict", "is_available", "mouth_openness", "read_mouth_openness",
           "real_faces", "unavailable"]
