"""prepare_dataset(): raw clips -> a processed dataset (``emohead.data``), resumable clip by clip.

Two passes, so that one crop can serve all clips of a speaker (:mod:`.crop`):

1. **track** (slow, cached per clip): decode the clip's video at 25 fps and its audio at 16 kHz, cut both to a
   common length (:func:`.media.match_lengths`), run the face tracker on the full frames, and compute the words
   (:mod:`.words`). The result goes to ``<work>/track/<clip>.npz`` and ``<work>/words/<clip>.json``, each written
   atomically, with a key of what it depends on (input files' size and time, clip times, the tracker's kind): a
   killed run resumes at the first clip without a valid cache. A clip that fails (unreadable video, no face in
   too many frames, ...) is recorded in ``<work>/failed/<clip>.json``, named in a warning, and skipped, now and in
   later runs, until its inputs change (or ``resume=False``).
2. **write** (fast): per speaker, the crop (median landmark box of all its frames) and beta_id (median of the
   per-frame 3DDFA shape); the train/test split (:mod:`.split`); per clip, decode again, crop, map the mesh and
   landmarks into the crop, parsing masks (:mod:`.parsing`), camera and head pose (:mod:`.camera`); everything
   goes through :class:`emohead.data.DatasetWriter`, which publishes the dataset atomically at the end.

``<work>`` defaults to ``<out>.work`` beside the output and is kept afterwards (re-running with another ``size``
or split then skips the tracking); delete it when done.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..data.validate import DatasetError
from ..files import FolderLock, save_npz_atomic, write_json_atomic
from .sources import ClipSource, emotion_list

log = logging.getLogger(__name__)

CACHE_VERSION = 2
"""Bump when what pass 1 stores changes: caches of another version are recomputed."""
FPS = 25
SAMPLE_RATE = 16000
_TRACK_FIELDS = ("boxes", "found", "mesh", "landmarks", "mar", "pose_R", "pose_t", "scale", "alpha", "beta")


class PrepareError(ValueError):
    """Inputs prepare cannot use (names them), or no clip could be prepared."""


@dataclass
class PrepareResult:
    """What a run produced: the dataset folder, the clips written, the clips skipped and why, timings (s)."""

    out: Path
    work: Path
    clips: list[str]
    failed: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)
    tracked: list[str] = field(default_factory=list)     # clips tracked in this run (the rest came from the cache)

    def summary(self) -> str:
        s = f"wrote {len(self.clips)} clips to {self.out}"
        if self.failed:
            s += f"; skipped {len(self.failed)}: " + "; ".join(f"{k} ({v})" for k, v in sorted(self.failed.items()))
        return s


# ----------------------------------------------------------------------------------------------------------
# the work folder
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkFolder:
    root: Path

    def track(self, cid: str) -> Path:
        return self.root / "track" / f"{cid}.npz"

    def words(self, cid: str) -> Path:
        return self.root / "words" / f"{cid}.json"

    def failed(self, cid: str) -> Path:
        return self.root / "failed" / f"{cid}.json"


def _key_json(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def _tracker_name(tracker: Any) -> str:
    """The tracker's part of a cache key: its ``cache_id`` attribute, else its class name (FaceTracker by default).
    Its settings are not part of it: after changing them, run with ``resume=False``."""
    if tracker is None:
        return "FaceTracker"
    return str(getattr(tracker, "cache_id", type(tracker).__name__))


def _clip_key(src: ClipSource, tracker_name: str) -> str:
    return _key_json({"version": CACHE_VERSION, "fps": FPS, "sample_rate": SAMPLE_RATE, "inputs": src.cache_key(),
                      "tracker": tracker_name})


def _read_key(path: Path) -> str | None:
    try:
        with np.load(path) as npz:
            return str(npz["key"]) if "key" in npz.files else None
    except Exception:                                    # noqa: BLE001 -- an unreadable cache is no cache
        return None


def _cached(path: Path, key: str) -> bool:
    return path.is_file() and _read_key(path) == key


# ----------------------------------------------------------------------------------------------------------
# pass 1: decode + track + words, per clip
# ----------------------------------------------------------------------------------------------------------
def load_clip_media(src: ClipSource) -> tuple[np.ndarray, np.ndarray]:
    """(frames uint8 [T, H, W, 3], audio float32 [T * 640]) of a clip at 25 fps / 16 kHz, lengths matched."""
    from .media import decode_audio, decode_video, match_lengths

    frames = decode_video(src.video, fps=FPS, start=src.start, end=src.end)
    audio = decode_audio(src.audio or src.video, sample_rate=SAMPLE_RATE, start=src.start, end=src.end)
    n, audio = match_lengths(len(frames), audio, fps=FPS, sample_rate=SAMPLE_RATE, where=f"clip {src.id!r}")
    return frames[:n], audio


def _check_track(track: Any, n: int, hw: tuple[int, int], cid: str) -> None:
    shapes = {"boxes": (n, 4), "found": (n,), "mesh": (n, 468, 3), "landmarks": (n, 68, 2), "mar": (n,),
              "pose_R": (n, 3, 3), "pose_t": (n, 3), "scale": (n,), "alpha": (n, 10), "person": (n,) + hw}
    for name, shape in shapes.items():
        arr = np.asarray(getattr(track, name))
        if arr.shape != shape:
            raise PrepareError(f"clip {cid!r}: the tracker's {name} has shape {arr.shape}, expected {shape}")
    beta = np.asarray(track.beta)
    if beta.ndim != 2 or len(beta) != n:
        raise PrepareError(f"clip {cid!r}: the tracker's beta has shape {beta.shape}, expected ({n}, S)")
    for name in _TRACK_FIELDS:
        arr = np.asarray(getattr(track, name))
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise PrepareError(f"clip {cid!r}: the tracker's {name} contains NaN or inf")


class _FailedInWorker(Exception):
    """A clip's tracking failed in a worker process; the message is the reason as the clip's record gives it."""


def _failure_reason(err: BaseException) -> str:
    """How a clip's failure is reported and recorded (a ValueError's message names the problem already)."""
    return str(err) if isinstance(err, (ValueError, _FailedInWorker)) else f"{type(err).__name__}: {err}"


_WORKER_TRACKERS: dict[str, Any] = {}
"""The FaceTracker of this worker process, per model folder (its models load once, for every clip it tracks)."""


def _track_in_worker(src: ClipSource, path: Path, key: str, model_dir: str | None) -> dict[str, float] | str:
    """A worker's job (``prepare_dataset(workers=...)``): :func:`track_clip` with this process's FaceTracker ->
    its timings, or the failure's reason (a string: exceptions with their own arguments do not cross processes)."""
    from ..tracking.tracker import FaceTracker

    try:
        if str(model_dir) not in _WORKER_TRACKERS:
            _WORKER_TRACKERS[str(model_dir)] = FaceTracker(model_dir, progress=False)
        return track_clip(src, _WORKER_TRACKERS[str(model_dir)], path, key)
    except Exception as err:                             # noqa: BLE001 -- recorded per clip by the caller
        return _failure_reason(err)


