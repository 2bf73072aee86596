"""MAR-balanced sampling (Sec. III-B): mouth openness must not bias the emotion hyperplanes.

The mouth aspect ratio's range [min, max] is split into ``groups`` equal-width groups; for a binary
problem (emotion z against the rest) each group contributes the same number of samples of both
classes, so both classes share one distribution of mouth openness and MAR cannot separate them.
With ``equal_groups=True`` every (group, class) cell also gets the same count (the strictest
reading of the paper's "sample evenly across the 5 groups"); it throws away much more data when
one group is sparse, so it is off by default.
"""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def mar_groups(mar: np.ndarray, groups: int = 5, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Group index [N] in 0..groups-1 of each MAR value (equal-width bins over [min, max], or ``value_range``)."""
    mar = np.asarray(mar, dtype=np.float64).reshape(-1)
    if groups < 1:
        raise ValueError(f"groups={groups}: need at least one MAR group")
    if mar.size == 0:
        return np.zeros(0, np.int64)
    lo, hi = value_range if value_range is not None else (float(mar.min()), float(mar.max()))
    if hi <= lo:
        return np.zeros(mar.shape, np.int64)
    return np.clip(((mar - lo) / (hi - lo) * groups).astype(np.int64), 0, groups - 1)


def mar_balanced_indices(mar: np.ndarray, positive: np.ndarray, *, groups: int = 5,
                         rng: np.random.Generator | None = None, equal_groups: bool = False) -> np.ndarray:
    """Indices with equal class counts in every MAR group; groups lacking either class are dropped.

    ``positive`` [N] bool marks class y+. Group g gives min(#y+ in g, #y- in g) of each class, or,
    with ``equal_groups``, the smallest count over all cells.
    """
    rng = rng or np.random.default_rng(0)
    positive = np.asarray(positive, dtype=bool)
    g = mar_groups(mar, groups)
    if len(g) != len(positive):
        raise ValueError(f"mar has {len(g)} entries but the labels have {len(positive)}")
    cells = {(k, c): np.flatnonzero((g == k) & (positive == c)) for k in range(groups) for c in (True, False)}
    usable = [k for k in range(groups) if len(cells[(k, True)]) and len(cells[(k, False)])]
    if not usable:
        raise ValueError("no MAR group holds samples of both classes; cannot balance")
    dropped = sorted(set(range(groups)) - set(usable))
    if dropped:
        log.debug("MAR groups %s lack one class and are left out of balancing", dropped)
    per_group = {k: min(len(cells[(k, True)]), len(cells[(k, False)])) for k in usable}
    if equal_groups:
        smallest = min(per_group.values())
        per_group = {k: smallest for k in usable}
    picked = [rng.choice(cells[(k, c)], size=per_group[k], replace=False) for k in usable for c in (True, False)]
    return np.sort(np.concatenate(picked))


def group_counts(mar: np.ndarray, positive: np.ndarray, groups: int = 5,
                 value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Counts [2, groups]: row 0 class y+, row 1 class y- (for the before/after histograms)."""
    g = mar_groups(mar, groups, value_range)
    positive = np.asarray(positive, dtype=bool)
    return np.stack([np.bincount(g[positive], minlength=groups), np.bincount(g[~positive], minlength=groups)])
