"""The synthetic corpus end to end: format, ground truth, determinism, bad input."""
import hashlib

import numpy as np
import pytest

from emohead.config import load_profile
from emohead.data import DatasetError, ProcessedDataset
from emohead.face.morphable import FACE_LABELS
from emohead.synth.corpus import generate_corpus, plan_corpus

TINY = {"synth.emotion_set": "crema", "synth.n_actors": 1, "synth.n_sentences": 2, "synth.n_test_sentences": 1,
        "synth.image_size": 48, "synth.levels": [1, 2, 3, 4]}


def tiny_profile(**extra):
    return load_profile("smoke", {**TINY, **extra})


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "data"
    generate_corpus(tiny_profile(), root, progress=False)
    return ProcessedDataset(root)


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_layout_and_split_by_sentence(tiny_corpus):
    ds = tiny_corpus
    assert ds.source == "synthetic" and ds.fps == 25 and ds.sample_rate == 16000
    assert set(ds.emotions) == {"anger", "disgust", "fear", "happy", "neutral", "sad"}
    assert len(ds) == len(plan_corpus(tiny_profile().synth)) == 12
    train_sentences = {c.sentence for c in ds.clips(split="train")}
    test_sentences = {c.sentence for c in ds.clips(split="test")}
    assert train_sentences and test_sentences and not (train_sentences & test_sentences)
    assert ds.beta_id("actor0").shape == (40,)
    # the manifest records the script: which sentences are held out, who speaks what, the word overlap
    split = ds.extra["sentence_split"]
    assert set(split["train"]) == train_sentences and set(split["test"]) == test_sentences
    assert set(ds.extra["sentences"]) == train_sentences | test_sentences and len(test_sentences) == 3
    assert ds.extra["test_words_seen_in_train"] >= 0.9
    for e, sids in ds.extra["sentences_by_emotion"].items():
        assert {c.sentence for c in ds.clips(emotion=e)} == set(sids)


def test_audio_matches_frames_and_word_times_are_inside(tiny_corpus):
    ds = tiny_corpus
    for clip in ds.records:
        audio = ds.audio(clip)
        assert len(audio) == clip.n_frames * ds.sample_rate // ds.fps
        assert np.abs(audio).max() > 0.05
        words = ds.words(clip)
        duration = len(audio) / ds.sample_rate
        for key in ("words", "phonemes"):
            starts = [w["start"] for w in words[key]]
            assert starts == sorted(starts) and len(starts) > 0
            assert all(0 <= w["start"] <= w["end"] <= duration + 1e-3 for w in words[key])
        assert [w["word"] for w in words["words"]] == [w.strip(".,?!") for w in words["text"].split()]


def test_ground_truth_arrays(tiny_corpus):
    ds = tiny_corpus
    clip = ds.records[0]
    a = ds.arrays(clip)
    T = clip.n_frames
    assert a["alpha"].shape == (T, 10) and a["landmarks"].shape == (T, 68, 2) and a["parsing"].shape == (T, 48, 48)
    frames = ds.frames(clip)
    assert frames.shape == (T, 48, 48, 3)
    # rotations are rotations
    R = a["pose_R"]
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-5)


def test_landmarks_fall_on_the_rendered_face(tiny_corpus):
    ds = tiny_corpus
    hits = total = 0
    for clip in ds.records[:4]:
        a = ds.arrays(clip)
        xy = np.clip(np.round(a["landmarks"]).astype(int), 0, clip.image_size - 1)
        t = np.arange(len(xy))[:, None]
        labels = a["parsing"][t, xy[..., 1], xy[..., 0]]
        hits += np.isin(labels, FACE_LABELS).sum()
        total += labels.size
    assert hits / total > 0.9


