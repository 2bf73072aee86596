"""The expression-conditioned radiance field theta: (alpha^, d, x) -> (c, sigma) (Sec. III-C).

Realised the instant-ngp way (RAD-NeRF, ref [44]): a multi-resolution hash grid encodes the position x in the
head box, and two small MLPs read it.

How the expression conditions the field, and why: the 10-d expression code alpha^ (11-d [z; alpha~] for the
``no_refinement`` ablation) is **concatenated** to the input of the density MLP and of the colour MLP. The hash
grid itself stays expression-independent: it stores the canonical head, and the MLPs learn how the expression
moves density (an opening mouth, raised brows) and changes colour (teeth, wrinkles). This is how AD-NeRF and
RAD-NeRF condition on audio; a 10-d code is small enough to concatenate directly, and keeping it out of the hash
grid lets every expression share one table.

    density(x, alpha)                 -> sigma [N], geometry features [N, G]
    color(x, d, alpha, features)      -> rgb [N, 3] in [0, 1]   (``features`` = geometry features, optional)
"""
from __future__ import annotations

import torch
from torch import nn

from .hashgrid import HashGridEncoder
from .rays import HeadRays, sample_along_rays
from .volume import RenderedRays, composite


class FieldInputError(ValueError):
    """Bad input to the field (names the expected shape)."""


def linear_of_parts(layer: nn.Linear, parts: list[torch.Tensor]) -> torch.Tensor:
    """``layer(torch.cat(parts, -1))`` without building the concatenation: one (add)mm per part [N, k_i] -> [N, out].

    The columns of ``layer.weight`` are split like the parts; on a GPU this is much cheaper than copying millions of
    rows into one [N, sum k_i] buffer first, and the weights (and checkpoints) stay those of a plain nn.Linear.
    """
    out, start = None, 0
    for part in parts:
        w = layer.weight[:, start:start + part.shape[-1]]                     # [out, k_i]
        start += part.shape[-1]
        out = nn.functional.linear(part, w, layer.bias) if out is None else torch.addmm(out, part, w.t())
    if start != layer.in_features:
        raise FieldInputError(f"the parts have {start} columns in all; the layer takes {layer.in_features}")
    return out


def _mlp_of_parts(mlp: nn.Sequential, parts: list[torch.Tensor]) -> torch.Tensor:
    """``mlp(torch.cat(parts, -1))`` for a Sequential that starts with a Linear.

    Without autograd (rendering) the first layer takes the parts one product at a time (:func:`linear_of_parts`, no
    concatenated copy); with autograd (training) it concatenates: one product and one weight gradient instead of one
    per part plus the gradients of the weight's column slices (fewer kernel launches, which bound a training step).
    """
    if torch.is_grad_enabled():
        return mlp(torch.cat(parts, -1))
    h = linear_of_parts(mlp[0], parts)
    for layer in mlp[1:]:
        h = layer(h)
    return h


