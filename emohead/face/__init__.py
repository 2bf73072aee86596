"""The face: morphable models (procedural FACS face, 3DDFA-format BFM files), the z-buffer renderer,
camera conventions and mouth aspect ratio. The face analyser that reads these faces back is :mod:`emohead.analyser`;
how an emotion shows as action units is :mod:`.emotion_aus`.

Main entry points::

    model = build_procedural_model(seed=0)              # MorphableModel, 10-d entangled expression
    cam = default_camera(128)                           # OpenCV pinhole, head in the upper ~60 %
    out = render_faces(model, alpha, beta, R, t, cam, 128)   # image, depth, parsing, landmarks
    mar = mouth_aspect_ratio(out.landmarks)
"""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "appearance": ("Appearance", "apply_appearance", "identity_appearance"),
    "bfm": ("load_bfm_3ddfa",),
    "camera": ("Camera", "default_camera", "rotation_from_euler"),
    "facs": ("AU_DESCRIPTIONS", "AU_NAMES", "build_au_basis"),
    "mar": ("mouth_aspect_ratio",),
    "morphable": ("FACE_LABELS", "PARSING_LABELS", "MorphableModel"),
    "expression_space": ("expression_from_aus", "sample_expression_aus"),
    "procedural": ("build_procedural_model",),
    "raster": ("Fragments", "RenderOutput", "rasterize", "render_faces"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
