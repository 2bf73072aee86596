"""The catalogue of bad inputs and faults (docs/faults.md): every case runs the real ``emohead`` command.

Each case asserts (a) the exit status (2 for bad input, 0 where the input is usable and a warning says what was
done), (b) the key words of the message (the file, clip, frame or setting named, and what is wrong), (c) no raw
traceback (in-process: no exception escapes ``main``; in a subprocess: no "Traceback" on stderr), and (d) that
nothing already written changed (every file of the shared world and of the case's folder is hashed before and
after). The cases that need a process of their own (kill -9, Ctrl-C, two writers) run the CLI as a subprocess.

One tiny world (1 actor at 32 px, CREMA-D's 6 emotions x 2 sentences, a few iterations of everything) is made once
per module through the CLI itself; each case copies what it damages. The case ids are the ones docs/faults.md lists.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from emohead.cli import main
from emohead.files import FolderLock
from payloads import Payload

# -- the tiny world ------------------------------------------------------------------------------------------------
SMALL = {"synth.emotion_set": "crema", "synth.n_actors": 1, "synth.image_size": 32, "synth.n_sentences": 2,
         "analyser.n_train": 64, "analyser.n_val": 16, "analyser.epochs": 1, "analyser.input_size": 32,
         "analyser.width": 4, "audio2exp.iterations": 4, "audio2exp.checkpoint_every": 2, "audio2exp.batch_size": 4,
         "audio2exp.window": 16, "audio2exp.d": 16, "audio2exp.dh": 16, "audio2exp.ffn_widths": "[16]"}
NERF = {"nerf.iterations": 4, "nerf.refine_start": 4, "nerf.image_size": 32, "nerf.hash_levels": 2,
        "nerf.hash_log2_size": 8, "nerf.max_resolution": 32, "nerf.hidden": 8, "nerf.rays_per_batch": 64,
        "nerf.samples_per_ray": 8, "nerf.checkpoint_every": 2, "nerf.grid_resolution": 8, "nerf.grid_every": 2,
        "nerf.max_frames": 20, "nerf.patch_size": 16}


def settings(values: dict) -> list[str]:
    return [f"--set={k}={v}" for k, v in values.items()]


S = ["--profile", "smoke", *settings(SMALL)]
N = settings(NERF)


@dataclass
class World:
    root: Path

    def __getattr__(self, name: str) -> Path:          # w.data, w.features, w.a2e, w.nerf, ...
        paths = {"data": "data", "features": "features", "analysis": "analysis", "a2e": "a2e", "nerf": "nerf",
                 "analyser": "analyser/analyser.safetensors", "planes": "hyperplanes/hyperplanes.npz"}
        if name not in paths:
            raise AttributeError(name)
        return self.root / paths[name]

    def clip(self, split: str = "train", i: int = 0) -> str:
        manifest = json.loads((self.data / "manifest.json").read_text())
        return [c["id"] for c in manifest["clips"] if c["split"] == split][i]

    def copy(self, name: str, tmp: Path) -> Path:
        src = getattr(self, name)
        dst = tmp / src.name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
        if name == "planes":
            shutil.copy2(src.with_suffix(".json"), dst.with_suffix(".json"))
        return dst


def run_cli(argv: list[str]) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:                               # argparse's own errors
        return int(exc.code)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on a shared CPU: one torch thread avoids waiting on busy cores (and restores the setting)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def world(tmp_path_factory, one_thread) -> World:
    root = tmp_path_factory.mktemp("faults_world")
    w = World(root)
    steps = [["synth", "--out", w.data, *S],
             ["extract", "--data", w.data, "--out", root, *S],
             ["fit-hyperplanes", "--data", w.data, "--out", root / "hyperplanes", *S],
             ["train-a2e", "--data", w.data, "--hyperplanes", w.planes, "--out", w.a2e, *S],
             ["train-nerf", "--data", w.data, "--a2e", w.a2e, "--out", w.nerf, *S, *N]]
    for argv in steps:
        assert run_cli(argv) == 0, argv
    return w


# -- helpers: damaging copies ------------------------------------------------------------------------------------------
def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots`` (lock files excluded: their content is the holder's name)."""
    out = {}
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file() and not p.name.endswith(".lock"):
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def edit_npz(path: Path, **changes: Callable[[np.ndarray], np.ndarray] | np.ndarray) -> Path:
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for k, v in changes.items():
        arrays[k] = v(arrays[k].copy()) if callable(v) else v
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def nan_at(frame: int) -> Callable[[np.ndarray], np.ndarray]:
    def put(a: np.ndarray) -> np.ndarray:
        a = a.astype(np.float32)
        a[frame] = np.nan
        return a
    return put


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    return path


def pickle_payload(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path


def edit_json(path: Path, fn: Callable[[dict], object]) -> Path:
    path.write_text(json.dumps(fn(json.loads(path.read_text()))))
    return path


def edit_safetensors(path: Path, fn: Callable[[dict], dict]) -> Path:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as fh:
        meta, state = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    save_file(fn(state), str(path), metadata=meta)
    return path


def first_float(state: dict, prefix: str = "") -> str:
    return next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1 and k.startswith(prefix))


def write_wav(path: Path, audio: np.ndarray, sr: int = 16000, **kw) -> Path:
    import soundfile as sf

    sf.write(path, audio, sr, **kw)
    return path


def write_m4a(path: Path, seconds: float = 1.0, sr: int = 16000) -> Path:
    """AAC audio in an MP4 container (what a phone records), whatever the file is named."""
    import av

    t = np.arange(int(seconds * sr)) / sr
    samples = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    with av.open(str(path), "w", format="mp4") as box:
        stream = box.add_stream("aac", rate=sr)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            box.mux(packet)
        for packet in stream.encode(None):
            box.mux(packet)
    return path


def clip_file(data: Path, clip: str, name: str) -> Path:
    return data / "clips" / clip / name


# -- the cases run in this process --------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    setup: Callable[[World, Path], list]       # makes the damaged input under tmp, returns the argv
    words: tuple[str, ...]                      # must all appear in stderr ({train}, {test}, {tmp} filled in)
    code: int = 2
    check: Callable[[World, Path, str], None] | None = None    # more assertions (outputs, warnings)
    guard_tmp: bool = True                     # files under tmp must stay as they were
    held: str | None = None                    # a folder under tmp whose writer lock another writer holds meanwhile


CASES: list[Case] = []


def case(id: str, *words: str, code: int = 2, check=None, guard_tmp: bool = True, held: str | None = None):
    def register(setup):
        CASES.append(Case(id, setup, words, code, check, guard_tmp, held))
        return setup
    return register


def data_with(w: World, tmp: Path, clip_split: str, name: str, damage: Callable[[Path], object]) -> Path:
    """A copy of the dataset with one file of the first ``clip_split`` clip damaged."""
    data = w.copy("data", tmp)
    damage(clip_file(data, w.clip(clip_split), name))
    return data


def extract(data: Path, tmp: Path, *extra) -> list:
    return ["extract", "--data", data, "--out", tmp / "out", *S, *extra]


def fit(data: Path, tmp: Path, *extra) -> list:
    return ["fit-hyperplanes", "--data", data, "--out", tmp / "planes", *S, *extra]


def train_a2e(w: World, tmp: Path, *extra, data=None, planes=None, features=None) -> list:
    return ["train-a2e", "--data", data or w.data, "--hyperplanes", planes or w.planes,
            "--features", features or w.features, "--out", tmp / "a2e", *S, *extra]


def train_nerf(w: World, tmp: Path, *extra, data=None, a2e=None) -> list:
    return ["train-nerf", "--data", data or w.data, "--a2e", a2e or w.a2e, "--out", tmp / "nerf", *S, *N, *extra]


