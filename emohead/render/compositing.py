"""Frame compositing (Sec. III-C): rendered head over the segmented torso over any background.

The parsing mask of the source frame (BiSeNet on real data; exact labels in the synthetic world,
``emohead.face.PARSING_LABELS``) says which pixels are torso. The final frame is built back to front::

    out = background
    out[torso] = frame[torso]                                   the segmented torso of the source frame
    out = head_rgb * head_opacity + out * (1 - head_opacity)    the NeRF head, rendered on black with its opacity
"""
from __future__ import annotations

import numpy as np

from ..face.morphable import PARSING_LABELS


def composite_frame(head_rgb: np.ndarray, head_opacity: np.ndarray, frame: np.ndarray, parsing: np.ndarray,
                    background: np.ndarray | tuple[float, float, float]) -> np.ndarray:
    """One frame, float [H, W, 3] in [0, 1].

    head_rgb [H, W, 3]: the head rendered over black (premultiplied by its opacity); head_opacity [H, W] in [0, 1];
    frame [H, W, 3] (uint8 or float in [0, 1]) and parsing [H, W] (label ids) of the source frame;
    background [H, W, 3] or an RGB triple.
    """
    h, w = parsing.shape
    for name, arr, shape in (("head_rgb", head_rgb, (h, w, 3)), ("head_opacity", head_opacity, (h, w)),
                             ("frame", frame, (h, w, 3))):
        if tuple(np.shape(arr)) != shape:
            raise ValueError(f"{name} must be {list(shape)} to match the parsing mask, got {list(np.shape(arr))}")
    src = np.asarray(frame, np.float32)
    if np.asarray(frame).dtype == np.uint8:
        src = src / 255.0
    out = np.broadcast_to(np.asarray(background, np.float32), (h, w, 3)).copy()
    torso = parsing == PARSING_LABELS["torso"]
    out[torso] = src[torso]
    a = np.clip(np.asarray(head_opacity, np.float32), 0.0, 1.0)[..., None]
    return np.asarray(head_rgb, np.float32) + out * (1.0 - a)
