"""Validation of processed-dataset content; every error names the file (or clip) and the field."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .format import CLIP_ARRAYS, OPTIONAL_ARRAYS


class DatasetError(ValueError):
    """A dataset file or field is missing or malformed; the message names which."""


def validate_clip_arrays(arrays: Mapping[str, Any], *, n_frames: int, image_size: int | None,
                         expression_dims: int, where: str, complete: bool = True) -> None:
    """Check names, shapes, dtypes and finiteness of a clip's per-frame arrays (``complete``: all of CLIP_ARRAYS
    must be there; False checks only the arrays given)."""
    missing = [k for k in CLIP_ARRAYS if k not in arrays] if complete else []
    if missing:
        raise DatasetError(f"{where}: missing array(s) {missing}")
    dims = {"T": n_frames, "m": expression_dims, "H": image_size, "W": image_size}
    for name, value in arrays.items():
        spec = CLIP_ARRAYS.get(name) or OPTIONAL_ARRAYS.get(name)
        if spec is None:
            continue  # extra arrays are allowed and kept
        shape, kind = spec
        arr = np.asarray(value)
        expected = tuple(dims.get(s, s) if isinstance(s, str) else s for s in shape)
        ok = arr.ndim == len(expected) and all(e is None or a == e for a, e in zip(arr.shape, expected))
        if not ok:
            pretty = tuple("?" if e is None else e for e in expected)
            raise DatasetError(f"{where}: field {name!r} has shape {arr.shape}, expected {pretty}")
        if kind == "f":
            if arr.dtype.kind != "f":
                raise DatasetError(f"{where}: field {name!r} must be floating point, got {arr.dtype}")
            if not np.isfinite(arr).all():
                raise DatasetError(f"{where}: field {name!r} contains NaN or inf{first_bad_frame(arr, shape)}")
        elif kind == "u" and arr.dtype != np.uint8:
            raise DatasetError(f"{where}: field {name!r} must be uint8, got {arr.dtype}")


def first_bad_frame(arr: np.ndarray, shape: tuple[Any, ...] = ("T",)) -> str:
    """" (first at frame i)" for a per-frame array [T, ...] holding NaN or inf; "" for a per-clip one."""
    if arr.ndim == 0 or not shape or shape[0] != "T":
        return ""
    bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
    return f" (first at frame {int(np.flatnonzero(bad)[0])})" if bad.any() else ""


def validate_words(words: Mapping[str, Any], *, duration: float | None, where: str) -> None:
    """Check the transcript: words (and phonemes) with ordered times inside the audio."""
    if not isinstance(words, Mapping) or "words" not in words:
        raise DatasetError(f"{where}: transcript must be a mapping with a 'words' list")
    for key, label in (("words", "word"), ("phonemes", "phoneme")):
        prev = -1.0
        for i, item in enumerate(words.get(key, [])):
            try:
                start, end, text = float(item["start"]), float(item["end"]), item[label]
            except (KeyError, TypeError, ValueError):
                raise DatasetError(f"{where}: {key}[{i}] needs '{label}', 'start' and 'end'") from None
            if not isinstance(text, str) or (key == "words" and not text):
                raise DatasetError(f"{where}: {key}[{i}] has an empty or non-text {label!r}")
            if start < prev - 1e-6 or end < start - 1e-6:
                raise DatasetError(f"{where}: {key}[{i}] ({text!r}) times {start}-{end} are out of order")
            if start < -1e-6 or (duration is not None and end > duration + 1e-3):
                raise DatasetError(f"{where}: {key}[{i}] ({text!r}) times {start}-{end} lie outside "
                                   f"the audio (0-{duration})")
            prev = start
