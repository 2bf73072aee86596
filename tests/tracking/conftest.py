"""Fixtures of the real-face tracking tests: the model folder (tests skip when it is absent), one shared tracker,
and real photos from scikit-image (the public-domain `astronaut` portrait, LFW faces and non-faces)."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tracker(model_dir):
    from emohead.tracking import FaceTracker

    return FaceTracker(model_dir, progress=False)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage.data import astronaut as load

    return load()                                     # [512, 512, 3] uint8 RGB, face at about x 180-270, y 80-175


@pytest.fixture(scope="session")
def lfw() -> np.ndarray:
    """[200, 25, 25] float in [0, 1]: 100 tight face crops, then 100 non-faces."""
    from skimage.data import lfw_subset

    return lfw_subset()


def lfw_portrait(lfw: np.ndarray, i: int, size: int = 150, canvas: int = 300) -> np.ndarray:
    """LFW image i upscaled to size x size, centred on a grey canvas (context for the detector) -> uint8 RGB."""
    from skimage.transform import resize

    face = (resize(lfw[i], (size, size)) * 255).round().astype(np.uint8)
    out = np.full((canvas, canvas), 128, np.uint8)
    o = (canvas - size) // 2
    out[o:o + size, o:o + size] = face
    return np.repeat(out[..., None], 3, axis=2)


def face_mesh_on(tracker, image: np.ndarray):
    """Detect + mesh one image with the tracker's models -> (Detections, MeshResult)."""
    from emohead.tracking.mesh import rect_from_detection

    dets = tracker.detector(image)
    assert len(dets) >= 1, "no face detected"
    return dets, tracker.mesh(image, rect_from_detection(dets.boxes[0], dets.keypoints[0]))
