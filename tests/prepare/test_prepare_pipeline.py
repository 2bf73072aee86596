"""prepare_dataset: resuming a killed run clip by clip, skipping bad clips, and the command line."""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace

import numpy as np
import pytest

from emohead.data import ProcessedDataset
from emohead.prepare.cli import add_prepare_parser, run_prepare
from emohead.prepare.pipeline import PrepareError, prepare_dataset
from emohead.prepare.sources import video_sources
from emohead.tracking.tracker import NoFaceError
from .prepare_fakes import FakeTracker, frames_pattern, tone, write_mp4


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three short videos of one person (0.6 s, 160 x 120, own audio track)."""
    root = tmp_path_factory.mktemp("videos")
    for i in range(3):
        write_mp4(root / f"take{i}.mp4", frames_pattern(15), 25, audio=tone(0.6, 200 + 50 * i))
    return sorted(root.glob("take*.mp4"))


def parse(argv):
    parser = argparse.ArgumentParser(prog="emohead")
    add_prepare_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_a_killed_run_resumes_clip_by_clip(videos, tmp_path):
    clips = video_sources(videos, emotion="neutral")
    killer = FakeTracker(fail={"take1": KeyboardInterrupt()})         # Ctrl-C / kill while tracking clip 2
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(clips, tmp_path / "data", size=64, tracker=killer, progress=False)
    assert killer.calls == ["take0", "take1"]
    assert not (tmp_path / "data").exists()                            # nothing half-written
    assert (tmp_path / "data.work" / "track" / "take0.npz").is_file()

    again = FakeTracker()
    result = prepare_dataset(clips, tmp_path / "data", size=64, tracker=again, progress=False)
    assert again.calls == ["take1", "take2"]                           # take0 came from the cache
    assert result.tracked == ["take1", "take2"] and sorted(result.clips) == ["take0", "take1", "take2"]
    ds = ProcessedDataset(tmp_path / "data")
    assert len(ds) == 3 and ds.clips(split="test")

    third = FakeTracker()                                              # another size: no tracking at all
    prepare_dataset(clips, tmp_path / "data", size=32, tracker=third, progress=False, overwrite=True)
    assert third.calls == [] and ProcessedDataset(tmp_path / "data").records[0].image_size == 32


def test_a_bad_clip_is_skipped_and_named(videos, tmp_path, caplog):
    clips = video_sources(videos, emotion="happy")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(videos[0].read_bytes()[:2000])
    clips.append(replace(clips[0], id="broken", sentence="broken", video=broken))
    tracker = FakeTracker(fail={"take2": NoFaceError("take2", np.arange(10), 15, 0.5)})
    with caplog.at_level(logging.WARNING):
        result = prepare_dataset(clips, tmp_path / "data", size=64, tracker=tracker, progress=False)
    assert sorted(result.failed) == ["broken", "take2"]
    assert "clip 'take2'" in caplog.text and "no face in 10 of 15 frames" in caplog.text
    assert "broken.mp4" in result.failed["broken"] and "broken.mp4" in caplog.text
    ds = ProcessedDataset(tmp_path / "data")
    assert sorted(c.id for c in ds.records) == ["take0", "take1"]
    assert set(ds.extra["prepare"]["failed"]) == {"broken", "take2"}

    caplog.clear()                                                     # a rerun does not retry them
    tracker2 = FakeTracker()
    with caplog.at_level(logging.WARNING):
        prepare_dataset(clips, tmp_path / "data", size=64, tracker=tracker2, progress=False, overwrite=True)
    assert tracker2.calls == [] and "failed before" in caplog.text

    with pytest.raises(PrepareError, match="no clip could be prepared"):
        prepare_dataset(clips[2:3], tmp_path / "none", size=64, tracker=FakeTracker(), progress=False,
                        work_dir=tmp_path / "data.work")


def test_command_line(videos, tmp_path, capsys):
    out = tmp_path / "data"
    argv = ["prepare", "video", "--video", str(videos[0]), "--video", str(videos[1]), "--emotion", "sad",
            "--level", "2", "--speaker", "me", "--out", str(out), "--size", "64", "--no-progress"]
    assert run_prepare(parse(argv), tracker=FakeTracker()) == 0
    assert "wrote 2 clips" in capsys.readouterr().out
    ds = ProcessedDataset(out)
    assert ds.speakers == ("me",) and {(c.emotion, c.level) for c in ds.records} == {("sad", 2)}
    assert ds.extra["target_speaker"] == "me" and ds.extra["prepare"]["words"] == {"none": 2}

    # an existing dataset, bad arguments and missing inputs: status 2 and a message naming them
    cases = [(argv, "exists and is not empty"),
             ([*argv[:-5], "--out", str(tmp_path / "x"), "--size", "63"], "--size 63"),
             (["prepare", "video", "--video", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "y")], "nope.mp4"),
             (["prepare", "video", "--video", str(videos[0]), "--emotion", "bored", "--out", str(tmp_path / "y")],
              "bored"),
             (["prepare", "mead", "--raw", str(tmp_path / "no_mead"), "--actors", "M003", "--out", str(tmp_path / "y")],
              "no_mead"),
             (["prepare", "crema-d", "--raw", str(tmp_path), "--out", str(tmp_path / "y")], "VideoFlash"),
             (["prepare", "video", "--video", str(videos[0]), "--asr-path", str(tmp_path / "asr"),
               "--out", str(tmp_path / "y")], "--asr-path"),
             (["prepare", "video", "--video", str(videos[0]), "--out", str(videos[0] / "sub")], "lies under the file")]
    for args, message in cases:
        assert run_prepare(parse(args), tracker=FakeTracker()) == 2, args
        assert message in capsys.readouterr().err
    assert run_prepare(parse([*argv, "--force"]), tracker=FakeTracker()) == 0


def test_a_transcript_and_words_reach_the_dataset(videos, tmp_path):
    (tmp_path / "t.json").write_text(json.dumps({"words": [{"word": "hello", "start": 0.1, "end": 0.4}]}))
    clips = video_sources(videos[:2], transcripts=[tmp_path / "t.json", tmp_path / "t.json"])
    prepare_dataset(clips, tmp_path / "data", size=64, tracker=FakeTracker(), progress=False)
    ds = ProcessedDataset(tmp_path / "data")
    assert ds.words("take0")["words"] == [{"word": "hello", "start": 0.1, "end": 0.4}]
    assert ds.extra["prepare"]["words"] == {"given": 2}


def test_asr_path_gives_the_words(videos, tmp_path, monkeypatch):
    """--asr-path builds emohead's FunASR transcriber once and uses its words (a stand-in model here)."""
    import emohead.features.transcript as transcript

    built = []

    class FakeFunasr:
        def __init__(self, path, device="cpu"):
            built.append(path)

        def __call__(self, audio, words=None, *, where="clip"):
            return [{"word": "heard", "start": 0.0, "end": len(audio) / 16000 / 2}]

    monkeypatch.setattr(transcript, "FunasrTranscriber", FakeFunasr)
    (tmp_path / "asr").mkdir()
    clips = video_sources(videos[:2])
    prepare_dataset(clips, tmp_path / "data", size=64, tracker=FakeTracker(), asr_path=str(tmp_path / "asr"),
                    progress=False)
    ds = ProcessedDataset(tmp_path / "data")
    assert built == [str(tmp_path / "asr")]
    assert [w["word"] for w in ds.words("take1")["words"]] == ["heard"] and ds.extra["prepare"]["words"] == {"asr": 2}


@pytest.mark.parametrize("script", ["prepare_video.py", "prepare_mead.py", "prepare_cremad.py"])
def test_data_prep_scripts_call_the_package(script):
    import subprocess
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "data_prep" / script
    out = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--out" in out.stdout and "emohead prepare" in out.stdout