def track_clip(src: ClipSource, tracker: Any, path: Path, key: str) -> dict[str, float]:
    """Pass 1 for one clip: decode, track, store ``path`` (npz). Returns timings in seconds."""
    from .parsing import PERSON_THRESHOLD

    t0 = time.perf_counter()
    frames, audio = load_clip_media(src)
    t1 = time.perf_counter()
    track = tracker.track(frames, name=src.id)
    t2 = time.perf_counter()
    hw = tuple(frames.shape[1:3])
    _check_track(track, len(frames), hw, src.id)
    person = np.packbits(np.asarray(track.person) > PERSON_THRESHOLD, axis=-1)    # [T, H, ceil(W / 8)] bits
    save_npz_atomic(path, key=np.asarray(key), n_frames=np.asarray(len(frames)), frame_hw=np.asarray(hw),
                    audio=np.asarray(audio, np.float32), person_bits=person,
                    **{k: np.asarray(getattr(track, k)) for k in _TRACK_FIELDS})
    seconds = {"decode": t1 - t0, "track": t2 - t1, "save": time.perf_counter() - t2}
    return seconds


def _words_key(src: ClipSource, asr_path: str | None) -> str:
    return _key_json({"asr": asr_path, "text": src.text, "words": list(src.words) if src.words is not None else None})


