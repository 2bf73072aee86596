"""Can the evaluators tell? Sanity checks of the stand-in evaluators on ground-truth clips.

An evaluator is only worth its table column if it ranks an obviously right video above an obviously wrong one.
Each check here feeds an evaluator the ground truth and a degraded version of it and returns a dict of figures
(plain floats / ints / lists, ready for ``eh.notebook.finish``); notebook 05 and tests/eval call the same code.

* :func:`sync_offset_check`: SyncNet must find the AV offset of ground-truth clips whose audio is shifted by
  +-2, +-5, +-10 frames (target: within one frame in >= 90 % of the trials);
* :func:`confidence_ratio`: SyncNet's confidence of in-sync clips vs the same videos paired with another clip's
  audio, another speaker's and another sentence's where there is one (target: in-sync mean >= 3 x mismatched mean);
  also the confidence of a frozen mouth with the right audio;
* :func:`er_check`: the emotion classifier's ER on the ground truth vs the speaker's neutral clip scored against
  the emotional clip's tag (same sentence where the corpus has one: MEAD-like scripts share a sentence between
  neutral and one other emotion only), and on a frozen-mouth copy;
* :func:`mlmd_check`: M-LMD of the ground truth vs a frozen-mouth copy (every frame's mouth region taken from
  one frame, :func:`frozen_mouth`) and vs the neutral clip.

:func:`evaluator_checks` runs them all, :func:`check_run` with a run's own SyncNet and analyser on its test clips
(notebook 05, section "Can the evaluators tell?"), :func:`summarize` and :func:`plot_checks` report them.

Shifts are made by cutting, not padding: for a shift s (audio delayed by s frames) the video keeps frames
[M, T - M) (M = the largest |s|) and the audio features those of frames [M - s, T - M - s) (the clip's MFCCs
sliced, 4 steps per frame), so every trial sees the same frames and only the audio moves. Delaying the audio by
s frames gives the AV offset -s (the sign convention of :mod:`emohead.eval.syncnet`).

Measured on the cpu profile's 24 ground-truth test clips (64 px, the SyncNet of ``eval.syncnet_steps`` = 900 and
the run's analyser): offsets found in 100 % of 144 trials, confidence 7.3 in sync vs 2.1 with another clip's
audio (3.4x) and 1.0 with a frozen mouth; ER 70 % vs 6 % for the neutral clip (36 % frozen mouth); M-LMD 0.49 px
vs 1.09 (frozen mouth) and 1.03 (neutral clip). Before the SyncNet change: 63 % and 1.9x.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .result import EvalError

SHIFTS = (-10, -5, -2, 2, 5, 10)
"""Audio shifts (frames) of the offset check (issue 17: +-2, +-5, +-10)."""
OFFSET_TOLERANCE = 1
"""A shift counts as recovered when the detected offset is within this many frames of the expected one."""
TARGET_RECOVERY = 0.9
"""Fraction of shifted trials that must be recovered."""
TARGET_RATIO = 3.0
"""In-sync confidence must be at least this multiple of the mismatched-audio confidence."""


@dataclass
class GTClip:
    """A ground-truth clip as the evaluators see it: frames uint8 [T, S, S, 3], audio float [T * sr / fps],
    dataset landmarks [T, 68, 2] in pixels of the frames, the clip's emotion tag, speaker, sentence and id."""

    id: str
    frames: np.ndarray
    audio: np.ndarray
    landmarks: np.ndarray
    emotion: str
    speaker: str
    sentence: str


