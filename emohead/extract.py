"""``emohead extract``: per-frame features and face analysis of a whole dataset.

Output folder::

    OUT/features/            FeatureStore: <clip>.npz with v~, e~, g~ + index.json (Sec. III-A)
    OUT/analyser/analyser.safetensors   the face analyser (trained here unless one is given)
    OUT/analyser/metrics.json           its errors on fresh held-out renders
    OUT/analysis/<clip>.npz  per-frame alpha, landmarks, beta, AUs, emotion probabilities read from the
                             video by the analyser (the role 3DDFA / OpenFace play in the paper)
    OUT/analysis/summary.json  analyser against the dataset's ground truth (when it has one)

Every part is cached: features by clip content and backend settings, the analyser by its config,
the per-clip analysis by the analyser checkpoint's hash, so a re-run only does what changed.

Under ``torchrun --nproc_per_node N -m emohead extract ...`` the features and the per-clip analysis are
sharded over the N processes (:mod:`emohead.distributed`); the analyser is trained by rank 0 while the
others wait, and the summary is written by rank 0.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import Profile, resolve_device, to_dict
from .data import ProcessedDataset
from .files import read_json_file, save_npz_atomic, write_json_atomic

log = logging.getLogger(__name__)

ANALYSIS_FIELDS = ("alpha", "landmarks", "beta", "au", "emotion_probs")


@dataclass(frozen=True)
class ExtractionResult:
    features_dir: Path
    analyser_path: Path
    analysis_dir: Path
    analyser_metrics: dict[str, Any]   # held-out renders
    dataset_metrics: dict[str, Any]    # against the dataset's ground truth (test split)


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def ensure_analyser(profile: Profile, out_dir: Path, *, image_size: int, device: str, progress: bool = True,
                    analyser_path: str | Path | None = None):
    """Load ``analyser_path``, or the one cached in ``out_dir`` for the same config, or train one."""
    from .analyser.model import AnalyserError, evaluate_analyser, load_analyser, save_analyser, train_analyser

    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = out_dir / "metrics.json"
    if analyser_path is not None:
        model = load_analyser(analyser_path, device=device)
        if not isinstance(_read_json_or_none(metrics_path), dict):
            write_json_atomic(metrics_path, evaluate_analyser(model, n=profile.analyser.n_val,
                                                              image_size=image_size, seed=profile.seed + 7))
        return model, Path(analyser_path)
    path = out_dir / "analyser.safetensors"
    wanted = {"analyser": to_dict(profile)["analyser"], "image_size": image_size, "seed": profile.seed}
    cfg_path = out_dir / "trained_with.json"
    if (path.exists() and _read_json_or_none(cfg_path) == wanted
            and isinstance(_read_json_or_none(metrics_path), dict)):
        try:
            model = load_analyser(path, device=device)
            log.info("reusing the face analyser at %s", path)
            return model, path
        except AnalyserError as err:             # a damaged cache must not block every rerun: train it again
            log.warning("%s; training the face analyser again", err)
    model, history = train_analyser(profile.analyser, image_size=image_size, seed=profile.seed, device=device,
                                    progress=progress)
    save_analyser(model, path)
    write_json_atomic(metrics_path, {**history["metrics"], "render_seconds": history.get("render_s"),
                                     "train_seconds": history.get("train_s")})
    write_json_atomic(out_dir / "history.json", {k: v for k, v in history.items() if k != "metrics"})
    write_json_atomic(cfg_path, wanted)
    return model, path


def _read_json_or_none(path: Path) -> Any:
    """A small cache stamp's JSON, or None when it is damaged (the cache is then made again)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def analyse_dataset(ds: ProcessedDataset, model, analyser_path: Path, out_dir: Path, *, device: str,
                    progress: bool = True) -> Path:
    """Run the analyser over every clip's frames; cached per clip by the analyser's hash."""
    from tqdm.auto import tqdm

    from . import distributed as dist
    from .analyser.model import analyse_frames

    out_dir.mkdir(parents=True, exist_ok=True)
    key = _file_hash(analyser_path)
    for clip in tqdm(dist.shard(ds.records), desc="analyse frames", unit="clip",
                     disable=not progress or not dist.is_main()):
        path = out_dir / f"{clip.id}.npz"
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as npz:
                    if "analyser" in npz.files and str(npz["analyser"]) == key:
                        continue
            except Exception as err:             # a damaged cache entry (truncated, not npz): made again
                log.warning("%s cannot be read (%s); analysing clip %s again", path, type(err).__name__, clip.id)
        out = analyse_frames(model, ds.frames(clip), device=device)
        save_npz_atomic(path, analyser=np.asarray(key), **{k: getattr(out, k) for k in ANALYSIS_FIELDS})
    dist.barrier()                              # every rank's share is on disk
    return out_dir


