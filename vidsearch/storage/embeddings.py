"""Text vectors under each embedder (SQL is their source of truth) and the index generations built
from them."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import func, select, update

from vidsearch.storage.schema import (
    IndexGeneration,
    TextEmbedding,
    WindowTextRecord,
    searchable_windows,
    utcnow,
)
from vidsearch.storage.store import StoreBase, to_blob

log = logging.getLogger(__name__)

# Windows whose texts go into a generation: live ones of videos that are not offline.
_LIVE_WINDOWS = searchable_windows()


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

    # --- index generations --------------------------------------------------------------------
    def create_generation(self, embedder_id: int, index_type: str, dimension: int) -> int:
        with self.session() as s:
            generation = IndexGeneration(embedder_id=embedder_id, index_type=index_type, dimension=dimension)
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

    def latest_generation(self) -> IndexGeneration | None:
        with self.session() as s:
            return s.scalar(
                select(IndexGeneration)
                .where(IndexGeneration.status == "ready")
                .order_by(IndexGeneration.id.desc())
                .limit(1)
            )
