"""Which CPU convolution kernels training may use (a guard against a oneDNN bug).

PyTorch 2.13's oneDNN convolution backward corrupts the heap on x86 CPUs whose oneDNN runs its AVX2 kernels
(no AVX-512): training the face analyser there aborts with "double free or corruption", "corrupted double-linked
list" or "munmap_chunk(): invalid pointer", or hangs in the allocator, and two identical runs differ by up to 7e-3.
Reproduced on an AVX-512 machine with ``ONEDNN_MAX_CPU_ISA=AVX2`` (tiny analyser training, 1 and 2 threads); with
AVX-512 kernels, or with PyTorch's native convolutions, 16 runs were clean and bit-identical. A CI run hung on it.

:func:`training_kernels` wraps every CPU training loop that back-propagates through a convolution (face analyser,
SyncNet, the NeRF's L_cord / L_shape through the analyser): it switches oneDNN off inside the block where it is not
known to be safe. Inference keeps oneDNN (forward passes were clean and deterministic in the same check).
``EMOHEAD_CPU_CONV=onednn`` or ``=native`` overrides the choice.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch

OVERRIDE_ENV = "EMOHEAD_CPU_CONV"


def onednn_backward_is_safe() -> bool:
    """True where oneDNN's convolution backward may be used for training on this CPU (see the module docstring)."""
    choice = os.environ.get(OVERRIDE_ENV, "").strip().lower()
    if choice in ("onednn", "native"):
        return choice == "onednn"
    if choice:
        raise ValueError(f"{OVERRIDE_ENV}={choice!r}: use 'onednn' or 'native'")
    capped = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL").upper()
    if capped != "ALL" and not capped.startswith("AVX512") and not capped.startswith("AVX10"):
        return False
    return "AVX512" in torch.backends.cpu.get_cpu_capability().upper()


@contextlib.contextmanager
def training_kernels(device: torch.device | str) -> Iterator[None]:
    """Inside the block, CPU convolutions use PyTorch's native kernels unless oneDNN's backward is safe here."""
    if torch.device(device).type != "cpu" or onednn_backward_is_safe():
        yield
        return
    with torch.backends.mkldnn.flags(enabled=False):
        yield


__all__ = ["OVERRIDE_ENV", "onednn_backward_is_safe", "training_kernels"]
