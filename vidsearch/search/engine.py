"""Dense retrieval over window texts: embed the query, find the nearest texts in the current vector
index generation, lift them to windows, and merge windows into moments."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from vidsearch.config import Settings
from vidsearch.errors import InvalidQueryError
from vidsearch.models.base import Embedder
from vidsearch.models.loader import ModelSet
from vidsearch.search.moments import Moment, WindowHit, merge_into_moments, moment_texts
from vidsearch.storage.database import Database
from vidsearch.storage.vectors import VectorIndex, load_generation, read_manifest

log = logging.getLogger(__name__)

MAX_K = 100
MAX_QUERY_CHARS = 1000


@dataclass
class SearchResponse:
    query: str
    results: list[Moment]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape, shared by `vidsearch search --json` and GET /search."""
        return {
            "query": self.query,
            "results": [m.to_dict() for m in self.results],
        }


class Searcher:
    """Thread-safe; reloads the vector index when an indexer publishes a new generation."""

    def __init__(self, settings: Settings, db: Database, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.db = db
        self._embedder = embedder
        self._index: VectorIndex | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = ModelSet(self.settings).embedder
        return self._embedder

    def vector_index(self) -> VectorIndex:
        manifest = read_manifest(self.settings.vector_dir)
        current = self._index
        if current is not None and manifest is not None and manifest.generation == current.manifest.generation:
            return current
        with self._lock:
            if self._index is None or manifest is None or manifest.generation != self._index.manifest.generation:
                self._index = load_generation(self.settings.vector_dir, self.embedder.spec)
                log.info(
                    "serving vector index generation %d (%d vectors)", self._index.manifest.generation, self._index.size
                )
            return self._index

    def search(self, query: str, k: int = 10) -> SearchResponse:
        query = " ".join(query.split())
        if not query:
            raise InvalidQueryError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidQueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        if not 1 <= k <= MAX_K:
            raise InvalidQueryError(f"k must be between 1 and {MAX_K}")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        index = self.vector_index()
        vector = self.embedder.embed([query])
        t1 = time.perf_counter()
        scores, ids = index.search(vector, self.settings.search_candidates)
        t2 = time.perf_counter()
        hits = self._window_hits(scores[0], ids[0])
        moments = merge_into_moments(hits, k)
        order = {w.window_id: w.start for w in hits}
        texts = self.db.window_texts([w for m in moments for w in m.window_ids])
        for moment in moments:
            moment.window_ids.sort(key=lambda w: order[w])
            moment.texts = moment_texts(moment.window_ids, texts)
        t3 = time.perf_counter()
        timings.update(embed=(t1 - t0) * 1e3, vector_search=(t2 - t1) * 1e3, moments=(t3 - t2) * 1e3)
        return SearchResponse(query, moments, timings)

    def _window_hits(self, scores: Any, ids: Any) -> list[WindowHit]:
        found = self.db.text_hits([int(i) for i in ids if i >= 0])
        best: dict[int, WindowHit] = {}
        for score, text_id in zip(scores, ids, strict=True):
            hit = found.get(int(text_id))
            if hit is None:  # -1 padding, or a text deleted after this generation was built
                continue
            prior = best.get(hit.window_id)
            if prior is None or score > prior.score:
                kinds = (prior.kinds if prior else frozenset()) | {hit.kind}
                best[hit.window_id] = WindowHit(
                    hit.window_id, hit.video_id, hit.path, hit.start, hit.end, float(score), kinds
                )
            else:
                best[hit.window_id] = WindowHit(
                    prior.window_id,
                    prior.video_id,
                    prior.path,
                    prior.start,
                    prior.end,
                    prior.score,
                    prior.kinds | {hit.kind},
                )
        return list(best.values())