def render(w: World, tmp: Path, *extra, nerf=None, a2e=None, data=None) -> list:
    return ["render", "--data", data or w.data, "--a2e", a2e or w.a2e, "--nerf", nerf or w.nerf,
            "--out", tmp / "videos", "--max-clips", "1", *S, *extra]


def speech(w: World, tmp: Path) -> tuple[Path, Path]:
    """A test clip's audio and words as files, for render --audio / --words."""
    src = clip_file(w.data, w.clip("test"), "audio.wav")
    shutil.copy2(src, tmp / "speech.wav")
    shutil.copy2(src.with_name("words.json"), tmp / "speech.json")
    return tmp / "speech.wav", tmp / "speech.json"


def no_payload(w: World, tmp: Path, err: str) -> None:
    assert not (tmp / "pwned").exists(), "a pickle's payload ran"


def no_videos(w: World, tmp: Path, err: str) -> None:
    assert not list(tmp.rglob("*.mp4")), "a video was written"


# input files: datasets ---------------------------------------------------------------------------------------------
@case("data-missing", "manifest.json", "not found")
def _(w, tmp):
    return extract(tmp / "nowhere", tmp)


@case("data-unfinished", "not a complete dataset", "unfinished write", "data.partial")
def _(w, tmp):
    (tmp / "data.partial").mkdir()
    (tmp / "data").mkdir()
    return extract(tmp / "data", tmp)


@case("manifest-not-json", "manifest.json", "not valid JSON")
def _(w, tmp):
    data = w.copy("data", tmp)
    truncate(data / "manifest.json")
    return extract(data, tmp)


@case("manifest-unknown-emotion", "manifest.json", "'joy'", "not in the manifest's emotions")
def _(w, tmp):
    data = w.copy("data", tmp)
    edit_json(data / "manifest.json", lambda m: {**m, "clips": [{**m["clips"][0], "emotion": "joy"}, *m["clips"][1:]]})
    return extract(data, tmp)


@case("manifest-newer-version", "manifest.json", "'version' 99", "newer")
def _(w, tmp):
    data = w.copy("data", tmp)
    edit_json(data / "manifest.json", lambda m: {**m, "version": 99})
    return extract(data, tmp)


@case("manifest-clip-without-paths", "manifest.json", "missing field 'paths'")
def _(w, tmp):
    data = w.copy("data", tmp)
    edit_json(data / "manifest.json", lambda m: {**m, "clips": [{k: v for k, v in m["clips"][0].items() if k != "paths"},
                                                                *m["clips"][1:]]})
    return fit(data, tmp)


@case("extract-nan-alpha", "arrays.npz", "{train}", "'alpha'", "frame 3", "NaN")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, alpha=nan_at(3))), tmp)


@case("extract-nan-pose", "arrays.npz", "{train}", "'pose_t'", "frame 5", "NaN")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, pose_t=nan_at(5))), tmp)


@case("extract-nan-landmarks", "arrays.npz", "{test}", "'landmarks'", "frame 0", "NaN")
def _(w, tmp):
    return extract(data_with(w, tmp, "test", "arrays.npz", lambda p: edit_npz(p, landmarks=nan_at(0))), tmp)


@case("extract-truncated-arrays", "{train}", "arrays.npz", "corrupt or truncated")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "arrays.npz", truncate), tmp)


@case("extract-alpha-wrong-width", "arrays.npz", "{train}", "'alpha'", "shape", "(", "10)")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, alpha=lambda a: a[:, :7])), tmp)


@case("extract-alpha-wrong-frames", "arrays.npz", "{train}", "'alpha'", "shape")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, alpha=lambda a: a[:-3])), tmp)


def _other_size_video(p: Path) -> None:
    from emohead.data.video import read_video, write_video

    frames = read_video(p)
    write_video(p, np.repeat(np.repeat(frames, 2, axis=1), 2, axis=2)[:, :48, :48], 25)


@case("extract-video-wrong-size", "video.mp4", "{train}", "48x48", "32x32")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "video.mp4", _other_size_video), tmp)


@case("extract-video-corrupt", "video.mp4", "cannot decode video")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "video.mp4", lambda p: p.write_bytes(b"\x00" * 64)), tmp)


@case("extract-video-missing", "video.mp4", "missing video file", "{train}")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "video.mp4", Path.unlink), tmp)


@case("extract-audio-corrupt", "audio.wav", "cannot read audio")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "audio.wav", lambda p: p.write_bytes(b"RIFF0000WAVEjunk")), tmp)


@case("extract-audio-empty-file", "audio.wav", "cannot read audio")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "audio.wav", lambda p: p.write_bytes(b"")), tmp)


@case("extract-audio-no-samples", "audio.wav", "{train}", "no samples")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "audio.wav", lambda p: write_wav(p, np.zeros(0, np.float32))), tmp)


@case("extract-audio-m4a", "audio.wav", "cannot read audio", "WAV")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "audio.wav", write_m4a), tmp)


@case("extract-audio-wrong-rate", "audio.wav", "8000 Hz", "16000 Hz")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "audio.wav",
                             lambda p: write_wav(p, np.zeros(8000, np.float32), 8000)), tmp)


@case("extract-audio-too-short", "{train}", "n_frames", "lasts")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "audio.wav", lambda p: write_wav(p, np.zeros(1600, np.float32))), tmp)


def _stereo(p: Path) -> None:
    import soundfile as sf

    mono, sr = sf.read(p, dtype="float32")
    write_wav(p, np.stack([mono, mono], axis=1), sr, subtype="PCM_16")


def _stereo_extract_ok(w: World, tmp: Path, err: str) -> None:
    from emohead.features import FeatureStore

    clip = w.clip("train")
    assert np.allclose(FeatureStore(tmp / "out" / "features").get(clip).audio,
                       FeatureStore(w.features).get(clip).audio, atol=1e-4)   # downmixed: the mono features


@case("extract-audio-stereo", "stereo", "downmixed", "audio.wav", code=0, check=_stereo_extract_ok)
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "audio.wav", _stereo), tmp, "--analyser", w.analyser)


@case("extract-words-malformed", "words.json", "not valid JSON")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "words.json", lambda p: p.write_text('{"words": [')), tmp)


@case("extract-words-empty-object", "words.json", "'words' list")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "words.json", lambda p: p.write_text("{}")), tmp)


@case("extract-words-past-end", "words.json", "'late'", "outside")
def _(w, tmp):
    late = {"word": "late", "start": 99.0, "end": 99.5}
    return extract(data_with(w, tmp, "train", "words.json",
                             lambda p: edit_json(p, lambda d: {**d, "words": [*d["words"], late]})), tmp)


@case("extract-words-out-of-order", "words.json", "out of order")
def _(w, tmp):
    return extract(data_with(w, tmp, "train", "words.json",
                             lambda p: edit_json(p, lambda d: {**d, "words": d["words"][::-1]})), tmp)


# input files: the analysis of `emohead extract`, used by --analysis -----------------------------------------------
def analysis_with(w: World, tmp: Path, damage: Callable[[Path], object]) -> Path:
    analysis = w.copy("analysis", tmp)
    damage(analysis / f"{w.clip('train')}.npz")
    return analysis


@case("fit-missing-data", "manifest.json", "not found")
def _(w, tmp):
    return fit(tmp / "nowhere", tmp)


@case("fit-nan-alpha", "{train}", "'alpha'", "frame 2", "NaN")
def _(w, tmp):
    return fit(data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, alpha=nan_at(2))), tmp)


@case("fit-nan-mar", "{train}", "'mar'", "frame 4", "NaN")
def _(w, tmp):
    return fit(data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, mar=nan_at(4))), tmp)


