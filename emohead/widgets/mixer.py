"""The emotion mixer: an ipywidgets control of EmoHead's emotion while the person talks (Table III, App. B).

The audio-expression module is run once on the clip's audio (alpha~ [T, m] and tau [T] do not depend on the tag);
every control then only changes which normal (and anchor) refines alpha~ at each frame (eq. 9, anchored):

    alpha^_i = mu_i + alpha~_i + (s tau_i) w_i,
    w_i = (1 - lambda) w_A + lambda w_B                   (blend, App. B (2); mu_i likewise)
    w_i = w_A before t_s, a ramp to w_B after it            (switch while talking, App. B (3); mu_i likewise)

with s the intensity slider (``tau_scale``), which also moves mu_i s of the way from the neutral anchor (s = 0: the
neutral face; a model trained with ``tag_anchor=False`` has no mu). A slider move re-renders one frame (the one under the time slider) with
the chosen renderer (:mod:`emohead.widgets.preview`); the export button renders the whole clip and writes an mp4
with the clip's audio. Everything the widgets do is also a method (``set``, ``frame_image``, ``strip``, ``export``,
``measure_latency``), so notebooks run under Papermill and tests drive it without a browser.
"""
from __future__ import annotations

import dataclasses
import io
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..pipeline import DrivingTrack, EmotionControl, expression_codes, save_video

log = logging.getLogger(__name__)

IMAGE_CLASS = "emohead-mixer-image"   # CSS classes: the browser test finds the widgets by them
STATUS_CLASS = "emohead-mixer-status"
SLIDER_CLASSES = {"blend": "emohead-blend", "tau": "emohead-tau", "time": "emohead-time",
                  "switch_at": "emohead-switch-at", "yaw": "emohead-yaw"}


