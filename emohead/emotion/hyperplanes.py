"""Emotion hyperplanes in the 3DMM expression space (Sec. III-B, App. B).

For every emotion z a linear SVM separates the expression parameters of that emotion's frames
(y+) from all other emotions' frames (y-); its normal vector is ``w_z in R^m``. Mouth openness must
not bias the planes, so training samples are drawn evenly over 5 equal-width groups of the mouth
aspect ratio (MAR) for each class (:mod:`emohead.emotion.balance`).

Refinement directions: the SVM normal w_z is a *filter*, the direction that best detects emotion z
against the others; the direction in which emotion z actually moves the face is its *activation
pattern* a_z = Sigma w_z (Haufe et al. 2014, "On the interpretation of weight vectors of linear models
in multivariate neuroimaging", NeuroImage 87), Sigma being the covariance of the samples the SVM saw.
Where dimensions are correlated the two differ; for a linear discriminant, a_z points along the class
mean difference. ``patterns`` holds the unit a_z; :meth:`EmotionHyperplanes.directions` returns either.

Normalisation: with ``normalize=True`` (the default) each stored normal has unit length, so in
eq. 9, ``alpha^ = alpha~ + tau * w_z``, ``tau`` is a distance in alpha units along the normal. The
SVM's own scale (``coef_``) and intercept are kept for decision values.
"""
from __future__ import annotations

import json
import zipfile
import zlib
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..files import save_npz_atomic, write_json_atomic
from .balance import mar_balanced_indices

log = logging.getLogger(__name__)


class HyperplaneError(ValueError):
    """Bad input to hyperplane training or use; the message names the argument."""


@dataclass(frozen=True)
class HyperplaneSettings:
    """How a set of hyperplanes was trained (saved beside them)."""

    mar_groups: int = 5
    balance_mar: bool = True
    svm_c: float = 1.0
    normalize: bool = True
    seed: int = 0
    n_train: dict[str, int] = field(default_factory=dict)   # samples used per emotion's SVM


