"""Does refinement make the emotion visible? (the measurement behind "expression collapse", Sec. III-B)

Faces are rendered from expressions ``alpha~`` (tau = 0) and from refined ``alpha^ = alpha~ + tau w_z``
(eq. 9) for every emotion z, and the face analyser's emotion head names the emotion it sees. If the
hyperplanes capture the emotions, accuracy rises with tau; at tau = 0 only "neutral" can be right.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..data.emotions import MEAD_EMOTIONS, canonical_emotion
from ..emotion.editing import refine
from ..emotion.hyperplanes import EmotionHyperplanes


def refinement_recognition(planes: EmotionHyperplanes, analyser, model, actor, alpha_tilde: np.ndarray,
                           taus: Sequence[float], *, image_size: int, device: str = "cpu") -> dict[str, dict]:
    """Analyser emotion accuracy per emotion and on average, for each tau.

    alpha_tilde [N, m]: the starting expressions (e.g. frames of neutral speech). Returns
    ``{"tau=<t>": {"per_emotion": {z: accuracy}, "mean": float}}``.
    """
    from ..analyser.model import analyse_frames
    from ..synth.portraits import render_alphas

    alpha_tilde = np.asarray(alpha_tilde, np.float32)
    results: dict[str, dict] = {}
    for tau in taus:
        per_emotion = {}
        for z in planes.emotions:
            frames = render_alphas(model, actor, refine(alpha_tilde, float(tau), planes.normal(z)), image_size,
                                   device=device)
            probs = analyse_frames(analyser, frames, device=device).emotion_probs
            target = MEAD_EMOTIONS.index(canonical_emotion(z))
            per_emotion[z] = float((probs.argmax(1) == target).mean())
        results[f"tau={float(tau):g}"] = {"per_emotion": per_emotion, "mean": float(np.mean(list(per_emotion.values())))}
    return results


def rendered_emotion_accuracy(analyser, model, actor, alphas: np.ndarray, emotion: str, *, image_size: int,
                              device: str = "cpu") -> tuple[float, np.ndarray]:
    """Render expressions alpha [N, m] on ``actor``; (fraction the analyser labels ``emotion``, frames [N, H, W, 3])."""
    from ..analyser.model import analyse_frames
    from ..synth.portraits import render_alphas

    frames = render_alphas(model, actor, np.asarray(alphas, np.float32), image_size, device=device)
    probs = analyse_frames(analyser, frames, device=device).emotion_probs
    target = MEAD_EMOTIONS.index(canonical_emotion(emotion))
    return float((probs.argmax(1) == target).mean()), frames