@case("fit-truncated-arrays", "{train}", "arrays.npz", "corrupt or truncated")
def _(w, tmp):
    return fit(data_with(w, tmp, "train", "arrays.npz", truncate), tmp)


@case("fit-alpha-wrong-width", "{train}", "'alpha'", "shape")
def _(w, tmp):
    return fit(data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, alpha=lambda a: a[:, :7])), tmp)


@case("fit-alpha-wrong-frames", "{train}", "'alpha'", "shape")
def _(w, tmp):
    return fit(data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, alpha=lambda a: a[:-3])), tmp)


@case("fit-unknown-speaker", "--speaker 'nobody'", "actor0")
def _(w, tmp):
    return fit(w.data, tmp, "--speaker", "nobody")


@case("fit-analysis-missing", "--analysis", "no such folder")
def _(w, tmp):
    return fit(w.data, tmp, "--analysis", tmp / "none")


@case("fit-analysis-nan", "{train}", "alpha", "frame 1", "NaN")
def _(w, tmp):
    return fit(w.data, tmp, "--analysis", analysis_with(w, tmp, lambda p: edit_npz(p, alpha=nan_at(1))))


@case("fit-analysis-truncated", "{train}.npz", "corrupt or truncated")
def _(w, tmp):
    return fit(w.data, tmp, "--analysis", analysis_with(w, tmp, truncate))


@case("fit-analysis-clip-missing", "{train}", "no analysis", "emohead extract")
def _(w, tmp):
    return fit(w.data, tmp, "--analysis", analysis_with(w, tmp, Path.unlink))


# input files: training the audio-expression model -------------------------------------------------------------------
@case("a2e-nan-alpha", "{train}", "'alpha'", "frame 3", "NaN",
      check=lambda w, tmp, err: not (tmp / "a2e" / "model.safetensors").exists())
def _(w, tmp):
    return train_a2e(w, tmp, data=data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, alpha=nan_at(3))))


@case("a2e-alpha-wrong-frames", "{train}", "'alpha'", "shape")
def _(w, tmp):
    return train_a2e(w, tmp, data=data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, alpha=lambda a: a[:-3])))


@case("a2e-words-empty-object", "words.json", "'words' list")
def _(w, tmp):
    return train_a2e(w, tmp, data=data_with(w, tmp, "train", "words.json", lambda p: p.write_text("{}")))


@case("a2e-features-missing", "--features", "no feature folder")
def _(w, tmp):
    return train_a2e(w, tmp, features=tmp / "none")


@case("a2e-features-nan", "{train}.npz", "NaN")
def _(w, tmp):
    features = w.copy("features", tmp)
    edit_npz(features / f"{w.clip('train')}.npz", audio=nan_at(0))
    return train_a2e(w, tmp, features=features)


@case("a2e-features-truncated", "{train}.npz", "cannot read features")
def _(w, tmp):
    features = w.copy("features", tmp)
    truncate(features / f"{w.clip('train')}.npz")
    return train_a2e(w, tmp, features=features)


@case("a2e-features-clip-missing", "{train}", "no features", "emohead extract")
def _(w, tmp):
    features = w.copy("features", tmp)
    edit_json(features / "index.json", lambda d: {**d, "clips": {k: v for k, v in d["clips"].items()
                                                                  if k != w.clip("train")}})
    return train_a2e(w, tmp, features=features)


@case("a2e-analysis-nan", "{train}", "alpha", "frame 1", "NaN")
def _(w, tmp):
    return train_a2e(w, tmp, "--analysis", analysis_with(w, tmp, lambda p: edit_npz(p, alpha=nan_at(1))))


# input files: training the NeRF ------------------------------------------------------------------------------------
@case("nerf-video-wrong-size", "video.mp4", "{train}", "48x48", "32x32")
def _(w, tmp):
    return train_nerf(w, tmp, data=data_with(w, tmp, "train", "video.mp4", _other_size_video))


@case("nerf-manifest-mixed-sizes", "several frame sizes", "48 px", "{train}")
def _(w, tmp):
    data = w.copy("data", tmp)
    edit_json(data / "manifest.json", lambda m: {**m, "clips": [{**c, "image_size": 48} if c["id"] == w.clip("train")
                                                                else c for c in m["clips"]]})
    return train_nerf(w, tmp, data=data)


@case("nerf-nan-pose", "{train}", "'pose_R'", "frame 2", "NaN")
def _(w, tmp):
    return train_nerf(w, tmp, data=data_with(w, tmp, "train", "arrays.npz", lambda p: edit_npz(p, pose_R=nan_at(2))))


@case("nerf-analysis-nan", "{train}", "alpha", "frame 1", "NaN")
def _(w, tmp):
    return train_nerf(w, tmp, "--analysis", analysis_with(w, tmp, lambda p: edit_npz(p, alpha=nan_at(1))))


@case("nerf-speaker-unknown", "speaker 'nobody'", "actor0")
def _(w, tmp):
    return train_nerf(w, tmp, "--speaker", "nobody")


# settings --------------------------------------------------------------------------------------------------------
for _id, _set, _words in [
        ("set-a2e-lr-negative", "audio2exp.lr=-0.001", ("audio2exp.lr", "> 0")),
        ("set-a2e-lr-zero", "audio2exp.lr=0", ("audio2exp.lr", "> 0")),
        ("set-a2e-lr-nan", "audio2exp.lr=nan", ("audio2exp.lr", "finite")),
        ("set-a2e-iterations-zero", "audio2exp.iterations=0", ("audio2exp.iterations", "> 0")),
        ("set-a2e-iterations-negative", "audio2exp.iterations=-5", ("audio2exp.iterations", "> 0")),
        ("set-a2e-batch-size-zero", "audio2exp.batch_size=0", ("audio2exp.batch_size", "> 0"))]:
    case(_id, *_words)(lambda w, tmp, _set=_set: train_a2e(w, tmp, "--set", _set))

for _id, _set, _words in [
        ("set-nerf-lr-negative", "nerf.lr=-0.01", ("nerf.lr", "> 0")),
        ("set-nerf-iterations-zero", "nerf.iterations=0", ("nerf.iterations", "> 0")),
        ("set-nerf-image-size-zero", "nerf.image_size=0", ("nerf.image_size", "> 0")),
        ("set-nerf-refine-start-late", "nerf.refine_start=99", ("nerf.refine_start=99",)),
        ("set-nerf-train-step-unknown", "nerf.train_step=jit", ("nerf.train_step", "'jit'", "eager", "graph"))]:
    case(_id, *_words)(lambda w, tmp, _set=_set: train_nerf(w, tmp, "--set", _set))

for _id, _set, _words in [
        ("set-analyser-lr-zero", "analyser.lr=0", ("analyser.lr", "> 0")),
        ("set-analyser-epochs-negative", "analyser.epochs=-1", ("analyser.epochs", "> 0"))]:
    case(_id, *_words)(lambda w, tmp, _set=_set: extract(w.data, tmp, "--set", _set))

for _id, _set, _words in [
        ("synth-image-size-odd", "synth.image_size=33", ("synth.image_size=33", "even")),
        ("synth-image-size-zero", "synth.image_size=0", ("synth.image_size", "> 0")),
        ("synth-image-size-too-small", "synth.image_size=16", ("synth.image_size=16", "at least 32")),
        ("synth-test-sentences-too-many", "synth.n_test_sentences=5", ("synth.n_test_sentences=5",)),
        ("synth-levels-out-of-range", "synth.levels=[5]", ("synth.levels", "1 to 4")),
        ("synth-actors-zero", "synth.n_actors=0", ("synth.n_actors", "> 0")),
        ("synth-emotion-set-unknown", "synth.emotion_set=ravdess", ("synth.emotion_set", "'ravdess'"))]:
    case(_id, *_words, check=lambda w, tmp, err: not (tmp / "data").exists())(
        lambda w, tmp, _set=_set: ["synth", "--out", tmp / "data", *S, "--set", _set])

