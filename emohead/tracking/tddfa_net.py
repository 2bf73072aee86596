"""The 3DDFA_V2 network and its weights: MobileNet-V1 with the heads of the released checkpoints.

The layers and their names are those of the public repository cleardusk/3DDFA_V2 (MIT), ``models/mobilenet_v1.py``
(depthwise blocks ``dw2_1`` ... ``dw6``, global average pool), with the two heads of the released checkpoints,
``fc_param`` [62] and ``fc_lm`` [136] (3DDFA_V2's ``utils/tddfa_util.py`` ``load_model`` maps ``fc_param`` onto its
``fc``). The width (0.5 for ``mb05_120x120.pth``, 1.0 for ``mb1_120x120.pth``) is read off the state dict:
``conv1`` has 32 x width filters. Weights are read with ``torch.load(..., weights_only=True)`` only -- a file
that needs unpickling of anything but tensors is refused, never run.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from . import models


class WeightsError(ValueError):
    """A weights file that is not a weights-only 3DDFA_V2 checkpoint (wrong content, or a pickle)."""


class _DepthWise(nn.Module):
    """3x3 depthwise conv + BN + ReLU, then 1x1 conv + BN + ReLU (3DDFA_V2's ``DepthWiseBlock``)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv_dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn_dw = nn.BatchNorm2d(cin)
        self.conv_sep = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.bn_sep = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn_sep(self.conv_sep(self.relu(self.bn_dw(self.conv_dw(x))))))


_BLOCKS = [("dw2_1", 32, 64, 1), ("dw2_2", 64, 128, 2), ("dw3_1", 128, 128, 1), ("dw3_2", 128, 256, 2),
           ("dw4_1", 256, 256, 1), ("dw4_2", 256, 512, 2), ("dw5_1", 512, 512, 1), ("dw5_2", 512, 512, 1),
           ("dw5_3", 512, 512, 1), ("dw5_4", 512, 512, 1), ("dw5_5", 512, 512, 1), ("dw5_6", 512, 1024, 2),
           ("dw6", 1024, 1024, 1)]


class TddfaNet(nn.Module):
    """MobileNet-V1 of width ``width``: x [B, 3, 120, 120] (BGR, normalised) -> params [B, 62] (standardised).

    ``landmark_head``: also build ``fc_lm`` [136] (present in the released checkpoints; not used here).
    """

    def __init__(self, width: float = 0.5, landmark_head: bool = True):
        super().__init__()
        self.width = width
        c = lambda n: int(n * width)  # noqa: E731
        self.conv1 = nn.Conv2d(3, c(32), 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c(32))
        self.relu = nn.ReLU(inplace=True)
        for name, cin, cout, stride in _BLOCKS:
            setattr(self, name, _DepthWise(c(cin), c(cout), stride))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc_param = nn.Linear(c(1024), 62)
        self.fc_lm = nn.Linear(c(1024), 136) if landmark_head else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for name, *_ in _BLOCKS:
            x = getattr(self, name)(x)
        return self.avgpool(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_param(self.features(x))


def load_tddfa_net(path: str | os.PathLike) -> TddfaNet:
    """Read a 3DDFA_V2 checkpoint weights-only (never unpickling objects) -> TddfaNet in eval mode.

    Accepts ``{"state_dict": {...}}`` or a bare state dict, keys with or without the ``module.`` prefix.
    Raises :class:`~.models.ModelsMissingError` if the file is absent, :class:`WeightsError` naming the file if it
    is not a weights-only checkpoint of this network.
    """
    path = Path(path)
    if not path.is_file():
        raise models.ModelsMissingError(f"3DDFA_V2 weights file {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- any failure of the safe loader means: not a weights-only file
        raise WeightsError(f"{path} is not a weights-only PyTorch checkpoint (refused: it is read with "
                           f"weights_only=True, never unpickled): {type(exc).__name__}: {str(exc)[:300]}") from exc
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path} holds no state dict of tensors (expected {{'state_dict': {{...}}}})")
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    if "conv1.weight" not in sd or "fc_param.weight" not in sd:
        raise WeightsError(f"{path} is not a 3DDFA_V2 MobileNet-V1 checkpoint (no conv1.weight / fc_param.weight; "
                           f"keys start {sorted(sd)[:5]})")
    width = sd["conv1.weight"].shape[0] / 32.0
    net = TddfaNet(width, landmark_head="fc_lm.weight" in sd)
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not match a 3DDFA_V2 MobileNet-V1 of width {width:g}: {exc}") from exc
    return net.eval()
