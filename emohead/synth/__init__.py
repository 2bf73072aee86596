"""The synthetic world: a MEAD-like corpus of procedural actors with ground truth at every stage.

speech (espeak-ng) -> visemes; emotions (FACS prototypes) + blinks + head motion -> alpha -> rendered clip
-> processed dataset. See DESIGN.md, "The embedded default".
"""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "actors": ("Actor", "make_actors"),
    "clip": ("ClipData", "synthesize_clip"),
    "corpus": ("ensure_corpus", "generate_corpus", "plan_corpus", "plan_script"),
    "portraits": ("dimension_sweep_images", "emotion_alphas", "emotion_grid_images", "emotion_loadings",
        "prototype_table", "render_alpha_grid", "render_alphas", "tile_images"),
    "prosody": ("emotional_prosody",),
    "sentences": ("compose_script", "vocabulary_overlap"),
    "speech": ("VOICES", "Prosody", "synthesize"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
