"""The package's layers (docs/architecture.md): an import may point to its own layer or a lower one, never up.

Checked two ways: statically, every import statement in emohead/ (module level and inside functions) against
the table below; and by importing, so that a package's lazy ``__init__`` keeps one module cheap to load.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "emohead"

#: top-level component of emohead -> layer; lower layers never import higher ones.
LAYERS: dict[str, int] = {
    "__init__": 0, "_lazy": 0, "config": 0, "files": 0, "markdown": 0, "cpu_kernels": 0, "training_loop": 0, "workers": 0,
    "distributed": 0,
    "data": 1,                                   # dataset format, video io, the emotion vocabulary
    "face": 2,                                   # morphable models, renderer, camera, MAR, emotion AUs
    "synth": 3,                                  # the synthetic world
    "features": 4, "analyser": 4, "tracking": 4,  # readers of audio, of synthetic faces, of real faces
    "emotion": 5,                                # hyperplanes and eq. 9
    "audio2exp": 6, "prepare": 6, "extract": 6,  # the audio-expression module; datasets from real video; tracks
    "render": 7,                                 # the head NeRF
    "pipeline": 8, "stages": 8,                  # audio + emotion control -> frames -> mp4; a run's stages on demand
    "eval": 9, "viz": 9, "overview": 9,
    "widgets": 10, "notebook": 10, "reproduce": 10, "compare": 10, "cli": 10, "__main__": 10,
}


def _component(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "emohead":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute emohead module, line) of every import statement in ``path``, relative ones resolved."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    here = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    if rel.name == "__init__":
        here = list(rel.parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, node.lineno))
            if node.module is None or (node.level and not node.module):
                out += [(f"{module}.{a.name}", node.lineno) for a in node.names]
    return [(m, line) for m, line in out if m.startswith("emohead")]


def test_every_component_has_a_layer():
    found = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir()
                                                        if (p / "__init__.py").is_file()}
    assert found - set(LAYERS) == set(), "place new modules in LAYERS (and docs/architecture.md)"


def test_no_import_points_up():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _component(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for module, line in _imports(path):
            target = _component(module)
            if target is not None and target != source and LAYERS.get(target, 99) > LAYERS[source]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({source}, layer {LAYERS[source]}) "
                              f"imports {module} (layer {LAYERS.get(target)})")
    assert upward == []


def _loaded_after(statement: str) -> list[str]:
    code = (f"import sys, json; {statement}; "
            "print(json.dumps(sorted(m for m in sys.modules if m in ('av', 'torch', 'sklearn') or m.split('.')[0] == 'emohead')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_hash_grid_imports_alone():
    loaded = _loaded_after("import emohead.render.hashgrid")
    assert loaded == ["emohead", "emohead._lazy", "emohead.render", "emohead.render.hashgrid", "torch"]


@pytest.mark.parametrize("statement, absent", [
    ("import emohead.emotion.editing", ("av", "torch", "sklearn", "emohead.face", "emohead.synth", "emohead.features")),
    ("import emohead.audio2exp.model", ("av", "emohead.face", "emohead.synth", "emohead.render")),
    ("import emohead.render.model", ("av", "emohead.audio2exp", "emohead.analyser", "emohead.synth")),
    ("import emohead", ("emohead.config", "emohead.data")),
])
def test_one_module_does_not_load_its_siblings(statement, absent):
    loaded = set(_loaded_after(statement))
    assert loaded.isdisjoint(absent), sorted(loaded & set(absent))
