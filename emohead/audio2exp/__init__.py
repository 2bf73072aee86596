"""The audio-expression module (Sec. III-A, III-D): features -> alpha~, tau -> alpha^ = mu_z + alpha~ + tau w_z.

Main entry points::

    model, history = train_audio2exp(ds, store, planes, profile.audio2exp, out_dir, seed=0)
    pred = predict(model, store.get(clip_id))                 # alpha~ [T, m], tau [T]
    alpha_hat = pred.refined(*model.refinement("happy"))     # eq. 9 with the model's (w_z, mu_z), any tag
"""
from emohead._lazy import lazy_exports

_EXPORTS = {
    "baselines": ("emotion_mean_rmse", "mean_expression_rmse"),
    "data": ("A2EDataError", "FeatureInfo", "Track", "WindowBatch", "WindowSampler", "load_tracks",
        "silence_features"),
    "inference": ("Prediction", "crossfade_weights", "predict", "window_starts"),
    "losses": ("l_reg", "l_reg_const", "rmse"),
    "model": ("A2EOutput", "Audio2Expression", "ConcatSelfAttention", "FusedAttn", "feed_forward",
        "neighbour_fusion"),
    "pairing": ("warp_track",),
    "training": ("A2ETrainingError", "TrainStep", "build_model", "check_store", "evaluate", "load_audio2exp",
        "is_trained", "save_audio2exp", "train_audio2exp", "train_many", "training_job"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
