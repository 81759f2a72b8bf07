"""The evaluation harness: import timestamped segments into a throwaway data folder, run every query,
and score the moments found against the query's span (temporal IoU), with latency percentiles.

Several labelled sets are scored in one run (and their mean reported), because a ranking default must
hold on every kind of material, not on one set; variants of the search settings are scored over the
same imported sets, so comparing them costs one import and one embedding of each query."""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidsearch.config import Settings
from vidsearch.errors import ConfigError
from vidsearch.indexer.annotations import import_annotations
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.models.base import Embedder, ModelSpec
from vidsearch.search.engine import Searcher
from vidsearch.search.moments import temporal_iou
from vidsearch.storage.database import Database

log = logging.getLogger(__name__)

RECALL_KEYS = ("r1_iou50", "r5_iou50", "r10_iou50", "r1_iou70", "r5_iou70", "video_r1")
# The figures a mean over sets is taken of (latency and counts are per set).
MEAN_KEYS = (*RECALL_KEYS, "miou")


@dataclass(frozen=True)
class EvalQuery:
    query: str
    video: str
    start: float
    end: float


@dataclass(frozen=True)
class EvalSet:
    name: str
    segments: Path
    queries: Path


def read_queries(path: Path) -> list[EvalQuery]:
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [EvalQuery(r["query"], str(r["video"]), float(r["start"]), float(r["end"])) for r in rows]


def find_sets(folder: Path) -> list[EvalSet]:
    """Every `NAME_segments.jsonl` with its `NAME_queries.jsonl` in a folder (e.g. ../shared/eval:
    tacos_dev and anet_dev), by name."""
    sets = [
        EvalSet(seg.name.removesuffix("_segments.jsonl"), seg, seg.with_name(seg.name.replace("_segments", "_queries")))
        for seg in sorted(folder.glob("*_segments.jsonl"))
    ]
    sets = [s for s in sets if s.queries.exists()]
    if not sets:
        raise ConfigError(f"{folder} holds no NAME_segments.jsonl with a NAME_queries.jsonl beside it")
    return sets


class _CachedEmbedder:
    """The same query text embedded once across variants (only queries repeat; segments are embedded
    once per set anyway)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.spec: ModelSpec = inner.spec
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) != 1:
            return self.inner.embed(texts)
        vector = self._cache.get(texts[0])
        if vector is None:
            vector = self._cache[texts[0]] = self.inner.embed(texts)
        return vector


@contextmanager
def imported(eval_set: EvalSet, settings: Settings, embedder: Embedder) -> Iterator[tuple[Settings, Database, int]]:
    """A throwaway data folder holding the set's segments, indexed: (its settings, database, segments)."""
    with tempfile.TemporaryDirectory(prefix="vidsearch-eval-") as tmp:
        local = settings.model_copy(update={"data_dir": Path(tmp), "database_url": ""})
        db = Database(local.resolved_database_url)
        try:
            report = import_annotations(db, [eval_set.segments])
            rebuild_vector_index(
                db, embedder, local.vector_dir, family=local.vector_index, context_seconds=local.video_context_seconds
            )
            yield local, db, report.annotations
        finally:
            db.close()


class _Scores:
    """One variant's running figures over a set's queries."""

    def __init__(self) -> None:
        self.hits = dict.fromkeys(RECALL_KEYS, 0)
        self.ious: list[float] = []
        self.latencies: list[float] = []
        self.empty = 0

    def add(self, q: EvalQuery, results: Sequence[Any], ms: float) -> None:
        self.latencies.append(ms)
        self.empty += not results
        overlaps = [temporal_iou(m.start, m.end, q.start, q.end) if m.path == q.video else 0.0 for m in results]
        for n, threshold, key in (
            (1, 0.5, "r1_iou50"),
            (5, 0.5, "r5_iou50"),
            (10, 0.5, "r10_iou50"),
            (1, 0.7, "r1_iou70"),
            (5, 0.7, "r5_iou70"),
        ):
            self.hits[key] += any(iou >= threshold for iou in overlaps[:n])
        self.hits["video_r1"] += bool(results) and results[0].path == q.video
        self.ious.append(overlaps[0] if overlaps else 0.0)

    def metrics(self) -> dict[str, Any]:
        count = max(1, len(self.ious))
        latencies = sorted(self.latencies)
        metrics: dict[str, Any] = {key: round(value / count, 4) for key, value in self.hits.items()}
        return metrics | {
            "miou": round(statistics.fmean(self.ious), 4) if self.ious else 0.0,
            "p50_ms": round(statistics.median(latencies), 2) if latencies else 0.0,
            "p95_ms": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 2)
            if latencies
            else 0.0,
            "empty": round(self.empty / count, 4),
            "queries": len(self.ious),
        }


