"""The Papermill runner: order, resume, failure handling, run fingerprints and the reference guard (on tiny
throwaway notebooks); ``emohead compare`` on hand-made folders."""
import json

import nbformat
import pytest

from emohead.cli import main
from emohead.compare import compare_runs
from emohead.reproduce import ReferenceFolderError, ReproduceError, list_notebooks, reproduce


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


# --------------------------------------------------------------------------------------------
# done.json proves its run: run id + fingerprints of the executed notebook, metrics and run artifacts
# --------------------------------------------------------------------------------------------
def _artifact_notebook(path, artifact: str, flag=None) -> None:
    """A notebook that writes RUN_DIR/<artifact> and its metrics without importing emohead (fast kernels);
    it stops with an error after writing the artifact while the file ``flag`` exists (an interruption)."""
    stop = f"if os.path.exists({str(flag)!r}): raise RuntimeError('interrupted')\n" if flag else ""
    _notebook(path, (
        "import json, os, pathlib\n"
        f"run = pathlib.Path(RUN_DIR); (run / {artifact!r}).parent.mkdir(parents=True, exist_ok=True)\n"
        f"(run / {artifact!r}).write_text('made by ' + pathlib.Path(OUT_DIR).name)\n"
        + stop +
        "out = pathlib.Path(OUT_DIR); out.mkdir(parents=True, exist_ok=True)\n"
        "(out / 'metrics.json').write_text(json.dumps({'value': 1}))"))


@pytest.fixture
def artifact_books(tmp_path):
    d = tmp_path / "nb"
    d.mkdir()
    flag = tmp_path / "interrupt"
    _artifact_notebook(d / "01_make_a.ipynb", "data/a.txt")
    _artifact_notebook(d / "02_make_b.ipynb", "b.txt", flag)
    return d, flag


def _plan(out, books, **kw):
    return [(r.name, r.status, r.reason) for r in reproduce("smoke", out, notebooks_dir=books, dry_run=True, **kw)]


