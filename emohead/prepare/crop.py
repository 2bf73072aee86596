"""One fixed square crop per speaker, framed like the synthetic world: head in the upper part, shoulders below.

Talking-head NeRFs (AD-NeRF, RAD-NeRF, EmoHead) assume a fixed camera: the background must stay put from frame to
frame and from clip to clip of a person, since the NeRF's background image is one per-pixel median over all its
training frames. So the crop is **one square per speaker** (per source frame size), not per frame or per clip.

Where it goes: the face's 68 landmarks fill, in the crop, the box they fill in a synthetic frame (the procedural
face at rest under :func:`emohead.face.camera.default_camera`: about 40 % of the width, 36 % of the height,
centred at 39 % of the height from the top; :func:`emohead.prepare.camera.synthetic_framing`). The side L
follows from the speaker's median landmark box over all frames of all clips (the mean of the sides its width and
height ask for), the centre from that box's median centre. A crop larger than the frame is shrunk to fit (the
face then looks larger than in the synthetic world; the pose's depth absorbs it) and a crop that leaves the
frame is moved back inside, each with a warning. No padding is ever invented.

Pixel convention (:mod:`emohead.face.camera`): pixel centres at integers. The crop starts at integer (x0, y0),
so a source point u maps to ``(u - x0 + 0.5) * size / L - 0.5`` in the output.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropBox:
    """A square [y0, y0 + side) x [x0, x0 + side) of the source frames, resized to ``size`` x ``size``."""

    x0: int
    y0: int
    side: int
    size: int

    @property
    def scale(self) -> float:
        """Output pixels per source pixel."""
        return self.size / self.side

    def points(self, pts: np.ndarray) -> np.ndarray:
        """Source pixel coordinates [..., 2+] (x, y first) -> output coordinates (further columns scaled only)."""
        p = np.array(pts, dtype=np.float64, copy=True)
        p[..., 0] = (p[..., 0] - self.x0 + 0.5) * self.scale - 0.5
        p[..., 1] = (p[..., 1] - self.y0 + 0.5) * self.scale - 0.5
        if p.shape[-1] > 2:
            p[..., 2:] *= self.scale
        return p.astype(np.float32)

    def image(self, img: np.ndarray) -> np.ndarray:
        """One frame [H, W, 3] uint8 or map [H, W] float -> [size, size(, 3)] (antialiased Lanczos / bilinear)."""
        from PIL import Image

        part = np.ascontiguousarray(img[self.y0:self.y0 + self.side, self.x0:self.x0 + self.side])
        if part.shape[0] != self.side or part.shape[1] != self.side:
            raise ValueError(f"crop {self} leaves the frame of size {img.shape[1]}x{img.shape[0]}")
        if part.ndim == 3:
            return np.asarray(Image.fromarray(part).resize((self.size, self.size), Image.Resampling.LANCZOS))
        out = Image.fromarray(part.astype(np.float32)).resize((self.size, self.size),
                                                           Image.Resampling.BILINEAR)
        return np.asarray(out, dtype=np.float32)

    def frames(self, frames: np.ndarray) -> np.ndarray:
        """[T, H, W, 3] uint8 or [T, H, W] float -> [T, size, size(, 3)]."""
        return np.stack([self.image(f) for f in frames])

    def to_json(self) -> list[int]:
        return [self.x0, self.y0, self.side]


def landmark_boxes(landmarks: np.ndarray) -> np.ndarray:
    """[T, 68, 2] -> [T, 4] boxes x0, y0, x1, y1 of the landmarks."""
    lm = np.asarray(landmarks, np.float64)
    return np.concatenate([lm.min(axis=1), lm.max(axis=1)], axis=1)


def speaker_crop(boxes: np.ndarray, frame_hw: tuple[int, int], size: int, *, zoom: float = 1.0,
                 where: str = "speaker") -> CropBox:
    """The fixed crop of one speaker from landmark boxes [N, 4] (x0, y0, x1, y1; all frames of all clips).

    ``zoom`` > 1 frames the face larger (less shoulders), < 1 smaller. ``frame_hw``: source (H, W).
    """
    from .camera import synthetic_framing

    if size <= 0 or size % 2:
        raise ValueError(f"output size {size}: must be a positive even number of pixels")
    b = np.asarray(boxes, np.float64)
    if b.ndim != 2 or b.shape[1] != 4 or len(b) == 0:
        raise ValueError(f"{where}: need landmark boxes [N, 4], got {b.shape}")
    fx0, fy0, fx1, fy1 = synthetic_framing()          # fractions of the frame side
    w, h = np.median(b[:, 2] - b[:, 0]), np.median(b[:, 3] - b[:, 1])
    cx, cy = np.median((b[:, 0] + b[:, 2]) / 2), np.median((b[:, 1] + b[:, 3]) / 2)
    side = float(np.sqrt((w / (fx1 - fx0)) * (h / (fy1 - fy0)))) / zoom
    H, W = frame_hw
    if side > min(H, W):
        log.warning("%s: the head-and-shoulders crop needs %.0f px but the frames are %dx%d: using %d px "
                    "(the face will look larger than in the synthetic world)", where, side, W, H, min(H, W))
        side = float(min(H, W))
    side_i = int(round(side))
    x0 = cx + 0.5 - (fx0 + fx1) / 2 * side_i
    y0 = cy + 0.5 - (fy0 + fy1) / 2 * side_i
    x0_c = int(np.clip(round(x0), 0, W - side_i))
    y0_c = int(np.clip(round(y0), 0, H - side_i))
    if abs(x0_c - x0) > 0.05 * side_i or abs(y0_c - y0) > 0.05 * side_i:
        log.warning("%s: the crop was moved %.0f px right, %.0f px down to stay inside the %dx%d frames "
                    "(the face is off-centre in it)", where, x0_c - x0, y0_c - y0, W, H)
    if side_i < size:
        log.warning("%s: the crop is %d px, upscaled to %d px (the face is small in the video)", where, side_i, size)
    return CropBox(x0=x0_c, y0=y0_c, side=side_i, size=int(size))
