"""The systems of Sec. IV on the same test clips: generate their videos, measure every metric, make the tables.

Systems (Table I and the ablations of Table IV):

* ``Ground truth``: the real frames (PSNR / SSIM / LMD / FD / AUE against themselves are the floor: inf, 1, the
  analyser's landmark error, ~0, 0; Sync and ER are the real video's);
* ``EmoHead (full)``: audio -> audio-expression module (FusedAttn, eq. 2-8) -> alpha^ = alpha~ + tau w_z (eq. 9) ->
  head NeRF -> composited over the clip's own torso and background, under the clip's own head poses;
* ``literal eq. 2-7 (as printed)``: the ``literal`` variant, the paper's FusedAttn without what the default adds
  (residuals, F as a mean, offset bias; :mod:`emohead.audio2exp.model`), on the full system's NeRF (ours);
* ``w/o audio-expression alignment``: the ``no_alignment`` variant ([v; e; g] through a plain self-attention layer);
* ``w/o hyperplane refinement``: the ``no_refinement`` variant; its NeRF is trained on [z; alpha] codes;
* ``w/o emotion control (neutral tag)``: the full model asked for "neutral" on every clip (ours, a baseline);
* sweeps ``d=...`` and ``n=...`` (Table IV) where the profile lists them (``eval.sweep_d``, ``eval.sweep_n``).

Every system is driven by the test clip's own audio and asked for the clip's own emotion (except the neutral
baseline); ER is always scored against the clip's emotion. The stand-in evaluators of the synthetic world are the
face analyser (landmarks, AUs, emotion, the FD embedding) and a SyncNet trained on the training split, unless
syncnet_python or Inception weights are given (``eval.syncnet_path``, ``eval.inception_path``). On a dataset of
recorded people (:func:`.faces.real_faces`) the real trackers read the frames instead (:mod:`.faces`): landmarks
and 3DDFA_V2 alpha; AUE, ER and, without Inception weights, FD are left out with their reason.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..config import Profile, apply_overrides, to_dict
from ..files import write_json_atomic, write_text_atomic
from .faces import EXPRESSION_RMSE, TrackerFaces, expression_rmse, is_available, real_faces, unavailable
from .frechet import image_frechet_distance
from .metrics import au_error, emotion_recognition, face_lmd, mouth_lmd, psnr, ssim
from .result import EvalError, MetricResult

log = logging.getLogger(__name__)

REAL_LABEL = "ours (real data)"
"""Source label of our rows measured on recorded people by the real trackers."""
REAL_EVALUATORS_NOTE = ("landmarks (M/F-LMD, the SyncNet crop) from MediaPipe's face mesh, the tracker that made the "
                        "dataset's landmarks; Sync from our SyncNet trained on the dataset; AUE and ER have no real "
                        "evaluator here and are left out, as is FD without Inception weights")
"""What measured our rows on real data (the tables' first note)."""

GROUND_TRUTH = "Ground truth"
FULL = "EmoHead (full)"
LITERAL = "literal eq. 2-7 (as printed)"
NO_ALIGNMENT = "w/o audio-expression alignment"
NO_REFINEMENT = "w/o hyperplane refinement"
NEUTRAL = "w/o emotion control (neutral tag)"


@dataclass(frozen=True)
class SystemSpec:
    """How a system makes a video: which audio-expression model (by folder name and config overrides), which NeRF
    code ('alpha' or 'tag_alpha'), and which tag it is asked for ('own' = the clip's emotion, or an emotion)."""

    a2e: str = "full"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    code: str = "alpha"
    tag: str = "own"


def system_specs(profile: Profile) -> dict[str, SystemSpec | None]:
    """The systems a profile evaluates, in table order (None: ground truth)."""
    specs: dict[str, SystemSpec | None] = {
        GROUND_TRUTH: None,
        FULL: SystemSpec(),
        LITERAL: SystemSpec("literal", {"audio2exp.variant": "literal"}),
        NO_ALIGNMENT: SystemSpec("no_alignment", {"audio2exp.variant": "no_alignment"}),
        NO_REFINEMENT: SystemSpec("no_refinement", {"audio2exp.variant": "no_refinement"}, code="tag_alpha"),
        NEUTRAL: SystemSpec(tag="neutral"),
    }
    for d in profile.eval.sweep_d:
        specs[f"d={d}"] = SystemSpec(f"d{d}", {"audio2exp.d": d, "audio2exp.dh": d})
    for n in profile.eval.sweep_n:
        specs[f"n={n}"] = SystemSpec(f"n{n}", {"audio2exp.n_neighbors": n})
    return specs


@dataclass
class TestClip:
    """One evaluated clip at the NeRF's resolution: real frames uint8 [T, S, S, 3], audio [S_a], landmarks [T, 68, 2]
    (dataset ground truth, in pixels of the resized frames), emotion, its record, and the dataset's expression
    alpha [T, D] (3DDFA_V2's on real data; None when not loaded)."""

    record: Any
    frames: np.ndarray
    audio: np.ndarray
    landmarks: np.ndarray
    emotion: str
    alpha: np.ndarray | None = None


def load_test_clips(ds: Any, speaker: str, size: int, *, max_clips: int = 0, max_frames: int = 0) -> list[TestClip]:
    """The ``speaker``'s test clips (at most ``max_clips``, each cut to ``max_frames``), resized to ``size`` px."""
    from ..render.frames import resize_frames

    recs = ds.clips(split="test", speaker=speaker)
    if not recs:
        raise EvalError(f"{ds.root}: speaker {speaker!r} has no test clips to evaluate")
    if max_clips:
        # spread over emotions: the clips are sorted by id, which groups them by emotion
        recs = [recs[i] for i in np.unique(np.linspace(0, len(recs) - 1, max_clips).round().astype(int))]
    out = []
    for rec in recs:
        arrays = ds.arrays(rec, ["landmarks", "parsing", "alpha"])
        n = rec.n_frames if not max_frames else min(max_frames, rec.n_frames)
        frames, _ = resize_frames(ds.frames(rec)[:n], arrays["parsing"][:n], size)
        scale = size / rec.image_size
        lm = (arrays["landmarks"][:n] + 0.5) * scale - 0.5                       # pixel centres at integers
        audio = ds.audio(rec)[: int(round(n * ds.sample_rate / ds.fps))]
        out.append(TestClip(rec, frames, audio, lm.astype(np.float32), rec.emotion,
                            np.asarray(arrays["alpha"][:n], np.float32)))
    return out


def ensure_syncnet(ds: Any, cfg: Any, run_dir: Path, *, device: str, progress: bool = True,
                   frame_size: int | None = None):
    """syncnet_python weights from ``eval.syncnet_path``, or a SyncNet trained on the training split (cached).

    frame_size: the side of the videos it will judge (``nerf.image_size``); the training frames are resized to it.
    """
    from .syncnet import load_syncnet, save_syncnet
    from .syncnet_training import SyncTrainConfig, prepare_dataset_clips, train_syncnet

    if cfg.syncnet_path:
        if not Path(cfg.syncnet_path).is_file():
            raise EvalError(f"eval.syncnet_path={cfg.syncnet_path!r}: no such file")
        return load_syncnet(cfg.syncnet_path, device)
    path, stamp, wanted = _syncnet_files(ds, cfg, run_dir, frame_size)
    train_cfg = SyncTrainConfig(steps=cfg.syncnet_steps)
    if _syncnet_ready(ds, cfg, run_dir, frame_size):
        return load_syncnet(path, device)
    clips = prepare_dataset_clips(ds, split="train", image_size=train_cfg.image_size, region=train_cfg.region,
                                  frame_size=frame_size, progress=progress)
    model, _ = train_syncnet(clips, train_cfg, device=device, progress=progress)
    save_syncnet(model, path)
    write_json_atomic(stamp, wanted)
    return model


def _syncnet_files(ds: Any, cfg: Any, run_dir: Path, frame_size: int | None) -> tuple[Path, Path, dict[str, Any]]:
    """The trained SyncNet's weights, its stamp, and the stamp a SyncNet for these settings and data carries."""
    from .syncnet_training import SyncTrainConfig

    folder = Path(run_dir) / "syncnet"
    wanted = {"config": dataclasses.asdict(SyncTrainConfig(steps=cfg.syncnet_steps)), "frame_size": frame_size,
              "manifest_sha256": hashlib.sha256(Path(ds.manifest_path).read_bytes()).hexdigest()}
    return folder / "syncnet.safetensors", folder / "trained_with.json", wanted


def _syncnet_ready(ds: Any, cfg: Any, run_dir: Path, frame_size: int | None) -> bool:
    """:func:`ensure_syncnet` would load weights (given or trained earlier) rather than train."""
    path, stamp, wanted = _syncnet_files(ds, cfg, run_dir, frame_size)
    return bool(cfg.syncnet_path) or (path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == wanted)


def _syncnet_job(ds: Any, cfg: Any, run_dir: Path, device: str, frame_size: int | None) -> None:
    """A worker's job: train the run's SyncNet (:func:`ensure_syncnet`), no progress bar."""
    ensure_syncnet(ds, cfg, run_dir, device=device, progress=False, frame_size=frame_size)


def _nerf_job(profile: Profile, run_dir: Path, ds: Any, folder: Path, speaker: str, code: str, device: str) -> None:
    """A worker's job: train one NeRF of the run (with the run's face analyser, read from disk), no progress bar."""
    from ..extract import ensure_analyser
    from ..render import train_nerf

    analyser, _ = ensure_analyser(profile, run_dir / "analyser", image_size=profile.synth.image_size, device=device,
                                  progress=False)
    train_nerf(ds, profile.nerf, folder, speaker=speaker, code=code, analyser=analyser, seed=profile.seed,
               device=device, progress=False)


def train_side_by_side(profile: Profile, run_dir: Path, ds: Any, store: Any, planes: Any, analyser: Any,
                       specs: Mapping[str, SystemSpec | None], speaker: str, *, device: str,
                       frame_size: int, progress: bool = True, nerfs: bool = True) -> list[str]:
    """The models ``specs`` need and ``run_dir`` lacks (audio-expression variants, NeRFs, the SyncNet), trained at
    once in ``profile.workers`` processes (:mod:`emohead.workers`); evaluate_run then reads them back. Returns the
    names of the jobs run (none when profile.workers is 1 or at most one model is missing: trained in order later).
    analyser: the run's (a worker training a NeRF reads it from run_dir/analyser); nerfs=False leaves the NeRFs to
    the caller (an analyser other than the run's).
    """
    from ..audio2exp import training_job
    from ..render import is_trained as nerf_is_trained
    from ..workers import Job, run_jobs

    jobs, seen = [], set()
    for spec in specs.values():
        if spec is None:
            continue
        if spec.a2e not in seen:
            seen.add(spec.a2e)
            cfg = apply_overrides(profile, dict(spec.overrides)).audio2exp
            job = training_job(ds, store, planes, cfg, run_dir / "audio2exp" / spec.a2e, seed=profile.seed,
                               device=device)
            jobs += [job] if job is not None else []
        folder = run_dir / "nerf" / ("full" if spec.code == "alpha" else spec.code)
        if nerfs and ("nerf", spec.code) not in seen:
            seen.add(("nerf", spec.code))
            if not nerf_is_trained(ds, profile.nerf, folder, speaker=speaker, code=spec.code, analyser=analyser,
                                   seed=profile.seed):
                jobs.append(Job(f"nerf/{folder.name}", _nerf_job,
                                (profile, run_dir, ds, folder, speaker, spec.code, device)))
    if not _syncnet_ready(ds, profile.eval, run_dir, frame_size):
        jobs.append(Job("syncnet", _syncnet_job, (ds, profile.eval, run_dir, device, frame_size)))
    if profile.workers <= 1 or len(jobs) <= 1:
        return []
    run_jobs(jobs, profile.workers, desc=f"evaluation models: {len(jobs)} in {min(profile.workers, len(jobs))} "
             "processes", progress=progress)
    return [j.name for j in jobs]


@dataclass
class Evaluator:
    """The evaluators and the real clips they compare against: the synthetic world's stand-ins (the face analyser),
    or, with ``faces`` (a :class:`.faces.TrackerFaces`), the real trackers for recorded people (:mod:`.faces`)."""

    analyser: Any
    syncnet: Any
    clips: list[TestClip]
    fps: int
    sample_rate: int
    device: str
    inception_path: str = ""
    trust_torchscript: bool = False
    real_aus: list[np.ndarray] = field(default_factory=list)
    faces: Any = None

    @property
    def kind(self) -> str:
        """"real" (the trackers read the frames) or "synthetic" (the face analyser does)."""
        return "real" if self.faces is not None else "synthetic"

    def __post_init__(self) -> None:
        from ..analyser.model import analyse_frames

        if self.faces is not None:
            return
        self.real_aus = [analyse_frames(self.analyser, c.frames, device=self.device).au for c in self.clips]

    def measure(self, generated: Sequence[np.ndarray], *, real_landmarks: bool = False) -> dict[str, MetricResult]:
        """All metrics of one system's videos (one uint8 [T, S, S, 3] per test clip, same order as ``clips``).

        ``real_landmarks``: place the SyncNet crop with the dataset's landmarks (ground truth) instead of the
        analyser's or tracker's (generated video). With ``faces``: see :meth:`measure_real`.
        """
        from ..analyser.model import analyse_frames
        from .syncnet import sync_confidence, sync_score

        if len(generated) != len(self.clips):
            raise EvalError(f"{len(generated)} videos for {len(self.clips)} test clips")
        real = np.concatenate([c.frames for c in self.clips])
        fake = np.concatenate(generated)
        if fake.shape != real.shape:
            raise EvalError(f"generated frames {fake.shape} do not match the real frames {real.shape}")
        if self.faces is not None:
            return self.measure_real(generated, real_landmarks=real_landmarks)
        analysis = [analyse_frames(self.analyser, g, device=self.device) for g in generated]
        lm = np.concatenate([a.landmarks for a in analysis])
        real_lm = np.concatenate([c.landmarks for c in self.clips])
        syncs = [sync_confidence(self.syncnet, g, c.audio, c.landmarks if real_landmarks else a.landmarks,
                                 fps=self.fps, sample_rate=self.sample_rate, device=self.device)
                 for g, c, a in zip(generated, self.clips, analysis)]
        return {
            "SSIM": ssim(fake, real, device=self.device), "PSNR": psnr(fake, real, device=self.device),                       # Sec. IV: image quality
            "M-LMD": mouth_lmd(lm, real_lm), "F-LMD": face_lmd(lm, real_lm),           # mouth 48-67 / all 68
            "FD": image_frechet_distance(real, fake, inception_path=self.inception_path or None,
                                         analyser=self.analyser, trust_torchscript=self.trust_torchscript),
            "AUE": au_error(np.concatenate([a.au for a in analysis]), np.concatenate(self.real_aus)),
            "Sync": sync_score(syncs),
            "ER": emotion_recognition([a.emotion_probs for a in analysis], [c.emotion for c in self.clips],
                                      emotions=self.analyser.hparams["emotions"]),
        }

    def measure_real(self, generated: Sequence[np.ndarray], *, real_landmarks: bool = False
                     ) -> dict[str, MetricResult]:
        """The metrics of one system's videos on recorded people, read by the real trackers (:mod:`.faces`).

        M-LMD / F-LMD: the tracker's landmarks of the generated frames vs the dataset's (the same tracker's on the
        real video), over the frames where a face was found (``extra``: found_fraction, clips_without_face);
        EXP-RMSE (3DDFA): 3DDFA_V2 alpha [T, 10] vs the dataset's, same frames; Sync: the mouth crop placed with
        the tracker's landmarks (the dataset's in a clip without a face, or with ``real_landmarks``); FD: FID with
        Inception weights, else unavailable; AUE, ER: unavailable, with the reason in ``extra``.
        """
        from .syncnet import sync_confidence, sync_score

        reads = [self.faces.read(g, name=c.record.id) for g, c in zip(generated, self.clips)]
        real = np.concatenate([c.frames for c in self.clips])
        fake = np.concatenate(generated)
        found = np.concatenate([r.found for r in reads])
        missing = [c.record.id for c, r in zip(self.clips, reads) if not r.found.any()]
        seen = {"found_fraction": float(found.mean()), "clips_without_face": missing,
                "landmarks": "MediaPipe face mesh -> 68 points (emohead.tracking)"}
        out: dict[str, MetricResult] = {
            "SSIM": ssim(fake, real, device=self.device), "PSNR": psnr(fake, real, device=self.device)}
        if found.any():
            lm = np.concatenate([r.landmarks for r in reads])[found]
            real_lm = np.concatenate([c.landmarks for c in self.clips])[found]
            for key, fn in (("M-LMD", mouth_lmd), ("F-LMD", face_lmd)):
                m = fn(lm, real_lm)
                out[key] = MetricResult(m.name, m.value, m.unit, m.per_item, {**m.extra, **seen})
        else:
            why = f"the tracker found no face in the generated frames of any clip ({', '.join(missing)})"
            out["M-LMD"], out["F-LMD"] = unavailable("M-LMD", why), unavailable("F-LMD", why)
        out["FD"] = (image_frechet_distance(real, fake, inception_path=self.inception_path,
                                            trust_torchscript=self.trust_torchscript)
                     if self.inception_path else unavailable("FD"))
        out["AUE"] = unavailable("AUE")
        syncs = [sync_confidence(self.syncnet, g, c.audio,
                                 c.landmarks if real_landmarks or not r.found.any() else r.landmarks,
                                 fps=self.fps, sample_rate=self.sample_rate, device=self.device)
                 for g, c, r in zip(generated, self.clips, reads)]
        out["Sync"] = sync_score(syncs)
        out["ER"] = unavailable("ER")
        if found.any() and all(c.alpha is not None for c in self.clips):
            alpha = np.concatenate([r.alpha for r in reads])[found]
            real_alpha = np.concatenate([c.alpha for c in self.clips])[found]
            m = expression_rmse(alpha, real_alpha)
            out["EXP"] = MetricResult(m.name, m.value, m.unit, m.per_item, {**m.extra, **seen})
        else:
            out["EXP"] = unavailable(EXPRESSION_RMSE, "no face found in the generated frames" if not found.any()
                                     else "the test clips carry no dataset alpha")
        return out


def generate_videos(a2e: Any, nerf: Any, store: Any, ds: Any, clips: Sequence[TestClip], tag: str) -> list[np.ndarray]:
    """One system's frames for each test clip: its audio, the requested tag ('own' or an emotion), its own poses."""
    from ..pipeline import EmotionControl, driving_track, render_talking_head

    out = []
    for c in clips:
        n = len(c.frames)
        feats = store.get(c.record.id)
        cut = type(feats)(audio=feats.audio[:n], emotion=feats.emotion[:n], text=feats.text[:n],
                          words=feats.words[:n], meta=feats.meta)
        track = driving_track(ds, c.record.id, nerf.image_size).take(np.arange(n))
        control = EmotionControl(c.emotion if tag == "own" else tag)
        out.append(render_talking_head(a2e, nerf, cut, control, track, fps=ds.fps, progress=False))
    return out


@dataclass
class EvaluationResult:
    """results {system: {metric name: value}} (the names tables print: "FD (analyser)" or "FID"; metrics without
    an evaluator are absent), details {system: {metric: MetricResult.as_dict()}} (an unavailable one with
    ``available: false`` and its ``reason``), samples {system: uint8 [T, S, S, 3] of the first clip}, and which
    evaluators measured them: "synthetic" (the face analyser) or "real" (the trackers, :mod:`.faces`)."""

    results: dict[str, dict[str, float]]
    details: dict[str, dict[str, Any]]
    samples: dict[str, np.ndarray]
    clips: list[str]
    evaluators: str = "synthetic"

    def table(self, number: str = "I", **kwargs: Any):
        """Our systems beside the paper's Table ``number`` (see :func:`emohead.eval.tables.compare_with_paper`)."""
        from .tables import compare_with_paper

        if number == "I":       # Table I compares whole methods: ours, the neutral-tag baseline, the real video
            systems = {s: r for s, r in self.results.items() if s in (GROUND_TRUTH, FULL, NEUTRAL)}
        else:                   # Table IV: the ablations and sweeps
            systems = {s: r for s, r in self.results.items() if s not in (GROUND_TRUTH, NEUTRAL)}
        if self.evaluators == "real":
            kwargs.setdefault("ours_label", REAL_LABEL)
            kwargs.setdefault("evaluators_note", REAL_EVALUATORS_NOTE)
        return compare_with_paper(systems, number, **kwargs)

    def to_markdown(self) -> str:
        """Tables I and IV beside the paper's; on real data also the metrics the paper has no column for."""
        text = "\n\n".join(self.table(n).to_markdown() for n in ("I", "IV"))
        if self.evaluators == "real":
            from ..markdown import markdown_text

            rows = [{"System": s, EXPRESSION_RMSE: r.get(EXPRESSION_RMSE)} for s, r in self.results.items()]
            text += "\n\n" + markdown_text(rows, ["System", EXPRESSION_RMSE], title=(
                "Ours on real data, no paper column: 3DDFA_V2 expression RMSE, generated vs real video (lower is better)"))
        return text


def _named(metrics: Mapping[str, MetricResult]) -> dict[str, float]:
    """{table name: value}: the FD entry under its own name ("FD (analyser)" or "FID"), EXP under its name; PSNR
    inf where every frame is reproduced exactly (the ground truth against itself); unavailable metrics left out."""
    out = {(m.name if key in ("FD", "EXP") else key): float(m.value) for key, m in metrics.items() if is_available(m)}
    p = metrics["PSNR"]
    if p.per_item is not None and p.extra.get("n_exact") == len(p.per_item):
        out["PSNR"] = float("inf")
    return out


def evaluate_run(profile: Profile, run_dir: str | Path, out_dir: str | Path, *, device: str = "cpu",
                 systems: Sequence[str] | None = None, analyser: Any = None,
                 progress: bool = True) -> EvaluationResult:
    """Evaluate every system of ``profile`` on the target speaker's test clips of the run in ``run_dir``.

    run_dir holds what the notebooks (or the CLI stages) wrote: data/, features/, hyperplanes/, analyser/,
    audio2exp/full, nerf/full. Missing models (the ablation variants, the [z; alpha] NeRF, the sweeps, the SyncNet)
    are trained here with the profile's budgets and cached in run_dir. ``analyser``: a FaceAnalyser to use instead
    of the run's (analyser/). Writes ``evaluation.json`` and ``tables.md`` into ``out_dir``.
    """
    from tqdm.auto import tqdm

    from ..audio2exp import train_audio2exp
    from ..extract import ensure_analyser
    from ..render import train_nerf
    from ..stages import upstream

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not (run_dir / "data" / "manifest.json").is_file():
        raise EvalError(f"{run_dir}: no processed dataset at data/ (run the notebooks or `emohead synth` first)")
    up = upstream(profile, run_dir, "hyperplanes", device=device, data_dir=run_dir / "data", progress=progress)
    ds, store, planes = up.ds, up.store, up.planes
    runs_analyser = analyser is None
    if analyser is None:
        analyser, _ = ensure_analyser(profile, run_dir / "analyser", image_size=profile.synth.image_size,
                                      device=device, progress=progress)
    speaker = ds.extra.get("target_speaker", ds.speakers[0])
    specs = system_specs(profile)
    if systems is not None:
        unknown = sorted(set(systems) - set(specs))
        if unknown:
            raise EvalError(f"unknown system(s) {unknown}; this profile evaluates {list(specs)}")
        specs = {k: v for k, v in specs.items() if k in systems}

    size = profile.nerf.image_size
    train_side_by_side(profile, run_dir, ds, store, planes, analyser, specs, speaker, device=device, frame_size=size,
                       progress=progress, nerfs=runs_analyser)
    a2e_models: dict[str, Any] = {}
    nerfs: dict[str, Any] = {}
    for name, spec in specs.items():
        if spec is None:
            continue
        if spec.a2e not in a2e_models:
            cfg = apply_overrides(profile, dict(spec.overrides)).audio2exp
            a2e_models[spec.a2e] = train_audio2exp(ds, store, planes, cfg, run_dir / "audio2exp" / spec.a2e,
                                                   seed=profile.seed, device=device, progress=progress)[0]
        if spec.code not in nerfs:
            folder = run_dir / "nerf" / ("full" if spec.code == "alpha" else spec.code)
            nerfs[spec.code] = train_nerf(ds, profile.nerf, folder, speaker=speaker, code=spec.code,
                                          analyser=analyser, seed=profile.seed, device=device, progress=progress)[0]
    clips = load_test_clips(ds, speaker, size, max_clips=profile.eval.max_test_clips,
                            max_frames=profile.eval.max_frames_per_clip)
    syncnet = ensure_syncnet(ds, profile.eval, run_dir, device=device, progress=progress, frame_size=size)
    faces = TrackerFaces(device=device) if real_faces(ds) else None       # recorded people: the real trackers
    judge = Evaluator(analyser, syncnet, clips, ds.fps, ds.sample_rate, device, profile.eval.inception_path,
                      profile.eval.trust_torchscript, faces=faces)

    results, details, samples = {}, {}, {}
    for name, spec in tqdm(specs.items(), desc="evaluating systems", unit="system", disable=not progress):
        if spec is None:
            videos = [c.frames for c in clips]
        else:
            videos = generate_videos(a2e_models[spec.a2e], nerfs[spec.code], store, ds, clips, spec.tag)
        metrics = judge.measure(videos, real_landmarks=spec is None)
        results[name] = _named(metrics)
        details[name] = {k: m.as_dict() for k, m in metrics.items()}
        samples[name] = videos[0]
        log.info("%s: %s", name, {k: round(v, 3) for k, v in results[name].items()})
    result = EvaluationResult(results, details, samples, [c.record.id for c in clips], judge.kind)
    write_json_atomic(out_dir / "evaluation.json", {
        "profile": profile.name, "speaker": speaker, "clips": result.clips, "frames": int(sum(len(c.frames) for c in clips)),
        "image_size": size, **({"evaluators": "real"} if judge.kind == "real" else {}),
        "results": _json_ready(results), "details": _json_ready(details),
        "config": to_dict(profile)["eval"]})
    write_text_atomic(out_dir / "tables.md", result.to_markdown() + "\n")
    return result


def _json_ready(obj: Any) -> Any:
    """inf -> "inf", NaN -> None, numpy -> python, recursively."""
    if isinstance(obj, Mapping):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if np.isnan(v) else ("inf" if v == np.inf else "-inf" if v == -np.inf else v)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _json_ready(obj.tolist())
    return obj
