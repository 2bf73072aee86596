"""render stage (see DESIGN.md): hash-grid encoders, rays in the head frame, volume rendering (eq. 11-12).

The field (ExpressionField: density(x, alpha), color(x, d, alpha, features)), render_rays, the occupancy grid and
frame compositing exist; two-stage training with L_cord / L_shape and `emohead render` are not written yet (issue 7).
"""
from __future__ import annotations

from emohead.render.compositing import composite_frame
from emohead.render.field import ExpressionField, FieldInputError, direction_encoding, render_rays
from emohead.render.occupancy import OccupancyGrid
from emohead.render.hashgrid import HashGridEncoder, hashgrid_reference, level_resolutions
from emohead.render.rays import HeadRays, PoseError, check_pose, head_rays, ray_box, sample_along_rays
from emohead.render.volume import RenderedRays, composite, render_weights

__all__ = ["composite_frame", "ExpressionField", "FieldInputError", "direction_encoding", "render_rays", "OccupancyGrid", "HashGridEncoder", "hashgrid_reference", "level_resolutions", "HeadRays", "PoseError", "check_pose",
           "head_rays", "ray_box", "sample_along_rays", "RenderedRays", "composite", "render_weights"]
