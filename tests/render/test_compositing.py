"""Head over torso over background."""
from __future__ import annotations

import numpy as np
import pytest

from emohead.face import PARSING_LABELS
from emohead.render.compositing import composite_frame


def test_layers_are_stacked_back_to_front():
    h = w = 4
    parsing = np.zeros((h, w), np.uint8)
    parsing[3] = PARSING_LABELS["torso"]
    frame = np.full((h, w, 3), 255, np.uint8)                   # white source frame
    head_rgb = np.zeros((h, w, 3), np.float32)
    opacity = np.zeros((h, w), np.float32)
    head_rgb[0, 0], opacity[0, 0] = (1.0, 0.0, 0.0), 1.0       # an opaque red head pixel
    head_rgb[3, 0], opacity[3, 0] = (0.0, 0.25, 0.0), 0.5      # half-transparent head over the torso
    out = composite_frame(head_rgb, opacity, frame, parsing, (0.0, 0.0, 1.0))
    np.testing.assert_allclose(out[0, 0], [1, 0, 0])             # head
    np.testing.assert_allclose(out[1, 1], [0, 0, 1])             # background (the source frame is not used)
    np.testing.assert_allclose(out[3, 2], [1, 1, 1])             # torso from the source frame
    np.testing.assert_allclose(out[3, 0], [0.5, 0.75, 0.5])      # 0.5 opacity head over the white torso


def test_shape_mismatch_names_the_argument():
    with pytest.raises(ValueError, match="head_opacity"):
        composite_frame(np.zeros((4, 4, 3)), np.zeros((3, 4)), np.zeros((4, 4, 3)), np.zeros((4, 4)), (0, 0, 0))
