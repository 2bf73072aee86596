import json

import numpy as np
import pytest

from emohead.data import DatasetError, DatasetWriter, ProcessedDataset, read_video

T, H, FPS, SR = 6, 16, 25, 16000


def clip_arrays(t=T, h=H):
    rng = np.random.default_rng(0)
    return {
        "alpha": rng.normal(size=(t, 10)).astype(np.float32),
        "pose_R": np.tile(np.eye(3, dtype=np.float32), (t, 1, 1)),
        "pose_t": np.zeros((t, 3), np.float32),
        "landmarks": rng.uniform(0, h, size=(t, 68, 2)).astype(np.float32),
        "mar": rng.uniform(0, 1, size=t).astype(np.float32),
        "parsing": rng.integers(0, 8, size=(t, h, h)).astype(np.uint8),
        "intrinsics": np.eye(3, dtype=np.float32),
        "au": rng.uniform(size=(t, 5)).astype(np.float32),
    }


def clip_kwargs(cid="a_happy_s1", **over):
    frames = (np.arange(T * H * H * 3) % 251).astype(np.uint8).reshape(T, H, H, 3)
    kw = dict(id=cid, speaker="a", emotion="happy", level=2, split="train", sentence="s1",
              audio=np.zeros(T * SR // FPS, np.float32), frames=frames, arrays=clip_arrays(),
              words={"text": "hi there", "words": [{"word": "hi", "start": 0.0, "end": 0.1},
                                                   {"word": "there", "start": 0.1, "end": 0.2}]})
    kw.update(over)
    return kw


def write_dataset(root, n=2):
    with DatasetWriter(root, source="test", emotions=("happy", "sad")) as w:
        w.add_speaker("a", np.arange(4, dtype=np.float32))
        for i in range(n):
            w.add_clip(**clip_kwargs(f"c{i}", emotion=("happy", "sad")[i % 2], split=("train", "test")[i % 2]))
    return root


def test_round_trip(tmp_path):
    root = write_dataset(tmp_path / "ds")
    ds = ProcessedDataset(root)
    assert len(ds) == 2 and ds.speakers == ("a",) and ds.emotions == ("happy", "sad")
    assert [c.id for c in ds.clips(split="test")] == ["c1"]
    assert [c.id for c in ds.clips(emotion="happy")] == ["c0"]
    arrays = ds.arrays("c0")
    np.testing.assert_array_equal(arrays["alpha"], clip_arrays()["alpha"])
    np.testing.assert_array_equal(arrays["parsing"], clip_arrays()["parsing"])
    assert ds.audio("c0").shape == (T * SR // FPS,)
    frames = ds.frames("c0")
    assert frames.shape == (T, H, H, 3)
    assert ds.words("c0")["words"][1]["word"] == "there"
    np.testing.assert_array_equal(ds.beta_id("a"), np.arange(4))
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["clips"][0]["paths"]["audio"] == "clips/c0/audio.wav"
    assert {"id", "speaker", "emotion", "level", "split", "n_frames", "fps", "paths"} <= set(manifest["clips"][0])
    assert ds.summary()["splits"] == {"train": 1, "test": 1}
    assert not (tmp_path / "ds.partial").exists()


def test_failure_leaves_no_half_written_dataset(tmp_path):
    root = tmp_path / "ds"
    with pytest.raises(RuntimeError):
        with DatasetWriter(root, source="test", emotions=("happy",)) as w:
            w.add_speaker("a", np.zeros(3))
            w.add_clip(**clip_kwargs("c0"))
            raise RuntimeError("crash mid-way")
    assert not root.exists() and not (tmp_path / "ds.partial").exists()


def test_failure_keeps_the_previous_dataset(tmp_path):
    root = write_dataset(tmp_path / "ds")
    before = (root / "manifest.json").read_bytes()
    with pytest.raises(DatasetError):
        with DatasetWriter(root, source="test", emotions=("happy",), overwrite=True) as w:
            w.add_speaker("a", np.zeros(3))
            w.add_clip(**clip_kwargs("c0", emotion="angry"))
    assert (root / "manifest.json").read_bytes() == before
    assert len(ProcessedDataset(root)) == 2


def test_refuses_to_overwrite_without_permission(tmp_path):
    root = write_dataset(tmp_path / "ds")
    with pytest.raises(DatasetError, match="exists"):
        DatasetWriter(root, source="test", emotions=("happy",))


@pytest.mark.parametrize("over, message", [
    (dict(emotion="angry"), "emotion 'angry'"),
    (dict(split="val"), "split 'val'"),
    (dict(speaker="b"), "speaker 'b'"),
    (dict(id="bad id"), "clip id 'bad id'"),
    (dict(audio=np.zeros(100, np.float32)), "audio has 100 samples"),
    (dict(frames=np.zeros((T, H, H + 2, 3), np.uint8)), "frames must be square"),
    (dict(arrays={k: v for k, v in clip_arrays().items() if k != "mar"}), r"missing array\(s\) \['mar'\]"),
    (dict(arrays={**clip_arrays(), "alpha": np.zeros((T, 9), np.float32)}), "field 'alpha' has shape"),
    (dict(arrays={**clip_arrays(), "pose_t": np.full((T, 3), np.nan, np.float32)}), "field 'pose_t' contains NaN"),
    (dict(arrays={**clip_arrays(), "parsing": np.zeros((T, H, H), np.int32)}), "field 'parsing' must be uint8"),
    (dict(words={"words": [{"word": "b", "start": 0.15, "end": 0.2}, {"word": "a", "start": 0.1, "end": 0.2}]}), "out of order"),
    (dict(words={"words": [{"word": "late", "start": 0.1, "end": 9.0}]}), "outside the audio"),
])
def test_writer_validation_names_clip_and_field(tmp_path, over, message):
    with pytest.raises(DatasetError, match=message):
        with DatasetWriter(tmp_path / "ds", source="test", emotions=("happy", "sad")) as w:
            w.add_speaker("a", np.zeros(3))
            w.add_clip(**clip_kwargs(**over))
    assert not (tmp_path / "ds").exists()


def _edit_manifest(root, fn):
    path = root / "manifest.json"
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("fps"), "missing field 'fps'"),
    (lambda d: d.update(fps="25"), "field 'fps' must be int"),
    (lambda d: d.update(format="other"), "field 'format'"),
    (lambda d: d["clips"][0].pop("split"), r"clips\[0\]: missing field 'split'"),
    (lambda d: d["clips"][0].update(emotion="angry"), r"clips\[0\] \('c0'\): field 'emotion'"),
    (lambda d: d["clips"][1].update(id="c0"), "duplicate clip id 'c0'"),
    (lambda d: d["clips"][0]["paths"].pop("video"), "'paths' lacks"),
])
def test_reader_validation_names_file_and_field(tmp_path, edit, message):
    root = write_dataset(tmp_path / "ds")
    _edit_manifest(root, edit)
    with pytest.raises(DatasetError, match=r"manifest.json.*" + message):
        ProcessedDataset(root)


