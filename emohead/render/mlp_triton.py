"""Fused inference kernels for the field's two MLPs (Triton): one kernel per MLP, hidden layers kept in registers.

What they compute is :class:`emohead.render.field.ExpressionField`'s ``density`` / ``color`` MLPs under fp16
autocast (the renderer's default precision on a GPU), for a march's points:

    density:  h = W2 relu(W1 [enc(x); code_r] + b1) + b2                  -> raw [N, 1 + G] (fp16; h[:, 0] is
                                                                              the pre-activation of sigma)
    colour:   rgb = sigmoid(W3 relu(W2 relu(W1 [geo; sh_r; code_r] + b1) + b2) + b3)   -> [N, 3] float32

Why: an MLP layer in PyTorch writes its [N, 64] activation to memory and the ReLU, the dtype casts and the next
product read it back; on an H200 that traffic was about half of a 512 px frame's rendering time (profile in
docs/performance.md). Here each program takes ``BLOCK_N`` points through the whole MLP with ``tl.dot`` on fp16
inputs and float32 accumulation, and writes only the output. The per-ray inputs (expression code, the direction's
spherical harmonics) and the colour points' geometry features are read through row indices, so the gathered
copies ``codes[ray_of]``, ``sh[rays]`` and ``geo[sel]`` are never built either.

Inference only: no backward (training keeps PyTorch's MLPs). ``tl.dot`` needs every dimension >= 16, so the
weights are packed once per model (:class:`FusedMlps`) into zero-padded fp16 blocks: a part of width k is read as
16 columns (the extra ones masked to 0) against a weight block whose extra rows are 0. The geometry features are
read as the density output's 16 columns with a zero weight row for column 0 (the density), so no slice is copied.

Differences from the autocast path: biases are added to the float32 accumulator before rounding to fp16 (autocast
rounds the product first), so outputs may differ in the last fp16 bit; tests compare against the float32 MLPs.
On tensors outside CUDA the kernels run in Triton's CPU interpreter (``TRITON_INTERPRET=1``; slow, for tests).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.runtime.jit import JITFunction

BLOCK_N = 32
"""Points per program on a GPU. 32, not 64: on the H200 (Triton 3.6) blocks of 64 and 128 points computed wrong
densities (errors as large as the values; no memory error under compute-sanitizer) and then faulted, while 16 and 32
matched the float32 layers (``benchmarks/fused_mlp_check.py``, which checks each kernel on the GPU). Blocks of 64
points are where Triton switches to Hopper's warp-group MMA instructions, so the fault is likely there; not
reduced further. The interpreter uses larger blocks."""
NUM_WARPS = 4
INTERPRET_BLOCK = 1024
K_PAD = 16
"""Columns a narrow input part is padded to (tl.dot's minimum)."""


class FusedMlpError(ValueError):
    """An MLP shape the fused kernels do not handle (names it)."""


def _density_kernel(enc_ptr, code_ptr, code_row_ptr, w1e_ptr, w1c_ptr, b1_ptr, w2_ptr, b2_ptr, out_ptr,
                    n, enc_width, code_width,
                    K_ENC: tl.constexpr, HIDDEN: tl.constexpr, OUT: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    live = rows < n
    ke, k16, kh, ko = tl.arange(0, K_ENC), tl.arange(0, 16), tl.arange(0, HIDDEN), tl.arange(0, OUT)
    x = tl.load(enc_ptr + rows[:, None] * enc_width + ke[None, :],                   # [B, K_ENC]
                mask=live[:, None] & (ke < enc_width)[None, :], other=0.0).to(tl.float16)
    crow = tl.load(code_row_ptr + rows, mask=live, other=0).to(tl.int64)
    c = tl.load(code_ptr + crow[:, None] * code_width + k16[None, :],                 # [B, 16], zero past m
                mask=live[:, None] & (k16 < code_width)[None, :], other=0.0).to(tl.float16)
    h = tl.dot(x, tl.load(w1e_ptr + ke[:, None] * HIDDEN + kh[None, :]))              # [B, H] float32
    h = tl.dot(c, tl.load(w1c_ptr + k16[:, None] * HIDDEN + kh[None, :]), h)
    h = tl.maximum(h + tl.load(b1_ptr + kh)[None, :], 0.0).to(tl.float16)
    o = tl.dot(h, tl.load(w2_ptr + kh[:, None] * OUT + ko[None, :])) + tl.load(b2_ptr + ko)[None, :]
    cols = ko
    tl.store(out_ptr + rows[:, None] * OUT + cols[None, :], o.to(tl.float16), mask=live[:, None])


def _color_kernel(geo_ptr, geo_row_ptr, sh_ptr, code_ptr, ray_row_ptr, w1g_ptr, w1s_ptr, w1c_ptr, b1_ptr,
                  w2_ptr, b2_ptr, w3_ptr, b3_ptr, out_ptr, n, sh_width, code_width,
                  GEO: tl.constexpr, HIDDEN: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    live = rows < n
    grow = tl.load(geo_row_ptr + rows, mask=live, other=0).to(tl.int64)
    rrow = tl.load(ray_row_ptr + rows, mask=live, other=0).to(tl.int64)
    kg, k16, kh = tl.arange(0, GEO), tl.arange(0, 16), tl.arange(0, HIDDEN)
    g = tl.load(geo_ptr + grow[:, None] * GEO + kg[None, :], mask=live[:, None], other=0.0)   # [B, 1 + G] fp16
    s = tl.load(sh_ptr + rrow[:, None] * sh_width + k16[None, :],
                mask=live[:, None] & (k16 < sh_width)[None, :], other=0.0).to(tl.float16)
    c = tl.load(code_ptr + rrow[:, None] * code_width + k16[None, :],
                mask=live[:, None] & (k16 < code_width)[None, :], other=0.0).to(tl.float16)
    h = tl.dot(g, tl.load(w1g_ptr + kg[:, None] * HIDDEN + kh[None, :]))   # row 0 of w1g is 0: the density
    h = tl.dot(s, tl.load(w1s_ptr + k16[:, None] * HIDDEN + kh[None, :]), h)
    h = tl.dot(c, tl.load(w1c_ptr + k16[:, None] * HIDDEN + kh[None, :]), h)
    h = tl.maximum(h + tl.load(b1_ptr + kh)[None, :], 0.0).to(tl.float16)
    h = tl.dot(h, tl.load(w2_ptr + kh[:, None] * HIDDEN + kh[None, :])) + tl.load(b2_ptr + kh)[None, :]
    h = tl.maximum(h, 0.0).to(tl.float16)
    o = tl.dot(h, tl.load(w3_ptr + kh[:, None] * 16 + k16[None, :])) + tl.load(b3_ptr + k16)[None, :]
    rgb = 1.0 / (1.0 + tl.exp(-o))
    cols = k16
    tl.store(out_ptr + rows[:, None] * 3 + cols[None, :], rgb, mask=live[:, None] & (cols < 3)[None, :])


def _interpret(t: Tensor) -> bool:
    return t.device.type != "cuda" or os.environ.get("TRITON_INTERPRET", "0") == "1"


@lru_cache(maxsize=None)
def _kernel(fn, interpret: bool):
    """A kernel, JIT-compiled for the GPU or wrapped for the CPU interpreter (see hashgrid_triton's caveat)."""
    if interpret:
        from triton.runtime.interpreter import InterpretedFunction

        return InterpretedFunction(fn)
    # n (the point count) changes at every launch: specialising on it (n % 16 == 0, n == 1) would compile new
    # variants during the first frames rendered (on the H200 a first-use row measured 85 instead of 195 frames/s)
    return JITFunction(fn, do_not_specialize=["n"])


def _launch(kernel, n: int, device_tensor: Tensor, *args, **constexprs) -> None:
    interpret = _interpret(device_tensor)
    block = min(triton.next_power_of_2(max(n, 16)), INTERPRET_BLOCK) if interpret else BLOCK_N
    launch = {} if interpret else {"num_warps": NUM_WARPS}
    _kernel(kernel, interpret)[(triton.cdiv(n, block),)](*args, BLOCK=block, **constexprs, **launch)


def _pad_rows(w: Tensor, rows: int, skip: int = 0) -> Tensor:
    """[k, H] -> [rows, H] fp16, the k rows placed from row ``skip``, the rest zero."""
    out = torch.zeros(rows, w.shape[1], dtype=torch.float16, device=w.device)
    out[skip:skip + w.shape[0]] = w.to(torch.float16)
    return out.contiguous()


@dataclass
class FusedMlps:
    """The field's MLP weights packed for the fused kernels (fp16, transposed to [in, out], zero-padded).

    Built by :meth:`from_field`; stale once the field's weights change (the renderer packs them per call).
    """

    enc_width: int
    code_width: int
    hidden: int
    geo_out: int                 # 1 + G, the density MLP's output width (16 for the default G = 15)
    d_w1e: Tensor
    d_w1c: Tensor
    d_b1: Tensor
    d_w2: Tensor
    d_b2: Tensor
    c_w1g: Tensor
    c_w1s: Tensor
    c_w1c: Tensor
    c_b1: Tensor
    c_w2: Tensor
    c_b2: Tensor
    c_w3: Tensor
    c_b3: Tensor

    @staticmethod
    def supports(field) -> str | None:
        """None if the fused kernels handle this field's MLPs, else the reason they do not."""
        d, c = field.density_mlp, field.color_mlp
        hidden = d[0].out_features
        shapes_ok = (len(d) == 3 and len(c) == 5 and hidden in (16, 32, 64, 128) and c[0].out_features == hidden
                     and c[2].out_features == hidden and d[2].out_features == 1 + field.geo_features == 16
                     and c[4].out_features == 3 and field.expr_dim <= 16
                     and field.encoder.output_dim in (16, 32, 64))
        if not shapes_ok:
            return (f"MLP shapes (hidden {hidden}, geometry features {field.geo_features}, code width "
                    f"{field.expr_dim}, encoding width {field.encoder.output_dim}) are not the fused kernels' "
                    f"(hidden 16-128 in powers of two, 15 geometry features, code width <= 16, encoding 16/32/64)")
        return None

    @classmethod
    def from_field(cls, field) -> "FusedMlps":
        reason = cls.supports(field)
        if reason is not None:
            raise FusedMlpError(reason)
        d, c = field.density_mlp, field.color_mlp
        enc_w, code_w, g = field.encoder.output_dim, field.expr_dim, field.geo_features
        w1 = d[0].weight.detach().t()                                              # [enc + code, H]
        cw1 = c[0].weight.detach().t()                                             # [G + 9 + code, H]
        f32 = lambda t: t.detach().float().contiguous()                           # noqa: E731
        w3 = torch.zeros(c[4].in_features, 16, dtype=torch.float16, device=w1.device)
        w3[:, :3] = c[4].weight.detach().t().to(torch.float16)
        b3 = torch.zeros(16, device=w1.device)
        b3[:3] = c[4].bias.detach().float()
        return cls(enc_width=enc_w, code_width=code_w, hidden=d[0].out_features, geo_out=1 + g,
                   d_w1e=_pad_rows(w1[:enc_w], enc_w), d_w1c=_pad_rows(w1[enc_w:], K_PAD), d_b1=f32(d[0].bias),
                   d_w2=d[2].weight.detach().t().to(torch.float16).contiguous(), d_b2=f32(d[2].bias),
                   c_w1g=_pad_rows(cw1[:g], 1 + g, skip=1), c_w1s=_pad_rows(cw1[g:g + 9], K_PAD),
                   c_w1c=_pad_rows(cw1[g + 9:], K_PAD), c_b1=f32(c[0].bias),
                   c_w2=c[2].weight.detach().t().to(torch.float16).contiguous(), c_b2=f32(c[2].bias),
                   c_w3=w3.contiguous(), c_b3=b3)

    def density(self, enc: Tensor, codes: Tensor, code_rows: Tensor) -> Tensor:
        """enc [N, E] (the hash-grid encoding), codes [R, m], code_rows [N] (row of codes per point)
        -> raw density-MLP output [N, 1 + G] fp16 (column 0: sigma's pre-activation; 1..G: geometry features)."""
        n = enc.shape[0]
        out = torch.empty(n, self.geo_out, dtype=torch.float16, device=enc.device)
        if n:
            _launch(_density_kernel, n, enc, enc.contiguous(), codes.float().contiguous(), code_rows.contiguous(),
                    self.d_w1e, self.d_w1c, self.d_b1, self.d_w2, self.d_b2, out, n, self.enc_width,
                    self.code_width, K_ENC=self.enc_width, HIDDEN=self.hidden, OUT=self.geo_out)
        return out

    def color(self, raw: Tensor, raw_rows: Tensor, sh: Tensor, codes: Tensor, ray_rows: Tensor) -> Tensor:
        """rgb [N, 3] float32 in (0, 1) for N points: geometry from ``raw[raw_rows]`` (a :meth:`density` output
        [M, 1 + G]), view encoding ``sh[ray_rows]`` ([R, 9]) and code ``codes[ray_rows]`` ([R, m])."""
        n = raw_rows.shape[0]
        out = torch.empty(n, 3, dtype=torch.float32, device=raw.device)
        if n:
            _launch(_color_kernel, n, raw, raw.contiguous(), raw_rows.contiguous(), sh.float().contiguous(),
                    codes.float().contiguous(), ray_rows.contiguous(), self.c_w1g, self.c_w1s, self.c_w1c,
                    self.c_b1, self.c_w2, self.c_b2, self.c_w3, self.c_b3, out, n, sh.shape[1], self.code_width,
                    GEO=self.geo_out, HIDDEN=self.hidden)
        return out


def reference_density(field, enc: Tensor, codes: Tensor, code_rows: Tensor) -> Tensor:
    """What :meth:`FusedMlps.density` computes, with the field's own float32 layers: [N, 1 + G] float32."""
    d = field.density_mlp
    return d(torch.cat([enc, codes[code_rows]], dim=-1))


def reference_color(field, raw: Tensor, raw_rows: Tensor, sh: Tensor, codes: Tensor, ray_rows: Tensor) -> Tensor:
    """What :meth:`FusedMlps.color` computes, with the field's own float32 layers: [N, 3] float32."""
    parts = [raw[raw_rows, 1:].float(), sh[ray_rows], codes[ray_rows]]
    return torch.sigmoid(field.color_mlp(torch.cat(parts, dim=-1)))