def load_gt_clips(ds: Any, size: int, *, split: str = "test", speakers: Sequence[str] | None = None,
                  max_frames: int = 0) -> list[GTClip]:
    """Every clip of ``split`` (of ``speakers``, default all) resized to ``size`` px, landmarks rescaled."""
    from ..render.frames import resize_frames

    recs = [r for r in ds.clips(split=split) if speakers is None or r.speaker in speakers]
    if not recs:
        raise EvalError(f"{ds.root}: no {split} clips for speakers {speakers}")
    out = []
    spf = ds.sample_rate // ds.fps
    for rec in recs:
        arrays = ds.arrays(rec, ["landmarks", "parsing"])
        n = rec.n_frames if not max_frames else min(max_frames, rec.n_frames)
        frames, _ = resize_frames(ds.frames(rec)[:n], arrays["parsing"][:n], size)
        lm = (arrays["landmarks"][:n] + 0.5) * (size / rec.image_size) - 0.5
        audio = np.asarray(ds.audio(rec), np.float32)[: n * spf]
        if len(audio) < n * spf:
            audio = np.pad(audio, (0, n * spf - len(audio)))
        out.append(GTClip(rec.id, frames, audio, lm.astype(np.float32), rec.emotion, rec.speaker,
                          str(getattr(rec, "sentence", ""))))
    return out


# ---------------------------------------------------------------- SyncNet
def _sync_clip(model: Any, clip: Any, fps: int, sample_rate: int):
    """A :class:`GTClip` prepared for ``model`` (its crop region and size); a SyncClip passes through."""
    from .syncnet import SyncClip, prepare_clip

    if isinstance(clip, SyncClip):
        return clip
    hp = model.hparams
    return prepare_clip(clip.frames, clip.audio, clip.landmarks, image_size=hp["image_size"], region=hp["region"],
                        fps=fps, sample_rate=sample_rate)


def shift_clip(clip: Any, shift: int, margin: int) -> Any:
    """A prepared SyncClip with its audio delayed by ``shift`` frames, cut to frames [margin, T - margin).

    The MFCCs are sliced (4 MFCC steps per 25 fps frame), so the shifted audio features are exactly the clip's
    own and no frame needs padding; |shift| <= margin.
    """
    from .syncnet import MFCC_RATE, SyncClip

    if abs(shift) > margin:
        raise EvalError(f"shift {shift} larger than the margin {margin}")
    steps = MFCC_RATE // 25
    T = len(clip.crops)
    if T - 2 * margin < 5:
        raise EvalError(f"clip of {T} frames too short for shifts up to {margin}")
    a0 = steps * (margin - shift)
    n = T - 2 * margin
    mf = clip.mfcc[a0:a0 + steps * n + 1]
    if len(mf) < steps * n + 1:
        raise EvalError(f"clip has {len(clip.mfcc)} MFCC steps, fewer than {T} frames need")
    return SyncClip(clip.crops[margin:T - margin], mf)


def sync_offset_check(model: Any, clips: Sequence[Any], *, shifts: Sequence[int] = SHIFTS,
                      tolerance: int = OFFSET_TOLERANCE, max_offset: int | None = None, pad: str = "zeros",
                      fps: int = 25, sample_rate: int = 16000, device: str = "cpu",
                      keep_curves: int = 1) -> dict[str, Any]:
    """Does SyncNet find a known AV offset? For every clip and every shift s (audio delayed by s frames), the
    detected offset must be -s within ``tolerance`` frames.

    clips: :class:`GTClip` (prepared here for the model) or prepared SyncClips. Every trial of a clip sees the same
    frames [M, T - M), M = max |s| (:func:`shift_clip`); the unshifted cut (s = 0) is scored too.
    Returns {"recovery_rate" (shifted trials recovered), "n_trials", "n_clips", "per_shift" {s: rate},
    "mean_abs_error" (frames), "aligned_offset_ok" (unshifted cuts found at 0 +- tolerance), "curves" (distance
    D(k) over offsets of the first ``keep_curves`` clips, unshifted, and of the same clips shifted by the last
    shift)}.
    """
    from .syncnet import MAX_OFFSET, sync_from_clip

    K = MAX_OFFSET if max_offset is None else int(max_offset)
    shifts = [int(s) for s in shifts]
    margin = max(abs(s) for s in shifts)
    if margin > K:
        raise EvalError(f"shifts up to {margin} frames but the search covers only +-{K}")
    per_shift: dict[int, list[bool]] = {s: [] for s in shifts}
    errors, aligned, curves = [], [], []
    for n, c in enumerate(clips):
        sc = _sync_clip(model, c, fps, sample_rate)
        for s in (0, *shifts):
            r = sync_from_clip(model, shift_clip(sc, s, margin), max_offset=K, pad=pad, device=device)
            err = abs(r.offset + s)                                    # delaying by s frames: offset -s
            if s == 0:
                aligned.append(err <= tolerance)
            else:
                per_shift[s].append(err <= tolerance)
                errors.append(err)
            if n < keep_curves and s in (0, shifts[-1]):
                curves.append({"clip": getattr(c, "id", str(n)), "shift": s, "offsets": r.offsets.tolist(),
                               "distances": r.distances.tolist(), "offset": r.offset, "confidence": r.confidence})
    hits = [h for v in per_shift.values() for h in v]
    return {"recovery_rate": float(np.mean(hits)), "n_trials": len(hits), "n_clips": len(clips),
            "tolerance": int(tolerance), "target": TARGET_RECOVERY,
            "per_shift": {str(s): float(np.mean(v)) for s, v in per_shift.items()},
            "mean_abs_error": float(np.mean(errors)), "aligned_offset_ok": float(np.mean(aligned)),
            "curves": curves}


