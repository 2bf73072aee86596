"""Emotion hyperplanes in the 3DMM expression space: training, refinement, blending, switching (Sec. III-B)."""
from .balance import group_counts, mar_balanced_indices, mar_groups
from .editing import blend_normal, refine, switch_schedule, switch_weights
from .hyperplanes import (EmotionHyperplanes, HyperplaneError, HyperplaneSettings, fit_hyperplanes,
                          offset_alignment, per_emotion_accuracy)

__all__ = ["group_counts", "mar_balanced_indices", "mar_groups", "blend_normal", "refine", "switch_schedule",
           "switch_weights", "EmotionHyperplanes", "HyperplaneError", "HyperplaneSettings", "fit_hyperplanes",
           "offset_alignment", "per_emotion_accuracy"]
from .training import (FrameTable, dataset_alpha, ensure_hyperplanes, gather_frames, held_out_accuracy, hyperplane_report, normal_cosines,
                       train_from_dataset)

__all__ += ["FrameTable", "dataset_alpha", "ensure_hyperplanes", "gather_frames", "held_out_accuracy", "hyperplane_report", "normal_cosines",
            "train_from_dataset"]
from .recognition import refinement_recognition, rendered_emotion_accuracy

__all__ += ["refinement_recognition", "rendered_emotion_accuracy"]
