"""The train/test split of prepared clips: whole sentences are held out, as in the synthetic world.

Rule: the distinct sentence ids of all clips, in natural order (``"2" < "10"``), and every ``test_every``-th of
them (the 6th, 12th, ...: about 1/6 of the material, MEAD's 10 min train to 2 min test in the paper) goes to test,
with every clip of it, whoever speaks it. With fewer than ``test_every`` sentences the last one is the test
sentence, so there is always at least one test clip when there are two sentences or more. With one sentence
only, the clips themselves are split by the same rule; a single clip goes to train (with a warning: stages that
evaluate on the test split will refuse such a dataset).
"""
from __future__ import annotations

import logging
import re
from typing import Sequence

log = logging.getLogger(__name__)

TEST_EVERY = 6


def natural_key(text: str) -> list:
    """'clip_10' sorts after 'clip_9'."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(text))]


def _pick(units: Sequence[str], test_every: int) -> set[str]:
    ordered = sorted(units, key=natural_key)
    test = {u for i, u in enumerate(ordered) if i % test_every == test_every - 1}
    if not test and len(ordered) >= 2:
        test = {ordered[-1]}
    return test


def assign_splits(clips: Sequence[tuple[str, str]], test_every: int = TEST_EVERY) -> dict[str, str]:
    """{clip id: "train" | "test"} for clips given as (clip id, sentence id) pairs (module docstring)."""
    if test_every < 2:
        raise ValueError(f"test_every={test_every}: must be >= 2 (every k-th sentence goes to test)")
    sentences = {s for _, s in clips}
    if len(sentences) >= 2:
        test = _pick(list(sentences), test_every)
        return {cid: "test" if s in test else "train" for cid, s in clips}
    ids = [cid for cid, _ in clips]
    if len(ids) < 2:
        log.warning("only %d clip: it goes to train and the dataset has no test split", len(ids))
        return {cid: "train" for cid in ids}
    test = _pick(ids, test_every)
    return {cid: "test" if cid in test else "train" for cid in ids}
