"""Training data of the audio-expression module: per-clip feature tracks, targets and window batches.

A :class:`Track` is one clip: the per-frame features v~ [T, Da], e~ [T, De], g~ [T, Dt] (Sec. III-A),
the target expression alpha [T, m] of the clip's speaker, and the expression tracks of the same
sentence and emotion spoken by other actors, warped onto this clip's frames (alpha^{A_bar} of eq. 13).

A batch is ``batch_size`` windows of ``window`` frames. Each window carries ``n`` frames of context
before its first frame for the fusion F over i-n..i (Sec. III-A); before a clip's start the context is
silence (the mean feature of the training set's silent frames, Fig. 9's "padded with silence").

Batches depend only on (seed, iteration) (:func:`batch_plan`), so a resumed run and a run sharded over
several processes draw exactly the batches of an uninterrupted single-process run.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .pairing import warp_track

log = logging.getLogger(__name__)

STREAMS = ("audio", "emotion", "text")


class A2EDataError(ValueError):
    """Bad training data for the audio-expression module (names the clip, folder or setting)."""


@dataclass
class Track:
    """One clip's inputs and targets (all float32, T frames)."""

    id: str
    speaker: str
    emotion: str
    sentence: str
    split: str
    audio: np.ndarray            # v~ [T, Da]
    emotion_feat: np.ndarray     # e~ [T, De]
    text: np.ndarray             # g~ [T, Dt]
    alpha: np.ndarray            # alpha^A [T, m]
    silent: np.ndarray           # [T] bool, frames without a word
    partners: list[np.ndarray] = field(default_factory=list)   # alpha^{A_bar} tracks [T, m], warped

    @property
    def n_frames(self) -> int:
        return int(self.alpha.shape[0])

    def stream(self, name: str) -> np.ndarray:
        return {"audio": self.audio, "emotion": self.emotion_feat, "text": self.text}[name]


@dataclass(frozen=True)
class FeatureInfo:
    """Widths and producing backends of the three feature streams (checked when a model meets features)."""

    dims: dict[str, int]
    backends: dict[str, str]


def check_feature_widths(expected: FeatureInfo, got: FeatureInfo, where: str) -> None:
    """Raise A2EDataError naming the backend when a stream's width differs from what a model expects."""
    for stream in STREAMS:
        want, have = int(expected.dims.get(stream, -1)), int(got.dims.get(stream, -1))
        if want != have:
            made_by = got.backends.get(stream, "?")
            trained_on = expected.backends.get(stream, "?")
            raise A2EDataError(
                f"{where}: {stream} features are {have}-d (made by the {made_by!r} backend) but the "
                f"audio-expression model expects {want}-d (trained on the {trained_on!r} backend); "
                f"re-extract features with features.{stream}_backend={trained_on!r} or train a new model")


def load_tracks(ds: Any, store: Any, *, split: str, alpha_source: Any = None,
                speakers: Sequence[str] | None = None, with_partners: bool = True) -> list[Track]:
    """Tracks of every clip of ``split`` (optionally only ``speakers``) from a ProcessedDataset and FeatureStore.

    ``alpha_source(ds, clip_id) -> alpha [T, m]`` overrides the dataset's expression arrays (e.g. the
    analyser's estimates, the role 3DDFA plays in the paper). Partners (alpha^{A_bar}) are the same
    sentence and emotion spoken by other speakers (any intensity level) of the same split.
    """
    records = [r for r in ds.clips(split=split) if speakers is None or r.speaker in speakers]
    if not records:
        raise A2EDataError(f"{ds.root}: no clips in split {split!r}"
                           + (f" for speakers {list(speakers)}" if speakers else ""))
    missing = [r.id for r in records if r.id not in store]
    if missing:
        raise A2EDataError(f"{store.root}: no features for {len(missing)} clip(s) of {ds.root}, e.g. "
                           f"{missing[:3]}; run `emohead extract` on this dataset first")
    alpha_of = alpha_source or (lambda d, cid: d.arrays(cid, names=["alpha"])["alpha"])
    tracks, words = [], {}
    for r in records:
        f = store.get(r.id)
        alpha = np.asarray(alpha_of(ds, r.id), dtype=np.float32)
        if alpha.shape[0] != f.n_frames:
            raise A2EDataError(f"clip {r.id!r}: {alpha.shape[0]} expression frames but {f.n_frames} feature "
                               f"frames in {store.root}; re-run `emohead extract`")
        if not (np.isfinite(f.audio).all() and np.isfinite(f.emotion).all() and np.isfinite(f.text).all()):
            raise A2EDataError(f"{store.path(r.id)}: features contain NaN or inf")
        words[r.id] = ds.words(r)
        tracks.append(Track(id=r.id, speaker=r.speaker, emotion=r.emotion, sentence=r.sentence, split=r.split,
                            audio=f.audio.astype(np.float32), emotion_feat=f.emotion.astype(np.float32),
                            text=f.text.astype(np.float32), alpha=alpha,
                            silent=np.array([w is None for w in f.words], dtype=bool)))
    if with_partners:
        by_key: dict[tuple, list[tuple[Track, Any]]] = {}
        for t, r in zip(tracks, records):
            by_key.setdefault((r.sentence, r.emotion), []).append((t, r))
        for group in by_key.values():
            for t, r in group:
                t.partners = [warp_track(o.alpha, words[o.id], words[t.id], t.n_frames, r.fps)
                              for o, _ in group if o.speaker != t.speaker]
    return tracks


