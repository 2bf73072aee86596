"""Shared fixtures of the renderer tests: the Triton kernels on CUDA, or in the CPU interpreter in a clean process."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
import torch

HAS_TRITON = importlib.util.find_spec("triton") is not None
HAS_CUDA = torch.cuda.is_available()

# Triton 3.6 cannot mix its CPU interpreter and compiled kernels in one process (the interpreter's language
# patches leak into later compiles and back), so a process tests one of them: CUDA when available.
MIXING = "CUDA is available: the compiled kernels are tested instead (Triton cannot mix interpreter and GPU in one process)"


CHILD = "EMOHEAD_TRITON_INTERPRETER_CHILD"


def run_in_clean_interpreter(request) -> bool:
    """Re-run this test in a fresh process with TRITON_INTERPRET=1 set from the start; True if it ran there.

    Triton's interpreter patches triton.language when a kernel first runs; if anything in this process
    (transformers, torch.compile, ...) imported Triton before, the patch is incomplete and the kernel fails with
    "Cannot call @triton.jit'd outside of the scope of a kernel". A child process avoids that state.
    """
    if os.environ.get(CHILD) == "1":
        return False
    env = {**os.environ, "TRITON_INTERPRET": "1", CHILD: "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
                          cwd=request.config.rootpath, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return True


@pytest.fixture
def triton_device(monkeypatch, request):
    """'cuda' when available, else 'cpu' with TRITON_INTERPRET=1; skips when triton is missing."""
    if not HAS_TRITON:
        pytest.skip("triton is not importable (pip install triton to test the kernels in its CPU interpreter)")
    if HAS_CUDA:
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
        return "cuda"
    if run_in_clean_interpreter(request):
        pytest.skip("ran in a clean child process with TRITON_INTERPRET=1 (passed)")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    return "cpu"
