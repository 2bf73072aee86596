"""pyproject.toml and environment.yml list the same dependencies (names and lower bounds)."""
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch", "pysoundfile": "soundfile"}
NOT_PACKAGES = {"python", "pip"}


def _split(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    assert m, spec
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def _pyproject():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return data["project"], dict(_split(s) for s in data["project"]["dependencies"])


def _environment():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda, pip = {}, []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            pip += item["pip"]
        else:
            name, bound = _split(item)
            if name not in NOT_PACKAGES:
                conda[CONDA_TO_PYPI.get(name, name)] = bound
    return env, conda, pip


def test_dependencies_match():
    _, deps = _pyproject()
    _, conda, pip = _environment()
    pip_pkgs = dict(_split(s) for s in pip if not s.startswith("-e"))
    env_deps = {**conda, **pip_pkgs}
    assert env_deps == deps, (
        f"only in environment.yml: {sorted(set(env_deps) - set(deps))}; "
        f"only in pyproject: {sorted(set(deps) - set(env_deps))}; "
        f"bounds differ: {sorted(k for k in deps if k in env_deps and env_deps[k] != deps[k])}")


def test_environment_installs_the_package_with_dev_extra():
    _, _, pip = _environment()
    assert "-e .[dev]" in pip


def test_brief_dependencies_are_declared_and_tinycudann_optional():
    project, deps = _pyproject()
    for name in ("jupyterlab", "papermill", "torch", "transformers", "funasr", "scikit-learn",
                 "matplotlib", "ipywidgets"):
        assert name in deps, name
    assert not any("tinycudann" in d or "tiny-cuda-nn" in d for d in deps)
    assert "pytest" in " ".join(project["optional-dependencies"]["dev"])
    assert project["requires-python"] == ">=3.11"


def test_ci_calls_the_readme_test_command():
    ci = (REPO / ".ci/run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make demo" in readme
