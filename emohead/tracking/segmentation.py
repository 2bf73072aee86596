"""MediaPipe selfie segmentation: a person-probability map at the image's size.

Follows mediapipe/modules/selfie_segmentation/ (the general 256 x 256 model): the whole image is resized to
256 x 256 (aspect not kept), RGB in [0, 1]; the model's sigmoid output [256, 256] is resized back to the image
bilinearly (border pixels replicated) and clipped to [0, 1].
"""
from __future__ import annotations

import os

import numpy as np

from . import models
from .crops import full_image_rect, resize_bilinear, sample_rect
from .litert import LiteModel

INPUT_SIZE = 256


class PersonSegmenter:
    """``PersonSegmenter()(image_rgb [H, W, 3] uint8) -> person probability [H, W] float32``."""

    def __init__(self, path: str | os.PathLike | None = None, *, num_threads: int | None = None):
        self.model = LiteModel(path or models.model_path(models.SEGMENTATION), num_threads=num_threads)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        H, W = image.shape[:2]
        x = sample_rect(image, full_image_rect(H, W, keep_aspect=False), INPUT_SIZE) / 255.0
        prob = next(iter(self.model(x[None]).values())).reshape(INPUT_SIZE, INPUT_SIZE)
        return np.clip(resize_bilinear(prob, H, W), 0.0, 1.0)
