"""The reads a search makes: where hits live, a page's texts and tags, the filters' text ids, keyword
search by the database's own full-text engine, and highlights."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, bindparam, func, select

from vidsearch.storage import keywords
from vidsearch.storage.filters import SearchFilters
from vidsearch.storage.locations import TextHit, TextLocations
from vidsearch.storage.schema import (
    VideoRecord,
    WindowRecord,
    WindowTag,
    WindowTextRecord,
)
from vidsearch.storage.store import StoreBase

log = logging.getLogger(__name__)

# Query words whose document counts are remembered (a few hundred KB).
_MAX_COUNTED_TERMS = 50_000
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


@dataclass(frozen=True)
class Highlight:
    """A stored text with the character spans where query terms matched."""

    text: str
    spans: list[tuple[int, int]]


class WindowPlace(NamedTuple):
    window_id: int
    video_id: int
    path: str
    start: float
    end: float
    imported: bool


class RetrievalMixin(StoreBase):
    def _init_retrieval(self) -> None:
        self.has_keyword_search = keywords.available(self.engine)
        self._document_counts: dict[tuple[str, int | None], int] = {}
        self._counted_corpus: Any = None
        self._count_lock = threading.Lock()
        self._plain_keyword_selects: dict[int, Any] = {}
        self._count_selects: dict[int | None, Any] = {}

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

    def filtered_window_ids(self, filters: SearchFilters) -> np.ndarray:
        """Ids of the live windows a filtered search may return from the visual space (the kinds of text
        asked for do not narrow pictures)."""
        stmt = (
            select(WindowRecord.id)
            .join(VideoRecord, WindowRecord.video_id == VideoRecord.id)
            .where(*filters.conditions(texts=False))
        )
        with self.reading() as s:
            return np.fromiter(s.scalars(stmt), dtype=np.int64)

    def window_places(self, window_ids: Sequence[int]) -> dict[int, WindowPlace]:
        """Where each window lies (video, path, span) and whether an import gave it, for visual hits."""
        if not len(window_ids):
            return {}
        stmt = (
            select(
                WindowRecord.id,
                WindowRecord.video_id,
                VideoRecord.path,
                WindowRecord.start,
                WindowRecord.end,
                WindowRecord.import_key.is_not(None),
            )
            .join(VideoRecord, WindowRecord.video_id == VideoRecord.id)
            .where(WindowRecord.id.in_([int(w) for w in window_ids]))
        )
        with self.reading() as s:
            return {int(row[0]): WindowPlace(*row) for row in s.execute(stmt)}

    def whole_video_spans(self, video_ids: Collection[int]) -> dict[int, tuple[float, float]]:
        """Each video as one moment (what a hit on a text about the whole video points at): from 0 to its
        duration, or to its last live window's end where the duration is unknown (a video known by key)."""
        if not video_ids:
            return {}
        last = (
            select(WindowRecord.video_id, func.max(WindowRecord.end).label("end"))
            .where(WindowRecord.retired.is_(False), WindowRecord.video_id.in_(list(video_ids)))
            .group_by(WindowRecord.video_id)
            .subquery()
        )
        stmt = (
            select(VideoRecord.id, VideoRecord.duration, last.c.end)
            .outerjoin(last, last.c.video_id == VideoRecord.id)
            .where(VideoRecord.id.in_(list(video_ids)))
        )
        with self.reading() as conn:
            return {int(i): (0.0, float(duration or end or 0.0)) for i, duration, end in conn.execute(stmt)}

    def indexer_window_over(self, video_id: int, start: float, end: float) -> int | None:
        """The live window the indexer cut that overlaps this span of a video the most, if any."""
        stmt = select(WindowRecord.id, WindowRecord.start, WindowRecord.end).where(
            WindowRecord.video_id == video_id,
            WindowRecord.retired.is_(False),
            WindowRecord.import_key.is_(None),
            WindowRecord.start < end,
            WindowRecord.end > start,
        )
        with self.reading() as s:
            rows = s.execute(stmt).all()
        if not rows:
            return None
        best = max(rows, key=lambda r: (min(r[2], end) - max(r[1], start), -r[1]))
        return int(best[0])

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
        counts: dict[str, int] = {}
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
            if dialect == "postgresql" and not bounds:  # its rank weighs words by their counts
                counts = {t: self._document_count(conn, t, corpus, None) for t in terms}
            texts = self._text_count(conn, corpus) if dialect == "postgresql" else 0
            rows = conn.execute(stmt, keywords.keyword_parameters(dialect, terms, counts, texts))
            return [(int(text_id), float(score)) for text_id, score in rows]

    def _text_count(self, conn: Connection, corpus: Any) -> int:
        """How many texts the keyword engine holds (what a word's rarity is out of), counted once per corpus."""
        return self._counted(
            ("", None), corpus, lambda: int(conn.scalar(select(func.count()).select_from(WindowTextRecord)) or 0)
        )

    def document_count(self, term: str, corpus: Any = None, *, at_most: int | None = None) -> int:
        """How many texts hold the term, per the keyword engine; with `at_most`, counted no further than
        at_most + 1 (the engine walks a word's texts to count them: 40 ms for one in 100k texts).
        Counted once per term, bound and corpus."""
        with self.reading() as conn:
            return self._document_count(conn, term, corpus, at_most)

    def _document_count(self, conn: Connection, term: str, corpus: Any, at_most: int | None) -> int:
        def count() -> int:
            limit = None if at_most is None else at_most + 1
            if limit not in self._count_selects:  # built once per bound, like the keyword query
                self._count_selects[limit] = keywords.document_count_select(self.engine.dialect.name, limit)
            stmt = self._count_selects[limit]
            if stmt is None:
                return 0
            match = keywords.match_expression(self.engine.dialect.name, [term])
            return int(conn.scalar(stmt, {"match": match}) or 0)

        return self._counted((term, at_most), corpus, count)

    def _counted(self, key: tuple[str, int | None], corpus: Any, count: Callable[[], int]) -> int:
        """A count kept while `corpus` (the index generation) stays the same: counted once (the empty
        word stands for all texts)."""
        with self._count_lock:
            if corpus != self._counted_corpus:
                self._document_counts.clear()
                self._counted_corpus = corpus
            known = self._document_counts.get(key)
        if known is not None:
            return known
        value = count()
        with self._count_lock:
            if corpus == self._counted_corpus:
                if len(self._document_counts) >= _MAX_COUNTED_TERMS:
                    self._document_counts.clear()
                self._document_counts[key] = value
        return value

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
