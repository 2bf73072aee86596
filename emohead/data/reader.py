"""Read a processed dataset, validating as it goes; errors name the file and the field."""
from __future__ import annotations

import json
import logging
import zipfile
import zlib
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import soundfile as sf

from .format import CLIP_FILES, FORMAT_NAME, FORMAT_VERSION, SPLITS, ClipRecord
from .validate import DatasetError, first_bad_frame, validate_clip_arrays, validate_words
from .video import read_video

log = logging.getLogger(__name__)
_WARNED_CHANNELS: set[Path] = set()
"""Multi-channel audio files already reported (the warning is given once per file and process)."""

_REQUIRED_TOP = {"format": str, "version": int, "source": str, "fps": int, "sample_rate": int,
                 "expression_dims": int, "emotions": list, "speakers": dict, "clips": list}
_REQUIRED_CLIP = {"id": str, "speaker": str, "emotion": str, "level": int, "split": str,
                  "n_frames": int, "fps": int, "image_size": int, "paths": dict}


class ProcessedDataset:
    """A processed dataset folder (``manifest.json`` + per-clip files).

    ``ProcessedDataset(root).clips(split="train", emotion="happy")`` lists records; ``arrays(clip)``,
    ``audio(clip)``, ``frames(clip)``, ``words(clip)`` and ``beta_id(speaker)`` load their files.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        manifest_path = self.root / "manifest.json"
        if not manifest_path.is_file():
            partial = self.root.with_name(self.root.name + ".partial")
            hint = f" (an unfinished write is at {partial})" if partial.exists() else ""
            raise DatasetError(f"{manifest_path}: not found; {self.root} is not a complete dataset{hint}")
        try:
            data = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DatasetError(f"{manifest_path}: not valid JSON ({err})") from None
        self.manifest_path = manifest_path
        self._data = self._validate_manifest(data, manifest_path)
        self.records: tuple[ClipRecord, ...] = tuple(
            ClipRecord(**{k: c[k] for k in ClipRecord.__dataclass_fields__ if k in c}) for c in data["clips"])
        self._by_id = {c.id: c for c in self.records}

    # -- manifest ------------------------------------------------------------------------------
    @staticmethod
    def _validate_manifest(data: Any, path: Path) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise DatasetError(f"{path}: top level must be an object")
        for key, typ in _REQUIRED_TOP.items():
            if key not in data:
                raise DatasetError(f"{path}: missing field {key!r}")
            if not isinstance(data[key], typ) or (typ is int and isinstance(data[key], bool)):
                raise DatasetError(f"{path}: field {key!r} must be {typ.__name__}, got {data[key]!r:.60}")
        if data["format"] != FORMAT_NAME:
            raise DatasetError(f"{path}: field 'format' is {data['format']!r}, expected {FORMAT_NAME!r}")
        if data["version"] > FORMAT_VERSION:
            raise DatasetError(f"{path}: field 'version' {data['version']} is newer than this emohead "
                               f"understands ({FORMAT_VERSION})")
        seen: set[str] = set()
        for i, clip in enumerate(data["clips"]):
            where = f"{path}: clips[{i}]"
            if not isinstance(clip, dict):
                raise DatasetError(f"{where} must be an object")
            for key, typ in _REQUIRED_CLIP.items():
                if key not in clip:
                    raise DatasetError(f"{where}: missing field {key!r}")
                if not isinstance(clip[key], typ) or (typ is int and isinstance(clip[key], bool)):
                    raise DatasetError(f"{where} ({clip.get('id')!r}): field {key!r} must be {typ.__name__}")
            cid = clip["id"]
            if cid in seen:
                raise DatasetError(f"{where}: duplicate clip id {cid!r}")
            seen.add(cid)
            if clip["split"] not in SPLITS:
                raise DatasetError(f"{where} ({cid!r}): field 'split' is {clip['split']!r}, expected one of {list(SPLITS)}")
            if clip["emotion"] not in data["emotions"]:
                raise DatasetError(f"{where} ({cid!r}): field 'emotion' {clip['emotion']!r} is not in the "
                                   f"manifest's emotions {data['emotions']}")
            if clip["speaker"] not in data["speakers"]:
                raise DatasetError(f"{where} ({cid!r}): field 'speaker' {clip['speaker']!r} is not in the manifest's speakers")
            if clip["n_frames"] <= 0:
                raise DatasetError(f"{where} ({cid!r}): field 'n_frames' must be positive")
            missing = [k for k in CLIP_FILES if k not in clip["paths"]]
            if missing:
                raise DatasetError(f"{where} ({cid!r}): field 'paths' lacks {missing}")
        return data

    # -- dataset-level properties --------------------------------------------------------------
    @property
    def source(self) -> str:
        return self._data["source"]

    @property
    def fps(self) -> int:
        return self._data["fps"]

    @property
    def sample_rate(self) -> int:
        return self._data["sample_rate"]

    @property
    def expression_dims(self) -> int:
        return self._data["expression_dims"]

    @property
    def emotions(self) -> tuple[str, ...]:
        return tuple(self._data["emotions"])

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(self._data["speakers"])

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self._data.get("extra", {}))

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return (f"ProcessedDataset({str(self.root)!r}, source={self.source!r}, clips={len(self)}, "
                f"speakers={len(self.speakers)}, emotions={len(self.emotions)})")

    # -- selection -----------------------------------------------------------------------------
    def clip(self, clip_id: str) -> ClipRecord:
        try:
            return self._by_id[clip_id]
        except KeyError:
            raise DatasetError(f"{self.manifest_path}: no clip with id {clip_id!r}") from None

    def clips(self, *, split: str | None = None, speaker: str | None = None, emotion: str | None = None,
              level: int | None = None, sentence: str | None = None) -> list[ClipRecord]:
        """Records matching every given filter, in manifest order."""
        if split is not None and split not in SPLITS:
            raise DatasetError(f"split {split!r} not in {list(SPLITS)}")
        if emotion is not None and emotion not in self.emotions:
            raise DatasetError(f"emotion {emotion!r} not in this dataset's emotions {list(self.emotions)}")
        out = []
        for c in self.records:
            if ((split is None or c.split == split) and (speaker is None or c.speaker == speaker)
                    and (emotion is None or c.emotion == emotion) and (level is None or c.level == level)
                    and (sentence is None or c.sentence == sentence)):
                out.append(c)
        return out

    # -- files ---------------------------------------------------------------------------------
    def path(self, clip: ClipRecord | str, kind: str) -> Path:
        rec = self.clip(clip) if isinstance(clip, str) else clip
        p = self.root / rec.paths[kind]
        if not p.is_file():
            raise DatasetError(f"{p}: missing {kind} file of clip {rec.id!r}")
        return p

    def arrays(self, clip: ClipRecord | str, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Per-frame arrays of a clip (all, or only ``names``), validated against the manifest."""
        rec = self.clip(clip) if isinstance(clip, str) else clip
        p = self.path(rec, "arrays")
        try:
            with np.load(p) as npz:
                keys = list(npz.files) if names is None else list(names)
                absent = [k for k in keys if k not in npz.files]
                if absent:
                    raise DatasetError(f"{p}: missing field(s) {absent}")
                data = {k: npz[k] for k in keys}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            if isinstance(err, DatasetError):
                raise
            raise DatasetError(f"{p}: cannot read ({type(err).__name__}: {err}); the file is corrupt or truncated, "
                               "re-create the dataset (emohead synth / prepare)") from None
        # all of them, or a subset (still never hand NaN, inf or a wrong shape to a stage)
        validate_clip_arrays(data, n_frames=rec.n_frames, image_size=rec.image_size,
                             expression_dims=self.expression_dims, where=f"{p} (clip {rec.id!r})",
                             complete=names is None)
        for k, arr in data.items():                    # arrays the format does not describe: finite at least
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise DatasetError(f"{p} (clip {rec.id!r}): field {k!r} contains NaN or inf{first_bad_frame(arr)}")
        return data

    def audio(self, clip: ClipRecord | str) -> np.ndarray:
        """Mono float32 audio [S] at the dataset's sample rate."""
        p = self.path(clip, "audio")
        try:
            wav, sr = sf.read(p, dtype="float32", always_2d=True)
        except RuntimeError as err:                    # soundfile's LibsndfileError: not WAV/FLAC/OGG, empty, cut
            raise DatasetError(f"{p}: cannot read audio ({err}); a dataset's audio is WAV, 16-bit PCM mono") from None
        if sr != self.sample_rate:
            raise DatasetError(f"{p}: sample rate {sr} Hz, the manifest says {self.sample_rate} Hz")
        if len(wav) == 0:
            raise DatasetError(f"{p}: holds no samples (clip {Path(p).parent.name!r})")
        if wav.shape[1] > 1 and p not in _WARNED_CHANNELS:
            _WARNED_CHANNELS.add(p)
            log.warning("%s: %d channels (stereo); downmixed to mono, as every stage reads mono audio", p, wav.shape[1])
        return wav.mean(axis=1)

    def frames(self, clip: ClipRecord | str) -> np.ndarray:
        """Video frames uint8 [T, H, W, 3]."""
        rec = self.clip(clip) if isinstance(clip, str) else clip
        p = self.path(rec, "video")
        frames = read_video(p)
        if len(frames) != rec.n_frames:
            raise DatasetError(f"{p}: {len(frames)} frames, the manifest says n_frames={rec.n_frames}")
        if frames.shape[1:3] != (rec.image_size, rec.image_size):
            raise DatasetError(f"{p}: frames of clip {rec.id!r} are {frames.shape[2]}x{frames.shape[1]} px, the manifest "
                               f"says {rec.image_size}x{rec.image_size}")
        return frames

    def words(self, clip: ClipRecord | str) -> dict[str, Any]:
        """The transcript: {'text', 'words': [{word, start, end}], 'phonemes': [...]}."""
        rec = self.clip(clip) if isinstance(clip, str) else clip
        p = self.path(rec, "words")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"{p}: not valid JSON ({err})") from None
        # every word inside the clip (one frame of slack for rounding)
        validate_words(data, duration=(rec.n_frames + 1) / rec.fps, where=str(p))
        return data

    def beta_id(self, speaker: str) -> np.ndarray:
        """Identity parameters beta_id [S] of a speaker."""
        if speaker not in self._data["speakers"]:
            raise DatasetError(f"{self.manifest_path}: unknown speaker {speaker!r}")
        p = self.root / self._data["speakers"][speaker]
        if not p.is_file():
            raise DatasetError(f"{p}: missing identity file of speaker {speaker!r}")
        with np.load(p) as npz:
            if "beta_id" not in npz.files:
                raise DatasetError(f"{p}: missing field 'beta_id'")
            return npz["beta_id"]

    @cached_property
    def sentences(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.sentence for c in self.records))

    def summary(self) -> dict[str, Any]:
        """Counts per split, speaker and emotion (for notebooks and reports)."""
        def count(attr: str, values: Sequence[str]) -> dict[str, int]:
            return {v: sum(1 for c in self.records if getattr(c, attr) == v) for v in values}

        return {"clips": len(self.records), "frames": sum(c.n_frames for c in self.records),
                "splits": count("split", SPLITS), "speakers": count("speaker", self.speakers),
                "emotions": count("emotion", self.emotions)}
