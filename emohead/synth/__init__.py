"""The synthetic world: a MEAD-like corpus of procedural actors with ground truth at every stage.

speech (espeak-ng) -> visemes; emotions (FACS prototypes) + blinks + head motion -> alpha -> rendered clip
-> processed dataset. See DESIGN.md, "The embedded default".
"""
from .actors import Actor, make_actors
from .clip import ClipData, synthesize_clip
from .corpus import ensure_corpus, generate_corpus, plan_corpus, plan_script
from .emotions import CREMA_EMOTIONS, MEAD_EMOTIONS, emotion_au
from .portraits import (dimension_sweep_images, emotion_alphas, emotion_grid_images, emotion_loadings,
                        prototype_table, render_alpha_grid, render_alphas, tile_images)
from .prosody import emotional_prosody
from .sentences import compose_script, vocabulary_overlap
from .speech import VOICES, Prosody, synthesize

__all__ = [
    "Actor", "make_actors", "ClipData", "synthesize_clip", "ensure_corpus", "generate_corpus", "plan_corpus", "plan_script",
    "CREMA_EMOTIONS", "MEAD_EMOTIONS", "emotion_au", "dimension_sweep_images", "emotion_alphas",
    "emotion_grid_images", "emotion_loadings", "prototype_table", "render_alpha_grid", "render_alphas", "tile_images", "emotional_prosody",
    "compose_script", "vocabulary_overlap", "VOICES", "Prosody", "synthesize",
]
