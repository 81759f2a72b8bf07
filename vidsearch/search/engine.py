"""Hybrid retrieval over window texts: the query's nearest texts in the current vector index
generation, fused with the database's own full-text search, weighted by kind, lifted to windows,
shaped into moments, optionally re-ranked, and paged. docs/evaluation.md has how each step was chosen."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cachetools import TTLCache

from vidsearch.config import Settings
from vidsearch.errors import IndexMismatchError, InvalidQueryError, NotFoundError
from vidsearch.kinds import VISUAL, TextKind
from vidsearch.models.base import Embedder, Reranker
from vidsearch.models.loader import ModelSet
from vidsearch.search.moments import (
    WHOLE_VIDEO_HIT_KINDS,
    Moment,
    Snippet,
    WindowHit,
    merge_into_moments,
    moment_texts,
)
from vidsearch.search.visual import Background, ServedVisual, VisualSpace, background_of, nearest_windows, on_text_scale
from vidsearch.storage import keywords
from vidsearch.storage.context import VideoContext
from vidsearch.storage.database import Database
from vidsearch.storage.filters import SearchFilters
from vidsearch.storage.locations import TextHit, TextLocations
from vidsearch.storage.schema import VideoStatus
from vidsearch.storage.vectors import IndexManifest, VectorIndex, current_manifest, load_generation, read_manifest

log = logging.getLogger(__name__)

MAX_LIMIT = 100
MAX_OFFSET = 900  # deep pages cost candidates on every query; past this, narrow the search instead
MAX_QUERY_CHARS = 1000
SNIPPETS_PER_MOMENT = 3
# A picture a person searches by: its labels down to this probability count (a frame's need 0.3).
QUERY_LABEL_MIN_SCORE = 0.1


@dataclass
class SearchResponse:
    query: str
    results: list[Moment]
    offset: int = 0
    limit: int = 10
    filters: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    note: str | None = None  # why there are no results, when there are none

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape, shared by `vidsearch search --json` and GET /search."""
        return {
            "query": self.query,
            "offset": self.offset,
            "limit": self.limit,
            "filters": self.filters,
            "results": [m.to_dict() for m in self.results],
            "note": self.note,
        }


@dataclass(frozen=True)
class _Served:
    """What a search reads from one index generation."""

    index: VectorIndex
    locations: TextLocations | None  # None: looked up in SQL for each search's hits (a one-shot searcher)
    tagged: bool  # whether any window had tags (only imports add them, and an import makes a generation)
    background: Background  # a sample of the texts' vectors: what chance scores for a query
    context: VideoContext | None = None  # each video part's mean text vector (None: not built)

    @property
    def generation(self) -> int:
        return self.index.manifest.generation


