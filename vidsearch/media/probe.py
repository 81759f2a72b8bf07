"""What a media file holds: duration, start time, and its video, audio and subtitle streams."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av

from vidsearch.errors import ProbeError

# Up to this, a creation_time is an epoch read from a zeroed field (1970-01-01, QuickTime's 1904-01-01)
# or the FAT epoch a reset camera clock starts from, not a recording: no digital video file is that old.
EARLIEST_RECORDING = datetime(1980, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "video" | "audio" | "subtitle"
    codec: str
    language: str | None = None


@dataclass(frozen=True)
class MediaInfo:
    path: str
    format: str
    duration: float  # seconds of presentation, from the first timestamp to the last
    start_time: float  # the container's first presentation timestamp, seconds
    width: int
    height: int
    fps: float
    streams: tuple[StreamInfo, ...] = field(default_factory=tuple)
    # When the camera says it was recorded (the container's creation_time tag, ISO 8601), if it says.
    recorded_at: str | None = None
    # The container's title tag (ffmpeg -metadata title=...), if it has one.
    title: str | None = None

    @property
    def has_audio(self) -> bool:
        return any(s.kind == "audio" for s in self.streams)

    @property
    def subtitle_streams(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == "subtitle"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["streams"] = [asdict(s) for s in self.streams]
        return data


def probe(path: Path) -> MediaInfo:
    """Read the container header. Raises ProbeError naming the file and the reason."""
    if not path.exists():
        raise ProbeError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise ProbeError(path, "file is empty (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise ProbeError(path, f"not a readable media container ({_ffmpeg_reason(exc)})") from exc
    try:
        with container:
            return _describe(path, container)
    except av.FFmpegError as exc:
        raise ProbeError(path, f"cannot read stream headers ({_ffmpeg_reason(exc)})") from exc


def _describe(path: Path, container: av.container.InputContainer) -> MediaInfo:
    streams: list[StreamInfo] = []
    for stream in container.streams:
        if stream.type not in ("video", "audio", "subtitle"):
            continue
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        streams.append(StreamInfo(stream.index, stream.type, codec, stream.metadata.get("language")))
    videos = [s for s in container.streams.video if not _is_cover_art(s)]
    if not videos:
        kinds = sorted({s.kind for s in streams}) or ["no streams"]
        raise ProbeError(path, f"no video stream (found: {', '.join(kinds)})")
    video = videos[0]
    start = _seconds(container.start_time, 1 / av.time_base) or 0.0
    duration = _seconds(container.duration, 1 / av.time_base)
    if not duration and video.duration is not None and video.time_base is not None:
        duration = float(video.duration * video.time_base)
    if not duration or duration <= 0:
        raise ProbeError(path, "duration is unknown or zero")
    rate = video.average_rate or video.guessed_rate or video.base_rate
    fps = float(rate) if rate else 0.0
    width, height = video.codec_context.width, video.codec_context.height
    if not width or not height:
        raise ProbeError(path, "video stream has no frame size")
    return MediaInfo(
        path=str(path),
        format=container.format.name,
        duration=duration,
        start_time=start,
        width=width,
        height=height,
        fps=fps,
        streams=tuple(streams),
        recorded_at=_recorded_at(container.metadata),
        title=(container.metadata.get("title") or "").strip() or None,
    )


def _recorded_at(metadata: dict[str, str]) -> str | None:
    """The creation_time tag as ISO 8601 in UTC; cameras write it, re-encoders often copy it. A date
    no recording can have is no date: a zeroed field reads as 1970-01-01 (or 1904, QuickTime's epoch), a
    reset camera clock as 1980-01-01, and a clock set wrong can write one in the future."""
    value = metadata.get("creation_time") or metadata.get("date")
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None  # a free-form date some tools write: not worth guessing
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    stamp = stamp.astimezone(UTC)
    if not EARLIEST_RECORDING < stamp <= datetime.now(UTC) + timedelta(days=1):
        return None
    return stamp.isoformat()


def _is_cover_art(stream: av.video.stream.VideoStream) -> bool:
    # An mp3/m4a with an embedded picture has a one-frame "video" stream marked attached_pic.
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _seconds(value: int | None, scale: float) -> float | None:
    return None if value is None else value * scale


def _ffmpeg_reason(exc: av.FFmpegError) -> str:
    return exc.strerror or type(exc).__name__
