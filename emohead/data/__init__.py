"""The processed-dataset format shared by the synthetic world, MEAD and CREMA-D (DESIGN.md, data flow)."""
from .format import CLIP_ARRAYS, CLIP_FILES, FORMAT_NAME, FORMAT_VERSION, OPTIONAL_ARRAYS, SPLITS, ClipRecord, Manifest
from .reader import ProcessedDataset
from .validate import DatasetError, validate_clip_arrays, validate_words
from .video import probe_video, read_video, write_video
from .writer import DatasetWriter, words_dict

__all__ = [
    "CLIP_ARRAYS", "CLIP_FILES", "FORMAT_NAME", "FORMAT_VERSION", "OPTIONAL_ARRAYS", "SPLITS",
    "ClipRecord", "Manifest", "ProcessedDataset", "DatasetError", "DatasetWriter",
    "validate_clip_arrays", "validate_words", "probe_video", "read_video", "write_video", "words_dict",
]