def test_mar_follows_jaw_opening(tiny_corpus):
    ds = tiny_corpus
    from emohead.face.procedural import build_procedural_model

    jaw = list(build_procedural_model().au_names).index("AU26")
    mar, au26 = [], []
    for clip in ds.records:
        a = ds.arrays(clip)
        mar.append(a["mar"])
        au26.append(a["au"][:, jaw])
    corr = np.corrcoef(np.concatenate(mar), np.concatenate(au26))[0, 1]
    assert corr > 0.6


def test_emotions_differ_in_ground_truth(tiny_corpus):
    ds = tiny_corpus
    mean_alpha = {e: np.concatenate([ds.arrays(c)["alpha"] for c in ds.clips(emotion=e)]).mean(0) for e in ds.emotions}
    assert np.linalg.norm(mean_alpha["happy"] - mean_alpha["sad"]) > 0.5


@pytest.mark.slow
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, tiny_corpus):
    generate_corpus(tiny_profile(), tmp_path / "again", progress=False)
    assert _digest(tmp_path / "again") == _digest(tiny_corpus.root)
    generate_corpus(tiny_profile(**{"synth.seed": 1}), tmp_path / "other", progress=False)
    assert _digest(tmp_path / "other") != _digest(tiny_corpus.root)


@pytest.mark.parametrize("overrides, message", [
    ({"synth.image_size": 0}, "synth.image_size: must be > 0"),          # refused when the config is parsed
    ({"synth.image_size": 33}, "synth.image_size=33"),
    ({"synth.n_test_sentences": 2}, "synth.n_test_sentences=2"),
    ({"synth.n_sentences": 999}, "synth.n_sentences=999"),
    ({"synth.levels": [5]}, "synth.levels"),
    ({"synth.n_actors": 0}, "synth.n_actors: must be > 0"),
])
def test_bad_settings_fail_before_writing(tmp_path, overrides, message):
    out = tmp_path / "data"
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        generate_corpus(tiny_profile(**overrides), out, progress=False)
    assert not out.exists() and not (tmp_path / "data.partial").exists()


def test_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DatasetError, match="cannot create the output folder"):
        generate_corpus(tiny_profile(), blocker / "data", progress=False)


def test_failure_mid_corpus_leaves_nothing(tmp_path, monkeypatch):
    import emohead.synth.corpus as corpus

    calls = {"n": 0}
    real = corpus.synthesize_clip

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(corpus, "synthesize_clip", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_corpus(tiny_profile(), tmp_path / "data", progress=False)
    assert not (tmp_path / "data").exists() and not (tmp_path / "data.partial").exists()
    with pytest.raises(DatasetError, match="not found"):
        ProcessedDataset(tmp_path / "data")


def test_clip_bad_input():
    from emohead.face.camera import default_camera
    from emohead.face.procedural import build_procedural_model
    from emohead.synth.actors import make_actors
    from emohead.synth.clip import synthesize_clip

    model = build_procedural_model()
    actor = make_actors(1, 0, model.au_names, model.shape_basis.shape[2])[0]
    cam = default_camera(48)
    with pytest.raises(ValueError, match="empty"):
        synthesize_clip(model, actor, "   ", "happy", 1, camera=cam, image_size=48)
    with pytest.raises(ValueError, match="bored"):
        synthesize_clip(model, actor, "hello there", "bored", 1, camera=cam, image_size=48)


def test_cli_synth_writes_a_dataset(tmp_path, capsys):
    from emohead.cli import main

    args = ["synth", "--profile", "smoke", "--out", str(tmp_path / "d"), "--seed", "3"]
    for k, v in TINY.items():
        args += ["--set", f"{k}={v}"]
    assert main(args) == 0
    ds = ProcessedDataset(tmp_path / "d")
    assert ds.extra["seed"] == 3 and len(ds) == 12
    assert main(args) == 2  # exists: refuses without --force
    assert "exists" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0
    assert main(["synth", "--profile", "smoke", "--out", str(tmp_path / "e"), "--set", "synth.image_size=0"]) == 2
    assert "synth.image_size: must be > 0" in capsys.readouterr().err
