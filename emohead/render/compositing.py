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


def to_uint8(x: np.ndarray) -> np.ndarray:
    """float [.., 3] in [0, 1] -> uint8, rounded half up (clipped first): the video's pixels."""
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def composite_frames_torch(head_rgb, head_opacity, frames, parsing, background):
    """B frames at once with torch ops on the tensors' device -> uint8 [B, H, W, 3] (``to_uint8`` of
    :func:`composite_frame`, the same float32 arithmetic in the same order).

    head_rgb [B, H, W, 3] (premultiplied) and head_opacity [B, H, W] float; frames [B, H, W, 3] (uint8 or float in
    [0, 1]) and parsing [B, H, W] label ids of the source frames, or both None (no torso: the head over the background);
    background [H, W, 3] or an RGB triple (tensor or sequence). Runs wherever the tensors live (a GPU renderer
    composites without a copy to the host; on a CPU it runs too); frames and parsing are moved to that device.
    """
    import torch

    if head_rgb.dim() != 4 or head_rgb.shape[-1] != 3:
        raise ValueError(f"head_rgb must be [B, H, W, 3], got {list(head_rgb.shape)}")
    b, h, w, _ = head_rgb.shape
    dev = head_rgb.device
    if tuple(head_opacity.shape) != (b, h, w):
        raise ValueError(f"head_opacity must be [{b}, {h}, {w}] to match head_rgb, got {list(head_opacity.shape)}")
    bg = torch.as_tensor(background, dtype=torch.float32).to(dev) if not isinstance(background, torch.Tensor) \
        else background.to(device=dev, dtype=torch.float32)
    if bg.dim() == 1:
        bg = bg.view(1, 1, 3)
    if tuple(bg.shape[-3:]) not in ((h, w, 3), (1, 1, 3)):
        raise ValueError(f"background must be [{h}, {w}, 3] or an RGB triple, got {list(bg.shape)}")
    out = bg.expand(b, h, w, 3)
    if (frames is None) != (parsing is None):
        raise ValueError("frames and parsing go together: pass both or neither")
    if frames is not None:
        frames, parsing = torch.as_tensor(frames).to(dev), torch.as_tensor(parsing).to(dev)
        for name, arr, shape in (("frames", frames, (b, h, w, 3)), ("parsing", parsing, (b, h, w))):
            if tuple(arr.shape) != shape:
                raise ValueError(f"{name} must be {list(shape)} to match the head, got {list(arr.shape)}")
        src = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()
        out = torch.where((parsing == PARSING_LABELS["torso"])[..., None], src, out)
    a = head_opacity.float().clamp(0.0, 1.0)[..., None]
    out = head_rgb.float() + out * (1.0 - a)
    return (out.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)     # truncation of a value >= 0.5: round half up
