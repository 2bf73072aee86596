"""Per-frame features v~ (audio), e~ (audio emotion) and g~ (text) of Sec. III-A, behind one interface.

>>> ex = build_extractors(FeatureConfig())                     # spectral / prosody / dataset / hashed
>>> feats = extract_clip(ex, audio, 16000, n_frames=T, words=transcript)   # ClipFeatures, each [T, D]
>>> store = extract_dataset(ProcessedDataset(root), cfg, out_dir)         # cached per clip

Backends: :mod:`.spectral` / :mod:`.hubert` (v~), :mod:`.prosody` / :mod:`.emotion2vec` (e~),
:mod:`.transcript` (dataset / FunASR words), :mod:`.hashed` / :mod:`.llama` (g~); word-to-frame
alignment (Fig. 9) in :mod:`.alignment`; input checks in :mod:`.audio_io`; the cache in :mod:`.store`.
"""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "alignment": ("align_words", "frame_words", "normalize_words", "words_from_funasr"),
    "audio_io": ("check_frames", "prepare_audio"),
    "extractors": ("CODE_VERSION", "ClipFeatures", "Extractors", "build_extractors", "extract_clip"),
    "store": ("FeatureStore", "clip_key", "extract_dataset", "settings_for"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
