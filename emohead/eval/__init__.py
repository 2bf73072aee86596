"""Evaluation (Sec. IV): PSNR, SSIM, M/F-LMD, FID or "FD (analyser)", AUE, Sync, ER; the systems of Tables I and IV
on the same test clips (``systems.evaluate_run``) and our numbers beside the paper's (``tables``).

Metrics return :class:`MetricResult` (a name, a value, per-item values). On the synthetic world
the analyser stands in for 3DDFA/OpenFace/FAN and a SyncNet trained here for syncnet_python's:
those numbers are not the paper's MEAD numbers. On recorded people (``faces.real_faces``) the real trackers read
the frames instead (landmarks, 3DDFA_V2 alpha), and AUE / ER are reported as unavailable.
"""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "faces": ("EXPRESSION_RMSE", "TrackerFaces", "expression_rmse", "finite_correlation", "hyperplane_verdict",
        "mouth_openness", "read_mouth_openness", "real_faces"),
    "frechet": ("ANALYSER_FD_NAME", "FID_NAME", "feature_frechet_distance", "frechet_distance",
        "frechet_distance_sqrtm", "image_frechet_distance", "load_inception"),
    "metrics": ("au_error", "emotion_recognition", "face_lmd", "landmark_distance", "mouth_lmd", "psnr", "ssim"),
    "openface": ("openface_au_error", "read_openface_aus"),
    "recognition": ("refinement_recognition", "rendered_emotion_accuracy"),
    "result": ("EvalError", "MetricResult"),
    "systems": ("FULL", "GROUND_TRUTH", "LITERAL", "NEUTRAL", "NO_ALIGNMENT", "NO_REFINEMENT", "EvaluationResult",
        "SystemSpec", "evaluate_run", "system_specs"),
    "paper": ("PAPER_TABLES", "PaperTable", "paper_table"),
    "tables": ("ComparisonTable", "compare_with_paper"),
    "syncnet": ("SyncNet", "SyncResult", "load_syncnet", "mfcc", "prepare_clip", "save_syncnet", "sync_confidence",
        "sync_score"),
    "syncnet_training": ("SyncTrainConfig", "prepare_dataset_clips", "train_syncnet"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
