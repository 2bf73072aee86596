"""Reference predictors that put an audio-expression figure in context.

- the training mean expression, and the training mean of the clip's emotion: they ignore the audio
  (motion correlation 0), the second knows the tag;
- a per-frame MLP on the audio stream v~ alone: audio, but no temporal model and no tag (the floor a
  temporal model must beat on motion).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

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


def mean_expression_predictions(train: Sequence[Track], test: Sequence[Track]) -> list[np.ndarray]:
    """The training mean expression for every frame of every test clip ([T, m] each)."""
    mean = np.concatenate([t.alpha for t in train]).mean(axis=0)
    return [np.broadcast_to(mean, t.alpha.shape).astype(np.float32) for t in test]


def emotion_mean_predictions(train: Sequence[Track], test: Sequence[Track]) -> list[np.ndarray]:
    """The training mean expression of each test clip's emotion ([T, m] each)."""
    means = {e: np.concatenate([t.alpha for t in train if t.emotion == e]).mean(axis=0)
             for e in {t.emotion for t in train}}
    return [np.broadcast_to(means[t.emotion], t.alpha.shape).astype(np.float32) for t in test]


class PerFrameMLP(nn.Module):
    """alpha [m] from one frame's audio feature v~ [Da]: standardise, then Linear-ReLU layers."""

    def __init__(self, d_in: int, m: int, hidden: tuple[int, ...] = (256, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        width = d_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, m))
        self.net = nn.Sequential(*layers)
        self.register_buffer("mean", torch.zeros(d_in))
        self.register_buffer("std", torch.ones(d_in))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [..., Da] -> alpha [..., m]."""
        return self.net((audio - self.mean) / self.std)


def per_frame_mlp_predictions(train: Sequence[Track], test: Sequence[Track], *, steps: int = 1500,
                              batch: int = 512, lr: float = 1e-3, seed: int = 0) -> list[np.ndarray]:
    """Train :class:`PerFrameMLP` on every training frame (MSE, Adam) and predict the test clips."""
    x = torch.from_numpy(np.concatenate([t.audio for t in train]).astype(np.float32))
    y = torch.from_numpy(np.concatenate([t.alpha for t in train]).astype(np.float32))
    torch.manual_seed(seed)
    model = PerFrameMLP(x.shape[1], y.shape[1])
    model.mean.copy_(x.mean(0))
    model.std.copy_(x.std(0).clamp(min=1e-3))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        loss = ((model(x[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return [model(torch.from_numpy(t.audio.astype(np.float32))).numpy() for t in test]
