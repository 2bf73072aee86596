"""File-name conventions of the paper's datasets, parsed into (speaker, emotion, level, sentence).

MEAD (Wang et al. 2020): ``<actor>/video/<view>/<emotion>/level_<n>/<clip>.mp4`` and
``<actor>/audio/<emotion>/level_<n>/<clip>.m4a``, e.g. ``M003/video/front/angry/level_1/001.mp4``.
CREMA-D (Cao et al. 2014): ``<actor>_<sentence>_<emotion>_<level>.<ext>``, e.g. ``1001_DFA_ANG_XX.flv``,
emotions ANG DIS FEA HAP NEU SAD, levels LO MD HI XX (XX: unspecified).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

from .emotions import CREMA_CODES, CREMA_LEVELS, MEAD_EMOTIONS

_MEAD_ACTOR = re.compile(r"^[MW]\d{3}$")
_CREMAD_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


@dataclass(frozen=True)
class ParsedName:
    speaker: str
    emotion: str
    level: int
    sentence: str
    view: str = "front"


def parse_mead_path(path: str | PurePath) -> ParsedName:
    """Parse a MEAD video or audio path; raises ValueError naming the path and the bad part."""
    parts = PurePath(path).parts
    actor_idx = next((i for i, p in enumerate(parts) if _MEAD_ACTOR.match(p)), None)
    if actor_idx is None:
        raise ValueError(f"{path}: no MEAD actor folder (like M003 or W015) in the path")
    rest = parts[actor_idx + 1:]
    if len(rest) == 5 and rest[0] == "video":
        _, view, emotion, level, clip = rest
    elif len(rest) == 4 and rest[0] == "audio":
        _, emotion, level, clip = rest
        view = "front"
    else:
        raise ValueError(f"{path}: expected <actor>/video/<view>/<emotion>/level_<n>/<clip> or "
                         "<actor>/audio/<emotion>/level_<n>/<clip>")
    if emotion not in MEAD_EMOTIONS:
        raise ValueError(f"{path}: emotion folder {emotion!r} is not one of {list(MEAD_EMOTIONS)}")
    m = re.fullmatch(r"level_(\d)", level)
    if not m or not 1 <= int(m.group(1)) <= 3:
        raise ValueError(f"{path}: level folder {level!r} must be level_1, level_2 or level_3")
    return ParsedName(speaker=parts[actor_idx], emotion=emotion, level=int(m.group(1)),
                      sentence=PurePath(clip).stem, view=view)


def parse_cremad_name(path: str | PurePath) -> ParsedName:
    """Parse a CREMA-D file name; raises ValueError naming the file and the bad field."""
    stem = PurePath(path).stem
    m = _CREMAD_NAME.match(stem)
    if not m:
        raise ValueError(f"{path}: CREMA-D names look like 1001_DFA_ANG_XX")
    actor, sentence, emo, level = m.groups()
    if emo not in CREMA_CODES:
        raise ValueError(f"{path}: emotion code {emo!r} is not one of {sorted(CREMA_CODES)}")
    if level not in CREMA_LEVELS:
        raise ValueError(f"{path}: level code {level!r} is not one of {sorted(CREMA_LEVELS)}")
    return ParsedName(speaker=actor, emotion=CREMA_CODES[emo], level=CREMA_LEVELS[level], sentence=sentence)
