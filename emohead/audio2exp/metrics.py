"""How well predicted expressions follow the audio: RMSE, motion correlation and mouth openness.

RMSE over frames and dimensions (Table VI) mixes two things: the clip's emotion offset (a constant per
clip) and the per-frame motion of lips and timing. A predictor that ignores the audio but knows the tag
(the emotion mean, :mod:`emohead.audio2exp.baselines`) already gets the first right. So beside RMSE:

- **offset RMSE**: the RMSE of each clip's mean predicted alpha against its mean true alpha (weighted by
  frames): the part of the RMSE that the emotion offset decides (RMSE^2 = offset^2 + within-clip^2 exactly);
  the emotion mean gets it as right as knowing the tag allows;
- **motion correlation**: Pearson correlation of predicted and true alpha after removing each clip's own
  mean from both, pooled over every frame and dimension of the clips: 0 for any audio-blind predictor,
  1 for perfect per-frame motion;
- **MAR correlation**: the mouth aspect ratio (:func:`emohead.face.mar.mouth_aspect_ratio`) of the
  frontal mean-identity face driven by the predicted alpha against the clip's true MAR (measured on the
  rendered frame's landmarks), pooled over frames: does the mouth open when the audio says so.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..face.mar import mouth_aspect_ratio


def rmse(pred: Sequence[np.ndarray], true: Sequence[np.ndarray]) -> float:
    """RMSE over every frame and dimension of paired clips (each [T, m])."""
    sq = sum(float(((np.asarray(p, np.float64) - t) ** 2).sum()) for p, t in zip(pred, true))
    return float(np.sqrt(sq / max(1, sum(np.asarray(t).size for t in true))))


def offset_rmse(pred: Sequence[np.ndarray], true: Sequence[np.ndarray]) -> float:
    """RMSE of per-clip mean alpha (each clip [T, m] weighted by its T): the emotion-offset part of :func:`rmse`."""
    sq = sum(len(t) * float(((np.mean(np.asarray(p, np.float64), axis=0) - np.mean(t, axis=0)) ** 2).sum())
             for p, t in zip(pred, true))
    return float(np.sqrt(sq / max(1, sum(np.asarray(t).size for t in true))))


def motion_correlation(pred: Sequence[np.ndarray], true: Sequence[np.ndarray]) -> float:
    """Pearson correlation of per-clip-centred alpha, pooled over clips, frames and dims (each [T, m]).

    0 when the prediction is constant within every clip (nan-free: returns 0.0 then)."""
    p = np.concatenate([np.asarray(a, np.float64) - np.mean(a, axis=0) for a in pred]).ravel()
    t = np.concatenate([np.asarray(a, np.float64) - np.mean(a, axis=0) for a in true]).ravel()
    denom = np.linalg.norm(p) * np.linalg.norm(t)
    return float(p @ t / denom) if denom > 0 else 0.0


def mar_of_alpha(face_model, alpha: np.ndarray) -> np.ndarray:
    """Mouth aspect ratio [T] of the frontal, mean-identity face with expression alpha [T, m]."""
    verts = face_model.vertices(np.asarray(alpha, np.float32))                  # [T, N, 3]
    landmarks = verts[:, np.asarray(face_model.landmark_ids), :2]               # frontal view: drop depth
    return np.asarray(mouth_aspect_ratio(landmarks), np.float64)


def mar_correlation(face_model, pred: Sequence[np.ndarray], true_mar: Sequence[np.ndarray]) -> float:
    """Pearson correlation of MAR(pred alpha) with the true MAR [T], pooled over clips."""
    p = np.concatenate([mar_of_alpha(face_model, a) for a in pred])
    t = np.concatenate([np.asarray(m, np.float64).ravel() for m in true_mar])
    if p.std() == 0 or t.std() == 0:
        return 0.0
    return float(np.corrcoef(p, t)[0, 1])


def score(pred: Sequence[np.ndarray], true: Sequence[np.ndarray], true_mar: Sequence[np.ndarray] | None = None,
          face_model=None) -> dict[str, float]:
    """{"rmse", "offset_rmse", "motion_corr"[, "mar_corr"]} of predictions against targets (lists of [T, m])."""
    out = {"rmse": rmse(pred, true), "offset_rmse": offset_rmse(pred, true), "motion_corr": motion_correlation(pred, true)}
    if true_mar is not None and face_model is not None:
        out["mar_corr"] = mar_correlation(face_model, pred, true_mar)
    return out


def attention_peak(maps: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean over query frames of the largest attention weight, per map ([W, W] each): 1/W for uniform
    attention, 1 when every query copies a single frame (saturated softmax)."""
    return {name: float(np.asarray(a).max(axis=-1).mean()) for name, a in maps.items()}
