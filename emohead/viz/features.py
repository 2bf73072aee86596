"""Figures of the per-frame features and the word/frame alignment (notebook 01, second half)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def feature_heatmaps(features: Mapping[str, np.ndarray], *, fps: int = 25,
                     frame_words: Sequence[str | None] | None = None, max_dims: int = 128) -> Figure:
    """One heatmap per feature [T, D] (time on x), z-scored per dimension; word boundaries as lines."""
    fig = Figure(figsize=(11, 2.2 * len(features) + 0.4))
    axes = fig.subplots(len(features), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, feat) in zip(axes, features.items()):
        feat = np.asarray(feat, dtype=np.float32)
        shown = feat[:, :max_dims]
        z = (shown - shown.mean(0)) / (shown.std(0) + 1e-6)
        t = len(feat) / fps
        ax.imshow(z.T, aspect="auto", cmap="viridis", vmin=-2.5, vmax=2.5, extent=(0, t, shown.shape[1], 0),
                  interpolation="nearest")
        ax.set_ylabel(f"{name}\n[{feat.shape[1]}-d]", fontsize=9)
        if frame_words is not None:
            for i in range(1, len(frame_words)):
                if frame_words[i] != frame_words[i - 1]:
                    ax.axvline(i / fps, color="white", lw=0.6, alpha=0.8)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"per-frame features (first {max_dims} dims shown, z-scored)", fontsize=11)
    fig.tight_layout()
    return fig


def alignment_figure(words: Sequence[Mapping[str, Any]], frame_words: Sequence[str | None], *, fps: int = 25,
                     max_frames: int = 60) -> Figure:
    """Paper Fig. 9: word intervals on a time line above the video frames they cover (silence in grey)."""
    n = min(len(frame_words), max_frames)
    fig = Figure(figsize=(min(16, 0.26 * n + 1.5), 2.6))
    ax = fig.add_subplot(111)
    palette = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5"]
    colour = {}
    for k, w in enumerate(words):
        colour.setdefault(w["word"], palette[k % len(palette)])
        if w["start"] * fps < n:
            x0, x1 = w["start"] * fps, min(w["end"] * fps, n)
            ax.add_patch(Rectangle((x0, 1.2), x1 - x0, 0.7, fc=colour[w["word"]], ec="#333333", lw=0.6))
            ax.text((x0 + x1) / 2, 1.55, w["word"], ha="center", va="center", fontsize=8)
    for i in range(n):
        word = frame_words[i]
        ax.add_patch(Rectangle((i + 0.05, 0.1), 0.9, 0.8, fc=colour.get(word, "#dddddd") if word else "#dddddd",
                               ec="#555555", lw=0.5))
        ax.text(i + 0.5, 0.5, "sil" if word is None else word[:3], ha="center", va="center", fontsize=5, rotation=90)
    ax.text(-0.5, 1.55, "words", ha="right", va="center", fontsize=9)
    ax.text(-0.5, 0.5, "frames", ha="right", va="center", fontsize=9)
    ax.set_xlim(-0.2, n + 0.2)
    ax.set_ylim(0, 2.1)
    ax.set_yticks([])
    ax.set_xlabel(f"video frame index ({fps} fps)")
    ax.set_title("word-to-frame alignment (paper Fig. 9): each frame takes the word covering its centre", fontsize=10)
    fig.tight_layout()
    return fig


def alpha_comparison(alpha_true: np.ndarray, alpha_pred: np.ndarray, *, fps: int = 25,
                     dims: Sequence[int] = (0, 1, 2, 3), labels: tuple[str, str] = ("ground truth", "analyser")) -> Figure:
    """Predicted against true expression parameters over a clip, one panel per dim."""
    alpha_true, alpha_pred = np.asarray(alpha_true), np.asarray(alpha_pred)
    t = np.arange(len(alpha_true)) / fps
    fig = Figure(figsize=(11, 1.8 * len(dims) + 0.4))
    axes = fig.subplots(len(dims), 1, sharex=True, squeeze=False)[:, 0]
    for ax, d in zip(axes, dims):
        ax.plot(t, alpha_true[:, d], color="#222222", lw=1.4, label=labels[0])
        ax.plot(t, alpha_pred[:, d], color="#d95f02", lw=1.2, ls="--", label=labels[1])
        rmse = float(np.sqrt(np.mean((alpha_true[:, d] - alpha_pred[:, d]) ** 2)))
        ax.set_ylabel(f"dim {d}\nRMSE {rmse:.2f}", fontsize=8)
    axes[0].legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    return fig
