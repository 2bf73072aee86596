"""Per-frame features v~ (audio), e~ (audio emotion) and g~ (text) of Sec. III-A, behind one interface.

>>> ex = build_extractors(FeatureConfig())                     # spectral / prosody / dataset / hashed
>>> feats = extract_clip(ex, audio, 16000, n_frames=T, words=transcript)   # ClipFeatures, each [T, D]
>>> store = extract_dataset(ProcessedDataset(root), cfg, out_dir)         # cached per clip

Backends: :mod:`.spectral` / :mod:`.hubert` (v~), :mod:`.prosody` / :mod:`.emotion2vec` (e~),
:mod:`.transcript` (dataset / FunASR words), :mod:`.hashed` / :mod:`.llama` (g~); word-to-frame
alignment (Fig. 9) in :mod:`.alignment`; input checks in :mod:`.audio_io`; the cache in :mod:`.store`.
"""
from .alignment import align_words, frame_words, normalize_words, words_from_funasr
from .audio_io import check_frames, prepare_audio
from .extract import CODE_VERSION, ClipFeatures, Extractors, build_extractors, extract_clip
from .store import FeatureStore, clip_key, extract_dataset, settings_for

__all__ = [
    "CODE_VERSION", "ClipFeatures", "Extractors", "FeatureStore", "align_words", "build_extractors",
    "check_frames", "clip_key", "extract_clip", "extract_dataset", "frame_words", "normalize_words",
    "prepare_audio", "settings_for", "words_from_funasr",
]
