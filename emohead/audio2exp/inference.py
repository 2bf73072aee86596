"""Inference on audio of any length: overlapping windows, cross-faded, memory bounded by the window.

A clip of T frames is cut into windows of W frames (the training window) whose starts are ``W - overlap``
apart; each window also reads its n frames of context (silence before frame 0). Window outputs are
blended with linear cross-fade weights in the overlaps, and windows are run ``max_windows`` at a time,
so memory depends on W and ``max_windows``, not on T.

Because alpha~ and tau do not depend on the tag, one pass gives every emotion: alpha^ = mu + alpha~ + tau w
with (w, mu) = (w_z, mu_z) for a tag, a blend of two, or a per-frame switch schedule (App. B (3));
``model.refinement`` gives them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .data import STREAMS, pad_context
from ..emotion.editing import refine
from .model import Audio2Expression


@dataclass
class Prediction:
    """alpha_tilde [T, m], tau [T], and (optionally) attention maps of the first window {name: [W, W]}."""

    alpha_tilde: np.ndarray
    tau: np.ndarray
    attention: dict[str, np.ndarray] | None = None

    def refined(self, normals: np.ndarray, anchors: np.ndarray | None = None) -> np.ndarray:
        """eq. 9: alpha^ = (mu +) alpha~ + tau w; normals, anchors [m] (one tag) or [T, m] (a schedule).

        ``pred.refined(*model.refinement("happy"))`` refines for a tag with the model's own w_z and mu_z.
        """
        normals = np.asarray(normals, dtype=np.float32)
        anchors = None if anchors is None else np.asarray(anchors, dtype=np.float32)
        return refine(self.alpha_tilde, self.tau, normals, anchors)


def window_starts(n_frames: int, window: int, overlap: int) -> list[int]:
    """Window starts covering [0, T): hop = window - overlap, the last window ends at T."""
    if window <= overlap:
        raise ValueError(f"window ({window}) must be larger than overlap ({overlap})")
    if n_frames <= window:
        return [0]
    starts = list(range(0, n_frames - window, window - overlap))
    starts.append(n_frames - window)
    return sorted(set(starts))


def crossfade_weights(window: int, overlap: int) -> np.ndarray:
    """Per-frame blend weight [W] of one window: linear ramps of ``overlap`` frames at both ends."""
    w = np.ones(window, dtype=np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 1.0) / (overlap + 1.0)
        w[:overlap] = ramp
        w[window - overlap:] = ramp[::-1]
    return w


@torch.no_grad()
def predict(model: Audio2Expression, features: Any, *, overlap: int | None = None, max_windows: int = 64,
            device: str | torch.device | None = None, return_attention: bool = False) -> Prediction:
    """Predict alpha~ [T, m] and tau [T] of one clip.

    ``features``: a ClipFeatures (or anything with ``audio`` [T, Da], ``emotion`` [T, De], ``text`` [T, Dt]).
    ``overlap`` defaults to a quarter of the window.
    """
    model.eval()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    arrays = {s: np.asarray(getattr(features, s), dtype=np.float32) for s in STREAMS}
    n_frames = arrays["audio"].shape[0]
    for s in STREAMS:
        if arrays[s].ndim != 2 or arrays[s].shape[0] != n_frames:
            raise ValueError(f"{s} features must be [T={n_frames}, D], got {arrays[s].shape}")
        if arrays[s].shape[1] != model.dims[s]:
            raise ValueError(f"{s} features are {arrays[s].shape[1]}-d; this model expects {model.dims[s]}-d")
    if n_frames == 0:
        raise ValueError("cannot predict expressions for a clip with no frames")
    n = model.cfg.n_neighbors
    window = min(model.cfg.window, n_frames)
    overlap = min(window // 4 if overlap is None else overlap, window - 1)
    padded = {s: torch.from_numpy(pad_context(arrays[s], model.silence(s).cpu().numpy(), n)) for s in STREAMS}
    starts = window_starts(n_frames, window, overlap)
    fade = crossfade_weights(window, overlap)
    alpha_sum = np.zeros((n_frames, model.m), np.float64)
    tau_sum = np.zeros(n_frames, np.float64)
    weight_sum = np.zeros(n_frames, np.float64)
    attention = None
    for i in range(0, len(starts), max_windows):
        chunk = starts[i:i + max_windows]
        batch = {s: torch.stack([padded[s][st:st + n + window] for st in chunk]).to(device) for s in STREAMS}
        out = model(batch["audio"], batch["emotion"], batch["text"], return_attention=return_attention and i == 0)
        if out.attention is not None:
            attention = {k: v[0].float().cpu().numpy() for k, v in out.attention.items()}
        a = out.alpha_tilde.float().cpu().numpy()
        t = out.tau.float().cpu().numpy()
        for j, st in enumerate(chunk):
            # the first window keeps full weight at the clip start, the last at the clip end
            w = fade.copy()
            if st == 0:
                w[:overlap] = 1.0
            if st + window == n_frames:
                w[window - overlap:] = 1.0
            alpha_sum[st:st + window] += w[:, None] * a[j]
            tau_sum[st:st + window] += w * t[j]
            weight_sum[st:st + window] += w
    return Prediction(alpha_tilde=(alpha_sum / weight_sum[:, None]).astype(np.float32),
                      tau=(tau_sum / weight_sum).astype(np.float32), attention=attention)
