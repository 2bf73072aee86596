"""Finding the model folder, and keeping `import emohead.tracking` light."""
from __future__ import annotations

import subprocess
import sys

import pytest

from emohead.tracking import models


def test_missing_folder_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv(models.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(models.ModelsMissingError, match="nowhere") as exc:
        models.find_model_dir()
    assert "EMOHEAD_MODELS" in str(exc.value) and "3DDFA_V2" in str(exc.value)       # says how to get them


def test_missing_file_names_it(tmp_path, monkeypatch):
    (tmp_path / "mediapipe").mkdir()
    monkeypatch.setenv(models.ENV_VAR, str(tmp_path))
    with pytest.raises(models.ModelsMissingError, match="face_landmark.tflite"):
        models.model_path(models.FACE_MESH)
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        models.find_model_dir()


def test_env_var_wins(model_dir, tmp_path, monkeypatch):
    link = tmp_path / "models"
    link.symlink_to(model_dir, target_is_directory=True)
    monkeypatch.setenv(models.ENV_VAR, str(link))
    assert models.find_model_dir() == link
    monkeypatch.delenv(models.ENV_VAR)
    assert models.find_model_dir() == models.DEFAULT_DIR


def test_import_is_light():
    code = ("import sys, emohead.tracking as t; t.FaceTrack; "
            "print(sorted(m for m in ('torch', 'ai_edge_litert', 'sklearn', 'skimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
