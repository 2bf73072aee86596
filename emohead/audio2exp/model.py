"""The audio-expression module (Sec. III-A, eq. 1-9) and its ablation variants (Table IV).

Per frame i the module reads audio v~_i, audio emotion e~_i and the text g~_i of the word spoken at i,
and predicts expression parameters alpha~_i [m] and a refinement weight tau_i; with the emotion
hyperplane normal w_z of the tag z the output is alpha^_i = alpha~_i + tau_i w_z (eq. 9). By default eq. 9 starts
from the tag's mean training expression mu_z: alpha^_i = mu_z + alpha~_i + tau_i w_z (``tag_anchor``, below).

Variants (``Audio2ExpConfig.variant``):

- ``full`` (default): eq. 1-9 completed where they are silent. Each attention branch keeps its input
  (h_v + v, h_e + F, h_g + g, a residual as in every transformer layer), F is a mean over i-n..i instead of a
  sum, and each branch's logits get a learned bias b(j - i) per frame offset. Why: taken as printed, F sums n + 1
  unnormalised frames, the logits are large and the softmax saturates (the literal model's mean largest attention
  weight over a 32-frame window is 0.81 in notebook 03's cpu reference, the default's 0.17), and without a residual the FFNs see frame i only
  through a mixture of the window, so alpha~ is piecewise constant.
  The anchor (``tag_anchor=True``): in eq. 9 as printed alpha~ and tau are read from the audio alone and the tag acts
  along one direction, so each clip's mean expression (its emotion offset) must be guessed from audio; the guess
  varies from clip to clip, and a per-emotion correction fitted after training does not remove it. Starting from
  mu_z, the network learns only what the tag does not tell (mouth motion, intensity); any tag still applies to any
  audio (Fig. 11), and blends and switches blend mu like w.
  Measured over 5 seeds on the cpu profile's held-out clips (README, `benchmarks/a2e_comparison.py`), RMSE / offset
  RMSE / motion correlation / mouth-openness correlation: default 0.509 / 0.391 / 0.82 / 0.94; without the anchor
  0.685 / 0.589 / 0.80 / 0.91; literal 0.760 / 0.583 / 0.58 / 0.73; the audio-blind emotion mean 0.728 / 0.450 / 0 / 0.43.
- ``literal``: eq. 2-9 exactly as printed (an ablation): F a sum, no residual, no offset bias, no anchor.
- ``no_alignment``: "w/o audio expression alignment": [v; e; g] concatenated and passed through one
  standard self-attention transformer layer instead of FusedAttn (no fusion F); anchored like the default.
- ``no_refinement``: "w/o hyperplane refinement": no tau, no w_z; the module predicts alpha~ and the
  renderer receives [z; alpha~] with z the integer tag (:meth:`Audio2Expression.expression_code`).

Inputs carry ``n`` context frames before the W predicted frames (silence before a clip's start), so
F over i-n..i is defined for every predicted frame. In the literal form neither attention sees frame positions
and the fusion F is FusedAttn's only temporal context; the default adds the offset bias.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..config import Audio2ExpConfig
from ..emotion.editing import blend, refine, tag_code
from .data import STREAMS


def neighbour_fusion(v: torch.Tensor, e: torch.Tensor, n: int, mean: bool = False) -> torch.Tensor:
    """F(v, e)_i = sum_{k=i-n..i} (v_k + e_k) (Sec. III-A); ``mean=True`` divides by the n + 1 frames.

    v, e: [B, n + W, d] with ``n`` context frames first -> [B, W, d] for the W frames after the context.
    """
    x = v + e                                                         # [B, n+W, d]
    c = torch.cumsum(x, dim=1)
    c = torch.cat([torch.zeros_like(c[:, :1]), c], dim=1)            # c[j] = sum of the first j frames
    fused = c[:, n + 1:] - c[:, :-n - 1]                             # sum over frames i-n..i, [B, W, d]
    return fused / (n + 1) if mean else fused


def feed_forward(d_in: int, hidden: tuple[int, ...], k: int) -> nn.Sequential:
    """FFN with layer widths (*hidden, k), ReLU between layers (Sec. III-A: (512, 256, 256, 128, k))."""
    layers: list[nn.Module] = []
    width = d_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, k))
    return nn.Sequential(*layers)


class FusedAttn(nn.Module):
    """Audio Expression Alignment, eq. 2-7 (single head).

    forward(v, fused, g): v = projected audio, fused = F(v, e), g = projected text, each [B, W, d]
    -> [B, W, 3d] = [h_v; h_e; h_g], plus the three attention maps [B, W, W] if asked.

    ``residual=False`` is eq. 5-7 as written: each output is only a softmax mixture of the window, so
    frame i's own features reach the FFNs only through the attention. ``residual=True`` adds each
    branch's input back (h_v + v, h_e + F, h_g + g), as every transformer layer does (Vaswani et al.
    2017); the paper's equations do not show it (module docstring of :mod:`emohead.audio2exp.model`).
    """

    def __init__(self, d: int, dh: int, residual: bool = False, max_offset: int = 0):
        super().__init__()
        self.dh, self.residual, self.max_offset = dh, residual, max_offset
        # learned bias b(j - i) on each branch's logits for frame offsets clipped to +-max_offset (Shaw et al. 2018,
        # Raffel et al. 2020); zeros at initialisation, absent in the literal form
        self.offset_bias = nn.Parameter(torch.zeros(3, 2 * max_offset + 1)) if max_offset > 0 else None
        self.wq1, self.wk1 = nn.Linear(d, dh, bias=False), nn.Linear(d, dh, bias=False)
        self.wq2, self.wk2 = nn.Linear(d, dh, bias=False), nn.Linear(d, dh, bias=False)
        self.wv1, self.wv2, self.wv3 = (nn.Linear(d, d, bias=False) for _ in range(3))

    def forward(self, v: torch.Tensor, fused: torch.Tensor, g: torch.Tensor, return_attention: bool = False):
        c_ve = self.wq1(fused) @ self.wk1(fused).transpose(1, 2)     # eq. 2: F Wq1 Wk1^T F^T       [B, W, W]
        c_g = self.wq2(g) @ self.wk2(g).transpose(1, 2)              # eq. 3: g Wq2 Wk2^T g^T       [B, W, W]
        scale = math.sqrt(self.dh)
        b_v, b_e, b_g = self._offset_biases(v.shape[1], v.device)   # 0, or [W, W] each
        a_v = torch.softmax((c_ve + c_g) / scale + b_v, dim=-1)      # eq. 4: Softmax((C_ve + C_g)/sqrt(dh))
        a_e = torch.softmax(c_ve / scale + b_e, dim=-1)              # eq. 6
        a_g = torch.softmax(c_g / scale + b_g, dim=-1)               # eq. 7
        h_v = a_v @ self.wv1(v)                                      # eq. 5: ... v Wv1             [B, W, d]
        h_e = a_e @ self.wv2(fused)                                  # eq. 6: ... F(v, e) Wv2
        h_g = a_g @ self.wv3(g)                                      # eq. 7: ... g Wv3
        if self.residual:                                            # completed form: the inputs pass through
            h_v, h_e, h_g = h_v + v, h_e + fused, h_g + g
        out = torch.cat([h_v, h_e, h_g], dim=-1)                     # [h_v; h_e; h_g]              [B, W, 3d]
        if return_attention:
            return out, {"ve+g": a_v, "ve": a_e, "g": a_g}
        return out


    def _offset_biases(self, w: int, device: torch.device) -> tuple:
        """The three branches' biases b(j - i) as [W, W] matrices (zeros without ``max_offset``)."""
        if self.offset_bias is None:
            return 0.0, 0.0, 0.0
        pos = torch.arange(w, device=device)
        idx = (pos[None, :] - pos[:, None]).clamp(-self.max_offset, self.max_offset) + self.max_offset   # [W, W]
        table = self.offset_bias[:, idx]                                                               # [3, W, W]
        return table[0], table[1], table[2]


