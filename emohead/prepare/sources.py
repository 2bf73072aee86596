"""Finding the clips to prepare: your own videos, a MEAD tree or a CREMA-D tree -> :class:`ClipSource` records.

Layouts read (``emohead.data.naming`` parses the names)::

    MEAD     <raw>/<actor>/video/<view>/<emotion>/level_<k>/<nnn>.mp4
             + <raw>/<actor>/audio/<emotion>/level_<k>/<nnn>.m4a
    CREMA-D  <raw>/VideoFlash/<actor>_<sentence>_<EMO>_<LEVEL>.flv   + <raw>/AudioWAV/<same name>.wav

A file whose name does not parse (an unknown emotion folder or code, a bad level) or whose audio is missing is
skipped with a warning naming it; when nothing is left a :class:`SourceError` says what was looked for and why
each file was skipped.

Your own videos: each ``--video`` is cut into clips of about ``segment`` seconds (default 8), each cut moved to
the quietest 40 ms within 1.5 s of it so that words are rarely split. Every clip is its own sentence.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.emotions import CREMA_EMOTIONS, MEAD_EMOTIONS
from ..data.naming import parse_cremad_name, parse_mead_path

log = logging.getLogger(__name__)

CREMAD_SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock", "TIE": "That is exactly what happened", "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about", "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold", "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment", "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before", "TSI": "The surface is slick", "WSI": "We'll stop in a couple of minutes",
}
"""The 12 sentences of CREMA-D (its README), by the code in the file names."""

SEGMENT_SECONDS = 8.0
"""Default clip length when a long video of your own is cut (ours: a few sentences, like MEAD's clips)."""
CUT_SEARCH = 1.5
"""Seconds around each nominal cut searched for the quietest moment (ours)."""
MAX_WARNINGS = 20
"""Skipped files named one by one in the log before the rest are only counted."""
_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


class SourceError(ValueError):
    """No usable clip, or an input that cannot be read (names the file or folder)."""


@dataclass(frozen=True)
class ClipSource:
    """One clip to prepare. Times are seconds; ``end`` None = the end of the file.

    ``audio`` None: the video's own audio stream. ``text``: the spoken words when known (aligned to the audio
    later); ``words``: word timings when known, [{word, start, end}] in seconds from the clip's start.
    """

    id: str
    speaker: str
    emotion: str
    level: int
    sentence: str
    video: Path
    audio: Path | None = None
    start: float = 0.0
    end: float | None = None
    text: str | None = None
    words: tuple[dict[str, Any], ...] | None = field(default=None, compare=False)

    def describe(self) -> str:
        end = "end" if self.end is None else f"{self.end:.2f} s"
        span = "" if self.start == 0 and self.end is None else f" [{self.start:.2f} s - {end}]"
        return f"{self.video}{span}"

    def cache_key(self) -> dict[str, Any]:
        """What the prepared clip depends on in the inputs (paths, sizes, times, text)."""
        def stat(p: Path | None) -> Any:
            if p is None:
                return None
            st = p.stat()
            return [str(p.resolve()), st.st_size, int(st.st_mtime)]
        return {"video": stat(self.video), "audio": stat(self.audio), "start": round(self.start, 4),
                "end": None if self.end is None else round(self.end, 4)}


def safe_id(text: str) -> str:
    """A clip or speaker id the dataset accepts (letters, digits, '_', '-', '.')."""
    out = _ID_BAD.sub("_", text).strip("_.-")
    return out or "clip"


def emotion_list(emotions: Sequence[str]) -> tuple[str, ...]:
    """The dataset's emotion list: the tags present, in MEAD's order when every tag is a MEAD emotion, else in
    CREMA-D's. Only present ones: every listed emotion needs frames (one hyperplane per emotion, eq. 9)."""
    tags = set(emotions)
    if tags <= set(MEAD_EMOTIONS):
        return tuple(e for e in MEAD_EMOTIONS if e in tags)
    if tags <= set(CREMA_EMOTIONS):
        return tuple(e for e in CREMA_EMOTIONS if e in tags)
    bad = sorted(tags - set(MEAD_EMOTIONS) - set(CREMA_EMOTIONS))
    if bad:
        raise SourceError(f"unknown emotion(s) {bad}: use MEAD's {list(MEAD_EMOTIONS)} or CREMA-D's "
                          f"{list(CREMA_EMOTIONS)}")
    raise SourceError(f"emotions {sorted(tags)} mix MEAD-only and CREMA-D-only names; use one dataset's names")


def _report_skipped(skipped: list[tuple[str, str]]) -> None:
    for where, why in skipped[:MAX_WARNINGS]:
        log.warning("skipped %s: %s", where, why)
    if len(skipped) > MAX_WARNINGS:
        log.warning("... and %d more files skipped", len(skipped) - MAX_WARNINGS)


def _nothing_left(what: str, skipped: list[tuple[str, str]]) -> SourceError:
    reasons = "; ".join(f"{w}: {r}" for w, r in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
    return SourceError(f"no usable clip in {what}" + (f" ({len(skipped)} skipped: {reasons})" if skipped else ""))


# ----------------------------------------------------------------------------------------------------------
# MEAD
# ----------------------------------------------------------------------------------------------------------
def mead_sources(raw_dir: str | Path, actors: Sequence[str], emotions: Sequence[str] | None = None,
                 levels: Sequence[int] | None = None, *, view: str = "front") -> list[ClipSource]:
    """Clips of MEAD ``actors`` (e.g. ["M003"]) under ``raw_dir``, optionally only some emotions and levels.

    Clip ids are ``<actor>_<emotion>_<level>_<nnn>``; the sentence is ``<nnn>`` (MEAD's actors read the same
    numbered sentences of an emotion).
    """
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise SourceError(f"--raw {raw}: no such folder")
    if not actors:
        raise SourceError("give at least one MEAD actor (e.g. --actors M003)")
    bad = [e for e in (emotions or ()) if e not in MEAD_EMOTIONS]
    if bad:
        raise SourceError(f"emotion(s) {bad} are not MEAD emotions {list(MEAD_EMOTIONS)}")
    bad_levels = [lv for lv in (levels or ()) if lv not in (1, 2, 3)]
    if bad_levels:
        raise SourceError(f"level(s) {bad_levels}: MEAD levels are 1, 2, 3")
    out: list[ClipSource] = []
    skipped: list[tuple[str, str]] = []
    for actor in actors:
        root = raw / actor
        video_dir = root / "video" / view
        if not video_dir.is_dir():
            tars = sorted(p.name for p in root.glob("*.tar*")) if root.is_dir() else []
            hint = f" (found {tars}: extract them there first)" if tars else ""
            raise SourceError(f"{video_dir}: no such folder for MEAD actor {actor!r}{hint}; expected "
                              f"<raw>/<actor>/video/{view}/<emotion>/level_<k>/<nnn>.mp4")
        for video in sorted(video_dir.glob("*/*/*.mp4")):
            try:
                name = parse_mead_path(video.relative_to(raw))
            except ValueError as err:
                skipped.append((str(video), str(err).split(": ", 1)[-1]))
                continue
            if (emotions and name.emotion not in emotions) or (levels and name.level not in levels):
                continue
            audio = root / "audio" / name.emotion / f"level_{name.level}" / f"{video.stem}.m4a"
            if not audio.is_file():
                skipped.append((str(video), f"its audio {audio} is missing"))
                continue
            out.append(ClipSource(id=safe_id(f"{actor}_{name.emotion}_{name.level}_{video.stem}"), speaker=actor,
                                  emotion=name.emotion, level=name.level, sentence=name.sentence, video=video,
                                  audio=audio))
    _report_skipped(skipped)
    if not out:
        raise _nothing_left(f"{raw} for actors {list(actors)}", skipped)
    return out


# ----------------------------------------------------------------------------------------------------------
# CREMA-D
# ----------------------------------------------------------------------------------------------------------
def cremad_sources(raw_dir: str | Path, actors: Sequence[str] | None = None,
                   emotions: Sequence[str] | None = None) -> list[ClipSource]:
    """Clips of CREMA-D under ``raw_dir`` (VideoFlash/*.flv + AudioWAV/*.wav), optionally only some actors.

    Emotion codes map to anger, disgust, fear, happy, neutral, sad; levels as ``emohead.data.emotions.CREMA_LEVELS``
    (LO 1, MD 2, HI 3, XX "unspecified" 2). The clip id is the file stem; the sentence is its code (e.g. DFA),
    whose text is known (:data:`CREMAD_SENTENCES`).
    """
    raw = Path(raw_dir)
    video_dir, audio_dir = raw / "VideoFlash", raw / "AudioWAV"
    for folder in (video_dir, audio_dir):
        if not folder.is_dir():
            raise SourceError(f"{folder}: no such folder; CREMA-D's layout is <raw>/VideoFlash/*.flv and "
                              "<raw>/AudioWAV/*.wav")
    bad = [e for e in (emotions or ()) if e not in CREMA_EMOTIONS]
    if bad:
        raise SourceError(f"emotion(s) {bad} are not CREMA-D emotions {list(CREMA_EMOTIONS)}")
    wanted = {str(a) for a in actors} if actors else None
    out: list[ClipSource] = []
    skipped: list[tuple[str, str]] = []
    seen_actors: set[str] = set()
    for video in sorted(video_dir.glob("*.flv")):
        actor = video.stem.split("_", 1)[0]
        if wanted is not None and actor not in wanted:
            continue
        seen_actors.add(actor)
        try:
            name = parse_cremad_name(video)
        except ValueError as err:
            skipped.append((str(video), str(err).split(": ", 1)[-1]))
            continue
        if emotions and name.emotion not in emotions:
            continue
        audio = audio_dir / f"{video.stem}.wav"
        if not audio.is_file():
            skipped.append((str(video), f"its audio {audio} is missing"))
            continue
        out.append(ClipSource(id=safe_id(video.stem), speaker=name.speaker, emotion=name.emotion, level=name.level,
                              sentence=name.sentence, video=video, audio=audio,
                              text=CREMAD_SENTENCES.get(name.sentence)))
    if wanted is not None and wanted - seen_actors:
        log.warning("CREMA-D actor(s) %s have no video in %s", sorted(wanted - seen_actors), video_dir)
    _report_skipped(skipped)
    if not out:
        raise _nothing_left(f"{video_dir}" + (f" for actors {sorted(wanted)}" if wanted else ""), skipped)
    return out


# ----------------------------------------------------------------------------------------------------------
# Your own videos
# ----------------------------------------------------------------------------------------------------------
def _per_video(values: Any, n: int, what: str) -> list[Any]:
    if values is None or (isinstance(values, (list, tuple)) and len(values) == 0):
        return [None] * n
    if not isinstance(values, (list, tuple)):
        return [values] * n
    if len(values) == 1:
        return list(values) * n
    if len(values) != n:
        raise SourceError(f"{len(values)} {what} for {n} videos: give one, or one per video in the same order")
    return list(values)


def cut_points(audio: np.ndarray, sample_rate: int, duration: float, segment: float) -> list[tuple[float, float]]:
    """[(start, end)] seconds covering [0, duration] in pieces of about ``segment`` s, cut where the audio is quietest.

    Each nominal cut k * L (L = duration / round(duration / segment)) moves to the 40 ms window of lowest RMS
    within ``CUT_SEARCH`` s of it. One piece when the video is shorter than 1.5 segments.
    """
    n = max(1, int(round(duration / segment)))
    if n == 1:
        return [(0.0, duration)]
    hop = int(sample_rate * 0.04)
    frames = len(audio) // hop
    rms = np.sqrt((np.asarray(audio[:frames * hop], np.float64).reshape(frames, hop) ** 2).mean(axis=1)) \
        if frames else np.zeros(0)
    length = duration / n
    cuts = [0.0]
    for k in range(1, n):
        nominal = k * length
        lo = max(int((nominal - CUT_SEARCH) / 0.04), int(cuts[-1] / 0.04) + 13)   # clips of >= ~0.5 s
        hi = min(int((nominal + CUT_SEARCH) / 0.04), frames - 13)
        cut = nominal if hi <= lo else (lo + int(np.argmin(rms[lo:hi]))) * 0.04 + 0.02
        cuts.append(round(cut / 0.04) * 0.04)                                     # on the 25 fps grid
    cuts.append(duration)
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b - a > 0.2]


def _read_transcript(path: Path) -> tuple[str | None, list[dict[str, Any]] | None]:
    """(text, None) from a .txt file; (text, words) from a .json file ({'words': [{word, start, end}]} or the list)."""
    from ..features.alignment import normalize_words

    if not path.is_file():
        raise SourceError(f"--transcript {path}: no such file")
    raw = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as err:
            raise SourceError(f"--transcript {path}: not valid JSON ({err})") from None
        try:
            words = normalize_words(data, where=str(path))
        except ValueError as err:
            raise SourceError(str(err)) from None
        return " ".join(w["word"] for w in words), words
    text = " ".join(raw.split())
    if not text:
        raise SourceError(f"--transcript {path}: the file is empty")
    return text, None


def video_sources(videos: Sequence[str | Path], audios: Sequence[str | Path] | None = None,
                  emotion: str | Sequence[str] = "neutral", level: int | Sequence[int] = 1, *,
                  speaker: str = "person", segment: float = SEGMENT_SECONDS,
                  transcripts: Sequence[str | Path] | None = None) -> list[ClipSource]:
    """Clips of your own videos: each video (with its own audio track, or the matching ``audios`` file) is cut into
    pieces of about ``segment`` seconds (0: never cut). ``emotion``, ``level`` and ``transcripts`` are one value
    for all videos or one per video. A transcript is a .txt (aligned to the audio later) or a .json of timed words.
    """
    from .media import MediaError, decode_audio, probe_media

    if not videos:
        raise SourceError("give at least one --video")
    paths = [Path(v) for v in videos]
    auds = [None if a is None else Path(a) for a in _per_video(audios, len(paths), "--audio files")]
    emos = _per_video(emotion, len(paths), "--emotion values")
    lvls = _per_video(level, len(paths), "--level values")
    trans = [None if t is None else Path(t) for t in _per_video(transcripts, len(paths), "--transcript files")]
    if transcripts and len(transcripts) == 1 and len(paths) > 1:
        raise SourceError("one --transcript for several videos: give one transcript per video, in the same order")
    emotion_list(emos)                                        # unknown names fail here, before any decoding
    for lv in lvls:
        if not isinstance(lv, int) or not 1 <= lv <= 3:
            raise SourceError(f"--level {lv!r}: levels run from 1 (weak) to 3 (strong), as in MEAD")
    speaker = safe_id(speaker)
    out: list[ClipSource] = []
    used: set[str] = set()
    for video, audio, emo, lv, tr in zip(paths, auds, emos, lvls, trans):
        if not video.is_file():
            raise SourceError(f"--video {video}: no such file")
        if audio is not None and not audio.is_file():
            raise SourceError(f"--audio {audio}: no such file")
        try:
            info = probe_media(video)
            if not info.has_video:
                raise SourceError(f"--video {video}: has no video stream")
            if audio is None and not info.has_audio:
                raise SourceError(f"--video {video}: has no audio track; give its audio with --audio")
            text, words = _read_transcript(tr) if tr is not None else (None, None)
            need_audio = segment > 0 and info.duration > 1.5 * segment
            sound = decode_audio(audio or video) if need_audio else None
        except MediaError as err:
            raise SourceError(str(err)) from None
        pieces: list[tuple[float, float | None]] = [(0.0, None)]
        if sound is not None:
            pieces = list(cut_points(sound, 16000, info.duration, segment))
            pieces[-1] = (pieces[-1][0], None)                 # the last piece runs to the end of the file
        if text is not None and words is None and len(pieces) > 1:
            from .words import align_transcript

            words = align_transcript(sound, text, where=str(tr))
        base = safe_id(video.stem)
        stem = base
        n = 2
        while stem in used:
            stem = f"{base}-{n}"
            n += 1
        used.add(stem)
        for k, (a, b) in enumerate(pieces):
            cid = stem if len(pieces) == 1 else f"{stem}_{k:03d}"
            clip_words = clip_text = None
            if words is not None:
                end = b if b is not None else float("inf")
                inside = [w for w in words if a <= (w["start"] + w["end"]) / 2 < end]
                clip_words = tuple({"word": w["word"], "start": max(0.0, w["start"] - a),
                                    "end": min(end - a, w["end"] - a)} for w in inside)
                clip_text = " ".join(w["word"] for w in inside)
            elif text is not None:
                clip_text = text
            out.append(ClipSource(id=cid, speaker=speaker, emotion=emo, level=int(lv), sentence=cid, video=video,
                                  audio=audio, start=a, end=b, text=clip_text, words=clip_words))
    return out
