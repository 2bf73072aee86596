"""Per-clip feature cache: ``out_dir/<clip_id>.npz`` plus ``out_dir/index.json``.

A clip's cache key is the SHA-256 of its content (the float32 audio bytes, sample rate, T, fps and the
transcript) and of the feature settings (:func:`settings_for`: backend names, model paths, widths and
:data:`~emohead.features.extractors.CODE_VERSION`). ``extract_dataset`` reuses a clip whose stored key
matches and recomputes it otherwise, so a re-run is cheap and a changed setting or audio file is
picked up. Every file is written atomically (:mod:`emohead.files`).

Under ``torchrun`` (:mod:`emohead.distributed`) ``extract_dataset`` is sharded: rank r computes every
world-th clip from r (disjoint and deterministic), writes those npz files itself, and rank 0 alone writes
``index.json`` after gathering every rank's entries. Each npz carries its key, so a rerun (or a rerun
after a lost rank) recomputes only the clips whose files are missing or stale.

``<clip_id>.npz`` holds ``audio`` [T, Da], ``emotion`` [T, De], ``text`` [T, Dt] (float32), ``words`` [T]
(str, '' = silence), ``key`` and ``meta`` (JSON). ``index.json`` holds the settings, backends, widths, the
resolved FeatureConfig and, per clip, its key, file and T.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..config import FeatureConfig
from ..files import save_npz_atomic, write_json_atomic
from .extractors import CODE_VERSION, SAMPLE_RATE, ClipFeatures, Extractors, build_extractors, extract_clip

log = logging.getLogger(__name__)

INDEX = "index.json"
FORMAT_NAME = "emohead-features"


def settings_for(cfg: FeatureConfig) -> dict[str, Any]:
    """The settings a clip's features depend on (only those of the chosen backends)."""

    def where(p: str) -> str:
        q = Path(p).expanduser()
        return str(q.resolve()) if q.exists() else p

    s: dict[str, Any] = {"code_version": CODE_VERSION, "sample_rate": SAMPLE_RATE,
                         "audio_backend": cfg.audio_backend, "emotion_backend": cfg.emotion_backend,
                         "transcript_backend": cfg.transcript_backend, "text_backend": cfg.text_backend}
    if cfg.audio_backend == "hubert":
        s.update(hubert_path=where(cfg.hubert_path), audio_dim=cfg.audio_dim)
    if cfg.emotion_backend == "emotion2vec":
        s.update(emotion2vec_path=where(cfg.emotion2vec_path), emotion_dim=cfg.emotion_dim)
    if cfg.transcript_backend == "funasr":
        s.update(asr_path=where(cfg.asr_path))
    if cfg.text_backend == "llama":
        s.update(llama_path=where(cfg.llama_path), text_dim=cfg.text_dim)
    else:
        s.update(hashed_dim=cfg.hashed_dim)
    return s