class ConcatSelfAttention(nn.Module):
    """Ablation "w/o audio expression alignment": [v; e; g] -> one standard transformer encoder layer.

    forward(v, e, g) with each [B, W, d] -> [B, W, 3d].
    """

    def __init__(self, d: int):
        super().__init__()
        width = 3 * d
        heads = next(h for h in (8, 4, 2, 1) if width % h == 0)
        self.layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0,
                                                batch_first=True, norm_first=True)

    def forward(self, v: torch.Tensor, e: torch.Tensor, g: torch.Tensor, return_attention: bool = False):
        x = torch.cat([v, e, g], dim=-1)
        out = self.layer(x)
        if return_attention:
            _, attn = self.layer.self_attn(self.layer.norm1(x), self.layer.norm1(x), self.layer.norm1(x),
                                           need_weights=True)
            return out, {"self": attn}
        return out


@dataclass
class A2EOutput:
    """alpha_tilde [B, W, m]; tau [B, W] (zeros for no_refinement); attention maps {name: [B, W, W]}."""

    alpha_tilde: torch.Tensor
    tau: torch.Tensor
    attention: dict[str, torch.Tensor] | None = None

    def refined(self, normals: torch.Tensor | None, anchors: torch.Tensor | None = None) -> torch.Tensor:
        """eq. 9: alpha^ = (mu_z +) alpha~ + tau w; normals, anchors [B, W, m] or [B, m] (normals None -> alpha~)."""
        if normals is None:
            return self.alpha_tilde
        if normals.dim() == 2:
            normals = normals[:, None, :]
        if anchors is not None and anchors.dim() == 2:
            anchors = anchors[:, None, :]
        return refine(self.alpha_tilde, self.tau, normals, anchors)