@dataclass(frozen=True)
class EmotionHyperplanes:
    """One hyperplane per emotion: unit normals [E, m], SVM weights [E, m] and intercepts [E]."""

    emotions: tuple[str, ...]
    normals: np.ndarray        # [E, m] w_z (unit length when settings.normalize)
    coef: np.ndarray           # [E, m] raw SVM weights
    intercept: np.ndarray      # [E]
    settings: HyperplaneSettings
    patterns: np.ndarray | None = None   # [E, m] unit activation patterns Sigma w_z (None: an older file)

    @property
    def dims(self) -> int:
        return int(self.normals.shape[1])

    def index(self, emotion: str) -> int:
        try:
            return self.emotions.index(emotion)
        except ValueError:
            raise HyperplaneError(f"unknown emotion {emotion!r}; these hyperplanes know {list(self.emotions)}") from None

    def normal(self, emotion: str) -> np.ndarray:
        """w_z [m]."""
        return self.normals[self.index(emotion)]

    def directions(self, kind: str = "normal") -> np.ndarray:
        """Refinement directions [E, m]: the SVM normals w_z (``"normal"``, eq. 9 as written) or the
        activation patterns Sigma w_z (``"pattern"``, module docstring)."""
        if kind == "normal":
            return self.normals
        if kind == "pattern":
            if self.patterns is None:
                raise HyperplaneError("these hyperplanes were saved without activation patterns; re-run "
                                      "`emohead fit-hyperplanes` (or notebook 02) to add them")
            return self.patterns
        raise HyperplaneError(f"unknown refinement direction {kind!r}; choose 'normal' or 'pattern'")

    def decision(self, alpha: np.ndarray) -> np.ndarray:
        """Signed SVM decision values [..., E] (positive: on emotion z's side)."""
        alpha = _check_alpha(alpha, self.dims, "alpha")
        return alpha @ self.coef.T + self.intercept

    def predict(self, alpha: np.ndarray) -> np.ndarray:
        """Emotion index [...] with the largest decision value (one-vs-rest)."""
        return np.argmax(self.decision(alpha), axis=-1)

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """``path`` (.npz with the arrays) plus ``path`` with .json (emotion names and settings)."""
        path = Path(path).with_suffix(".npz")
        extra = {} if self.patterns is None else {"patterns": self.patterns}
        save_npz_atomic(path, normals=self.normals, coef=self.coef, intercept=self.intercept, **extra)
        write_json_atomic(path.with_suffix(".json"), {"emotions": list(self.emotions),
                                                     "settings": asdict(self.settings)})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "EmotionHyperplanes":
        path = Path(path).with_suffix(".npz")
        meta_path = path.with_suffix(".json")
        for p in (path, meta_path):
            if not p.is_file():
                raise HyperplaneError(f"{p}: hyperplane file not found")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise HyperplaneError(f"{path}: not a readable hyperplane file ({meta_path.name} is damaged: "
                                  f"{type(err).__name__}: {err}); re-fit it (emohead fit-hyperplanes)") from None
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in ("normals", "coef", "intercept")}
                arrays["patterns"] = npz["patterns"] if "patterns" in npz.files else None
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise HyperplaneError(f"{path}: not a readable hyperplane file ({type(err).__name__}: {err}); "
                                  "re-fit it (emohead fit-hyperplanes)") from None
        if not isinstance(meta, dict) or "emotions" not in meta or "settings" not in meta:
            raise HyperplaneError(f"{meta_path}: not a hyperplane description (needs 'emotions' and 'settings')")
        emotions = tuple(meta["emotions"])
        bad = [k for k, v in arrays.items() if v is not None and not np.isfinite(v).all()]
        if bad:
            raise HyperplaneError(f"{path}: {bad} hold NaN or inf; re-fit the hyperplanes")
        if arrays["normals"].shape[0] != len(emotions):
            raise HyperplaneError(f"{path}: {arrays['normals'].shape[0]} normals for {len(emotions)} emotions")
        return cls(emotions=emotions, settings=HyperplaneSettings(**meta["settings"]), **arrays)


