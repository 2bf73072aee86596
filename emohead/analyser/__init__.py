"""The face analyser: one CNN reading a synthetic-world frame back into alpha, beta, pose, landmarks, AUs and
emotion (the roles 3DDFA, FAN, OpenFace and an emotion classifier play in the paper). Trained on renders of
the generator (:mod:`.samples`); used to extract tracks (``emohead extract``), for L_shape / L_cord in NeRF
training, and as an evaluator. Real faces are read by :mod:`emohead.tracking` instead.
"""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "model": ("AnalyserError", "AnalyserOutput", "FaceAnalyser", "analyse_frames", "build_analyser", "embed_frames",
              "evaluate_analyser", "load_analyser", "save_analyser", "train_analyser"),
    "samples": ("AnalyserSamples", "crop_box_pixels", "crop_frames", "render_samples"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