def silence_features(tracks: Sequence[Track]) -> dict[str, np.ndarray]:
    """Mean feature of the silent frames (no word) of the tracks, per stream: {stream: [D]}.

    Used to pad the fusion context before a clip's first frame. Falls back to the first frame of
    each clip (clips start with silence) when no frame is marked silent.
    """
    out = {}
    for s in STREAMS:
        rows = [t.stream(s)[t.silent] for t in tracks if t.silent.any()]
        if not rows:
            rows = [t.stream(s)[:1] for t in tracks]
        out[s] = np.concatenate(rows).mean(axis=0).astype(np.float32)
    return out


def feature_stats(tracks: Sequence[Track]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-stream (mean [D], std [D]) over all frames, std floored at 1e-3 (input standardisation)."""
    out = {}
    for s in STREAMS:
        x = np.concatenate([t.stream(s) for t in tracks]).astype(np.float64)
        out[s] = (x.mean(0).astype(np.float32), np.maximum(x.std(0), 1e-3).astype(np.float32))
    return out


def pad_context(x: np.ndarray, silence: np.ndarray, n: int) -> np.ndarray:
    """Prepend ``n`` silence frames: [T, D] -> [n + T, D] (the fusion context before frame 0)."""
    return np.concatenate([np.broadcast_to(silence, (n, x.shape[1])), x]).astype(np.float32)


@dataclass
class WindowBatch:
    """A batch of windows (numpy; the trainer moves it to torch).

    audio/emotion/text: [B, n + W, D] (n context frames first); alpha: [B, W, m] target of the speaker;
    partner: [B, W, m] alpha^{A_bar} (zeros where there is none); has_partner: [B] bool;
    tag: [B] emotion index; clip: [B] track index; start: [B] first frame of each window.
    """

    audio: np.ndarray
    emotion: np.ndarray
    text: np.ndarray
    alpha: np.ndarray
    partner: np.ndarray
    has_partner: np.ndarray
    tag: np.ndarray
    clip: np.ndarray
    start: np.ndarray


class WindowSampler:
    """Cuts batches of windows from tracks; every batch is a function of (seed, iteration) only."""

    def __init__(self, tracks: Sequence[Track], emotions: Sequence[str], silence: dict[str, np.ndarray], *,
                 window: int, context: int):
        usable = [t for t in tracks if t.n_frames >= window]
        if len(usable) < len(tracks):
            log.warning("%d clip(s) shorter than the %d-frame window are not used for training",
                        len(tracks) - len(usable), window)
        if not usable:
            raise A2EDataError(f"no clip has at least audio2exp.window={window} frames; lower the window")
        unknown = sorted({t.emotion for t in usable} - set(emotions))
        if unknown:
            raise A2EDataError(f"clips have emotions {unknown} that the hyperplanes do not know ({list(emotions)})")
        self.tracks, self.window, self.context = usable, window, context
        self.emotion_index = {e: i for i, e in enumerate(emotions)}
        self.padded = [{s: pad_context(t.stream(s), silence[s], context) for s in STREAMS} for t in usable]
        lengths = np.array([t.n_frames - window + 1 for t in usable], dtype=np.float64)
        self.weights = lengths / lengths.sum()          # uniform over all window positions

    def plan(self, seed: int, iteration: int, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(clip [B], start [B], partner choice [B]) for one global batch: deterministic in (seed, iteration)."""
        rng = np.random.default_rng([seed, iteration])
        clip = rng.choice(len(self.tracks), size=batch_size, p=self.weights)
        start = np.array([rng.integers(0, self.tracks[c].n_frames - self.window + 1) for c in clip])
        pick = rng.integers(0, 1 << 30, size=batch_size)
        return clip, start, pick

    def batch(self, seed: int, iteration: int, batch_size: int, rows: slice | None = None) -> WindowBatch:
        """The batch of (seed, iteration); ``rows`` selects part of it (a process's share under DDP)."""
        clip, start, pick = self.plan(seed, iteration, batch_size)
        if rows is not None:
            clip, start, pick = clip[rows], start[rows], pick[rows]
        W, n = self.window, self.context
        feats = {s: np.stack([self.padded[c][s][st:st + n + W] for c, st in zip(clip, start)]) for s in STREAMS}
        alpha = np.stack([self.tracks[c].alpha[st:st + W] for c, st in zip(clip, start)])
        partner = np.zeros_like(alpha)
        has = np.zeros(len(clip), dtype=bool)
        for b, (c, st, p) in enumerate(zip(clip, start, pick)):
            options = self.tracks[c].partners
            if options:
                partner[b] = options[p % len(options)][st:st + W]
                has[b] = True
        tag = np.array([self.emotion_index[self.tracks[c].emotion] for c in clip])
        return WindowBatch(audio=feats["audio"], emotion=feats["emotion"], text=feats["text"], alpha=alpha,
                           partner=partner, has_partner=has, tag=tag, clip=clip, start=start)