def score_queries(searchers: Mapping[str, Searcher], wanted: Sequence[EvalQuery]) -> dict[str, dict[str, Any]]:
    """Each searcher's R@{1,5,10} at IoU>=0.5, R@{1,5} at IoU>=0.7, video R@1, mean IoU of the top
    moment, latency p50/p95 in ms, and how many queries came back with no result at all.

    The searchers take each query in turn (their order rotating from query to query), so their
    latencies are measured at the same moments of a machine whose speed drifts, and a ratio of their
    p50s holds on a shared machine where a pass per searcher would not."""
    scores = {name: _Scores() for name in searchers}
    names = list(searchers)
    for searcher in searchers.values():
        searcher.search("warm up", 10)
    for i, q in enumerate(wanted):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started = time.perf_counter()
            results = searchers[name].search(q.query, 10).results
            scores[name].add(q, results, (time.perf_counter() - started) * 1000)
    return {name: score.metrics() for name, score in scores.items()}


def evaluate(
    segments: Path, queries: Path, settings: Settings, embedder: Embedder, limit: int | None = None
) -> dict[str, Any]:
    """One set's metrics over every query (or the first `limit`)."""
    eval_set = EvalSet(segments.stem, segments, queries)
    return evaluate_sets([eval_set], settings, embedder, limit)["sets"][eval_set.name]


def evaluate_sets(
    sets: Sequence[EvalSet],
    settings: Settings,
    embedder: Embedder,
    limit: int | None = None,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    nonsense: Sequence[str] = (),
) -> dict[str, Any]:
    """Every set's metrics and their mean, for the settings as given or, with `variants` (a name and
    the settings it changes), for each variant: {"sets": {set: metrics}, "mean": metrics} or
    {variant: that}. With `nonsense` queries (no right answer in any set), the share of them that came
    back empty is reported beside each set's figures."""
    cached = _CachedEmbedder(embedder)
    runs = variants or {"": {}}
    out: dict[str, dict[str, Any]] = {name: {"sets": {}} for name in runs}
    for eval_set in sets:
        wanted = read_queries(eval_set.queries)[:limit]
        with imported(eval_set, settings, cached) as (local, db, count):
            # Every query is embedded before any is timed, so no variant pays for the embedding that
            # the others then take from the cache.
            embedding = []
            for q in wanted:
                started = time.perf_counter()
                cached.embed([q.query])
                embedding.append((time.perf_counter() - started) * 1000)
            searchers = {
                name: Searcher(local.model_copy(update=dict(changes)), db, cached) for name, changes in runs.items()
            }
            for name, metrics in score_queries(searchers, wanted).items():
                # What a user's query costs before the search: add it to p50_ms for the whole latency.
                metrics["embed_p50_ms"] = round(statistics.median(embedding), 2) if embedding else 0.0
                metrics["segments"] = count
                if nonsense:
                    answered = [bool(searchers[name].search(q, 10).results) for q in nonsense]
                    metrics["nonsense_empty"] = round(1 - statistics.fmean(answered), 4)
                out[name]["sets"][eval_set.name] = metrics
                log.info("%s %s: %s", eval_set.name, name or "as configured", metrics)
    for result in out.values():
        per_set = list(result["sets"].values())
        keys = [*MEAN_KEYS, *(["nonsense_empty"] if nonsense else [])]
        result["mean"] = {key: round(statistics.fmean(m[key] for m in per_set), 4) for key in keys}
    return out if variants else out[""]


def read_variants(path: Path) -> dict[str, dict[str, Any]]:
    """A JSON object of variant name -> the settings it changes (e.g. {"dense": {"keyword_weight": 0}})."""
    try:
        variants = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a JSON object of variants ({exc})") from exc
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        raise ConfigError(f'{path}: expected {{"name": {{"setting": value}}}}')
    unknown = sorted({key for v in variants.values() for key in v} - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}")
    return variants