def test_reader_detects_bad_clip_files(tmp_path):
    root = write_dataset(tmp_path / "ds")
    np.savez(root / "clips/c0/arrays.npz", **{**clip_arrays(), "mar": np.zeros(T + 1, np.float32)})
    with pytest.raises(DatasetError, match=r"c0/arrays.npz.*field 'mar'"):
        ProcessedDataset(root).arrays("c0")
    (root / "clips/c1/audio.wav").unlink()
    with pytest.raises(DatasetError, match=r"c1/audio.wav: missing audio"):
        ProcessedDataset(root).audio("c1")


def test_reader_names_nan_and_truncated_arrays(tmp_path):
    root = write_dataset(tmp_path / "ds")
    alpha = clip_arrays()["alpha"]
    alpha[3, 2] = np.nan
    np.savez(root / "clips/c0/arrays.npz", **{**clip_arrays(), "alpha": alpha})
    for names in (None, ["alpha"]):                   # the full validation and a stage reading one field
        with pytest.raises(DatasetError, match=r"c0/arrays.npz.*'alpha'.*NaN") as e:
            ProcessedDataset(root).arrays("c0", names=names)
    assert "frame 3" in str(e.value) and "'c0'" in str(e.value)
    path = root / "clips/c1/arrays.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])       # truncated, as after a crash
    with pytest.raises(DatasetError, match=r"c1/arrays.npz: cannot read .*corrupt or truncated"):
        ProcessedDataset(root).arrays("c1", names=["alpha"])