def mismatch_partners(clips: Sequence[Any], pool: Sequence[Any] | None = None) -> list[int]:
    """For each clip the index (into ``pool``, default ``clips``) of another clip whose audio it is paired with:
    the next one in order of another speaker and another sentence, else of another sentence, else of another
    speaker, else any other clip (``id`` / ``speaker`` / ``sentence`` attributes where the clips have them)."""
    same_pool = pool is None
    pool = clips if pool is None else pool
    if len(pool) < (2 if same_pool else 1):
        raise EvalError("a mismatched pairing needs at least two clips")
    out = []
    for i, c in enumerate(clips):
        start = i + 1 if same_pool else 0
        order = [(start + k) % len(pool) for k in range(len(pool))]
        order = [j for j in order if not (same_pool and j == i)
                 and (getattr(pool[j], "id", None) is None or getattr(pool[j], "id", None) != getattr(c, "id", None))]
        spk, sen = getattr(c, "speaker", None), getattr(c, "sentence", None)
        other_spk = lambda o: getattr(o, "speaker", None) != spk or spk is None      # noqa: E731
        other_sen = lambda o: getattr(o, "sentence", None) != sen or sen is None     # noqa: E731
        for ok in (lambda o: other_spk(o) and other_sen(o), other_sen, other_spk, lambda o: True):
            j = next((j for j in order if ok(pool[j])), None)
            if j is not None:
                out.append(j)
                break
        else:
            raise EvalError(f"no other clip to pair clip {i} with")
    return out


