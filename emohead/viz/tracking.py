"""Figures of the real face trackers (notebook 01): what the mesh, the 68 points, the masks and 3DDFA_V2 read."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure


def tracking_figure(image: np.ndarray, track: Any, *, index: int = 0, head: np.ndarray | None = None,
                    title: str = "") -> Figure:
    """Frame ``index`` of a clip [H, W, 3] uint8 and its :class:`~emohead.tracking.FaceTrack`: the 468-point mesh
    and the 68 landmarks, the head (``head`` [H, W] bool) and person masks, and 3DDFA_V2's pose and expression."""
    fig = Figure(figsize=(13.0, 3.6))
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.2]})
    mesh, lm = track.mesh[index], track.landmarks[index]
    axes[0].imshow(image)
    axes[0].scatter(mesh[:, 0], mesh[:, 1], s=0.6, c="cyan", linewidths=0)
    axes[0].set_title("468-point mesh", fontsize=9)
    axes[1].imshow(image)
    axes[1].scatter(lm[:, 0], lm[:, 1], s=7, c=np.arange(68), cmap="turbo", linewidths=0)
    axes[1].set_title("68 landmarks (iBUG order, colour = index)", fontsize=9)
    overlay = image.astype(np.float32) / 255.0 * 0.5
    overlay[..., 1] += 0.5 * (track.person[index] > 0.5)
    if head is not None:
        overlay[..., 0] += 0.5 * head
    axes[2].imshow(np.clip(overlay, 0, 1))
    axes[2].set_title("head (red) and person (green) masks", fontsize=9)
    for ax in axes[:3]:
        ax.set_xticks([])
        ax.set_yticks([])
    yaw, pitch, roll = track.euler_deg[index]
    axes[3].bar(np.arange(track.alpha.shape[1]), track.alpha[index], color="tab:purple")
    axes[3].axhline(0.0, color="k", lw=0.5)
    axes[3].set_xticks(np.arange(track.alpha.shape[1]))
    axes[3].set_xlabel("3DDFA_V2 expression dimension")
    axes[3].set_title(f"alpha; pose yaw {yaw:+.1f}°, pitch {pitch:+.1f}°, roll {roll:+.1f}°", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def r2_bars(r2: Sequence[float], *, title: str = "") -> Figure:
    """Held-out R^2 per generator expression dimension (how well a linear map of 3DDFA_V2's alpha predicts it)."""
    r2 = np.asarray(r2, dtype=np.float64)
    fig = Figure(figsize=(6.0, 2.8))
    ax = fig.subplots()
    ax.bar(np.arange(len(r2)), r2, color=["tab:green" if v >= 0.5 else "tab:orange" if v >= 0 else "tab:red" for v in r2])
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xticks(np.arange(len(r2)))
    ax.set_xlabel("synthetic world's expression dimension")
    ax.set_ylabel("held-out R²")
    ax.set_ylim(min(-0.2, float(r2.min()) - 0.05), 1.0)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
