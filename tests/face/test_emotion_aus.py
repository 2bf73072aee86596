"""Emotion prototypes, intensity levels and actor styles."""
from __future__ import annotations

import numpy as np
import pytest

from emohead.face import AU_NAMES
from emohead.data.emotions import CREMA_EMOTIONS, CREMA_LEVELS, CREMA_TO_MEAD, MEAD_EMOTIONS
from emohead.face.emotion_aus import LEVEL_SCALE, PROTOTYPES, actor_style, emotion_au


def test_prototypes_use_known_aus():
    assert set(PROTOTYPES) == set(MEAD_EMOTIONS)
    for emo, aus in PROTOTYPES.items():
        assert set(aus) <= set(AU_NAMES), emo
    assert PROTOTYPES["neutral"] == {}
    assert set(PROTOTYPES["contempt"]) == {"AU12R", "AU14R"}          # unilateral
    assert {"AU6", "AU12"} <= set(PROTOTYPES["happy"])


@pytest.mark.parametrize("emotion", MEAD_EMOTIONS)
def test_emotion_au(emotion):
    a3 = emotion_au(emotion, 3, AU_NAMES)
    assert a3.shape == (len(AU_NAMES),) and a3.dtype == np.float32
    active = {AU_NAMES[i] for i in np.nonzero(a3)[0]}
    assert active == set(PROTOTYPES[emotion])
    a1 = emotion_au(emotion, 1, AU_NAMES)
    assert np.all(a1 <= a3) and (emotion == "neutral" or a1.sum() < a3.sum())
    np.testing.assert_allclose(emotion_au(emotion, 2, AU_NAMES), a3 * LEVEL_SCALE[2] / LEVEL_SCALE[3], rtol=1e-6)


def test_crema_names_map():
    for c in CREMA_EMOTIONS:
        np.testing.assert_array_equal(emotion_au(c, 2, AU_NAMES), emotion_au(CREMA_TO_MEAD[c], 2, AU_NAMES))
    assert set(CREMA_LEVELS.values()) <= set(LEVEL_SCALE)
    assert emotion_au("HAPPY", 4, AU_NAMES).sum() > emotion_au("happy", 3, AU_NAMES).sum()


def test_errors_list_valid_values():
    with pytest.raises(ValueError, match="valid:.*surprised"):
        emotion_au("bored", 1, AU_NAMES)
    with pytest.raises(ValueError, match=r"valid: \[1, 2, 3, 4\]"):
        emotion_au("happy", 7, AU_NAMES)
    with pytest.raises(ValueError, match="AU12"):
        emotion_au("happy", 1, ("AU6",))
    with pytest.raises(ValueError, match="actor_style"):
        emotion_au("happy", 1, AU_NAMES, actor_style=np.ones(3))


def test_actor_style():
    s = actor_style(7, AU_NAMES)
    assert s.shape == (len(AU_NAMES),) and np.all((s >= 0.6) & (s <= 1.5))
    assert s.tobytes() == actor_style(7, AU_NAMES).tobytes()
    assert not np.allclose(s, actor_style(8, AU_NAMES))
    styled = emotion_au("fear", 3, AU_NAMES, actor_style=s)
    np.testing.assert_allclose(styled, emotion_au("fear", 3, AU_NAMES) * s, rtol=1e-6)