def clip_words_cached(src: ClipSource, work: WorkFolder, clip_key: str, asr: Any, asr_path: str | None
                      ) -> tuple[dict[str, Any], str]:
    """words.json content and method of a clip, from ``<work>/words`` or computed from the cached audio."""
    from .words import clip_words

    path = work.words(src.id)
    wkey = _words_key(src, asr_path)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("clip_key") == clip_key and data.get("words_key") == wkey:
                return data["words"], data["method"]
        except (json.JSONDecodeError, KeyError, TypeError):
            pass
    with np.load(work.track(src.id)) as npz:
        audio = npz["audio"]
    words, method = clip_words(audio, text=src.text, words=src.words, asr=asr() if asr is not None else None,
                               sample_rate=SAMPLE_RATE, where=f"clip {src.id!r}")
    write_json_atomic(path, {"clip_key": clip_key, "words_key": wkey, "method": method, "words": words})
    return words, method


# ----------------------------------------------------------------------------------------------------------
# pass 2: per clip arrays in the crop
# ----------------------------------------------------------------------------------------------------------
def clip_arrays(src: ClipSource, cache: Path, crop: Any, size: int, *, pose_smoothing: float = 1.0
                ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]:
    """(frames [T, size, size, 3], arrays, stats) of one tracked clip in the speaker's crop."""
    from ..face.mar import mouth_aspect_ratio
    from ..face.morphable import PARSING_LABELS
    from .camera import head_pose, prepare_camera
    from .media import decode_video
    from .parsing import clip_parsing

    with np.load(cache) as npz:
        c = {k: npz[k] for k in npz.files if k not in ("audio", "key")}
    n = int(c["n_frames"])
    frames = decode_video(src.video, fps=FPS, start=src.start, end=src.end)
    if len(frames) < n or tuple(frames.shape[1:3]) != tuple(c["frame_hw"]):
        raise PrepareError(f"clip {src.id!r}: {src.describe()} now decodes to {len(frames)} frames of "
                           f"{frames.shape[2]}x{frames.shape[1]}, the cache has {n} of {tuple(c['frame_hw'])[::-1]}")
    frames = crop.frames(frames[:n])
    width = int(c["frame_hw"][1])
    person = np.stack([crop.image(np.unpackbits(b, axis=-1, count=width).astype(np.float32))
                       for b in c["person_bits"]])                  # the 0/1 mask resized; parsing thresholds it
    mesh = crop.points(c["mesh"])
    landmarks = crop.points(c["landmarks"])
    parsing = clip_parsing(mesh, landmarks, person)
    R, t, err = head_pose(c["pose_R"], landmarks, size, smooth=pose_smoothing)
    K, w2c = prepare_camera(size)
    arrays = {"alpha": c["alpha"].astype(np.float32), "pose_R": R, "pose_t": t, "landmarks": landmarks,
              "mar": np.asarray(mouth_aspect_ratio(landmarks), np.float32), "parsing": parsing,
              "intrinsics": K, "world_to_camera": w2c, "found": c["found"].astype(np.uint8)}
    head = ~np.isin(parsing, [PARSING_LABELS["background"], PARSING_LABELS["torso"]])
    stats = {"reprojection_px": float(err.mean()), "found_fraction": float(c["found"].mean()),
             "head_fraction": float(head.mean()), "background_fraction": float((parsing == 0).mean())}
    return frames, arrays, stats


