"""The processed-dataset format: one layout for the synthetic world, MEAD and CREMA-D.

::

    DATA_DIR/
      manifest.json                 dataset-level fields + one record per clip (see ClipRecord)
      speakers/<speaker>.npz        beta_id [S]: identity (shape) parameters of the person
      clips/<clip_id>/audio.wav     16 kHz mono PCM
      clips/<clip_id>/video.mp4     frames at `fps`, H.264
      clips/<clip_id>/arrays.npz    per-frame arrays, see CLIP_ARRAYS
      clips/<clip_id>/words.json    transcript: words (and phonemes when known) with times in seconds

A dataset is complete once ``manifest.json`` exists: writers put it there last, atomically.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FORMAT_NAME = "emohead-dataset"
FORMAT_VERSION = 1

Split = Literal["train", "test"]
SPLITS: tuple[str, ...] = ("train", "test")

#: Files every clip has, relative to the dataset root (``{id}`` is the clip id).
CLIP_FILES: dict[str, str] = {
    "audio": "clips/{id}/audio.wav",
    "video": "clips/{id}/video.mp4",
    "arrays": "clips/{id}/arrays.npz",
    "words": "clips/{id}/words.json",
}

#: Per-frame arrays in arrays.npz: name -> (shape with T = n_frames, H/W = image size, dtype kind).
#: ``None`` in a shape means "any size"; ``"m"`` is the expression dimension.
CLIP_ARRAYS: dict[str, tuple[tuple[Any, ...], str]] = {
    "alpha": (("T", "m"), "f"),        # 3DMM expression parameters (Sec. III)
    "pose_R": (("T", 3, 3), "f"),      # head rotation R (Sec. III-C)
    "pose_t": (("T", 3), "f"),         # head translation omega (Sec. III-C)
    "landmarks": (("T", 68, 2), "f"),  # 68 iBUG landmarks in pixels (x right, y down)
    "mar": (("T",), "f"),              # mouth aspect ratio (Sec. III-B)
    "parsing": (("T", "H", "W"), "u"),  # face-parsing labels (see emohead.face PARSING_LABELS)
    "intrinsics": ((3, 3), "f"),       # pinhole camera matrix K
}
#: Arrays that may be present (the synthetic world writes them; real data may not).
OPTIONAL_ARRAYS: dict[str, tuple[tuple[Any, ...], str]] = {
    "au": (("T", None), "f"),          # action-unit intensities
    "world_to_camera": ((4, 4), "f"),  # camera extrinsics (OpenCV axes)
}

SYNTHETIC_SOURCE = "synthetic"
"""manifest ``source`` of the synthetic world; any other source holds recorded people (read by the real trackers)."""


@dataclass(frozen=True)
class ClipRecord:
    """One clip in ``manifest.json``."""

    id: str                      # unique, also its folder name
    speaker: str                 # person id
    emotion: str                 # emotion tag z
    level: int                   # intensity level (MEAD 1-3, CREMA-D 1-4)
    split: str                   # "train" or "test"
    n_frames: int                # video frames T
    fps: int                     # frames per second (25)
    image_size: int              # frame height = width in pixels
    sentence: str = ""           # sentence id: clips with the same sentence share content (eq. 13)
    paths: dict[str, str] = field(default_factory=dict)  # audio/video/arrays/words, relative

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Manifest:
    """Dataset-level fields of ``manifest.json``."""

    source: str                  # "synthetic", "mead", "crema-d", ...
    fps: int
    sample_rate: int
    expression_dims: int
    emotions: tuple[str, ...]
    speakers: dict[str, str]     # speaker id -> path of its npz (beta_id), relative
    clips: tuple[ClipRecord, ...]
    extra: dict[str, Any] = field(default_factory=dict)  # source-specific metadata (seed, profile, ...)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "source": self.source,
            "fps": self.fps,
            "sample_rate": self.sample_rate,
            "expression_dims": self.expression_dims,
            "emotions": list(self.emotions),
            "speakers": dict(self.speakers),
            "extra": dict(self.extra),
            "clips": [c.to_json() for c in self.clips],
        }