for _id, _args, _words in [
        ("set-unknown-field", ["--set", "audio2exp.iters=3"], ("unknown field 'iters'",)),
        ("set-unknown-stage", ["--set", "decoder.lr=3"], ("unknown stage 'decoder'",)),
        ("set-wrong-type", ["--set", "audio2exp.d=wide"], ("audio2exp.d", "expected int")),
        ("set-no-equals", ["--set", "nonsense"], ("expected stage.field=value",)),
        ("profile-unknown", ["--profile", "turbo"], ("invalid choice: 'turbo'",))]:
    case(_id, *_words)(lambda w, tmp, _args=_args: ["config", *_args])


case("set-svm-c-zero", "hyperplanes.svm_c", "> 0")(lambda w, tmp: fit(w.data, tmp, "--set", "hyperplanes.svm_c=0"))


# model files ------------------------------------------------------------------------------------------------------
def a2e_with(w: World, tmp: Path, name: str, damage: Callable[[Path], object]) -> Path:
    a2e = w.copy("a2e", tmp)
    damage(a2e / name)
    return a2e


def nerf_with(w: World, tmp: Path, name: str, damage: Callable[[Path], object]) -> Path:
    nerf = w.copy("nerf", tmp)
    damage(nerf / name)
    return nerf


@case("a2e-model-missing", "--a2e", "no trained audio-expression model")
def _(w, tmp):
    return train_nerf(w, tmp, a2e=tmp / "none")


@case("a2e-model-truncated", "model.safetensors", "not a readable safetensors file")
def _(w, tmp):
    return train_nerf(w, tmp, a2e=a2e_with(w, tmp, "model.safetensors", truncate))


@case("a2e-model-pickle", "model.safetensors", "not a readable safetensors file", check=no_payload)
def _(w, tmp):
    return train_nerf(w, tmp, a2e=a2e_with(w, tmp, "model.safetensors", lambda p: pickle_payload(p, tmp / "pwned")))


@case("a2e-model-nan-weights", "model.safetensors", "NaN or inf")
def _(w, tmp):
    def damage(p):
        edit_safetensors(p, lambda s: {**s, "mixer.wq1.weight": s["mixer.wq1.weight"] * float("nan")})
    return train_nerf(w, tmp, a2e=a2e_with(w, tmp, "model.safetensors", damage))


@case("a2e-model-wrong-shape", "model.safetensors", "does not match", "model.json")
def _(w, tmp):
    def damage(p):
        edit_safetensors(p, lambda s: {**s, "mixer.wq1.weight": s["mixer.wq1.weight"][:1]})
    return train_nerf(w, tmp, a2e=a2e_with(w, tmp, "model.safetensors", damage))


@case("a2e-json-truncated", "model.json", "damaged or truncated")
def _(w, tmp):
    return train_nerf(w, tmp, a2e=a2e_with(w, tmp, "model.json", truncate))


@case("a2e-json-other-format", "model.json", "not an audio-expression model")
def _(w, tmp):
    return train_nerf(w, tmp, a2e=a2e_with(w, tmp, "model.json", lambda p: p.write_text('{"format": "x"}')))


@case("a2e-model-truncated-render", "model.safetensors", "not a readable safetensors file", check=no_videos)
def _(w, tmp):
    return render(w, tmp, a2e=a2e_with(w, tmp, "model.safetensors", truncate))


@case("nerf-missing", "nerf.json", "not a trained NeRF folder")
def _(w, tmp):
    return render(w, tmp, nerf=tmp / "none")


@case("nerf-weights-truncated", "nerf.safetensors", "not a readable safetensors file", check=no_videos)
def _(w, tmp):
    return render(w, tmp, nerf=nerf_with(w, tmp, "nerf.safetensors", truncate))


@case("nerf-weights-pickle", "nerf.safetensors", "not a readable safetensors file", check=no_payload)
def _(w, tmp):
    return render(w, tmp, nerf=nerf_with(w, tmp, "nerf.safetensors", lambda p: pickle_payload(p, tmp / "pwned")))


@case("nerf-hash-nan", "nerf.safetensors", "'field.encoder.embeddings'", "NaN", check=no_videos)
def _(w, tmp):
    def damage(p):
        edit_safetensors(p, lambda s: {**s, "field.encoder.embeddings": s["field.encoder.embeddings"] * float("nan")})
    return render(w, tmp, nerf=nerf_with(w, tmp, "nerf.safetensors", damage))


@case("nerf-hash-wrong-shape", "nerf.safetensors", "does not match", "nerf.json", check=no_videos)
def _(w, tmp):
    def damage(p):
        edit_safetensors(p, lambda s: {**s, "field.encoder.embeddings": s["field.encoder.embeddings"][:1]})
    return render(w, tmp, nerf=nerf_with(w, tmp, "nerf.safetensors", damage))


@case("nerf-json-truncated", "nerf.json", "damaged or truncated", check=no_videos)
def _(w, tmp):
    return render(w, tmp, nerf=nerf_with(w, tmp, "nerf.json", truncate))


@case("planes-missing", "--hyperplanes", "no such file")
def _(w, tmp):
    return train_a2e(w, tmp, planes=tmp / "none.npz")


@case("planes-truncated", "hyperplanes.npz", "not a readable hyperplane file")
def _(w, tmp):
    planes = w.copy("planes", tmp)
    truncate(planes)
    return train_a2e(w, tmp, planes=planes)


@case("planes-pickle", "hyperplanes.npz", "not a readable hyperplane file", check=no_payload)
def _(w, tmp):
    planes = w.copy("planes", tmp)
    pickle_payload(planes, tmp / "pwned")
    return train_a2e(w, tmp, planes=planes)


@case("planes-nan", "hyperplanes.npz", "'normals'", "NaN")
def _(w, tmp):
    planes = w.copy("planes", tmp)
    edit_npz(planes, normals=nan_at(0))
    return train_a2e(w, tmp, planes=planes)


@case("planes-json-truncated", "hyperplanes.json", "not a readable hyperplane")
def _(w, tmp):
    planes = w.copy("planes", tmp)
    truncate(planes.with_suffix(".json"))
    return train_a2e(w, tmp, planes=planes)


@case("planes-missing-emotion", "no normal for emotion", "'sad'")
def _(w, tmp):
    planes = w.copy("planes", tmp)
    meta = json.loads(planes.with_suffix(".json").read_text())
    keep = [i for i, e in enumerate(meta["emotions"]) if e != "sad"]
    edit_npz(planes, normals=lambda a: a[keep], coef=lambda a: a[keep], intercept=lambda a: a[keep],
             patterns=lambda a: a[keep])
    edit_json(planes.with_suffix(".json"), lambda m: {**m, "emotions": [m["emotions"][i] for i in keep]})
    return train_a2e(w, tmp, planes=planes)


@case("planes-wrong-width", "10-d", "7-d")
def _(w, tmp):
    planes = w.copy("planes", tmp)
    edit_npz(planes, normals=lambda a: a[:, :7], coef=lambda a: a[:, :7], patterns=lambda a: a[:, :7])
    return train_a2e(w, tmp, planes=planes)


@case("analyser-missing", "--analyser", "no such file")
def _(w, tmp):
    return extract(w.data, tmp, "--analyser", tmp / "none.safetensors")


@case("analyser-truncated", "analyser.safetensors", "not a readable safetensors file")
def _(w, tmp):
    return extract(w.data, tmp, "--analyser", truncate(w.copy("analyser", tmp)))


