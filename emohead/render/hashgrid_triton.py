"""Triton kernels for the hash-grid encoding (same maths as :func:`emohead.render.hashgrid.hashgrid_reference`).

One kernel, launched on a grid (point blocks, levels), does the forward pass (gather 8 corners,
blend trilinearly, store) or, with ``BACKWARD=True``, the table gradient (scatter w * dL/dy into the
table with ``tl.atomic_add``). Design notes for speed:

- the point-block index varies fastest in the launch grid, so the blocks in flight at any moment
  work on one or two levels and their tables (4 MiB each at T = 2^19, F = 2) stay in L2;
- each corner's F features are one contiguous [BLOCK, F] load (vectorised), the table offset of a
  level is the only int64 arithmetic; the hash runs in uint32 exactly as instant-ngp (products wrap);
- the kernel writes / reads a level-major [L, N, F] buffer so every store and load of the
  encoding is coalesced; the [N, L*F] layout the caller sees is one transpose-copy away.

Float32 only. No gradient w.r.t. the input points (a NeRF does not need it); the autograd function
returns None for x. Kernels are compiled at first use; when ``TRITON_INTERPRET=1`` and the tensors
live on the CPU they run in Triton's interpreter instead (slow; for tests). Caveat (Triton 3.6): do not
use the interpreter and compiled kernels in one process; the interpreter's patches of triton.language
leak and a later compile fails with "'ir.value' object has no attribute 'dtype'" (and vice versa).
"""
from __future__ import annotations

import logging
import math
import os
from functools import lru_cache
from typing import Sequence

import torch
import triton
import triton.language as tl
from torch import Tensor

log = logging.getLogger(__name__)

BLOCK = 256
"""Points per program on the GPU."""
NUM_WARPS = 4
INTERPRET_BLOCK = 4096
"""Largest block in the CPU interpreter, which runs programs one at a time: few wide ones are faster."""
LEVELS_PER_PROGRAM = 1
"""Levels per program on the GPU: 1 keeps the blocks in flight on one or two levels' tables (L2-resident)."""
LEVEL_MAJOR = True
"""Kernel writes/reads a level-major [L, N, F] buffer (coalesced), transposed to [N, L*F] by PyTorch."""
FP_FUSION = False


