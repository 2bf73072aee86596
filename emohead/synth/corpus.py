"""The embedded synthetic corpus, laid out like MEAD: each emotion has its own sentence list, read by every actor.

``generate_corpus(profile, out)`` writes a processed dataset (emohead.data) with ground truth at
every stage. Each emotion speaks ``n_sentences`` sentences, ``n_test_sentences`` of them held out;
each sentence is shared by ``emotions_per_sentence`` emotions (contrasting pairs by default: happy and
sad say the same words), so the script has many distinct sentences, several held out, without more
clips per actor. Every actor speaks every (sentence, emotion) pair, which eq. 13's cross-identity term
needs. Same seed, same bytes.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Profile, SynthConfig, resolve_device, to_dict
from ..data import DatasetError, DatasetWriter
from ..face.camera import default_camera
from ..face.procedural import build_procedural_model
from .actors import make_actors
from .clip import synthesize_clip
from ..data.emotions import CREMA_EMOTIONS, MEAD_EMOTIONS
from .sentences import MAX_TRAIN_SENTENCES, compose_script, sentence_id, vocabulary_overlap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipPlan:
    """What one clip will contain (planned before any synthesis, so bad settings fail fast)."""

    id: str
    actor: int
    emotion: str
    level: int
    sentence_index: int
    split: str


def emotion_list(emotion_set: str) -> tuple[str, ...]:
    if emotion_set == "mead":
        return MEAD_EMOTIONS
    if emotion_set == "crema":
        return CREMA_EMOTIONS
    raise ValueError(f"synth.emotion_set={emotion_set!r}: choose 'mead' or 'crema'")


SHARING_ORDER: dict[str, tuple[str, ...]] = {
    "mead": ("happy", "sad", "angry", "fear", "surprised", "contempt", "disgusted", "neutral"),
    "crema": ("happy", "sad", "anger", "fear", "disgust", "neutral"),
}
"""Emotions sharing sentences are consecutive runs of this order: with 2, contrasting pairs say the same words."""


def validate_synth_config(cfg: SynthConfig) -> None:
    """Raise ValueError naming the first bad setting."""
    if cfg.image_size <= 0 or cfg.image_size % 2:
        raise ValueError(f"synth.image_size={cfg.image_size}: must be a positive even number of pixels")
    if cfg.image_size < 32:
        raise ValueError(f"synth.image_size={cfg.image_size}: at least 32 px are needed to draw a face")
    if cfg.others_image_size and (cfg.others_image_size < 32 or cfg.others_image_size % 2):
        raise ValueError(f"synth.others_image_size={cfg.others_image_size}: 0 or an even size >= 32")
    if cfg.n_test_sentences < 1 or cfg.n_test_sentences >= cfg.n_sentences:
        raise ValueError(f"synth.n_test_sentences={cfg.n_test_sentences}: need 1 <= it < "
                         f"synth.n_sentences={cfg.n_sentences} (train and test both need sentences)")
    n_emotions = len(emotion_list(cfg.emotion_set))
    if cfg.emotions_per_sentence < 1 or n_emotions % cfg.emotions_per_sentence:
        raise ValueError(f"synth.emotions_per_sentence={cfg.emotions_per_sentence}: must divide the "
                         f"{n_emotions} emotions of {cfg.emotion_set}")
    most = MAX_TRAIN_SENTENCES * cfg.emotions_per_sentence // n_emotions + cfg.n_test_sentences
    if cfg.n_sentences > most:
        raise ValueError(f"synth.n_sentences={cfg.n_sentences}: at most {most} sentences per emotion")
    max_level = 3 if cfg.emotion_set == "mead" else 4
    bad = [lv for lv in cfg.levels if not 1 <= lv <= max_level]
    if not cfg.levels or bad:
        raise ValueError(f"synth.levels={list(cfg.levels)}: levels run from 1 to {max_level} for {cfg.emotion_set}")
    if cfg.lead_silence < 0 or cfg.tail_silence < 0:
        raise ValueError("synth.lead_silence and synth.tail_silence must be >= 0")


@dataclass(frozen=True)
class Script:
    """The sentences of a corpus: texts (training ones first), and per emotion the indices it speaks."""

    sentences: tuple[str, ...]
    n_train: int
    by_emotion: dict[str, tuple[int, ...]]

    def split(self, index: int) -> str:
        return "train" if index < self.n_train else "test"

    def manifest(self) -> dict:
        """What the dataset manifest records: texts, split, per-emotion lists, vocabulary overlap."""
        train, test = self.sentences[:self.n_train], self.sentences[self.n_train:]
        return {"sentences": {sentence_id(i): s for i, s in enumerate(self.sentences)},
                "sentence_split": {"train": [sentence_id(i) for i in range(self.n_train)],
                                   "test": [sentence_id(i) for i in range(self.n_train, len(self.sentences))]},
                "sentences_by_emotion": {e: [sentence_id(i) for i in ix] for e, ix in self.by_emotion.items()},
                "test_words_seen_in_train": round(vocabulary_overlap(train, test), 4)}


def plan_script(cfg: SynthConfig) -> Script:
    """Which sentences each emotion speaks: per slot, each group of emotions shares one new sentence."""
    validate_synth_config(cfg)
    order = SHARING_ORDER[cfg.emotion_set]
    groups = [order[g:g + cfg.emotions_per_sentence] for g in range(0, len(order), cfg.emotions_per_sentence)]
    n_train_slots = cfg.n_sentences - cfg.n_test_sentences
    by_emotion: dict[str, list[int]] = {e: [] for e in emotion_list(cfg.emotion_set)}
    for slot in range(cfg.n_sentences):             # training slots first: their sentences get the low indices
        for g, group in enumerate(groups):
            for e in group:
                by_emotion[e].append(slot * len(groups) + g)
    train, test = compose_script(n_train_slots * len(groups), cfg.n_test_sentences * len(groups))
    return Script(train + test, len(train), {e: tuple(ix) for e, ix in by_emotion.items()})


def plan_corpus(cfg: SynthConfig) -> list[ClipPlan]:
    """Every clip of the corpus, in a fixed order."""
    script = plan_script(cfg)
    plans = []
    for a in range(cfg.n_actors):
        for e_idx, (emotion, sentences) in enumerate(script.by_emotion.items()):
            for slot, s in enumerate(sentences):
                if emotion == "neutral":
                    levels = (min(cfg.levels),)            # MEAD records neutral at one level
                elif cfg.all_levels:
                    levels = cfg.levels
                else:
                    levels = (cfg.levels[(slot + e_idx + a) % len(cfg.levels)],)
                for level in levels:
                    plans.append(ClipPlan(id=f"actor{a}_{emotion}_L{level}_{sentence_id(s)}", actor=a,
                                          emotion=emotion, level=level, sentence_index=s, split=script.split(s)))
    return plans


def default_workers() -> int:
    """Clips made at once: one per CPU core, at most 8 (each encodes its video on one core)."""
    return max(1, min(8, os.cpu_count() or 1))


def generate_corpus(profile: Profile, out: str | Path, *, overwrite: bool = False, progress: bool = True,
                    device: str | None = None, workers: int | None = None) -> Path:
    """Synthesise the corpus described by ``profile.synth`` into the dataset folder ``out``.

    Clips are made by ``workers`` threads (speech, rendering and video encoding release the GIL);
    every clip has its own seed and the manifest is sorted by clip id, so the bytes do not depend
    on the number of workers.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    cfg, media = profile.synth, profile.media
    script = plan_script(cfg)
    plans = plan_corpus(cfg)
    out = Path(out)
    parent = out.resolve().parent
    if parent.exists() and not os.access(parent, os.W_OK):
        raise DatasetError(f"{out}: the folder {parent} is not writable")
    device = device or resolve_device(profile)
    model = build_procedural_model()
    actors = make_actors(cfg.n_actors, cfg.seed, model.au_names, model.shape_basis.shape[2], n_voices=cfg.n_voices)
    sentences = script.sentences
    sizes = {a.index: (cfg.image_size if a.index == 0 or not cfg.others_image_size else cfg.others_image_size)
             for a in actors}
    cameras = {size: default_camera(size, device=device) for size in set(sizes.values())}
    extra = {"seed": cfg.seed, "profile": profile.name, "model": "procedural", "target_speaker": actors[0].id,
             "emotion_set": cfg.emotion_set, **script.manifest(),
             "voices": {a.id: a.voice for a in actors},
             "synth_config": {**to_dict(profile)["synth"], "media": to_dict(profile)["media"]}}
    with DatasetWriter(out, source="synthetic", emotions=emotion_list(cfg.emotion_set), fps=media.fps,
                       sample_rate=media.sample_rate, expression_dims=media.expression_dims,
                       overwrite=overwrite, extra=extra) as writer:
        for actor in actors:
            writer.add_speaker(actor.id, actor.beta_id)
        emotions = emotion_list(cfg.emotion_set)

        def make(plan: ClipPlan) -> str:
            actor = actors[plan.actor]
            size = sizes[actor.index]
            clip = synthesize_clip(
                model, actor, sentences[plan.sentence_index], plan.emotion, plan.level,
                camera=cameras[size], image_size=size, fps=media.fps, sample_rate=media.sample_rate,
                lead_silence=cfg.lead_silence, tail_silence=cfg.tail_silence,
                seed=np.random.SeedSequence([cfg.seed, 2, plan.actor, plan.sentence_index,
                                             emotions.index(plan.emotion), plan.level]),
                device=device)
            writer.add_clip(id=plan.id, speaker=actor.id, emotion=plan.emotion, level=plan.level,
                            split=plan.split, sentence=sentence_id(plan.sentence_index), audio=clip.audio,
                            frames=clip.frames, arrays=clip.arrays, words=clip.words)
            return plan.id

        with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
            for _ in tqdm(pool.map(make, plans), total=len(plans), desc="synth clips", unit="clip",
                          disable=not progress):
                pass
    log.info("synthetic corpus: %d clips -> %s", len(plans), out)
    return out


def ensure_corpus(profile: Profile, out: str | Path, *, progress: bool = True, device: str | None = None) -> Path:
    """Reuse the dataset at ``out`` if it was generated with the same synth settings, else (re)generate it."""
    from ..data import ProcessedDataset

    out = Path(out)
    wanted = {**to_dict(profile)["synth"], "media": to_dict(profile)["media"]}
    if (out / "manifest.json").exists():
        try:
            if ProcessedDataset(out).extra.get("synth_config") == wanted:
                log.info("reusing the synthetic corpus at %s", out)
                return out
        except DatasetError as err:
            log.warning("regenerating %s: %s", out, err)
    return generate_corpus(profile, out, overwrite=True, progress=progress, device=device)