@case("analyser-pickle", "analyser.safetensors", "not a readable safetensors file", check=no_payload)
def _(w, tmp):
    return extract(w.data, tmp, "--analyser", pickle_payload(tmp / "analyser.safetensors", tmp / "pwned"))


@case("analyser-other-model", "model.safetensors", "not a face analyser checkpoint")
def _(w, tmp):
    return extract(w.data, tmp, "--analyser", w.a2e / "model.safetensors")


@case("analyser-nan-weights", "analyser.safetensors", "NaN")
def _(w, tmp):
    path = w.copy("analyser", tmp)
    edit_safetensors(path, lambda s: {**s, first_float(s): s[first_float(s)] * float("nan")})
    return extract(w.data, tmp, "--analyser", path)


@case("analyser-truncated-train-nerf", "analyser.safetensors", "not a readable safetensors file")
def _(w, tmp):
    return train_nerf(w, tmp, "--analyser", truncate(w.copy("analyser", tmp)), "--set", "nerf.refine_start=2")


def _evaluate(w: World, tmp: Path, *extra) -> list:
    run = tmp / "run"
    run.mkdir()
    (run / "data").symlink_to(w.data)
    return ["evaluate", "--run", run, "--out", tmp / "eval", *S, *N, *extra]


@case("syncnet-truncated", "syncnet", "not a torch state dict")
def _(w, tmp):
    path = tmp / "syncnet_v2.model"
    path.write_bytes(b"PK\x03\x04 truncated")
    return _evaluate(w, tmp, "--set", f"eval.syncnet_path={path}")


@case("syncnet-pickle", "syncnet_v2.model", "not a torch state dict", check=no_payload)
def _(w, tmp):
    import torch

    path = tmp / "syncnet_v2.model"
    torch.save({"netcnnaud.0.weight": Payload(tmp / "pwned")}, path)
    return _evaluate(w, tmp, "--set", f"eval.syncnet_path={path}")


@case("syncnet-safetensors-truncated", "syncnet.safetensors", "not a readable safetensors file")
def _(w, tmp):
    path = tmp / "syncnet.safetensors"
    truncate(shutil.copy2(w.a2e / "model.safetensors", path))
    return _evaluate(w, tmp, "--set", f"eval.syncnet_path={path}")


@case("inception-torchscript-untrusted", "TorchScript", "eval.trust_torchscript")
def _(w, tmp):
    import torch

    path = tmp / "inception.pt"
    with warnings.catch_warnings():                      # torch.jit is deprecated; TorchScript files still exist
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    return _evaluate(w, tmp, "--set", f"eval.inception_path={path}")


@case("syncnet-missing", "syncnet_v2.model", "do not exist")
def _(w, tmp):
    return _evaluate(w, tmp, "--set", f"eval.syncnet_path={tmp / 'syncnet_v2.model'}")


@case("inception-missing", "eval.inception_path", "no such file")
def _(w, tmp):
    return _evaluate(w, tmp, "--set", f"eval.inception_path={tmp / 'pt_inception.pth'}")


@case("emotion2vec-model-pickle", "model.pt", "weights_only", check=no_payload)
def _(w, tmp):
    import torch

    model = tmp / "emotion2vec"
    model.mkdir()
    (model / "config.yaml").write_text("model: Emotion2vec\nmodel_conf: {embed_dim: 768}\n")
    torch.save({"model": Payload(tmp / "pwned")}, model / "model.pt")
    return extract(w.data, tmp, "--set", "features.emotion_backend=emotion2vec",
                   "--set", f"features.emotion2vec_path={model}")


@case("evaluate-unknown-system", "--system nope", "unknown system")
def _(w, tmp):
    return _evaluate(w, tmp, "--system", "nope")


@case("evaluate-run-missing", "--run", "expected a run folder")
def _(w, tmp):
    return ["evaluate", "--run", tmp / "none", "--out", tmp / "eval", *S]


# input files: render's audio, words and controls -------------------------------------------------------------------
def render_audio(w: World, tmp: Path, audio: Path, *extra) -> list:
    _, words = speech(w, tmp)
    return render(w, tmp, "--audio", audio, "--words", words, *extra)


@case("render-audio-missing", "--audio", "no such file", check=no_videos)
def _(w, tmp):
    return render_audio(w, tmp, tmp / "none.wav")


@case("render-audio-corrupt", "noise.wav", "cannot read it as audio", check=no_videos)
def _(w, tmp):
    (tmp / "noise.wav").write_bytes(b"RIFF not really a wave file")
    return render_audio(w, tmp, tmp / "noise.wav")


@case("render-audio-empty-file", "empty.wav", "cannot read it as audio", check=no_videos)
def _(w, tmp):
    (tmp / "empty.wav").write_bytes(b"")
    return render_audio(w, tmp, tmp / "empty.wav")


@case("render-audio-no-samples", "silent.wav", "no samples", check=no_videos)
def _(w, tmp):
    return render_audio(w, tmp, write_wav(tmp / "silent.wav", np.zeros(0, np.float32)))


@case("render-audio-m4a", "speech.m4a", "cannot read it as audio", "WAV", check=no_videos)
def _(w, tmp):
    return render_audio(w, tmp, write_m4a(tmp / "speech.m4a"))


@case("render-audio-nan", "nan.wav", "NaN", check=no_videos)
def _(w, tmp):
    import soundfile as sf

    audio, sr = sf.read(speech(w, tmp)[0], dtype="float32")
    audio[100] = np.nan
    return render_audio(w, tmp, write_wav(tmp / "nan.wav", audio, sr, subtype="FLOAT"))


def _stereo_render_ok(w: World, tmp: Path, err: str) -> None:
    from emohead.data import probe_video

    videos = list((tmp / "videos").glob("*.mp4"))
    assert len(videos) == 1 and probe_video(videos[0])["has_audio"]


@case("render-audio-stereo", "stereo.wav", "stereo", "downmixed", code=0, check=_stereo_render_ok)
def _(w, tmp):
    wav, _ = speech(w, tmp)
    shutil.copy2(wav, tmp / "stereo.wav")
    _stereo(tmp / "stereo.wav")
    return render_audio(w, tmp, tmp / "stereo.wav")


@case("render-words-malformed", "broken.json", "not a readable JSON transcript", check=no_videos)
def _(w, tmp):
    (tmp / "broken.json").write_text('{"words": [')
    wav, _ = speech(w, tmp)
    return render(w, tmp, "--audio", wav, "--words", tmp / "broken.json")


@case("render-words-empty-object", "--words", "empty.json", "'words' list", check=no_videos)
def _(w, tmp):
    (tmp / "empty.json").write_text("{}")
    wav, _ = speech(w, tmp)
    return render(w, tmp, "--audio", wav, "--words", tmp / "empty.json")


@case("render-words-past-end", "late.json", "'late'", "outside the audio", check=no_videos)
def _(w, tmp):
    wav, words = speech(w, tmp)
    late = {"word": "late", "start": 99.0, "end": 99.5}
    edit_json(words, lambda d: {**d, "words": [*d["words"], late]})
    shutil.move(words, tmp / "late.json")
    return render(w, tmp, "--audio", wav, "--words", tmp / "late.json")


@case("render-words-missing", "--words", "transcript", check=no_videos)
def _(w, tmp):
    wav, _ = speech(w, tmp)
    return render(w, tmp, "--audio", wav)


