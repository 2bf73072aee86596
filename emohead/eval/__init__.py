"""Evaluation (Sec. IV): PSNR, SSIM, M/F-LMD, FID or "FD (analyser)", AUE, Sync, ER; the systems of Tables I and IV
on the same test clips (``systems.evaluate_run``) and our numbers beside the paper's (``tables``).

Metrics return :class:`MetricResult` (a name, a value, per-item values). On the synthetic world
the analyser stands in for 3DDFA/OpenFace/FAN and a SyncNet trained here for syncnet_python's:
those numbers are not the paper's MEAD numbers.
"""
from __future__ import annotations

from .frechet import (ANALYSER_FD_NAME, FID_NAME, feature_frechet_distance, frechet_distance,
                      frechet_distance_sqrtm, image_frechet_distance, load_inception)
from .metrics import au_error, emotion_recognition, face_lmd, landmark_distance, mouth_lmd, psnr, ssim
from .openface import openface_au_error, read_openface_aus
from .result import EvalError, MetricResult
from .systems import (FULL, GROUND_TRUTH, LITERAL, NEUTRAL, NO_ALIGNMENT, NO_REFINEMENT, EvaluationResult, SystemSpec,
                      evaluate_run, system_specs)
from .tables import PAPER_TABLES, ComparisonTable, compare_with_paper, paper_table
from . import sanity
from .syncnet import (SyncNet, SyncResult, SyncTrainConfig, load_syncnet, mfcc, prepare_clip, save_syncnet,
                      sync_confidence, sync_score, train_syncnet)

__all__ = ["ANALYSER_FD_NAME", "EvalError", "sanity", "FID_NAME", "MetricResult", "SyncNet", "SyncResult", "SyncTrainConfig",
           "au_error", "emotion_recognition", "face_lmd", "feature_frechet_distance", "frechet_distance",
           "frechet_distance_sqrtm", "image_frechet_distance", "landmark_distance", "load_inception",
           "load_syncnet", "mfcc", "mouth_lmd", "openface_au_error", "prepare_clip", "psnr", "read_openface_aus",
           "save_syncnet", "ssim", "sync_confidence", "sync_score", "train_syncnet", "FULL", "GROUND_TRUTH", "NEUTRAL",
           "LITERAL", "NO_ALIGNMENT", "NO_REFINEMENT", "EvaluationResult", "SystemSpec", "evaluate_run", "system_specs",
           "PAPER_TABLES", "ComparisonTable", "compare_with_paper", "paper_table"]
