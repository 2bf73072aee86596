"""The face: morphable models (procedural FACS face, 3DDFA-format BFM files), the z-buffer renderer,
camera conventions and mouth aspect ratio. See DESIGN.md, "The embedded default".

Main entry points::

    model = build_procedural_model(seed=0)              # MorphableModel, 10-d entangled expression
    cam = default_camera(128)                           # OpenCV pinhole, head in the upper ~60 %
    out = render_faces(model, alpha, beta, R, t, cam, 128)   # image, depth, parsing, landmarks
    mar = mouth_aspect_ratio(out.landmarks)
"""
from __future__ import annotations

from .analyser import (AnalyserOutput, FaceAnalyser, analyse_frames, evaluate_analyser, load_analyser,
                       save_analyser, train_analyser)
from .appearance import Appearance, apply_appearance, identity_appearance
from .bfm import load_bfm_3ddfa
from .camera import Camera, default_camera, rotation_from_euler
from .facs import AU_DESCRIPTIONS, AU_NAMES, build_au_basis
from .mar import mouth_aspect_ratio
from .morphable import FACE_LABELS, PARSING_LABELS, MorphableModel
from .procedural import build_procedural_model, sample_expression_aus
from .raster import Fragments, RenderOutput, rasterize, render_faces

__all__ = [
    "AnalyserOutput", "FaceAnalyser", "analyse_frames", "evaluate_analyser", "load_analyser", "save_analyser",
    "train_analyser",
    "Appearance", "apply_appearance", "identity_appearance", "load_bfm_3ddfa", "Camera", "default_camera",
    "rotation_from_euler", "AU_DESCRIPTIONS", "AU_NAMES", "build_au_basis", "mouth_aspect_ratio", "FACE_LABELS",
    "PARSING_LABELS", "MorphableModel", "build_procedural_model", "sample_expression_aus", "Fragments",
    "RenderOutput", "rasterize", "render_faces",
]
