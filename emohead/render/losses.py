"""The rendering module's losses (Sec. III-D, eq. 15-16).

    L = lambda_photo L_photo + lambda_cord L_cord + lambda_shape L_shape      {1, 1e-3, 1e-9}
    L_photo = ||I_r - I_g||_2                 per-pixel photometric error (mean squared error over rays)
    L_cord  = -E_I(I_r)^T E_T(emo)            coordination of the rendered face with the emotion tag
    L_shape = ||beta_id - beta^_id||_2        identity of the rendered face vs the person's

L_cord and L_shape need whole faces, so they are computed on a rendered patch (the analyser's face crop,
see :func:`patch_pixels`), not on scattered rays. Two backends give E_I and E_T for L_cord:

* ``AnalyserCoordination`` (default): E_I is the face analyser's shared 256-d embedding of the rendered
  patch, E_T(emo) the mean embedding of the person's real training frames with that tag (both unit length).
  It plays the role CLIP plays in the paper, trained on the synthetic world's faces.
* ``ClipCoordination``: a transformers ``CLIPModel`` from a local folder (the paper used RN50);
  E_I = the image embedding of the patch, E_T = the text embedding of ``prompt.format(emotion=...)``.
* ``TddfaCoordination`` (recorded people, ``nerf.coord_backend`` "auto" on a prepared dataset): 3DDFA_V2, the
  regressor that made their expression and shape data, replaces the analyser trained on synthetic faces. The patch
  is a P x P grid over each frame's 3DDFA_V2 crop (its landmark policy); E_I is the network's pooled feature,
  E_T(emo) the mean E_I of the person's real training frames with that tag, and beta^_id (L_shape) its 40 shape
  parameters, compared with the dataset's beta_id (the median of 3DDFA_V2's per-frame shape).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ..analyser.samples import crop_box_pixels


def l_photo(rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_photo (eq. 15): mean squared error between rendered and true colours [..., 3]."""
    return ((rendered - target) ** 2).mean()


def nerf_loss(cfg, photo: torch.Tensor, *, patch_photo: torch.Tensor | None = None,
              cord: torch.Tensor | None = None, shape: torch.Tensor | None = None) -> torch.Tensor:
    """L (eq. 15-16): lambda_photo L_photo, plus, in the refinement stage, lambda_photo L_photo of the rendered face
    patch + lambda_cord L_cord + lambda_shape L_shape. ``cfg``: a NerfConfig (its lambda_* weights)."""
    loss = cfg.lambda_photo * photo                                  # eq. 15
    if patch_photo is not None:                                      # eq. 16, on one rendered face patch
        loss = loss + cfg.lambda_photo * patch_photo
    if cord is not None:
        loss = loss + cfg.lambda_cord * cord
    if shape is not None:
        loss = loss + cfg.lambda_shape * shape
    return loss


def psnr_from_mse(mse, *, cap_db: float = 100.0):
    """PSNR = -10 log10(MSE) in dB for colours in [0, 1], capped at ``cap_db`` (an exact frame has MSE 0).

    mse: a number or array [N] -> the same shape (numpy). The evaluator's per-frame PSNR
    (:func:`emohead.eval.metrics.psnr`, torchmetrics) computes the same number.
    """
    import numpy as np

    mse = np.asarray(mse, dtype=np.float64)
    return np.minimum(-10.0 * np.log10(np.maximum(mse, 10.0 ** (-cap_db / 10.0))), cap_db)


def l_shape(beta_pred: torch.Tensor, beta_true: torch.Tensor) -> torch.Tensor:
    """L_shape (eq. 16): ||beta_id - beta^_id||_2, the L2 norm per image [B, S] vs [S], averaged over B."""
    return (beta_pred - beta_true).norm(dim=-1).mean()