for _id, _args, _words in [
        ("render-emotion-unknown", ["--emotion", "joy"], ("unknown emotion 'joy'", "happy", "neutral")),
        ("render-to-unknown", ["--emotion", "sad", "--to", "elated", "--weight", "0.5"],
         ("unknown emotion 'elated'", "happy")),
        ("render-switch-at-late", ["--to", "happy", "--switch-at", "99"], ("--switch-at 99", "outside clip")),
        ("render-switch-at-negative", ["--to", "happy", "--switch-at", "-5"], ("--switch-at -5", "outside clip")),
        ("render-tau-scale-negative", ["--tau-scale", "-3"], ("--tau-scale -3", ">= 0")),
        ("render-encoder-threads-zero", ["--encoder-threads", "0"], ("--encoder-threads 0", "1..64")),
        ("render-weight-out-of-range", ["--to", "happy", "--weight", "1.5"], ("--weight 1.5", "[0, 1]")),
        ("render-weight-without-to", ["--weight", "0.5"], ("--to",)),
        ("render-ramp-negative", ["--to", "happy", "--switch-at", "1", "--ramp", "-1"], ("--ramp -1", ">= 0")),
        ("render-max-clips-zero", ["--max-clips", "0"], ("--max-clips 0", ">= 1")),
        ("render-clip-unknown", ["--clip", "nope"], ("--clip nope", "no features")),
        ("render-driving-clip-unknown", ["--driving-clip", "nope"], ("'nope'",))]:
    case(_id, *_words, check=no_videos)(lambda w, tmp, _args=_args: render(w, tmp, *_args))


# output folders ----------------------------------------------------------------------------------------------------
def _out_argv(command: str, w: World, tmp: Path) -> list:
    return {"synth": lambda: ["synth", *S],
            "extract": lambda: ["extract", "--data", w.data, *S],
            "fit-hyperplanes": lambda: ["fit-hyperplanes", "--data", w.data, *S],
            "train-a2e": lambda: ["train-a2e", "--data", w.data, "--hyperplanes", w.planes, *S],
            "train-nerf": lambda: ["train-nerf", "--data", w.data, "--a2e", w.a2e, *S, *N],
            "render": lambda: ["render", "--data", w.data, "--a2e", w.a2e, "--nerf", w.nerf, *S],
            "evaluate": lambda: ["evaluate", "--run", w.root, *S],
            "reproduce": lambda: ["reproduce", "--profile", "smoke", "--dry-run"],
            "prepare": lambda: ["prepare", "video", "--video", tmp / "talk.mp4"]}[command]()


COMMANDS = ("synth", "extract", "fit-hyperplanes", "train-a2e", "train-nerf", "render", "evaluate", "reproduce",
            "prepare")


def _file_out(w, tmp, command):
    (tmp / "results.txt").write_text("not a folder")
    return [*_out_argv(command, w, tmp), "--out", tmp / "results.txt"]


def _under_file_out(w, tmp, command):
    (tmp / "results.txt").write_text("not a folder")
    return [*_out_argv(command, w, tmp), "--out", tmp / "results.txt" / "sub"]


def _unwritable_out(w, tmp, command):
    return [*_out_argv(command, w, tmp), "--out", "/proc/emohead-out"]


for _command in COMMANDS:
    case(f"out-is-a-file-{_command}", "--out", "results.txt: is a file")(
        lambda w, tmp, _c=_command: _file_out(w, tmp, _c))
    case(f"out-unwritable-{_command}", "--out /proc/emohead-out", "not writable")(
        lambda w, tmp, _c=_command: _unwritable_out(w, tmp, _c))
case("out-under-a-file", "lies under", "results.txt, which is a file")(
    lambda w, tmp: _under_file_out(w, tmp, "train-a2e"))


@case("evaluate-default-out-is-a-file", "the default --out", "evaluation: is a file")
def _(w, tmp):
    argv = _evaluate(w, tmp)
    (tmp / "evaluation").write_text("not a folder")
    return argv[:argv.index("--out")] + argv[argv.index("--out") + 2:]


@case("synth-out-existing-dataset", "exists and is not empty", "--force")
def _(w, tmp):
    return ["synth", "--out", w.copy("data", tmp), *S]


def _cached_run(w: World, tmp: Path) -> Path:
    """--out of an earlier `emohead extract` of the world: its features, analyser and analysis."""
    out = tmp / "out"
    out.mkdir()
    for name in ("features", "analyser", "analysis"):
        shutil.copytree(w.root / name, out / name)
    return out


def _analyser_retrained(w: World, tmp: Path, err: str) -> None:
    from emohead.analyser.model import load_analyser

    assert "analyser.safetensors" in err and "training the face analyser again" in err, err
    load_analyser(tmp / "out" / "analyser" / "analyser.safetensors")


@case("extract-cached-analyser-truncated", code=0, check=_analyser_retrained, guard_tmp=False)
def _(w, tmp):
    truncate(_cached_run(w, tmp) / "analyser" / "analyser.safetensors")
    return extract(w.data, tmp)


def _features_made_again(w: World, tmp: Path, err: str) -> None:
    from emohead.features import FeatureStore

    clip = w.clip("train")
    made_again, first = FeatureStore(tmp / "out" / "features"), FeatureStore(w.features)
    assert np.array_equal(made_again.get(clip).audio, first.get(clip).audio)


@case("extract-cached-features-truncated", code=0, check=_features_made_again, guard_tmp=False)
def _(w, tmp):
    truncate(_cached_run(w, tmp) / "features" / f"{w.clip('train')}.npz")
    return extract(w.data, tmp)


def _analysis_made_again(w: World, tmp: Path, err: str) -> None:
    from emohead.extract import load_analysis

    assert f"analysing clip {w.clip('train')} again" in err, err
    load_analysis(tmp / "out" / "analysis", w.clip("train"))


@case("extract-cached-analysis-truncated", code=0, check=_analysis_made_again, guard_tmp=False)
def _(w, tmp):
    truncate(_cached_run(w, tmp) / "analysis" / f"{w.clip('train')}.npz")
    return extract(w.data, tmp)


@case("two-extract-writers", "another writer holds it", f"pid {os.getpid()}", held="out",
      check=lambda w, tmp, err: not (tmp / "out" / "features").exists())
def _(w, tmp):
    return extract(w.data, tmp)


@case("two-reproduce-runs", "another writer holds it", f"pid {os.getpid()}", held="runs",
      check=lambda w, tmp, err: not (tmp / "runs" / "config.yaml").exists())
def _(w, tmp):
    return ["reproduce", "--profile", "smoke", "--out", tmp / "runs", "--only", "00"]


@case("two-fit-hyperplanes-writers", "another writer holds it", f"pid {os.getpid()}", held="planes",
      check=lambda w, tmp, err: not (tmp / "planes" / "hyperplanes.npz").exists())
def _(w, tmp):
    return fit(w.data, tmp)


@case("two-render-writers", "another writer holds it", f"pid {os.getpid()}", held="videos",
      check=lambda w, tmp, err: not list((tmp / "videos").glob("*.mp4")))
def _(w, tmp):
    return render(w, tmp)


@case("two-evaluate-writers", "another writer holds it", f"pid {os.getpid()}", held="eval",
      check=lambda w, tmp, err: not (tmp / "eval" / "evaluation.json").exists())
def _(w, tmp):
    return _evaluate(w, tmp)


# interruption, recovery ------------------------------------------------------------------------------------------
def _moved_aside(w: World, tmp: Path, err: str, folder: str = "a2e") -> None:
    out = tmp / folder
    aside = list(out.glob("checkpoint.pt.corrupt-*"))
    assert len(aside) == 1 and len(aside[0].read_bytes()) == 300                  # kept, for a look
    assert (out / "history.json").is_file()
    assert "checkpoint.pt cannot be read" in err and aside[0].name in err and "iteration 0" in err


def _corrupt_checkpoint(out: Path, source: Path) -> None:
    """A truncated checkpoint and nothing else in the model folder: the first checkpoint of a run, damaged."""
    out.mkdir()
    (out / "checkpoint.pt").write_bytes((source / "checkpoint.pt").read_bytes()[:300])