def load_analysis(analysis_dir: str | Path, clip_id: str) -> dict[str, np.ndarray]:
    """The analyser's per-frame outputs of a clip (alpha [T,10], landmarks [T,68,2], ...)."""
    import zipfile
    import zlib

    from .data.validate import DatasetError, first_bad_frame

    path = Path(analysis_dir) / f"{clip_id}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no analysis for clip {clip_id!r}; run `emohead extract` first")
    try:
        with np.load(path, allow_pickle=False) as npz:
            out = {k: npz[k] for k in ANALYSIS_FIELDS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DatasetError(f"{path}: cannot read the analysis of clip {clip_id!r} ({type(err).__name__}: {err}); "
                           "the file is corrupt or truncated, delete it and re-run `emohead extract`") from None
    frames = {len(v) for v in out.values()}
    if len(frames) != 1 or out["alpha"].ndim != 2:
        raise DatasetError(f"{path}: the analysis of clip {clip_id!r} has arrays of different lengths "
                           f"{ {k: v.shape for k, v in out.items()} }; delete it and re-run `emohead extract`")
    for k, v in out.items():
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            raise DatasetError(f"{path}: field {k!r} of the analysis of clip {clip_id!r} contains NaN or inf"
                               f"{first_bad_frame(v)}; delete it and re-run `emohead extract`")
    return out


def compare_with_ground_truth(ds: ProcessedDataset, analysis_dir: Path, *, split: str = "test") -> dict[str, Any]:
    """Analyser vs the dataset's ground truth on ``split``: alpha RMSE, landmark px, clip emotion accuracy."""
    from .data.emotions import MEAD_EMOTIONS

    sq_err, n_alpha, lm_err, n_lm, correct, frames_correct, n_frames = 0.0, 0, 0.0, 0, 0, 0, 0
    clips = ds.clips(split=split)
    for clip in clips:
        pred = load_analysis(analysis_dir, clip.id)
        truth = ds.arrays(clip, names=["alpha", "landmarks"])
        sq_err += float(((pred["alpha"] - truth["alpha"]) ** 2).sum())
        n_alpha += truth["alpha"].size
        lm_err += float(np.linalg.norm(pred["landmarks"] - truth["landmarks"], axis=-1).sum())
        n_lm += truth["landmarks"].shape[0] * truth["landmarks"].shape[1]
        if clip.emotion in MEAD_EMOTIONS:
            target = MEAD_EMOTIONS.index(clip.emotion)
            correct += int(pred["emotion_probs"].mean(0).argmax() == target)
            frames_correct += int((pred["emotion_probs"].argmax(1) == target).sum())
            n_frames += len(pred["emotion_probs"])
    return {"split": split, "clips": len(clips),
            "alpha_rmse": float(np.sqrt(sq_err / max(n_alpha, 1))),
            "landmark_px": lm_err / max(n_lm, 1),
            "clip_emotion_accuracy": correct / max(len(clips), 1),
            "frame_emotion_accuracy": frames_correct / max(n_frames, 1)}


def run_extraction(profile: Profile, data_dir: str | Path, out_dir: str | Path, *,
                   analyser_path: str | Path | None = None, device: str | None = None,
                   progress: bool = True) -> ExtractionResult:
    """Features + analyser + per-clip analysis for the dataset at ``data_dir`` (see module docstring).

    One writer per output folder (rank 0 holds ``<out_dir>.lock``): a second extraction into it fails at once,
    naming the first."""
    import contextlib

    from . import distributed as dist
    from .files import FolderLock

    with FolderLock(out_dir) if dist.is_main() else contextlib.nullcontext():
        return _run_extraction(profile, data_dir, out_dir, analyser_path=analyser_path, device=device,
                               progress=progress)


def _run_extraction(profile: Profile, data_dir: str | Path, out_dir: str | Path, *,
                    analyser_path: str | Path | None = None, device: str | None = None,
                    progress: bool = True) -> ExtractionResult:
    """The body of :func:`run_extraction`, run while holding the folder's lock."""
    from . import distributed as dist
    from .features import extract_dataset

    device = str(dist.local_device(device or resolve_device(profile)))
    ds = ProcessedDataset(data_dir)
    for rec in dist.shard(ds.records):           # the stage boundary: every clip's arrays finite, of the manifest's
        ds.arrays(rec)                           # sizes (DatasetError naming the file, clip, field and frame)
    out_dir = Path(out_dir)
    features_dir = out_dir / "features"
    extract_dataset(ds, profile.features, features_dir, device=device, progress=progress)
    target = ds.extra.get("target_speaker")
    sizes = [c.image_size for c in ds.records if target is None or c.speaker == target]
    main = dist.is_main()
    if main:                                     # rank 0 trains (or loads) the analyser; the others wait
        model, path = ensure_analyser(profile, out_dir / "analyser", image_size=max(sizes), device=device,
                                      progress=progress, analyser_path=analyser_path)
    dist.barrier()
    if not main:
        model, path = ensure_analyser(profile, out_dir / "analyser", image_size=max(sizes), device=device,
                                      progress=False, analyser_path=analyser_path)
    analysis_dir = analyse_dataset(ds, model, path, out_dir / "analysis", device=device, progress=progress)
    analyser_metrics = read_json_file(out_dir / "analyser" / "metrics.json", "face analyser's metrics")
    dataset_metrics = compare_with_ground_truth(ds, analysis_dir) if ds.source == "synthetic" else {}
    if main:
        write_json_atomic(analysis_dir / "summary.json", {"held_out_renders": analyser_metrics,
                                                          "dataset_test_split": dataset_metrics})
    dist.barrier()
    return ExtractionResult(features_dir, path, analysis_dir, analyser_metrics, dataset_metrics)


def analysis_source(analysis_dir: str | Path):
    """An ``alpha_source`` for emohead.emotion: alpha read from video by the analyser."""
    def source(ds: ProcessedDataset, clip_id: str) -> np.ndarray:
        return load_analysis(analysis_dir, clip_id)["alpha"]

    return source


__all__ = [
    "ExtractionResult", "ensure_analyser", "analyse_dataset", "load_analysis", "compare_with_ground_truth",
    "run_extraction", "analysis_source"]
