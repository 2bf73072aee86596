"""Resampling model-rate feature sequences to the video frame rate (25 fps, Sec. III-A).

A model frame j (HuBERT and emotion2vec: one every 320 samples = 50 Hz) is placed at the centre
of its receptive field; video frame i covers [i/fps, (i+1)/fps). Each video frame averages the model
frames whose centres fall in it (at 50 Hz: exactly a pair, as the paper's 25 fps pooling does);
a video frame with none (only at the clip edges) takes the nearest model frame.
"""
from __future__ import annotations

import numpy as np


def conv_geometry(kernels: list[int] | tuple[int, ...], strides: list[int] | tuple[int, ...]) -> tuple[int, int]:
    """(hop, receptive field) in samples of a stack of 1-D convolutions without padding."""
    hop, field = 1, 1
    for k, s in zip(kernels, strides):
        field += (k - 1) * hop
        hop *= s
    return hop, field


def pool_to_frames(feats: np.ndarray, *, hop: int, field: int, sample_rate: int, n_frames: int,
                   fps: int) -> np.ndarray:
    """Model-rate features [N, D] -> video-rate features [T, D] (float32).

    Model frame j is centred at (j * hop + field / 2) / sample_rate seconds.
    """
    feats = np.asarray(feats, dtype=np.float32)
    if feats.ndim != 2 or len(feats) == 0:
        raise ValueError(f"pool_to_frames: expected features [N>0, D], got shape {feats.shape}")
    centres = (np.arange(len(feats)) * hop + field / 2.0) / sample_rate       # [N] seconds
    bins = np.floor(centres * fps).astype(np.int64)                           # video frame of each model frame
    inside = (bins >= 0) & (bins < n_frames)
    out = np.zeros((n_frames, feats.shape[1]), dtype=np.float64)
    full = np.zeros(n_frames, dtype=bool)
    if inside.any():
        # bins rise with time, so each video frame's model frames are one contiguous run: sum the runs
        # with reduceat (np.add.at is ~100x slower on [3000, 768] arrays)
        b, f = bins[inside], feats[inside].astype(np.float64)
        frames, starts = np.unique(b, return_index=True)
        counts = np.diff(np.append(starts, len(b)))
        out[frames] = np.add.reduceat(f, starts, axis=0) / counts[:, None]
        full[frames] = True
    if not full.all():  # edge frames without a model frame: nearest by time
        frame_centres = (np.flatnonzero(~full) + 0.5) / fps
        nearest = np.abs(centres[None, :] - frame_centres[:, None]).argmin(axis=1)
        out[~full] = feats[nearest]
    return out.astype(np.float32)
