"""How well does 3DDFA_V2's expression explain another face model's expression?

:func:`expression_r2` fits a linear map (ridge regression with an intercept) from the 3DDFA_V2 alpha [N, 10] to
a generator's alpha [N, m] on part of the frames and returns the held-out R^2 of each generator dimension: near 1
where 3DDFA_V2 sees that dimension, near 0 (or below) where it does not. Used on the synthetic world, where the
generator's alpha is known, to check that the real tracker measures what the paper's pipeline needs.
"""
from __future__ import annotations

import numpy as np


def expression_r2(tddfa_alpha: np.ndarray, generator_alpha: np.ndarray, *, test_fraction: float = 0.3,
                  seed: int = 0, groups: np.ndarray | None = None, ridge: float = 1e-3) -> np.ndarray:
    """tddfa_alpha [N, 10], generator_alpha [N, m] (frames paired) -> held-out R^2 [m] (float64).

    The held-out frames are a random ``test_fraction`` of the frames (``seed``), or, with ``groups`` [N] (e.g.
    the clip of each frame), of the groups -- whole clips held out, so neighbouring frames do not leak into the
    test. ``ridge``: the L2 penalty on the standardised inputs.
    """
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    x = np.asarray(tddfa_alpha, np.float64)
    y = np.asarray(generator_alpha, np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"need tddfa_alpha [N, k] and generator_alpha [N, m] with the same N, got {x.shape}, {y.shape}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    if groups is None:
        test = np.zeros(len(x), bool)
        test[rng.permutation(len(x))[:max(1, int(round(test_fraction * len(x))))]] = True
    else:
        groups = np.asarray(groups)
        names = np.unique(groups)
        if len(names) < 2:
            raise ValueError("need at least 2 groups to hold some out")
        held = rng.permutation(names)[:min(len(names) - 1, max(1, int(round(test_fraction * len(names)))))]
        test = np.isin(groups, held)
    if test.all() or not test.any() or (~test).sum() < x.shape[1] + 1:
        raise ValueError(f"too few frames ({len(x)}) to fit {x.shape[1]} inputs and hold out {test_fraction:.0%}")
    mu, sd = x[~test].mean(0), x[~test].std(0) + 1e-12
    model = Ridge(alpha=ridge).fit((x[~test] - mu) / sd, y[~test])
    return np.asarray(r2_score(y[test], model.predict((x[test] - mu) / sd), multioutput="raw_values"), np.float64)


MIN_SIZE = 256
"""Frames smaller than this are upscaled first: BlazeFace (short range) needs a face of about 100 px or more."""

_TRACKERS: dict[str, object] = {}
"""This process's FaceTracker per model folder (a worker tracks several clips with one)."""


def _tracker(model_dir: str | None):
    from .tracker import FaceTracker

    if str(model_dir) not in _TRACKERS:
        _TRACKERS[str(model_dir)] = FaceTracker(model_dir, progress=False)
    return _TRACKERS[str(model_dir)]


def _alpha_of_clip(ds, clip_id: str, min_size: int, model_dir: str | None) -> np.ndarray | str:
    """A job: 3DDFA_V2 alpha [T, 10] of one clip's frames, or why it has none (a string: no face)."""
    from skimage.transform import resize

    from .tracker import NoFaceError

    frames = ds.frames(clip_id)
    if frames.shape[1] < min_size:
        frames = (resize(frames, (len(frames), min_size, min_size, 3), order=1, anti_aliasing=False) * 255
                  ).round().astype(np.uint8)
    try:
        return np.asarray(_tracker(model_dir).track(frames, name=clip_id).alpha, np.float32)
    except NoFaceError as err:
        return str(err)


def tddfa_alpha_of_clips(ds, clip_ids, *, workers: int = 1, min_size: int = MIN_SIZE, model_dir=None,
                         progress: bool = False) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """3DDFA_V2 alpha [T, 10] of each clip of a ProcessedDataset (the whole FaceTracker on its frames, upscaled to
    ``min_size`` px when smaller), up to ``workers`` clips at once in worker processes (:mod:`emohead.workers`).
    Returns ({clip id: alpha}, {clip id: why it was skipped}) in the order of ``clip_ids``."""
    from ..workers import Job, run_jobs

    model = None if model_dir is None else str(model_dir)
    out = run_jobs([Job(c, _alpha_of_clip, (ds, c, min_size, model)) for c in clip_ids], workers,
                   desc="3DDFA_V2 on clips", progress=progress)
    alphas = {c: v for c, v in out.items() if not isinstance(v, str)}
    skipped = {c: v for c, v in out.items() if isinstance(v, str)}
    return alphas, skipped