def confidence_ratio(model: Any, clips: Sequence[Any], *, audio_pool: Sequence[Any] | None = None,
                     partners: Sequence[int] | None = None, max_offset: int | None = None, pad: str = "zeros",
                     frozen: bool = True, fps: int = 25, sample_rate: int = 16000,
                     device: str = "cpu") -> dict[str, Any]:
    """SyncNet confidence of in-sync ground-truth clips vs the same videos paired with another clip's audio, both
    cut to the shorter of the two clips.

    audio_pool: the clips whose audio is borrowed (default ``clips``); partners: an index into it per clip (default
    :func:`mismatch_partners`: another speaker and sentence where there is one). Returns {"in_sync" (mean
    confidence), "mismatched" (mean), "ratio" (in_sync / mismatched), "pairwise_win" (fraction of clips whose
    in-sync confidence beats its mismatched one), "partner_same_sentence" (fraction of partners that speak the
    same sentence), per-clip lists, "n_clips"}.
    """
    from .syncnet import MAX_OFFSET, MFCC_RATE, SyncClip, sync_from_clip

    K = MAX_OFFSET if max_offset is None else int(max_offset)
    pool = clips if audio_pool is None else audio_pool
    partners = mismatch_partners(clips, audio_pool) if partners is None else list(partners)
    if len(partners) != len(clips):
        raise EvalError(f"{len(partners)} partners for {len(clips)} clips")
    prepared = [_sync_clip(model, c, fps, sample_rate) for c in clips]
    donors = {j: prepared[j] if audio_pool is None else _sync_clip(model, pool[j], fps, sample_rate)
              for j in set(partners)}
    steps = MFCC_RATE // 25
    sync, mism = [], []
    for c, j in zip(prepared, partners):
        n = min(len(c.crops), len(donors[j].crops))
        for out, mf in ((sync, c.mfcc), (mism, donors[j].mfcc)):
            out.append(sync_from_clip(model, SyncClip(c.crops[:n], mf[:steps * n + 1]), max_offset=K, pad=pad,
                                      device=device).confidence)
    s, m = float(np.mean(sync)), float(np.mean(mism))
    extra: dict[str, Any] = {}
    if frozen and all(isinstance(c, GTClip) for c in clips):
        fz = [sync_from_clip(model, _sync_clip(model, GTClip(c.id, frozen_mouth(c.frames, c.landmarks), c.audio,
                                                             c.landmarks, c.emotion, c.speaker, c.sentence),
                                               fps, sample_rate), max_offset=K, pad=pad, device=device).confidence
              for c in clips]
        extra = {"frozen_mouth": float(np.mean(fz)), "frozen_mouth_per_clip": [float(x) for x in fz]}
    same = [getattr(c, "sentence", None) is not None and getattr(c, "sentence", None) == getattr(pool[j], "sentence", 0)
            for c, j in zip(clips, partners)]
    return {"in_sync": s, "mismatched": m, "ratio": s / m if m > 0 else float("inf"), "target": TARGET_RATIO,
            "pairwise_win": float(np.mean(np.asarray(sync) > np.asarray(mism))), "n_clips": len(clips),
            "partner_same_sentence": float(np.mean(same)),
            "in_sync_per_clip": [float(x) for x in sync], "mismatched_per_clip": [float(x) for x in mism],
            "partners": [getattr(pool[j], "id", str(j)) for j in partners], **extra}


# ---------------------------------------------------------------- degraded inputs
def mouth_opening(landmarks: Any) -> np.ndarray:
    """Per-frame inner-lip opening [T] in pixels: mean distance of the inner-lip pairs 61-67, 62-66, 63-65."""
    lm = np.asarray(landmarks, np.float64)
    return np.mean([np.linalg.norm(lm[:, a] - lm[:, b], axis=-1) for a, b in ((61, 67), (62, 66), (63, 65))], 0)


def frozen_mouth(frames: Any, landmarks: Any, *, ref: int | None = None, radius: float = 0.85) -> np.ndarray:
    """Frames uint8 [T, H, W, 3] whose mouth region is, in every frame, the one of a single reference frame.

    ref: the reference frame (default: the most closed mouth of the clip, a still face's mouth). In frame t the
    reference frame, translated so its mouth centre (mean of points 48-67) lands on frame t's, replaces an
    ellipse around frame t's mouth centre with semi-axes ``radius`` x the mouth width (corners 48-54)
    horizontally and vertically, feathered over its outer 30 %. landmarks [T, 68, 2] in pixels of the frames.
    """
    arr = np.asarray(frames)
    lm = np.asarray(landmarks, np.float64)
    if arr.ndim != 4 or arr.dtype != np.uint8 or lm.shape != (len(arr), 68, 2):
        raise EvalError(f"frozen_mouth needs uint8 frames [T, H, W, 3] and landmarks [T, 68, 2], got "
                        f"{arr.dtype} {arr.shape} and {lm.shape}")
    T, H, W, _ = arr.shape
    r = int(np.argmin(mouth_opening(lm))) if ref is None else int(ref)
    centre = lm[:, 48:68].mean(1)                                      # [T, 2]
    width = np.linalg.norm(lm[:, 54] - lm[:, 48], axis=-1)             # [T]
    shift = centre - centre[r]                                         # reference moved by this in frame t
    ref_img = arr[r].astype(np.float64)
    out = arr.copy()
    for t in range(T):
        a = radius * max(width[t], 1.0)
        # only the ellipse's bounding box changes (mask = 0 outside it): a few thousand pixels, not H x W
        x0, x1 = max(int(np.floor(centre[t, 0] - a)), 0), min(int(np.ceil(centre[t, 0] + a)) + 1, W)
        y0, y1 = max(int(np.floor(centre[t, 1] - a)), 0), min(int(np.ceil(centre[t, 1] + a)) + 1, H)
        if x0 >= x1 or y0 >= y1:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        moved = _translate_bilinear(ref_img, xs - shift[t, 0], ys - shift[t, 1])
        rho = np.sqrt(((xs - centre[t, 0]) / a) ** 2 + ((ys - centre[t, 1]) / a) ** 2)
        mask = np.clip((1.0 - rho) / 0.3, 0.0, 1.0)[..., None]          # 1 inside 0.7 a, 0 beyond a
        box = arr[t, y0:y1, x0:x1]
        out[t, y0:y1, x0:x1] = np.clip(np.round(mask * moved + (1 - mask) * box), 0, 255).astype(np.uint8)
    return out


