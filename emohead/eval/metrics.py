"""Frame, landmark, action-unit and emotion metrics of the paper's evaluation (Sec. IV, Tables I, II, IV, VI).

- PSNR, SSIM: reconstruction of the ground-truth frames (torchmetrics' functional implementations).
- M-LMD, F-LMD: mouth / face landmark distance after mean-centring each frame's landmark set.
- AUE: mean absolute error of action-unit intensities (OpenFace on real data, the analyser here).
- ER: accuracy of a frame emotion classifier against the target emotion tag (FAN in the paper,
  the face analyser's emotion head here).

Every function returns a :class:`~emohead.eval.result.MetricResult` whose ``per_item`` holds the
per-frame values (per-clip for ER's clip accuracy in ``extra``). Numbers computed on the synthetic
world are not the paper's MEAD numbers.
"""
from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
import torch

from .result import EvalError, MetricResult

PSNR_CAP_DB = 100.0
"""Cap (dB) applied per frame before averaging PSNR: identical frames have PSNR = inf (MSE 0); the
per-frame values keep the inf, the reported mean uses min(PSNR, 100 dB) so one perfect frame cannot
make a table entry infinite (ours)."""
SSIM_KERNEL = 11
"""SSIM Gaussian window size (Wang et al. 2004; torchmetrics' and skimage's gaussian defaults)."""
SSIM_SIGMA = 1.5
"""SSIM Gaussian window standard deviation (Wang et al. 2004)."""
MOUTH = tuple(range(48, 68))
"""The 20 mouth points of the 68-point (iBUG/Multi-PIE) layout: outer lip 48-59, inner lip 60-67."""
FACE = tuple(range(68))
"""All 68 landmarks."""


# ---------------------------------------------------------------- helpers
def _frames01(x: Any, name: str) -> torch.Tensor:
    """uint8 [N, H, W, 3] / [H, W, 3] or float in [0, 1] -> float64 tensor [N, 3, H, W] in [0, 1]."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise EvalError(f"{name} must be frames [N, H, W, 3] (RGB), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        t = torch.from_numpy(arr.astype(np.float64) / 255.0)
    elif np.issubdtype(arr.dtype, np.floating):
        if arr.size and (np.nanmin(arr) < -1e-6 or np.nanmax(arr) > 1 + 1e-6 or not np.isfinite(arr).all()):
            raise EvalError(f"{name}: float frames must be finite and in [0, 1], got range "
                            f"[{np.nanmin(arr):.3g}, {np.nanmax(arr):.3g}]")
        t = torch.from_numpy(np.clip(arr, 0.0, 1.0).astype(np.float64))
    else:
        raise EvalError(f"{name} must be uint8 or float in [0, 1], got dtype {arr.dtype}")
    return t.permute(0, 3, 1, 2)


def _pair(pred: Any, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
    p, t = _frames01(pred, "pred"), _frames01(target, "target")
    if p.shape != t.shape:
        raise EvalError(f"pred and target frames differ in shape: {tuple(p.permute(0, 2, 3, 1).shape)} vs "
                        f"{tuple(t.permute(0, 2, 3, 1).shape)}")
    if len(p) == 0:
        raise EvalError("pred and target hold no frames")
    return p, t


# ---------------------------------------------------------------- PSNR / SSIM
def psnr(pred: Any, target: Any, *, cap_db: float = PSNR_CAP_DB, batch_size: int = 32,
         device: str = "cpu") -> MetricResult:
    """Peak signal-to-noise ratio per frame, PSNR = 10 log10(1 / MSE) on [0, 1] RGB (data_range 1).

    pred (generated) and target (ground truth): uint8 [N, H, W, 3] or float in [0, 1].
    ``per_item`` [N] dB, inf where a frame is reproduced exactly; ``value`` = mean of min(PSNR, cap_db)
    (see :data:`PSNR_CAP_DB`); ``extra["n_exact"]`` counts the infinite frames. ``device``: where each batch
    is compared (float64 either way; a GPU only makes it faster).
    """
    from torchmetrics.functional.image import peak_signal_noise_ratio

    p, t = _pair(pred, target)
    vals = torch.cat([peak_signal_noise_ratio(p[s:s + batch_size].to(device), t[s:s + batch_size].to(device),
                                              data_range=1.0, reduction="none", dim=(1, 2, 3)).cpu()
                      for s in range(0, len(p), batch_size)]).numpy()
    capped = np.minimum(vals, cap_db)
    return MetricResult("PSNR", float(capped.mean()), "dB", vals,
                        {"cap_db": float(cap_db), "n_exact": int(np.isinf(vals).sum())})


def ssim(pred: Any, target: Any, *, batch_size: int = 16, device: str = "cpu") -> MetricResult:
    """Structural similarity (Wang et al. 2004) per frame, averaged over frames.

    Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, data_range 1 on [0, 1] RGB, mean over channels
    and over the valid (unpadded) window positions (torchmetrics; agrees with
    ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=1, channel_axis=-1)``). pred, target: uint8 [N, H, W, 3] or float in [0, 1]; H, W >= 11.
    ``device``: where each batch is compared (float64 either way; a GPU only makes it faster).
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    p, t = _pair(pred, target)
    if min(p.shape[-2:]) < SSIM_KERNEL:
        raise EvalError(f"SSIM needs frames of at least {SSIM_KERNEL} px, got {tuple(p.shape[-2:])}")
    vals = torch.cat([structural_similarity_index_measure(p[s:s + batch_size].to(device),
                                                          t[s:s + batch_size].to(device),
                                                          gaussian_kernel=True, sigma=SSIM_SIGMA,
                                                          kernel_size=SSIM_KERNEL, data_range=1.0,
                                                          reduction="none").cpu()
                      for s in range(0, len(p), batch_size)]).numpy()
    return MetricResult("SSIM", float(vals.mean()), "", vals)


