"""Videos and their windows as the indexer stores them, and the library's roots."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import selectinload

from vidsearch.errors import NotFoundError, StorageError
from vidsearch.storage.schema import (
    LibraryRoot,
    ShotRecord,
    SubtitleCueRecord,
    TextEmbedding,
    VideoRecord,
    VideoStatus,
    WindowRecord,
    WindowTag,
    WindowTextRecord,
    WindowVector,
    utcnow,
)
from vidsearch.storage.store import StoreBase, to_blob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewText:
    window_index: int
    kind: str
    text: str
    model_id: int | None
    source: str = ""


@dataclass(frozen=True)
class FrameVector:
    """A window's pooled frame vector under an image-text model, as the indexer hands it over."""

    window_index: int
    vector: np.ndarray
    frame_time: float
    frames: int


@dataclass(frozen=True)
class SubtitleCue:
    """A subtitle cue as found in a video's subtitle track or sidecar file (seconds from the start)."""

    start: float
    end: float
    text: str
    source: str  # "stream:2", "talk.en.srt"


@dataclass(frozen=True)
class WindowSpan:
    video_id: int
    start: float
    end: float
    media_start: float  # the container's start time: window times count from it


@dataclass(frozen=True)
class FileState:
    path: str
    size_bytes: int
    mtime: float