def _translate_bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """img float [H, W, C] sampled bilinearly at pixel coordinates x, y [h, w] (border: the nearest edge pixel)."""
    h, w = img.shape[:2]
    x, y = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
    xi, yi = np.minimum(np.floor(x).astype(int), w - 2 if w > 1 else 0), np.minimum(np.floor(y).astype(int),
                                                                                  h - 2 if h > 1 else 0)
    fx, fy = (x - xi)[..., None], (y - yi)[..., None]
    xj, yj = np.minimum(xi + 1, w - 1), np.minimum(yi + 1, h - 1)
    top = img[yi, xi] * (1 - fx) + img[yi, xj] * fx
    bottom = img[yj, xi] * (1 - fx) + img[yj, xj] * fx
    return top * (1 - fy) + bottom * fy


def neutral_partners(clips: Sequence[GTClip]) -> list[int | None]:
    """For each non-neutral clip the index of the same speaker's neutral clip, of the same sentence where there is
    one (MEAD pairs sentences so), else the first; None for neutral clips and speakers without one."""
    out: list[int | None] = []
    for c in clips:
        cands = [j for j, o in enumerate(clips) if o.speaker == c.speaker and o.emotion == "neutral"]
        if c.emotion == "neutral" or not cands:
            out.append(None)
            continue
        same = [j for j in cands if clips[j].sentence == c.sentence]
        out.append((same or cands)[0])
    return out


# ---------------------------------------------------------------- ER and M-LMD
def _emotions(analyser: Any) -> Sequence[str]:
    return analyser.hparams["emotions"]


