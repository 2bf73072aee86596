"""Multi-resolution hash-grid encoding (instant-ngp, Müller et al. 2022; RAD-NeRF, ref [44] of EmoHead).

A point x in [0,1]^3 is looked up in L grids of increasing resolution; at each level the features
stored at the 8 corners of the cell containing x are blended trilinearly, and the L results are
concatenated. Equation numbers refer to Müller, Evans, Schied, Keller, "Instant Neural Graphics
Primitives with a Multiresolution Hash Encoding", ACM Trans. Graph. 41(4), 2022, Sec. 3:

    (2)  N_l = floor(N_min * b^l)                                  resolution of level l
    (3)  b   = exp((ln N_max - ln N_min) / (L - 1))                growth factor between levels
    (4)  h(v) = (v_x * 1  XOR  v_y * 2654435761  XOR  v_z * 805459861) mod T   in uint32 arithmetic
         x_l = x * N_l,  w_l = x_l - floor(x_l)                    position in level l, interpolation weights

A coarse level whose (N_l + 1)^3 vertices fit in the table is stored densely (index v_x + v_y R + v_z R^2,
R = N_l + 1, one entry per vertex); finer levels use the hash (4) and share entries on collisions.

Three implementations, picked by ``backend``:

- ``"torch"``: :func:`hashgrid_reference`, plain PyTorch, differentiable in both the table and x.
  This is the one to read.
- ``"triton"``: :mod:`emohead.render.hashgrid_triton`, one fused kernel per pass, table gradient only.
- ``"tcnn"``: ``tinycudann.Encoding`` (NVIDIA tiny-cuda-nn), half its own conventions (see below).

A backend that cannot run here (package missing, no CUDA) falls back to ``"torch"`` with a warning;
``encoder.backend`` says which one is in use.
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Sequence

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

BACKENDS = ("torch", "triton", "tcnn")

PRIMES = (1, 2654435761, 805459861)
"""pi_1, pi_2, pi_3 of eq. (4): the instant-ngp spatial-hash constants (pi_1 = 1 keeps x coherent in memory)."""

_U32 = 0xFFFFFFFF

# the 8 corners of a cell, as (dx, dy, dz) offsets from its lower corner; row c has dx = c & 1,
# dy = (c >> 1) & 1, dz = (c >> 2) & 1 (the Triton kernel enumerates the corners in the same order)
_CORNERS = torch.tensor([[c & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)], dtype=torch.long)  # [8, 3]


def level_resolutions(n_levels: int, base_resolution: int, max_resolution: int) -> list[int]:
    """Grid resolution N_l of each level, eq. (2)-(3); N_0 = base, N_{L-1} = max.

    A tiny epsilon guards the floor against b^l landing a rounding error below an integer
    (16 * b^15 evaluates to 2047.9999... for base 16, max 2048).
    """
    if n_levels == 1:
        return [int(base_resolution)]
    b = math.exp((math.log(max_resolution) - math.log(base_resolution)) / (n_levels - 1))  # eq. (3)
    return [int(math.floor(base_resolution * b**level + 1e-6)) for level in range(n_levels)]  # eq. (2)


def dense_levels(resolutions: Sequence[int], table_size: int) -> list[bool]:
    """True for levels whose (N_l + 1)^3 vertices all fit in the table (stored 1:1, no hashing)."""
    return [(res + 1) ** 3 <= table_size for res in resolutions]


def grid_index(vertex: Tensor, resolution: int, table_size: int, dense: bool) -> Tensor:
    """Table row of integer grid vertices. vertex: [..., 3] int64 in 0..N_l -> [...] int64 in 0..T-1.

    Dense levels: v_x + v_y R + v_z R^2 with R = N_l + 1. Hashed levels: eq. (4), computed as instant-ngp
    does in uint32 (products wrap modulo 2^32; int64 here, masked to 32 bits). T is a power of two,
    so ``mod T`` is ``& (T - 1)``.
    """
    vx, vy, vz = vertex.unbind(-1)
    if dense:
        r = resolution + 1
        return vx + vy * r + vz * (r * r)
    h = (vx * PRIMES[0]) ^ ((vy * PRIMES[1]) & _U32) ^ ((vz * PRIMES[2]) & _U32)  # eq. (4), uint32 products
    return h & (table_size - 1)  # mod T


def hashgrid_reference(x: Tensor, embeddings: Tensor, resolutions: Sequence[int],
                       dense: Sequence[bool]) -> Tensor:
    """Pure-PyTorch hash-grid encoding, differentiable w.r.t. the table and x.

    Args:
        x: [N, 3] points in [0,1]^3 (values outside are clamped to the unit cube).
        embeddings: [L, T, F] feature tables, one per level; T a power of two.
        resolutions: N_l per level (length L), see :func:`level_resolutions`.
        dense: per level, index densely instead of hashing (see :func:`dense_levels`).

    Returns:
        [N, L * F] in the table's dtype; columns l*F:(l+1)*F hold level l.
    """
    n_levels, table_size, _ = embeddings.shape
    x = x.to(embeddings.dtype).clamp(0.0, 1.0)                          # [N, 3]
    corners = _CORNERS.to(x.device)                                     # [8, 3]
    out = []
    for level in range(n_levels):
        res = resolutions[level]
        pos = x * res                                                   # x_l = x N_l            [N, 3]
        cell = pos.detach().floor().clamp(0, res - 1).long()            # floor(x_l); x = 1 uses the last cell
        w = pos - cell                                                  # w_l = x_l - floor(x_l) [N, 3]
        vertex = cell[:, None, :] + corners                             # the 8 corners          [N, 8, 3]
        idx = grid_index(vertex, res, table_size, dense[level])         # table rows             [N, 8]
        # trilinear weight of a corner: prod over axes of w (upper side) or 1 - w (lower side)
        weight = torch.where(corners.bool(), w[:, None, :], 1.0 - w[:, None, :]).prod(-1)  # [N, 8]
        feat = embeddings[level][idx]                                   # [N, 8, F]
        out.append((weight[..., None] * feat).sum(1))                   # [N, F]
    return torch.cat(out, dim=-1)                                       # [N, L F]


def _triton_unavailable() -> str | None:
    """Why the Triton backend cannot run here, or None when it can."""
    try:
        import triton  # noqa: F401
    except ImportError as err:
        return f"triton is not importable ({err})"
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1":
        return "CUDA is not available (set TRITON_INTERPRET=1 to run the kernels in Triton's CPU interpreter)"
    return None


def _tcnn_unavailable() -> str | None:
    """Why the tiny-cuda-nn backend cannot run here, or None when it can."""
    try:
        import tinycudann  # noqa: F401
    except ImportError as err:
        return f"tinycudann is not importable ({err})"
    except Exception as err:  # tcnn raises at import time when no GPU/driver is found
        return f"tinycudann failed to import ({type(err).__name__}: {err})"
    if not torch.cuda.is_available():
        return "CUDA is not available"
    return None


def resolve_backend(backend: str, n_features: int = 2) -> tuple[str, str | None]:
    """The backend that will actually run for a requested one: (name, reason for a fallback or None)."""
    if backend not in BACKENDS:
        raise ValueError(f"HashGridEncoder: backend must be one of {BACKENDS}, got {backend!r}")
    reason = None
    if backend == "triton":
        reason = _triton_unavailable()
        if reason is None and (n_features & (n_features - 1) or n_features > 16):
            reason = f"the Triton kernel needs n_features to be a power of two <= 16, got {n_features}"
    elif backend == "tcnn":
        reason = _tcnn_unavailable()
    return (backend, None) if reason is None else ("torch", reason)


class HashGridEncoder(nn.Module):
    """Multi-resolution hash-grid encoder: x [N, 3] in [0,1]^3 -> features [N, n_levels * n_features].

    Callers normalise their scene's bounding box to the unit cube first (x = (p - lo) / (hi - lo));
    coordinates outside [0,1] are clamped. Levels follow eq. (2)-(3), coarse levels that fit are
    dense, fine ones hashed with eq. (4), and features are blended trilinearly.

    Parameters: ``embeddings`` [n_levels, T, n_features], T = 2^log2_table_size, initialised
    U(-1e-4, 1e-4) as in instant-ngp. One table per level of the full size T, which is simpler than
    instant-ngp's packed per-level offsets; dense levels leave the rows past (N_l+1)^3 unused.

    Backends (``backend=``, the one in use is ``encoder.backend``):
        "torch"   reference, gradients for the table and x.
        "triton"  fused Triton kernels (CUDA, or the CPU interpreter with TRITON_INTERPRET=1), float32;
                  gradient for the table only: calling it on an x that requires grad raises RuntimeError.
                  CPU tensors without TRITON_INTERPRET=1 are encoded by the reference (with a warning).
        "tcnn"    ``tinycudann.Encoding`` with the matching HashGrid config, float32, CUDA tensors only.
                  Its parameters (``encoder.tcnn.params``, flat; ``embeddings`` is None) use tcnn's layout
                  and conventions (per-level packed tables, vertex at x*(N_l-1)+0.5), so tables are NOT
                  interchangeable with the torch/triton backends and outputs differ; no conversion exists.
    An unavailable backend falls back to "torch" with a ``warnings.warn`` naming the reason.
    """

    def __init__(self, n_levels: int = 16, n_features: int = 2, log2_table_size: int = 19,
                 base_resolution: int = 16, max_resolution: int = 2048, backend: str = "torch") -> None:
        super().__init__()
        for name, value in (("n_levels", n_levels), ("n_features", n_features), ("base_resolution", base_resolution)):
            if int(value) < 1:
                raise ValueError(f"HashGridEncoder: {name} must be >= 1, got {value}")
        if not 1 <= log2_table_size <= 30:
            raise ValueError(f"HashGridEncoder: log2_table_size must be in 1..30, got {log2_table_size}")
        if max_resolution < base_resolution:
            raise ValueError(f"HashGridEncoder: max_resolution ({max_resolution}) < base_resolution ({base_resolution})")
        self.n_levels, self.n_features = int(n_levels), int(n_features)
        self.log2_table_size, self.table_size = int(log2_table_size), 2 ** int(log2_table_size)
        self.base_resolution, self.max_resolution = int(base_resolution), int(max_resolution)
        self.resolutions = level_resolutions(self.n_levels, self.base_resolution, self.max_resolution)
        self.dense = dense_levels(self.resolutions, self.table_size)
        self.requested_backend = backend
        self.backend, reason = resolve_backend(backend, self.n_features)
        if reason is not None:
            warnings.warn(f"HashGridEncoder: backend {backend!r} unavailable: {reason}; using 'torch'.", stacklevel=2)
        self.tcnn: nn.Module | None = None
        if self.backend == "tcnn":
            self.tcnn = self._make_tcnn()
            self.register_parameter("embeddings", None)
        else:
            table = torch.empty(self.n_levels, self.table_size, self.n_features)
            self.embeddings = nn.Parameter(table.uniform_(-1e-4, 1e-4))  # [L, T, F]

    @property
    def output_dim(self) -> int:
        """Width of the encoding, n_levels * n_features."""
        return self.n_levels * self.n_features

    def _make_tcnn(self) -> nn.Module:
        import tinycudann as tcnn

        scale = (math.exp((math.log(self.max_resolution) - math.log(self.base_resolution)) / (self.n_levels - 1))
                 if self.n_levels > 1 else 1.0)
        config = {"otype": "HashGrid", "n_levels": self.n_levels, "n_features_per_level": self.n_features,
                  "log2_hashmap_size": self.log2_table_size, "base_resolution": self.base_resolution,
                  "per_level_scale": scale, "interpolation": "Linear"}
        return tcnn.Encoding(n_input_dims=3, encoding_config=config, dtype=torch.float32)

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise ValueError(f"HashGridEncoder: x must be a torch.Tensor of shape [N, 3], got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != 3:
            raise ValueError(f"HashGridEncoder: x must have shape [N, 3], got {list(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"HashGridEncoder: x must be a floating-point tensor, got {x.dtype}")
        if not torch.compiler.is_compiling() and not bool(torch.isfinite(x).all()):
            raise ValueError("HashGridEncoder: x contains NaN or infinite coordinates")

    def forward(self, x: Tensor, *, check: bool = True) -> Tensor:
        """x: [N, 3] in [0,1]^3 -> [N, n_levels * n_features] (float32 unless the table was cast).

        ``check=False`` skips the finite-value test, which waits for the GPU (for callers whose x is known finite).
        """
        if check:
            self._check(x)
        if self.backend == "tcnn":
            return self.tcnn(x.clamp(0.0, 1.0)).float()
        if self.backend == "triton":
            interpret = os.environ.get("TRITON_INTERPRET", "0") == "1"
            if x.device.type == "cuda" or interpret:
                from emohead.render.hashgrid_triton import hashgrid_triton

                if x.requires_grad and torch.is_grad_enabled():
                    raise RuntimeError("HashGridEncoder(backend='triton') computes no gradient w.r.t. x "
                                       "(only the table); pass x.detach() or use backend='torch'.")
                return hashgrid_triton(x, self.embeddings, self.resolutions, self.dense)
            warnings.warn("HashGridEncoder: Triton needs CUDA tensors (or TRITON_INTERPRET=1); "
                          "encoding these CPU tensors with the reference.", stacklevel=2)
        return hashgrid_reference(x, self.embeddings, self.resolutions, self.dense)

    def extra_repr(self) -> str:
        return (f"n_levels={self.n_levels}, n_features={self.n_features}, log2_table_size={self.log2_table_size}, "
                f"resolutions={self.base_resolution}..{self.max_resolution}, "
                f"dense_levels={sum(self.dense)}, backend={self.backend!r}")
