"""Figures of the synthetic world (notebook 01): actors, emotions, AU prototypes, speech, expression dims."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy import signal


def image_grid(images: np.ndarray, *, row_labels: Sequence[str] = (), col_labels: Sequence[str] = (),
               title: str = "", cell: float = 1.6) -> Figure:
    """Images [R, C, H, W, 3] (uint8 or float) in a labelled grid."""
    images = np.asarray(images)
    if images.ndim != 5:
        raise ValueError(f"image_grid expects [R, C, H, W, 3], got {images.shape}")
    rows, cols = images.shape[:2]
    fig = Figure(figsize=(cell * cols + 0.6, cell * rows + (0.5 if title else 0.2)))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.imshow(images[r, c])
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if r == 0 and c < len(col_labels):
                ax.set_title(col_labels[c], fontsize=9)
            if c == 0 and r < len(row_labels):
                ax.set_ylabel(row_labels[r], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def matrix_heatmap(matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], *,
                   title: str = "", colorbar: str = "", diverging: bool = False) -> Figure:
    """A labelled matrix [R, C] with its values written in the cells."""
    mat = np.asarray(matrix, dtype=np.float64)
    fig = Figure(figsize=(0.45 * len(col_labels) + 2.2, 0.4 * len(row_labels) + 1.5))
    ax = fig.add_subplot(111)
    if diverging:
        lim = float(np.abs(mat).max()) or 1.0
        im = ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    else:
        im = ax.imshow(mat, cmap="Oranges", vmin=0, aspect="auto")
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=60, fontsize=8)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=9)
    for (i, j), v in np.ndenumerate(mat):
        if abs(v) > 1e-3:
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label=colorbar)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def au_prototype_heatmap(prototypes: dict[str, np.ndarray], au_names: Sequence[str]) -> Figure:
    """Emotion x action-unit activation matrix of the AU prototypes."""
    mat = np.stack([np.asarray(prototypes[e]) for e in prototypes])
    return matrix_heatmap(mat, list(prototypes), au_names, title="FACS action-unit prototypes of the emotions",
                          colorbar="activation")


def speech_figure(audio: np.ndarray, sample_rate: int, words: Sequence[dict[str, Any]],
                  phonemes: Sequence[dict[str, Any]] = (), *, fps: int = 25,
                  curves: dict[str, np.ndarray] | None = None) -> Figure:
    """Waveform, spectrogram with word and phoneme times, and optional per-frame curves (e.g. visemes)."""
    audio = np.asarray(audio, dtype=np.float32)
    t = np.arange(len(audio)) / sample_rate
    n_rows = 3 if curves else 2
    fig = Figure(figsize=(11, 2.3 * n_rows))
    axes = fig.subplots(n_rows, 1, sharex=True)
    axes[0].plot(t, audio, lw=0.4, color="#333333")
    axes[0].set_ylabel("waveform")
    for w in words:
        for ax in axes:
            ax.axvline(w["start"], color="#c0392b", lw=0.7, alpha=0.7)
        axes[0].text(w["start"], 0.92 * (np.abs(audio).max() + 1e-6), w["word"], fontsize=8, color="#c0392b",
                     va="top")
    freqs, times, spec = signal.spectrogram(audio, fs=sample_rate, nperseg=400, noverlap=240)
    axes[1].pcolormesh(times, freqs, 10 * np.log10(spec + 1e-10), shading="auto", cmap="magma")
    axes[1].set_ylabel("Hz")
    axes[1].set_ylim(0, sample_rate / 2)
    for p in phonemes:
        axes[1].text(p["start"], sample_rate * 0.46, p["phoneme"], fontsize=6, color="white", rotation=90, va="top")
    if curves:
        for name, curve in curves.items():
            axes[2].plot(np.arange(len(curve)) / fps, curve, label=name, lw=1.2)
        axes[2].set_ylabel("per frame")
        axes[2].legend(fontsize=7, ncol=len(curves), loc="upper right")
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    return fig


def frame_strip(frames: np.ndarray, n: int = 8, *, fps: int = 25, title: str = "") -> Figure:
    """``n`` evenly spaced frames [T, H, W, 3] of a clip, labelled with their time."""
    frames = np.asarray(frames)
    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    return image_grid(frames[idx][None], col_labels=[f"{i / fps:.2f} s" for i in idx], title=title)


def alpha_traces(alpha: np.ndarray, *, fps: int = 25, mar: np.ndarray | None = None, title: str = "") -> Figure:
    """Per-frame expression parameters alpha [T, 10] (and MAR) of a clip."""
    alpha = np.asarray(alpha)
    t = np.arange(len(alpha)) / fps
    fig = Figure(figsize=(11, 3.2))
    ax = fig.add_subplot(111)
    for d in range(alpha.shape[1]):
        ax.plot(t, alpha[:, d], lw=1.0, label=f"dim {d}")
    if mar is not None:
        ax.plot(t, mar, "k--", lw=1.4, label="MAR")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("alpha")
    ax.legend(fontsize=7, ncol=6, loc="upper right")
    ax.set_title(title or "expression parameters over the clip")
    fig.tight_layout()
    return fig