def er_check(analyser: Any, clips: Sequence[GTClip], *, device: str = "cpu") -> dict[str, Any]:
    """ER (the analyser's emotion classifier) on the ground truth vs degraded inputs, on the non-neutral clips that
    have a neutral clip of their speaker (:func:`neutral_partners`), each scored against its own emotion tag:

    * "ground_truth": the clip's frames;
    * "neutral_clip": the frames of the neutral clip (same speaker, same sentence where there is one), cut to the
      shorter clip: what a system that ignores the emotion tag would reach at best;
    * "frozen_mouth": the clip with its mouth region frozen (:func:`frozen_mouth`): the emotion stays in the face,
      so ER may barely move (reported, not a target).

    Returns per-frame ER (%) of each, clip accuracies, "gt_best" (ground truth above the neutral clip), counts.
    """
    from ..analyser.model import analyse_frames
    from .metrics import emotion_recognition

    pairs = [(c, clips[j]) for c, j in zip(clips, neutral_partners(clips)) if j is not None]
    if not pairs:
        raise EvalError("er_check needs non-neutral clips and a neutral clip of the same speaker")
    probs: dict[str, list[np.ndarray]] = {"ground_truth": [], "neutral_clip": [], "frozen_mouth": []}
    for c, nz in pairs:
        n = min(len(c.frames), len(nz.frames))
        probs["ground_truth"].append(analyse_frames(analyser, c.frames[:n], device=device).emotion_probs)
        probs["neutral_clip"].append(analyse_frames(analyser, nz.frames[:n], device=device).emotion_probs)
        probs["frozen_mouth"].append(analyse_frames(analyser, frozen_mouth(c.frames[:n], c.landmarks[:n]),
                                                    device=device).emotion_probs)
    tags = [c.emotion for c, _ in pairs]
    res = {k: emotion_recognition(v, tags, emotions=_emotions(analyser)) for k, v in probs.items()}
    out: dict[str, Any] = {k: float(r.value) for k, r in res.items()}
    out.update({f"{k}_clip_accuracy": float(r.extra["clip_accuracy"]) for k, r in res.items()})
    out.update({"gt_best": bool(out["ground_truth"] > out["neutral_clip"]), "n_clips": len(pairs),
                "neutral_same_sentence": float(np.mean([c.sentence == nz.sentence for c, nz in pairs])),
                "n_frames": int(res["ground_truth"].extra["n_frames"])})
    return out


def mlmd_check(analyser: Any, clips: Sequence[GTClip], *, device: str = "cpu", faces: Any = None) -> dict[str, Any]:
    """M-LMD (analyser landmarks vs the dataset's, mouth points 48-67, pixels) of the ground truth vs degraded
    inputs, against each clip's own dataset landmarks (``faces``, a :class:`.faces.TrackerFaces`: the real
    tracker's landmarks instead of the analyser's, on recorded people):

    * "ground_truth": the clip's frames (the analyser's own error: the floor);
    * "frozen_mouth": every frame's mouth region from one frame (:func:`frozen_mouth`), all clips;
    * "neutral_clip": the neutral clip of the same speaker (same sentence where there is one), cut to the shorter
      clip, on the non-neutral clips (:func:`neutral_partners`).

    Returns the mean M-LMD of each (ground truth also on the neutral_clip subset, "ground_truth_paired"), and
    "gt_best" (ground truth below both).
    """
    from ..analyser.model import analyse_frames
    from .metrics import mouth_lmd

    def landmarks(frames: np.ndarray, name: str) -> np.ndarray:
        if faces is not None:
            return faces.read(frames, name=name).landmarks
        return analyse_frames(analyser, frames, device=device).landmarks

    gt_lm, fz_lm, real = [], [], []
    for c in clips:
        gt_lm.append(landmarks(c.frames, c.id))
        fz_lm.append(landmarks(frozen_mouth(c.frames, c.landmarks), f"{c.id} (frozen mouth)"))
        real.append(c.landmarks)
    out: dict[str, Any] = {"ground_truth": float(mouth_lmd(np.concatenate(gt_lm), np.concatenate(real)).value),
                           "frozen_mouth": float(mouth_lmd(np.concatenate(fz_lm), np.concatenate(real)).value),
                           "n_clips": len(clips)}
    pairs = [(i, j) for i, j in enumerate(neutral_partners(clips)) if j is not None]
    if pairs:
        p_gt, p_nz, p_real = [], [], []
        for i, j in pairs:
            n = min(len(clips[i].frames), len(clips[j].frames))
            p_gt.append(gt_lm[i][:n])
            p_nz.append(landmarks(clips[j].frames[:n], clips[j].id))
            p_real.append(clips[i].landmarks[:n])
        out["ground_truth_paired"] = float(mouth_lmd(np.concatenate(p_gt), np.concatenate(p_real)).value)
        out["neutral_clip"] = float(mouth_lmd(np.concatenate(p_nz), np.concatenate(p_real)).value)
        out["n_neutral_pairs"] = len(pairs)
    out["gt_best"] = bool(out["ground_truth"] < out["frozen_mouth"]
                          and out.get("ground_truth_paired", -np.inf) < out.get("neutral_clip", np.inf))
    return out


