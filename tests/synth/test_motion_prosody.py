import numpy as np
import pytest

from emohead.synth.motion import blink_curve, head_motion
from emohead.synth.prosody import emotional_prosody
from emohead.synth.speech import Prosody


def test_blinks_are_bounded_and_present():
    curve = blink_curve(250, 25, np.random.default_rng(0))
    assert curve.shape == (250,) and curve.min() >= 0 and curve.max() <= 1
    assert curve.max() > 0.9  # at least one full blink in 10 s
    assert (curve > 0.5).mean() < 0.2  # eyes are mostly open


def test_head_motion_is_smooth_rotation():
    R, t = head_motion(100, 25, np.random.default_rng(1), emotion="happy")
    assert R.shape == (100, 3, 3) and t.shape == (100, 3)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-5)
    step = np.linalg.norm(np.diff(R.reshape(100, 9), axis=0), axis=1)
    assert step.max() < 0.05  # no jumps between frames
    with pytest.raises(ValueError, match="bored"):
        head_motion(10, 25, np.random.default_rng(0), emotion="bored")


def test_sad_posture_looks_down():
    R_sad, _ = head_motion(200, 25, np.random.default_rng(2), emotion="sad")
    R_sur, _ = head_motion(200, 25, np.random.default_rng(2), emotion="surprised")
    # pitch about x: the forward axis (0, 0, 1) tilts down (negative y) for sad
    assert (R_sad[:, 1, 2].mean()) > (R_sur[:, 1, 2].mean())


def test_emotional_prosody_directions_and_levels():
    base = Prosody(pitch=50, pitch_range=50, rate=170, volume=100)
    assert emotional_prosody("neutral", 1, base) == base
    happy = [emotional_prosody("happy", lv, base) for lv in (1, 2, 3)]
    assert happy[0].pitch < happy[1].pitch < happy[2].pitch
    sad = emotional_prosody("sad", 3, base)
    assert sad.pitch < base.pitch and sad.rate < base.rate and sad.volume < base.volume
    assert emotional_prosody("angry", 3, base).volume > base.volume
    assert emotional_prosody("anger", 3, base) == emotional_prosody("angry", 3, base)
    with pytest.raises(ValueError, match="bored"):
        emotional_prosody("bored", 1, base)
    with pytest.raises(ValueError, match="level 7"):
        emotional_prosody("happy", 7, base)
