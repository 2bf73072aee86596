"""render stage (see DESIGN.md): hash-grid encoders, rays in the head frame, volume rendering (eq. 11-12).

The expression-conditioned field, its training and compositing are not written yet (issue 7).
"""
from __future__ import annotations

from emohead.render.hashgrid import HashGridEncoder, hashgrid_reference, level_resolutions
from emohead.render.rays import HeadRays, PoseError, check_pose, head_rays, ray_box, sample_along_rays
from emohead.render.volume import RenderedRays, composite, render_weights

__all__ = ["HashGridEncoder", "hashgrid_reference", "level_resolutions", "HeadRays", "PoseError", "check_pose",
           "head_rays", "ray_box", "sample_along_rays", "RenderedRays", "composite", "render_weights"]
