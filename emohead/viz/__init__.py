"""Matplotlib figures; every function returns a Figure (no plt.show, no file writes)."""
from .audio2exp import attention_maps, training_curves
from .evaluation import metric_bars
from .features import alignment_figure, alpha_comparison, feature_heatmaps
from .hyperplanes import accuracy_bars, alpha_projection, mar_group_histograms
from .pipeline import pipeline_figure
from .render import hashgrid_figure, nerf_training_curves
from .synth import alpha_traces, au_prototype_heatmap, frame_strip, image_grid, matrix_heatmap, speech_figure

__all__ = ["attention_maps", "training_curves", "accuracy_bars", "alpha_projection", "mar_group_histograms", "alignment_figure", "alpha_comparison", "feature_heatmaps", "pipeline_figure", "metric_bars", "hashgrid_figure", "nerf_training_curves", "alpha_traces", "au_prototype_heatmap", "frame_strip", "image_grid",
           "matrix_heatmap", "speech_figure"]