def clip_key(settings: dict[str, Any], audio: np.ndarray, sample_rate: int, n_frames: int, fps: int,
             words: Any) -> str:
    """SHA-256 hex of the settings and the clip's content."""
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(json.dumps({"sample_rate": sample_rate, "n_frames": n_frames, "fps": fps,
                         "shape": list(np.shape(audio))}).encode())
    h.update(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    items = words.get("words", []) if isinstance(words, dict) else (words or [])
    h.update(json.dumps([[w["word"], float(w["start"]), float(w["end"])] for w in items]).encode())
    return h.hexdigest()


class FeatureStore:
    """The feature folder of one dataset: ``get(clip_id) -> ClipFeatures``; ``dims``; ``backends``."""

    def __init__(self, out_dir: str | Path):
        self.root = Path(out_dir)
        self.index_path = self.root / INDEX
        self._index: dict[str, Any] = {"format": FORMAT_NAME, "version": 1, "settings": {}, "backends": {},
                                       "dims": {}, "config": {}, "clips": {}}
        if self.index_path.is_file():
            try:
                data = json.loads(self.index_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ValueError(f"{self.index_path}: not valid JSON ({err})") from None
            if data.get("format") != FORMAT_NAME:
                raise ValueError(f"{self.index_path}: field 'format' is {data.get('format')!r}, "
                                 f"expected {FORMAT_NAME!r}")
            self._index.update(data)
        self.last_run: dict[str, int] = {"computed": 0, "cached": 0}

    # -- reading -------------------------------------------------------------------------------
    @property
    def dims(self) -> dict[str, int]:
        """{'audio': Da, 'emotion': De, 'text': Dt}."""
        return dict(self._index["dims"])

    @property
    def backends(self) -> dict[str, str]:
        return dict(self._index["backends"])

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self._index["settings"])

    @property
    def clip_ids(self) -> list[str]:
        return sorted(self._index["clips"])

    def __contains__(self, clip_id: object) -> bool:
        return clip_id in self._index["clips"]

    def __len__(self) -> int:
        return len(self._index["clips"])

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.root)!r}, clips={len(self)}, dims={self.dims}, backends={self.backends})"

    def path(self, clip_id: str) -> Path:
        return self.root / f"{clip_id}.npz"

    def get(self, clip_id: str) -> ClipFeatures:
        """The cached features of a clip (KeyError naming the folder if it is not there)."""
        if clip_id not in self._index["clips"]:
            raise KeyError(f"{self.index_path}: no features for clip {clip_id!r}")
        p = self.path(clip_id)
        try:
            with np.load(p, allow_pickle=False) as npz:
                words = [str(w) or None for w in npz["words"]]
                return ClipFeatures(audio=npz["audio"], emotion=npz["emotion"], text=npz["text"], words=words,
                                    meta=json.loads(str(npz["meta"])))
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise ValueError(f"{p}: cannot read features of clip {clip_id!r} ({type(err).__name__}: {err}); the file "
                             "is damaged or truncated, re-run `emohead extract` (it makes it again)") from None

    def stored_key(self, clip_id: str) -> str | None:
        """The cache key of a clip's stored features (from the index, else from its npz), or None."""
        p = self.path(clip_id)
        if not p.is_file():
            return None
        try:                                    # read from the file itself: a damaged one is computed again
            with np.load(p, allow_pickle=False) as npz:
                return str(npz["key"])
        except Exception:                       # truncated, not a zip, no key: BadZipFile, EOFError, KeyError, ...
            return None

    # -- writing -------------------------------------------------------------------------------
    def put(self, clip_id: str, feats: ClipFeatures, key: str) -> None:
        save_npz_atomic(self.path(clip_id), audio=feats.audio, emotion=feats.emotion, text=feats.text,
                        words=np.array(["" if w is None else w for w in feats.words], dtype=str),
                        key=np.array(key), meta=np.array(json.dumps(feats.meta)))
        self._index["clips"][clip_id] = {"key": key, "file": self.path(clip_id).name, "n_frames": feats.n_frames}

    def adopt(self, clip_id: str, key: str) -> None:
        """Index an npz already on disk (written by an interrupted run)."""
        with np.load(self.path(clip_id), allow_pickle=False) as npz:
            n = int(npz["audio"].shape[0])
        self._index["clips"][clip_id] = {"key": key, "file": self.path(clip_id).name, "n_frames": n}

    def set_settings(self, cfg: FeatureConfig, settings: dict[str, Any], dims: dict[str, int]) -> None:
        """Record the run's settings; a change of settings drops the index entries of the old ones."""
        if self._index["settings"] and self._index["settings"] != settings:
            log.info("%s: feature settings changed; cached clips will be recomputed", self.root)
            self._index["clips"] = {}
        self._index.update(settings=settings, dims=dims, config=dataclasses.asdict(cfg),
                           backends={"audio": cfg.audio_backend, "emotion": cfg.emotion_backend,
                                     "transcript": cfg.transcript_backend, "text": cfg.text_backend})

    def flush(self) -> None:
        """Write index.json, unless it already says the same: a rerun that only reuses clips leaves the file (and its
        mtime, which ``emohead reproduce`` fingerprints) untouched."""
        try:
            unchanged = json.loads(self.index_path.read_text(encoding="utf-8")) == json.loads(json.dumps(self._index))
        except (OSError, ValueError):
            unchanged = False
        if not unchanged:
            write_json_atomic(self.index_path, self._index)


