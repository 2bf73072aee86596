"""Figures of the rendering module: the hash grid explained, NeRF training curves."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def hashgrid_figure(encoder: Any, *, n_points: int = 400, levels: tuple[int, ...] = (0, 3, -1)) -> Figure:
    """The multi-resolution hash grid in three panels.

    Left: resolution N_l per level, dense (one table row per vertex) or hashed (eq. 4; vertices share rows).
    Middle: the cells of a coarse and a fine level over the unit square (a 2-D slice), one point's cells marked.
    Right: the encoding of points along a line through the cube: one feature per chosen level; coarse levels vary
    slowly, fine ones fast, and all are continuous (trilinear interpolation between table entries).
    """
    fig = Figure(figsize=(13, 3.6))
    ax_res, ax_cells, ax_feat = fig.subplots(1, 3)
    res = np.asarray(encoder.resolutions)
    dense = np.asarray(encoder.dense, bool)
    ax_res.bar(np.arange(len(res)), res, color=np.where(dense, "tab:blue", "tab:orange"))
    ax_res.set_yscale("log")
    ax_res.set(xlabel="level l", ylabel="resolution N_l", title=f"{len(res)} levels, table 2^{encoder.log2_table_size}")
    ax_res.bar([0], [0], color="tab:blue", label="dense")
    ax_res.bar([0], [0], color="tab:orange", label="hashed")
    ax_res.legend(fontsize=8)

    p = np.array([0.37, 0.61])
    for lvl, colour in ((levels[0], "tab:blue"), (levels[1], "tab:orange")):
        n = int(res[lvl])
        step = 1.0 / n
        for k in range(0, n + 1, max(1, n // 16)):
            ax_cells.axvline(k * step, color=colour, lw=0.4, alpha=0.5)
            ax_cells.axhline(k * step, color=colour, lw=0.4, alpha=0.5)
        lo = np.floor(p * n) / n
        ax_cells.add_patch(Rectangle(lo, step, step, fill=False, ec=colour, lw=2, label=f"level {lvl % len(res)} "
                                     f"(N={n}): the cell holding x"))
    ax_cells.plot(*p, "k*", ms=10, label="x")
    ax_cells.set(xlim=(0.25, 0.5), ylim=(0.5, 0.75), aspect="equal", title="cells around x (2-D slice)")
    ax_cells.legend(fontsize=7, loc="lower left")

    t = torch.linspace(0.05, 0.95, n_points)
    x = torch.stack([t, torch.full_like(t, 0.5), torch.full_like(t, 0.5)], dim=1)
    dev = next(encoder.parameters()).device
    with torch.no_grad():
        y = encoder(x.to(dev)).float().cpu().numpy().reshape(n_points, len(res), -1)
    for lvl in levels:
        v = y[:, lvl, 0]
        scale = float(np.abs(v).max()) or 1.0
        ax_feat.plot(t.numpy(), v / scale, lw=1, label=f"level {lvl % len(res)} (N={res[lvl]})")
    ax_feat.set(xlabel="x along a line through the cube", ylabel="feature 0 (scaled)", title="encoding along a line")
    ax_feat.legend(fontsize=8)
    fig.tight_layout()
    return fig


def nerf_training_curves(history: Mapping[str, Any]) -> Figure:
    """Losses (left; L_cord / L_shape from the refinement stage on) and PSNR on held-out frames (right)."""
    fig = Figure(figsize=(12, 3.4))
    ax_loss, ax_ref, ax_psnr = fig.subplots(1, 3)
    it = np.asarray(history["iteration"])
    ax_loss.plot(it, history["l_photo"], lw=1.2, label="L_photo (rays)")
    ax_loss.set_yscale("log")
    ax_loss.set(xlabel="iteration", ylabel="loss", title="photometric loss (eq. 15)")
    for key, label in (("l_cord", "L_cord (x1e-3 in L)"), ("l_shape", "L_shape (x1e-9 in L)")):
        vals = np.array([np.nan if v is None else v for v in history[key]], float)
        if np.isfinite(vals).any():
            ax_ref.plot(it, vals, lw=1.2, label=label)
    ax_ref.set(xlabel="iteration", title="refinement losses (eq. 16)")
    ax_ref.legend(fontsize=8)
    ax_psnr.plot(history["val_iteration"], history["val_psnr"], marker="o", ms=3, label="whole frame")
    ax_psnr.plot(history["val_iteration"], history["val_psnr_head"], marker="s", ms=3, label="head pixels")
    ax_psnr.set(xlabel="iteration", ylabel="PSNR (dB)", title="held-out frames")
    ax_psnr.legend(fontsize=8)
    for ax in (ax_loss, ax_ref, ax_psnr):
        refine = history.get("refine_start")
        if refine is not None:
            ax.axvline(refine, color="0.5", ls=":", lw=1)
    fig.tight_layout()
    return fig
