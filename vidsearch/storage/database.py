"""The repository: every SQL read and write vidsearch makes goes through Database.

SQLite (the default) runs in WAL mode with a busy timeout, so the API can read while an indexer
writes; any SQLAlchemy URL works, and PostgreSQL passes the same tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, bindparam, create_engine, delete, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from vidsearch.errors import NotFoundError, StorageError
from vidsearch.models.base import ModelSpec
from vidsearch.storage import keywords, migrate
from vidsearch.storage.filters import SearchFilters
from vidsearch.storage.imports import ImportedWindowsMixin
from vidsearch.storage.library import LibraryMixin
from vidsearch.storage.locations import TextHit, TextLocations
from vidsearch.storage.schema import (
    IndexGeneration,
    LibraryRoot,
    ModelRecord,
    TextEmbedding,
    VideoRecord,
    VideoStatus,
    WindowRecord,
    WindowTag,
    WindowTextRecord,
    searchable_windows,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewText:
    window_index: int
    kind: str
    text: str
    model_id: int | None
    source: str = ""


@dataclass(frozen=True)
class Highlight:
    """A stored text with the character spans where query terms matched."""

    text: str
    spans: list[tuple[int, int]]


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


class Database(ImportedWindowsMixin, LibraryMixin):
    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot use database {parsed.render_as_string(hide_password=True)}: {exc}") from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            try:
                migrate.upgrade(self.engine)
            except SQLAlchemyError as exc:
                raise StorageError(
                    f"cannot open database {parsed.render_as_string(hide_password=True)}: "
                    f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
                ) from exc
        self.has_keyword_search = keywords.available(self.engine)
        self._document_counts: dict[tuple[str, int | None], int] = {}
        self._counted_corpus: Any = None
        self._count_lock = threading.Lock()
        self._plain_keyword_selects: dict[int, Any] = {}
        self._count_selects: dict[int | None, Any] = {}

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for the reads a search makes: without the ORM session's bookkeeping, a
        statement costs half as much (0.15 against 0.3 ms for a page's texts)."""
        with self.engine.connect() as conn:
            yield conn

    # --- models -------------------------------------------------------------------------------
    def model_record(self, spec: ModelSpec) -> int:
        """The id of the row describing this model, created on first use."""
        with self.session() as s:
            found = s.scalar(select(ModelRecord.id).where(ModelRecord.fingerprint == spec.fingerprint))
            if found is not None:
                return found
            record = ModelRecord(
                fingerprint=spec.fingerprint,
                kind=spec.kind,
                name=spec.name,
                model_id=spec.model_id,
                revision=spec.revision,
                dimension=spec.dimension,
                settings=spec.settings,
            )
            s.add(record)
            s.flush()
            return record.id

    def model_by_id(self, model_id: int) -> ModelRecord:
        with self.session() as s:
            record = s.get(ModelRecord, model_id)
            if record is None:
                raise NotFoundError(f"model record {model_id} not found")
            return record

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
    ) -> list[int]:
        """Replace a video's windows, texts and vectors and mark it done, all in one transaction.
        Returns the new windows' ids, in window order."""
        if len(texts) != len(vectors):
            raise StorageError(f"{len(texts)} texts but {len(vectors)} vectors")
        with self.session() as s:
            # Retire, not delete: the generation being served still resolves its hits to these rows.
            # Imported windows are not the indexer's to replace: they stay as they are.
            s.execute(
                update(WindowRecord)
                .where(
                    WindowRecord.video_id == video_id,
                    WindowRecord.retired.is_(False),
                    WindowRecord.import_key.is_(None),
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
                TextEmbedding(text_id=row.id, embedder_id=embedder_id, vector=_to_blob(vec))
                for row, vec in zip(text_rows, vectors, strict=True)
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
                    .selectinload(WindowTextRecord.model)
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

    def window_span(self, window_id: int) -> WindowSpan | None:
        """Where a window lies in its video (for a thumbnail taken from the file), or None."""
        with self.reading() as conn:
            row = conn.execute(
                select(WindowRecord.video_id, WindowRecord.start, WindowRecord.end, VideoRecord.start_time)
                .join(VideoRecord, VideoRecord.id == WindowRecord.video_id)
                .where(WindowRecord.id == window_id)
            ).first()
        return None if row is None else WindowSpan(row[0], row[1], row[2], row[3] or 0.0)

    # --- texts and vectors --------------------------------------------------------------------
    def text_hits(self, text_ids: Sequence[int]) -> dict[int, TextHit]:
        if not len(text_ids):
            return {}
        stmt = (
            select(
                WindowTextRecord.id,
                WindowRecord.id,
                VideoRecord.id,
                VideoRecord.path,
                WindowRecord.start,
                WindowRecord.end,
                WindowTextRecord.kind,
                WindowTextRecord.source,
            )
            .join(WindowRecord, WindowTextRecord.window_id == WindowRecord.id)
            .join(VideoRecord, WindowRecord.video_id == VideoRecord.id)
            .where(WindowTextRecord.id.in_([int(i) for i in text_ids]))
        )
        with self.reading() as s:
            return {row[0]: TextHit(*row) for row in s.execute(stmt)}

    def text_locations(self, batch: int = 50_000) -> TextLocations:
        """Where every stored text lives, read in batches of `batch` rows (for a served generation)."""

        def parts() -> Iterator[list[Any]]:
            last: Any = -1
            while True:
                stmt = (
                    select(
                        WindowTextRecord.id,
                        WindowRecord.id,
                        WindowRecord.video_id,
                        WindowRecord.start,
                        WindowRecord.end,
                        WindowTextRecord.kind,
                        WindowTextRecord.source,
                    )
                    .join(WindowRecord, WindowTextRecord.window_id == WindowRecord.id)
                    .where(WindowTextRecord.id > last)
                    .order_by(WindowTextRecord.id)
                    .limit(batch)
                )
                with self.reading() as s:
                    rows = [tuple(row) for row in s.execute(stmt)]
                if not rows:
                    return
                last = rows[-1][0]
                yield rows

        locations = TextLocations(parts())
        with self.reading() as s:  # read after the texts: every video they name is here
            locations.paths.update((i, p) for i, p in s.execute(select(VideoRecord.id, VideoRecord.path)))
        return locations

    def window_texts(self, window_ids: Sequence[int]) -> dict[int, list[tuple[int, str, str]]]:
        """(text id, kind, text) of each window, in the order they were stored."""
        out: dict[int, list[tuple[int, str, str]]] = {int(w): [] for w in window_ids}
        if not out:
            return out
        with self.reading() as s:
            for window_id, text_id, kind, body in s.execute(_WINDOW_TEXTS, {"ids": list(out)}):
                out[window_id].append((text_id, kind, body))
        return out

    def has_tags(self) -> bool:
        with self.reading() as s:
            return s.scalar(select(WindowTag.window_id).limit(1)) is not None

    def window_tags(self, window_ids: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        if not window_ids:
            return out
        with self.reading() as s:
            for window_id, tag in s.execute(_WINDOW_TAGS, {"ids": [int(w) for w in window_ids]}):
                out.setdefault(window_id, []).append(tag)
        return out

    # --- search -------------------------------------------------------------------------------
    def filtered_text_ids(self, filters: SearchFilters) -> np.ndarray:
        """Ids of the live texts a filtered search may return (for the vector index's id selector)."""
        stmt = (
            select(WindowTextRecord.id)
            .join(WindowRecord, WindowTextRecord.window_id == WindowRecord.id)
            .join(VideoRecord, WindowRecord.video_id == VideoRecord.id)
            .where(*filters.conditions())
        )
        with self.reading() as s:
            return np.fromiter(s.scalars(stmt), dtype=np.int64)

    def any_text(self, filters: SearchFilters) -> bool:
        """Whether any live text passes the filters (without listing them all)."""
        stmt = (
            select(WindowTextRecord.id)
            .join(WindowRecord, WindowTextRecord.window_id == WindowRecord.id)
            .join(VideoRecord, WindowRecord.video_id == VideoRecord.id)
            .where(*filters.conditions())
            .limit(1)
        )
        with self.reading() as s:
            return s.scalar(stmt) is not None

    def keyword_hits(
        self,
        query: str,
        filters: SearchFilters,
        depth: int,
        *,
        max_documents: int | None = None,
        max_postings: int | None = None,
        corpus: Any = None,
    ) -> list[tuple[int, float]]:
        """(text id, score) of the best texts containing any query word, best first, by the database's
        own full-text engine; empty where it has none.

        The engine scores every text that holds a query word, so the work is bounded by what the words
        match: a word in more than `max_documents` texts is left out, and the words are taken rarest
        first while the texts they match add up to at most `max_postings` (the rarest carry the most
        weight). Empty when no word is left. Counts are cached while `corpus` (e.g. the index
        generation) stays the same."""
        if not self.has_keyword_search:
            return []
        terms = keywords.query_terms(query)
        dialect = self.engine.dialect.name
        bounds = [b for b in (max_documents, max_postings) if b is not None]
        with self.reading() as conn:  # one connection for the counts and the query
            if bounds:
                # Counted only up to the tightest bound: a word past it is left out however common it is.
                counts = {t: self._document_count(conn, t, corpus, min(bounds)) for t in terms}
                if max_documents is not None:
                    terms = [t for t in terms if counts[t] <= max_documents]
                if max_postings is not None:
                    kept, total = set(), 0
                    for term in sorted(terms, key=lambda t: (counts[t], t)):
                        if total + counts[term] > max_postings:
                            break
                        kept.add(term)
                        total += counts[term]
                    terms = [t for t in terms if t in kept]
            if not terms:
                return []
            if filters.active:
                stmt = keywords.keyword_select(dialect, filters.conditions(), depth)
            else:  # the same statement for every query of this depth: building one costs as much as running it
                if depth not in self._plain_keyword_selects:
                    plain = keywords.keyword_select(dialect, filters.conditions(), depth, narrowed=False)
                    self._plain_keyword_selects[depth] = plain
                stmt = self._plain_keyword_selects[depth]
            if stmt is None:
                return []
            rows = conn.execute(stmt, {"match": keywords.match_expression(dialect, terms)})
            return [(int(text_id), float(score)) for text_id, score in rows]

    def document_count(self, term: str, corpus: Any = None, *, at_most: int | None = None) -> int:
        """How many texts hold the term, per the keyword engine; with `at_most`, counted no further than
        at_most + 1 (the engine walks a word's texts to count them: 40 ms for one in 100k texts).
        Counted once per term, bound and corpus."""
        with self.reading() as conn:
            return self._document_count(conn, term, corpus, at_most)

    def _document_count(self, conn: Connection, term: str, corpus: Any, at_most: int | None) -> int:
        key = (term, at_most)
        with self._count_lock:
            if corpus != self._counted_corpus:
                self._document_counts.clear()
                self._counted_corpus = corpus
            known = self._document_counts.get(key)
        if known is not None:
            return known
        limit = None if at_most is None else at_most + 1
        if limit not in self._count_selects:  # built once per bound, like the keyword query
            self._count_selects[limit] = keywords.document_count_select(self.engine.dialect.name, limit)
        stmt = self._count_selects[limit]
        count = 0
        if stmt is not None:
            match = keywords.match_expression(self.engine.dialect.name, [term])
            count = int(conn.scalar(stmt, {"match": match}) or 0)
        with self._count_lock:
            if corpus == self._counted_corpus:
                if len(self._document_counts) >= _MAX_COUNTED_TERMS:
                    self._document_counts.clear()
                self._document_counts[key] = count
        return count

    def highlights(self, query: str, texts: Mapping[int, str]) -> dict[int, Highlight]:
        """Those of the texts (id: text) that contain a query word, with where the words are, as the
        keyword engine matches them."""
        if not self.has_keyword_search:
            return {}
        terms = keywords.query_terms(query)
        if self.is_sqlite:
            marked = keywords.highlight_sqlite(terms, texts)
        else:
            stmt = keywords.highlight_select(self.engine.dialect.name, terms, list(texts))
            if stmt is None:
                return {}
            with self.reading() as s:
                marked = {int(text_id): text for text_id, text in s.execute(stmt)}
        return {text_id: Highlight(*keywords.marks_from(text)) for text_id, text in marked.items()}

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
                TextEmbedding(text_id=int(t), embedder_id=embedder_id, vector=_to_blob(v))
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


# Query words whose document counts are remembered (a few hundred KB).
_MAX_COUNTED_TERMS = 50_000
_LIVE_WINDOWS = searchable_windows()
# Statements every search runs, built once: building one costs about as much as running it.
_WINDOW_TEXTS = (
    select(WindowTextRecord.window_id, WindowTextRecord.id, WindowTextRecord.kind, WindowTextRecord.text)
    .where(WindowTextRecord.window_id.in_(bindparam("ids", expanding=True)))
    .order_by(WindowTextRecord.id)
)
_WINDOW_TAGS = (
    select(WindowTag.window_id, WindowTag.tag)
    .where(WindowTag.window_id.in_(bindparam("ids", expanding=True)))
    .order_by(WindowTag.tag)
)


def _to_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


_SQLITE_MMAP_BYTES = 2**31 - 2**16  # SQLite's own ceiling (SQLITE_MAX_MMAP_SIZE) on 64-bit builds


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; NORMAL: consistent after an application crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Searches read the keyword index's posting lists over and over: mapped into memory they are read
    # without a system call each, and shared by every connection through the OS page cache.
    cursor.execute(f"PRAGMA mmap_size={_SQLITE_MMAP_BYTES}")
    cursor.close()


def as_iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
