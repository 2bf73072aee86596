"""The paper's text feature g~: LLaMA hidden states of the words (Sec. III-A, Fig. 9), via transformers.

Context: the whole clip transcript, words joined by spaces, goes through ``LlamaModel`` once. The model
is causal, so the state at a word's last token has seen exactly the transcript up to and including
that word ("the transcript so far") and nothing after it. g~ of a word is the final-layer hidden state
(after the last RMSNorm) at its last token, found through the fast tokenizer's offset mapping.
Silence frames get the zero vector (their own fixed value; E3 maps it to a bias).
"""
from __future__ import annotations

import logging

import numpy as np

from ..config import ConfigError
from .paths import model_location

log = logging.getLogger(__name__)


class LlamaTextEncoder:
    """g~ backend 'llama': words -> [W, hidden_size]; ``silence`` = zeros [hidden_size]."""

    name = "llama"

    def __init__(self, path: str, expected_dim: int, device: str = "cpu"):
        import torch
        from transformers import AutoTokenizer, LlamaModel

        where = f"features.llama_path={path!r}"
        location = model_location("features.llama_path", path, backend="llama", required=("config.json",),
                                   allow_hub_id=True)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(location)
            dtype = torch.float32 if str(device).startswith("cpu") else "auto"
            self.model = LlamaModel.from_pretrained(location, dtype=dtype).eval().to(device)
        except (OSError, ValueError) as err:
            raise ConfigError(f"{where}: cannot load a LLaMA model and tokenizer ({err})") from None
        if not getattr(self.tokenizer, "is_fast", False):
            raise ConfigError(f"{where}: needs a fast tokenizer (tokenizer.json) for word offsets")
        self.dim = int(self.model.config.hidden_size)
        if self.dim != expected_dim:
            raise ConfigError(f"text backend 'llama': the model at {where} has hidden size {self.dim}, but "
                              f"features.text_dim={expected_dim}; set features.text_dim={self.dim}")
        self.silence = np.zeros(self.dim, dtype=np.float32)
        self.device, self._torch = device, torch

    def last_token_indices(self, words: list[str]) -> tuple[dict, list[int]]:
        """Tokenise ' '.join(words); return the encoding and, per word, the index of its last token."""
        spans, pos = [], 0
        for w in words:
            spans.append((pos, pos + len(w)))
            pos += len(w) + 1
        enc = self.tokenizer(" ".join(words), return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping")[0].tolist()
        last = []
        for k, (a, b) in enumerate(spans):
            hits = [j for j, (s, e) in enumerate(offsets) if e > s and s < b and e > a]
            if not hits:
                raise ValueError(f"llama tokenizer: word {k} ({words[k]!r}) maps to no token")
            last.append(hits[-1])
        return enc, last

    def encode(self, words: list[str]) -> np.ndarray:
        if not words:
            return np.zeros((0, self.dim), dtype=np.float32)
        torch = self._torch
        enc, last = self.last_token_indices(words)
        with torch.inference_mode():
            hidden = self.model(**{k: v.to(self.device) for k, v in enc.items()}).last_hidden_state[0]  # [L, D]
        return hidden[last].float().cpu().numpy()
