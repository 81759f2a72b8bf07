"""The catalogue as exports read it: each video with its live windows, their texts (with the model that
wrote each), tags, and the texts' stored vectors (chapters find topic changes with them). Read one video
at a time, so an export of a large library holds one video in memory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select

from vidsearch.errors import NotFoundError
from vidsearch.kinds import TextKind
from vidsearch.models.base import ModelSpec
from vidsearch.storage.schema import (
    ModelRecord,
    ShotRecord,
    SubtitleCueRecord,
    TextEmbedding,
    VideoRecord,
    VideoStatus,
    WindowRecord,
    WindowTag,
    WindowTextRecord,
)
from vidsearch.storage.store import StoreBase, to_blob
from vidsearch.storage.videos import SubtitleCue


@dataclass(frozen=True)
class TextEntry:
    id: int
    kind: str
    text: str
    source: str
    model: ModelSpec | None  # what wrote it, as recorded (None: read from the file, or given by a person)


@dataclass
class WindowEntry:
    id: int
    index: int
    start: float
    end: float
    texts: list[TextEntry] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    error: str | None = None
    imported: bool = False  # given by a person (an import), not cut by an indexer (here or where exported)
    # The mean of its texts' vectors under the video's embedder, L2-normalised (None: no vectors).
    vector: np.ndarray | None = None

    def texts_of(self, kind: str) -> list[str]:
        return [t.text for t in self.texts if t.kind == kind]


@dataclass
class VideoEntry:
    id: int
    path: str
    status: str
    duration: float | None
    start_time: float | None
    fps: float | None
    width: int | None
    height: int | None
    size_bytes: int
    content_hash: str | None
    recorded_at: datetime | None
    indexed_at: datetime | None
    probe: dict[str, Any] | None
    windows: list[WindowEntry] = field(default_factory=list)
    # The shots as the shot detector found them, (start, end) in order; none where the video was cut
    # into windows on the fixed grid or was imported.
    shots: list[tuple[float, float]] = field(default_factory=list)
    # The subtitle cues as found in its tracks and sidecars (indexed videos; carried by a catalogue import).
    subtitle_cues: list[SubtitleCue] = field(default_factory=list)
    # What indexed it (None for a video only imported): a library the catalogue is imported into
    # leaves the video alone while its own pipeline is the same.
    pipeline_fingerprint: str | None = None
    pipeline_settings: dict[str, Any] | None = None

    @property
    def has_file(self) -> bool:
        return self.status != VideoStatus.EXTERNAL

    @property
    def description(self) -> TextEntry | None:
        return next((t for w in self.windows for t in w.texts if t.kind == TextKind.DESCRIPTION), None)

    @property
    def cuts(self) -> list[float]:
        """Where one shot ends and the next begins (seconds)."""
        return [start for start, _ in self.shots[1:]]

    @property
    def end(self) -> float:
        """Where the video ends: its duration, else its last window's end."""
        return self.duration or max((w.end for w in self.windows), default=0.0)


# Texts about the whole video, kept on its first window: not what happens in that window.
WHOLE_VIDEO_KINDS = (TextKind.NAME, TextKind.DESCRIPTION)


