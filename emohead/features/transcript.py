"""Where word timings come from (Fig. 9): the clip's own transcript, or FunASR timestamped ASR."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..config import ConfigError
from .alignment import normalize_words, words_from_funasr
from .paths import model_location, quiet_funasr

log = logging.getLogger(__name__)


class DatasetTranscript:
    """Transcript backend 'dataset': the words.json given with the clip ({word, start, end} in seconds)."""

    name = "dataset"

    def __call__(self, audio: np.ndarray, words: Any, *, where: str = "clip") -> list[dict[str, Any]]:
        if words is None:
            raise ValueError(f"{where}: features.transcript_backend='dataset' needs the clip's words "
                             f"(pass words=...), or set features.transcript_backend='funasr'")
        return normalize_words(words, where=where)


class FunasrTranscriber:
    """Transcript backend 'funasr': ``funasr.AutoModel`` from ``features.asr_path`` (a local model directory).

    The model must return timestamps (e.g. a Paraformer with timestamp prediction); its result is
    converted by :func:`emohead.features.alignment.words_from_funasr`. ``model`` injects a ready object
    with FunASR's ``generate(input=...)`` (tests, or an AutoModel with VAD/punctuation already set up).
    """

    name = "funasr"

    def __init__(self, path: str, device: str = "cpu", *, model: Any = None):
        if model is None:
            import torch

            location = model_location("features.asr_path", path, backend="funasr", required=("config.yaml",))
            try:
                with quiet_funasr():
                    from funasr import AutoModel

                    model = AutoModel(model=location, device=device, disable_update=True,
                                      ncpu=torch.get_num_threads(), log_level="WARNING")
            except (AssertionError, OSError, RuntimeError, ValueError, KeyError) as err:
                raise ConfigError(f"features.asr_path={path!r}: cannot build a FunASR model "
                                  f"({type(err).__name__}: {err})") from None
        self.model = model

    def __call__(self, audio: np.ndarray, words: Any = None, *, where: str = "clip") -> list[dict[str, Any]]:
        with quiet_funasr():
            result = self.model.generate(input=np.asarray(audio, dtype=np.float32))
        return words_from_funasr(result, where=f"{where}: funasr result")