@case("a2e-checkpoint-corrupt", code=0, check=_moved_aside, guard_tmp=False)
def _(w, tmp):
    _corrupt_checkpoint(tmp / "a2e", w.a2e)
    return train_a2e(w, tmp)


@case("nerf-checkpoint-corrupt", code=0, check=lambda w, tmp, err: _moved_aside(w, tmp, err, "nerf"), guard_tmp=False)
def _(w, tmp):
    _corrupt_checkpoint(tmp / "nerf", w.nerf)
    return train_nerf(w, tmp)


def _unfinished(model: Path, *finals: str) -> Path:
    """The model folder as a crash left it: its checkpoints (the last one truncated), no final files."""
    for name in finals:
        (model / name).unlink()
    truncate(model / "checkpoint.pt", 0.3)
    return model


def _resumed_from_previous(w: World, tmp: Path, err: str, folder: str = "a2e") -> None:
    assert "resuming from the last good checkpoint" in err and "checkpoint.prev.pt (iteration 2)" in err, err
    assert len(list((tmp / folder).glob("checkpoint.pt.corrupt-*"))) == 1


def _same_model_as_uninterrupted(w: World, tmp: Path, err: str) -> None:
    import torch
    from safetensors.torch import load_file

    _resumed_from_previous(w, tmp, err)
    got, want = load_file(str(tmp / "a2e" / "model.safetensors")), load_file(str(w.a2e / "model.safetensors"))
    assert all(torch.equal(got[k], want[k]) for k in want), "the resumed model differs from the uninterrupted one"


@case("a2e-checkpoint-corrupt-resumes-previous", code=0, check=_same_model_as_uninterrupted, guard_tmp=False)
def _(w, tmp):
    _unfinished(w.copy("a2e", tmp), "model.safetensors", "model.json", "history.json")
    return train_a2e(w, tmp)


def _nerf_resumed(w: World, tmp: Path, err: str) -> None:
    from emohead.render import load_nerf

    _resumed_from_previous(w, tmp, err, "nerf")
    load_nerf(tmp / "nerf")


@case("nerf-checkpoint-corrupt-resumes-previous", code=0, check=_nerf_resumed, guard_tmp=False)
def _(w, tmp):
    _unfinished(w.copy("nerf", tmp), "nerf.safetensors", "nerf.json", "history.json")
    return train_nerf(w, tmp)


@case("a2e-out-model-json-truncated", "model.json", "damaged or truncated")
def _(w, tmp):
    truncate(w.copy("a2e", tmp) / "model.json")
    return train_a2e(w, tmp)


def _pickled_checkpoint_refused(w: World, tmp: Path, err: str) -> None:
    no_payload(w, tmp, err)
    assert list((tmp / "a2e").glob("checkpoint.pt.corrupt-*")) and (tmp / "a2e" / "model.safetensors").is_file()


@case("a2e-checkpoint-pickle", code=0, check=_pickled_checkpoint_refused, guard_tmp=False)
def _(w, tmp):
    import torch

    (tmp / "a2e").mkdir()
    torch.save({"iteration": 2, "model": Payload(tmp / "pwned")}, tmp / "a2e" / "checkpoint.pt")
    return train_a2e(w, tmp)


@pytest.fixture
def caplog_warnings(caplog):
    caplog.set_level("WARNING")
    return caplog


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_fault(c: Case, world: World, tmp_path: Path, capsys, caplog_warnings):
    argv = c.setup(world, tmp_path)
    before_world, before_tmp = snapshot(world.root), snapshot(tmp_path)
    capsys.readouterr()
    # another writer's lock, where the case needs one: flock is per open file, so it holds against this process too
    with FolderLock(tmp_path / c.held) if c.held else contextlib.nullcontext():
        code = run_cli(argv)                            # an exception escaping main() fails the case: a raw traceback
    captured = capsys.readouterr()
    err = captured.err + "\n" + "\n".join(r.getMessage() for r in caplog_warnings.records)
    assert code == c.code, f"exit {code}, stderr:\n{err}"
    assert "Traceback" not in err
    fill = {"train": world.clip("train"), "test": world.clip("test"), "tmp": str(tmp_path)}
    for word in c.words:
        assert word.format(**fill) in err, f"{word.format(**fill)!r} not in:\n{err}"
    assert snapshot(world.root) == before_world, "the shared world changed"
    if c.guard_tmp:
        after = snapshot(tmp_path)
        changed = [p for p, h in before_tmp.items() if after.get(p) != h]
        assert not changed, f"files already written changed or vanished: {changed}"
    if c.check is not None:
        assert c.check(world, tmp_path, err) is not False


# concurrency and interruption: the cases that need a process of their own ---------------------------------------------
REPO = Path(__file__).resolve().parents[1]
# long enough that a run is still going well after its first checkpoint (about 1.5 s on a busy 2-core CPU)
LONG_A2E = settings({"audio2exp.iterations": 160, "audio2exp.checkpoint_every": 10})
LONG_NERF = settings({"nerf.iterations": 100, "nerf.refine_start": 100, "nerf.checkpoint_every": 5})


def spawn(argv: list, stderr: Path) -> subprocess.Popen:
    """``python -m emohead ARGV`` in a process of its own (one torch thread), stderr to a file."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(stderr, "w") as fh:
        return subprocess.Popen([sys.executable, "-m", "emohead", *map(str, argv)], stdout=subprocess.DEVNULL,
                                stderr=fh, env=env, cwd=REPO)


def wait_for(ready: Callable[[], bool], proc: subprocess.Popen, stderr: Path, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before it got there:\n{stderr.read_text()[-3000:]}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"timed out waiting:\n{stderr.read_text()[-3000:]}")
        time.sleep(0.02)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGSTOP ``proc`` and wait until every thread of it has stopped (kill() returns before that happens)."""
    proc.send_signal(signal.SIGSTOP)
    end = time.monotonic() + timeout
    while True:
        states = []
        for stat in Path(f"/proc/{proc.pid}/task").glob("*/stat"):
            try:
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
            except (OSError, IndexError):
                pass                                            # a thread that just ended
        if states and all(s in "Tt" for s in states):
            return
        if time.monotonic() > end:
            pytest.fail(f"process {proc.pid} did not stop (thread states {states})")
        time.sleep(0.005)


def holds_lock(folder: Path) -> Callable[[], bool]:
    lock = folder.with_name(folder.name + ".lock")
    return lambda: lock.is_file() and "pid" in lock.read_text()


def run_captured(argv: list) -> tuple[int, str]:
    """(exit status, stderr and the emohead log at INFO) of the CLI run in this process."""
    import io
    import logging

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    logger = logging.getLogger("emohead")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stderr(buf):
            code = run_cli(argv)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return code, buf.getvalue()


def relative_snapshot(root: Path) -> dict[str, str]:
    return {str(Path(p).relative_to(root)): h for p, h in snapshot(root).items()}


def tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.fixture(scope="module")
def synth_faults(world, tmp_path_factory) -> dict:
    """A synth run stopped while writing; a second synth (another seed) into the same --out; kill -9; a rerun."""
    tmp = tmp_path_factory.mktemp("synth_faults")
    out, err = tmp / "data", tmp / "first.stderr"
    first = spawn(["synth", "--out", out, *S], err)
    staging = tmp / "data.partial"
    wait_for(lambda: holds_lock(out)() and any(staging.glob("clips/*/words.json")), first, err)
    stop(first)                                            # hold it still: what the second writer might touch is fixed
    before = snapshot(staging)
    second = run_captured(["synth", "--out", out, *S, "--seed", "1"])
    touched = snapshot(staging) != before
    first.kill()                                           # kill -9 in the middle of the corpus
    first.wait(timeout=30)
    left = {"manifest": (out / "manifest.json").exists(), "staging": staging.exists(),
            "lock": (tmp / "data.lock").read_text()}
    rerun = run_captured(["synth", "--out", out, *S])
    return {"first": first, "second": second, "touched": touched, "left": left, "rerun": rerun,
            "same_as_world": relative_snapshot(out) == relative_snapshot(world.data)}


