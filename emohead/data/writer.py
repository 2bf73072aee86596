"""Write a processed dataset (see :mod:`emohead.data.format`) without ever leaving half of one.

The writer fills a staging folder ``<root>.partial`` and, on :meth:`DatasetWriter.close`,
writes ``manifest.json`` and renames the folder onto ``root``. If anything fails inside the
``with`` block the staging folder is removed and an existing dataset at ``root`` is untouched.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import soundfile as sf

from ..files import FolderLock, FolderLockedError, atomic_path, save_npz_atomic, write_json_atomic
from .format import CLIP_FILES, SPLITS, ClipRecord, Manifest
from .validate import DatasetError, validate_clip_arrays, validate_words
from .video import write_video

log = logging.getLogger(__name__)
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class DatasetWriter:
    """Context manager writing clips into a new dataset folder; ``add_clip`` is thread-safe.

    >>> with DatasetWriter(out, source="synthetic", emotions=EMOTIONS) as w:   # doctest: +SKIP
    ...     w.add_speaker("actor0", beta_id)
    ...     w.add_clip(record_fields, audio=wav, frames=frames, arrays=arrays, words=words)
    """

    def __init__(self, root: str | Path, *, source: str, emotions: Sequence[str], fps: int = 25,
                 sample_rate: int = 16000, expression_dims: int = 10, overwrite: bool = False,
                 extra: Mapping[str, Any] | None = None):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(f"{self.root}: the output path is a file, not a folder")
        if self.root.exists() and not overwrite:
            if (self.root / "manifest.json").exists() or any(self.root.iterdir()):
                raise DatasetError(f"{self.root}: output folder exists and is not empty "
                                   "(pass overwrite=True / --force to replace it)")
        try:                                    # one writer per dataset: a second one fails here, naming the first
            self._folder_lock = FolderLock(self.root).acquire()
        except FolderLockedError as err:
            raise DatasetError(str(err)) from None
        except OSError as err:
            raise DatasetError(f"{self.root}: cannot create the output folder ({err.strerror})") from None
        self.staging = self.root.with_name(self.root.name + ".partial")
        self.fps, self.sample_rate, self.expression_dims = fps, sample_rate, expression_dims
        self.source, self.emotions = source, tuple(emotions)
        self.extra = dict(extra or {})
        self._speakers: dict[str, str] = {}
        self._clips: list[ClipRecord] = []
        self._lock = threading.Lock()  # add_clip may be called from several threads
        self._closed = False
        try:
            if self.staging.exists():
                shutil.rmtree(self.staging)
            self.staging.mkdir(parents=True)
        except OSError as err:
            self._folder_lock.release()
            raise DatasetError(f"{self.root}: cannot create the output folder ({err.strerror})") from None

    # -- context manager ----------------------------------------------------------------------
    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def abort(self) -> None:
        """Delete the staging folder; ``root`` is left as it was."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self._closed = True
        self._folder_lock.release()

    # -- content --------------------------------------------------------------------------------
    def add_speaker(self, speaker: str, beta_id: np.ndarray) -> None:
        """Record a person's identity parameters beta_id [S]."""
        self._check_id(speaker, "speaker")
        beta = np.asarray(beta_id, dtype=np.float32)
        if beta.ndim != 1 or not np.isfinite(beta).all():
            raise DatasetError(f"speaker {speaker!r}: beta_id must be a finite 1-d array, got shape {beta.shape}")
        rel = f"speakers/{speaker}.npz"
        save_npz_atomic(self.staging / rel, beta_id=beta)
        self._speakers[speaker] = rel

    def add_clip(self, *, id: str, speaker: str, emotion: str, level: int, split: str, sentence: str,
                 audio: np.ndarray, frames: np.ndarray, arrays: Mapping[str, np.ndarray],
                 words: Mapping[str, Any]) -> ClipRecord:
        """Validate and write one clip: audio [S] float in [-1,1] at sample_rate, frames [T,H,W,3] uint8,
        per-frame ``arrays`` (see CLIP_ARRAYS) and the ``words`` transcript dict."""
        self._check_id(id, "clip id")
        with self._lock:
            if any(c.id == id for c in self._clips):
                raise DatasetError(f"clip {id!r}: duplicate clip id")
        if speaker not in self._speakers:
            raise DatasetError(f"clip {id!r}: speaker {speaker!r} was not added (add_speaker first)")
        if emotion not in self.emotions:
            raise DatasetError(f"clip {id!r}: emotion {emotion!r} not in {list(self.emotions)}")
        if split not in SPLITS:
            raise DatasetError(f"clip {id!r}: split {split!r} not in {list(SPLITS)}")
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[1] != frames.shape[2]:
            raise DatasetError(f"clip {id!r}: frames must be square uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
        n_frames, size = int(frames.shape[0]), int(frames.shape[1])
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        expected = n_frames * self.sample_rate / self.fps
        if abs(len(audio) - expected) > self.sample_rate / self.fps:
            raise DatasetError(f"clip {id!r}: audio has {len(audio)} samples but {n_frames} frames "
                               f"at {self.fps} fps need about {expected:.0f}")
        where = f"clip {id!r}"
        validate_clip_arrays(arrays, n_frames=n_frames, image_size=size,
                             expression_dims=self.expression_dims, where=where)
        validate_words(words, duration=len(audio) / self.sample_rate, where=where)

        paths = {k: v.format(id=id) for k, v in CLIP_FILES.items()}
        base = self.staging
        with atomic_path(base / paths["audio"]) as tmp:
            sf.write(tmp, np.clip(audio, -1.0, 1.0), self.sample_rate, subtype="PCM_16", format="WAV")
        write_video(base / paths["video"], frames, self.fps)
        save_npz_atomic(base / paths["arrays"], **{k: np.asarray(v) for k, v in arrays.items()})
        write_json_atomic(base / paths["words"], dict(words))
        record = ClipRecord(id=id, speaker=speaker, emotion=emotion, level=int(level), split=split,
                            n_frames=n_frames, fps=self.fps, image_size=size, sentence=sentence,
                            paths=paths)
        with self._lock:
            self._clips.append(record)
        return record

    # -- finish ---------------------------------------------------------------------------------
    def close(self) -> Path:
        """Write manifest.json (clips sorted by id, whatever order they were added in) and move the
        finished dataset onto ``root``."""
        if self._closed:
            return self.root
        if not self._clips:
            self.abort()
            raise DatasetError(f"{self.root}: no clips were written; nothing to save")
        manifest = Manifest(source=self.source, fps=self.fps, sample_rate=self.sample_rate,
                            expression_dims=self.expression_dims, emotions=self.emotions,
                            speakers=self._speakers, clips=tuple(sorted(self._clips, key=lambda c: c.id)),
                            extra=self.extra)
        write_json_atomic(self.staging / "manifest.json", manifest.to_json())
        old = None
        if self.root.exists():
            old = self.root.with_name(self.root.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.root, old)
        os.replace(self.staging, self.root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._closed = True
        self._folder_lock.release()
        log.info("wrote %d clips to %s", len(self._clips), self.root)
        return self.root

    @staticmethod
    def _check_id(value: str, what: str) -> None:
        if not isinstance(value, str) or not _ID_PATTERN.match(value):
            raise DatasetError(f"{what} {value!r}: use letters, digits, '_', '-', '.' (no spaces or slashes)")


def words_dict(text: str, words: Sequence[Any], phonemes: Sequence[Any] = ()) -> dict[str, Any]:
    """Build the words.json content from objects with ``text/symbol``, ``start``, ``end`` attributes."""
    return {
        "text": text,
        "words": [{"word": w.text, "start": round(float(w.start), 4), "end": round(float(w.end), 4)} for w in words],
        "phonemes": [{"phoneme": p.symbol, "start": round(float(p.start), 4), "end": round(float(p.end), 4)}
                     for p in phonemes],
    }

