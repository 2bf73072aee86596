"""extract_dataset on a tiny synthetic corpus: cache hits, invalidation, and emotion in the features."""
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from emohead.config import FeatureConfig, load_profile
from emohead.data import ProcessedDataset
from emohead.features import FeatureStore, extract_dataset
from emohead.features.prosody import prosody_columns
from emohead.synth.corpus import generate_corpus

TINY = {"synth.emotion_set": "crema", "synth.n_actors": 1, "synth.n_sentences": 2, "synth.image_size": 48}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("feat_corpus") / "data"
    generate_corpus(load_profile("smoke", TINY), root, progress=False)
    return root


def test_store_contents(corpus, tmp_path):
    ds = ProcessedDataset(corpus)
    store = extract_dataset(ds, FeatureConfig(hashed_dim=32), tmp_path / "f", progress=False)
    assert store.dims == {"audio": 640, "emotion": 40, "text": 32}
    assert store.backends == {"audio": "spectral", "emotion": "prosody", "transcript": "dataset", "text": "hashed"}
    assert store.clip_ids == sorted(r.id for r in ds.records) and store.last_run == {"computed": len(ds), "cached": 0}
    rec = ds.records[0]
    f = store.get(rec.id)
    assert f.audio.shape == (rec.n_frames, 640) and f.text.shape == (rec.n_frames, 32)
    assert f.words[0] is None and set(w for w in f.words if w) <= {w["word"] for w in ds.words(rec)["words"]}
    index = json.loads((tmp_path / "f" / "index.json").read_text())
    assert index["config"]["hashed_dim"] == 32 and index["clips"][rec.id]["n_frames"] == rec.n_frames
    # reopening the folder gives the same store
    again = FeatureStore(tmp_path / "f")
    np.testing.assert_array_equal(again.get(rec.id).emotion, f.emotion)
    with pytest.raises(KeyError, match="no features for clip 'nope'"):
        again.get("nope")


def test_cache_hit_and_invalidation(corpus, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    ds = ProcessedDataset(data)
    out = tmp_path / "f"
    cfg = FeatureConfig(hashed_dim=16)
    store = extract_dataset(ds, cfg, out, progress=False)
    n = len(ds)
    assert store.last_run == {"computed": n, "cached": 0}
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npz")}
    index_mtime = (out / "index.json").stat().st_mtime_ns

    store = extract_dataset(ds, cfg, out, progress=False)                      # same settings: all reused
    assert store.last_run == {"computed": 0, "cached": n}
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.npz")} == mtimes
    # nor is index.json rewritten: `emohead reproduce` fingerprints run files by size and mtime, and a notebook that
    # only reuses features must not make the earlier notebooks look stale (issue 22's first GPU run re-ran 01-04)
    assert (out / "index.json").stat().st_mtime_ns == index_mtime

    rec = ds.records[1]                                                         # change one clip's audio
    wav, sr = sf.read(ds.path(rec, "audio"), dtype="float32")
    sf.write(ds.path(rec, "audio"), wav * 0.5, sr)
    store = extract_dataset(ds, cfg, out, progress=False)
    assert store.last_run == {"computed": 1, "cached": n - 1}

    store = extract_dataset(ds, FeatureConfig(hashed_dim=24), out, progress=False)  # changed setting: all
    assert store.last_run == {"computed": n, "cached": 0} and store.dims["text"] == 24

    (out / "index.json").unlink()                                               # an interrupted run's npz files
    store = extract_dataset(ds, FeatureConfig(hashed_dim=24), out, progress=False, clips=[r.id for r in ds.records[:3]])
    assert store.last_run == {"computed": 0, "cached": 3} and len(store) == 3


def test_prosody_and_spectral_differ_between_happy_and_sad(corpus, tmp_path):
    ds = ProcessedDataset(corpus)
    store = extract_dataset(ds, FeatureConfig(hashed_dim=8), tmp_path / "f", progress=False)
    cols = prosody_columns()
    pairs = 0
    for sentence in ds.sentences:
        happy = ds.clips(emotion="happy", sentence=sentence)
        sad = ds.clips(emotion="sad", sentence=sentence)
        for h, s in zip(happy, sad):
            fh, fs = store.get(h.id), store.get(s.id)
            voiced_h, voiced_s = [f.emotion[:, cols.index("voicing/frame_mean")] > 0.5 for f in (fh, fs)]
            f0_h = fh.emotion[voiced_h, cols.index("f0/frame_mean")].mean()
            f0_s = fs.emotion[voiced_s, cols.index("f0/frame_mean")].mean()
            assert f0_h > f0_s + 1.0, (h.id, s.id, f0_h, f0_s)                # semitones: happy is higher
            assert np.abs(fh.audio.mean(0) - fs.audio.mean(0)).mean() > 0.1    # the spectra differ too
            pairs += 1
    assert pairs >= 2
