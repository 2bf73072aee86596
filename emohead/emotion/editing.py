"""Editing expressions with emotion hyperplanes (eq. 9, App. B).

- refinement: ``alpha^ = alpha~ + tau * w_z`` (eq. 9), from the tag's anchor mu_z in the default
  (``alpha^ = mu_z + alpha~ + tau w_z``); larger tau moves further into emotion z, negative tau away from it;
- without refinement the renderer reads ``[z; alpha~]`` instead (:func:`tag_code`);
- blending two emotions: ``w = (1 - lambda) w_1 + lambda w_2`` (App. B (3));
- switching emotion inside a clip: ``w_1`` until time t, then a linear ramp to ``w_2`` (Fig. 4A).
"""
from __future__ import annotations

import numpy as np

from .hyperplanes import EmotionHyperplanes, HyperplaneError


def refine(alpha_tilde, tau, direction, anchor=None):
    """eq. 9, the one place it is computed: alpha^ = alpha~ + tau w_z, plus the tag's anchor mu_z when given.

    alpha_tilde [..., m]; tau [...] or a scalar; direction w [m] or per frame [..., m]; anchor mu like direction or
    None (the anchored default of the audio-expression module, docs/equations.md, eq. 9). numpy arrays (checked:
    matching m, finite) or torch tensors (used inside training, unchecked) alike.
    """
    if not hasattr(alpha_tilde, "detach"):                         # numpy in, numpy float32 out
        alpha_tilde = np.asarray(alpha_tilde, dtype=np.float32)
        direction = np.asarray(direction, dtype=np.float32)
        tau = np.asarray(tau, dtype=np.float32)
        anchor = None if anchor is None else np.asarray(anchor, dtype=np.float32)
        if direction.shape[-1] != alpha_tilde.shape[-1]:
            raise HyperplaneError(f"normal has {direction.shape[-1]} dims, alpha~ has {alpha_tilde.shape[-1]}")
        if not (np.isfinite(alpha_tilde).all() and np.isfinite(tau).all()):
            raise HyperplaneError("alpha~ or tau contains NaN or inf")
    out = alpha_tilde + tau[..., None] * direction
    return out if anchor is None else out + anchor


def tag_code(tag_value, alpha_tilde):
    """[z; alpha~], the renderer's code without refinement (Table IV "w/o hyperplane refinement"), the one place.

    tag_value: the integer tag z as a number, [...] (per frame, blends give fractions) ; alpha_tilde [..., m]
    -> [..., m + 1]. numpy or torch alike.
    """
    if hasattr(alpha_tilde, "detach"):
        import torch

        z = torch.as_tensor(tag_value).to(alpha_tilde).expand(alpha_tilde.shape[:-1])[..., None]
        return torch.cat([z, alpha_tilde], dim=-1)
    alpha_tilde = np.asarray(alpha_tilde, dtype=np.float32)
    z = np.broadcast_to(np.asarray(tag_value, np.float32), alpha_tilde.shape[:-1])[..., None]
    return np.concatenate([z, alpha_tilde], axis=-1)


def blend(first: np.ndarray, second: np.ndarray, weight: float | np.ndarray) -> np.ndarray:
    """App. B (3), the one place: (1 - weight) first + weight second; first, second [m]; weight in [0, 1], a number
    (-> [m]) or per frame [T] (-> [T, m], a switch schedule)."""
    weight = np.asarray(weight, dtype=np.float32)
    if ((weight < 0) | (weight > 1)).any():
        raise HyperplaneError(f"blend weight must lie in [0, 1], got {weight.min()}..{weight.max()}")
    return (1.0 - weight)[..., None] * np.asarray(first, np.float32) + weight[..., None] * np.asarray(second, np.float32)


def blend_normal(planes: EmotionHyperplanes, emotion_a: str, emotion_b: str, weight: float | np.ndarray) -> np.ndarray:
    """(1 - weight) w_a + weight w_b of two hyperplanes' normals, weight in [0, 1] (scalar -> [m]; [T] -> [T, m])."""
    return blend(planes.normal(emotion_a), planes.normal(emotion_b), weight)


def switch_weights(n_frames: int, fps: float, switch_time: float, ramp: float = 0.5) -> np.ndarray:
    """Per-frame blend weight [T]: 0 before ``switch_time``, rising linearly to 1 over ``ramp`` seconds."""
    if n_frames < 0 or fps <= 0 or ramp < 0:
        raise HyperplaneError(f"need n_frames >= 0, fps > 0, ramp >= 0; got {n_frames}, {fps}, {ramp}")
    t = np.arange(n_frames) / fps
    if ramp == 0:
        return (t >= switch_time).astype(np.float32)
    return np.clip((t - switch_time) / ramp, 0.0, 1.0).astype(np.float32)


def switch_schedule(planes: EmotionHyperplanes, emotion_a: str, emotion_b: str, n_frames: int, fps: float,
                    switch_time: float, ramp: float = 0.5) -> np.ndarray:
    """Per-frame normals [T, m]: w_a, then a linear ramp to w_b starting at ``switch_time`` (App. B (3))."""
    return blend_normal(planes, emotion_a, emotion_b, switch_weights(n_frames, fps, switch_time, ramp))