def _hashgrid_kernel(
    x_ptr,              # [N, 3] float32, contiguous
    emb_ptr,            # [L, T, F] float32 table (forward) or its gradient (backward), contiguous
    feat_ptr,           # encoding (forward, written) or dL/d encoding (backward, read); entry (n, l, f) at
    stride_n,           #   feat_ptr + n * stride_n + l * stride_l + f
    stride_l,
    meta_ptr,           # [3, L] int32: N_l, 1 for a densely indexed level, gradient replicas (backward)
    n_points,
    n_levels,
    T: tl.constexpr,            # table size, a power of two
    F: tl.constexpr,            # features per entry, a power of two
    BLOCK_N: tl.constexpr,      # points per program
    LEVELS: tl.constexpr,       # levels per program (program_id(1) picks the group); divides L
    BACKWARD: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK_N + tl.arange(0, BLOCK_N)                              # point ids  [B]
    mask = offs < n_points
    fcols = tl.arange(0, F)                                                   # [F]
    mask2 = mask[:, None]                                                     # [B, 1], broadcast over F
    # x clamped to the unit cube; masked-off lanes read 0 (a valid vertex) and are never stored
    x0 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 0, mask=mask, other=0.0), 0.0), 1.0)
    x1 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 1, mask=mask, other=0.0), 0.0), 1.0)
    x2 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 2, mask=mask, other=0.0), 0.0), 1.0)
    feat_rows = feat_ptr + offs[:, None].to(tl.int64) * stride_n + fcols[None, :]       # [B, F]

    level_start = tl.program_id(1) * LEVELS
    for i in range(LEVELS):                                                   # LEVELS divides L
        level = level_start + i
        res = tl.load(meta_ptr + level)                                       # N_l
        dense = tl.load(meta_ptr + n_levels + level) != 0
        res_f = res.to(tl.float32)
        r = (res + 1).to(tl.uint32)                                           # vertices per axis (dense index)
        # x_l = x N_l, cell = floor(x_l) (the last cell for x = 1), w_l = x_l - floor(x_l)  (instant-ngp Sec. 3)
        px = x0 * res_f
        py = x1 * res_f
        pz = x2 * res_f
        cx = tl.minimum(tl.floor(px).to(tl.int32), res - 1)
        cy = tl.minimum(tl.floor(py).to(tl.int32), res - 1)
        cz = tl.minimum(tl.floor(pz).to(tl.int32), res - 1)
        wx = px - cx.to(tl.float32)
        wy = py - cy.to(tl.float32)
        wz = pz - cz.to(tl.float32)

        table = emb_ptr + level.to(tl.int64) * (T * F)                        # this level's table
        feat = feat_rows + level.to(tl.int64) * stride_l                      # [B, F]
        if BACKWARD:
            grad = tl.load(feat, mask=mask2, other=0.0)                       # dL/dy_l  [B, F]
            # coarse dense levels: program pid adds into replica pid % K of the level (rows K R^3 <= T),
            # so thousands of points do not queue on the same few rows; the replicas are summed afterwards
            replica = (pid % tl.load(meta_ptr + 2 * n_levels + level)).to(tl.uint32) * (r * r * r)
        else:
            acc = tl.zeros((BLOCK_N, F), dtype=tl.float32)
        for c in tl.static_range(8):                                          # corner (dx, dy, dz) = bits of c
            dx = c & 1
            dy = (c >> 1) & 1
            dz = (c >> 2) & 1
            vx = (cx + dx).to(tl.uint32)
            vy = (cy + dy).to(tl.uint32)
            vz = (cz + dz).to(tl.uint32)
            # eq. (4): (v_x * 1 ^ v_y * 2654435761 ^ v_z * 805459861) mod T, uint32 products wrap like instant-ngp
            hashed = vx ^ (vy * 2654435761) ^ (vz * 805459861)
            flat = vx + vy * r + vz * r * r                                   # dense: v_x + v_y R + v_z R^2
            idx = tl.where(dense, flat, hashed) & (T - 1)                     # [B]
            if BACKWARD:
                idx += replica
            idx = idx.to(tl.int32)
            w = ((wx if dx else 1.0 - wx) * (wy if dy else 1.0 - wy)) * (wz if dz else 1.0 - wz)   # [B]
            row = tl.multiple_of(idx * F, F)                                  # entries are F-aligned
            ptrs = table + row[:, None] + fcols[None, :]                      # [B, F]
            if BACKWARD:
                tl.atomic_add(ptrs, w[:, None] * grad, mask=mask2, sem="relaxed")   # dL/dtheta += w dL/dy
            else:
                acc += w[:, None] * tl.load(ptrs)                             # masked-off lanes read a valid row
        if not BACKWARD:
            tl.store(feat, acc, mask=mask2)


@lru_cache(maxsize=2)
def _kernel(interpret: bool):
    """The kernel, JIT-compiled for the GPU or wrapped for the CPU interpreter (both may coexist)."""
    if interpret:
        from triton.runtime.interpreter import InterpretedFunction

        return InterpretedFunction(_hashgrid_kernel)
    from triton.runtime.jit import JITFunction

    return JITFunction(_hashgrid_kernel)


def _launch(x: Tensor, emb: Tensor, feat: Tensor, meta: Tensor, backward: bool) -> None:
    """Run the kernel; feat is [N, L*F] (row stride L*F) or level-major [L, N, F], contiguous either way."""
    n = x.shape[0]
    n_levels, table_size, n_features = emb.shape
    if feat.dim() == 3:                                   # [L, N, F]
        stride_n, stride_l = feat.stride(1), feat.stride(0)
    else:                                                 # [N, L*F]
        stride_n, stride_l = feat.stride(0), n_features
    interpret = x.device.type != "cuda" or os.environ.get("TRITON_INTERPRET", "0") == "1"
    if interpret:   # the interpreter runs one program at a time in numpy: few, wide programs are much faster
        block, levels, kwargs = min(triton.next_power_of_2(max(n, 16)), INTERPRET_BLOCK), n_levels, {}
    else:           # no FMA contraction: x*N_l - floor(x*N_l) rounds like the PyTorch reference (see tests)
        block, levels = BLOCK, math.gcd(LEVELS_PER_PROGRAM, n_levels)
        kwargs = {"num_warps": NUM_WARPS, "enable_fp_fusion": FP_FUSION}
    grid = (triton.cdiv(n, block), triton.cdiv(n_levels, levels))
    _kernel(interpret)[grid](x, emb, feat, stride_n, stride_l, meta, n, n_levels, T=table_size,
                             F=n_features, BLOCK_N=block, LEVELS=levels, BACKWARD=backward, **kwargs)


MAX_REPLICAS = 64
"""Cap on the gradient replicas of a coarse dense level (see the kernel)."""