def l_cord(image_embedding: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
    """L_cord (eq. 16): -E_I(I_r)^T E_T(emo), both unit length [B, D], averaged over B."""
    return -(image_embedding * text_embedding).sum(dim=-1).mean()


def patch_pixels(image_size: int, box: tuple[float, float, float] | None, patch: int,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Flat pixel indices [P * P] of a P x P grid over the face crop (x0, y0, side fractions; None: the default)."""
    x0, y0, side = crop_box_pixels(image_size, box)
    centres = (torch.arange(patch, device=device, dtype=torch.float32) + 0.5) * side / patch - 0.5
    xs = (x0 + centres).round().long().clamp(0, image_size - 1)
    ys = (y0 + centres).round().long().clamp(0, image_size - 1)
    return (ys[:, None] * image_size + xs[None, :]).reshape(-1)


class AnalyserCoordination:
    """L_cord with the face analyser: E_I = analyser embedding of a patch, E_T = per-tag prototype embeddings."""

    def __init__(self, analyser, prototypes: torch.Tensor):
        self.analyser = analyser.eval().requires_grad_(False)
        self.prototypes = F.normalize(prototypes, dim=-1)                        # [E, D]

    @classmethod
    @torch.no_grad()
    def from_frames(cls, analyser, images: torch.Tensor, tags: torch.Tensor, n_emotions: int, *,
                    per_tag: int = 64, batch: int = 64) -> "AnalyserCoordination":
        """Prototypes from real frames uint8 [N, H, W, 3] with tags [N]: the mean embedding per tag.

        Tags without frames get the mean over all frames (their L_cord then only asks for "a face").
        """
        from ..analyser.samples import crop_frames

        dev = next(analyser.parameters()).device
        box = tuple(analyser.hparams["crop_box"])
        sums = torch.zeros(n_emotions, analyser.fc[1].out_features, device=dev)
        counts = torch.zeros(n_emotions, device=dev)
        picks = torch.cat([(tags == e).nonzero()[:per_tag, 0] for e in range(n_emotions)])
        for s in range(0, len(picks), batch):
            idx = picks[s:s + batch]
            img = images[idx.to(images.device)].to(dev).permute(0, 3, 1, 2).float() / 255.0
            h = F.normalize(analyser.eval().embed_crops(crop_frames(img, analyser.input_size, box)), dim=-1)
            sums.index_add_(0, tags[idx].to(dev), h)
            counts.index_add_(0, tags[idx].to(dev), torch.ones(len(idx), device=dev))
        mean_all = sums.sum(0) / counts.sum().clamp_min(1)
        protos = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], mean_all)
        return cls(analyser, protos)

    def analyse(self, patch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches [B, 3, P, P] in [0, 1] -> (E_I unit [B, D], beta_id estimate [B, S]) in one analyser pass."""
        size = self.analyser.input_size
        if patch.shape[-1] != size:
            patch = F.interpolate(patch, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        h = self.analyser.embed_crops(patch)
        return F.normalize(h, dim=-1), self.analyser.head_beta(h)

    def image_embedding(self, patch: torch.Tensor) -> torch.Tensor:
        return self.analyse(patch)[0]

    def text_embedding(self, tags: torch.Tensor) -> torch.Tensor:
        return self.prototypes[tags.to(self.prototypes.device)]


class ClipCoordination:
    """L_cord with CLIP (Sec. III-D): a transformers CLIPModel and its tokenizer from a local folder."""

    MEAN = (0.48145466, 0.4578275, 0.40821073)          # CLIP's image normalisation
    STD = (0.26862954, 0.26130258, 0.27577711)

    def __init__(self, path: str | Path, emotions: Sequence[str], *, prompt: str = "a photo of a {emotion} face",
                 device: torch.device | str = "cpu"):
        from transformers import AutoTokenizer, CLIPModel

        path = Path(path)
        if not str(path) or not (path / "config.json").is_file():
            raise FileNotFoundError(f"nerf.clip_path={str(path)!r}: expected a local folder holding a transformers "
                                    f"CLIPModel (config.json, weights) and its tokenizer; set nerf.clip_path or use "
                                    f"nerf.coord_backend=analyser")
        self.model = CLIPModel.from_pretrained(str(path)).to(device).eval().requires_grad_(False)
        tok = AutoTokenizer.from_pretrained(str(path))
        texts = [prompt.format(emotion=e) for e in emotions]
        enc = tok(texts, padding=True, return_tensors="pt").to(device)
        with torch.no_grad():
            self.text = F.normalize(_features(self.model.get_text_features(**enc)), dim=-1)   # [E, D]
        self.size = int(self.model.config.vision_config.image_size)
        self.mean = torch.tensor(self.MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(self.STD, device=device).view(1, 3, 1, 1)

    def image_embedding(self, patch: torch.Tensor) -> torch.Tensor:
        """Patches [B, 3, P, P] in [0, 1] -> unit CLIP image embeddings [B, D] (differentiable)."""
        x = F.interpolate(patch, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return F.normalize(_features(self.model.get_image_features(pixel_values=(x - self.mean) / self.std)), dim=-1)

    def text_embedding(self, tags: torch.Tensor) -> torch.Tensor:
        return self.text[tags.to(self.text.device)]


def _features(out) -> torch.Tensor:
    """get_*_features returns a tensor (transformers < 5) or an output object with pooler_output."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class TddfaCoordination:
    """L_cord and L_shape with 3DDFA_V2 (module docstring): one frame's patch is rendered over its own crop box."""

    def __init__(self, tddfa, rois: torch.Tensor, image_size: int, patch: int, prototypes: torch.Tensor):
        """tddfa: an :class:`emohead.tracking.tddfa.Tddfa`; rois [N, 4] (x0, y0, x1, y1) px of the N training frames;
        image_size: their side; patch: P; prototypes [E, D]: E_T per tag."""
        dev = prototypes.device
        self.net = tddfa.net.to(dev).eval().requires_grad_(False)
        self.mean = torch.as_tensor(tddfa.mean, dtype=torch.float32, device=dev)
        self.std = torch.as_tensor(tddfa.std, dtype=torch.float32, device=dev)
        self.rois, self.size, self.patch = rois.to(dev), int(image_size), int(patch)
        self.prototypes = F.normalize(prototypes, dim=-1)

    @classmethod
    @torch.no_grad()
    def from_frames(cls, tddfa, images: torch.Tensor, landmarks, tags: torch.Tensor, n_emotions: int, *,
                    patch: int, per_tag: int = 64, device: torch.device | str = "cpu") -> "TddfaCoordination":
        """From the real training frames uint8 [N, S, S, 3], their landmarks [N, 68, 2] (px) and tags [N]: each
        frame's crop box, and E_T(emo) = the mean E_I of up to ``per_tag`` frames of each tag (tags without frames
        get the mean over all)."""
        import numpy as np

        from ..tracking.tddfa import roi_box_from_landmarks

        rois = torch.as_tensor(np.stack([roi_box_from_landmarks(lm) for lm in np.asarray(landmarks)]),
                               dtype=torch.float32)
        self = cls(tddfa, rois, images.shape[1], patch, torch.zeros(n_emotions, 1, device=device))
        feats, seen = [], []
        for tag in range(n_emotions):
            idx = torch.nonzero(tags == tag).flatten()
            idx = idx[torch.linspace(0, len(idx) - 1, min(per_tag, len(idx))).round().long()] if len(idx) else idx
            for i in idx.tolist():
                pix = self.patch_pixels(i).to(images.device)
                real = images[i].reshape(-1, 3)[pix].to(device).float().div(255.0)
                feats.append(self.analyse(real.view(1, patch, patch, 3).permute(0, 3, 1, 2))[0])
                seen.append(tag)
        h = torch.cat(feats)
        tag_of = torch.as_tensor(seen, device=h.device)
        sums = torch.zeros(n_emotions, h.shape[1], device=h.device).index_add_(0, tag_of, h)
        counts = torch.zeros(n_emotions, device=h.device).index_add_(0, tag_of, torch.ones(len(h), device=h.device))
        protos = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], h.mean(0))
        self.prototypes = F.normalize(protos, dim=-1)
        return self

    def patch_pixels(self, frame: int) -> torch.Tensor:
        """Flat pixel indices [P * P] of a P x P grid over frame ``frame``'s crop box (clamped to the image)."""
        x0, y0, x1, y1 = self.rois[frame].tolist()
        centres = (torch.arange(self.patch, device=self.rois.device, dtype=torch.float32) + 0.5) / self.patch
        xs = (x0 + centres * (x1 - x0) - 0.5).round().long().clamp(0, self.size - 1)
        ys = (y0 + centres * (y1 - y0) - 0.5).round().long().clamp(0, self.size - 1)
        return (ys[:, None] * self.size + xs[None, :]).reshape(-1)

    def analyse(self, patch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches [B, 3, P, P] RGB in [0, 1] -> (E_I unit [B, D], beta^_id [B, 40]), differentiable: the network's
        input as 3DDFA_V2 makes it (120 x 120, BGR, (x - 127.5) / 128), its params un-standardised."""
        from ..tracking.tddfa import SIZE

        x = F.interpolate(patch, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)
        h = self.net.features((x.flip(1) * 255.0 - 127.5) / 128.0)
        params = self.net.fc_param(h) * self.std + self.mean
        return F.normalize(h, dim=-1), params[:, 12:52]

    def image_embedding(self, patch: torch.Tensor) -> torch.Tensor:
        return self.analyse(patch)[0]

    def text_embedding(self, tags: torch.Tensor) -> torch.Tensor:
        return self.prototypes[tags.to(self.prototypes.device)]
