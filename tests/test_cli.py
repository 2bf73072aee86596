import subprocess
import sys

import pytest

from emohead.cli import main


def test_config_prints_yaml(capsys):
    assert main(["config", "--profile", "smoke", "--set", "audio2exp.iterations=5"]) == 0
    out = capsys.readouterr().out
    assert "iterations: 5" in out and "name: smoke" in out


def test_python_dash_m_works():
    res = subprocess.run([sys.executable, "-m", "emohead", "config", "--profile", "paper"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "iterations: 200000" in res.stdout


@pytest.mark.parametrize("argv, message", [
    (["config", "--set", "audio2exp.iters=3"], "unknown field 'iters'"),
    (["config", "--set", "audio2exp.d=wide"], "audio2exp.d: expected int"),
    (["config", "--set", "nonsense"], "expected stage.field=value"),
])
def test_bad_overrides_exit_2_with_a_message(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_profile_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["config", "--profile", "turbo"])
    assert exc.value.code == 2
    assert "invalid choice: 'turbo'" in capsys.readouterr().err


def test_reproduce_bad_only_names_the_notebook(tmp_path, capsys):
    code = main(["reproduce", "--profile", "smoke", "--out", str(tmp_path / "r"), "--only", "99"])
    assert code == 1
    assert "no such notebook" in capsys.readouterr().err


def test_reproduce_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["reproduce", "--profile", "smoke", "--out", str(blocker / "sub")]) == 2    # bad input: exit 2
    assert f"lies under {blocker}, which is a file" in capsys.readouterr().err


@pytest.mark.parametrize("command", [
    ["synth", "--profile", "smoke"],
    ["fit-hyperplanes", "--profile", "smoke", "--data", "DATA"],
    ["evaluate", "--profile", "smoke", "--run", "DATA"],
])
def test_an_output_path_that_cannot_be_a_folder_is_refused_before_any_work(tmp_path, capsys, command):
    blocker = tmp_path / "results.txt"
    blocker.write_text("not a folder")
    command = [str(tmp_path / "data") if c == "DATA" else c for c in command]
    assert main([*command, "--out", str(blocker)]) == 2
    assert f"--out {blocker}: is a file" in capsys.readouterr().err
    assert main([*command, "--out", str(blocker / "sub")]) == 2
    assert "lies under" in capsys.readouterr().err and blocker.read_text() == "not a folder"