def test_reader_names_frames_of_another_size(tmp_path):
    from emohead.data import write_video

    root = write_dataset(tmp_path / "ds")
    write_video(root / "clips/c0/video.mp4", np.zeros((T, 2 * H, 2 * H, 3), np.uint8), FPS)
    with pytest.raises(DatasetError, match=rf"c0/video.mp4: frames of clip 'c0' are {2 * H}x{2 * H} px, the manifest says {H}x{H}"):
        ProcessedDataset(root).frames("c0")


def test_reader_names_a_transcript_past_the_clip_or_not_json(tmp_path):
    root = write_dataset(tmp_path / "ds")
    words = root / "clips/c0/words.json"
    data = json.loads(words.read_text())
    data["words"].append({"word": "late", "start": 5.0, "end": 5.5})          # the clip lasts 0.24 s
    words.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"c0/words.json: words\[2\] \('late'\) .* outside the audio"):
        ProcessedDataset(root).words("c0")
    words.write_bytes(b"\xff\xfe not json")
    with pytest.raises(DatasetError, match=r"c0/words.json: not valid JSON"):
        ProcessedDataset(root).words("c0")


def test_a_second_writer_of_the_same_dataset_fails_at_once_naming_the_first(tmp_path):
    import subprocess
    import sys

    root = tmp_path / "ds"
    first = DatasetWriter(root, source="test", emotions=("happy", "sad"))
    first.add_speaker("a", np.arange(4, dtype=np.float32))
    first.add_clip(**clip_kwargs("c0"))
    with pytest.raises(DatasetError, match=rf"{root.name}: another writer holds it \(pid \d+"):
        DatasetWriter(root, source="test", emotions=("happy", "sad"))
    probe = ("import sys; from emohead.data import DatasetWriter, DatasetError\n"
             "try:\n    DatasetWriter(sys.argv[1], source='t', emotions=('happy',))\n"
             "except DatasetError as e:\n    print(e); sys.exit(2)\n")
    other = subprocess.run([sys.executable, "-c", probe, str(root)], capture_output=True, text=True, timeout=120)
    assert other.returncode == 2 and "another writer holds it" in other.stdout     # another process: same answer
    assert (tmp_path / "ds.partial" / "clips" / "c0").is_dir()                     # the first writer's work is intact
    first.close()
    assert [c.id for c in ProcessedDataset(root).clips()] == ["c0"]
    with DatasetWriter(root, source="test", emotions=("happy", "sad"), overwrite=True) as again:   # released
        again.add_speaker("a", np.arange(4, dtype=np.float32))
        again.add_clip(**clip_kwargs("c1"))
    assert [c.id for c in ProcessedDataset(root).clips()] == ["c1"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="is a file"):
        DatasetWriter(tmp_path / "file", source="test", emotions=("happy",), overwrite=True)


def test_reader_without_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "ds").mkdir()
    with pytest.raises(DatasetError, match="manifest.json: not found"):
        ProcessedDataset(tmp_path / "ds")


def test_video_round_trip_is_close(tmp_path):
    from emohead.data import write_video

    frames = np.zeros((4, 32, 32, 3), np.uint8)
    frames[:, 8:24, 8:24] = (200, 40, 40)
    write_video(tmp_path / "v.mp4", frames, 25, audio=np.zeros(6400, np.float32))
    back = read_video(tmp_path / "v.mp4")
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 4
