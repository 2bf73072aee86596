"""Hyperplanes from a processed dataset: gather the target person's frames, train, measure (Sec. III-B).

The paper runs 3DDFA on every training frame of the target person and labels each frame with its
clip's emotion tag. Here alpha comes from the dataset's ground truth (synthetic world) or from the
face analyser's per-frame estimates (``alpha_source``); held-out figures use the test split.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import HyperplaneConfig
from ..data import ProcessedDataset
from .hyperplanes import EmotionHyperplanes, fit_hyperplanes, per_emotion_accuracy

log = logging.getLogger(__name__)

AlphaSource = Callable[[ProcessedDataset, str], np.ndarray]
"""A function (dataset, clip id) -> alpha [T, m]; the default reads the dataset's ``alpha`` array."""


def dataset_alpha(ds: ProcessedDataset, clip_id: str) -> np.ndarray:
    return ds.arrays(clip_id, names=["alpha"])["alpha"]


@dataclass(frozen=True)
class FrameTable:
    """Per-frame training data: alpha [N, m], emotion labels [N], MAR [N], clip ids [N]."""

    alpha: np.ndarray
    labels: np.ndarray
    mar: np.ndarray
    clip_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.alpha)


def gather_frames(ds: ProcessedDataset, *, split: str, speaker: str | None = None,
                  alpha_source: AlphaSource = dataset_alpha) -> FrameTable:
    """Every frame of ``speaker``'s clips in ``split`` (all speakers when None)."""
    alphas, labels, mars, ids = [], [], [], []
    for clip in ds.clips(split=split, speaker=speaker):
        alpha = np.asarray(alpha_source(ds, clip.id), np.float32)
        mar = ds.arrays(clip, names=["mar"])["mar"]
        if len(alpha) != len(mar):
            raise ValueError(f"clip {clip.id!r}: alpha has {len(alpha)} frames, mar has {len(mar)}")
        alphas.append(alpha)
        mars.append(mar)
        labels += [clip.emotion] * len(alpha)
        ids += [clip.id] * len(alpha)
    if not alphas:
        raise ValueError(f"no {split} clips for speaker {speaker!r} in {ds.root}")
    return FrameTable(np.concatenate(alphas), np.asarray(labels), np.concatenate(mars), np.asarray(ids))


def train_from_dataset(ds: ProcessedDataset, cfg: HyperplaneConfig, *, speaker: str | None = None,
                       seed: int = 0, alpha_source: AlphaSource = dataset_alpha,
                       balance_mar: bool | None = None) -> EmotionHyperplanes:
    """Fit the hyperplanes on ``speaker``'s training frames (the target person by default)."""
    speaker = speaker or ds.extra.get("target_speaker")
    table = gather_frames(ds, split="train", speaker=speaker, alpha_source=alpha_source)
    return fit_hyperplanes(table.alpha, table.labels, table.mar, emotions=ds.emotions,
                           mar_groups=cfg.mar_groups,
                           balance_mar=cfg.balance_mar if balance_mar is None else balance_mar,
                           svm_c=cfg.svm_c, normalize=cfg.normalize_normals, seed=seed)


def held_out_accuracy(planes: EmotionHyperplanes, ds: ProcessedDataset, *, speaker: str | None = None,
                      alpha_source: AlphaSource = dataset_alpha) -> dict[str, float]:
    """Balanced one-vs-rest accuracy of each emotion's SVM on the test split's frames."""
    speaker = speaker or ds.extra.get("target_speaker")
    table = gather_frames(ds, split="test", speaker=speaker, alpha_source=alpha_source)
    return per_emotion_accuracy(planes, table.alpha, table.labels)


def normal_cosines(planes: EmotionHyperplanes, true_directions: dict[str, np.ndarray]) -> dict[str, float]:
    """Cosine between each learned normal w_z and the generator's emotion direction (neutral -> z)."""
    out = {}
    for e, d in true_directions.items():
        d = np.asarray(d, np.float64)
        if e in planes.emotions and np.linalg.norm(d) > 1e-8:
            w = planes.normal(e).astype(np.float64)
            out[e] = float(w @ d / (np.linalg.norm(w) * np.linalg.norm(d)))
    return out


def hyperplane_report(ds: ProcessedDataset, cfg: HyperplaneConfig, *, seed: int = 0, speaker: str | None = None,
                      true_directions: dict[str, np.ndarray] | None = None,
                      alpha_source: AlphaSource = dataset_alpha) -> tuple[EmotionHyperplanes, dict]:
    """Train the hyperplanes (as configured) and an unbalanced baseline; measure both on the test split.

    Returns the configured hyperplanes and a JSON-ready report: samples per SVM, held-out accuracy
    per emotion with and without MAR balancing, and (given ``true_directions``, e.g. the synthetic
    generator's) the cosine between each normal and its true direction.
    """
    speaker = speaker or ds.extra.get("target_speaker")
    planes = train_from_dataset(ds, cfg, speaker=speaker, seed=seed, alpha_source=alpha_source)
    baseline = train_from_dataset(ds, cfg, speaker=speaker, seed=seed, alpha_source=alpha_source,
                                  balance_mar=not cfg.balance_mar)
    balanced, unbalanced = (planes, baseline) if cfg.balance_mar else (baseline, planes)
    report = {
        "speaker": speaker,
        "n_train_balanced": balanced.settings.n_train,
        "accuracy_balanced": held_out_accuracy(balanced, ds, speaker=speaker, alpha_source=alpha_source),
        "accuracy_unbalanced": held_out_accuracy(unbalanced, ds, speaker=speaker, alpha_source=alpha_source),
    }
    if true_directions is not None:
        report["cosine_to_generator_balanced"] = normal_cosines(balanced, true_directions)
        report["cosine_to_generator_unbalanced"] = normal_cosines(unbalanced, true_directions)
    return planes, report


def ensure_hyperplanes(ds: ProcessedDataset, cfg: HyperplaneConfig, path: str | Path, *, seed: int = 0) -> EmotionHyperplanes:
    """Load the hyperplanes saved at ``path`` (by notebook 02 / `emohead fit-hyperplanes`), else fit and save them."""
    path = Path(path)
    if path.is_file():
        planes = EmotionHyperplanes.load(path)
        missing = [e for e in ds.emotions if e not in planes.emotions]
        if not missing and planes.patterns is not None:
            return planes
        log.warning("%s lacks %s of %s; fitting new hyperplanes", path,
                    f"emotion(s) {missing}" if missing else "activation patterns (an older file)", ds.root)
    planes = train_from_dataset(ds, cfg, seed=seed)
    planes.save(path)
    return planes
