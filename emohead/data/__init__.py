"""The processed-dataset format shared by the synthetic world, MEAD and CREMA-D (DESIGN.md, data flow)."""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "format": ("CLIP_ARRAYS", "CLIP_FILES", "FORMAT_NAME", "FORMAT_VERSION", "OPTIONAL_ARRAYS", "SPLITS",
        "ClipRecord", "Manifest"),
    "reader": ("ProcessedDataset",),
    "validate": ("DatasetError", "validate_clip_arrays", "validate_words"),
    "video": ("VideoWriter", "probe_video", "read_video", "write_video"),
    "writer": ("DatasetWriter", "words_dict"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
