"""Sampling frames at chosen presentation times, decoded already resized (memory stays bounded).

decord seeks sparse samples fastest; PyAV is the fallback and decodes straight through, because its
seeking collapses on long GOPs. Sampling a whole video at about a frame a second, PyAV decoding only the
frames other frames are predicted from (`reference_only`) beats both: the frames nothing refers to (most
B-frames) are skipped by the decoder, a third to a half of the decoding work, and a sample is then the
last reference frame at or before its time (a few frames early at most). Times everywhere are seconds
from the media's start time."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import av
import numpy as np

from vidsearch.errors import DecodeError
from vidsearch.media.probe import MediaInfo
from vidsearch.media.windows import Window

log = logging.getLogger(__name__)

_DECORD_BATCH = 16  # frames decoded per get_batch call: bounds memory on long windows
# decord seeks through the container's index; in formats without one (MPEG-TS, PS, AVI, FLV) it lands
# on the wrong frames, so "auto" uses it only for these (PyAV's names) and decodes the rest straight through.
DECORD_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
# How far past the last decodable frame a sample may fall before the file counts as truncated: audio
# often runs a little past the last video frame in intact files.
_END_TOLERANCE = 2.0
# How far before its own declared end a video stream's last decoded frame may lie (at least 8 frames).
_STREAM_END_TOLERANCE = 0.5


@dataclass(frozen=True)
class SampledFrame:
    time: float  # presentation time of the decoded frame, seconds from the media start
    image: np.ndarray  # H x W x 3, uint8, RGB


@dataclass(frozen=True)
class Sampling:
    """One consumer's share of a decoding pass: the times it wants (in order) at the size it wants."""

    times: Sequence[float]
    max_side: int


def sample_grid(duration: float, fps: float) -> list[float]:
    """Sample times at `fps` over the whole video, each in the middle of its interval."""
    count = max(1, math.floor(duration * fps))
    return [round((i + 0.5) / fps, 6) for i in range(count)]


def iter_window_frames(
    frames: Iterable[SampledFrame], windows: Sequence[Window]
) -> Iterator[tuple[Window, list[SampledFrame]]]:
    """Each window with its frames, yielded as soon as a frame past its end arrives: only the frames
    of windows still open are held, so memory stays bounded however long the video is.
    Frames must come in time order; a frame belongs to every window containing it."""
    pending = list(windows)
    buckets: dict[int, list[SampledFrame]] = {w.index: [] for w in windows}
    for frame in frames:
        while pending and pending[0].end <= frame.time:
            done = pending.pop(0)
            yield done, buckets.pop(done.index)
        for window in pending:
            if window.start > frame.time:
                break
            if window.contains(frame.time):
                buckets[window.index].append(frame)
    for window in pending:
        yield window, buckets.pop(window.index)


def scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Fit inside max_side keeping the aspect ratio, never upscaling; even sizes for the scalers."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


# Told of every frame the decoder makes, as (time, the frame: PyAV's decoded frame, or an RGB array from a
# decoder that gives no other): the shot detector (shots.ShotDetector.see_frame).
FrameWatch = Callable[[float, "av.VideoFrame | np.ndarray"], None]


class FrameSource(Protocol):
    def iter_frames(self, times: Sequence[float], watch: FrameWatch | None = None) -> Iterator[SampledFrame]:
        """The frames on screen at `times`; `watch` is told of every frame decoded on the way (a source
        that seeks decodes only the frames asked for)."""
        ...

    def iter_samplings(
        self, samplings: Sequence[Sampling], watch: FrameWatch | None = None
    ) -> Iterator[tuple[int, SampledFrame]]:
        """Several samplings from one decoding pass: (which sampling, its frame at that sampling's size),
        in time order (a time asked by several comes to each, in the order of `samplings`)."""
        ...


def _schedule(samplings: Sequence[Sampling]) -> list[tuple[float, int]]:
    """Every sampling's times merged into one ordered list of (time, which sampling)."""
    return sorted((float(t), k) for k, sampling in enumerate(samplings) for t in sampling.times)


