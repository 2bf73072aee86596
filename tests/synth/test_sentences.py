"""The script: MEAD-like sentence lists per emotion from one shared vocabulary, several held-out sentences."""
from collections import Counter

import numpy as np
import pytest

from emohead.config import PROFILES, load_profile
from emohead.synth.corpus import SHARING_ORDER, emotion_list, plan_corpus, plan_script
from emohead.synth.sentences import compose_script, vocabulary_overlap, words_of

CLIPS = {"smoke": 48, "cpu": 144, "gpu": 660, "paper": 6600}   # unchanged by the script's design


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_holds_out_several_sentences_whose_words_were_heard(name):
    cfg = PROFILES[name].synth
    script = plan_script(cfg)
    train, test = script.sentences[:script.n_train], script.sentences[script.n_train:]
    assert len(test) >= 3 and len(set(script.sentences)) == len(script.sentences)
    assert vocabulary_overlap(train, test) >= 0.9
    assert script.manifest()["test_words_seen_in_train"] >= 0.9
    assert 6 <= np.mean([len(words_of(s)) for s in script.sentences]) <= 11
    assert len(plan_corpus(cfg)) == CLIPS[name]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_actor_speaks_every_sentence_of_each_emotion(name):
    cfg = PROFILES[name].synth
    plans = plan_corpus(cfg)
    speakers = {}
    for p in plans:
        speakers.setdefault((p.sentence_index, p.emotion), set()).add(p.actor)
    assert all(s == set(range(cfg.n_actors)) for s in speakers.values())      # eq. 13's partners
    script = plan_script(cfg)
    assert all(len(ix) == cfg.n_sentences for ix in script.by_emotion.values())
    shared = Counter(i for ix in script.by_emotion.values() for i in ix)
    assert set(shared.values()) == {cfg.emotions_per_sentence}
    assert {p.split for p in plans if p.sentence_index >= script.n_train} == {"test"}
    assert {p.split for p in plans if p.sentence_index < script.n_train} == {"train"}


def test_contrasting_emotions_share_their_sentences():
    for name, order in SHARING_ORDER.items():
        assert sorted(order) == sorted(emotion_list(name))
    for name in ("smoke", "cpu"):
        script = plan_script(PROFILES[name].synth)
        assert script.by_emotion["happy"] == script.by_emotion["sad"]
        assert not set(script.by_emotion["happy"]) & set(script.by_emotion["angry"])
    crema = plan_script(load_profile("smoke", {"synth.emotion_set": "crema"}).synth)
    assert crema.by_emotion["happy"] == crema.by_emotion["sad"] and len(crema.sentences) == 9


def test_emotions_per_sentence_spans_disjoint_lists_to_one_list():
    one = plan_script(load_profile("cpu", {"synth.emotions_per_sentence": 8}).synth)
    assert len(set(one.by_emotion.values())) == 1 and len(one.sentences) == 6      # the old design
    disjoint = plan_script(load_profile("cpu", {"synth.emotions_per_sentence": 1}).synth)
    assert len(disjoint.sentences) == 48
    with pytest.raises(ValueError, match="synth.emotions_per_sentence=3"):
        plan_script(load_profile("cpu", {"synth.emotions_per_sentence": 3}).synth)


def test_compose_script_is_fixed_and_recombines_training_parts():
    train, test = compose_script(20, 6)
    assert (train, test) == compose_script(20, 6)
    assert compose_script(8, 0)[0] == train[:8]                 # training sentences do not depend on the split
    assert not set(train) & set(test)
    assert vocabulary_overlap(train, test) == 1.0
    assert all(s[0].isupper() and s[-1] in ".?!" for s in train + test)
    _, lonely = compose_script(1, 2)                             # nothing to recombine: still new sentences
    assert len(set(lonely)) == 2 and compose_script(1, 0)[0][0] not in lonely
    with pytest.raises(ValueError):
        compose_script(0, 1)