@lru_cache(maxsize=64)
def _level_meta(resolutions: tuple[int, ...], dense: tuple[bool, ...], table_size: int,
                device: torch.device) -> tuple[Tensor, tuple[int, ...]]:
    """[3, L] int32 on device (N_l, dense flag, gradient replicas K_l) and the K_l as Python ints."""
    replicas = tuple(max(1, min(MAX_REPLICAS, table_size // (res + 1) ** 3)) if d else 1
                     for res, d in zip(resolutions, dense))
    meta = torch.tensor([list(resolutions), [int(d) for d in dense], list(replicas)], dtype=torch.int32)
    return meta.to(device), replicas


def _level_major(y: Tensor, n_levels: int, n_features: int) -> Tensor:
    """[N, L F] -> contiguous [L, N, F]; F = 2 moves each (f0, f1) pair as one int64 (3x faster on a GPU)."""
    n = y.shape[0]
    if n_features == 2:
        return y.contiguous().view(torch.int64).t().contiguous().view(torch.float32).view(n_levels, n, 2)
    return y.reshape(n, n_levels, n_features).transpose(0, 1).contiguous()


def _point_major(feat: Tensor) -> Tensor:
    """[L, N, F] -> [N, L F]."""
    n_levels, n, n_features = feat.shape
    if n_features == 2:
        return feat.view(torch.int64).view(n_levels, n).t().contiguous().view(torch.float32).view(n, 2 * n_levels)
    return feat.permute(1, 0, 2).reshape(n, n_levels * n_features)


class _HashGridFunction(torch.autograd.Function):
    """y = enc(x; theta) with d/dtheta by atomics; d/dx is not computed (None)."""

    @staticmethod
    def forward(ctx, x: Tensor, embeddings: Tensor, resolutions: tuple[int, ...], dense: tuple[bool, ...]) -> Tensor:
        n, (n_levels, table_size, n_features) = x.shape[0], embeddings.shape
        meta, replicas = _level_meta(resolutions, dense, table_size, x.device)
        shape = (n_levels, n, n_features) if LEVEL_MAJOR else (n, n_levels * n_features)
        feat = torch.empty(shape, device=x.device, dtype=torch.float32)       # [L, N, F] or [N, L F]
        if n > 0:
            _launch(x, embeddings, feat, meta, backward=False)
        ctx.save_for_backward(x, meta)
        ctx.table_shape, ctx.resolutions, ctx.replicas = embeddings.shape, resolutions, replicas
        return _point_major(feat) if LEVEL_MAJOR else feat                     # [N, L F]

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, meta = ctx.saved_tensors
        grad_emb = None
        if ctx.needs_input_grad[1]:
            n_levels, _, n_features = ctx.table_shape
            grad_emb = torch.zeros(ctx.table_shape, device=x.device, dtype=torch.float32)   # [L, T, F]
            if x.shape[0] > 0:
                grad = grad_out.float().contiguous()                                        # [N, L F]
                _launch(x, grad_emb, _level_major(grad, n_levels, n_features) if LEVEL_MAJOR else grad,
                        meta, backward=True)
                for level, k in enumerate(ctx.replicas):      # fold the replicas of coarse levels into rows 0..R^3-1
                    if k > 1:
                        rows = (ctx.resolutions[level] + 1) ** 3
                        folded = grad_emb[level, :k * rows].view(k, rows, n_features).sum(0)
                        grad_emb[level, rows:k * rows] = 0
                        grad_emb[level, :rows] = folded
        return None, grad_emb, None, None


def hashgrid_triton(x: Tensor, embeddings: Tensor, resolutions: Sequence[int], dense: Sequence[bool]) -> Tensor:
    """Triton hash-grid encoding, same arguments as ``hashgrid_reference``.

    x: [N, 3]; embeddings: [L, T, F] float32 on x's device -> [N, L F] float32.
    Differentiable w.r.t. ``embeddings`` only (x gets no gradient).
    """
    if embeddings.dtype != torch.float32:
        raise TypeError(f"HashGridEncoder(backend='triton'): the table must be float32, got {embeddings.dtype}")
    if embeddings.device != x.device:
        raise ValueError(f"HashGridEncoder(backend='triton'): x is on {x.device} but the table on {embeddings.device}")
    n_levels, table_size, n_features = embeddings.shape
    if table_size & (table_size - 1) or table_size * n_features >= 2**31:
        raise ValueError("HashGridEncoder(backend='triton'): T must be a power of two with T * F < 2^31")
    x = x.detach().to(torch.float32).contiguous()
    return _HashGridFunction.apply(x, embeddings.contiguous(), tuple(int(r) for r in resolutions),
                                   tuple(bool(d) for d in dense))
