"""One interface for the per-frame features of Sec. III-A: audio -> v~ [T, Da], e~ [T, De], g~ [T, Dt].

``build_extractors(cfg)`` builds (and validates, up front) the backends chosen by
:class:`~emohead.config.FeatureConfig`; ``extract_clip`` runs them on one clip's audio and transcript
and returns features aligned to the clip's T video frames (25 fps):

===========  ==================  =====================================  ==================
feature      embedded default    width                                  paper backend
===========  ==================  =====================================  ==================
v~ audio     ``spectral``        640 (80 log-mel x 8 frames, 100 Hz)    ``hubert`` (768)
e~ emotion   ``prosody``         40 (8 prosody channels x 5 stats)      ``emotion2vec`` (768)
g~ text      ``hashed``          ``features.hashed_dim`` (unit norm)    ``llama`` (4096)
===========  ==================  =====================================  ==================

Words come from the clip's transcript (``dataset``) or FunASR ASR (``funasr``) and are assigned to
frames as in Fig. 9 (:mod:`emohead.features.alignment`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..config import FeatureConfig
from .alignment import SILENCE, align_words
from .audio_io import check_frames, fit_length, prepare_audio

log = logging.getLogger(__name__)

CODE_VERSION = 1
"""Bump when any backend's output changes: cached features with another version are recomputed."""
SAMPLE_RATE = 16000
"""Every backend runs on 16 kHz mono audio (HuBERT and emotion2vec expect it; Sec. III-A)."""


class FrameFeatureExtractor(Protocol):
    """Audio [S] at 16 kHz -> per-frame features [T, dim]."""

    name: str
    dim: int

    def __call__(self, audio: np.ndarray, n_frames: int, fps: int) -> np.ndarray: ...