# ---------------------------------------------------------------- all checks
def evaluator_checks(syncnet: Any, analyser: Any, clips: Sequence[GTClip], *, device: str = "cpu",
                     fps: int = 25, sample_rate: int = 16000, faces: Any = None) -> dict[str, Any]:
    """Every check above on the same ground-truth clips -> {"sync_offset", "sync_confidence", "er", "mlmd", "pass"}.

    "pass" holds the verdicts against the targets: offset recovery >= 90 %, confidence ratio >= 3, ground truth
    best for ER (vs the neutral clip) and M-LMD (vs the frozen mouth and the neutral clip). Either evaluator may
    be None to skip its checks. ``faces`` (recorded people, :mod:`.faces`): M-LMD through the real tracker, and no
    ER check ("er_unavailable" says why).
    """
    out: dict[str, Any] = {"n_clips": len(clips)}
    verdicts: dict[str, bool] = {}
    if syncnet is not None:
        out["sync_offset"] = sync_offset_check(syncnet, clips, fps=fps, sample_rate=sample_rate, device=device)
        out["sync_confidence"] = confidence_ratio(syncnet, clips, fps=fps, sample_rate=sample_rate, device=device)
        verdicts["sync_offset"] = out["sync_offset"]["recovery_rate"] >= TARGET_RECOVERY
        verdicts["sync_confidence"] = out["sync_confidence"]["ratio"] >= TARGET_RATIO
    if faces is not None:
        from .faces import UNAVAILABLE

        out["er_unavailable"] = UNAVAILABLE["ER"]
        out["mlmd"] = mlmd_check(None, clips, device=device, faces=faces)
        verdicts["mlmd"] = out["mlmd"]["gt_best"]
    elif analyser is not None:
        out["er"] = er_check(analyser, clips, device=device)
        out["mlmd"] = mlmd_check(analyser, clips, device=device)
        verdicts["er"] = out["er"]["gt_best"]
        verdicts["mlmd"] = out["mlmd"]["gt_best"]
    out["pass"] = verdicts
    return out