# ----------------------------------------------------------------------------------------------------------
# the whole run
# ----------------------------------------------------------------------------------------------------------
def _check_inputs(sources: Sequence[ClipSource], out: Path, size: int, overwrite: bool) -> None:
    if not sources:
        raise PrepareError("no clips to prepare")
    ids = [s.id for s in sources]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise PrepareError(f"duplicate clip ids {dup[:10]}: every clip needs its own id")
    if not isinstance(size, int) or size < 32 or size % 2:
        raise PrepareError(f"--size {size}: must be an even number of pixels >= 32")
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: the output path is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"{out}: output folder exists and is not empty (pass overwrite=True / --force to "
                           "replace it)")


def prepare_dataset(sources: Sequence[ClipSource], out: str | Path, *, size: int = 512, tracker: Any = None,
                    asr_path: str | None = None, transcripts: Mapping[str, Any] | None = None,
                    source_name: str = "video", resume: bool = True, overwrite: bool = False,
                    work_dir: str | Path | None = None, test_every: int = 6, zoom: float = 1.0,
                    pose_smoothing: float = 1.0, target_speaker: str | None = None,
                    progress: bool = True, workers: int = 1, model_dir: str | Path | None = None) -> PrepareResult:
    """Prepare ``sources`` into a processed dataset at ``out`` (module docstring). Returns a :class:`PrepareResult`.

    tracker: an object with ``track(frames, name=...) -> FaceTrack`` (default: ``emohead.tracking.FaceTracker()``,
    built only when some clip is not cached yet); asr_path: a FunASR model folder (word timings by ASR);
    transcripts: {clip id: text or [{word, start, end}]} overriding the sources' own; resume=False: forget the
    work folder; overwrite: replace an existing dataset at ``out``; test_every: the split rule (:mod:`.split`);
    zoom: > 1 frames the face larger (:func:`.crop.speaker_crop`); pose_smoothing: Gaussian sigma in frames;
    workers > 1: clips are tracked that many at once, each worker process with its own FaceTracker of ``model_dir``
    (:mod:`emohead.workers`; only with the default tracker, None or one whose ``cache_id`` is "FaceTracker").
    """
    from tqdm.auto import tqdm

    from ..data.writer import DatasetWriter
    from .crop import landmark_boxes, speaker_crop
    from .split import assign_splits

    out = Path(out)
    sources = list(sources)
    _check_inputs(sources, out, size, overwrite)
    if target_speaker is not None and target_speaker not in {s.speaker for s in sources}:
        raise PrepareError(f"target speaker {target_speaker!r} has no clip (speakers: "
                           f"{sorted({s.speaker for s in sources})})")
    if transcripts:
        sources = [_with_transcript(s, transcripts[s.id]) if s.id in transcripts else s for s in sources]
    emotions = emotion_list([s.emotion for s in sources])
    work = WorkFolder(Path(work_dir) if work_dir is not None else out.with_name(out.name + ".work"))
    if not resume and work.root.exists():
        shutil.rmtree(work.root)
    work.root.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {"decode": 0.0, "track": 0.0, "save": 0.0, "words": 0.0, "write": 0.0}
    failed: dict[str, str] = {}
    tracked: list[str] = []

    with FolderLock(work.root):
        # ---- pass 1: track what is not cached ----------------------------------------------------------
        keys = {s.id: _clip_key(s, _tracker_name(tracker)) for s in sources}
        todo = []
        for s in sources:
            if _cached(work.track(s.id), keys[s.id]):
                continue
            f = work.failed(s.id)
            if f.is_file():
                try:
                    rec = json.loads(f.read_text(encoding="utf-8"))
                except json.JSONDecodeError:
                    rec = {}
                if rec.get("key") == keys[s.id]:
                    failed[s.id] = rec.get("error", "failed before")
                    log.warning("clip %r skipped: it failed before (%s); delete %s to retry", s.id, failed[s.id], f)
                    continue
            todo.append(s)
        if todo and tracker is None:                     # the models load only when something needs tracking
            from ..tracking.tracker import FaceTracker

            tracker = FaceTracker(progress=progress)
        asr_model: list[Any] = []

        def asr() -> Any:
            if not asr_model:
                from ..features.transcript import FunasrTranscriber

                asr_model.append(FunasrTranscriber(str(asr_path)))
            return asr_model[0]

        todo_ids = {s.id for s in todo}
        from_workers: dict[str, dict[str, float] | str] = {}
        if workers > 1 and len(todo) > 1 and _tracker_name(tracker) == "FaceTracker":
            from ..workers import Job, run_jobs

            model = None if model_dir is None else str(model_dir)
            from_workers = run_jobs([Job(s.id, _track_in_worker, (s, work.track(s.id), keys[s.id], model))
                                     for s in todo], workers, progress=progress,
                                    desc=f"prepare: track ({min(workers, len(todo))} processes)")
        bar = tqdm(sources, desc="prepare: track", unit="clip", disable=not progress)
        for s in bar:
            bar.set_postfix_str(s.id)
            if s.id in failed:
                continue
            try:
                if s.id in todo_ids:
                    t = from_workers.get(s.id) or track_clip(s, tracker, work.track(s.id), keys[s.id])
                    if isinstance(t, str):
                        raise _FailedInWorker(t)
                    tracked.append(s.id)
                    for k, v in t.items():
                        seconds[k] += v
                    work.failed(s.id).unlink(missing_ok=True)
                t0 = time.perf_counter()
                clip_words_cached(s, work, keys[s.id], asr if asr_path else None, asr_path)
                seconds["words"] += time.perf_counter() - t0
            except (KeyboardInterrupt, SystemExit, MemoryError):
                raise
            except Exception as err:                     # noqa: BLE001 -- one bad clip never stops the run
                reason = _failure_reason(err)
                failed[s.id] = reason
                log.warning("clip %r (%s) skipped: %s", s.id, s.describe(), reason)
                log.debug("clip %r failed", s.id, exc_info=True)
                try:
                    write_json_atomic(work.failed(s.id), {"key": keys[s.id], "error": reason})
                except OSError:
                    pass
        bar.close()
        good = [s for s in sources if s.id not in failed and _cached(work.track(s.id), keys[s.id])]
        if not good:
            raise PrepareError(f"no clip could be prepared ({len(failed)} failed): "
                               + "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:5]))

        # ---- pass 2: crops, identities, split, then write ----------------------------------------------
        t_write = time.perf_counter()
        light: dict[str, dict[str, np.ndarray]] = {}
        for s in good:
            with np.load(work.track(s.id)) as npz:
                light[s.id] = {k: npz[k] for k in ("landmarks", "found", "beta", "frame_hw", "n_frames")}
        crops, crop_info = {}, {}
        betas: dict[str, list[np.ndarray]] = {}
        for spk in dict.fromkeys(s.speaker for s in good):
            mine = [s for s in good if s.speaker == spk]
            sizes = sorted({tuple(int(v) for v in light[s.id]["frame_hw"]) for s in mine})
            if len(sizes) > 1:
                log.warning("speaker %r: clips come in %d frame sizes %s: one crop per size, and the background "
                            "differs between them", spk, len(sizes), sizes)
            for hw in sizes:
                group = [s for s in mine if tuple(int(v) for v in light[s.id]["frame_hw"]) == hw]
                boxes = np.concatenate([landmark_boxes(light[s.id]["landmarks"][_seen(light[s.id]["found"])])
                                        for s in group])
                crop = speaker_crop(boxes, hw, size, zoom=zoom, where=f"speaker {spk!r}")
                for s in group:
                    crops[s.id] = crop
                crop_info[f"{spk}@{hw[1]}x{hw[0]}"] = crop.to_json()
            betas[spk] = [light[s.id]["beta"][_seen(light[s.id]["found"])] for s in mine]
        splits = assign_splits([(s.id, s.sentence) for s in good], test_every)
        emotions = emotion_list([s.emotion for s in good])      # only emotions with a prepared clip
        untrained = sorted({s.emotion for s in good} - {s.emotion for s in good if splits[s.id] == "train"})
        if untrained:
            log.warning("emotion(s) %s have no training clip (all their sentences fell into the test split): their "
                        "hyperplanes cannot be fitted; add clips or choose another --test-every", untrained)
        frames_per_speaker = {spk: sum(int(light[s.id]["n_frames"]) for s in good if s.speaker == spk)
                              for spk in betas}
        target = target_speaker or max(frames_per_speaker, key=frames_per_speaker.get)
        stats: dict[str, dict[str, float]] = {}
        methods: dict[str, int] = {}
        extra = {"target_speaker": target}
        with DatasetWriter(out, source=source_name, emotions=emotions, fps=FPS, sample_rate=SAMPLE_RATE,
                           expression_dims=10, overwrite=overwrite, extra=extra) as writer:
            for spk, parts in betas.items():
                writer.add_speaker(spk, np.median(np.concatenate(parts), axis=0).astype(np.float32))
            bar = tqdm(good, desc="prepare: write", unit="clip", disable=not progress)
            for s in bar:
                bar.set_postfix_str(s.id)
                try:
                    frames, arrays, st = clip_arrays(s, work.track(s.id), crops[s.id], size,
                                                     pose_smoothing=pose_smoothing)
                    words, method = clip_words_cached(s, work, keys[s.id], asr if asr_path else None, asr_path)
                    with np.load(work.track(s.id)) as npz:
                        audio = npz["audio"]
                    writer.add_clip(id=s.id, speaker=s.speaker, emotion=s.emotion, level=s.level, split=splits[s.id],
                                    sentence=s.sentence, audio=audio, frames=frames, arrays=arrays, words=words)
                except (KeyboardInterrupt, SystemExit, MemoryError):
                    raise
                except Exception as err:                 # noqa: BLE001
                    failed[s.id] = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
                    log.warning("clip %r (%s) skipped while writing: %s", s.id, s.describe(), failed[s.id])
                    continue
                stats[s.id] = st
                methods[method] = methods.get(method, 0) + 1
            bar.close()
            written = [s.id for s in good if s.id in stats]
            test_sentences = sorted({s.sentence for s in good if splits[s.id] == "test" and s.id in stats})
            writer.extra["prepare"] = {
                "source": source_name, "image_size": size, "fps": FPS, "crops": crop_info, "zoom": zoom,
                "camera": "emohead.face.camera.default_camera(image_size) (the synthetic world's)",
                "pose": "R: 3DDFA_V2 (tracker), t: least squares on iBUG 17-47 of the procedural face",
                "pose_smoothing_frames": pose_smoothing,
                "split": {"rule": f"every {test_every}-th sentence (natural order) to test", "test_every": test_every,
                          "test_sentences": test_sentences},
                "words": methods, "failed": dict(failed),
                "clips": {cid: {**stats[cid], "video": str(src.video), "audio": str(src.audio or src.video),
                                "start": src.start, "end": src.end}
                          for src in good for cid in [src.id] if cid in stats},
            }
        seconds["write"] = time.perf_counter() - t_write
    log.info("prepare: %d clips written to %s, %d skipped; work folder %s", len(written), out, len(failed), work.root)
    return PrepareResult(out=out, work=work.root, clips=written, failed=failed, seconds=seconds, tracked=tracked)


def _seen(found: np.ndarray) -> Any:
    """Index of the frames where a face was found (all frames if none was, which the tracker never returns)."""
    found = np.asarray(found, bool)
    return found if found.any() else slice(None)


def _with_transcript(src: ClipSource, value: Any) -> ClipSource:
    if isinstance(value, str):
        return replace(src, text=value, words=None)
    from ..features.alignment import normalize_words

    words = normalize_words(value, where=f"transcript of clip {src.id!r}")
    return replace(src, text=" ".join(w["word"] for w in words), words=tuple(words))