@dataclass(frozen=True)
class MixerSettings:
    """The state of the mixer's controls (seconds, degrees)."""

    emotion_a: str
    emotion_b: str
    blend: float = 0.0           # lambda of the blend (ignored while ``switch`` is on)
    tau_scale: float = 1.0       # s: scales the predicted refinement weight tau (emotion intensity)
    time: float = 0.0            # the frame shown, in seconds
    switch: bool = False         # switch A -> B while talking instead of blending
    switch_at: float = 0.0       # t_s of the switch, seconds
    ramp: float = 0.5            # seconds of the linear ramp after t_s
    yaw: float = 0.0             # view: head turned about its vertical axis, degrees

    def replace(self, **changes: Any) -> "MixerSettings":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def control(self) -> EmotionControl:
        """The per-frame emotion control these settings mean."""
        if self.switch:
            return EmotionControl(self.emotion_a, to=self.emotion_b, switch_at=float(self.switch_at),
                                  ramp=float(self.ramp), tau_scale=float(self.tau_scale))
        return EmotionControl(self.emotion_a, to=self.emotion_b, weight=float(self.blend),
                              tau_scale=float(self.tau_scale))


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 [H, W, 3] -> PNG file bytes (Pillow, which matplotlib already requires)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """float mono audio [N] -> 16-bit WAV file bytes (for the audio player)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, np.float32), int(sample_rate), format="WAV", subtype="PCM_16")
    return buf.getvalue()


class EmotionMixer:
    """Emotion A / B selectors, blend, intensity, time + play, switch-at-t, view yaw and mp4 export for one clip.

    a2e: trained audio-expression model; prediction: ``predict(a2e, features)`` of the clip (alpha~ [T, m], tau [T]);
    track: driving track (poses, torso layer) at the preview's size, fitted to T frames; preview: a renderer from
    :mod:`emohead.widgets.preview`; audio [N] at ``sample_rate`` (muxed into the export, played by the player).
    Display the mixer in Jupyter by making it a cell's last expression (or ``display(mixer.widget)``).
    ``continuous_update``: re-render while a slider is dragged (default: when the preview is interactive, i.e. the
    mesh, or a NeRF on a GPU); otherwise on release.
    """

    def __init__(self, a2e: Any, prediction: Any, track: DrivingTrack, preview: Any, *, fps: float,
                 audio: np.ndarray | None = None, sample_rate: int = 16000, emotion_a: str | None = None,
                 emotion_b: str | None = None, export_path: str | Path = "emotion_mix.mp4", max_tau: float = 3.0,
                 max_yaw: float = 30.0, ramp: float = 0.5, title: str = "", continuous_update: bool | None = None):
        import ipywidgets as W

        emotions = list(a2e.emotions)
        emotion_a = emotion_a or ("neutral" if "neutral" in emotions else emotions[0])
        emotion_b = emotion_b or ("happy" if "happy" in emotions else emotions[-1])
        for name in (emotion_a, emotion_b):
            if name not in emotions:
                raise KeyError(f"unknown emotion {name!r}; the audio-expression model knows {emotions}")
        self.a2e, self.prediction, self.preview = a2e, prediction, preview
        self.fps, self.audio, self.sample_rate, self.ramp = float(fps), audio, int(sample_rate), float(ramp)
        self.n_frames = int(len(prediction.tau))
        if self.n_frames < 1:
            raise ValueError("the clip has no frames")
        self.track = track.fit(self.n_frames)
        self.duration = (self.n_frames - 1) / self.fps
        self.latencies_ms: list[float] = []     # one entry per displayed update
        self.image_array: np.ndarray | None = None
        self._codes: dict[tuple, np.ndarray] = {}
        self._hold = 0

        step = 1.0 / self.fps
        # renders while a slider is dragged when a frame is fast (mesh, or NeRF on a GPU), else on release
        live = getattr(preview, "interactive", True) if continuous_update is None else bool(continuous_update)
        slider = {"continuous_update": live, "readout_format": ".2f", "style": {"description_width": "110px"},
                  "layout": W.Layout(width="360px")}
        self.emotion_a = W.Dropdown(options=emotions, value=emotion_a, description="emotion A",
                                    style={"description_width": "110px"})
        self.emotion_b = W.Dropdown(options=emotions, value=emotion_b, description="emotion B",
                                    style={"description_width": "110px"})
        self.blend = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="blend A→B λ", **slider)
        self.tau = W.FloatSlider(value=1.0, min=0.0, max=float(max_tau), step=0.1, description="intensity τ ×",
                                 **slider)
        self.yaw = W.FloatSlider(value=0.0, min=-float(max_yaw), max=float(max_yaw), step=1.0,
                                 description="view yaw (°)", **{**slider, "readout_format": ".0f"})
        self.time = W.FloatSlider(value=0.0, min=0.0, max=max(self.duration, step), step=step,
                                  description="time (s)", **slider)
        self.play = W.Play(value=0, min=0, max=max(self.n_frames - 1, 1), step=1, interval=int(round(1000 / self.fps)),
                           description="play")
        self.switch = W.Checkbox(value=False, description="switch to B at time t", indent=False)
        self.switch_at = W.FloatSlider(value=round(self.duration / 2, 2), min=0.0, max=max(self.duration, step),
                                       step=step, description="t (s)", **slider)
        self.switch_here = W.Button(description="t = current time", layout=W.Layout(width="140px"))
        self.export_path = W.Text(value=str(export_path), description="export to",
                                  style={"description_width": "110px"}, layout=W.Layout(width="360px"))
        self.export_button = W.Button(description="export mp4", button_style="primary", icon="film")
        self.status = W.HTML()
        self.status.add_class(STATUS_CLASS)
        display_px = max(256, preview.image_size)
        self.image = W.Image(format="png", layout=W.Layout(width=f"{display_px}px", height=f"{display_px}px"))
        self.image.add_class(IMAGE_CLASS)
        for name, css in SLIDER_CLASSES.items():
            getattr(self, name).add_class(css)
        player = []
        if audio is not None:
            self.player = W.Audio(value=wav_bytes(audio, sample_rate), format="wav", autoplay=False, loop=False,
                                  layout=W.Layout(width="360px"))
            player = [self.player]

        controls = W.VBox([self.emotion_a, self.emotion_b, self.blend, self.tau, self.yaw,
                           W.HBox([self.switch, self.switch_here]), self.switch_at])
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        self.widget = W.VBox(header + [
            W.HBox([self.image, controls]),
            W.HBox([self.play, self.time]),
            *player,
            W.HBox([self.export_path, self.export_button]),
            self.status])

        for w in (self.emotion_a, self.emotion_b, self.blend, self.tau, self.yaw, self.time, self.switch,
                  self.switch_at):
            w.observe(self._on_change, names="value")
        self.play.observe(self._on_play, names="value")
        self.switch_here.on_click(lambda _: setattr(self.switch_at, "value", self.time.value))
        self.export_button.on_click(self._on_export)
        self.blend.disabled = self.switch.value
        self.update()

    # ------------------------------------------------------------ construction from a dataset clip
    @classmethod
    def from_clip(cls, a2e: Any, ds: Any, store: Any, clip_id: str, preview: Any, **kwargs: Any) -> "EmotionMixer":
        """A mixer over one clip of a processed dataset: its features, audio and (as driving track) its poses."""
        from ..audio2exp.inference import predict
        from ..pipeline import driving_track

        pred = predict(a2e, store.get(clip_id))
        track = driving_track(ds, clip_id, preview.image_size)
        kwargs.setdefault("title", f"{clip_id} · renderer: {preview.name}, {preview.image_size} px")
        return cls(a2e, pred, track, preview, fps=ds.fps, audio=ds.audio(clip_id), sample_rate=ds.sample_rate,
                   **kwargs)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------ state
    @property
    def settings(self) -> MixerSettings:
        return MixerSettings(self.emotion_a.value, self.emotion_b.value, float(self.blend.value),
                             float(self.tau.value), float(self.time.value), bool(self.switch.value),
                             float(self.switch_at.value), self.ramp, float(self.yaw.value))

    @property
    def frame_index(self) -> int:
        """The frame under the time slider."""
        return int(np.clip(round(self.time.value * self.fps), 0, self.n_frames - 1))

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Change several controls with one update at the end."""
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1
            if not self._hold:
                self.update()

    def set(self, **values: Any) -> "EmotionMixer":
        """Set controls by name (emotion_a, emotion_b, blend, tau, time, switch, switch_at, yaw) and update once."""
        unknown = set(values) - {"emotion_a", "emotion_b", "blend", "tau", "time", "switch", "switch_at", "yaw"}
        if unknown:
            raise KeyError(f"unknown mixer control(s) {sorted(unknown)}")
        with self.hold():
            for name, value in values.items():
                getattr(self, name).value = value
        return self

    def codes(self, settings: MixerSettings | None = None) -> np.ndarray:
        """The renderer's codes [T, k] for the settings (eq. 9 with the per-frame normal), cached per control."""
        s = settings or self.settings
        key = (s.emotion_a, s.emotion_b, s.blend, s.tau_scale, s.switch, s.switch_at if s.switch else None, s.ramp)
        if key not in self._codes:
            if len(self._codes) > 64:
                self._codes.clear()
            self._codes[key] = expression_codes(self.a2e, self.prediction, s.control(), self.fps)
        return self._codes[key]

    # ------------------------------------------------------------ rendering
    def render_frames(self, indices: Sequence[int], codes: np.ndarray, yaw: Sequence[float] | float = 0.0) -> np.ndarray:
        """uint8 [B, H, W, 3]: frames ``indices`` of the driving track with codes [B, k]."""
        idx = np.asarray(indices, dtype=int)
        tr = self.track
        return self.preview.render(codes, tr.R[idx], tr.t[idx], yaw=yaw, frames=tr.frames[idx],
                                   parsing=tr.parsing[idx])

    def frame_image(self, settings: MixerSettings | None = None) -> np.ndarray:
        """The frame the settings show: uint8 [H, W, 3]."""
        s = settings or self.settings
        i = int(np.clip(round(s.time * self.fps), 0, self.n_frames - 1))
        return self.render_frames([i], self.codes(s)[i:i + 1], s.yaw)[0]

    def update(self) -> float:
        """Re-render the shown frame and put it in the image widget; returns the latency in ms."""
        if self._hold:
            return 0.0
        t0 = time.perf_counter()
        s = self.settings
        self.image_array = self.frame_image(s)
        self.image.value = png_bytes(self.image_array)
        ms = (time.perf_counter() - t0) * 1000.0
        self.latencies_ms.append(ms)
        del self.latencies_ms[:-1000]
        i = self.frame_index
        self.status.value = (f"frame {i + 1}/{self.n_frames} ({i / self.fps:.2f} s) · {s.control().label()} · "
                             f"τ × {s.tau_scale:.1f} · yaw {s.yaw:+.0f}° · {self.preview.name} renderer, "
                             f"{ms:.0f} ms")
        return ms

    def _on_change(self, change: dict) -> None:
        if change["owner"] is self.switch:
            self.blend.disabled = bool(change["new"])
        if change["owner"] is self.time:
            self.play.value = self.frame_index
        self.update()

    def _on_play(self, change: dict) -> None:
        frame = int(np.clip(change["new"], 0, self.n_frames - 1))
        if frame != self.frame_index:
            self.time.value = frame / self.fps

    # ------------------------------------------------------------ non-interactive outputs
    def strip(self, weights: Sequence[float], *, frame: int | None = None) -> np.ndarray:
        """The shown frame (or ``frame``) at blend weights lambda_k, A -> B: uint8 [K, H, W, 3] (App. B (2);
        the switch is ignored)."""
        s = self.settings
        i = self.frame_index if frame is None else int(frame)
        codes = np.stack([self.codes(s.replace(blend=float(w), switch=False))[i] for w in weights])
        return self.render_frames(np.full(len(codes), i), codes, s.yaw)

    def clip_frames(self, settings: MixerSettings | None = None, *, batch: int = 16) -> np.ndarray:
        """All T frames under the settings (fixed view): uint8 [T, H, W, 3]."""
        s = settings or self.settings
        codes = self.codes(s)
        out = [self.render_frames(np.arange(a, min(a + batch, self.n_frames)), codes[a:a + batch], s.yaw)
               for a in range(0, self.n_frames, batch)]
        return np.concatenate(out)

    def export(self, path: str | Path | None = None, settings: MixerSettings | None = None) -> Path:
        """Render the whole clip under the settings and write an mp4 (H.264) with the clip's audio; returns the path."""
        path = Path(path or self.export_path.value)
        s = settings or self.settings
        t0 = time.perf_counter()
        frames = self.clip_frames(s)
        out = save_video(path, frames, self.fps, self.audio, self.sample_rate)
        log.info("exported %s (%d frames, %s) in %.1f s", out, len(frames), s.control().label(),
                 time.perf_counter() - t0)
        return out

    def _on_export(self, _button: Any) -> None:
        self.export_button.disabled = True
        self.status.value = "exporting ..."
        try:
            path = self.export()
            self.status.value = f"wrote <code>{path}</code> ({self.n_frames} frames with audio)"
        except Exception as err:  # shown in the widget, not swallowed silently
            log.exception("export failed")
            self.status.value = f"<span style='color:#b00'>export failed: {err}</span>"
        finally:
            self.export_button.disabled = False

    def measure_latency(self, n: int = 30, control: str = "blend") -> dict[str, float]:
        """Median / 90th-percentile ms of ``n`` updates caused by moving one slider across its range.

        Counts what a user waits for: codes for the new setting (eq. 9), one rendered frame, PNG encoding.
        """
        slider = getattr(self, control)
        lo, hi, step = float(slider.min), float(slider.max), float(slider.step)
        grid = lo + step * np.arange(int(round((hi - lo) / step)) + 1)            # values on the slider's steps
        bounce = np.concatenate([np.arange(len(grid)), np.arange(len(grid) - 2, 0, -1)])   # 0 .. N .. 1, repeated
        start, before = len(self.latencies_ms), slider.value
        k = 0
        while len(self.latencies_ms) - start < n and k < 4 * n + 4:
            value = float(grid[bounce[k % len(bounce)]])
            k += 1
            if value != slider.value:                                           # each set is a real move
                slider.value = value
        slider.value = before
        ms = np.asarray(self.latencies_ms[start:start + n], np.float64)
        return {"updates": int(len(ms)), "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
                "max_ms": float(ms.max()), "image_size": int(self.preview.image_size), "renderer": self.preview.name}
