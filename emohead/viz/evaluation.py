"""Figures of the evaluation (Sec. IV): one bar chart per metric over the systems compared."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure


def metric_bars(results: Mapping[str, Mapping[str, float]], metrics: Sequence[str] | None = None, *,
                title: str = "") -> Figure:
    """Bars of each metric (one panel each) for each system {system: {metric: value}}.

    Infinite or missing values (the ground truth's PSNR against itself) are left out of their panel and named
    under it. The arrow in a panel's title says which direction is better.
    """
    from ..eval.paper import HIGHER_IS_BETTER

    systems = list(results)
    metrics = list(metrics or dict.fromkeys(m for r in results.values() for m in r))
    cols = min(4, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig = Figure(figsize=(3.4 * cols, 2.9 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    colours = [f"C{i}" for i in range(len(systems))]
    for ax, metric in zip(axes, metrics):
        vals = [results[s].get(metric) for s in systems]
        ok = [v is not None and math.isfinite(v) for v in vals]
        ax.bar(np.arange(len(systems))[ok], [v for v, k in zip(vals, ok) if k],
               color=[c for c, k in zip(colours, ok) if k])
        arrow = "↑" if HIGHER_IS_BETTER.get(metric, True) else "↓"
        ax.set_title(f"{metric} {arrow}", fontsize=10)
        ax.set_xticks([])
        left_out = [s for s, k in zip(systems, ok) if not k]
        if left_out:
            ax.set_xlabel("not shown (inf / missing): " + ", ".join(left_out), fontsize=7)
    for ax in axes[len(metrics):]:
        ax.axis("off")
    handles = [axes[0].bar([0], [0], color=c, label=s) for c, s in zip(colours, systems)]
    fig.legend(handles=handles, labels=systems, loc="lower center", ncol=min(len(systems), 3), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08 + 0.04 * (len(systems) > 3), 1, 1))
    return fig
