"""Reference predictors that put an audio-expression RMSE in context (they ignore the audio)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .data import Track


def _rmse(pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    sq = sum(float(((a - b) ** 2).sum()) for a, b in pairs)
    return float(np.sqrt(sq / max(1, sum(a.size for a, _ in pairs))))


def mean_expression_rmse(train: Sequence[Track], test: Sequence[Track]) -> float:
    """RMSE of always predicting the training set's mean expression."""
    mean = np.concatenate([t.alpha for t in train]).mean(axis=0)
    return _rmse([(t.alpha, np.broadcast_to(mean, t.alpha.shape)) for t in test])


def emotion_mean_rmse(train: Sequence[Track], test: Sequence[Track]) -> float:
    """RMSE of predicting the training mean expression of the clip's emotion (knows the tag, not the audio)."""
    means = {e: np.concatenate([t.alpha for t in train if t.emotion == e]).mean(axis=0)
             for e in {t.emotion for t in train}}
    return _rmse([(t.alpha, np.broadcast_to(means[t.emotion], t.alpha.shape)) for t in test if t.emotion in means])
