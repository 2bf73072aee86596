"""The paper's audio feature v~: HuBERT-base hidden states (Sec. III-A), via transformers.

``HubertModel.from_pretrained(features.hubert_path)``; the last hidden state at 50 Hz (one frame per
320 samples) is pooled to 25 fps by averaging the two model frames inside each video frame
(:func:`emohead.features.frames.pool_to_frames`). The waveform is zero-mean/unit-variance normalised
when the model's ``preprocessor_config.json`` says ``do_normalize`` (HuBERT-base does not).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..config import ConfigError
from .frames import conv_geometry, pool_to_frames
from .paths import model_location

log = logging.getLogger(__name__)


class HubertExtractor:
    """v~ backend 'hubert': audio float32 [S] at 16 kHz -> [T, hidden_size]."""

    name = "hubert"

    def __init__(self, path: str, expected_dim: int, device: str = "cpu", sample_rate: int = 16000):
        import torch
        from transformers import HubertModel

        location = model_location("features.hubert_path", path, backend="hubert", required=("config.json",),
                                  allow_hub_id=True)
        try:
            self.model = HubertModel.from_pretrained(location).eval().to(device)
        except (OSError, ValueError, EnvironmentError) as err:
            raise ConfigError(f"features.hubert_path={path!r}: cannot load a HuBERT model ({err})") from None
        cfg = self.model.config
        self.dim = int(cfg.hidden_size)
        if self.dim != expected_dim:
            raise ConfigError(f"audio backend 'hubert': the model at features.hubert_path={path!r} has hidden size "
                              f"{self.dim}, but features.audio_dim={expected_dim}; set features.audio_dim={self.dim}")
        self.hop, self.field = conv_geometry(cfg.conv_kernel, cfg.conv_stride)   # 320, 400 for HuBERT-base
        self.normalize = False
        pre = Path(location) / "preprocessor_config.json"
        if pre.is_file():
            self.normalize = bool(json.loads(pre.read_text(encoding="utf-8")).get("do_normalize", False))
        self.device, self.sample_rate, self._torch = device, sample_rate, torch

    def __call__(self, audio: np.ndarray, n_frames: int, fps: int) -> np.ndarray:
        torch = self._torch
        x = np.asarray(audio, dtype=np.float32)
        if len(x) < self.field:
            x = np.pad(x, (0, self.field - len(x)))
        if self.normalize:
            x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        with torch.inference_mode():
            hidden = self.model(torch.from_numpy(x)[None].to(self.device)).last_hidden_state[0]  # [N, D] at 50 Hz
        return pool_to_frames(hidden.float().cpu().numpy(), hop=self.hop, field=self.field,
                              sample_rate=self.sample_rate, n_frames=n_frames, fps=fps)
