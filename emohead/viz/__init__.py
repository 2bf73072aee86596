"""Matplotlib figures; every function returns a Figure (no plt.show, no file writes)."""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "audio2exp": ("attention_maps", "training_curves"),
    "evaluation": ("metric_bars",),
    "features": ("alignment_figure", "alpha_comparison", "feature_heatmaps"),
    "hyperplanes": ("accuracy_bars", "alpha_projection", "mar_group_histograms"),
    "pipeline": ("pipeline_figure",),
    "render": ("hashgrid_figure", "nerf_training_curves"),
    "tracking": ("r2_bars", "tracking_figure"),
    "synth": ("alpha_traces", "au_prototype_heatmap", "frame_strip", "image_grid", "matrix_heatmap", "speech_figure"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
