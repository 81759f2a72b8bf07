"""Vectors in SQL, their source of truth: texts' vectors under each text embedder, windows' frame
vectors under each image-text model, and the index generations built from them (one series per space)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update

from vidsearch.storage.schema import (
    TEXT_SPACE,
    VISUAL_SPACE,
    IndexGeneration,
    TextEmbedding,
    VideoRecord,
    WindowRecord,
    WindowTextRecord,
    WindowVector,
    searchable_windows,
    utcnow,
)
from vidsearch.storage.store import StoreBase, to_blob

log = logging.getLogger(__name__)

# Windows whose texts go into a generation: live ones of videos that are not offline.
_LIVE_WINDOWS = searchable_windows()


@dataclass(frozen=True)
class WindowVectorRow:
    window_id: int
    vector: np.ndarray
    frame_time: float
    frames: int


@dataclass(frozen=True)
class _VectorTable:
    model: Any  # TextEmbedding | WindowVector
    key: Any  # its id column
    live: Any  # ids a generation may hold


_SPACES = {
    TEXT_SPACE: _VectorTable(
        TextEmbedding,
        TextEmbedding.text_id,
        select(WindowTextRecord.id).where(WindowTextRecord.window_id.in_(_LIVE_WINDOWS)),
    ),
    VISUAL_SPACE: _VectorTable(WindowVector, WindowVector.window_id, _LIVE_WINDOWS),
}


class EmbeddingsMixin(StoreBase):
    def count_texts_without_embedding(self, embedder_id: int) -> int:
        has = select(TextEmbedding.text_id).where(TextEmbedding.embedder_id == embedder_id)
        with self.session() as s:
            stmt = (
                select(func.count())
                .select_from(WindowTextRecord)
                .where(WindowTextRecord.id.not_in(has), WindowTextRecord.window_id.in_(_LIVE_WINDOWS))
            )
            return int(s.scalar(stmt) or 0)

    def texts_without_embedding(self, embedder_id: int, limit: int) -> list[tuple[int, str]]:
        has = select(TextEmbedding.text_id).where(TextEmbedding.embedder_id == embedder_id)
        stmt = (
            select(WindowTextRecord.id, WindowTextRecord.text)
            .where(WindowTextRecord.id.not_in(has), WindowTextRecord.window_id.in_(_LIVE_WINDOWS))
            .order_by(WindowTextRecord.id)
            .limit(limit)
        )
        with self.session() as s:
            return [(i, t) for i, t in s.execute(stmt)]

    def add_embeddings(self, embedder_id: int, text_ids: Sequence[int], vectors: np.ndarray) -> None:
        with self.session() as s:
            s.add_all(
                TextEmbedding(text_id=int(t), embedder_id=embedder_id, vector=to_blob(v))
                for t, v in zip(text_ids, vectors, strict=True)
            )

    def count_embeddings(self, embedder_id: int) -> int:
        with self.session() as s:
            return int(
                s.scalar(
                    select(func.count()).select_from(TextEmbedding).where(TextEmbedding.embedder_id == embedder_id)
                )
                or 0
            )

    def count_texts(self) -> int:
        """Texts of live windows."""
        with self.session() as s:
            stmt = (
                select(func.count()).select_from(WindowTextRecord).where(WindowTextRecord.window_id.in_(_LIVE_WINDOWS))
            )
            return int(s.scalar(stmt) or 0)

    def text_vectors(self, embedder_id: int, text_ids: Sequence[int], dimension: int) -> dict[int, np.ndarray]:
        """The stored vectors of these texts under this embedder (those it has)."""
        if not text_ids:
            return {}
        stmt = select(TextEmbedding.text_id, TextEmbedding.vector).where(
            TextEmbedding.embedder_id == embedder_id, TextEmbedding.text_id.in_([int(t) for t in text_ids])
        )
        with self.reading() as conn:
            rows = conn.execute(stmt).all()
        return {int(t): np.frombuffer(v, dtype="<f4").reshape(dimension) for t, v in rows}

    def iter_embeddings(
        self, embedder_id: int, dimension: int, batch: int = 20_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(text ids, vectors) of live windows' texts in batches, in id order, without holding all rows in
        Python objects."""
        last = -1
        live_texts = select(WindowTextRecord.id).where(WindowTextRecord.window_id.in_(_LIVE_WINDOWS))
        while True:
            stmt = (
                select(TextEmbedding.text_id, TextEmbedding.vector)
                .where(
                    TextEmbedding.embedder_id == embedder_id,
                    TextEmbedding.text_id > last,
                    TextEmbedding.text_id.in_(live_texts),
                )
                .order_by(TextEmbedding.text_id)
                .limit(batch)
            )
            with self.session() as s:
                rows = s.execute(stmt).all()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), dimension)
            last = int(ids[-1])
            yield ids, vectors

    # --- frame vectors (the visual space) ------------------------------------------------------------
    def add_window_vectors(self, embedder_id: int, rows: Sequence[WindowVectorRow]) -> None:
        """Store windows' pooled frame vectors under an image-text model (replacing any it had)."""
        with self.session() as s:
            ids = [r.window_id for r in rows]
            s.execute(
                delete(WindowVector).where(WindowVector.embedder_id == embedder_id, WindowVector.window_id.in_(ids))
            )
            s.add_all(
                WindowVector(
                    window_id=r.window_id,
                    embedder_id=embedder_id,
                    vector=to_blob(r.vector),
                    frame_time=r.frame_time,
                    frames=r.frames,
                )
                for r in rows
            )

    def replace_frame_vectors(
        self, video_id: int, embedder_id: int, rows: Sequence[WindowVectorRow], visual_settings: dict[str, Any] | None
    ) -> None:
        """A video's windows' frame vectors under a new image-text model, and the settings that made
        them, in one transaction (the rest of the video is untouched)."""
        with self.session() as s:
            ids = [r.window_id for r in rows]
            s.execute(
                delete(WindowVector).where(WindowVector.embedder_id == embedder_id, WindowVector.window_id.in_(ids))
            )
            s.add_all(
                WindowVector(
                    window_id=r.window_id,
                    embedder_id=embedder_id,
                    vector=to_blob(r.vector),
                    frame_time=r.frame_time,
                    frames=r.frames,
                )
                for r in rows
            )
            video = s.get(VideoRecord, video_id)
            if video is not None:
                video.pipeline_settings = {**(video.pipeline_settings or {}), "visual": visual_settings}

    def indexer_windows(self, video_id: int) -> list[tuple[int, tuple[float, float]]]:
        """(id, (start, end)) of the windows the indexer cut for a video, in time order."""
        with self.reading() as conn:
            rows = conn.execute(
                select(WindowRecord.id, WindowRecord.start, WindowRecord.end)
                .where(
                    WindowRecord.video_id == video_id,
                    WindowRecord.retired.is_(False),
                    WindowRecord.import_key.is_(None),
                )
                .order_by(WindowRecord.start, WindowRecord.idx)
            ).all()
        return [(int(i), (float(a), float(b))) for i, a, b in rows]

    def window_vector(self, window_id: int, embedder_id: int) -> tuple[np.ndarray, float] | None:
        """A window's stored frame vector and the time of the frame that stands for it, or None."""
        with self.reading() as conn:
            row = conn.execute(
                select(WindowVector.vector, WindowVector.frame_time).where(
                    WindowVector.window_id == window_id, WindowVector.embedder_id == embedder_id
                )
            ).first()
        return None if row is None else (np.frombuffer(row[0], dtype="<f4").copy(), float(row[1]))

    def windows_without_vectors(self, video_id: int, embedder_id: int) -> list[int]:
        """The video's live windows that have no frame vector under this model."""
        has = select(WindowVector.window_id).where(WindowVector.embedder_id == embedder_id)
        with self.reading() as conn:
            return list(
                conn.scalars(
                    select(WindowRecord.id)
                    .where(
                        WindowRecord.video_id == video_id,
                        WindowRecord.retired.is_(False),
                        WindowRecord.id.not_in(has),
                    )
                    .order_by(WindowRecord.start)
                )
            )

    # --- any space ---------------------------------------------------------------------------------
    def count_vectors(self, space: str, embedder_id: int) -> int:
        """Vectors of live rows in a space under one model: what a generation of it holds."""
        table = _SPACES[space]
        with self.reading() as conn:
            stmt = (
                select(func.count())
                .select_from(table.model)
                .where(table.model.embedder_id == embedder_id, table.key.in_(table.live))
            )
            return int(conn.scalar(stmt) or 0)

    def iter_vectors(
        self, space: str, embedder_id: int, dimension: int, batch: int = 20_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of a space's live rows in batches, in id order: text ids for the text space,
        window ids for the visual one."""
        if space == TEXT_SPACE:
            yield from self.iter_embeddings(embedder_id, dimension, batch)
            return
        table = _SPACES[space]
        last = -1
        while True:
            stmt = (
                select(table.key, table.model.vector)
                .where(table.model.embedder_id == embedder_id, table.key > last, table.key.in_(table.live))
                .order_by(table.key)
                .limit(batch)
            )
            with self.reading() as conn:
                rows = conn.execute(stmt).all()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), dimension)
            last = int(ids[-1])
            yield ids, vectors

    # --- index generations --------------------------------------------------------------------
    def create_generation(self, embedder_id: int, index_type: str, dimension: int, space: str = TEXT_SPACE) -> int:
        with self.session() as s:
            generation = IndexGeneration(
                embedder_id=embedder_id, index_type=index_type, dimension=dimension, space=space
            )
            s.add(generation)
            s.flush()
            return generation.id

    def finish_generation(self, generation_id: int, *, vector_count: int, file_name: str, checksum: str) -> None:
        with self.session() as s:
            s.execute(
                update(IndexGeneration)
                .where(IndexGeneration.id == generation_id)
                .values(
                    status="ready",
                    vector_count=vector_count,
                    file_name=file_name,
                    checksum=checksum,
                    completed_at=utcnow(),
                )
            )

    def fail_generation(self, generation_id: int) -> None:
        with self.session() as s:
            s.execute(
                update(IndexGeneration)
                .where(IndexGeneration.id == generation_id)
                .values(status="failed", completed_at=utcnow())
            )

    def latest_generation(self, space: str = TEXT_SPACE) -> IndexGeneration | None:
        with self.session() as s:
            return s.scalar(
                select(IndexGeneration)
                .where(IndexGeneration.status == "ready", IndexGeneration.space == space)
                .order_by(IndexGeneration.id.desc())
                .limit(1)
            )
