"""A newcomer's fresh clone: the committed reports/ hold done.json markers but no run folder, so `reproduce`
must plan every notebook, both into the default runs/cpu and into the committed reference reports/cpu (dry runs:
nothing executes, nothing is written)."""
import shutil
import subprocess
from pathlib import Path

import pytest

from emohead.cli import main
from emohead.reproduce import reproduce

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory):
    """The tracked files of this checkout (as a clone would have them, reports/ included) in a temporary folder."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    clone = tmp_path_factory.mktemp("fresh_clone")
    for rel in filter(None, listed.stdout.decode().split("\0")):
        src = REPO / rel
        if src.is_file():                       # a tracked file deleted in the working tree is not copied
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / rel)
    return clone


def _snapshot(folder: Path):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_the_clone_has_the_committed_reference_but_no_run_folder(fresh_clone):
    assert list((fresh_clone / "reports/cpu").glob("*/done.json")), "the reference's done.json markers are committed"
    assert (fresh_clone / "reports/cpu/REFERENCE.md").is_file()
    assert not (fresh_clone / "reports/cpu/run").exists() and not (fresh_clone / "runs").exists()


@pytest.mark.parametrize("out", ["reports/cpu", "runs/cpu"])
def test_reproduce_in_a_fresh_clone_runs_every_notebook(fresh_clone, out):
    before = _snapshot(fresh_clone)
    plan = reproduce("cpu", fresh_clone / out, notebooks_dir=fresh_clone / "notebooks", dry_run=True)
    assert len(plan) == len(list((fresh_clone / "notebooks").glob("[0-9][0-9]_*.ipynb"))) >= 7
    assert [(r.status, r.reason) for r in plan] == [("run", "no run folder")] * len(plan)
    assert _snapshot(fresh_clone) == before


def test_cli_in_a_fresh_clone_defaults_to_runs_and_guards_the_reference(fresh_clone, monkeypatch, capsys):
    monkeypatch.chdir(fresh_clone)
    before = _snapshot(fresh_clone)
    n = len(list((fresh_clone / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    assert main(["reproduce", "--profile", "cpu", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"dry run into runs/cpu: {n} notebook(s) would run, 0 would be skipped" in text
    assert text.count("no run folder") == n
    # a real run into the committed reference is refused before anything is written
    assert main(["reproduce", "--profile", "cpu", "--out", "reports/cpu"]) == 2
    assert "reference folder" in capsys.readouterr().err
    assert _snapshot(fresh_clone) == before
