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


def _random_layers(b=3, h=6, w=5, seed=0):
    rng = np.random.default_rng(seed)
    opacity = rng.uniform(-0.1, 1.1, (b, h, w)).astype(np.float32)           # clipped to [0, 1] by both paths
    head_rgb = (rng.uniform(0, 1, (b, h, w, 3)) * np.clip(opacity, 0, 1)[..., None]).astype(np.float32)
    frames = rng.integers(0, 256, (b, h, w, 3), dtype=np.uint8)
    parsing = rng.choice([0, PARSING_LABELS["torso"], PARSING_LABELS["skin"]], (b, h, w)).astype(np.uint8)
    background = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
    return head_rgb, opacity, frames, parsing, background


def test_torch_compositing_gives_the_numpy_pixels():
    """The batched torch path (what a GPU renderer runs, here on CPU tensors) equals the NumPy reference."""
    import torch

    from emohead.render.compositing import composite_frames_torch, to_uint8

    head_rgb, opacity, frames, parsing, background = _random_layers()
    ref = np.stack([to_uint8(composite_frame(head_rgb[i], opacity[i], frames[i], parsing[i], background))
                    for i in range(len(frames))])
    out = composite_frames_torch(torch.from_numpy(head_rgb), torch.from_numpy(opacity), torch.from_numpy(frames),
                                 torch.from_numpy(parsing), torch.from_numpy(background))
    assert out.dtype == torch.uint8 and out.shape == ref.shape
    assert np.abs(out.numpy().astype(int) - ref.astype(int)).max() <= 1
    assert np.array_equal(out.numpy(), ref)                     # same float32 operations: in fact identical here
    # float frames, an RGB triple as background, NumPy inputs for the source layers
    as_float = frames.astype(np.float32) / 255.0
    out = composite_frames_torch(torch.from_numpy(head_rgb), torch.from_numpy(opacity), as_float, parsing,
                                 (0.0, 0.5, 1.0))
    ref = np.stack([to_uint8(composite_frame(head_rgb[i], opacity[i], as_float[i], parsing[i], (0.0, 0.5, 1.0)))
                    for i in range(len(frames))])
    assert np.abs(out.numpy().astype(int) - ref.astype(int)).max() <= 1
    # no torso: the head over the background alone
    out = composite_frames_torch(torch.from_numpy(head_rgb), torch.from_numpy(opacity), None, None,
                                 torch.from_numpy(background))
    blank = np.zeros(parsing.shape[1:], np.uint8)
    ref = np.stack([to_uint8(composite_frame(head_rgb[i], opacity[i], np.zeros(frames.shape[1:], np.uint8), blank,
                                             background)) for i in range(len(frames))])
    assert np.abs(out.numpy().astype(int) - ref.astype(int)).max() <= 1


def test_torch_compositing_names_bad_shapes():
    import torch

    from emohead.render.compositing import composite_frames_torch

    head_rgb, opacity, frames, parsing, background = (torch.from_numpy(a) for a in _random_layers())
    with pytest.raises(ValueError, match="head_opacity"):
        composite_frames_torch(head_rgb, opacity[:, 1:], frames, parsing, background)
    with pytest.raises(ValueError, match="parsing"):
        composite_frames_torch(head_rgb, opacity, frames, parsing[:2], background)
    with pytest.raises(ValueError, match="both or neither"):
        composite_frames_torch(head_rgb, opacity, frames, None, background)
    with pytest.raises(ValueError, match="background"):
        composite_frames_torch(head_rgb, opacity, frames, parsing, background[1:])
