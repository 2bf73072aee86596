"""Emotion hyperplanes in the 3DMM expression space: training, refinement, blending, switching (Sec. III-B)."""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "balance": ("group_counts", "mar_balanced_indices", "mar_groups"),
    "editing": ("blend_normal", "refine", "switch_schedule", "switch_weights"),
    "hyperplanes": ("EmotionHyperplanes", "HyperplaneError", "HyperplaneSettings", "fit_hyperplanes", "offset_alignment",
        "per_emotion_accuracy"),
    "training": ("FrameTable", "dataset_alpha", "ensure_hyperplanes", "gather_frames", "held_out_accuracy",
        "hyperplane_report", "normal_cosines", "train_from_dataset"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
