"""Selfie segmentation separates the astronaut from the studio background."""
from __future__ import annotations

import numpy as np


def test_person_probability(tracker, astronaut):
    p = tracker.segmenter(astronaut)
    assert p.shape == (512, 512) and p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1
    assert p[125, 225] > 0.9 and p[400, 250] > 0.9                 # face centre, chest: measured 1.0
    for y, x in [(5, 5), (5, 506), (60, 450)]:                     # background corners: measured < 1e-3
        assert p[y, x] < 0.1
    assert 0.3 < p.mean() < 0.8                                    # measured 0.54
    small = tracker.segmenter(np.ascontiguousarray(astronaut[::2, ::2]))    # any size: [H, W] out
    assert small.shape == (256, 256) and small[62, 112] > 0.9 and small[2, 2] < 0.1
