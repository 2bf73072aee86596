"""Real face tracking: the pretrained face models of the real-data path (issue 19, "Real faces").

MediaPipe's BlazeFace detector, 468-point face mesh and selfie segmentation (``.tflite``, run with
``ai_edge_litert``) and the 3DDFA_V2 regressor (MobileNet-V1, ``.pth`` read weights-only) -- the paper's own
3DMM expression estimator. The model files are not shipped; :mod:`.models` finds them.

Main entry points (imported lazily: ``import emohead.tracking`` loads neither torch nor LiteRT)::

    from emohead.tracking import FaceTracker
    track = FaceTracker().track(frames_rgb_uint8)        # FaceTrack: boxes, found, mesh, landmarks, mar,
                                                         # pose_R/t, scale, alpha [T,10], beta [T,40], person
    mask = head_mask(track.mesh[0], H, W)                # filled face hull, bool [H, W]

Coordinates: image pixels, x right, y down, the centre of pixel (row i, column j) at (j, i) -- the convention
of :mod:`emohead.face.camera`.
"""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "models": ("ModelsMissingError", "find_model_dir", "model_path"),
    "litert": ("LiteModel",),
    "crops": ("Rect", "sample_rect"),
    "detector": ("Detections", "FaceDetector"),
    "mesh": ("FaceMesh", "MeshResult", "rect_from_detection", "rect_from_mesh"),
    "landmarks68": ("MESH_TO_68", "landmarks68_from_mesh", "mouth_aspect_ratio"),
    "segmentation": ("PersonSegmenter",),
    "tddfa_net": ("TddfaNet", "WeightsError", "load_tddfa_net"),
    "tddfa": ("Tddfa", "TddfaResult", "euler_from_rotation", "roi_box_from_bbox", "roi_box_from_landmarks"),
    "smoothing": ("interpolate_missing", "moving_average", "smooth_boxes"),
    "tracker": ("FaceTrack", "FaceTracker", "NoFaceError", "head_mask"),
    "crosscheck": ("expression_r2", "tddfa_alpha_of_clips"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
