"""render stage (Sec. III-C, III-D): the expression-conditioned head NeRF, its training, and talking-head video.

hashgrid (encoders) -> field (density(x, alpha), color(x, d, alpha, features)) -> rays / volume / march (eq. 11-12)
-> training (L_photo, then + L_cord + L_shape, eq. 15-16) -> model (HeadNerf: render a frame) -> compositing.
Audio + an emotion control -> frames -> mp4 is :mod:`emohead.pipeline`, one layer up.
"""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "compositing": ("composite_frame", "composite_frames_torch"),
    "field": ("ExpressionField", "FieldInputError", "direction_encoding", "render_rays"),
    "occupancy": ("OccupancyGrid",),
    "hashgrid": ("HashGridEncoder", "hashgrid_reference", "level_resolutions"),
    "rays": ("HeadRays", "PoseError", "check_pose", "head_rays", "ray_box", "sample_along_rays"),
    "volume": ("RenderedRays", "composite", "render_weights"),
    "frames": ("NerfFrames", "estimate_background", "head_box", "load_nerf_frames"),
    "march": ("march_rays",),
    "model": ("HeadNerf", "NerfModelError", "load_nerf", "save_nerf", "yaw_rotation"),
    "training": ("NerfTrainingError", "code_kind_for_variant", "evaluate_nerf", "is_trained", "train_nerf"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
