"""The guard against oneDNN's AVX2 convolution backward (emohead/cpu_kernels.py): the choice, and a real training run
under oneDNN's AVX2 kernels that must finish cleanly and repeat bit for bit."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from emohead import cpu_kernels


def test_choice_follows_the_isa_cap_and_the_override(monkeypatch):
    for var in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", cpu_kernels.OVERRIDE_ENV):
        monkeypatch.delenv(var, raising=False)
    native_avx512 = "AVX512" in torch.backends.cpu.get_cpu_capability().upper()
    assert cpu_kernels.onednn_backward_is_safe() == native_avx512
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not cpu_kernels.onednn_backward_is_safe()
    monkeypatch.setenv(cpu_kernels.OVERRIDE_ENV, "onednn")
    assert cpu_kernels.onednn_backward_is_safe()
    monkeypatch.setenv(cpu_kernels.OVERRIDE_ENV, "fast")
    with pytest.raises(ValueError, match="EMOHEAD_CPU_CONV='fast'"):
        cpu_kernels.onednn_backward_is_safe()


def test_training_kernels_switch_onednn_off_only_inside_and_only_on_cpu(monkeypatch):
    monkeypatch.setenv(cpu_kernels.OVERRIDE_ENV, "native")
    before = torch.backends.mkldnn.enabled
    with cpu_kernels.training_kernels("cpu"):
        assert torch.backends.mkldnn.enabled is False
    assert torch.backends.mkldnn.enabled == before
    with cpu_kernels.training_kernels("meta"):                     # not a CPU device: nothing changes
        assert torch.backends.mkldnn.enabled == before
    monkeypatch.setenv(cpu_kernels.OVERRIDE_ENV, "onednn")
    with cpu_kernels.training_kernels("cpu"):
        assert torch.backends.mkldnn.enabled == before


TRAIN_TWICE = textwrap.dedent("""
    import torch
    from emohead.config import AnalyserConfig
    from emohead.face import build_procedural_model
    from emohead.analyser.model import train_analyser
    from emohead.analyser.samples import render_samples
    cfg = AnalyserConfig(input_size=32, n_train=32, n_val=16, epochs=1, batch_size=16, lr=2e-3, width=4)
    face = build_procedural_model()
    samples = (render_samples(face, 32, image_size=48, input_size=32, seed=3, split="train", progress=False),
               render_samples(face, 16, image_size=48, input_size=32, seed=3, split="val", progress=False))
    a, b = (train_analyser(cfg, image_size=48, seed=5, progress=False, samples=samples)[0] for _ in range(2))
    print(max(float((x - y).abs().max()) for x, y in zip(a.state_dict().values(), b.state_dict().values())
              if x.is_floating_point()))
""")


@pytest.mark.parametrize("threads", [1, 2])
def test_analyser_training_under_onednn_avx2_kernels_is_clean_and_repeatable(threads):
    """Without the guard this aborted with heap corruption or differed by up to 7e-3 (reproduced, 2026-12-02)."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": str(threads), "MALLOC_CHECK_": "3"}
    env.pop(cpu_kernels.OVERRIDE_ENV, None)
    run = subprocess.run([sys.executable, "-c", TRAIN_TWICE], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.strip().splitlines()[-1]) == 0.0
