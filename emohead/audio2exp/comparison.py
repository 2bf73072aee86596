"""The audio-expression module beside its baselines and variants, over several seeds, measured one way.

Every predictor is scored on the same held-out clips with :func:`emohead.audio2exp.metrics.score`
(RMSE, motion correlation, MAR correlation). Predictors:

- the baselines of :mod:`emohead.audio2exp.baselines`: training mean, the tag's emotion mean (both
  audio-blind, seed-free) and a per-frame MLP on the audio stream v~ (no temporal model, no tag);
- trained variants of the module, each a set of ``audio2exp.*`` overrides of the profile (for instance
  ``{"variant": "literal", "refine_along": "normal"}``: eq. 2-9 exactly as printed).

:func:`summarise` gives mean and spread over seeds, and in how many seeds a predictor beat the emotion mean.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..config import Audio2ExpConfig
from . import baselines
from .data import Track, load_tracks
from .inference import predict
from .metrics import score

EMOTION_MEAN = "emotion mean (audio-blind, knows the tag)"
TRAINING_MEAN = "training mean (audio-blind)"
PER_FRAME_MLP = "per-frame audio MLP (no temporal model)"


class _Features:
    def __init__(self, t: Track):
        self.audio, self.emotion, self.text = t.audio, t.emotion_feat, t.text


def model_predictions(model: Any, tracks: Sequence[Track]) -> list[np.ndarray]:
    """alpha^ [T, m] of each clip with its own tag (alpha~ for the no_refinement variant)."""
    out = []
    for t in tracks:
        pred = predict(model, _Features(t))
        out.append(pred.refined(*model.refinement(t.emotion)) if model.refines else pred.alpha_tilde)
    return out


def per_emotion_correction(model: Any, train: Sequence[Track], test: Sequence[Track], along_normal: bool
                           ) -> list[np.ndarray]:
    """The model's test predictions plus, for each clip's emotion z, the mean residual (true - predicted alpha^) of
    the training clips of z: a constant [m] vector, or only its part along w_z (``along_normal``: what a per-emotion
    bias on tau could add). An oracle-style probe of how much of the emotion-offset error is a per-emotion bias."""
    train_pred = model_predictions(model, train)
    corrections = {}
    for z in {t.emotion for t in train}:
        residual = np.concatenate([t.alpha - p for t, p in zip(train, train_pred) if t.emotion == z]).mean(axis=0)
        if along_normal:
            w = model.normal(z)
            residual = float(residual @ w) * w
        corrections[z] = residual.astype(np.float32)
    return [p + corrections[t.emotion] for t, p in zip(test, model_predictions(model, test))]


def compare(ds: Any, store: Any, planes: Any, cfg: Audio2ExpConfig, out_dir: str | Path, *,
            variants: Mapping[str, Mapping[str, Any]], seeds: Sequence[int] = (0,), face_model: Any = None,
            device: str = "cpu", progress: bool = False, models: Mapping[tuple[str, int], Any] | None = None,
            corrections: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows {"predictor", "seed", "rmse", "offset_rmse", "motion_corr"[, "mar_corr"]} for the baselines and every variant x seed.

    ``variants``: {name: audio2exp overrides}; each is trained (or reused) in ``out_dir/<name>/seed<s>``.
    ``models``: already trained models by (name, seed), used instead of training (e.g. the notebook's own).
    ``corrections``: names of variants also scored with :func:`per_emotion_correction` (both forms).
    """
    from .training import train_audio2exp

    train = load_tracks(ds, store, split="train", with_partners=False)
    test = load_tracks(ds, store, split="test", with_partners=False)
    true = [t.alpha for t in test]
    mar = [ds.arrays(t.id, names=["mar"])["mar"] for t in test] if face_model is not None else None

    def row(name: str, seed: int | None, preds: list[np.ndarray]) -> dict[str, Any]:
        return {"predictor": name, "seed": seed, **score(preds, true, mar, face_model)}

    rows = [row(TRAINING_MEAN, None, baselines.mean_expression_predictions(train, test)),
            row(EMOTION_MEAN, None, baselines.emotion_mean_predictions(train, test))]
    for seed in seeds:
        rows.append(row(PER_FRAME_MLP, seed, baselines.per_frame_mlp_predictions(train, test, seed=seed)))
    for name, overrides in variants.items():
        variant_cfg = dataclasses.replace(cfg, **dict(overrides))
        for seed in seeds:
            model = (models or {}).get((name, seed))
            if model is None:
                model, _ = train_audio2exp(ds, store, planes, variant_cfg, Path(out_dir) / name / f"seed{seed}",
                                           seed=seed, device=device, progress=progress)
            rows.append(row(name, seed, model_predictions(model, test)))
            if name in corrections and model.refines:
                rows.append(row(f"{name} + per-emotion tau bias (fitted on training)", seed,
                                per_emotion_correction(model, train, test, along_normal=True)))
                rows.append(row(f"{name} + per-emotion offset vector (fitted on training)", seed,
                                per_emotion_correction(model, train, test, along_normal=False)))
    return rows


def summarise(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per predictor: seeds, mean and std of each figure, and seeds whose RMSE beat the emotion mean."""
    reference = next((r["rmse"] for r in rows if r["predictor"] == EMOTION_MEAN), None)
    out = []
    for name in dict.fromkeys(r["predictor"] for r in rows):
        mine = [r for r in rows if r["predictor"] == name]
        entry: dict[str, Any] = {"predictor": name, "seeds": len(mine)}
        for key in ("rmse", "offset_rmse", "motion_corr", "mar_corr"):
            vals = np.array([r[key] for r in mine if key in r], dtype=np.float64)
            if len(vals):
                entry[key] = float(vals.mean())
                entry[f"{key}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        if reference is not None and name != EMOTION_MEAN:
            entry["beats_emotion_mean"] = f"{sum(r['rmse'] < reference for r in mine)}/{len(mine)}"
        out.append(entry)
    return out


def markdown(summary: Sequence[Mapping[str, Any]]) -> str:
    """A table: predictor | seeds | RMSE | offset RMSE | motion corr | MAR corr | beats the emotion mean (mean +- std)."""
    def cell(e: Mapping[str, Any], key: str) -> str:
        if key not in e:
            return ""
        return f"{e[key]:.3f}" + (f" +- {e[key + '_std']:.3f}" if e.get("seeds", 1) > 1 else "")
    lines = ["| predictor | seeds | held-out RMSE | offset RMSE | motion corr | MAR corr | RMSE below emotion mean |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {e['predictor']} | {e['seeds']} | {cell(e, 'rmse')} | {cell(e, 'offset_rmse')} | {cell(e, 'motion_corr')} | "
              f"{cell(e, 'mar_corr')} | {e.get('beats_emotion_mean', '')} |" for e in summary]
    return "\n".join(lines)
