"""Matplotlib figures; every function returns a Figure (no plt.show, no file writes)."""
from .pipeline import pipeline_figure

__all__ = ["pipeline_figure"]