class DecordFrameSource:
    def __init__(self, path: Path, info: MediaInfo, max_side: int) -> None:
        import decord  # imported here: decord is optional on platforms without a wheel

        self.path, self.info = path, info
        width, height = self._size = scaled_size(info.width, info.height, max_side)
        try:
            self._reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height)
            # (start, end) presentation seconds of every frame, from the packets' timestamps.
            self._starts = self._reader.get_frame_timestamp(range(len(self._reader)))[:, 0]
        except decord.DECORDError as exc:
            raise DecodeError(path, f"decord cannot open the video ({_decord_reason(exc)})") from exc
        # decord reports stream timestamps; make them relative to the container start like PyAV's.
        self._offset = info.start_time if self._starts.size and self._starts[0] >= info.start_time else 0.0

    def iter_frames(self, times: Sequence[float], watch: FrameWatch | None = None) -> Iterator[SampledFrame]:
        for _, frame in self._iter_schedule([(float(t), 0) for t in times], [None], watch):
            yield frame

    def iter_samplings(
        self, samplings: Sequence[Sampling], watch: FrameWatch | None = None
    ) -> Iterator[tuple[int, SampledFrame]]:
        """decord decodes at the one size its reader was opened with: a sampling asking for a smaller one
        gets that frame scaled down (open the source at the largest size asked for)."""
        sizes = [scaled_size(self.info.width, self.info.height, s.max_side) for s in samplings]
        wanted: list[tuple[int, int] | None] = [None if size == self._size else size for size in sizes]
        yield from self._iter_schedule(_schedule(samplings), wanted, watch)

    def _iter_schedule(
        self, schedule: Sequence[tuple[float, int]], sizes: Sequence[tuple[int, int] | None], watch: FrameWatch | None
    ) -> Iterator[tuple[int, SampledFrame]]:
        import decord

        if not len(self._starts) or not schedule:
            return
        wanted = np.asarray([t for t, _ in schedule], dtype=np.float64) + self._offset
        # The frame on screen at t is the last one whose start is <= t.
        indices = np.clip(np.searchsorted(self._starts, wanted, side="right") - 1, 0, len(self._starts) - 1)
        for lo in range(0, len(indices), _DECORD_BATCH):
            chunk = indices[lo : lo + _DECORD_BATCH]
            try:
                batch = self._reader.get_batch(chunk.tolist()).asnumpy()
            except decord.DECORDError as exc:
                where = f"decoding failed near {schedule[lo][0]:.1f}s ({_decord_reason(exc)})"
                raise DecodeError(self.path, f"video data is damaged or truncated: {where}") from exc
            for (_, which), idx, image in zip(schedule[lo : lo + _DECORD_BATCH], chunk, batch, strict=True):
                time = float(self._starts[idx] - self._offset)
                if watch is not None:
                    watch(time, image)
                size = sizes[which]
                yield which, SampledFrame(time, image if size is None else _scale_down(image, size))


