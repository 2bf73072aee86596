"""The morphable face model: mean shape, identity and expression bases, topology, labels.

A vertex set is ``v = mean + shape_basis @ beta + expression_basis @ alpha`` ([N, 3]), the 3DDFA
form (beta: [S] identity, alpha: [10] expression). When the model carries a FACS action-unit library
(the procedural model does; BFM files do not), ``expression_basis == au_basis @ expression_to_au``,
so an alpha is also a point in AU space (:meth:`MorphableModel.au_from_alpha`) and an AU activation
has a closest alpha (:meth:`MorphableModel.alpha_from_au`, least squares in vertex space).

Model coordinates: y up, +z out of the face toward the viewer, head centred near the origin,
inside [-1.2, 1.2]^3; triangles are counter-clockwise seen from outside.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

PARSING_LABELS: dict[str, int] = {
    "background": 0, "torso": 1, "skin": 2, "brows": 3, "eyes": 4, "lips": 5, "mouth": 6, "hair": 7,
}
"""Parsing-mask label ids (per vertex, per triangle, per pixel)."""

FACE_LABELS: tuple[int, ...] = tuple(PARSING_LABELS[k] for k in ("skin", "brows", "eyes", "lips", "mouth"))
"""Labels that belong to the face proper (not hair, torso or background)."""

N_EXPRESSION = 10
N_LANDMARKS = 68


@dataclass(frozen=True, eq=False)
class MorphableModel:
    """A 3DMM with N vertices, F triangles, S identity dims, 10 expression dims, K action units.

    All arrays are numpy (float32 unless noted) and read-only.
    vertex_materials ([N] uint8, optional) refines labels for recolouring (see ``appearance``).
    """

    mean: np.ndarray                 # [N, 3]
    shape_basis: np.ndarray          # [N, 3, S]
    expression_basis: np.ndarray     # [N, 3, 10]
    triangles: np.ndarray            # [F, 3] int64
    colors: np.ndarray               # [N, 3] in [0, 1]
    landmark_ids: np.ndarray         # [68] int64
    vertex_labels: np.ndarray        # [N] uint8
    triangle_labels: np.ndarray      # [F] uint8
    au_names: tuple[str, ...] = ()
    au_basis: np.ndarray | None = None          # [N, 3, K]
    expression_to_au: np.ndarray | None = None  # [K, 10]
    vertex_materials: np.ndarray | None = None  # [N] uint8
    name: str = "model"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.mean.shape[0]
        if self.mean.shape != (n, 3):
            raise ValueError(f"mean must be [N, 3], got {self.mean.shape}")
        for nm, arr in (("shape_basis", self.shape_basis), ("expression_basis", self.expression_basis)):
            if arr.ndim != 3 or arr.shape[:2] != (n, 3):
                raise ValueError(f"{nm} must be [N={n}, 3, D], got {arr.shape}")
        if self.expression_basis.shape[2] != N_EXPRESSION:
            raise ValueError(f"expression_basis must have {N_EXPRESSION} columns, got {self.expression_basis.shape}")
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3:
            raise ValueError(f"triangles must be [F, 3], got {self.triangles.shape}")
        if self.triangles.size and (self.triangles.min() < 0 or self.triangles.max() >= n):
            raise ValueError(f"triangles index outside [0, {n})")
        if self.landmark_ids.shape != (N_LANDMARKS,):
            raise ValueError(f"landmark_ids must be [68], got {self.landmark_ids.shape}")
        if self.landmark_ids.min() < 0 or self.landmark_ids.max() >= n:
            raise ValueError(f"landmark_ids outside [0, {n})")
        if self.au_basis is not None:
            k = len(self.au_names)
            if self.au_basis.shape != (n, 3, k):
                raise ValueError(f"au_basis must be [N, 3, K={k}], got {self.au_basis.shape}")
            if self.expression_to_au is None or self.expression_to_au.shape != (k, N_EXPRESSION):
                raise ValueError(f"expression_to_au must be [K={k}, 10] when au_basis is given")
        for arr in (self.mean, self.shape_basis, self.expression_basis, self.triangles, self.colors,
                    self.landmark_ids, self.vertex_labels, self.triangle_labels, self.au_basis,
                    self.expression_to_au, self.vertex_materials):
            if isinstance(arr, np.ndarray):
                arr.flags.writeable = False

    # ------------------------------------------------------------------ sizes
    @property
    def n_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_triangles(self) -> int:
        return int(self.triangles.shape[0])

    @property
    def n_shape(self) -> int:
        return int(self.shape_basis.shape[2])

    @property
    def n_au(self) -> int:
        return len(self.au_names)

    # ------------------------------------------------------------------ geometry
    def torch_arrays(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """The model's arrays as torch tensors on ``device`` (cached per device and dtype)."""
        key = (str(torch.device(device)), dtype)
        if key not in self._cache:
            def t(a: np.ndarray) -> torch.Tensor:
                return torch.as_tensor(np.array(a), device=device, dtype=dtype)
            self._cache[key] = {
                "mean": t(self.mean), "shape_basis": t(self.shape_basis),
                "expression_basis": t(self.expression_basis), "colors": t(self.colors),
                "triangles": torch.as_tensor(np.array(self.triangles), device=device, dtype=torch.int64),
                "landmark_ids": torch.as_tensor(np.array(self.landmark_ids), device=device, dtype=torch.int64),
                "triangle_labels": torch.as_tensor(np.array(self.triangle_labels), device=device, dtype=torch.uint8),
            }
        return self._cache[key]

    def vertices(self, alpha: Any, beta: Any = None) -> Any:
        """Vertex positions ``mean + shape_basis beta + expression_basis alpha``.

        alpha: [..., 10]; beta: [..., S] or None (mean identity) -> [..., N, 3].
        numpy in -> numpy out (float32); torch in -> torch out on alpha's device.
        """
        if isinstance(alpha, torch.Tensor) or isinstance(beta, torch.Tensor):
            ref = alpha if isinstance(alpha, torch.Tensor) else beta
            dtype = ref.dtype if ref.is_floating_point() else torch.float32
            arrs = self.torch_arrays(ref.device, dtype)
            alpha_t = torch.as_tensor(alpha, device=ref.device, dtype=dtype)
            self._check_last(alpha_t.shape, N_EXPRESSION, "alpha")
            v = arrs["mean"] + torch.einsum("nck,...k->...nc", arrs["expression_basis"], alpha_t)
            if beta is not None:
                beta_t = torch.as_tensor(beta, device=ref.device, dtype=dtype)
                self._check_last(beta_t.shape, self.n_shape, "beta")
                v = v + torch.einsum("nck,...k->...nc", arrs["shape_basis"], beta_t)
            return v
        alpha_n = np.asarray(alpha, dtype=np.float32)
        self._check_last(alpha_n.shape, N_EXPRESSION, "alpha")
        v = self.mean + np.einsum("nck,...k->...nc", self.expression_basis, alpha_n)
        if beta is not None:
            beta_n = np.asarray(beta, dtype=np.float32)
            self._check_last(beta_n.shape, self.n_shape, "beta")
            v = v + np.einsum("nck,...k->...nc", self.shape_basis, beta_n)
        return v.astype(np.float32)

    @staticmethod
    def _check_last(shape: tuple, n: int, name: str) -> None:
        if len(shape) == 0 or shape[-1] != n:
            raise ValueError(f"{name} must have last dimension {n}, got shape {tuple(shape)}")

    # ------------------------------------------------------------------ AU <-> alpha
    def _require_aus(self) -> None:
        if self.au_basis is None or self.expression_to_au is None:
            raise ValueError(f"model {self.name!r} has no action-unit library (au_basis is None)")

    def _alpha_from_au_matrix(self) -> np.ndarray:
        """[10, K] = (X^T G X)^-1 X^T G with G = B^T B, X = expression_to_au (float64)."""
        if "alpha_from_au" not in self._cache:
            b = self.au_basis.reshape(-1, self.n_au).astype(np.float64)
            g = b.T @ b                                            # [K, K] metric of AU space
            x = self.expression_to_au.astype(np.float64)           # [K, 10]
            self._cache["alpha_from_au"] = np.linalg.solve(x.T @ g @ x, x.T @ g)
        return self._cache["alpha_from_au"]

    def alpha_from_au(self, au: Any) -> Any:
        """[..., K] AU intensities -> [..., 10]: argmin_alpha ||B au - E alpha||^2 over vertices.

        E = expression_basis; this is the expression a perfect 3DMM fit of the AU face returns.
        """
        self._require_aus()
        m = self._alpha_from_au_matrix()
        if isinstance(au, torch.Tensor):
            self._check_last(au.shape, self.n_au, "au")
            mt = torch.as_tensor(m, device=au.device, dtype=au.dtype if au.is_floating_point() else torch.float32)
            return au.to(mt.dtype) @ mt.T
        au_n = np.asarray(au, dtype=np.float64)
        self._check_last(au_n.shape, self.n_au, "au")
        return (au_n @ m.T).astype(np.float32)

    def au_from_alpha(self, alpha: Any) -> Any:
        """[..., 10] -> [..., K]: ``expression_to_au @ alpha`` (the AU mix that alpha's face is)."""
        self._require_aus()
        x = self.expression_to_au
        if isinstance(alpha, torch.Tensor):
            self._check_last(alpha.shape, N_EXPRESSION, "alpha")
            xt = torch.as_tensor(np.array(x), device=alpha.device, dtype=alpha.dtype)
            return alpha @ xt.T
        a = np.asarray(alpha, dtype=np.float32)
        self._check_last(a.shape, N_EXPRESSION, "alpha")
        return (a @ x.T).astype(np.float32)

    def au_vertices(self, au: Any, beta: Any = None) -> np.ndarray:
        """Exact AU face (not projected to 10 dims): [..., K] -> [..., N, 3] (numpy)."""
        self._require_aus()
        au_n = np.asarray(au, dtype=np.float32)
        self._check_last(au_n.shape, self.n_au, "au")
        v = self.mean + np.einsum("nck,...k->...nc", self.au_basis, au_n)
        if beta is not None:
            v = v + np.einsum("nck,...k->...nc", self.shape_basis, np.asarray(beta, dtype=np.float32))
        return v.astype(np.float32)
