"""Triton kernels for the hash-grid encoding (same maths as :func:`emohead.render.hashgrid.hashgrid_reference`).

One kernel, launched on a grid (point blocks, level groups), does the forward pass (gather the 8
corners, blend trilinearly, store) or, with ``BACKWARD=True``, the table gradient (scatter w * dL/dy
into the table with ``tl.atomic_add``). Design notes for speed (numbers: NVIDIA H200, Triton 3.6,
2^20 uniform random points, 16 levels, F = 2, T = 2^19; see benchmarks/hashgrid_speed.py):

- the point-block index varies fastest in the launch grid, so the blocks in flight at any moment
  work on a few levels and their tables (4 MiB each) stay in L2;
- corners come in x-pairs (cx, y, z), (cx + 1, y, z). Their rows are idx0 and idx1 = idx0 ^ 1 whenever
  cx is even on a hashed level (pi_1 = 1) or idx0 is even on a dense one, i.e. half the time; then both
  sit in one aligned 2F-wide slot and cost one 16-byte load / one F32x4 atomic instead of two (backward
  kernel 1.39 -> 1.06 ms, forward 0.54 -> 0.52 ms);
- the forward writes a level-major [L, N, F] buffer (coalesced stores) and transposes it to [N, L F]:
  storing [N, L F] from the kernel directly costs more than the transpose (0.85 vs 0.52 ms + copy);
  the backward reads dL/dy as [N, L F] directly, 4 levels per program, so every program reads whole
  32-byte sectors (1.08 ms, vs 1.06 ms + a transpose-copy of dL/dy);
- coarse dense levels, where thousands of points share a row, scatter into K replicas of their rows
  that one small kernel per level sums afterwards;
- the hash runs in uint32 exactly as instant-ngp (products wrap); a level's table offset is the only
  int64 arithmetic.

The ceiling is the memory system, not arithmetic: the H200 serves about 137 G random 8-byte gathers/s
and about 95 G random atomic adds/s, the same for F32, F32x2, F16x2 and BF16x2 operations (F32x4: 71 G/s).
2^20 points x 16 levels x 8 corners = 134 M scattered adds take >= 1.06 ms even with the x-pairs, so
fp16/bf16 gradient accumulation would lose precision for no speed, and an fp16 copy of the table for the
forward measured 0.514 vs 0.519 ms. benchmarks/hashgrid_speed.py measures this ceiling in its "memory ceiling" row
(the kernel's loads and atomic adds alone, at random rows of each level's footprint: 0.65 G points/s forward +
backward on an H200, against 0.525 for this kernel in the same run). Storing the corner indices in the forward for the backward would move
512 MiB (16 x 8 x 4 bytes per point) to save integer arithmetic that is already hidden behind the memory
traffic, so it is not done.

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
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import torch
import triton
import triton.language as tl
from torch import Tensor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassConfig:
    """Launch settings of one pass on the GPU (chosen by a sweep on an H200, see the module docstring)."""

    block: int          # points per program
    num_warps: int
    level_major: bool   # the encoding / its gradient as a level-major [L, N, F] buffer, else [N, L F]
    levels: int         # levels per program (rounded to a divisor of L)


FORWARD = PassConfig(block=512, num_warps=4, level_major=True, levels=1)
BACKWARD = PassConfig(block=256, num_warps=4, level_major=False, levels=4)
INTERPRET_BLOCK = 4096
"""Largest block in the CPU interpreter, which runs programs one at a time: few wide ones are faster."""
FOLD_BLOCK = 1024
"""Floats per program of the replica fold on the GPU."""
FP_FUSION = False
"""No FMA contraction: x*N_l - floor(x*N_l) rounds like the PyTorch reference (see tests)."""


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
    pcols = tl.arange(0, 2 * F)                                               # [2F]: row pcols // F, feature pcols % F
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
        ux = cx.to(tl.uint32)

        table = emb_ptr + level.to(tl.int64) * (T * F)                        # this level's table
        feat = feat_rows + level.to(tl.int64) * stride_l                      # [B, F]
        if BACKWARD:
            grad = tl.load(feat, mask=mask2, other=0.0)                       # dL/dy_l  [B, F]
            # coarse dense levels: program pid adds into replica pid % K of the level (rows K R^3 <= T),
            # so thousands of points do not queue on the same few rows; the replicas are summed afterwards
            replica = (pid % tl.load(meta_ptr + 2 * n_levels + level)).to(tl.uint32) * (r * r * r)
        else:
            acc = tl.zeros((BLOCK_N, F), dtype=tl.float32)
        for c in tl.static_range(4):                                          # (dy, dz) = bits of c
            dy = c & 1
            dz = (c >> 1) & 1
            vy = (cy + dy).to(tl.uint32)
            vz = (cz + dz).to(tl.uint32)
            # rows of the corners v0 = (cx, vy, vz) and v1 = (cx + 1, vy, vz):
            # hashed, eq. (4): (v_x * 1 ^ v_y * 2654435761 ^ v_z * 805459861) mod T, uint32 products wrap like instant-ngp
            # dense: v_x + v_y R + v_z R^2
            hyz = (vy * 2654435761) ^ (vz * 805459861)
            fyz = vy * r + vz * r * r
            idx0 = tl.where(dense, ux + fyz, ux ^ hyz) & (T - 1)              # [B]
            idx1 = tl.where(dense, ux + 1 + fyz, (ux + 1) ^ hyz) & (T - 1)
            if BACKWARD:
                idx0 += replica
                idx1 += replica
            idx0 = idx0.to(tl.int32)
            idx1 = idx1.to(tl.int32)
            wyz = (wy if dy else 1.0 - wy)
            w0 = ((1.0 - wx) * wyz) * (wz if dz else 1.0 - wz)                 # trilinear weight of v0  [B]
            w1 = (wx * wyz) * (wz if dz else 1.0 - wz)                         # ... of v1
            # paired: idx1 = idx0 ^ 1, both rows in the aligned slot of rows (idx0 & ~1, idx0 | 1), one 2F-wide
            # access; otherwise one F-wide access per row. Masked-off lanes issue no memory request.
            paired = (idx0 ^ idx1) == 1
            odd = (idx0 & 1) != 0
            w_slot = tl.join(tl.where(odd, w1, w0), tl.where(odd, w0, w1))     # weights of the slot's rows  [B, 2]
            slot_ptrs = table + tl.multiple_of((idx0 & -2) * F, 2 * F)[:, None] + pcols[None, :]   # [B, 2F]
            ptrs0 = table + tl.multiple_of(idx0 * F, F)[:, None] + fcols[None, :]                  # [B, F]
            ptrs1 = table + tl.multiple_of(idx1 * F, F)[:, None] + fcols[None, :]
            slot_mask = mask2 & paired[:, None]
            single_mask = mask2 & (~paired)[:, None]
            if BACKWARD:                                                      # dL/dtheta += w dL/dy
                vals = tl.reshape(w_slot[:, :, None] * grad[:, None, :], (BLOCK_N, 2 * F))
                tl.atomic_add(slot_ptrs, vals, mask=slot_mask, sem="relaxed")
                tl.atomic_add(ptrs0, w0[:, None] * grad, mask=single_mask, sem="relaxed")
                tl.atomic_add(ptrs1, w1[:, None] * grad, mask=single_mask, sem="relaxed")
            else:
                slot = tl.reshape(tl.load(slot_ptrs, mask=slot_mask, other=0.0), (BLOCK_N, 2, F))
                acc += tl.sum(slot * w_slot[:, :, None], axis=1)
                acc += w0[:, None] * tl.load(ptrs0, mask=single_mask, other=0.0)
                acc += w1[:, None] * tl.load(ptrs1, mask=single_mask, other=0.0)
        if not BACKWARD:
            tl.store(feat, acc, mask=mask2)


def _fold_kernel(
    grad_ptr,           # one level's [T, F] float32 gradient holding K replicas of its first R^3 rows
    size,               # R^3 F, floats per replica
    K: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Replica 0 = the sum of the K replicas; replicas 1..K-1 are zeroed (rows past R^3 get no gradient)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < size
    total = tl.load(grad_ptr + offs, mask=mask, other=0.0)
    for j in range(1, K):
        total += tl.load(grad_ptr + j * size + offs, mask=mask, other=0.0)
    # a load and a store of one address may sit in different threads of the program: all loads first
    tl.debug_barrier()
    tl.store(grad_ptr + offs, total, mask=mask)
    for j in range(1, K):
        tl.store(grad_ptr + j * size + offs, tl.zeros((BLOCK,), dtype=tl.float32), mask=mask)


@lru_cache(maxsize=4)
def _kernel(interpret: bool, fold: bool = False):
    """A kernel, JIT-compiled for the GPU or wrapped for the CPU interpreter (both may coexist)."""
    fn = _fold_kernel if fold else _hashgrid_kernel
    if interpret:
        from triton.runtime.interpreter import InterpretedFunction

        return InterpretedFunction(fn)
    from triton.runtime.jit import JITFunction

    return JITFunction(fn)


def _interpret(t: Tensor) -> bool:
    return t.device.type != "cuda" or os.environ.get("TRITON_INTERPRET", "0") == "1"


def _launch(x: Tensor, emb: Tensor, feat: Tensor, meta: Tensor, cfg: PassConfig, backward: bool) -> None:
    """Run the kernel; feat is [N, L*F] (row stride L*F) or level-major [L, N, F], contiguous either way."""
    n = x.shape[0]
    n_levels, table_size, n_features = emb.shape
    if feat.dim() == 3:                                   # [L, N, F]
        stride_n, stride_l = feat.stride(1), feat.stride(0)
    else:                                                 # [N, L*F]
        stride_n, stride_l = feat.stride(0), n_features
    if _interpret(x):   # the interpreter runs one program at a time in numpy: few, wide programs are much faster
        block, levels, kwargs = min(triton.next_power_of_2(max(n, 16)), INTERPRET_BLOCK), n_levels, {}
    else:
        block, levels = cfg.block, math.gcd(cfg.levels, n_levels)
        kwargs = {"num_warps": cfg.num_warps, "enable_fp_fusion": FP_FUSION}
    grid = (triton.cdiv(n, block), n_levels // levels)
    _kernel(_interpret(x))[grid](x, emb, feat, stride_n, stride_l, meta, n, n_levels, T=table_size,
                                 F=n_features, BLOCK_N=block, LEVELS=levels, BACKWARD=backward, **kwargs)


def _fold_replicas(grad_emb: Tensor, replicas: tuple[int, ...], resolutions: tuple[int, ...]) -> None:
    """Sum the gradient replicas of the coarse dense levels into their rows, in place."""
    interpret = _interpret(grad_emb)
    for level, k in enumerate(replicas):
        if k > 1:
            size = (resolutions[level] + 1) ** 3 * grad_emb.shape[2]
            block = min(triton.next_power_of_2(size), INTERPRET_BLOCK) if interpret else FOLD_BLOCK
            _kernel(interpret, fold=True)[(triton.cdiv(size, block),)](grad_emb[level], size, K=k, BLOCK=block)


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
        shape = (n_levels, n, n_features) if FORWARD.level_major else (n, n_levels * n_features)
        feat = torch.empty(shape, device=x.device, dtype=torch.float32)       # [L, N, F] or [N, L F]
        if n > 0:
            _launch(x, embeddings, feat, meta, FORWARD, backward=False)
        ctx.save_for_backward(x, meta)
        ctx.table_shape, ctx.resolutions, ctx.replicas = embeddings.shape, resolutions, replicas
        return _point_major(feat) if FORWARD.level_major else feat             # [N, L F]

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, meta = ctx.saved_tensors
        grad_emb = None
        if ctx.needs_input_grad[1]:
            n_levels, _, n_features = ctx.table_shape
            grad_emb = torch.zeros(ctx.table_shape, device=x.device, dtype=torch.float32)   # [L, T, F]
            if x.shape[0] > 0:
                grad = grad_out.float().contiguous()                                        # [N, L F]
                if BACKWARD.level_major:
                    grad = _level_major(grad, n_levels, n_features)                         # [L, N, F]
                _launch(x, grad_emb, grad, meta, BACKWARD, backward=True)
                _fold_replicas(grad_emb, ctx.replicas, ctx.resolutions)
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