class WordEncoder(Protocol):
    """Words [W] -> per-word features [W, dim]; ``silence`` [dim] for frames without a word."""

    name: str
    dim: int
    silence: np.ndarray

    def encode(self, words: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class ClipFeatures:
    """Per-frame features of one clip, aligned to its T video frames."""

    audio: np.ndarray      # v~ float32 [T, Da]
    emotion: np.ndarray    # e~ float32 [T, De]
    text: np.ndarray       # g~ float32 [T, Dt]
    words: list[str | None]  # the word on each frame (Fig. 9), None = silence; length T
    meta: dict[str, Any] = field(default_factory=dict)  # backends, dims, fps, the transcript used, ...

    @property
    def n_frames(self) -> int:
        return len(self.audio)

    def as_dict(self) -> dict[str, np.ndarray]:
        """{'audio', 'emotion', 'text'} (e.g. for emohead.viz.feature_heatmaps)."""
        return {"audio": self.audio, "emotion": self.emotion, "text": self.text}


@dataclass
class Extractors:
    """The built backends of one FeatureConfig."""

    cfg: FeatureConfig
    audio: FrameFeatureExtractor
    emotion: FrameFeatureExtractor
    transcript: Any
    text: WordEncoder
    device: str = "cpu"

    @property
    def dims(self) -> dict[str, int]:
        return {"audio": int(self.audio.dim), "emotion": int(self.emotion.dim), "text": int(self.text.dim)}

    @property
    def backends(self) -> dict[str, str]:
        return {"audio": self.cfg.audio_backend, "emotion": self.cfg.emotion_backend,
                "transcript": self.cfg.transcript_backend, "text": self.cfg.text_backend}


def build_extractors(cfg: FeatureConfig, device: str = "cpu") -> Extractors:
    """Build the backends chosen by ``cfg``; model paths are checked (and models loaded) here, up front.

    Raises :class:`~emohead.config.ConfigError` naming the setting when a model directory is missing or a
    model's width disagrees with ``features.audio_dim`` / ``emotion_dim`` / ``text_dim``.
    """
    if cfg.audio_backend == "hubert":
        from .hubert import HubertExtractor

        audio: FrameFeatureExtractor = HubertExtractor(cfg.hubert_path, cfg.audio_dim, device, SAMPLE_RATE)
    else:
        from .spectral import SpectralExtractor

        audio = SpectralExtractor(SAMPLE_RATE)
    if cfg.emotion_backend == "emotion2vec":
        from .emotion2vec import Emotion2vecExtractor

        emotion: FrameFeatureExtractor = Emotion2vecExtractor(cfg.emotion2vec_path, cfg.emotion_dim, device,
                                                              SAMPLE_RATE)
    else:
        from .prosody import ProsodyExtractor

        emotion = ProsodyExtractor(SAMPLE_RATE)
    if cfg.transcript_backend == "funasr":
        from .transcript import FunasrTranscriber

        transcript: Any = FunasrTranscriber(cfg.asr_path, device)
    else:
        from .transcript import DatasetTranscript

        transcript = DatasetTranscript()
    if cfg.text_backend == "llama":
        from .llama import LlamaTextEncoder

        text: WordEncoder = LlamaTextEncoder(cfg.llama_path, cfg.text_dim, device)
    else:
        from .hashed import HashedTextEncoder

        text = HashedTextEncoder(cfg.hashed_dim)
    return Extractors(cfg=cfg, audio=audio, emotion=emotion, transcript=transcript, text=text, device=device)


def extract_clip(extractors: Extractors, audio: np.ndarray, sample_rate: int, n_frames: int, fps: int = 25,
                 words: Any = None, *, clip_id: str = "clip") -> ClipFeatures:
    """Features of one clip: audio [S] or [S, C] at ``sample_rate`` -> :class:`ClipFeatures` with T = n_frames.

    ``words`` is the transcript ({'words': [{word, start, end}]} or the list itself, seconds); required by
    the 'dataset' transcript backend, ignored by 'funasr'. The audio is checked and converted by
    :func:`~emohead.features.audio_io.prepare_audio`, then padded/trimmed to exactly T / fps seconds.
    """
    where = f"clip {clip_id!r}"
    x = prepare_audio(audio, sample_rate, SAMPLE_RATE, where=where)
    check_frames(len(x), SAMPLE_RATE, n_frames, fps, where=where)
    x = fit_length(x, int(round(n_frames * SAMPLE_RATE / fps)))

    v = extractors.audio(x, n_frames, fps)                              # v~ [T, Da]
    e = extractors.emotion(x, n_frames, fps)                            # e~ [T, De]
    transcript = extractors.transcript(x, words, where=where)           # [{word, start, end}]
    idx = align_words(transcript, n_frames, fps)                        # Fig. 9: word index per frame, -1 = silence
    per_word = extractors.text.encode([w["word"] for w in transcript])  # [W, Dt]
    table = np.concatenate([per_word, extractors.text.silence[None]], axis=0).astype(np.float32)
    g = table[np.where(idx == SILENCE, len(per_word), idx)]            # g~ [T, Dt]
    frame_words = [None if k == SILENCE else transcript[k]["word"] for k in idx]

    for name, arr, dim in (("audio", v, extractors.audio.dim), ("emotion", e, extractors.emotion.dim),
                           ("text", g, extractors.text.dim)):
        if arr.shape != (n_frames, dim):
            raise RuntimeError(f"{where}: {name} backend {extractors.backends[name]!r} returned {arr.shape}, "
                               f"expected {(n_frames, dim)}")
    meta = {"clip_id": clip_id, "fps": fps, "n_frames": n_frames, "sample_rate": SAMPLE_RATE,
            "backends": extractors.backends, "dims": extractors.dims, "transcript": transcript,
            "code_version": CODE_VERSION}
    return ClipFeatures(audio=np.ascontiguousarray(v, np.float32), emotion=np.ascontiguousarray(e, np.float32),
                        text=np.ascontiguousarray(g, np.float32), words=frame_words, meta=meta)
