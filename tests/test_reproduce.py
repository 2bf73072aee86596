"""The Papermill runner: order, resume, failure handling (on tiny throwaway notebooks)."""
import json

import nbformat
import pytest

from emohead.reproduce import ReproduceError, list_notebooks, reproduce


def _notebook(path, body: str, *, tag=True):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "smoke"\nRUN_DIR = "x"\nOUT_DIR = "y"\nSEED = 0\nOVERRIDES = {}')
    if tag:
        params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(path))


FINISH = ("import emohead as eh, pathlib\nctx = eh.notebook.start(PROFILE, RUN_DIR, OUT_DIR, seed=SEED, overrides=OVERRIDES)\n"
          "log = pathlib.Path(RUN_DIR) / 'order.txt'\nlog.open('a').write(pathlib.Path(OUT_DIR).name + '\\n')\n"
          "eh.notebook.finish(ctx, {'value': {v}, 'seed': ctx.profile.seed})")


@pytest.fixture
def books(tmp_path):
    d = tmp_path / "nb"
    d.mkdir()
    _notebook(d / "10_second.ipynb", FINISH.replace("{v}", "2"))
    _notebook(d / "02_first.ipynb", FINISH.replace("{v}", "1"))
    (d / "notes.ipynb").write_text("{}")  # not numbered: ignored
    return d


@pytest.mark.slow
def test_runs_in_numeric_order_and_resumes(tmp_path, books):
    out = tmp_path / "out"
    results = reproduce("smoke", out, notebooks_dir=books)
    assert [r.name for r in results] == ["02_first", "10_second"]
    assert [r.status for r in results] == ["ran", "ran"]
    assert (out / "run/order.txt").read_text().split() == ["02_first", "10_second"]
    assert json.loads((out / "10_second/metrics.json").read_text())["value"] == 2
    executed = nbformat.read(str(out / "02_first.ipynb"), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    summary = (out / "summary.md").read_text()
    assert "| 02_first | ran |" in summary and "| value | 1 |" in summary

    again = reproduce("smoke", out, notebooks_dir=books)
    assert [r.status for r in again] == ["skipped", "skipped"]
    assert [r.metrics["value"] for r in again] == [1, 2]

    # an interrupted run: the second notebook's marker is gone -> only it re-runs
    (out / "10_second/done.json").unlink()
    third = reproduce("smoke", out, notebooks_dir=books)
    assert [r.status for r in third] == ["skipped", "ran"]

    # a changed config invalidates everything; --force re-runs everything
    assert [r.status for r in reproduce("smoke", out, notebooks_dir=books, overrides={"seed": 3})] == ["ran", "ran"]
    assert [r.status for r in reproduce("smoke", out, notebooks_dir=books, overrides={"seed": 3}, force=True)] == ["ran", "ran"]
    assert json.loads((out / "02_first/metrics.json").read_text())["seed"] == 3

    # --only re-runs one notebook; summary.md keeps the others' earlier results
    only = reproduce("smoke", out, notebooks_dir=books, overrides={"seed": 3}, only=["10"], force=True)
    assert [r.name for r in only] == ["10_second"]
    summary = (out / "summary.md").read_text()
    assert "| 02_first | earlier run |" in summary and "| 10_second | ran |" in summary


@pytest.mark.slow
def test_a_failing_notebook_stops_the_run_and_keeps_its_error(tmp_path, books):
    _notebook(books / "05_broken.ipynb", "raise RuntimeError('boom in cell')")
    out = tmp_path / "out"
    with pytest.raises(ReproduceError, match="05_broken.ipynb failed"):
        reproduce("smoke", out, notebooks_dir=books)
    assert (out / "02_first/done.json").exists()
    assert not (out / "10_second.ipynb").exists()
    failed = (out / "05_broken.failed.ipynb").read_text()
    assert "boom in cell" in failed
    assert "| 05_broken | failed |" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_notebook_without_metrics_is_an_error(tmp_path):
    d = tmp_path / "nb"
    d.mkdir()
    _notebook(d / "01_silent.ipynb", "x = 1")
    with pytest.raises(ReproduceError, match="wrote no .*metrics.json"):
        reproduce("smoke", tmp_path / "out", notebooks_dir=d)


def test_list_notebooks_errors(tmp_path):
    with pytest.raises(ReproduceError, match="not found"):
        list_notebooks(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReproduceError, match="no numbered notebooks"):
        list_notebooks(tmp_path / "empty")
