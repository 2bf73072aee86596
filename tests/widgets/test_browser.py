"""Notebook 06 in a real browser: JupyterLab on localhost, headless Chromium, all cells run, a slider moved by mouse
and keyboard, and screenshots of the mixer's image compared before and after.

Needs Debian's ``chromium`` (``apt-get install chromium``) and Playwright for Python (``pip install playwright``);
Playwright only drives the system browser through ``executable_path`` (never ``playwright install``). Where either is
missing the test is skipped and says why (``.ci/run`` installs both).
"""
from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import re

import numpy as np
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_emotion_interpolation_demo.ipynb"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
IMAGE = "img.emohead-mixer-image"
STATUS = ".emohead-mixer-status"


def _chromium() -> str:
    for candidate in (os.environ.get("EMOHEAD_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("browser test skipped: no Chromium found (apt-get install chromium, or set EMOHEAD_CHROMIUM)")


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser test skipped: Playwright for Python is not installed (pip install playwright)")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer {url} within {timeout:.0f} s")


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _prepare_notebook(world: dict, lab_dir: Path, out_dir: Path) -> Path:
    """Notebook 06 with small parameters injected the way Papermill does (a cell after the parameters cell)."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(NOTEBOOK))
    nb = parameterize_notebook(nb, {"PROFILE": "smoke", "RUN_DIR": str(world["run_dir"]), "OUT_DIR": str(out_dir),
                                    "SEED": 0, "OVERRIDES": world["overrides"], "RENDERER": "mesh",
                                    "PREVIEW_SIZE": 128, "INTERP_STEPS": 3, "TAU_STEPS": [0.0, 3.0],
                                    "YAWS": [-20.0, 20.0], "LATENCY_UPDATES": 5}, kernel_name="python3",
                               language="python")
    path = lab_dir / "06_demo.ipynb"
    nbformat.write(nb, str(path))
    return path


def _kernel_idle_js() -> str:
    return ("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return !!k && k.status === 'idle'; }")


def _settled_src(page, timeout: float = 30.0, quiet: float = 1.5) -> str:
    """The image's src once it stopped changing for ``quiet`` seconds (continuous slider updates arrive in a burst)."""
    src = page.get_attribute(IMAGE, "src")
    since, end = time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < end:
        page.wait_for_timeout(250)
        now = page.get_attribute(IMAGE, "src")
        if now != src:
            src, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return src
    return src


@pytest.fixture()
def browser_tools():
    """(chromium path, sync_playwright), or a skip saying what is missing (before the world is built)."""
    return _chromium(), _playwright()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_notebook06_in_jupyterlab_slider_changes_the_face(browser_tools, widget_world, tmp_path):
    chromium, sync_playwright = browser_tools
    lab_dir, out_dir = tmp_path / "lab", tmp_path / "out"
    lab_dir.mkdir()
    path = _prepare_notebook(widget_world, lab_dir, out_dir)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter_config"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab_settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab_workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    log_file = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={lab_dir}", "--ServerApp.open_browser=False",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=lab_dir, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        with sync_playwright() as p:
            # a fresh profile folder (Playwright passes it as --user-data-dir)
            browser = p.chromium.launch_persistent_context(str(tmp_path / "chromium_profile"),
                                                           executable_path=chromium, headless=True,
                                                           args=CHROMIUM_ARGS, viewport={"width": 1500, "height": 1100})
            try:
                page = browser.pages[0] if browser.pages else browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{path.name}?reset&token={token}")
                page.wait_for_selector(".jp-Notebook", timeout=90_000)
                page.wait_for_function(_kernel_idle_js(), timeout=90_000)
                # run every cell, as a user would with Run > Run All Cells
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                image = page.locator(IMAGE)
                image.wait_for(state="visible", timeout=120_000)
                # the last cell wrote metrics.json: the notebook ran to the end in this browser session
                end = time.monotonic() + 150
                while not (out_dir / "metrics.json").is_file() and time.monotonic() < end:
                    page.wait_for_timeout(500)
                assert (out_dir / "metrics.json").is_file(), "notebook 06 did not run to the end in JupyterLab"
                metrics = json.loads((out_dir / "metrics.json").read_text())
                assert metrics["renderer"] == "mesh" and metrics["switch_video"]["has_audio"]
                page.wait_for_function(_kernel_idle_js(), timeout=60_000)
                image.scroll_into_view_if_needed()
                src0 = _settled_src(page)
                assert src0 and src0.startswith(("blob:", "data:"))
                shot0 = image.screenshot(path=str(shots / "0_before.png"))
                status = page.locator(STATUS)
                assert "yaw +0°" in status.inner_text()

                # 1. drag the view (yaw) slider's handle to the right with the mouse
                handle = page.locator(".emohead-yaw .noUi-handle")
                box = handle.bounding_box()
                x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                page.mouse.move(x, y)
                page.mouse.down()
                page.mouse.move(x + 90, y, steps=6)
                page.mouse.up()
                page.wait_for_function(f"() => document.querySelector('{IMAGE}').src !== {json.dumps(src0)}",
                                       timeout=30_000)
                src1 = _settled_src(page)
                shot1 = image.screenshot(path=str(shots / "1_yaw_dragged.png"))
                text = status.inner_text()
                assert "yaw +0°" not in text and "yaw +" in text, text        # the kernel saw the new yaw

                # 2. the blend slider by keyboard: focus its handle, press the right arrow
                blend = page.locator(".emohead-blend .noUi-handle")
                blend.focus()
                for _ in range(20):
                    page.keyboard.press("ArrowRight")
                page.wait_for_function(f"() => document.querySelector('{IMAGE}').src !== {json.dumps(src1)}",
                                       timeout=30_000)
                _settled_src(page)
                shot2 = image.screenshot(path=str(shots / "2_blend_keyboard.png"))
                text = status.inner_text()
                blend_value = re.search(r"neutral\+happyx([0-9.]+)", text)
                assert blend_value and float(blend_value.group(1)) > 0, text      # the kernel saw the new blend
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log_file.close()

    a, b, c = _pixels(shot0), _pixels(shot1), _pixels(shot2)
    assert a.shape == b.shape == c.shape and a.shape[0] >= 200       # the image region, shown at 256 px
    yaw_change = np.abs(a - b).max(-1)
    blend_change = np.abs(b - c).max(-1)
    print(f"browser test: yaw drag changed {np.mean(yaw_change > 16):.1%} of the image's pixels "
          f"(mean |diff| {np.abs(a - b).mean():.2f}); blend by keyboard {np.mean(blend_change > 16):.1%}")
    assert np.mean(yaw_change > 16) > 0.02 and np.abs(a - b).mean() > 1.0   # the head turned
    assert (blend_change > 16).sum() > 0                                     # the expression moved
