import pytest

from emohead.data.naming import parse_cremad_name, parse_mead_path


def test_mead_video_and_audio_paths():
    p = parse_mead_path("/datasets/MEAD/M003/video/front/angry/level_1/001.mp4")
    assert (p.speaker, p.emotion, p.level, p.sentence, p.view) == ("M003", "angry", 1, "001", "front")
    a = parse_mead_path("W015/audio/surprised/level_3/027.m4a")
    assert (a.speaker, a.emotion, a.level, a.sentence) == ("W015", "surprised", 3, "027")


@pytest.mark.parametrize("path, message", [
    ("data/x/video/front/angry/level_1/001.mp4", "no MEAD actor"),
    ("M003/video/front/bored/level_1/001.mp4", "emotion folder 'bored'"),
    ("M003/video/front/angry/level_7/001.mp4", "level folder 'level_7'"),
    ("M003/video/angry/001.mp4", "expected <actor>"),
])
def test_mead_bad_paths(path, message):
    with pytest.raises(ValueError, match=message):
        parse_mead_path(path)


def test_cremad_names():
    p = parse_cremad_name("AudioWAV/1001_DFA_ANG_XX.wav")
    assert (p.speaker, p.emotion, p.level, p.sentence) == ("1001", "anger", 2, "DFA")
    assert parse_cremad_name("1091_IEO_HAP_HI.flv").level == 3   # one scale with MEAD (emohead.data.emotions)
    assert parse_cremad_name("1091_IEO_HAP_LO.flv").level == 1
    with pytest.raises(ValueError, match="emotion code 'XYZ'"):
        parse_cremad_name("1001_DFA_XYZ_XX.wav")
    with pytest.raises(ValueError, match="level code 'QQ'"):
        parse_cremad_name("1001_DFA_ANG_QQ.wav")
    with pytest.raises(ValueError, match="look like"):
        parse_cremad_name("hello.wav")