# ---------------------------------------------------------------- landmark distances
def landmark_distance(pred: Any, real: Any, indices: Sequence[int] = FACE) -> np.ndarray:
    """Per-frame landmark distance [N]: mean_k || (p_k - mean_j p_j) - (r_k - mean_j r_j) ||_2 over k in ``indices``.

    pred, real: [N, 68, 2] pixels. Each frame's selected set (only the points in ``indices``) is
    centred on its own mean before comparing, which removes head translation (a uniform shift of
    every selected point gives 0) but keeps any motion of the points relative to each other.
    """
    p, r = np.asarray(pred, np.float64), np.asarray(real, np.float64)
    for name, a in (("pred", p), ("real", r)):
        if a.ndim != 3 or a.shape[-1] != 2:
            raise EvalError(f"{name} landmarks must be [N, L, 2], got shape {a.shape}")
    if p.shape != r.shape:
        raise EvalError(f"pred and real landmarks differ in shape: {p.shape} vs {r.shape}")
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= p.shape[1]:
        raise EvalError(f"indices must lie in [0, {p.shape[1]}), got {idx.min() if idx.size else None}.."
                        f"{idx.max() if idx.size else None}")
    p, r = p[:, idx], r[:, idx]
    p = p - p.mean(1, keepdims=True)                                   # centre each frame's set
    r = r - r.mean(1, keepdims=True)
    return np.linalg.norm(p - r, axis=-1).mean(1)


def mouth_lmd(pred: Any, real: Any) -> MetricResult:
    """M-LMD (Sec. IV): :func:`landmark_distance` over the mouth points 48-67, mean over frames, in pixels.

    pred: landmarks of the generated frames from the face analyser (``analyse_frames(...).landmarks``);
    real: the dataset's landmarks of the ground-truth frames (``ProcessedDataset.arrays(clip)["landmarks"]``),
    both [N, 68, 2] in pixels of frames of the same size.
    """
    d = landmark_distance(pred, real, MOUTH)
    return MetricResult("M-LMD", float(d.mean()), "px", d, {"centred": "mouth points 48-67"})


def face_lmd(pred: Any, real: Any) -> MetricResult:
    """F-LMD (Sec. IV): :func:`landmark_distance` over all 68 points, mean over frames, in pixels (see :func:`mouth_lmd`)."""
    d = landmark_distance(pred, real, FACE)
    return MetricResult("F-LMD", float(d.mean()), "px", d, {"centred": "all 68 points"})


# ---------------------------------------------------------------- action units
def au_error(pred: Any, real: Any, *, pred_names: Sequence[str] | None = None,
             real_names: Sequence[str] | None = None) -> MetricResult:
    """AUE (Sec. IV): mean over frames and AUs of |a_pred - a_real| (action-unit intensities).

    pred [N, K] from the generated frames, real [N, K'] from the ground-truth frames, both from the
    same estimator (the analyser's ``au``, or OpenFace's ``AUxx_r`` via
    :func:`emohead.eval.openface.read_openface_aus`). With names, only AUs present in both are
    compared; without, K must equal K'. ``extra["per_au"]`` holds the error of each AU.
    """
    p, r = np.asarray(pred, np.float64), np.asarray(real, np.float64)
    for name, a in (("pred", p), ("real", r)):
        if a.ndim != 2:
            raise EvalError(f"{name} AU intensities must be [N, K], got shape {a.shape}")
    if len(p) != len(r) or len(p) == 0:
        raise EvalError(f"pred and real AUs need the same non-zero number of frames, got {len(p)} and {len(r)}")
    if pred_names is not None or real_names is not None:
        if pred_names is None or real_names is None:
            raise EvalError("give both pred_names and real_names, or neither")
        for name, names, a in (("pred_names", pred_names, p), ("real_names", real_names, r)):
            if len(names) != a.shape[1]:
                raise EvalError(f"{name} has {len(names)} names for {a.shape[1]} AU columns")
        common = [n for n in pred_names if n in set(real_names)]
        if not common:
            raise EvalError(f"no AU in common between pred_names {list(pred_names)} and real_names {list(real_names)}")
        p = p[:, [list(pred_names).index(n) for n in common]]
        r = r[:, [list(real_names).index(n) for n in common]]
        names = common
    else:
        if p.shape != r.shape:
            raise EvalError(f"pred and real AUs differ in shape: {p.shape} vs {r.shape} (pass names to match AUs)")
        names = [f"au{i}" for i in range(p.shape[1])]
    err = np.abs(p - r)                                                # [N, K]
    return MetricResult("AUE", float(err.mean()), "", err.mean(1),
                        {"aus": list(names), "per_au": {n: float(e) for n, e in zip(names, err.mean(0))}})