class Searcher:
    """Thread-safe; reloads the vector index when an indexer publishes a new generation.

    Without an embedder given, queries are embedded by `ModelSet.query_embedder` (without torch where
    the query encoder's descriptor allows). `one_shot` is for a process that answers a query or two (the
    command line): nothing is read up front that one search does not need. Where each hit lives is asked
    of SQL for that search's few hundred texts instead of reading the whole table when the generation
    loads, and the generation's vectors are mapped from its file instead of copied into memory."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        *,
        one_shot: bool = False,
    ) -> None:
        self.settings = settings
        self.db = db
        self.one_shot = one_shot
        self._models = ModelSet(settings)
        self._embedder = embedder
        self._reranker = reranker
        self._served: _Served | None = None
        self._lock = threading.Lock()
        self.visual = VisualSpace(settings, self._models, mapped=one_shot)
        # People repeat searches and page through results: the same words, the same vector.
        self._query_vector = functools.lru_cache(maxsize=settings.query_cache_size)(self._embed_query)
        # Whole answers for the same words, filters and page, while the same index generation serves;
        # the time limit bounds how long a change to texts or tags outside a new generation goes unseen.
        self._responses: TTLCache[tuple[Any, ...], SearchResponse] = TTLCache(
            maxsize=max(1, settings.result_cache_size), ttl=settings.result_cache_seconds
        )
        self._responses_lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._models.query_embedder
        return self._embedder

    @property
    def reranker(self) -> Reranker | None:
        if self._reranker is None and self.settings.reranker:
            self._reranker = self._models.reranker
        return self._reranker

    def vector_index(self) -> VectorIndex:
        return self._serving().index

    def _serving(self) -> _Served:
        """The current generation's vector index and text locations, loaded once per generation."""
        manifest = read_manifest(self.settings.vector_dir)
        current = self._served
        if current is not None and manifest is not None and manifest.generation == current.generation:
            return current
        with self._lock:
            current = self._served
            if current is None or manifest is None or manifest.generation != current.generation:
                current_manifest(self.settings.vector_dir)  # nothing indexed: say so before loading a model
                index = load_generation(
                    self.settings.vector_dir,
                    self.embedder.spec,
                    use_gpu=self.settings.device != "cpu",
                    ef_search=self.settings.hnsw_ef_search,
                    nprobe=self.settings.ivf_nprobe,
                    mapped=self.one_shot,
                )
                locations = None if self.one_shot else self.db.text_locations()
                context = _load_context(self.settings.vector_dir, index.manifest)
                current = self._served = _Served(index, locations, self.db.has_tags(), background_of(index), context)
                log.info("serving vector index generation %d (%d vectors)", current.generation, index.size)
            return current

    def search(
        self,
        query: str,
        limit: int = 10,
        *,
        offset: int = 0,
        filters: SearchFilters | None = None,
        exclude: frozenset[int] = frozenset(),
        min_relevance: float | None = None,
    ) -> SearchResponse:
        """The moments that match a query; windows in `exclude` are left out ("more like this" leaves
        out the window it starts from). `min_relevance`: instead of the setting's."""
        query = " ".join(query.split())
        filters = filters or SearchFilters()
        _check(query, limit, offset)
        filters.check()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        served = self._serving()
        index = served.index
        visual = self.visual.serving() if filters.wants(VISUAL) else None
        key = (
            served.generation,
            visual.generation if visual is not None else None,
            query,
            limit,
            offset,
            json.dumps(filters.describe(), sort_keys=True),
            tuple(sorted(exclude)),
        )
        if self.settings.result_cache_size:
            with self._responses_lock:
                cached = self._responses.get(key)
            if cached is not None:  # a copy: callers may fill in or reorder what they get
                hit = copy.deepcopy(cached)
                hit.timings_ms = {"cached": (time.perf_counter() - t0) * 1e3}
                return hit
        vector = self._query_vector(query)
        t1 = time.perf_counter()
        depth = max(self.settings.search_candidates, 4 * (offset + limit))
        text_scores: dict[int, float] = {}
        found: dict[int, TextHit] = {}
        if not filters.kinds or filters.text_kinds:
            allowed = self.db.filtered_text_ids(filters) if filters.active else None
            if allowed is None or allowed.size:
                scores, ids = index.search(vector, depth, allowed)
                dense = {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}
                t2 = time.perf_counter()
                keyword: list[tuple[int, float]] = []
                if self.settings.keyword_weight > 0:
                    keyword = self.db.keyword_hits(
                        query,
                        filters,
                        depth,
                        max_documents=self._keyword_max_documents(index.size),
                        max_postings=self.settings.keyword_max_postings,
                        corpus=index.manifest.generation,
                    )
                timings["vector_search"] = (t2 - t1) * 1e3
                timings["keyword_search"] = (time.perf_counter() - t2) * 1e3
                text_scores = self._fuse(dense, keyword, lambda ids: self._cosines(index, vector, ids))
                found = self._locate(served, list(text_scores))
        described = {hit.video_id for hit in found.values() if hit.kind in WHOLE_VIDEO_HIT_KINDS}
        hits = _window_hits(found, text_scores, self.settings.kind_weights, self.db.whole_video_spans(described))
        # The context is a text-space fact: text hits are blended with it; picture hits keep the score
        # their space's background put on the text scale (a silent video's pictures say what its texts
        # cannot).
        if served.context is not None and self.settings.video_context_weight > 0 and hits:
            hits = _in_context(hits, served.context.similarities, vector, self.settings.video_context_weight)
        t3 = time.perf_counter()
        if visual is not None:
            picture_query = self.visual.text_vector(query)
            timings["visual_embed"] = (time.perf_counter() - t3) * 1e3
            t3 = time.perf_counter()
            seen = self._visual_hits(visual, picture_query, depth, filters, served, vector)
            hits = _merge_hits(hits, seen)
            timings["visual_search"] = (time.perf_counter() - t3) * 1e3
            t3 = time.perf_counter()
        if exclude:
            hits = [hit for hit in hits if hit.window_id not in exclude]
        reranker = self.reranker
        moments = merge_into_moments(
            hits,
            overlap_iou=self.settings.moment_overlap_iou,
            support=self.settings.moment_support,
            join_ratio=self.settings.moment_join_ratio,
            keep=offset + limit if reranker is None else max(offset + limit, self.settings.rerank_depth),
            shot_cuts=self.db.shot_cuts,
        )
        # Before any re-ranking: the minimum is on this score's scale (a re-ranker's is its own).
        floor = self.settings.min_relevance if min_relevance is None else min_relevance
        closest = next((m.score for m in moments if m.score < floor), None)
        named = self._naming_every_word(query, [m for m in moments if m.score < floor])
        moments = [m for m in moments if m.score >= floor or id(m) in named]
        t4 = time.perf_counter()
        if reranker is not None:
            moments = self._rerank(reranker, query, moments)
        page = moments[offset : offset + limit]
        self._describe(query, page, hits, text_scores, served.tagged)
        t5 = time.perf_counter()
        timings.update(embed=(t1 - t0) * 1e3, moments=(t4 - t3) * 1e3, rerank_and_texts=(t5 - t4) * 1e3)
        note = None if page else self.why_empty(filters, offset, closest if not moments else None, floor)
        response = SearchResponse(query, page, offset, limit, filters.describe(), timings, note)
        if self.settings.result_cache_size:
            with self._responses_lock:
                self._responses[key] = copy.deepcopy(response)
        return response

    def _naming_every_word(self, query: str, moments: list[Moment]) -> set[int]:
        """ids of the moments one of whose matched texts holds every word of the query. A short query
        ("zanzibar") lies far from a sentence in the embedder's space however exactly the sentence
        names it: such a moment is a result whatever its score."""
        terms = keywords.content_terms(query)
        if not moments or not terms:
            return set()
        wanted = {text_id for m in moments for text_id in m.text_ids}
        bodies = {
            text_id: body
            for texts in self.db.window_texts([w for m in moments for w in m.window_ids]).values()
            for text_id, kind, body in texts
            # A description (about the whole video, many sentences long) holds a short query's words by
            # chance: it is no sign the query names what it says.
            if text_id in wanted and kind not in WHOLE_VIDEO_HIT_KINDS
        }
        covering = {
            text_id
            for text_id, found in self.db.highlights(query, bodies).items()
            if keywords.covers(terms, [found.text[a:b] for a, b in found.spans])
        }
        return {id(m) for m in moments if m.text_ids & covering}

    def _locate(self, served: _Served, text_ids: list[int]) -> dict[int, TextHit]:
        """Where each text lives: from the generation's table, or SQL (one-shot searchers, and texts
        stored after the generation was loaded)."""
        if served.locations is None:
            return self.db.text_hits(text_ids)
        found, unknown = served.locations.hits(text_ids)
        if unknown:  # stored after this generation was loaded (an index run still going)
            found |= self.db.text_hits(unknown)
        return found

    def _visual_hits(
        self,
        visual: ServedVisual,
        query_vector: np.ndarray,
        depth: int,
        filters: SearchFilters,
        served: _Served,
        text_query: np.ndarray | None,
    ) -> list[WindowHit]:
        """The windows whose pictures are nearest the query's vector in the visual space, scored on the
        text space's scale (search/visual.py says how) when there is a text query to scale by."""
        allowed = self.db.filtered_window_ids(filters) if filters.active else None
        if allowed is not None and not allowed.size:
            return []
        scores = nearest_windows(visual, query_vector, depth, allowed)
        if text_query is not None:
            scores = on_text_scale(
                scores,
                visual.background.stats(query_vector),
                served.background.stats(text_query),
                self.settings.visual_weight,
            )
        places = self.db.window_places(list(scores))
        return [
            WindowHit(
                p.window_id, p.video_id, p.path, p.start, p.end, scores[w], frozenset({VISUAL}), delimited=p.imported
            )
            for w, p in places.items()
        ]

    def search_image(
        self,
        image: np.ndarray,
        limit: int = 10,
        *,
        offset: int = 0,
        filters: SearchFilters | None = None,
        label: str = "an image",
    ) -> SearchResponse:
        """The moments that look most like a picture: by its vector in the visual space when an
        image-text model is configured; otherwise by what the frame labeler sees in it, searched among
        the windows' `objects` texts (the offline default)."""
        filters = filters or SearchFilters()
        _check(label, limit, offset)
        visual = self.visual.serving()
        if visual is not None:
            vector = self.visual.image_vector(image)
            return self._similar_to(vector, label, limit, offset, filters, visual)
        labeler = self._models.labeler
        if labeler is None:
            raise InvalidQueryError(
                "searching by image needs an image-text model (VIDSEARCH_VISUAL_EMBEDDER) or the frame labels "
                "(VIDSEARCH_VISUAL_LABELS), and both are off"
            )
        seen = labeler.label([image], min_score=QUERY_LABEL_MIN_SCORE)[0]
        words = ", ".join(dict.fromkeys(w for found in seen for w in (found.name, *found.synonyms[:2])))
        shown = f"{label} (seen as: {', '.join(found.name for found in seen) or 'nothing the labeler knows'})"
        if not words:
            return SearchResponse(shown, [], offset, limit, filters.describe())
        return self._by_objects(words, shown, limit, offset, filters)

    def similar(
        self, window_id: int, limit: int = 10, *, offset: int = 0, filters: SearchFilters | None = None
    ) -> SearchResponse:
        """More like a window: the windows nearest its picture (or, offline, its `objects` text), itself
        and its neighbours in the same video left out."""
        filters = filters or SearchFilters()
        label = f"like window {window_id}"
        _check(label, limit, offset)
        place = self.db.window_places([window_id]).get(window_id)
        if place is None:
            raise NotFoundError(f"window {window_id} not found")
        if place.imported:  # an imported span has no picture of its own: the indexer's window under it has
            source = self.db.indexer_window_over(place.video_id, place.start, place.end)
            if source is not None:
                window_id = source
        visual = self.visual.serving()
        stored = self.db.window_vector(window_id, self.db.model_record(self.visual.embedder.spec)) if visual else None
        if visual is not None and stored is not None:
            return self._similar_to(
                stored[0][None, :], label, limit, offset, filters, visual, {place.window_id, window_id}
            )
        objects = [body for _, kind, body in self.db.window_texts([window_id])[window_id] if kind == "objects"]
        if not objects:
            raise InvalidQueryError(
                f"window {window_id} has no picture to compare: no frame vector and no labels of what it shows"
            )
        return self._by_objects(objects[0], label, limit, offset, filters, {place.window_id, window_id})

    def _similar_to(
        self,
        vector: np.ndarray,
        label: str,
        limit: int,
        offset: int,
        filters: SearchFilters,
        visual: ServedVisual,
        exclude: set[int] | None = None,
    ) -> SearchResponse:
        depth = max(self.settings.search_candidates, 4 * (offset + limit))
        hits = self._visual_hits(visual, vector, depth, filters, self._serving(), None)
        hits = [hit for hit in hits if hit.window_id not in (exclude or set())]
        moments = merge_into_moments(
            hits,
            overlap_iou=self.settings.moment_overlap_iou,
            support=self.settings.moment_support,
            join_ratio=self.settings.moment_join_ratio,
            keep=offset + limit,
            shot_cuts=self.db.shot_cuts,
        )
        page = moments[offset : offset + limit]
        self._describe("", page, hits, {}, self._serving().tagged)
        return SearchResponse(label, page, offset, limit, filters.describe())

    def _by_objects(
        self,
        words: str,
        label: str,
        limit: int,
        offset: int,
        filters: SearchFilters,
        exclude: set[int] | None = None,
    ) -> SearchResponse:
        """Offline similarity: the labels' words searched among what windows show."""
        narrowed = dataclasses.replace(filters, kinds=(TextKind.OBJECTS,))
        # Labels' words are not a sentence: the marks below decide what matches, not the minimum relevance.
        response = self.search(
            words, limit, offset=offset, filters=narrowed, exclude=frozenset(exclude or ()), min_relevance=0.0
        )
        response.query, response.filters = label, filters.describe()
        # Only windows that show one of the same things: a near neighbour in the sentence embedder's
        # space whose words share nothing with the picture's is a guess, not a match.
        response.results = [
            m for m in response.results if any(s.kind == TextKind.OBJECTS and s.marks for s in m.snippets)
        ]
        return response

    def why_empty(
        self, filters: SearchFilters, offset: int = 0, closest: float | None = None, floor: float | None = None
    ) -> str:
        """Why a search found nothing, as far as the library can tell: a filter that matches nothing by
        itself, filters that match only apart, a page past the last result, or nothing as close to the
        query as the minimum relevance asks (`closest`: the best score it cut)."""
        if closest is not None and offset == 0:
            return (
                f"nothing in the library is close to this query (the closest scored {closest:.2f}, below the "
                f"minimum relevance {self.settings.min_relevance if floor is None else floor:g}; "
                "VIDSEARCH_MIN_RELEVANCE sets it)"
            )
        if not self.db.any_text(SearchFilters()):
            counts = self.db.status_counts()
            gone = [f"{counts[s]} {s}" for s in (VideoStatus.MISSING, VideoStatus.FAILED) if counts.get(s)]
            if gone:  # videos are known, but none is searchable now
                return f"nothing is searchable now: {', '.join(gone)} (see vidsearch status)"
            return "nothing is indexed yet"
        contradiction = filters.contradiction()
        if contradiction:
            return contradiction
        if filters.active:
            for reason, alone in filters.each():
                if not self.db.any_text(alone):
                    return reason
            if not self.db.any_text(filters):
                return "each filter matches something, but no text matches them all together"
        if offset > 0:
            return f"the results end before {offset}: try a smaller offset"
        return "no results"

    def _keyword_max_documents(self, corpus_size: int) -> int:
        settings = self.settings
        share = int(settings.keyword_max_df * corpus_size)
        return max(settings.keyword_always_kept, share)

    def _embed_query(self, query: str) -> np.ndarray:
        vector = self.embedder.embed([query])
        vector.setflags(write=False)  # shared by every search for these words
        return vector

    def _cosines(self, index: VectorIndex, vector: np.ndarray, text_ids: list[int]) -> dict[int, float]:
        """The query's cosine with texts outside the dense candidates: from the served generation, else
        (stored since it was built) from their stored vectors."""
        found = index.similarities(vector, text_ids)
        missing = [t for t in text_ids if t not in found]
        if missing:
            spec = self.embedder.spec
            stored = self.db.text_vectors(self.db.model_record(spec), missing, index.manifest.dimension)
            query = np.asarray(vector, dtype=np.float32).reshape(-1)
            found |= {t: float(v @ query) for t, v in stored.items()}
        return found

    def _fuse(
        self,
        dense: dict[int, float],
        keyword: list[tuple[int, float]],
        cosines: Callable[[list[int]], dict[int, float]] | None = None,
    ) -> dict[int, float]:
        """Cosine similarity c raised by keyword_weight times the keyword score relative to the query's
        best, in proportion to c: c x (1 + w x kw / best). The keyword engines' scores (FTS5 BM25,
        PostgreSQL ts_rank) have no common scale, so only their order within a query is used; scaling the
        bonus by c keeps the result on the cosine's absolute scale, which the minimum relevance needs (an
        additive bonus gave a nonsense query's chance keyword match +w). A keyword hit outside the dense
        candidates gets the weakest candidate's similarity: an upper bound of its own, so it is never
        ranked above what it would have scored; with `cosines`, such hits get their own cosine."""
        floor = min(dense.values(), default=0.0)
        fused = dict(dense)
        best = max((score for _, score in keyword), default=0.0)
        if best > 0:
            weight = self.settings.keyword_weight
            outside = [text_id for text_id, _ in keyword if text_id not in dense]
            own = cosines(outside) if cosines is not None and outside else {}
            for text_id, score in keyword:
                cosine = dense.get(text_id, own.get(text_id, floor))
                fused[text_id] = cosine * (1.0 + weight * max(score, 0.0) / best) if cosine > 0 else cosine
        return fused

    def _rerank(self, reranker: Reranker, query: str, moments: list[Moment]) -> list[Moment]:
        head, tail = moments[: self.settings.rerank_depth], moments[self.settings.rerank_depth :]
        texts = self.db.window_texts([w for m in head for w in m.window_ids])
        passages = [
            " ".join(moment_texts(m.window_ids, texts, m.text_ids if m.whole_video else (), whole_video=m.whole_video))
            for m in head
        ]
        for moment, score in zip(head, reranker.score(query, passages), strict=True):
            moment.score = score
        return sorted(head, key=lambda m: -m.score) + tail

    def _describe(
        self, query: str, page: list[Moment], hits: list[WindowHit], scores: dict[int, float], tagged: bool
    ) -> None:
        """Fill in each moment's texts by kind, its best matching snippets with the query words marked,
        and its tags."""
        window_ids = [w for m in page for w in m.window_ids]
        texts = self.db.window_texts(window_ids)
        starts = {hit.window_id: hit.start for hit in hits if not hit.whole_video}
        marks = self.db.highlights(query, {t: body for w in window_ids for t, _, body in texts.get(w, [])})
        tags = self.db.window_tags(window_ids) if tagged else {}
        for moment in page:
            moment.window_ids.sort(key=lambda w: starts.get(w, 0.0))
            moment.texts = moment_texts(moment.window_ids, texts, moment.text_ids, whole_video=moment.whole_video)
            moment.tags = sorted({t for w in moment.window_ids for t in tags.get(w, [])})
            # A moment's snippets are what it says (a stretch does not say the video's description; the
            # whole video says only that).
            candidates = [
                (text_id, kind, body)
                for w in moment.window_ids
                for text_id, kind, body in texts.get(w, [])
                if text_id in moment.text_ids
                or (text_id in marks and not moment.whole_video and kind not in WHOLE_VIDEO_HIT_KINDS)
            ]
            candidates.sort(key=lambda c: (-scores.get(c[0], -1.0), c[0]))
            seen: set[str] = set()
            for text_id, kind, body in candidates:
                if body in seen:
                    continue
                seen.add(body)
                highlight = marks.get(text_id)
                moment.snippets.append(Snippet(text_id, kind, body, highlight.spans if highlight else []))
                if len(moment.snippets) == SNIPPETS_PER_MOMENT:
                    break


