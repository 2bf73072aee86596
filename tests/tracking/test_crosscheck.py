"""The held-out R^2 of a linear map from 3DDFA_V2's alpha to a generator's alpha."""
from __future__ import annotations

import numpy as np
import pytest

from emohead.tracking.crosscheck import expression_r2


def test_expression_r2():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 10))
    y = np.stack([x @ rng.normal(size=10) + 0.01 * rng.normal(size=400),     # explained
                  rng.normal(size=400)], -1)                                 # not explained
    r2 = expression_r2(x, y)
    assert r2.shape == (2,) and r2[0] > 0.99 and r2[1] < 0.1
    by_clip = expression_r2(x, y, groups=np.repeat(np.arange(8), 50))
    assert by_clip[0] > 0.99
    with pytest.raises(ValueError, match="same N"):
        expression_r2(x, y[:10])
