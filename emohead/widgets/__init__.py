"""widgets stage: the interactive emotion-interpolation demo (notebook 06; paper Table III, App. B).

mixer (``EmotionMixer``: emotion A / B, blend, intensity tau, time + play, switch at t, view yaw, mp4 export)
-> preview (the renderer behind it: the trained NeRF when there is one, else the synthetic world's mesh).
"""
from __future__ import annotations

from emohead.widgets.mixer import EmotionMixer, MixerSettings, png_bytes, wav_bytes
from emohead.widgets.preview import (RENDERER_MODES, MeshPreview, NerfPreview, Preview, choose_preview, mesh_preview,
                                     yaw_matrices)

__all__ = ["EmotionMixer", "MixerSettings", "png_bytes", "wav_bytes", "RENDERER_MODES", "MeshPreview", "NerfPreview",
           "Preview", "choose_preview", "mesh_preview", "yaw_matrices"]
