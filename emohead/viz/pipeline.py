"""Figure of the pipeline map (notebook 00)."""
from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..overview import PIPELINE


def pipeline_figure(width: float = 12.0) -> Figure:
    """Boxes for each stage (name, paper section, module) joined by arrows, left to right in two rows."""
    fig = Figure(figsize=(width, 4.2))
    ax = fig.add_subplot(111)
    ax.set_axis_off()
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 2)
    per_row = 4
    colours = ["#cfe2f3", "#d9ead3", "#fff2cc", "#f4cccc", "#d9d2e9", "#fce5cd", "#d0e0e3"]
    centres = []
    for i, stage in enumerate(PIPELINE):
        row, col = divmod(i, per_row)
        x = col + 0.5 if row == 0 else (per_row - 1 - col) + 0.5
        y = 1.45 if row == 0 else 0.5
        centres.append((x, y))
        ax.add_patch(FancyBboxPatch((x - 0.42, y - 0.33), 0.84, 0.66, boxstyle="round,pad=0.02",
                                    fc=colours[i % len(colours)], ec="#444444", lw=1.0))
        ax.text(x, y + 0.17, stage.name, ha="center", va="center", fontsize=11, weight="bold")
        ax.text(x, y - 0.02, stage.paper, ha="center", va="center", fontsize=7, wrap=True)
        ax.text(x, y - 0.2, stage.module, ha="center", va="center", fontsize=7, family="monospace")
    for (x0, y0), (x1, y1) in zip(centres, centres[1:]):
        if y0 == y1:
            start = (x0 + (0.43 if x1 > x0 else -0.43), y0)
            end = (x1 - (0.43 if x1 > x0 else -0.43), y1)
        else:
            start, end = (x0, y0 - 0.34), (x1, y1 + 0.34)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color="#333333"))
    ax.set_title("EmoHead: audio + emotion tag -> 3DMM expression -> rendered talking head", fontsize=12)
    fig.tight_layout()
    return fig
