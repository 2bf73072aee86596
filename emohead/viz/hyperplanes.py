"""Figures of the emotion hyperplanes (notebook 02, paper Sec. III-B, Fig. 5)."""
from __future__ import annotations

from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from sklearn.decomposition import PCA


def alpha_projection(alpha: np.ndarray, labels: Sequence[str], emotions: Sequence[str],
                     normals: np.ndarray | None = None, *, max_points: int = 4000, seed: int = 0) -> Figure:
    """alpha [N, m] projected on its first two principal components, coloured by emotion; the
    normals [E, m] drawn as arrows from the origin in the same projection."""
    alpha = np.asarray(alpha)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = rng.permutation(len(alpha))[:max_points]
    pca = PCA(n_components=2, random_state=seed).fit(alpha)
    xy = pca.transform(alpha[keep])
    fig = Figure(figsize=(7.5, 6.2))
    ax = fig.add_subplot(111)
    cmap = matplotlib.colormaps["tab10"]
    for i, e in enumerate(emotions):
        m = labels[keep] == e
        ax.scatter(xy[m, 0], xy[m, 1], s=4, alpha=0.35, color=cmap(i % 10), label=e)
    if normals is not None:
        scale = 0.5 * np.abs(xy).max()
        for i, (e, w) in enumerate(zip(emotions, normals)):
            d = pca.components_ @ w
            ax.annotate("", xy=(d[0] * scale, d[1] * scale), xytext=(0, 0),
                        arrowprops=dict(arrowstyle="-|>", color=cmap(i % 10), lw=2))
            ax.text(d[0] * scale * 1.08, d[1] * scale * 1.08, e, color=cmap(i % 10), fontsize=9, weight="bold")
    ax.set_xlabel(f"PC 1 ({pca.explained_variance_ratio_[0]:.0%})")
    ax.set_ylabel(f"PC 2 ({pca.explained_variance_ratio_[1]:.0%})")
    ax.legend(markerscale=4, fontsize=8, loc="best")
    ax.set_title("expression parameters by emotion, with the hyperplane normals w_z")
    fig.tight_layout()
    return fig


def mar_group_histograms(before: np.ndarray, after: np.ndarray, *, emotion: str, groups: int | None = None) -> Figure:
    """Counts [2, G] per MAR group of class y+ (emotion) and y- (the rest), before and after balancing."""
    before, after = np.asarray(before), np.asarray(after)
    g = np.arange(before.shape[1] if groups is None else groups)
    fig = Figure(figsize=(10, 3.2))
    axes = fig.subplots(1, 2)
    for ax, counts, title in zip(axes, (before, after), ("before balancing", "after balancing")):
        ax.bar(g - 0.2, counts[0], width=0.4, label=emotion, color="#d95f02")
        ax.bar(g + 0.2, counts[1], width=0.4, label="other emotions", color="#7570b3")
        ax.set_xticks(g, [f"G{k + 1}" for k in g])
        ax.set_xlabel("MAR group (equal width, closed -> open mouth)")
        ax.set_title(title)
    axes[0].set_ylabel("frames")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_bars(with_balance: dict[str, float], without_balance: dict[str, float]) -> Figure:
    """Held-out SVM accuracy per emotion with and without MAR balancing."""
    emotions = list(with_balance)
    x = np.arange(len(emotions))
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot(111)
    ax.bar(x - 0.2, [without_balance.get(e, np.nan) for e in emotions], width=0.4, label="unbalanced", color="#999999")
    ax.bar(x + 0.2, [with_balance[e] for e in emotions], width=0.4, label="MAR-balanced", color="#1b9e77")
    ax.set_xticks(x, emotions, rotation=20)
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("balanced accuracy (test split)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