@pytest.fixture(scope="module")
def a2e_faults(world, tmp_path_factory) -> dict:
    """train-a2e: an uninterrupted reference; a run stopped at a checkpoint, a second trainer of its folder, Ctrl-C,
    a rerun; another run killed with -9 at a checkpoint, a rerun."""
    tmp = tmp_path_factory.mktemp("a2e_faults")

    def argv(out):
        return ["train-a2e", "--data", world.data, "--hyperplanes", world.planes, "--features", world.features,
                "--out", out, *S, *LONG_A2E]

    reference = run_captured(argv(tmp / "reference"))
    assert reference[0] == 0, reference[1]
    out, err = tmp / "a2e", tmp / "first.stderr"
    first = spawn(argv(out), err)
    wait_for(lambda: (out / "checkpoint.pt").is_file(), first, err)
    stop(first)
    before = snapshot(out)
    second = run_captured(argv(out))
    touched = snapshot(out) != before
    first.send_signal(signal.SIGINT)                       # Ctrl-C, delivered as it runs again
    first.send_signal(signal.SIGCONT)
    first.wait(timeout=60)
    import torch

    stopped_at = torch.load(out / "checkpoint.pt", weights_only=True)["iteration"]
    resumed = run_captured(argv(out))
    killed_out, killed_err = tmp / "killed", tmp / "killed.stderr"
    killed = spawn(argv(killed_out), killed_err)
    wait_for(lambda: (killed_out / "checkpoint.pt").is_file(), killed, killed_err)
    killed.kill()
    killed.wait(timeout=30)
    killed_finished = (killed_out / "model.safetensors").exists()
    after_kill = run_captured(argv(killed_out))
    return {"tmp": tmp, "first": first, "first_err": err.read_text(), "second": second, "touched": touched,
            "stopped_at": stopped_at, "resumed": resumed, "killed_finished": killed_finished,
            "after_kill": after_kill}


@pytest.fixture(scope="module")
def nerf_faults(world, tmp_path_factory) -> dict:
    """train-nerf stopped at a checkpoint, a second trainer of its folder, kill -9, a rerun."""
    tmp = tmp_path_factory.mktemp("nerf_faults")
    out, err = tmp / "nerf", tmp / "first.stderr"
    argv = ["train-nerf", "--data", world.data, "--a2e", world.a2e, "--out", out, *S, *N, *LONG_NERF]
    first = spawn(argv, err)
    wait_for(lambda: (out / "checkpoint.pt").is_file(), first, err)
    stop(first)
    before = snapshot(out)
    second = run_captured(argv)
    touched = snapshot(out) != before
    first.kill()
    first.wait(timeout=30)
    finished = (out / "nerf.safetensors").exists()
    rerun = run_captured(argv)
    return {"out": out, "first": first, "second": second, "touched": touched, "finished": finished, "rerun": rerun}


def _two_writers(result: dict, command: str) -> None:
    code, err = result["second"]
    assert code == 2 and "Traceback" not in err, err
    assert "another writer holds it" in err and f"pid {result['first'].pid}" in err and command in err, err
    assert not result["touched"], "the second writer changed the first one's files"


def _case_two_synth_writers(synth_faults, **_):
    _two_writers(synth_faults, "synth")


def _case_kill9_synth(synth_faults, **_):
    left = synth_faults["left"]
    assert not left["manifest"] and left["staging"], "kill -9 left a dataset that looks complete"
    assert "pid" in left["lock"]                                  # the dead holder's name stays; flock is gone
    code, err = synth_faults["rerun"]
    assert code == 0 and "Traceback" not in err, err
    assert synth_faults["same_as_world"], "the rerun's dataset differs from an uninterrupted one"


def _case_two_a2e_trainers(a2e_faults, **_):
    _two_writers(a2e_faults, "train-a2e")


def _case_sigint_train_a2e(a2e_faults, **_):
    import torch

    first, tmp = a2e_faults["first"], a2e_faults["tmp"]
    assert first.returncode == 130 and "Traceback" not in a2e_faults["first_err"], a2e_faults["first_err"]
    assert "interrupted" in a2e_faults["first_err"] and "re-run the same command to resume" in a2e_faults["first_err"]
    k = a2e_faults["stopped_at"]
    assert 10 <= k < 160
    code, err = a2e_faults["resumed"]
    assert code == 0 and f"at iteration {k}" in err, err
    got, want = tensors(tmp / "a2e" / "model.safetensors"), tensors(tmp / "reference" / "model.safetensors")
    assert got.keys() == want.keys() and all(torch.equal(got[k_], want[k_]) for k_ in want), \
        "the resumed run differs from the uninterrupted one"


def _case_kill9_train_a2e(a2e_faults, **_):
    import torch

    assert not a2e_faults["killed_finished"]
    code, err = a2e_faults["after_kill"]
    assert code == 0 and "resuming audio-expression training" in err, err
    tmp = a2e_faults["tmp"]
    got, want = tensors(tmp / "killed" / "model.safetensors"), tensors(tmp / "reference" / "model.safetensors")
    assert all(torch.equal(got[k], want[k]) for k in want), "the resumed run differs from the uninterrupted one"


def _case_two_nerf_trainers(nerf_faults, **_):
    _two_writers(nerf_faults, "train-nerf")


def _case_kill9_train_nerf(nerf_faults, **_):
    from emohead.render import load_nerf

    assert not nerf_faults["finished"]
    code, err = nerf_faults["rerun"]
    assert code == 0 and "resuming NeRF training" in err and "Traceback" not in err, err
    history = json.loads((nerf_faults["out"] / "history.json").read_text())
    assert np.isfinite(history["final_val"]["psnr"])
    load_nerf(nerf_faults["out"])                                  # whole and finite


PROCESS_CASES = {
    "two-synth-writers": (_case_two_synth_writers, "synth_faults"),
    "kill9-synth": (_case_kill9_synth, "synth_faults"),
    "two-a2e-trainers": (_case_two_a2e_trainers, "a2e_faults"),
    "sigint-train-a2e": (_case_sigint_train_a2e, "a2e_faults"),
    "kill9-train-a2e": (_case_kill9_train_a2e, "a2e_faults"),
    "two-nerf-trainers": (_case_two_nerf_trainers, "nerf_faults"),
    "kill9-train-nerf": (_case_kill9_train_nerf, "nerf_faults"),
}


@pytest.mark.parametrize("case_id", list(PROCESS_CASES))
def test_process_fault(case_id: str, request):
    check, fixture = PROCESS_CASES[case_id]
    check(**{fixture: request.getfixturevalue(fixture)})


def test_the_catalogue_in_the_docs_lists_every_case():
    """docs/faults.md is the table of this file: every case id above appears there, and only those."""
    import re

    doc = (REPO / "docs" / "faults.md").read_text(encoding="utf-8")
    ids = {c.id for c in CASES} | set(PROCESS_CASES)
    named = {m for m in re.findall(r"`([a-z0-9]+(?:-[a-z0-9]+)+)`", doc) if not m.startswith(("fit-hyperplanes",
                                                                                               "train-"))}
    assert not ids - named, f"cases missing from docs/faults.md: {sorted(ids - named)}"
    assert not named - ids, f"docs/faults.md names cases that do not exist: {sorted(named - ids)}"
    assert f"{len(ids)} cases" in doc
