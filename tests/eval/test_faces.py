"""The real-data judges of notebook 04 (emohead.eval.faces): hyperplane verdicts on 3DDFA_V2 alpha, and the
correlation of mouth openness over the frames where a face was read."""
import numpy as np
import pytest

from emohead.emotion.hyperplanes import fit_hyperplanes
from emohead.eval.faces import FaceReading, finite_correlation, hyperplane_verdict, mouth_openness
from emohead.eval.result import EvalError


@pytest.fixture(scope="module")
def planes():
    """Real SVM hyperplanes on 10-d alpha: 'happy' frames sit at +2 along dim 0, 'sad' at -2, 'neutral' at 0."""
    rng = np.random.default_rng(0)
    centres = {"neutral": 0.0, "happy": 2.0, "sad": -2.0}
    labels = [e for e in centres for _ in range(60)]
    alpha = rng.normal(0, 0.5, (len(labels), 10))
    alpha[:, 0] += [centres[e] for e in labels]
    return fit_hyperplanes(alpha, labels, balance_mar=False)


def test_the_verdict_is_the_emotion_on_whose_side_the_frames_lie(planes):
    rng = np.random.default_rng(1)
    for emotion, shift in (("happy", 2.0), ("sad", -2.0), ("neutral", 0.0)):
        alpha = rng.normal(0, 0.3, (8, 10))
        alpha[:, 0] += shift
        assert planes.emotions[hyperplane_verdict(planes, alpha)] == emotion


def test_frames_without_a_face_are_left_out_and_none_without_any(planes):
    alpha = np.zeros((4, 10))
    alpha[:, 0] = 2.0
    alpha[1:] = np.nan                       # three frames without a face
    assert planes.emotions[hyperplane_verdict(planes, alpha)] == "happy"
    assert hyperplane_verdict(planes, np.full((4, 10), np.nan)) is None
    with pytest.raises(EvalError, match=r"\[N, 10\]"):
        hyperplane_verdict(planes, np.zeros((4, 3)))


def test_finite_correlation_skips_unread_frames_and_says_none_when_too_few():
    t = np.linspace(0, 1, 20)
    a, b = np.sin(6 * t), np.sin(6 * t) * 2 + 1
    a_missing = a.copy()
    a_missing[::3] = np.nan
    assert finite_correlation(a_missing, b) == pytest.approx(1.0)
    assert finite_correlation(-a, b) == pytest.approx(-1.0)
    assert finite_correlation(np.full(20, np.nan), b) is None
    assert finite_correlation(np.ones(20), b) is None           # a constant reading has no correlation
    with pytest.raises(EvalError):
        finite_correlation(a[:5], b)


def test_mouth_openness_reads_the_inner_lips_of_a_reading():
    lm = np.zeros((2, 68, 2), np.float32)
    lm[:, 60], lm[:, 64] = (0, 0), (4, 0)                       # mouth corners 4 px apart
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        lm[0, upper], lm[0, lower] = (2, -1), (2, 1)              # open: 2 px
        lm[1, upper], lm[1, lower] = (2, 0), (2, 0)               # closed
    mar = mouth_openness(FaceReading(lm, np.zeros((2, 10)), np.ones(2, bool)))
    assert mar == pytest.approx([0.5, 0.0])


def test_read_mouth_openness_with_the_real_tracker_reads_its_landmarks():
    """A TrackerFaces around a stand-in tracker: the MAR comes from the landmarks it returns."""
    from types import SimpleNamespace

    from emohead.eval.faces import TrackerFaces, read_mouth_openness

    class Tracker:
        def track(self, frames, name):
            lm = np.zeros((len(frames), 68, 2), np.float32)
            lm[:, 60], lm[:, 64] = (0, 0), (4, 0)
            for upper, lower in ((61, 67), (62, 66), (63, 65)):
                lm[:, upper], lm[:, lower] = (2, -1), (2, 1)
            return SimpleNamespace(landmarks=lm, alpha=np.zeros((len(frames), 10)), found=np.ones(len(frames), bool))

    mar = read_mouth_openness(np.zeros((3, 8, 8, 3), np.uint8), TrackerFaces(Tracker()), name="clip")
    assert mar == pytest.approx([0.5] * 3)