def _dims_without_models(cfg: FeatureConfig) -> dict[str, int]:
    """Feature widths known from the config alone (used when every clip is cached)."""
    from .prosody import ProsodyExtractor
    from .spectral import SpectralExtractor

    return {"audio": cfg.audio_dim if cfg.audio_backend == "hubert" else SpectralExtractor.dim,
            "emotion": cfg.emotion_dim if cfg.emotion_backend == "emotion2vec" else ProsodyExtractor.dim,
            "text": cfg.text_dim if cfg.text_backend == "llama" else cfg.hashed_dim}


def extract_dataset(ds: Any, cfg: FeatureConfig, out_dir: str | Path, *, device: str = "cpu",
                    progress: bool = True, clips: Iterable[Any] | None = None,
                    extractors: Extractors | None = None) -> FeatureStore:
    """Extract (or reuse cached) features of every clip of a ProcessedDataset (or of ``clips``) into ``out_dir``.

    Models are built only if some clip needs computing (``extractors`` passes pre-built ones).
    ``store.last_run`` counts the clips computed and reused (over all ranks).

    In a process group (``torchrun``) each rank extracts its :func:`~emohead.distributed.shard` of the
    clips on its own device (``cuda`` -> ``cuda:LOCAL_RANK``); rank 0 writes the merged index and every
    rank returns the complete store.
    """
    from tqdm.auto import tqdm

    from .. import distributed as dist

    records = list(ds.records if clips is None else [ds.clip(c) if isinstance(c, str) else c for c in clips])
    world = dist.world_size()
    if world > 1:
        device = str(dist.local_device(device))
        records = dist.shard(records)                   # rank r: clips r, r + world, ... (disjoint)
    store = FeatureStore(out_dir)
    settings = settings_for(cfg)
    store.set_settings(cfg, settings, extractors.dims if extractors is not None else _dims_without_models(cfg))
    computed = cached = 0
    for rec in tqdm(records, desc="features", unit="clip", disable=not progress or not dist.is_main()):
        audio = ds.audio(rec)
        words = ds.words(rec)
        key = clip_key(settings, audio, ds.sample_rate, rec.n_frames, rec.fps, words)
        if store.stored_key(rec.id) == key:
            if rec.id not in store:
                store.adopt(rec.id, key)
            cached += 1
            continue
        if extractors is None:
            extractors = build_extractors(cfg, device)
            store.set_settings(cfg, settings, extractors.dims)
        feats = extract_clip(extractors, audio, ds.sample_rate, rec.n_frames, rec.fps, words, clip_id=rec.id)
        store.put(rec.id, feats, key)
        computed += 1
    if world > 1:
        return _merge_shards(store, [rec.id for rec in records], computed, cached)
    store.last_run = {"computed": computed, "cached": cached}
    store.flush()
    log.info("features: %d clips computed, %d reused from %s", computed, cached, store.root)
    return store


def _merge_shards(store: FeatureStore, mine: list[str], computed: int, cached: int) -> FeatureStore:
    """Gather every rank's index entries; rank 0 writes index.json; all ranks return the merged store."""
    from .. import distributed as dist

    part = {"clips": {c: store._index["clips"][c] for c in mine}, "dims": store.dims,
            "computed": computed, "cached": cached}
    parts = dist.all_gather_object(part)
    for p in parts:
        store._index["clips"].update(p["clips"])
    # a rank that computed something knows the models' widths; one that only reused clips knows the config's
    dims = next((p["dims"] for p in parts if p["computed"]), store.dims)
    store._index["dims"] = dims
    store.last_run = {"computed": sum(p["computed"] for p in parts), "cached": sum(p["cached"] for p in parts)}
    if dist.is_main():
        store.flush()
        log.info("features: %d clips computed, %d reused from %s, over %d ranks", store.last_run["computed"],
                 store.last_run["cached"], store.root, len(parts))
    dist.barrier()                                       # index.json is complete before any rank reads it
    return store