class CatalogueMixin(StoreBase):
    """The export part of `Database`, and the videos' descriptions."""

    def videos_without_description(self) -> list[int]:
        """Videos with live windows of which none holds a description (new, re-indexed or imported)."""
        described = (
            select(WindowRecord.video_id)
            .join(WindowTextRecord, WindowTextRecord.window_id == WindowRecord.id)
            .where(WindowRecord.retired.is_(False), WindowTextRecord.kind == TextKind.DESCRIPTION)
        )
        with self.session() as s:
            return list(
                s.scalars(
                    select(WindowRecord.video_id)
                    .join(VideoRecord, VideoRecord.id == WindowRecord.video_id)
                    .where(
                        WindowRecord.retired.is_(False),
                        VideoRecord.status.not_in((VideoStatus.REMOVED, VideoStatus.MISSING)),
                        WindowRecord.video_id.not_in(described),
                    )
                    .distinct()
                    .order_by(WindowRecord.video_id)
                )
            )

    def set_description(
        self, video_id: int, text: str, model_id: int | None, source: str, vector: np.ndarray, embedder_id: int
    ) -> None:
        """The video's description, on its first live window (the indexer's first where it has windows
        of its own), replacing any it had, stored with its vector under the embedder `embedder_id` in one
        transaction, like the rest of the video's texts."""
        with self.session() as s:
            live = select(WindowRecord.id).where(WindowRecord.video_id == video_id, WindowRecord.retired.is_(False))
            first = s.scalar(live.where(WindowRecord.import_key.is_(None)).order_by(WindowRecord.start).limit(1))
            first = first or s.scalar(live.order_by(WindowRecord.start, WindowRecord.id).limit(1))
            if first is None:
                raise NotFoundError(f"video {video_id} has no windows to describe")
            for old in s.scalars(
                select(WindowTextRecord).where(
                    WindowTextRecord.window_id.in_(live), WindowTextRecord.kind == TextKind.DESCRIPTION
                )
            ):
                s.execute(delete(TextEmbedding).where(TextEmbedding.text_id == old.id))
                s.delete(old)
            row = WindowTextRecord(
                window_id=first, kind=TextKind.DESCRIPTION, text=text, model_id=model_id, source=source
            )
            s.add(row)
            s.flush()
            s.add(TextEmbedding(text_id=row.id, embedder_id=embedder_id, vector=to_blob(vector)))

    def catalogue_video_ids(self) -> list[int]:
        """Every video an export takes, by path (not those taken out with `remove`)."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(VideoRecord.id).where(VideoRecord.status != VideoStatus.REMOVED).order_by(VideoRecord.path)
                )
            )

    def catalogue_entries(self, video_ids: Iterable[int]) -> Iterable[VideoEntry]:
        for video_id in video_ids:
            yield self.catalogue_entry(video_id)

    def catalogue_entry(self, video_id: int) -> VideoEntry:
        """One video with its live windows in time order, their texts, tags and mean text vectors."""
        with self.session() as s:
            video = s.get(VideoRecord, video_id)
            if video is None or video.status == VideoStatus.REMOVED:
                raise NotFoundError(f"video {video_id} not found")
            entry = VideoEntry(
                id=video.id,
                path=video.path,
                status=video.status,
                duration=video.duration,
                start_time=video.start_time,
                fps=video.fps,
                width=video.width,
                height=video.height,
                size_bytes=video.size_bytes,
                content_hash=video.content_hash,
                recorded_at=_utc(video.recorded_at),
                indexed_at=_utc(video.indexed_at),
                probe=video.probe,
                pipeline_fingerprint=video.pipeline_fingerprint,
                pipeline_settings=video.pipeline_settings,
            )
            windows = {
                w.id: WindowEntry(
                    w.id,
                    w.idx,
                    w.start,
                    w.end,
                    error=w.error,
                    imported=w.import_key is not None and not w.cut_by_indexer,
                )
                for w in s.scalars(
                    select(WindowRecord)
                    .where(WindowRecord.video_id == video_id, WindowRecord.retired.is_(False))
                    .order_by(WindowRecord.start, WindowRecord.idx)
                )
            }
            entry.windows = list(windows.values())
            entry.shots = [
                (float(start), float(end))
                for start, end in s.execute(
                    select(ShotRecord.start, ShotRecord.end)
                    .where(ShotRecord.video_id == video_id)
                    .order_by(ShotRecord.idx)
                )
            ]
            entry.subtitle_cues = [
                SubtitleCue(float(start), float(end), text, source)
                for start, end, text, source in s.execute(
                    select(
                        SubtitleCueRecord.start, SubtitleCueRecord.end, SubtitleCueRecord.text, SubtitleCueRecord.source
                    )
                    .where(SubtitleCueRecord.video_id == video_id)
                    .order_by(SubtitleCueRecord.idx)
                )
            ]
            if not windows:
                return entry
            live = select(WindowRecord.id).where(WindowRecord.video_id == video_id, WindowRecord.retired.is_(False))
            models: dict[int, ModelSpec] = {}
            for record in s.scalars(
                select(ModelRecord).where(
                    ModelRecord.id.in_(
                        select(WindowTextRecord.model_id).where(WindowTextRecord.window_id.in_(live)).distinct()
                    )
                )
            ):
                models[record.id] = ModelSpec(
                    record.kind, record.name, record.model_id, record.revision, record.dimension, record.settings or {}
                )
            for text in s.scalars(
                select(WindowTextRecord).where(WindowTextRecord.window_id.in_(live)).order_by(WindowTextRecord.id)
            ):
                windows[text.window_id].texts.append(
                    TextEntry(
                        text.id,
                        text.kind,
                        text.text,
                        text.source,
                        models.get(text.model_id) if text.model_id is not None else None,
                    )
                )
            for window_id, tag in s.execute(
                select(WindowTag.window_id, WindowTag.tag).where(WindowTag.window_id.in_(live)).order_by(WindowTag.tag)
            ):
                windows[window_id].tags.append(tag)
            _attach_vectors(s, live, windows)
        return entry


def _attach_vectors(s: Any, live: Any, windows: dict[int, WindowEntry]) -> None:
    """Each window's mean text vector under the embedder that holds the most of this video's vectors. The
    video's name and description (on its first window) are about the whole video and are left out."""
    texts = select(WindowTextRecord.id).where(
        WindowTextRecord.window_id.in_(live), WindowTextRecord.kind.not_in(WHOLE_VIDEO_KINDS)
    )
    embedder = s.scalar(
        select(TextEmbedding.embedder_id)
        .where(TextEmbedding.text_id.in_(texts))
        .group_by(TextEmbedding.embedder_id)
        .order_by(func.count().desc(), TextEmbedding.embedder_id.desc())
        .limit(1)
    )
    if embedder is None:
        return
    sums: dict[int, np.ndarray] = {}
    for window_id, blob in s.execute(
        select(WindowTextRecord.window_id, TextEmbedding.vector)
        .join(TextEmbedding, TextEmbedding.text_id == WindowTextRecord.id)
        .where(TextEmbedding.text_id.in_(texts), TextEmbedding.embedder_id == embedder)
    ):
        vector = np.frombuffer(blob, dtype="<f4")
        sums[window_id] = sums[window_id] + vector if window_id in sums else vector.astype(np.float32)
    for window_id, total in sums.items():
        norm = float(np.linalg.norm(total))
        if norm > 0:
            windows[window_id].vector = total / norm


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
