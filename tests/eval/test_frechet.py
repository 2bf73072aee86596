"""Frechet distances: the formula against scipy, naming, Inception loaded from a path (a tiny TorchScript)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from emohead.eval import (FID_NAME, EvalError, feature_frechet_distance, frechet_distance, frechet_distance_sqrtm,
                          image_frechet_distance, load_inception)
from emohead.eval.frechet import gaussian_stats


def test_formula_matches_scipy_and_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6))
    b = rng.normal(size=(300, 6)) @ np.diag([1, 2, 1, 0.5, 1, 1]) + 0.7
    s = [*gaussian_stats(a), *gaussian_stats(b)]
    assert frechet_distance(*s) == pytest.approx(frechet_distance_sqrtm(*s), rel=1e-8)
    # 1-d closed form: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + 1)


def test_set_with_itself_zero_and_different_sets_larger():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 8))
    same = feature_frechet_distance(a, a, name="FD")
    assert same.name == "FD" and abs(same.value) < 1e-8
    shifted = feature_frechet_distance(a, a + 1.0)
    assert shifted.value == pytest.approx(8.0, rel=1e-6)        # ||mu1 - mu2||^2, same covariance
    with pytest.raises(EvalError, match="N >= 2"):
        feature_frechet_distance(a[:1], a)


class _TinyInception(nn.Module):
    """Stands in for NVIDIA's TorchScript inception-2015-12-05.pt: uint8 [N,3,H,W] -> [N, 16] with return_features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 5, 2)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        f = torch.relu(self.conv(x.float() / 255.0)).mean((2, 3))
        return f if return_features else f.softmax(-1)


def test_fid_from_a_torchscript_path(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "inception.pt"
    torch.jit.script(_TinyInception().eval()).save(str(path))
    with pytest.raises(EvalError, match="trust_torchscript") as refused:     # TorchScript runs code: opt-in only
        load_inception(path)
    assert "inception.pt" in str(refused.value)
    with pytest.raises(EvalError, match="trust_torchscript"):
        image_frechet_distance(np.zeros((4, 8, 8, 3), np.uint8), np.zeros((4, 8, 8, 3), np.uint8), inception_path=path)
    net = load_inception(path, trust_torchscript=True)
    assert net.return_features and net.num_features == 16
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (40, 24, 24, 3), dtype=np.uint8)
    dark = (real // 3).astype(np.uint8)
    same = image_frechet_distance(real, real, inception_path=path, trust_torchscript=True)
    assert same.name == FID_NAME and abs(same.value) < 1e-3
    assert image_frechet_distance(real, dark, inception_path=path, trust_torchscript=True).value > 1e-2
    with pytest.raises(EvalError, match="nope.pt"):
        load_inception(tmp_path / "nope.pt")
    with pytest.raises(EvalError, match="inception_path"):
        image_frechet_distance(real, real)