class Audio2Expression(nn.Module):
    """(v~, e~, g~) -> (alpha~, tau); the emotion normals w_z are stored with the model (buffer [E, m]).

    Inputs are standardised with stored per-stream statistics, then projected (eq. 1).
    """

    def __init__(self, cfg: Audio2ExpConfig, dims: dict[str, int], normals: torch.Tensor, emotions: list[str]):
        super().__init__()
        if normals.dim() != 2 or normals.shape[0] != len(emotions):
            raise ValueError(f"normals must be [E, m] with E = {len(emotions)} emotions, got {tuple(normals.shape)}")
        self.cfg, self.dims, self.emotions = cfg, dict(dims), list(emotions)
        self.m = int(normals.shape[1])
        d = cfg.d
        self.register_buffer("normals", normals.float().clone())                       # w_z [E, m]
        self.register_buffer("anchors", torch.zeros_like(self.normals))                  # mu_z [E, m] (tag_anchor)
        for s in STREAMS:
            self.register_buffer(f"mean_{s}", torch.zeros(dims[s]))
            self.register_buffer(f"std_{s}", torch.ones(dims[s]))
            self.register_buffer(f"silence_{s}", torch.zeros(dims[s]))
        self.e1 = nn.Linear(dims["audio"], d)     # eq. 1: v = v~ E1
        self.e2 = nn.Linear(dims["emotion"], d)   # eq. 1: e = e~ E2
        self.e3 = nn.Linear(dims["text"], d)      # eq. 1: g = g~ E3
        if cfg.variant == "no_alignment":
            self.mixer: nn.Module = ConcatSelfAttention(d)
        else:
            completed = cfg.variant != "literal"
            self.mixer = FusedAttn(d, cfg.dh, residual=completed, max_offset=cfg.max_offset if completed else 0)
        self.ffn1 = feed_forward(3 * d, tuple(cfg.ffn_widths), self.m)                 # alpha~ = FFN1(...)
        self.ffn2 = feed_forward(3 * d, tuple(cfg.ffn_widths), 1) if self.refines else None  # tau = FFN2(...)

    @property
    def refines(self) -> bool:
        return self.cfg.variant != "no_refinement"

    @property
    def anchored(self) -> bool:
        """Whether eq. 9 starts from the tag's mean expression mu_z (``tag_anchor``; never in the literal form)."""
        return self.cfg.tag_anchor and self.cfg.variant not in ("literal", "no_refinement")

    def set_anchors(self, anchors: torch.Tensor | np.ndarray) -> None:
        """Store mu_z [E, m], each emotion's mean expression over the training frames."""
        self.anchors.copy_(torch.as_tensor(np.asarray(anchors, np.float32)))

    def set_statistics(self, stats: dict[str, tuple], silence: dict[str, object]) -> None:
        """Store input standardisation (mean, std) and the silence feature per stream (all [D])."""
        for s in STREAMS:
            getattr(self, f"mean_{s}").copy_(torch.as_tensor(stats[s][0]))
            getattr(self, f"std_{s}").copy_(torch.as_tensor(stats[s][1]))
            getattr(self, f"silence_{s}").copy_(torch.as_tensor(silence[s]))

    def silence(self, stream: str) -> torch.Tensor:
        return getattr(self, f"silence_{stream}")

    def _project(self, x: torch.Tensor, stream: str, layer: nn.Linear) -> torch.Tensor:
        if x.shape[-1] != self.dims[stream]:
            raise ValueError(f"{stream} features are {x.shape[-1]}-d; this model expects {self.dims[stream]}-d")
        return layer((x - getattr(self, f"mean_{stream}")) / getattr(self, f"std_{stream}"))

    def forward(self, audio: torch.Tensor, emotion: torch.Tensor, text: torch.Tensor,
                return_attention: bool = False) -> A2EOutput:
        """audio [B, n+W, Da], emotion [B, n+W, De], text [B, n+W, Dt] (n = cfg.n_neighbors) -> A2EOutput."""
        n = self.cfg.n_neighbors
        v = self._project(audio, "audio", self.e1)              # [B, n+W, d]
        e = self._project(emotion, "emotion", self.e2)
        g = self._project(text[:, n:], "text", self.e3)         # [B, W, d]: text needs no context
        if self.cfg.variant == "no_alignment":
            res = self.mixer(v[:, n:], e[:, n:], g, return_attention)
        else:
            fused = neighbour_fusion(v, e, n, mean=self.cfg.variant != "literal")   # F(v, e) [B, W, d]
            res = self.mixer(v[:, n:], fused, g, return_attention)
        h, attn = res if return_attention else (res, None)
        alpha_tilde = self.ffn1(h)                              # [B, W, m]
        tau = self.ffn2(h)[..., 0] if self.ffn2 is not None else torch.zeros_like(alpha_tilde[..., 0])
        return A2EOutput(alpha_tilde=alpha_tilde, tau=tau, attention=attn)

    def normal(self, emotion: str) -> np.ndarray:
        """The refinement direction w_z [m] this model was trained with (numpy; KeyError naming the emotions)."""
        if emotion not in self.emotions:
            raise KeyError(f"unknown emotion {emotion!r}; this model knows {self.emotions}")
        return self.normals[self.emotions.index(emotion)].detach().cpu().numpy()

    def tag_normals(self, tag: torch.Tensor) -> torch.Tensor:
        """w_z of integer tags [B] -> [B, m]."""
        return self.normals[tag]

    def tag_anchors(self, tag: torch.Tensor) -> torch.Tensor | None:
        """mu_z of integer tags [B] -> [B, m] (None for a model without anchors)."""
        return self.anchors[tag] if self.anchored else None

    def refinement(self, emotion: str, to: str | None = None, weight: float | np.ndarray = 0.0,
                   intensity: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
        """(w, mu) of eq. 9 for a tag, or a blend (1 - weight) z + weight ``to`` with weight a number or per frame [T]
        (App. B): w [m] or [T, m], mu likewise (None without anchors). Numpy; KeyError naming the known emotions.

        ``intensity`` s moves the anchor along the way from the neutral one: mu_neutral + s (mu_z - mu_neutral), so with
        tau scaled by s too (as the renderer does) s = 0 is the neutral face and s = 1 the tag as trained."""
        names = [emotion] + ([to] if to is not None else [])
        for name in names:
            if name not in self.emotions:
                raise KeyError(f"unknown emotion {name!r}; this model knows {self.emotions}")
        ia, ib = self.emotions.index(emotion), self.emotions.index(to if to is not None else emotion)
        normals, anchors = self.normals.detach().cpu().numpy(), self.anchors.detach().cpu().numpy()
        direction = blend(normals[ia], normals[ib], weight)                      # [m] or [T, m]
        anchor = None
        if self.anchored:
            neutral = anchors[self.emotions.index("neutral")] if "neutral" in self.emotions else anchors.mean(axis=0)
            anchor = neutral + intensity * (blend(anchors[ia], anchors[ib], weight) - neutral)
        return direction.astype(np.float32), None if anchor is None else anchor.astype(np.float32)

    def expression_code(self, out, normals=None, tag_value=None, anchors=None):
        """What the renderer is conditioned on: alpha^ [.., m] (eq. 9), or [z; alpha~] [.., m + 1] for no_refinement.

        out: an :class:`A2EOutput` (torch, training) or a ``Prediction`` (numpy, inference): its alpha~ and tau;
        normals w and anchors mu as :meth:`refinement` gives them; tag_value the integer tag z (no_refinement).
        """
        if self.refines:
            if normals is None:
                raise ValueError("pass the normals (a tag's w_z, a blend or a switch schedule) to refine alpha~")
            if self.anchored and anchors is None:
                raise ValueError("this model refines from the tag's anchor mu_z: pass anchors (model.refinement(...))")
            return out.refined(normals, anchors)
        if tag_value is None:
            raise ValueError("the no_refinement variant needs the tag z to build [z; alpha~]")
        return tag_code(tag_value, out.alpha_tilde)