def density_activation(raw: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """sigma [N] = exp(raw) (truncated at exp(15), instant-ngp's activation) inside the head box, 0 outside.

    raw [N]: the density MLP's first output (any float dtype; computed in float32, since exp(15) overflows fp16).
    """
    return torch.exp(raw.float().clamp(max=15.0)) * inside


def direction_encoding(d: torch.Tensor) -> torch.Tensor:
    """Real spherical harmonics up to degree 2 of unit directions d [N, 3] -> [N, 9] (view dependence)."""
    x, y, z = d.unbind(-1)
    return torch.stack([torch.full_like(x, 0.28209479), 0.48860251 * y, 0.48860251 * z, 0.48860251 * x,
                        1.09254843 * x * y, 1.09254843 * y * z, 0.31539157 * (3 * z * z - 1),
                        1.09254843 * x * z, 0.54627422 * (x * x - y * y)], dim=-1)


class ExpressionField(nn.Module):
    """Hash-grid NeRF field conditioned on an expression code of width ``expr_dim``.

    box_min, box_max [3]: the head box the hash grid covers (points outside have zero density).
    """

    def __init__(self, box_min: torch.Tensor, box_max: torch.Tensor, *, expr_dim: int = 10, hash_levels: int = 16,
                 hash_features: int = 2, hash_log2_size: int = 16, max_resolution: int = 2048, hidden: int = 64,
                 geo_features: int = 15, backend: str = "torch"):
        super().__init__()
        self.register_buffer("box_min", torch.as_tensor(box_min, dtype=torch.float32).clone())
        self.register_buffer("box_max", torch.as_tensor(box_max, dtype=torch.float32).clone())
        self.expr_dim, self.geo_features = expr_dim, geo_features
        self.encoder = HashGridEncoder(n_levels=hash_levels, n_features=hash_features,
                                       log2_table_size=hash_log2_size, max_resolution=max_resolution, backend=backend)
        self.density_mlp = nn.Sequential(nn.Linear(self.encoder.output_dim + expr_dim, hidden), nn.ReLU(),
                                         nn.Linear(hidden, 1 + geo_features))
        self.color_mlp = nn.Sequential(nn.Linear(geo_features + 9 + expr_dim, hidden), nn.ReLU(),
                                       nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def _check(self, x: torch.Tensor, code: torch.Tensor, values: bool = True) -> torch.Tensor:
        if x.dim() != 2 or x.shape[-1] != 3:
            raise FieldInputError(f"positions must be [N, 3], got {tuple(x.shape)}")
        if code.shape[-1] != self.expr_dim:
            raise FieldInputError(f"expression code has width {code.shape[-1]}; this field was built for "
                                  f"{self.expr_dim} (10 for alpha^, 11 for the no_refinement variant's [z; alpha~])")
        if values and not torch.isfinite(code).all():
            raise FieldInputError("expression code contains NaN or inf")
        return code.expand(x.shape[0], -1) if code.dim() == 1 or code.shape[0] == 1 else code

    def normalise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Head-frame points [N, 3] -> ([0, 1]^3 coordinates, inside-the-box mask [N])."""
        u = (x - self.box_min) / (self.box_max - self.box_min)
        inside = ((u >= 0) & (u <= 1)).all(dim=-1)
        return u.clamp(0.0, 1.0), inside

    def density(self, x: torch.Tensor, code: torch.Tensor, *, check: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """sigma [N] >= 0 and geometry features [N, G] at points x [N, 3] for codes [N, m] (or one [m]).

        ``check=False`` skips the NaN tests (each waits for the GPU); renderers pass it for codes validated once.
        """
        code = self._check(x, code, values=check)
        u, inside = self.normalise(x)
        h = _mlp_of_parts(self.density_mlp, [self.encoder(u, check=check), code])
        return density_activation(h[:, 0], inside), h[:, 1:]

    def max_density(self, x: torch.Tensor, codes: torch.Tensor, *, check: bool = True) -> torch.Tensor:
        """[N]: the largest sigma over K codes [K, m] (or one [m]) at points x [N, 3] (the occupancy grid's refresh).

        The hash grid does not depend on the code, so the points are encoded once for all K codes.
        """
        codes = codes.reshape(-1, codes.shape[-1])
        self._check(x, codes[:1], values=check)
        if check and not torch.isfinite(codes).all():
            raise FieldInputError("expression code contains NaN or inf")
        u, inside = self.normalise(x)
        enc = self.encoder(u, check=check)                                    # [N, L F]
        best = torch.zeros(x.shape[0], device=x.device)
        for code in codes:
            h = _mlp_of_parts(self.density_mlp, [enc, code.expand(x.shape[0], -1)])
            best = torch.maximum(best, density_activation(h[:, 0], inside))
        return best

    def color(self, x: torch.Tensor, d: torch.Tensor, code: torch.Tensor,
              features: torch.Tensor | None = None, *, check: bool = True, encoded_d: bool = False) -> torch.Tensor:
        """rgb [N, 3] at points x [N, 3] seen along unit directions d [N, 3].

        ``encoded_d``: d is already ``direction_encoding(d)`` [N, 9] (a renderer encodes each ray once, not each sample).
        """
        code = self._check(x, code, values=check)
        if features is None:
            features = self.density(x, code, check=check)[1]
        sh = d if encoded_d else direction_encoding(d)
        return torch.sigmoid(_mlp_of_parts(self.color_mlp, [features, sh, code]))


def pack_kept(keep: torch.Tensor, capacity: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The kept samples packed into ``capacity`` slots, with shapes fixed in advance (no ``nonzero``).

    keep [N] bool -> (slots [capacity] long: the kept samples' indices in order, then 0 (what a slot reads);
    dest [capacity] long: the same, with N + j for empty slot j (where a slot's result goes: spare rows past the
    N samples, so that no two slots write one row); count [] long: how many samples were kept). Kept samples past
    ``capacity`` get no slot. Every scatter here writes distinct addresses (many writes to one address serialise).
    """
    n, dev = keep.shape[0], keep.device
    pos = torch.cumsum(keep, 0) - 1                                                  # [N] slot of each kept sample
    count = pos[-1] + 1
    index = torch.arange(n, device=dev)
    to_slot = torch.where(keep & (pos < capacity), pos, capacity + index)            # the rest: spare entries
    slots = torch.zeros(capacity + n, dtype=torch.long, device=dev).scatter(0, to_slot, index)[:capacity]
    spare = torch.arange(n, n + capacity, device=dev)
    dest = torch.where(spare - n < count, slots, spare)
    return slots, dest, count


def render_rays(field: ExpressionField, rays: HeadRays, code: torch.Tensor, background: torch.Tensor, *,
                n_samples: int = 64, stratified: bool = False, generator: torch.Generator | None = None,
                grid=None, check_codes: bool = True, jitter: torch.Tensor | None = None,
                compact: bool = True, capacity: int | None = None, stats: dict | None = None,
                group: int = 1) -> RenderedRays:
    """Volume-render rays [R] through ``field`` with expression codes [R, m] (or one [m]); rays that miss the
    head box show ``background`` ([R, 3] or [3]). With an OccupancyGrid ``grid``, samples in empty cells are
    skipped (density 0). ``check_codes=False`` skips the NaN test of the codes (it waits for the GPU; the trainer
    checks its codes once). Densities and colours are composited in float32, also when the field runs under fp16
    autocast. jitter [R, S]: the stratified samples' places in their bins (``sample_along_rays``).

    Which samples the field sees, three ways with the same colours and gradients (a zero-density sample has weight 0):
    compact=True: only the kept ones, found with a ``nonzero`` whose size the host must wait for;
    compact=False: all R x S, the others' density zeroed (shapes fixed in advance, as a CUDA graph needs);
    compact=False, capacity=K: the kept ones packed into K slots (``pack_kept``; fixed shapes, less work). Kept
    samples past K are dropped (density 0): stats["kept"] receives the count (a device tensor) to check that.

    group > 1: the rays come in tiles of ``group`` neighbouring rays (``nerf.ray_tile``^2) and the field sees the
    kept samples tile by tile, sample index before ray (the tile's rays at one depth, then the next depth), so that
    consecutive hash-grid points share cells at more levels and the aggregated backward merges them. Only the order
    in which the field is evaluated changes: colours and gradients are the same up to float summation order.
    """
    n = rays.origins.shape[0]
    s = sample_along_rays(rays.near, rays.far, n_samples, stratified=stratified, generator=generator,
                          jitter=jitter)                                                                  # [R, S]
    pts = rays.origins[:, None] + s[..., None] * rays.directions[:, None]                              # [R, S, 3]
    dirs = rays.directions[:, None].expand(-1, n_samples, -1).reshape(-1, 3)
    codes = code.expand(n, -1) if code.dim() == 1 else code
    if check_codes and not torch.isfinite(codes).all():      # checked once here, not in every field call
        raise FieldInputError("expression code contains NaN or inf")
    codes = codes[:, None].expand(-1, n_samples, -1).reshape(n * n_samples, -1)
    flat = pts.reshape(-1, 3)
    keep = rays.hit[:, None].expand(-1, n_samples).reshape(-1)
    if grid is not None:
        keep = keep & grid.occupied(flat)
    if not compact and capacity is None:                      # every sample
        sig_all, geo = field.density(flat, codes, check=False)
        rgb = field.color(flat, dirs, codes, geo, check=False).float()
        return composite((sig_all * keep).reshape(n, n_samples), rgb.reshape(n, n_samples, 3), s, rays.far,
                         background)
    n_all = n * n_samples
    order = None
    if group > 1:                                             # evaluation order: tile, sample, ray in the tile
        if n % group:
            raise FieldInputError(f"render_rays: {n} rays are not whole tiles of group={group} rays")
        order = torch.arange(n_all, device=flat.device).view(n // group, group, n_samples).transpose(1, 2).reshape(-1)
        keep = keep[order]
    if compact:
        kidx = dest = keep.nonzero()[:, 0]
        if order is not None:
            kidx = dest = order[kidx]
    else:                                                     # the kept samples in fixed slots
        kidx, dest, count = pack_kept(keep, capacity)
        if order is not None:                                 # slots index the reordered samples; spare rows stay
            kidx = order[kidx]
            dest = torch.where(dest < n_all, kidx, dest)
        if stats is not None:
            stats["kept"] = count
    # spare rows past the N samples receive the empty slots' results (plain writes, no accumulation), then go
    spare = 0 if compact else capacity
    sigma = torch.zeros(flat.shape[0] + spare, device=flat.device)
    rgb = torch.zeros(flat.shape[0] + spare, 3, device=flat.device)
    if kidx.numel():
        sig_k, geo = field.density(flat[kidx], codes[kidx], check=False)
        col = field.color(flat[kidx], dirs[kidx], codes[kidx], geo, check=False).float()
        sigma = sigma.index_put((dest,), sig_k)
        rgb = rgb.index_put((dest,), col)
    return composite(sigma[:n_all].reshape(n, n_samples), rgb[:n_all].reshape(n, n_samples, 3), s, rays.far,
                     background)
