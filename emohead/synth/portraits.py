"""Still renders of an actor for figures: given expressions, emotion grids, sweeps of one dimension."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..face.camera import default_camera
from ..face.morphable import MorphableModel
from ..face.raster import render_faces
from .actors import Actor
from ..face.emotion_aus import emotion_au


def render_alphas(model: MorphableModel, actor: Actor, alphas: np.ndarray, image_size: int, *,
                  yaw_deg: float = 0.0, device: str | torch.device = "cpu") -> np.ndarray:
    """Frontal (or turned by ``yaw_deg``) portraits for alphas [B, 10] -> uint8 [B, H, W, 3]."""
    alphas = np.atleast_2d(np.asarray(alphas, np.float32))
    b = len(alphas)
    R = np.repeat(Rotation.from_euler("y", yaw_deg, degrees=True).as_matrix()[None].astype(np.float32), b, 0)
    t = np.zeros((b, 3), np.float32)
    out = render_faces(model, alphas, actor.beta_id, R, t, default_camera(image_size, device=device), image_size,
                       appearance=actor.appearance, device=device)
    return (out.image.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def emotion_alphas(model: MorphableModel, actor: Actor, emotions: Sequence[str], levels: Sequence[int]) -> np.ndarray:
    """alpha [L, E, 10] of each emotion's AU prototype at each level (mouth closed, eyes open)."""
    return np.stack([np.stack([np.asarray(model.alpha_from_au(
        emotion_au(e, lv, model.au_names, actor_style=actor.style)), np.float32) for e in emotions]) for lv in levels])


def emotion_grid_images(model: MorphableModel, actor: Actor, emotions: Sequence[str], levels: Sequence[int],
                        image_size: int, *, device: str | torch.device = "cpu") -> np.ndarray:
    """Portraits [L, E, H, W, 3]: rows are levels, columns emotions."""
    alphas = emotion_alphas(model, actor, emotions, levels)
    flat = render_alphas(model, actor, alphas.reshape(-1, alphas.shape[-1]), image_size, device=device)
    return flat.reshape(len(levels), len(emotions), *flat.shape[1:])


def dimension_sweep_images(model: MorphableModel, actor: Actor, values: Sequence[float], image_size: int, *,
                           dims: Sequence[int] | None = None, device: str | torch.device = "cpu") -> np.ndarray:
    """Portraits [D, V, H, W, 3] with one expression dim set to each value, the others 0 (paper Fig. 5B)."""
    m = model.expression_basis.shape[2]
    dims = list(range(m)) if dims is None else list(dims)
    alphas = np.zeros((len(dims), len(values), m), np.float32)
    for i, d in enumerate(dims):
        alphas[i, :, d] = values
    flat = render_alphas(model, actor, alphas.reshape(-1, m), image_size, device=device)
    return flat.reshape(len(dims), len(values), *flat.shape[1:])


def prototype_table(au_names: Sequence[str], emotions: Sequence[str], level: int = 3) -> dict[str, np.ndarray]:
    """Each emotion's AU activation [K] at ``level`` (no per-actor style)."""
    return {e: emotion_au(e, level, au_names) for e in emotions}


def emotion_loadings(model: MorphableModel, emotions: Sequence[str], level: int = 3) -> np.ndarray:
    """alpha [E, 10] of each emotion prototype: how much every dim carries each emotion (Fig. 5A)."""
    return np.stack([np.asarray(model.alpha_from_au(emotion_au(e, level, model.au_names)), np.float32)
                     for e in emotions])


def tile_images(images: np.ndarray, columns: int) -> np.ndarray:
    """Images [N, H, W, 3] as one mosaic [rows * H, columns * W, 3] at native resolution (blank-padded)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    rows = -(-n // columns)
    canvas = np.full((rows * h, columns * w, c), 255, dtype=images.dtype)
    for i, img in enumerate(images):
        r, col = divmod(i, columns)
        canvas[r * h:(r + 1) * h, col * w:(col + 1) * w] = img
    return canvas


def render_alpha_grid(model: MorphableModel, actor: Actor, alphas: np.ndarray, image_size: int, *,
                      device: str | torch.device = "cpu") -> np.ndarray:
    """Portraits [R, C, H, W, 3] for a grid of expressions alphas [R, C, m]."""
    alphas = np.asarray(alphas, np.float32)
    flat = render_alphas(model, actor, alphas.reshape(-1, alphas.shape[-1]), image_size, device=device)
    return flat.reshape(*alphas.shape[:2], *flat.shape[1:])
