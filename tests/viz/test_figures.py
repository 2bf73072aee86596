"""Figures return a matplotlib Figure with the expected panels; no pyplot, no files."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from emohead import viz


def test_pipeline_figure():
    fig = viz.pipeline_figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 1


def test_image_grid_shapes_and_labels():
    imgs = np.zeros((2, 3, 8, 8, 3), np.uint8)
    fig = viz.image_grid(imgs, row_labels=["a", "b"], col_labels=["x", "y", "z"], title="t")
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "x" and fig.axes[0].get_ylabel() == "a"
    with pytest.raises(ValueError, match="expects"):
        viz.image_grid(np.zeros((3, 8, 8, 3)))


def test_speech_figure_marks_every_word():
    sr = 16000
    audio = np.sin(np.arange(sr) / 10).astype(np.float32) * 0.3
    words = [{"word": "hi", "start": 0.1, "end": 0.4}, {"word": "there", "start": 0.4, "end": 0.9}]
    fig = viz.speech_figure(audio, sr, words, [{"phoneme": "h", "start": 0.1, "end": 0.2}],
                            curves={"AU26": np.zeros(25)})
    assert len(fig.axes) == 3
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["hi", "there"]


def test_feature_and_alignment_figures():
    feats = {"v": np.random.default_rng(0).normal(size=(30, 200)), "e": np.ones((30, 12))}
    frame_words = [None] * 5 + ["hi"] * 10 + [None] * 3 + ["there"] * 12
    fig = viz.feature_heatmaps(feats, frame_words=frame_words)
    assert len(fig.axes) == 2 and "[200-d]" in fig.axes[0].get_ylabel()
    words = [{"word": "hi", "start": 0.2, "end": 0.6}, {"word": "there", "start": 0.72, "end": 1.2}]
    fig = viz.alignment_figure(words, frame_words)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels.count("sil") == 8 and "hi" in labels and "there" in labels


def test_alpha_comparison_reports_rmse():
    a = np.zeros((20, 10))
    fig = viz.alpha_comparison(a, a + 0.5, dims=(0, 3))
    assert len(fig.axes) == 2 and "RMSE 0.50" in fig.axes[0].get_ylabel()


def test_matrix_heatmap_writes_values():
    fig = viz.matrix_heatmap(np.array([[1.0, -2.0]]), ["r"], ["a", "b"], diverging=True)
    assert {t.get_text() for t in fig.axes[0].texts} == {"1.0", "-2.0"}
