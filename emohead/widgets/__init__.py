"""widgets stage: the interactive emotion-interpolation demo (notebook 06; paper Table III, App. B).

mixer (``EmotionMixer``: emotion A / B, blend, intensity tau, time + play, switch at t, view yaw, mp4 export)
-> preview (the renderer behind it: the trained NeRF when there is one, else the synthetic world's mesh).
"""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "mixer": ("EmotionMixer", "MixerSettings", "png_bytes", "wav_bytes"),
    "preview": ("RENDERER_MODES", "MeshPreview", "NerfPreview", "Preview", "choose_preview", "mesh_preview",
        "yaw_matrices"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
