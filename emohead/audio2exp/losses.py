"""Training losses of the audio-expression module (Sec. III-D, eq. 13, Table VI).

Both are per-frame Euclidean norms (not squared), averaged over frames:

- L_reg = ||alpha^A - alpha^^A||_2: plain regression to the speaker's own expression;
- L_reg_const = ||alpha^A - alpha^^A||_2 + rho ||alpha^{A_bar} - alpha^^A||_2 (eq. 13), where alpha^{A_bar} is the
  expression of another actor speaking the same sentence with the same emotion ("many-to-one": the
  prediction is pulled towards what any speaker's face does for this content, not one voice's quirks).

For data-parallel training (each process holds some rows of one global batch) ``l_reg_part`` and
``l_reg_const_part`` give a shard's share of the global-batch loss; the shares sum to the loss of the
whole batch; the trainer multiplies each share by the number of processes before DistributedDataParallel
averages the gradients, which gives the one-process gradient of the whole batch.
"""
from __future__ import annotations

import torch


def frame_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a - b||_2 per frame: [..., m] -> [...]."""
    return torch.linalg.vector_norm(a - b, dim=-1)


def l_reg(target: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """L_reg: mean over frames of ||alpha^A - alpha^^A||_2; target, pred [B, W, m] -> scalar."""
    return frame_l2(target, pred).mean()


def l_reg_const(target: torch.Tensor, pred: torch.Tensor, partner: torch.Tensor, has_partner: torch.Tensor,
                rho: float) -> torch.Tensor:
    """eq. 13: mean ||alpha^A - alpha^^A||_2 + rho * mean ||alpha^{A_bar} - alpha^^A||_2.

    target, pred, partner [B, W, m]; has_partner [B] bool. Windows without a partner clip (a sentence
    only one actor spoke) contribute to the first term only; the second is averaged over the rest.
    """
    first = frame_l2(target, pred).mean()
    mask = has_partner.to(pred.dtype)
    if mask.sum() == 0:
        return first
    second = (frame_l2(partner, pred).mean(dim=-1) * mask).sum() / mask.sum()
    return first + rho * second


def rmse(target: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """Root-mean-square error over frames and dimensions (Table VI's RMSE)."""
    return torch.sqrt(torch.mean((target - pred) ** 2))


# -- one shard of a global batch (data-parallel training) ------------------------------------------
def l_reg_part(target: torch.Tensor, pred: torch.Tensor, n_windows: int) -> torch.Tensor:
    """This shard's part of L_reg over a global batch of ``n_windows`` windows: sum of ||.||_2 / (n_windows W).

    target, pred [b, W, m] (b of the n_windows rows). The parts of disjoint shards sum to
    :func:`l_reg` of the whole batch, however unevenly the rows are split.
    """
    return frame_l2(target, pred).sum() / (n_windows * target.shape[1])


def l_reg_const_part(target: torch.Tensor, pred: torch.Tensor, partner: torch.Tensor, has_partner: torch.Tensor,
                     rho: float, n_windows: int, n_partnered: int) -> torch.Tensor:
    """This shard's part of eq. 13 over a global batch of ``n_windows`` windows, ``n_partnered`` of them with a partner.

    The parts of disjoint shards sum to :func:`l_reg_const` of the whole batch: each term is normalised by
    the global count it is averaged over, not by the shard's.
    """
    first = l_reg_part(target, pred, n_windows)
    if n_partnered == 0:
        return first
    mask = has_partner.to(pred.dtype)
    second = (frame_l2(partner, pred).mean(dim=-1) * mask).sum() / n_partnered
    return first + rho * second