class PyAVFrameSource:
    """`reference_only`: decode only the frames other frames are predicted from (FFmpeg's
    skip_frame=NONREF), for samples much further apart than a frame; `threads`: let FFmpeg decode
    with its own threads (off where the caller keeps the other cores busy: one thread is cheaper)."""

    def __init__(
        self, path: Path, info: MediaInfo, max_side: int, *, reference_only: bool = False, threads: bool = True
    ) -> None:
        self.path, self.info = path, info
        self.max_side = max_side
        self.reference_only = reference_only
        self.threads = threads

    def iter_frames(self, times: Sequence[float], watch: FrameWatch | None = None) -> Iterator[SampledFrame]:
        for _, frame in self.iter_samplings([Sampling(times, self.max_side)], watch):
            yield frame

    def iter_samplings(
        self, samplings: Sequence[Sampling], watch: FrameWatch | None = None
    ) -> Iterator[tuple[int, SampledFrame]]:
        """Each decoded frame is converted to RGB at the size of each sampling that takes it: the same
        pixels as a pass of that sampling's own would give, for one decoding."""
        schedule = _schedule(samplings)
        if not schedule:
            return
        sizes = [scaled_size(self.info.width, self.info.height, s.max_side) for s in samplings]
        if not self.reference_only:
            yield from self._iter_frames(schedule, sizes, skip_nonref=False, watch=watch)
            return
        emitted = False
        try:
            for item in self._iter_frames(schedule, sizes, skip_nonref=True, watch=watch):
                emitted = True
                yield item
        except DecodeError:
            if emitted:
                raise
            # A codec whose frames all count as non-reference would yield none: decode them all.
            log.info("%s: no reference frames decoded; decoding every frame", self.path)
            yield from self._iter_frames(schedule, sizes, skip_nonref=False, watch=watch)

    def _iter_frames(
        self,
        schedule: Sequence[tuple[float, int]],
        sizes: Sequence[tuple[int, int]],
        *,
        skip_nonref: bool,
        watch: FrameWatch | None = None,
    ) -> Iterator[tuple[int, SampledFrame]]:
        targets = iter(schedule)
        target = next(targets, None)
        previous: av.VideoFrame | None = None
        video_end: float | None = None  # where the video stream's header says its frames end
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                video_end = _declared_end(stream, self.info.start_time)
                stream.thread_type = "AUTO" if self.threads else "NONE"
                if not self.threads:
                    stream.codec_context.thread_count = 1
                if skip_nonref:
                    stream.codec_context.skip_frame = "NONREF"
                for frame in container.decode(stream):
                    if frame.time is None:
                        continue
                    t = frame.time - self.info.start_time
                    if watch is not None:
                        watch(t, frame)
                    # Emit every target that lies before this frame: the previous frame was on screen.
                    while target is not None and t > target[0]:
                        yield target[1], self._convert(previous or frame, sizes[target[1]])
                        target = next(targets, None)
                    if target is None:
                        return
                    previous = frame
        except av.FFmpegError as exc:
            if previous is None:
                raise DecodeError(self.path, f"no frame could be decoded ({exc.strerror})") from exc
            log.info("%s: decoding stopped at %.1fs: %s", self.path, previous.time or 0.0, exc.strerror)
        if target is None:
            return
        if previous is None:
            raise DecodeError(self.path, "the video stream holds no frames")
        last = float(previous.time or 0.0) - self.info.start_time
        # Times are in order: the last one is the furthest. A video stream whose header says how long it
        # is must reach nearly that far (a few frames short at most: the last frames decoded may be
        # reference frames before B-frames left undecoded).
        short_of_stream = video_end is not None and video_end - last > max(_STREAM_END_TOLERANCE, 8 / self._fps())
        if schedule[-1][0] - last > _END_TOLERANCE or short_of_stream:
            # The header promised more than the data holds: a truncated or damaged file, not a short one.
            raise DecodeError(
                self.path,
                f"video data ends at {last:.1f}s of the {self.info.duration:.1f}s its header declares "
                "(damaged or truncated)",
            )
        while target is not None:
            yield target[1], self._convert(previous, sizes[target[1]])
            target = next(targets, None)

    def _fps(self) -> float:
        return self.info.fps if self.info.fps and self.info.fps > 0 else 25.0

    def _convert(self, frame: av.VideoFrame, size: tuple[int, int]) -> SampledFrame:
        width, height = size
        image = frame.to_ndarray(width=width, height=height, format="rgb24")
        return SampledFrame(float(frame.time - self.info.start_time), image)