class VideosMixin(StoreBase):
    # --- videos -------------------------------------------------------------------------------
    def video_by_path(self, path: str) -> VideoRecord | None:
        with self.session() as s:
            return s.scalar(select(VideoRecord).where(VideoRecord.path == path))

    def begin_video(self, state: FileState, content_hash: str | None) -> int:
        """Record that a file is being indexed. Its previous windows stay until the new ones replace them."""
        with self.session() as s:
            video = s.scalar(select(VideoRecord).where(VideoRecord.path == state.path))
            if video is None:
                video = VideoRecord(path=state.path)
                s.add(video)
            video.size_bytes, video.mtime, video.content_hash = state.size_bytes, state.mtime, content_hash
            video.status, video.error = VideoStatus.INDEXING, None
            s.flush()
            return video.id

    def touch_video(self, video_id: int, state: FileState) -> None:
        """The file's bytes are unchanged but its stat moved (copied, touched): remember the new stat."""
        with self.session() as s:
            s.execute(
                update(VideoRecord)
                .where(VideoRecord.id == video_id)
                .values(size_bytes=state.size_bytes, mtime=state.mtime)
            )

    def mark_failed(
        self, state: FileState, reason: str, content_hash: str | None = None, pipeline_fingerprint: str | None = None
    ) -> int:
        with self.session() as s:
            video = s.scalar(select(VideoRecord).where(VideoRecord.path == state.path))
            if video is None:
                video = VideoRecord(path=state.path)
                s.add(video)
            video.size_bytes, video.mtime = state.size_bytes, state.mtime
            video.content_hash = content_hash or video.content_hash
            video.status, video.error = VideoStatus.FAILED, reason
            video.pipeline_fingerprint = pipeline_fingerprint or video.pipeline_fingerprint
            s.flush()
            return video.id

    def store_video(
        self,
        video_id: int,
        *,
        probe: dict[str, Any],
        windows: Sequence[tuple[float, float]],
        texts: Sequence[NewText],
        window_errors: dict[int, str] | None = None,
        vectors: np.ndarray,
        embedder_id: int,
        pipeline_fingerprint: str,
        pipeline_settings: dict[str, Any],
        frame_vectors: Sequence[FrameVector] = (),
        visual_embedder_id: int | None = None,
        shots: Sequence[tuple[float, float]] = (),
        subtitle_cues: Sequence[SubtitleCue] = (),
    ) -> list[int]:
        """Replace a video's windows, texts and vectors (and the windows' frame vectors under an
        image-text model, its shots and its subtitle cues) and mark it done, all in one transaction.
        Returns the new windows' ids, in window order."""
        if len(texts) != len(vectors):
            raise StorageError(f"{len(texts)} texts but {len(vectors)} vectors")
        with self.session() as s:
            # Retire, not delete: the generation being served still resolves its hits to these rows.
            # Imported windows are not the indexer's to replace: they stay as they are, but for the
            # indexer's windows a catalogue brought (this indexing is their replacement).
            s.execute(
                update(WindowRecord)
                .where(
                    WindowRecord.video_id == video_id,
                    WindowRecord.retired.is_(False),
                    or_(WindowRecord.import_key.is_(None), WindowRecord.cut_by_indexer.is_(True)),
                )
                .values(retired=True)
            )
            errors = window_errors or {}
            rows = [
                WindowRecord(video_id=video_id, idx=i, start=start, end=end, error=errors.get(i))
                for i, (start, end) in enumerate(windows)
            ]
            s.add_all(rows)
            s.flush()
            text_rows = [
                WindowTextRecord(
                    window_id=rows[t.window_index].id, kind=t.kind, text=t.text, model_id=t.model_id, source=t.source
                )
                for t in texts
            ]
            s.add_all(text_rows)
            s.flush()
            s.add_all(
                TextEmbedding(text_id=row.id, embedder_id=embedder_id, vector=to_blob(vec))
                for row, vec in zip(text_rows, vectors, strict=True)
            )
            if frame_vectors and visual_embedder_id is not None:
                s.add_all(
                    WindowVector(
                        window_id=rows[f.window_index].id,
                        embedder_id=visual_embedder_id,
                        vector=to_blob(f.vector),
                        frame_time=f.frame_time,
                        frames=f.frames,
                    )
                    for f in frame_vectors
                )
            s.execute(delete(ShotRecord).where(ShotRecord.video_id == video_id))
            s.add_all(
                ShotRecord(video_id=video_id, idx=i, start=start, end=end) for i, (start, end) in enumerate(shots)
            )
            s.execute(delete(SubtitleCueRecord).where(SubtitleCueRecord.video_id == video_id))
            s.add_all(
                SubtitleCueRecord(video_id=video_id, idx=i, start=c.start, end=c.end, text=c.text, source=c.source)
                for i, c in enumerate(subtitle_cues)
            )
            video = s.get(VideoRecord, video_id)
            if video is None:
                raise NotFoundError(f"video {video_id} vanished while indexing")
            video.probe = probe
            video.duration, video.start_time = probe["duration"], probe["start_time"]
            video.fps, video.width, video.height = probe["fps"], probe["width"], probe["height"]
            recorded = probe.get("recorded_at")
            video.recorded_at = datetime.fromisoformat(recorded) if recorded else None
            video.status, video.error = VideoStatus.DONE, None
            video.pipeline_fingerprint, video.pipeline_settings = pipeline_fingerprint, pipeline_settings
            video.indexed_at = utcnow()
            return [row.id for row in rows]

    def purge_retired(self) -> list[int]:
        """Delete retired windows, their texts and vectors: call once a generation without them is
        published. Returns the ids of the windows deleted (their thumbnails can go too)."""
        retired = select(WindowRecord.id).where(WindowRecord.retired.is_(True))
        text_ids = select(WindowTextRecord.id).where(WindowTextRecord.window_id.in_(retired))
        with self.session() as s:
            window_ids = list(s.scalars(retired))
            if not window_ids:
                return []
            s.execute(delete(TextEmbedding).where(TextEmbedding.text_id.in_(text_ids)))
            s.execute(delete(WindowVector).where(WindowVector.window_id.in_(retired)))
            s.execute(delete(WindowTextRecord).where(WindowTextRecord.window_id.in_(retired)))
            s.execute(delete(WindowTag).where(WindowTag.window_id.in_(retired)))
            s.execute(delete(WindowRecord).where(WindowRecord.retired.is_(True)))
            return window_ids

    def list_videos(self) -> list[tuple[VideoRecord, int]]:
        """Every video with its window count, by path."""
        counts = (
            select(WindowRecord.video_id, func.count().label("n"))
            .where(WindowRecord.retired.is_(False))
            .group_by(WindowRecord.video_id)
            .subquery()
        )
        with self.session() as s:
            rows = s.execute(
                select(VideoRecord, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.video_id == VideoRecord.id)
                .where(VideoRecord.status != VideoStatus.REMOVED)
                .order_by(VideoRecord.path)
            ).all()
            return [(video, int(n)) for video, n in rows]

    def video_detail(self, video_id: int) -> VideoRecord:
        with self.session() as s:
            video = s.scalar(
                select(VideoRecord)
                .where(VideoRecord.id == video_id)
                .options(
                    selectinload(VideoRecord.windows)
                    .selectinload(WindowRecord.texts)
                    .selectinload(WindowTextRecord.model),
                    selectinload(VideoRecord.shots),
                )
            )
            if video is None or video.status == VideoStatus.REMOVED:
                raise NotFoundError(f"video {video_id} not found")
            return video

    def status_counts(self) -> dict[str, int]:
        with self.session() as s:
            counts = select(VideoRecord.status, func.count()).where(VideoRecord.status != VideoStatus.REMOVED)
            return dict(s.execute(counts.group_by(VideoRecord.status)).all())

    def failed_videos(self) -> list[tuple[str, str]]:
        with self.session() as s:
            rows = s.execute(
                select(VideoRecord.path, VideoRecord.error)
                .where(VideoRecord.status == VideoStatus.FAILED)
                .order_by(VideoRecord.path)
            )
            return [(p, e or "") for p, e in rows]

    # --- library roots -------------------------------------------------------------------------
    def add_library_root(self, path: str) -> None:
        with self.session() as s:
            if s.scalar(select(LibraryRoot.id).where(LibraryRoot.path == path)) is None:
                s.add(LibraryRoot(path=path))

    def library_roots(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(LibraryRoot.path).order_by(LibraryRoot.path)))

    def video_path(self, video_id: int) -> str:
        with self.session() as s:
            path = s.scalar(select(VideoRecord.path).where(VideoRecord.id == video_id))
        if path is None:
            raise NotFoundError(f"video {video_id} not found")
        return path

    def video_path_and_status(self, video_id: int) -> tuple[str, str]:
        with self.session() as s:
            row = s.execute(select(VideoRecord.path, VideoRecord.status).where(VideoRecord.id == video_id)).first()
        if row is None or row[1] == VideoStatus.REMOVED:
            raise NotFoundError(f"video {video_id} not found")
        return row[0], row[1]

    def shot_cuts(self, video_ids: Collection[int]) -> dict[int, list[float]]:
        """The cuts between each video's shots (seconds, in order; a video without shots has none)."""
        if not video_ids:
            return {}
        with self.reading() as conn:
            rows = conn.execute(
                select(ShotRecord.video_id, ShotRecord.start)
                .where(ShotRecord.video_id.in_(list(video_ids)), ShotRecord.idx > 0)
                .order_by(ShotRecord.video_id, ShotRecord.start)
            ).all()
        out: dict[int, list[float]] = {}
        for video_id, start in rows:
            out.setdefault(video_id, []).append(start)
        return out

    def window_span(self, window_id: int) -> WindowSpan | None:
        """Where a window lies in its video (for a thumbnail taken from the file), or None."""
        with self.reading() as conn:
            row = conn.execute(
                select(WindowRecord.video_id, WindowRecord.start, WindowRecord.end, VideoRecord.start_time)
                .join(VideoRecord, VideoRecord.id == WindowRecord.video_id)
                .where(WindowRecord.id == window_id)
            ).first()
        return None if row is None else WindowSpan(row[0], row[1], row[2], row[3] or 0.0)
