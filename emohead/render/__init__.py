"""render stage (Sec. III-C, III-D): the expression-conditioned head NeRF, its training, and talking-head video.

hashgrid (encoders) -> field (density(x, alpha), color(x, d, alpha, features)) -> rays / volume / march (eq. 11-12)
-> training (L_photo, then + L_cord + L_shape, eq. 15-16) -> model (HeadNerf: render a frame) -> compositing ->
video (audio + emotion control -> mp4 with sound).
"""
from __future__ import annotations

from emohead.render.compositing import composite_frame
from emohead.render.field import ExpressionField, FieldInputError, direction_encoding, render_rays
from emohead.render.occupancy import OccupancyGrid
from emohead.render.hashgrid import HashGridEncoder, hashgrid_reference, level_resolutions
from emohead.render.rays import HeadRays, PoseError, check_pose, head_rays, ray_box, sample_along_rays
from emohead.render.volume import RenderedRays, composite, render_weights
from emohead.render.frames import NerfFrames, estimate_background, head_box, load_nerf_frames
from emohead.render.march import march_rays
from emohead.render.model import HeadNerf, NerfModelError, load_nerf, save_nerf, yaw_rotation
from emohead.render.training import NerfTrainingError, code_kind_for_variant, evaluate_nerf, train_nerf
from emohead.render.video import (DrivingTrack, EmotionControl, driving_track, expression_codes, render_talking_head,
                                  save_video, view_sweep)

__all__ = ["composite_frame", "ExpressionField", "FieldInputError", "direction_encoding", "render_rays", "OccupancyGrid", "HashGridEncoder", "hashgrid_reference", "level_resolutions", "HeadRays", "PoseError", "check_pose",
           "head_rays", "ray_box", "sample_along_rays", "RenderedRays", "composite", "render_weights",
           "NerfFrames", "estimate_background", "head_box", "load_nerf_frames", "march_rays", "HeadNerf",
           "NerfModelError", "load_nerf", "save_nerf", "yaw_rotation", "NerfTrainingError", "code_kind_for_variant",
           "evaluate_nerf", "train_nerf", "DrivingTrack", "EmotionControl", "driving_track", "expression_codes",
           "render_talking_head", "save_video", "view_sweep"]
