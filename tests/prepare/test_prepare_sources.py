"""Finding clips in MEAD / CREMA-D trees and in your own videos; names and levels carried to the written dataset."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from emohead.data import ProcessedDataset
from emohead.prepare.pipeline import prepare_dataset
from emohead.prepare.sources import (CREMAD_SENTENCES, SourceError, cremad_sources, cut_points, emotion_list,
                                     mead_sources, video_sources)
from .prepare_fakes import FakeTracker, frames_pattern, tone, write_mp4, write_wav


def test_mead_layout_names_levels_and_skips(mead_tree, caplog):
    raw, expected = mead_tree
    with caplog.at_level(logging.WARNING):
        clips = mead_sources(raw, ["M003"])
    assert {c.id: (c.emotion, c.level) for c in clips} == expected
    assert all(c.speaker == "M003" and c.audio.suffix == ".m4a" and c.audio.is_file() for c in clips)
    assert {c.sentence for c in clips} == {"001", "002", "003"}
    log = caplog.text
    assert "bored" in log and "level_1/001.mp4" in log                     # the unknown emotion folder, named
    assert "sad/level_2/004.m4a is missing" in log                         # the missing audio, named
    only = mead_sources(raw, ["M003"], emotions=["angry"], levels=[3])
    assert [c.id for c in only] == ["M003_angry_3_002"]


def test_mead_errors_name_the_problem(mead_tree, tmp_path):
    raw, _ = mead_tree
    with pytest.raises(SourceError, match="M099"):
        mead_sources(raw, ["M099"])
    with pytest.raises(SourceError, match="'furious'"):
        mead_sources(raw, ["M003"], emotions=["furious"])
    with pytest.raises(SourceError, match="no usable clip.*sad/level_2/004.m4a is missing"):
        mead_sources(raw, ["M003"], emotions=["sad"])
    (tmp_path / "M005").mkdir()
    (tmp_path / "M005" / "video.tar").write_bytes(b"")
    with pytest.raises(SourceError, match="extract them"):
        mead_sources(tmp_path, ["M005"])


def test_cremad_layout_codes_levels_and_skips(cremad_tree, caplog):
    raw, expected = cremad_tree
    with caplog.at_level(logging.WARNING):
        clips = cremad_sources(raw)
    assert {c.id: (c.emotion, c.level, c.speaker) for c in clips} == expected
    assert {c.id: c.text for c in clips}["1001_IEO_NEU_LO"] == CREMAD_SENTENCES["IEO"]
    assert "1001_TIE_XYZ_XX.flv" in caplog.text and "'XYZ'" in caplog.text
    assert "AudioWAV/1001_IWW_SAD_MD.wav is missing" in caplog.text
    assert [c.id for c in cremad_sources(raw, actors=["1002"])] == ["1002_DFA_HAP_HI"]
    with pytest.raises(SourceError, match="no usable clip"):
        cremad_sources(raw, actors=["1001"], emotions=["sad"])
    with pytest.raises(SourceError, match="VideoFlash"):
        cremad_sources(raw / "VideoFlash")


def test_emotion_list():
    assert emotion_list(["neutral", "happy", "neutral"]) == ("happy", "neutral") and emotion_list(["neutral"]) == ("neutral",)
    assert emotion_list(["neutral", "anger"]) == ("anger", "neutral")
    with pytest.raises(SourceError, match="bored"):
        emotion_list(["bored"])
    with pytest.raises(SourceError, match="mix"):
        emotion_list(["angry", "anger"])


@pytest.mark.parametrize("which", ["mead", "crema-d"])
def test_datasets_end_to_end_with_a_fake_tracker(which, mead_tree, cremad_tree, tmp_path):
    """Emotion names, levels, speakers and sentences survive into the written dataset, which reads back valid."""
    raw, expected = mead_tree if which == "mead" else cremad_tree
    clips = mead_sources(raw, ["M003"]) if which == "mead" else cremad_sources(raw)
    result = prepare_dataset(clips, tmp_path / "data", size=64, tracker=FakeTracker(), source_name=which,
                             progress=False)
    ds = ProcessedDataset(tmp_path / "data")
    assert ds.source == which and sorted(result.clips) == sorted(expected)
    for rec in ds.records:
        assert (rec.emotion, rec.level) == tuple(expected[rec.id][:2])
        assert rec.image_size == 64 and rec.fps == 25
        arrays = ds.arrays(rec)                                  # validated against the format
        assert ds.frames(rec).shape == (rec.n_frames, 64, 64, 3)
        assert len(ds.audio(rec)) == rec.n_frames * 640
        assert np.isin(arrays["parsing"], [0, 1]).any() and (arrays["parsing"] >= 2).any()
        words = ds.words(rec)
        if which == "crema-d":                                   # the known sentence, aligned to its audio
            assert [w["word"] for w in words["words"]] == CREMAD_SENTENCES[rec.sentence].split()
    assert set(ds.summary()["splits"].values()) != {0} and ds.clips(split="test")
    if which == "crema-d":
        assert set(ds.speakers) == {"1001", "1002"} and ds.emotions == ("anger", "happy", "neutral")
        assert ds.clip("1001_DFA_ANG_XX").sentence == ds.clip("1002_DFA_HAP_HI").sentence == "DFA"
        assert ds.clip("1001_DFA_ANG_XX").split == ds.clip("1002_DFA_HAP_HI").split   # a sentence is held out whole


def test_own_video_is_cut_at_pauses(tmp_path):
    """A 6 s video with pauses near 2.2 s and 4.1 s, cut into ~2 s clips: the cuts land in the pauses."""
    audio = tone(6.0)
    for a, b in ((2.1, 2.35), (4.0, 4.2)):
        audio[int(a * 16000):int(b * 16000)] = 0.0
    write_mp4(tmp_path / "me.mp4", frames_pattern(150, (48, 64)), 25, audio=audio)
    cuts = cut_points(audio, 16000, 6.0, 2.0)
    assert len(cuts) == 3
    assert 2.1 <= cuts[0][1] <= 2.36 and 4.0 <= cuts[1][1] <= 4.2
    words = [{"word": w, "start": s, "end": s + 0.3} for w, s in (("one", 0.5), ("two", 2.6), ("three", 4.5))]
    (tmp_path / "me.json").write_text(json.dumps({"words": words}))
    clips = video_sources([tmp_path / "me.mp4"], emotion="happy", level=2, speaker="me", segment=2.0,
                          transcripts=[tmp_path / "me.json"])
    assert [c.id for c in clips] == ["me_000", "me_001", "me_002"]
    assert [c.sentence for c in clips] == [c.id for c in clips]
    assert clips[-1].end is None and all(c.emotion == "happy" and c.level == 2 for c in clips)
    assert [[w["word"] for w in c.words] for c in clips] == [["one"], ["two"], ["three"]]
    assert abs(clips[1].words[0]["start"] - (2.6 - clips[1].start)) < 1e-9


def test_own_video_errors(tmp_path):
    write_mp4(tmp_path / "silent.mp4", frames_pattern(10, (48, 64)), 25)
    write_wav(tmp_path / "a.wav", tone(0.4))
    with pytest.raises(SourceError, match="no audio track"):
        video_sources([tmp_path / "silent.mp4"])
    assert video_sources([tmp_path / "silent.mp4"], [tmp_path / "a.wav"])[0].audio == tmp_path / "a.wav"
    with pytest.raises(SourceError, match="missing.mp4"):
        video_sources([tmp_path / "missing.mp4"])
    with pytest.raises(SourceError, match="2 --audio files for 3 videos"):
        video_sources([tmp_path / "silent.mp4"] * 3, [tmp_path / "a.wav"] * 2)
    with pytest.raises(SourceError, match="bored"):
        video_sources([tmp_path / "silent.mp4"], [tmp_path / "a.wav"], emotion="bored")