def check_run(profile: Any, run_dir: Any, *, device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """:func:`evaluator_checks` with a run's own evaluators (the SyncNet and face analyser evaluate_run uses, both
    cached in ``run_dir``; on recorded people the real tracker instead of the analyser, :func:`.faces.real_faces`)
    on every ground-truth test clip of the run, at the evaluation's frame size (``nerf.image_size``), whole clips.
    Returns the checks plus "clips" (ids) and "frame_size"."""
    from pathlib import Path

    from ..data import ProcessedDataset
    from ..extract import ensure_analyser
    from .faces import TrackerFaces, real_faces
    from .systems import ensure_syncnet

    run_dir = Path(run_dir)
    ds = ProcessedDataset(run_dir / "data")
    size = profile.nerf.image_size
    syncnet = ensure_syncnet(ds, profile.eval, run_dir, device=device, progress=progress, frame_size=size)
    clips = load_gt_clips(ds, size)
    if real_faces(ds):
        out = evaluator_checks(syncnet, None, clips, device=device, fps=ds.fps, sample_rate=ds.sample_rate,
                               faces=TrackerFaces(device=device))
    else:
        analyser, _ = ensure_analyser(profile, run_dir / "analyser", image_size=profile.synth.image_size,
                                      device=device, progress=progress)
        out = evaluator_checks(syncnet, analyser, clips, device=device, fps=ds.fps, sample_rate=ds.sample_rate)
    out.update({"clips": [c.id for c in clips], "frame_size": size})
    return out


def summarize(checks: dict[str, Any], results: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """The headline figures of :func:`evaluator_checks` (no per-clip lists), for a notebook's metrics.

    results: evaluate_run's {system: {metric: value}}; its ground-truth and neutral-tag rows are added
    (ER, M-LMD and Sync of the neutral-tag render on evaluate_run's clips) when both are there.
    """
    out: dict[str, Any] = {"n_clips": checks.get("n_clips")}
    if "sync_offset" in checks:
        o = checks["sync_offset"]
        out["sync_offset"] = {k: o[k] for k in ("recovery_rate", "per_shift", "mean_abs_error", "aligned_offset_ok",
                                                "n_trials", "tolerance", "target")}
    if "sync_confidence" in checks:
        c = checks["sync_confidence"]
        out["sync_confidence"] = {k: c[k] for k in ("in_sync", "mismatched", "ratio", "pairwise_win", "target",
                                                    "partner_same_sentence", "frozen_mouth") if k in c}
    for k in ("er", "mlmd"):
        if k in checks:
            out[k] = dict(checks[k])
    if "er_unavailable" in checks:                     # real data: why ER was not checked
        out["er_unavailable"] = str(checks["er_unavailable"])
    if results:
        from .systems import GROUND_TRUTH, NEUTRAL

        if GROUND_TRUTH in results and NEUTRAL in results:
            out["neutral_tag_render"] = {m: {"ground_truth": results[GROUND_TRUTH].get(m),
                                             "neutral_tag": results[NEUTRAL].get(m)} for m in ("ER", "M-LMD", "Sync")}
    out["pass"] = dict(checks.get("pass", {}))
    return out


def plot_checks(checks: dict[str, Any]):
    """Figure: SyncNet's distance D(k) over offsets for one clip (in sync, and its audio delayed), the mean
    confidence in sync / other clip's audio / frozen mouth, and ER / M-LMD of the ground truth vs degraded inputs."""
    from matplotlib.figure import Figure

    panels = [k for k in ("sync_offset", "sync_confidence", "er", "mlmd") if k in checks]
    fig = Figure(figsize=(3.6 * len(panels), 3.0))
    axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)).ravel()
    for ax, key in zip(axes, panels):
        if key == "sync_offset":
            for cv in checks[key]["curves"][:2]:
                label = "in sync" if cv["shift"] == 0 else f"audio delayed {cv['shift']} frames"
                ax.plot(cv["offsets"], cv["distances"], marker=".", label=f"{label}: offset {cv['offset']}")
            ax.set_xlabel("offset k (frames)")
            ax.set_ylabel("D(k)")
            ax.set_title(f"SyncNet, {checks[key]['curves'][0]['clip'] if checks[key]['curves'] else ''}\n"
                         f"shifts found: {100 * checks[key]['recovery_rate']:.0f} %", fontsize=9)
            ax.legend(fontsize=7)
        elif key == "sync_confidence":
            c = checks[key]
            names = ["in sync", "other clip's audio"] + (["frozen mouth"] if "frozen_mouth" in c else [])
            vals = [c["in_sync"], c["mismatched"]] + ([c["frozen_mouth"]] if "frozen_mouth" in c else [])
            ax.bar(names, vals, color=["C2", "C3", "C7"][:len(vals)])
            ax.set_title(f"SyncNet confidence ↑ (ratio {c['ratio']:.1f})", fontsize=9)
            ax.tick_params(axis="x", labelsize=7)
        else:
            c = checks[key]
            names = ["ground truth", "neutral clip", "frozen mouth"]
            gt = c["ground_truth"] if key == "er" else c.get("ground_truth_paired", c["ground_truth"])
            vals = [gt, c.get("neutral_clip", np.nan), c["frozen_mouth"]]
            ax.bar(names, vals, color=["C2", "C3", "C7"])
            ax.set_title("ER (%) ↑" if key == "er" else "M-LMD (px) ↓", fontsize=9)
            ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig


__all__ = ["GTClip", "OFFSET_TOLERANCE", "SHIFTS", "TARGET_RATIO", "TARGET_RECOVERY", "check_run", "confidence_ratio",
           "er_check", "evaluator_checks", "frozen_mouth", "load_gt_clips", "mismatch_partners", "mlmd_check",
           "mouth_opening", "neutral_partners", "plot_checks", "shift_clip", "summarize", "sync_offset_check"]
