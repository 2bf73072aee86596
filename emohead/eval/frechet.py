"""Frechet distances between image sets: FID with Inception weights from a path, else "FD (analyser)".

FID (Heusel et al. 2017, the paper's image-quality metric, Sec. IV) fits a Gaussian to network
features of the real and of the generated frames and measures

    d^2 = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))

on Inception-v3 pool features (2048-d). Accumulation and the formula are torchmetrics'
:class:`~torchmetrics.image.fid.FrechetInceptionDistance` with ``feature=`` a module of ours; its
trace term takes Tr((S_r S_g)^(1/2)) as the sum of the square roots of the eigenvalues of S_r S_g.

Inception weights by path (no download, ever): :func:`load_inception` accepts
- a TorchScript Inception such as NVIDIA's ``inception-2015-12-05.pt`` (StyleGAN2-ADA/3, clean-fid),
  called on uint8 [N, 3, H, W] with ``return_features=True`` when its forward takes that argument; TorchScript
  runs code stored in the file, so it is loaded only with ``trust_torchscript=True`` (``eval.trust_torchscript``);
- torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` when the optional ``torch-fidelity``
  package is installed (torchmetrics' own ``NoTrainInceptionV3``).
Without Inception weights the same distance is taken on the face analyser's 256-d penultimate
embedding (:func:`emohead.analyser.model.embed_frames`) and reported as "FD (analyser)", never "FID":
its values are not comparable with the paper's FID.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .result import EvalError, MetricResult

log = logging.getLogger(__name__)

FID_NAME = "FID"
"""Name of the distance on Inception-v3 features (the paper's FID)."""
ANALYSER_FD_NAME = "FD (analyser)"
"""Name of the distance on the face analyser's embedding (ours; not the paper's FID)."""
SQRTM_EPS = 1e-6
"""Diagonal offset added to both covariances when scipy's sqrtm of S_r S_g is not finite (pytorch-fid's fix)."""


# ---------------------------------------------------------------- the formula
def gaussian_stats(features: Any) -> tuple[np.ndarray, np.ndarray]:
    """features [N, D] (N >= 2) -> (mean [D], unbiased covariance [D, D]), float64."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise EvalError(f"features must be [N, D] with N >= 2, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise EvalError("features contain NaN or inf")
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (mu [D], sigma [D, D]), float64.

    torchmetrics' ``_compute_fid`` (eigenvalues of sigma1 sigma2); if that private helper is
    unavailable, :func:`frechet_distance_sqrtm`.
    """
    try:
        from torchmetrics.image.fid import _compute_fid
    except ImportError:                                              # pragma: no cover - torchmetrics moved it
        return frechet_distance_sqrtm(mu1, sigma1, mu2, sigma2)
    t = [torch.as_tensor(np.asarray(a, np.float64)) for a in (mu1, sigma1, mu2, sigma2)]
    return float(_compute_fid(*t))


def frechet_distance_sqrtm(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, eps: float = SQRTM_EPS) -> float:
    """Reference formula with ``scipy.linalg.sqrtm``: ||mu1-mu2||^2 + Tr(s1 + s2 - 2 sqrtm(s1 s2)).

    If the product's square root is not finite (near-singular covariances), eps * I is added to
    both covariances (pytorch-fid's stabilisation); the imaginary part from round-off is dropped.
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        off = np.eye(len(s1)) * eps
        covmean = linalg.sqrtm((s1 + off) @ (s2 + off))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def feature_frechet_distance(real: Any, fake: Any, *, name: str = "FD") -> MetricResult:
    """Frechet distance between two feature sets real [N, D], fake [M, D] (N, M >= 2) -> MetricResult ``name``."""
    mu1, s1 = gaussian_stats(real)
    mu2, s2 = gaussian_stats(fake)
    if mu1.shape != mu2.shape:
        raise EvalError(f"real and fake features differ in width: {mu1.shape[0]} vs {mu2.shape[0]}")
    return MetricResult(name, frechet_distance(mu1, s1, mu2, s2), "",
                        extra={"n_real": int(np.shape(real)[0]), "n_fake": int(np.shape(fake)[0]),
                               "dims": int(mu1.shape[0])})


# ---------------------------------------------------------------- feature networks
class InceptionFeatures(nn.Module):
    """uint8 [N, 3, H, W] -> [N, D] pool features of an Inception network loaded by :func:`load_inception`."""

    def __init__(self, net: nn.Module, *, return_features: bool, num_features: int) -> None:
        super().__init__()
        self.net = net
        self.return_features = bool(return_features)
        self.num_features = int(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x, return_features=True) if self.return_features else self.net(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.reshape(len(x), -1)


def is_torchscript(path: Path) -> bool:
    """Whether a file is a TorchScript archive (a zip holding a ``code/`` folder), judged without loading it."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in name for name in z.namelist())


def load_inception(path: str | Path, *, trust_torchscript: bool = False) -> InceptionFeatures:
    """Inception-v3 feature network from a local file (formats in the module docstring); never downloads.

    A TorchScript file runs code of its own when loaded: it is refused unless ``trust_torchscript``."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"Inception weights {path} do not exist (eval inception_path)")
    if is_torchscript(path) and not trust_torchscript:
        raise EvalError(f"Inception weights {path} are TorchScript, which runs code stored in the file; set "
                        "eval.trust_torchscript=true only if you trust where it came from")
    if is_torchscript(path):
        try:
            net = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as err:
            raise EvalError(f"Inception weights {path}: a TorchScript archive that does not load ({err})") from None
    else:                                                            # not TorchScript: torch-fidelity weights?
        jit_err = "no TorchScript code inside"
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
            from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE
        except ImportError:                                          # pragma: no cover
            _TORCH_FIDELITY_AVAILABLE = False
        if not _TORCH_FIDELITY_AVAILABLE:
            raise EvalError(f"Inception weights {path}: not a TorchScript file ({jit_err}); a torch-fidelity "
                            "state dict needs the optional package torch-fidelity") from None
        try:
            net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                     feature_extractor_weights_path=str(path))
        except Exception as err:
            raise EvalError(f"Inception weights {path}: neither TorchScript nor torch-fidelity weights ({err})") from None
        return InceptionFeatures(net, return_features=False, num_features=2048)
    probe = torch.zeros(1, 3, 299, 299, dtype=torch.uint8)
    with torch.no_grad():
        try:
            out, flag = net(probe, return_features=True), True
        except Exception:
            out, flag = net(probe), False
    if isinstance(out, (tuple, list)):
        out = out[0]
    return InceptionFeatures(net, return_features=flag, num_features=int(out.reshape(1, -1).shape[1])).eval()


class AnalyserFeatures(nn.Module):
    """uint8 [N, 3, H, W] -> [N, 256] face-analyser embedding (:func:`emohead.analyser.model.embed_frames`)."""

    def __init__(self, analyser: nn.Module, batch_size: int = 64) -> None:
        super().__init__()
        self.analyser = analyser
        self.batch_size = int(batch_size)
        self.num_features = int(analyser.fc[1].out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from ..analyser.model import embed_frames

        frames = x.permute(0, 2, 3, 1).contiguous().cpu().numpy()
        dev = next(self.analyser.parameters()).device
        return torch.from_numpy(embed_frames(self.analyser, frames, batch_size=self.batch_size, device=dev))


def _uint8_nchw(frames: Any, name: str) -> torch.Tensor:
    arr = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise EvalError(f"{name} must be frames uint8 [N, H, W, 3], got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise EvalError(f"{name} must be uint8 [N, H, W, 3], got dtype {arr.dtype}")
    if len(arr) < 2:
        raise EvalError(f"{name}: a Frechet distance needs at least 2 frames, got {len(arr)}")
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)


def image_frechet_distance(real: Any, fake: Any, *, inception_path: str | Path | None = None,
                           analyser: nn.Module | None = None, batch_size: int = 32,
                           trust_torchscript: bool = False) -> MetricResult:
    """FID on Inception features when ``inception_path`` is given, else "FD (analyser)" on ``analyser``.

    real (ground-truth frames) and fake (generated frames): uint8 [N, H, W, 3], N >= 2 each. The
    result's ``name`` says which distance it is (:data:`FID_NAME` or :data:`ANALYSER_FD_NAME`).
    With few frames (N < feature width) the covariances are singular and the value is biased
    upward; compare values only at equal N.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    if inception_path:
        net: nn.Module = load_inception(inception_path, trust_torchscript=trust_torchscript)
        name = FID_NAME
    elif analyser is not None:
        from ..analyser.model import FaceAnalyser
        if not isinstance(analyser, FaceAnalyser):
            raise EvalError(f"analyser must be a FaceAnalyser, got {type(analyser).__name__}")
        net = AnalyserFeatures(analyser)
        name = ANALYSER_FD_NAME
    else:
        raise EvalError("image_frechet_distance needs inception_path (FID) or analyser (FD (analyser))")
    r, f = _uint8_nchw(real, "real"), _uint8_nchw(fake, "fake")
    metric = FrechetInceptionDistance(feature=net, normalize=False)
    with torch.no_grad():
        for s in range(0, len(r), batch_size):
            metric.update(r[s:s + batch_size], real=True)
        for s in range(0, len(f), batch_size):
            metric.update(f[s:s + batch_size], real=False)
        value = float(metric.compute())
    log.info("%s over %d real and %d generated frames: %.3f", name, len(r), len(f), value)
    return MetricResult(name, value, "", extra={"n_real": len(r), "n_fake": len(f), "dims": int(net.num_features),
                                               "features": str(inception_path) if inception_path else "analyser"})


__all__ = ["ANALYSER_FD_NAME", "AnalyserFeatures", "FID_NAME", "InceptionFeatures", "SQRTM_EPS",
           "feature_frechet_distance", "frechet_distance", "frechet_distance_sqrtm", "gaussian_stats",
           "image_frechet_distance", "load_inception"]
