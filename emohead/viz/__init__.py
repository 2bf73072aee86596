"""Matplotlib figures; every function returns a Figure (no plt.show, no file writes)."""
from .pipeline import pipeline_figure
from .synth import alpha_traces, au_prototype_heatmap, frame_strip, image_grid, matrix_heatmap, speech_figure

__all__ = ["pipeline_figure", "alpha_traces", "au_prototype_heatmap", "frame_strip", "image_grid",
           "matrix_heatmap", "speech_figure"]