def _check(query: str, limit: int, offset: int) -> None:
    if not query:
        raise InvalidQueryError("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQueryError(f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidQueryError(f"offset must be between 0 and {MAX_OFFSET}")


def _load_context(directory: Path, manifest: IndexManifest) -> VideoContext | None:
    """The generation's video context, or None (built before it existed, or its file is damaged: search
    goes on without it, and `vidsearch reindex` builds it again)."""
    if not manifest.context_file:
        return None
    try:
        return VideoContext.load(directory / manifest.context_file, manifest.dimension)
    except IndexMismatchError as exc:
        log.warning("searching without video context: %s", exc)
        return None


def _in_context(
    hits: list[WindowHit],
    similarities: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    query: np.ndarray,
    weight: float,
) -> list[WindowHit]:
    """Each hit's score blended with the query's similarity to its video part's context:
    (1 - weight) x score + weight x context. A hit whose video has no context yet keeps its score."""
    video_ids = np.fromiter((h.video_id for h in hits), dtype=np.int64, count=len(hits))
    starts = np.fromiter((h.start for h in hits), dtype=np.float64, count=len(hits))
    ends = np.fromiter((h.end for h in hits), dtype=np.float64, count=len(hits))
    context = similarities(query, video_ids, starts, ends)
    scores = np.fromiter((h.score for h in hits), dtype=np.float64, count=len(hits))
    blended = np.where(np.isnan(context), scores, (1.0 - weight) * scores + weight * context).tolist()
    # Built whole rather than with _replace, which costs twice as much for the few hundred hits a search has.
    return [WindowHit(*h[:5], score, *h[6:]) for h, score in zip(hits, blended, strict=True)]


def _merge_hits(text: list[WindowHit], visual: list[WindowHit]) -> list[WindowHit]:
    """One hit per window from both spaces: the better score, and every kind that matched (a hit on
    the whole video stays apart from its first window's)."""
    merged = {(hit.window_id, hit.whole_video): hit for hit in text}
    for hit in visual:
        key = (hit.window_id, False)
        prior = merged.get(key)
        if prior is None:
            merged[key] = hit
            continue
        best = hit if hit.score > prior.score else prior
        merged[key] = best._replace(kinds=prior.kinds | hit.kinds, text_ids=prior.text_ids)
    return list(merged.values())


def _window_hits(
    found: dict[int, TextHit],
    scores: dict[int, float],
    kind_weights: dict[str, float],
    whole_video_spans: dict[int, tuple[float, float]],
) -> list[WindowHit]:
    """One hit per window: its best text's score (times that text kind's weight), with every kind and
    text that matched. A text about the whole video (its description, kept on its first window) is a
    hit of its own over the whole video (`whole_video_spans`)."""
    best: dict[int, tuple[float, TextHit]] = {}
    kinds: dict[int, set[str]] = {}
    text_ids: dict[int, set[int]] = {}
    whole: list[WindowHit] = []
    for text_id, hit in found.items():
        score = scores[text_id] * kind_weights.get(hit.kind, 1.0)
        if hit.kind in WHOLE_VIDEO_HIT_KINDS and hit.video_id in whole_video_spans:
            start, end = whole_video_spans[hit.video_id]
            whole.append(
                WindowHit(
                    hit.window_id,
                    hit.video_id,
                    hit.path,
                    start,
                    end,
                    score,
                    frozenset({hit.kind}),
                    frozenset({text_id}),
                    delimited=True,
                    whole_video=True,
                )
            )
            continue
        prior = best.get(hit.window_id)
        if prior is None or score > prior[0]:
            best[hit.window_id] = (score, hit)
        kinds.setdefault(hit.window_id, set()).add(hit.kind)
        text_ids.setdefault(hit.window_id, set()).add(text_id)
    return [
        WindowHit(
            hit.window_id,
            hit.video_id,
            hit.path,
            hit.start,
            hit.end,
            score,
            frozenset(kinds[window_id]),
            frozenset(text_ids[window_id]),
            delimited=hit.imported,
        )
        for window_id, (score, hit) in best.items()
    ] + whole