def _check_alpha(alpha: Any, dims: int | None, name: str) -> np.ndarray:
    arr = np.asarray(alpha, dtype=np.float64)
    if arr.ndim < 1 or (dims is not None and arr.shape[-1] != dims):
        raise HyperplaneError(f"{name} must have {dims or 'm'} expression dims in its last axis, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise HyperplaneError(f"{name} contains NaN or inf")
    return arr


def fit_hyperplanes(alpha: np.ndarray, labels: Sequence[str], mar: np.ndarray | None = None, *,
                    emotions: Sequence[str] | None = None, mar_groups: int = 5, balance_mar: bool = True,
                    svm_c: float = 1.0, normalize: bool = True, seed: int = 0) -> EmotionHyperplanes:
    """Train one linear SVM per emotion (one-vs-rest) on alpha [N, m] with emotion ``labels`` [N].

    With ``balance_mar`` each SVM sees equal counts per (MAR group, class), ``mar`` [N] being each
    frame's mouth aspect ratio (Sec. III-B).
    """
    alpha = _check_alpha(alpha, None, "alpha")
    if alpha.ndim != 2:
        raise HyperplaneError(f"alpha must be [N, m], got shape {alpha.shape}")
    labels = np.asarray(labels)
    if len(labels) != len(alpha):
        raise HyperplaneError(f"labels has {len(labels)} entries but alpha has {len(alpha)} rows")
    emotions = tuple(emotions) if emotions is not None else tuple(dict.fromkeys(labels.tolist()))
    unknown = sorted(set(labels.tolist()) - set(emotions))
    if unknown:
        raise HyperplaneError(f"labels contain unknown emotion(s) {unknown}; expected {list(emotions)}")
    present = [e for e in emotions if (labels == e).any()]
    if len(present) < 2:
        raise HyperplaneError(f"need frames of at least two emotions to separate, got only {present}")
    missing = [e for e in emotions if e not in present]
    if missing:
        raise HyperplaneError(f"no frames of emotion(s) {missing}")
    if balance_mar:
        if mar is None:
            raise HyperplaneError("balance_mar=True needs the per-frame mar array")
        mar = _check_alpha(mar, None, "mar").reshape(-1)
        if len(mar) != len(alpha):
            raise HyperplaneError(f"mar has {len(mar)} entries but alpha has {len(alpha)} rows")
    from sklearn.svm import LinearSVC     # loaded only to fit: reading and applying hyperplanes needs numpy alone

    rng = np.random.default_rng(seed)
    normals, patterns, coefs, intercepts, counts = [], [], [], [], {}
    for e in emotions:
        y = labels == e
        idx = mar_balanced_indices(mar, y, groups=mar_groups, rng=rng) if balance_mar else np.arange(len(y))
        svm = LinearSVC(C=svm_c, dual="auto", max_iter=20000, random_state=seed)
        svm.fit(alpha[idx], y[idx])
        w, b = svm.coef_[0].astype(np.float64), float(svm.intercept_[0])
        coefs.append(w)
        intercepts.append(b)
        normals.append(w / (np.linalg.norm(w) + 1e-12) if normalize else w)
        pattern = np.cov(alpha[idx], rowvar=False) @ w                  # a_z = Sigma w_z (Haufe et al. 2014)
        patterns.append(pattern / (np.linalg.norm(pattern) + 1e-12))
        counts[e] = int(len(idx))
    settings = HyperplaneSettings(mar_groups=mar_groups, balance_mar=balance_mar, svm_c=svm_c,
                                  normalize=normalize, seed=seed, n_train=counts)
    return EmotionHyperplanes(emotions=emotions, normals=np.stack(normals).astype(np.float32),
                              coef=np.stack(coefs).astype(np.float32),
                              intercept=np.asarray(intercepts, np.float32), settings=settings,
                              patterns=np.stack(patterns).astype(np.float32))


def per_emotion_accuracy(planes: EmotionHyperplanes, alpha: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """Held-out one-vs-rest accuracy of each emotion's SVM (balanced: mean of TPR and TNR)."""
    dec = planes.decision(alpha)
    labels = np.asarray(labels)
    out = {}
    for i, e in enumerate(planes.emotions):
        pos = labels == e
        if not pos.any() or pos.all():
            continue
        tpr = float((dec[pos, i] > 0).mean())
        tnr = float((dec[~pos, i] <= 0).mean())
        out[e] = 0.5 * (tpr + tnr)
    return out


def offset_alignment(planes: EmotionHyperplanes, alpha: np.ndarray, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """How much of each emotion's mean offset lies along its refinement directions.

    For emotion z, the offset is mean(alpha | z) - mean(alpha | not z) over alpha [N, m] with ``labels`` [N];
    returns {z: {"offset_norm", "cos_normal", "cos_pattern"}} (cosines with w_z and with Sigma w_z; the part of
    the offset that eq. 9 can reach along one direction is offset_norm * cos).
    """
    alpha = _check_alpha(alpha, planes.dims, "alpha")
    labels = np.asarray(labels)
    out = {}
    for i, e in enumerate(planes.emotions):
        pos = labels == e
        if not pos.any() or pos.all():
            continue
        offset = alpha[pos].mean(0) - alpha[~pos].mean(0)
        norm = float(np.linalg.norm(offset))
        row = {"offset_norm": norm, "cos_normal": float(planes.normals[i] @ offset / max(norm, 1e-12))}
        if planes.patterns is not None:
            row["cos_pattern"] = float(planes.patterns[i] @ offset / max(norm, 1e-12))
        out[e] = row
    return out
