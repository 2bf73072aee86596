"""``emohead prepare``: raw talking-head videos (your own, MEAD, CREMA-D) -> the processed-dataset format.

One module per step, each usable alone::

    sources   find the clips: ClipSource records (id, speaker, emotion, level, sentence, video, audio, ...)
    media     decode a video to RGB frames at 25 fps (variable frame rate handled) and audio to 16 kHz mono
    crop      one fixed square crop per speaker around head and shoulders, and the coordinate map into it
    camera    the NeRF's camera and the head pose (R, t) from the tracker's rotation and landmarks
    parsing   per-frame parsing labels (face from the mesh, hair, torso, background)
    words     word timings: FunASR, a words file, a plain transcript aligned to the audio, or none
    split     the train/test rule (every k-th sentence to test)
    pipeline  prepare_dataset(): track every clip (cached per clip, resumable), then write the dataset
    cli       the ``prepare video | mead | crema-d`` sub-commands

Nothing heavy is imported here: ``import emohead.prepare`` loads neither torch nor PyAV.
"""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "sources": ("ClipSource", "SourceError", "video_sources", "mead_sources", "cremad_sources", "CREMAD_SENTENCES"),
    "media": ("decode_video", "decode_audio", "MediaError", "match_lengths", "probe_media"),
    "crop": ("CropBox", "speaker_crop"),
    "camera": ("head_pose", "prepare_camera"),
    "parsing": ("parsing_labels",),
    "words": ("align_transcript", "clip_words"),
    "split": ("assign_splits",),
    "pipeline": ("prepare_dataset", "PrepareResult", "PrepareError"),
    "cli": ("add_prepare_parser", "run_prepare"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
