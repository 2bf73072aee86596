"""Rotated square crops and their inverse: how every model here sees an image.

A :class:`Rect` is a (possibly rotated) rectangle in image pixels: centre (cx, cy), size (w, h), and ``angle``
(radians) of its x axis from the image's x axis, positive clockwise on screen (y points down). Its x axis is
(cos a, sin a) and its y axis (-sin a, cos a). Sampling a rect into an S x S crop maps the crop's continuous
coordinates [0, S] x [0, S] (pixel k spans [k, k + 1]) onto the rect; image coordinates put the centre of pixel
(row i, column j) at (j, i) (:mod:`emohead.face.camera`). This is MediaPipe's ``ImageToTensorCalculator`` with a
rotated ``NormalizedRect``; bilinear sampling, zero outside the image. Numpy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rect:
    """cx, cy: centre (px); w, h: size (px); angle: radians, clockwise on screen."""

    cx: float
    cy: float
    w: float
    h: float
    angle: float = 0.0

    @property
    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """The rect's unit x and y axes in image coordinates, each [2]."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        return np.array([c, s]), np.array([-s, c])

    def crop_to_image(self, pts: np.ndarray, out_w: int, out_h: int | None = None) -> np.ndarray:
        """pts [..., 2] in crop coordinates (continuous, [0, out_w] x [0, out_h]) -> [..., 2] image px."""
        out_h = out_w if out_h is None else out_h
        ax, ay = self.axes
        p = np.asarray(pts, np.float64)
        u = (p[..., 0:1] / out_w - 0.5) * self.w
        v = (p[..., 1:2] / out_h - 0.5) * self.h
        return np.array([self.cx, self.cy]) + u * ax + v * ay

    def image_to_crop(self, pts: np.ndarray, out_w: int, out_h: int | None = None) -> np.ndarray:
        """Inverse of :meth:`crop_to_image`: image px [..., 2] -> crop coordinates [..., 2]."""
        out_h = out_w if out_h is None else out_h
        ax, ay = self.axes
        d = np.asarray(pts, np.float64) - np.array([self.cx, self.cy])
        return np.stack([(d @ ax / self.w + 0.5) * out_w, (d @ ay / self.h + 0.5) * out_h], -1)


def full_image_rect(height: int, width: int, *, keep_aspect: bool) -> Rect:
    """The rect of a whole image; ``keep_aspect``: the enclosing square (a letterbox, padding split evenly)."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    if keep_aspect:
        side = float(max(height, width))
        return Rect(cx, cy, side, side)
    return Rect(cx, cy, float(width), float(height))


def warp_affine(image: np.ndarray, A: np.ndarray, out_h: int, out_w: int, *, border: str = "zero") -> np.ndarray:
    """Bilinear sampling: output pixel (row i, column j) takes the image at A @ [j, i, 1] (image px).

    image [H, W, C] or [H, W] (any real dtype), A [2, 3] -> float32 [out_h, out_w, C] (or [out_h, out_w]).
    ``border``: "zero" (black outside) or "edge" (replicate the border pixels).
    """
    img = np.asarray(image)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[..., None]
    H, W = img.shape[:2]
    jj, ii = np.meshgrid(np.arange(out_w, dtype=np.float64), np.arange(out_h, dtype=np.float64))
    x = A[0, 0] * jj + A[0, 1] * ii + A[0, 2]
    y = A[1, 0] * jj + A[1, 1] * ii + A[1, 2]
    if border == "edge":
        x, y = np.clip(x, 0, W - 1), np.clip(y, 0, H - 1)
    elif border != "zero":
        raise ValueError(f"border must be 'zero' or 'edge', got {border!r}")
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = (x - x0).astype(np.float32)[..., None], (y - y0).astype(np.float32)[..., None]
    out = np.zeros((out_h, out_w, img.shape[2]), np.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xs, ys = x0 + dx, y0 + dy
            ok = ((xs >= 0) & (xs < W) & (ys >= 0) & (ys < H))[..., None]
            vals = img[np.clip(ys, 0, H - 1), np.clip(xs, 0, W - 1)].astype(np.float32)
            out += np.where(ok, vals, 0.0) * (wx * wy)
    return out[..., 0] if squeeze else out


def _block_reduce(img: np.ndarray, k: int) -> np.ndarray:
    """[H, W, C] -> [H // k, W // k, C] float32 block means (the last H % k rows / W % k columns dropped)."""
    H, W = img.shape[:2]
    h, w = H // k, W // k
    return img[:h * k, :w * k].reshape(h, k, w, k, -1).mean(axis=(1, 3), dtype=np.float32)


def sample_rect(image: np.ndarray, rect: Rect, out_w: int, out_h: int | None = None, *,
                antialias: bool = True) -> np.ndarray:
    """Crop ``rect`` of image [H, W, C] into float32 [out_h, out_w, C] (values in the image's units).

    ``antialias``: when the crop shrinks the image by 2x or more, average k x k pixel blocks first (k the whole
    part of the shrink factor) so small crops of large frames do not alias.
    """
    out_h = out_w if out_h is None else out_h
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    ax, ay = rect.axes
    sx, sy = rect.w / out_w, rect.h / out_h               # image px per crop px
    k = int(min(sx, sy)) if antialias else 1
    origin = np.array([rect.cx, rect.cy]) - 0.5 * rect.w * ax - 0.5 * rect.h * ay
    # crop pixel centre (j + 0.5, i + 0.5) -> image px
    A = np.stack([ax * sx, ay * sy, origin + 0.5 * sx * ax + 0.5 * sy * ay], axis=1)
    if k >= 2:
        # reduce only the part of the image under the rect (whole k x k blocks of the full image's grid)
        corners = rect.crop_to_image(np.array([[0, 0], [out_w, 0], [0, out_h], [out_w, out_h]]), out_w, out_h)
        H, W = img.shape[:2]
        x0 = int(np.clip(np.floor(corners[:, 0].min()) - k, 0, W)) // k * k
        y0 = int(np.clip(np.floor(corners[:, 1].min()) - k, 0, H)) // k * k
        x1 = int(np.clip(np.ceil(corners[:, 0].max()) + 2 * k, 0, W))
        y1 = int(np.clip(np.ceil(corners[:, 1].max()) + 2 * k, 0, H))
        if x1 - x0 < k or y1 - y0 < k:                     # the rect is off the image
            return np.zeros((out_h, out_w, img.shape[2]), np.float32)
        img = _block_reduce(img[y0:y1, x0:x1], k)
        A[:, 2] -= (x0, y0)
        A = A / k
        A[:, 2] -= (k - 1) / (2.0 * k)                     # reduced pixel j' has its centre at j' k + (k - 1) / 2
    return warp_affine(img, A, out_h, out_w)


def resize_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Axis-aligned bilinear resize with pixel centres aligned (cv2.INTER_LINEAR without anti-aliasing), border
    pixels replicated: image [H, W] or [H, W, C] -> float32 [out_h, out_w(, C)]. Separable, so cheap at video size."""
    img = np.asarray(image, np.float32)
    H, W = img.shape[:2]

    def taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        i0 = np.floor(s).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (s - i0).astype(np.float32)

    y0, y1, fy = taps(H, out_h)
    x0, x1, fx = taps(W, out_w)
    fy = fy.reshape((-1,) + (1,) * (img.ndim - 1))
    rows = img[y0] * (1 - fy) + img[y1] * fy                       # [out_h, W(, C)]
    fx = fx.reshape((1, -1) + (1,) * (img.ndim - 2))
    return rows[:, x0] * (1 - fx) + rows[:, x1] * fx