def _scale_down(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB frame at (width, height), no larger than it is (Pillow's box filter: an area average)."""
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def _declared_end(stream: av.video.stream.VideoStream, start_time: float) -> float | None:
    """The end of a video stream by its own header (seconds from the media start), when it says."""
    if not stream.duration or not stream.time_base:
        return None
    first = float(stream.start_time * stream.time_base) if stream.start_time is not None else start_time
    return first + float(stream.duration * stream.time_base) - start_time


def frame_at(path: Path, time: float, max_side: int, start_time: float = 0.0) -> SampledFrame:
    """The one frame on screen at `time` (seconds from the media start; the container starts at
    `start_time`), decoded already resized: seek to the keyframe before it and decode forward. For one
    picture of a long video (a thumbnail asked for later), not for sampling: that decodes straight through."""
    target = start_time + max(0.0, time)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DecodeError(path, "the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            # Containers without an index (MPEG-TS) can seek past the time asked, even past the end:
            # then seek further back, and at last decode from the start.
            for lead in _SEEK_LEADS:
                position = max(0.0, target - lead)
                if stream.time_base:
                    container.seek(int(position / stream.time_base), stream=stream, backward=True, any_frame=False)
                shown, overshot = _frame_shown_at(container.decode(stream), target)
                if not overshot or position == 0.0:
                    break
            if shown is None:
                raise DecodeError(path, f"no frame could be decoded near {time:.1f}s")
            width, height = scaled_size(shown.width, shown.height, max_side)
            image = shown.to_ndarray(width=width, height=height, format="rgb24")
    except av.FFmpegError as exc:
        raise DecodeError(path, f"no frame could be decoded near {time:.1f}s ({exc.strerror})") from exc
    return SampledFrame(float(shown.time or 0.0) - start_time, image)


_SEEK_LEADS = (0.0, 10.0, math.inf)  # seconds before the target to seek to, tried in turn


def _frame_shown_at(frames: Iterable[av.VideoFrame], target: float) -> tuple[av.VideoFrame | None, bool]:
    """The last frame starting at or before `target` (the one on screen then), and whether the seek
    overshot: decoding began after the target (the first frame is returned then) or found nothing."""
    shown: av.VideoFrame | None = None
    for frame in frames:
        if frame.time is None:
            continue
        if shown is None and frame.time > target:
            return frame, True
        if frame.time > target:
            break
        shown = frame
    return shown, shown is None


def _decord_reason(exc: Exception) -> str:
    """decord's errors are C++ check dumps ("[12:00:00] file.cc:292: Check failed: ... Thread worker: X");
    keep the part a person can read."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if "Thread worker:" in text:
        return text.rsplit("Thread worker:", 1)[1].strip().rstrip(".")
    return re.sub(r"^(\[[\d:]+\]\s*\S+:\d+:\s*)+", "", text).strip()


def open_frames(
    path: Path,
    info: MediaInfo,
    max_side: int,
    decoder: Literal["auto", "decord", "pyav"] = "auto",
    *,
    sparse: bool = False,
    threads: bool = True,
    exact: bool = False,
) -> FrameSource:
    """The frame source for a file: decord for indexed containers when available, else PyAV.
    `sparse`: the samples lie far apart compared with the frame rate (a frame a second, say) and a
    reference frame a few frames early will do: then "auto" and "pyav" decode straight through with
    PyAV, reference frames only, which costs a third to a half less than decoding every frame (decord
    has no such mode; asked for by name, it is used as it is). `exact` (with `sparse`): straight through
    with PyAV all the same, but every frame decoded, so each sample is the frame on screen at its time,
    as decord or a full PyAV pass gives it (a captioner's frames). `threads`: FFmpeg's own decoding
    threads for PyAV (see `PyAVFrameSource`)."""
    if sparse and decoder != "decord":
        return PyAVFrameSource(path, info, max_side, reference_only=not exact, threads=threads)
    if decoder == "decord" or (decoder == "auto" and info.format in DECORD_FORMATS):
        try:
            return DecordFrameSource(path, info, max_side)
        except ImportError:
            if decoder == "decord":
                raise
        except DecodeError as exc:
            if decoder == "decord":
                raise
            log.info("%s: falling back to PyAV (%s)", path, exc.reason)
    return PyAVFrameSource(path, info, max_side, threads=threads)
