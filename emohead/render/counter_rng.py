"""Counter-based random numbers: uniforms that are a pure function of (seed, iteration, stream, index).

A CUDA graph replays the same kernels with the same arguments, so a training step captured in one cannot seed a
``torch.Generator`` per iteration (which is how the eager trainer makes its batches a function of (seed, iteration)
only, so that a resumed run draws what an uninterrupted one would). Instead the iteration lives in a device tensor
that the graph itself advances, and every random number is a hash of (seed, iteration, stream, index):

    key  = mix(mix(seed) + iteration)            one 32-bit key per step
    u[i] = mix(mix(key ^ STREAM[stream]) + i) / 2^32

``mix`` is Chris Wellons' "lowbias32" integer hash (two multiply-xorshift rounds; full avalanche), computed on
int64 tensors that hold uint32 values (products are masked back to 32 bits). The same numbers come out on a CPU and
a GPU, eagerly or inside a graph; they are not those of ``torch.rand`` (the graph step's batches differ from the
eager step's, with the same distribution). 24 bits of each hash make the float32 uniform in [0, 1).
"""
from __future__ import annotations

import torch

MASK32 = 0xFFFFFFFF
STREAMS = {"frame": 0x68E31DA4, "pixel": 0xB5297A4D, "sample": 0x1B56C4E9, "grid": 0x2545F491}
"""Independent streams of one step (any distinct 32-bit constants)."""


def mix32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 of int64 tensors holding uint32 values -> int64 in [0, 2^32)."""
    x = x & MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & MASK32
    return x ^ (x >> 16)


class CounterRng:
    """The uniforms of one training run (``seed``) on ``device``; every method is safe inside a CUDA graph.

    max_numbers: the most numbers one call asks for (an index buffer of that length is built once, here).
    """

    def __init__(self, seed: int, device: torch.device | str, max_numbers: int):
        self.seed_key = mix32(torch.tensor(seed & MASK32, dtype=torch.int64, device=device))     # [] int64
        self.index = torch.arange(max_numbers, dtype=torch.int64, device=device)

    def key(self, iteration: torch.Tensor) -> torch.Tensor:
        """int64 [] key of one step; iteration: a 0-d int64 tensor on the device."""
        return mix32(self.seed_key + iteration)

    def uniform(self, key: torch.Tensor, stream: str, shape: tuple[int, ...]) -> torch.Tensor:
        """float32 uniforms in [0, 1) of ``shape`` for the step ``key`` and a named stream (see the module docstring)."""
        n = 1
        for d in shape:
            n *= d
        if n > self.index.numel():
            raise ValueError(f"CounterRng: {n} numbers asked, built for at most {self.index.numel()}")
        h = mix32(mix32(key ^ STREAMS[stream]) + self.index[:n])
        return ((h >> 8).to(torch.float32) * (1.0 / (1 << 24))).reshape(shape)
