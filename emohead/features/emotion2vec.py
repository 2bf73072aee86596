"""The paper's audio-emotion feature e~: emotion2vec-base frame features (Sec. III-A), via FunASR.

``features.emotion2vec_path`` is a FunASR model directory (``config.yaml`` with ``model: Emotion2vec``
and its ``model_conf``, plus ``model.pt``), as ``funasr.AutoModel`` loads it. We build FunASR's
``Emotion2vec`` class from that config and load the weights ourselves (AutoModel would also change the
torch thread count and the root logger), then run what its ``inference(granularity="frame")`` runs:
layer-normalised waveform -> ``extract_features`` -> [N, D] at 50 Hz, pooled to 25 fps like HuBERT.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..config import ConfigError
from .frames import conv_geometry, pool_to_frames
from .paths import model_location, quiet_funasr

log = logging.getLogger(__name__)


def load_funasr_state(path: Path) -> dict:
    """The state dict in a FunASR ``model.pt`` (unwrapping 'state_dict'/'model' and 'module.' as FunASR does)."""
    import torch

    try:                                    # tensors only: a pickle from outside the project never runs code here
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ConfigError(f"{path}: not a plain state dict that loads with weights_only=True ({err}); "
                          "re-save it as one (torch.save(model.state_dict(), ...))") from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


class Emotion2vecExtractor:
    """e~ backend 'emotion2vec': audio float32 [S] at 16 kHz -> [T, embed_dim]."""

    name = "emotion2vec"

    def __init__(self, path: str, expected_dim: int, device: str = "cpu", sample_rate: int = 16000):
        import torch
        from omegaconf import OmegaConf

        where = f"features.emotion2vec_path={path!r}"
        root = Path(model_location("features.emotion2vec_path", path, backend="emotion2vec",
                                   required=("config.yaml", "model.pt")))
        conf = OmegaConf.to_container(OmegaConf.load(root / "config.yaml"), resolve=True)
        if not isinstance(conf, dict) or conf.get("model") != "Emotion2vec" or "model_conf" not in conf:
            raise ConfigError(f"{where}: config.yaml must have 'model: Emotion2vec' and a 'model_conf'")
        state = load_funasr_state(root / "model.pt")     # first: a file that is not plain tensors is refused at once
        with quiet_funasr():
            from funasr.models.emotion2vec.model import Emotion2vec
        try:
            model = Emotion2vec(**{k: v for k, v in conf.items() if k != "model"})
        except Exception as err:  # noqa: BLE001 - any construction error is a config problem
            raise ConfigError(f"{where}: cannot build Emotion2vec from config.yaml ({type(err).__name__}: {err})") from None
        own = model.state_dict()
        matched = {k: v for k, v in state.items() if k in own}
        wrong = [k for k, v in matched.items() if tuple(v.shape) != tuple(own[k].shape)]
        if not matched or wrong:
            raise ConfigError(f"{where}: model.pt does not fit config.yaml "
                              f"({'no matching weights' if not matched else f'shape mismatch in {wrong[:3]}'})")
        missing = sorted(set(own) - set(matched))
        if missing:
            log.warning("%s: %d weights missing from model.pt keep their initial values (e.g. %s)",
                        where, len(missing), missing[:3])
        model.load_state_dict(matched, strict=False)
        self.model = model.eval().to(device)
        self.dim = int(model.cfg.get("embed_dim"))
        if self.dim != expected_dim:
            raise ConfigError(f"emotion backend 'emotion2vec': the model at {where} has width {self.dim}, but "
                              f"features.emotion_dim={expected_dim}; set features.emotion_dim={self.dim}")
        layers = model.modality_encoders["AUDIO"].feature_enc_layers           # [(dim, kernel, stride), ...]
        self.hop, self.field = conv_geometry([k for _, k, _ in layers], [s for _, _, s in layers])
        self.normalize = bool(model.cfg.get("normalize", False))
        self.device, self.sample_rate, self._torch = device, sample_rate, torch

    def __call__(self, audio: np.ndarray, n_frames: int, fps: int) -> np.ndarray:
        torch = self._torch
        x = np.asarray(audio, dtype=np.float32)
        if len(x) < self.field:
            x = np.pad(x, (0, self.field - len(x)))
        source = torch.from_numpy(x).to(self.device)
        if self.normalize:
            source = torch.nn.functional.layer_norm(source, source.shape)
        with torch.inference_mode():
            feats = self.model.extract_features(source.view(1, -1), padding_mask=None)["x"][0]  # [N, D] 50 Hz
        return pool_to_frames(feats.float().cpu().numpy(), hop=self.hop, field=self.field,
                              sample_rate=self.sample_rate, n_frames=n_frames, fps=fps)
