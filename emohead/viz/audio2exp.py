"""Figures of the audio-expression module: training curves and attention maps."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure


def training_curves(histories: Mapping[str, Mapping[str, Any]], *, baselines: Mapping[str, float] | None = None) -> Figure:
    """Training loss (left) and validation RMSE (right) of one or more runs {name: history}.

    ``baselines``: horizontal reference lines on the RMSE panel, e.g. {"predict the mean": 1.0}.
    """
    fig = Figure(figsize=(11, 3.4))
    ax_loss, ax_val = fig.subplots(1, 2)
    for name, h in histories.items():
        ax_loss.plot(h["iteration"], h["loss"], lw=1.2, label=name)
        ax_val.plot(h["val_iteration"], h["val_rmse"], marker="o", ms=3, lw=1.2, label=name)
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax_val.axhline(value, color="0.4", lw=1, ls=[":", "--", "-."][i % 3], label=name)
    ax_loss.set(xlabel="iteration", ylabel="training loss", title="loss (per-frame L2, eq. 13)")
    ax_val.set(xlabel="iteration", ylabel="RMSE of alpha^", title="held-out sentences")
    ax_loss.legend(fontsize=8)
    ax_val.legend(fontsize=8)
    fig.tight_layout()
    return fig


def attention_maps(maps: Mapping[str, np.ndarray], *, words: Sequence[str | None] | None = None,
                   first_frame: int = 0) -> Figure:
    """The softmax matrices {name: [W, W]} of one window: row = query frame, column = attended frame.

    ``words``: the word spoken at each frame of the window (ticks are labelled where a word starts).
    """
    fig = Figure(figsize=(4.2 * len(maps), 4.2))
    axes = np.atleast_1d(fig.subplots(1, len(maps)))
    for ax, (name, a) in zip(axes, maps.items()):
        im = ax.imshow(a, cmap="magma", vmin=0, vmax=max(float(a.max()), 1e-6))
        ax.set_title(f"attention '{name}'", fontsize=10)
        ax.set_xlabel("attended frame")
        ax.set_ylabel("query frame")
        if words is not None:
            starts = [i for i, w in enumerate(words) if w is not None and (i == 0 or words[i - 1] != w)]
            ax.set_xticks(starts, [str(words[i]) for i in starts], rotation=90, fontsize=7)
            ax.set_yticks(starts, [str(words[i]) for i in starts], fontsize=7)
        else:
            ticks = np.arange(0, a.shape[0], max(1, a.shape[0] // 8))
            ax.set_xticks(ticks, [str(first_frame + t) for t in ticks])
            ax.set_yticks(ticks, [str(first_frame + t) for t in ticks])
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