# ---------------------------------------------------------------- emotion recognition
def _target_index(target: Any, emotions: Sequence[str]) -> int:
    if isinstance(target, (int, np.integer)):
        if not 0 <= int(target) < len(emotions):
            raise EvalError(f"target index {target} out of range for {len(emotions)} emotions")
        return int(target)
    name = str(target)
    if name not in emotions:
        from ..data.emotions import canonical_emotion                 # CREMA-D names -> MEAD names
        try:
            name = canonical_emotion(name)
        except ValueError:
            raise EvalError(f"target emotion {target!r} is not one of {list(emotions)}") from None
        if name not in emotions:
            raise EvalError(f"target emotion {target!r} is not one of {list(emotions)}")
    return list(emotions).index(name)


def emotion_recognition(clip_probs: Sequence[Any], targets: Sequence[Any], *,
                        emotions: Sequence[str] | None = None,
                        clip_rule: Literal["mean_prob", "majority"] = "mean_prob") -> MetricResult:
    """ER (Sec. IV): accuracy (percent) of a frame emotion classifier against each clip's target emotion.

    clip_probs: one array [T_i, E] of per-frame class probabilities per clip (the analyser's
    ``emotion_probs`` of the generated frames; logits work too); targets: one tag per clip, an
    emotion name (MEAD or CREMA-D spelling) or an index into ``emotions`` (default MEAD's 8, the
    analyser's order). ``value`` is the per-frame accuracy over all frames of all clips (the paper's
    classifier is a frame classifier); ``extra["clip_accuracy"]`` is the per-clip accuracy where a
    clip's prediction is the argmax of its mean probability (``clip_rule="mean_prob"``) or the most
    frequent per-frame argmax, ties to the lower index (``"majority"``). ``per_item``: per-clip frame accuracy.
    """
    if emotions is None:
        from ..data.emotions import MEAD_EMOTIONS
        emotions = MEAD_EMOTIONS
    if clip_rule not in ("mean_prob", "majority"):
        raise EvalError(f"clip_rule={clip_rule!r}: expected 'mean_prob' or 'majority'")
    if isinstance(clip_probs, np.ndarray) and clip_probs.ndim == 2:
        clip_probs = [clip_probs]
    if isinstance(targets, (str, int, np.integer)):
        targets = [targets]
    if len(clip_probs) != len(targets) or len(targets) == 0:
        raise EvalError(f"need one target per clip: got {len(clip_probs)} clips and {len(targets)} targets")
    correct_frames = n_frames = correct_clips = 0
    per_clip = []
    for i, (probs, target) in enumerate(zip(clip_probs, targets)):
        p = np.asarray(probs, np.float64)
        if p.ndim != 2 or p.shape[1] != len(emotions) or len(p) == 0:
            raise EvalError(f"clip_probs[{i}] must be [T, {len(emotions)}] with T > 0, got shape {p.shape}")
        k = _target_index(target, emotions)
        frame_pred = p.argmax(1)
        hits = int((frame_pred == k).sum())
        correct_frames += hits
        n_frames += len(p)
        per_clip.append(hits / len(p))
        clip_pred = (p.mean(0).argmax() if clip_rule == "mean_prob"
                     else np.bincount(frame_pred, minlength=len(emotions)).argmax())
        correct_clips += int(clip_pred == k)
    return MetricResult("ER", 100.0 * correct_frames / n_frames, "%", np.asarray(per_clip),
                        {"clip_accuracy": 100.0 * correct_clips / len(targets), "clip_rule": clip_rule,
                         "n_frames": int(n_frames), "n_clips": len(targets)})


__all__ = ["FACE", "MOUTH", "PSNR_CAP_DB", "SSIM_KERNEL", "SSIM_SIGMA", "au_error", "emotion_recognition",
           "face_lmd", "landmark_distance", "mouth_lmd", "psnr", "ssim"]