def _files(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.mark.slow
def test_done_markers_need_their_run_folder_and_artifacts(tmp_path, artifact_books):
    books, flag = artifact_books
    out = tmp_path / "out"
    assert _plan(out, books) == [("01_make_a", "run", "no run folder"), ("02_make_b", "run", "no run folder")]
    assert not out.exists()                                   # a dry run writes nothing

    assert [r.status for r in reproduce("smoke", out, notebooks_dir=books)] == ["ran", "ran"]
    run_id = json.loads((out / "run/run.json").read_text())["run_id"]
    done = json.loads((out / "01_make_a/done.json").read_text())
    assert done["run_id"] == run_id and set(done["artifacts"]) == {"run/data/a.txt"}
    assert len(done["executed_sha256"]) == 64 and len(done["metrics_sha256"]) == 64
    assert set(json.loads((out / "02_make_b/done.json").read_text())["artifacts"]) == {"run/b.txt"}
    before = _files(out)
    assert _plan(out, books) == [("01_make_a", "skip", "complete"), ("02_make_b", "skip", "complete")]
    assert _files(out) == before

    # a small run file rewritten with the same bytes (a new mtime: a killed notebook had rewritten an index) is
    # compared by content and stays complete; the same size with other bytes is a change
    import os
    a = out / "run/data/a.txt"
    a.write_text(a.read_text())
    os.utime(a, ns=(10**9, 10**9))
    assert _plan(out, books) == [("01_make_a", "skip", "complete"), ("02_make_b", "skip", "complete")]
    a.write_text("made by 01_make_X")
    assert _plan(out, books)[0] == ("01_make_a", "run", "artifact run/data/a.txt changed")
    a.write_text("made by 01_make_a")

    # a changed artifact re-runs its notebook (and the later ones); a missing one too
    (out / "run/b.txt").write_text("edited by hand, longer")
    assert _plan(out, books) == [("01_make_a", "skip", "complete"), ("02_make_b", "run", "artifact run/b.txt changed")]
    assert [r.status for r in reproduce("smoke", out, notebooks_dir=books)] == ["skipped", "ran"]
    (out / "run/data/a.txt").unlink()
    assert _plan(out, books) == [("01_make_a", "run", "artifact run/data/a.txt missing"),
                                 ("02_make_b", "run", "after 01_make_a, which runs")]
    assert [r.status for r in reproduce("smoke", out, notebooks_dir=books)] == ["ran", "ran"]
    assert (out / "run/data/a.txt").read_text() == "made by 01_make_a"

    # changed executed notebook or metrics.json: not complete either
    (out / "02_make_b/metrics.json").write_text('{"value": 2}')
    assert _plan(out, books)[1][2] == "metrics.json changed"
    assert [r.status for r in reproduce("smoke", out, notebooks_dir=books)] == ["skipped", "ran"]

    # the reports without their run folder (a fresh clone of committed reports) run everything, under a new run id
    import shutil
    shutil.rmtree(out / "run")
    assert _plan(out, books) == [("01_make_a", "run", "no run folder"), ("02_make_b", "run", "no run folder")]
    assert [r.status for r in reproduce("smoke", out, notebooks_dir=books)] == ["ran", "ran"]
    assert json.loads((out / "run/run.json").read_text())["run_id"] != run_id

    # done.json of the older format (no run id) is not a finished run
    done = json.loads((out / "01_make_a/done.json").read_text())
    (out / "01_make_a/done.json").write_text(json.dumps({k: done[k] for k in ("source", "config", "seconds")}))
    assert _plan(out, books)[0] == ("01_make_a", "run", "done.json of an older format (no run id)")


@pytest.mark.slow
def test_an_interrupted_run_resumes_and_later_writers_keep_earlier_records(tmp_path, artifact_books):
    books, flag = artifact_books
    out = tmp_path / "out"
    flag.write_text("stop in the second notebook, after it wrote run/b.txt")
    with pytest.raises(ReproduceError, match="02_make_b.ipynb failed"):
        reproduce("smoke", out, notebooks_dir=books)
    assert (out / "02_make_b.failed.ipynb").is_file() and (out / "run/b.txt").is_file()
    flag.unlink()
    assert _plan(out, books) == [("01_make_a", "skip", "complete"), ("02_make_b", "run", "not run yet (no done.json)")]
    assert [r.status for r in reproduce("smoke", out, notebooks_dir=books)] == ["skipped", "ran"]
    assert not (out / "02_make_b.failed.ipynb").exists()

    # a later notebook that rewrites an earlier one's artifact updates the earlier record: both stay complete
    _artifact_notebook(books / "02_make_b.ipynb", "data/a.txt", flag)
    assert [r.status for r in reproduce("smoke", out, notebooks_dir=books)] == ["skipped", "ran"]
    assert (out / "run/data/a.txt").read_text() == "made by 02_make_b"
    assert _plan(out, books) == [("01_make_a", "skip", "complete"), ("02_make_b", "skip", "complete")]


def test_reference_folder_is_refused_without_update_reference(tmp_path, artifact_books):
    books, _ = artifact_books
    ref = tmp_path / "reports" / "smoke"
    ref.mkdir(parents=True)
    (ref / "REFERENCE.md").write_text("the committed reference\n")
    with pytest.raises(ReferenceFolderError, match="reference folder .*--update-reference"):
        reproduce("smoke", ref, notebooks_dir=books)
    assert [p.name for p in ref.iterdir()] == ["REFERENCE.md"]
    # a dry run is allowed (it writes nothing) and says what would run
    assert [s for _, s, _ in _plan(ref, books)] == ["run", "run"]
    assert [p.name for p in ref.iterdir()] == ["REFERENCE.md"]


def test_cli_reference_guard_exits_2(tmp_path, artifact_books, capsys):
    books, _ = artifact_books
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "reference.json").write_text("{}")
    assert main(["reproduce", "--profile", "smoke", "--out", str(ref), "--notebooks", str(books)]) == 2
    assert "--update-reference" in capsys.readouterr().err
    assert main(["reproduce", "--profile", "smoke", "--out", str(ref), "--notebooks", str(books), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "2 notebook(s) would run" in text and "01_make_a" in text and "no run folder" in text
    assert "a real run there needs --update-reference" in text


@pytest.mark.slow
def test_update_reference_writes_and_records_the_commit(tmp_path, artifact_books):
    books, _ = artifact_books
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "REFERENCE.md").write_text("the committed reference\n")
    results = reproduce("smoke", ref, notebooks_dir=books, update_reference=True)
    assert [r.status for r in results] == ["ran", "ran"]
    record = json.loads((ref / "reference.json").read_text())
    assert record["profile"] == "smoke" and "commit" in record      # None here: tmp_path is no git checkout
    assert record["notebooks"] == {"01_make_a": "ran", "02_make_b": "ran"}
    assert (ref / "REFERENCE.md").is_file()


def test_a_tree_without_git_records_the_commit_it_is_told(tmp_path, artifact_books, monkeypatch):
    """A copy of the tree with no .git (a remote GPU machine) records $EMOHEAD_SOURCE_COMMIT, and only a real sha."""
    books, _ = artifact_books
    sha = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setenv("EMOHEAD_SOURCE_COMMIT", sha)
    reproduce("smoke", tmp_path / "a", notebooks_dir=books, update_reference=True)
    record = json.loads((tmp_path / "a" / "reference.json").read_text())
    assert record["commit"] == sha and record["uncommitted_changes"] is None
    for bad in ("HEAD; rm -rf /", sha[:7]):          # a short sha too: refused before any notebook runs, naming it
        monkeypatch.setenv("EMOHEAD_SOURCE_COMMIT", bad)
        with pytest.raises(ReproduceError, match=r"EMOHEAD_SOURCE_COMMIT=.*40 hex digits"):
            reproduce("smoke", tmp_path / "b", notebooks_dir=books, update_reference=True)
        assert not list((tmp_path / "b").glob("*.ipynb")) and not (tmp_path / "b" / "reference.json").exists()


# --------------------------------------------------------------------------------------------
# emohead compare
# --------------------------------------------------------------------------------------------
def _metrics_folder(root, per_notebook: dict) -> None:
    for name, metrics in per_notebook.items():
        (root / name).mkdir(parents=True)
        (root / name / "metrics.json").write_text(json.dumps(metrics))


REF_METRICS = {"01_data": {"n_clips": 144, "rmse": 0.4813923239707947, "backend": "spectral", "ok": True,
                           "mar_range": [0.0014, 0.45], "nested": {"psnr": 31.2, "zero": 0.0},
                           "seconds": 12.0, "train_seconds": 100.0, "device": "cpu", "latency": {"median_ms": 38.0}},
               "02_planes": {"accuracy": 0.875}}


def test_compare_tolerates_float_jitter_and_excludes_timings(tmp_path):
    run, ref = tmp_path / "run", tmp_path / "ref"
    _metrics_folder(ref, REF_METRICS)
    jitter = json.loads(json.dumps(REF_METRICS))
    jitter["01_data"].update(rmse=0.4813923239707947 * (1 + 3e-7), seconds=99.0, train_seconds=5.0, device="cuda")
    jitter["01_data"]["nested"]["zero"] = 1e-12
    jitter["01_data"]["latency"]["median_ms"] = 80.0
    _metrics_folder(run, jitter)
    result = compare_runs(run, ref)
    assert result.ok and result.differences == [] and result.notebooks == 2
    assert set(result.excluded) == {"01_data: seconds", "01_data: train_seconds", "01_data: device",
                                    "01_data: latency.median_ms"}
    assert result.equal == 9
    assert "9 metrics equal within rtol, 0 differ" in result.to_text()


def test_compare_lists_differences_and_missing(tmp_path, capsys):
    run, ref = tmp_path / "run", tmp_path / "ref"
    _metrics_folder(ref, {**REF_METRICS, "03_gone": {"x": 1}})
    changed = json.loads(json.dumps(REF_METRICS))
    changed["01_data"].update(rmse=0.50, backend="hubert", extra=1)
    changed["01_data"]["mar_range"] = [0.0014]
    _metrics_folder(run, changed)
    result = compare_runs(run, ref)
    assert {d.key for d in result.differences} == {"01_data: rmse", "01_data: backend"}
    rmse = next(d for d in result.differences if d.key == "01_data: rmse")
    assert rmse.rel == pytest.approx((0.50 - 0.4813923239707947) / 0.50)
    assert result.missing_in_run == ["03_gone (no metrics.json)", "01_data: mar_range[1]"]
    assert result.missing_in_reference == ["01_data: extra"]
    assert not result.ok

    assert main(["compare", str(run), str(ref)]) == 0                 # a report, not a failure
    text = capsys.readouterr().out
    assert "metrics equal within rtol, 2 differ:" in text and "01_data: rmse" in text and "hubert" in text
    assert main(["compare", str(run), str(ref), "--strict"]) == 1
    capsys.readouterr()
    assert main(["compare", str(run), str(ref), "--rtol", "0.1"]) == 0
    assert "1 differ:" in capsys.readouterr().out                   # rmse within 10 %, the string still differs
    assert main(["compare", str(tmp_path / "nowhere"), str(ref)]) == 2
    assert "no such folder" in capsys.readouterr().err
