"""The evaluation harness: import timestamped segments into a throwaway data folder, run every query,
and score the moments found against the query's span (temporal IoU), with latency percentiles."""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidsearch.config import Settings
from vidsearch.indexer.annotations import import_annotations
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.models.base import Embedder
from vidsearch.search.engine import Searcher
from vidsearch.search.moments import temporal_iou
from vidsearch.storage.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalQuery:
    query: str
    video: str
    start: float
    end: float


def read_queries(path: Path) -> list[EvalQuery]:
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [EvalQuery(r["query"], str(r["video"]), float(r["start"]), float(r["end"])) for r in rows]


def evaluate(
    segments: Path, queries: Path, settings: Settings, embedder: Embedder, limit: int | None = None
) -> dict[str, Any]:
    """Metrics over every query (or the first `limit`): R@{1,5,10} at IoU>=0.5, R@{1,5} at IoU>=0.7,
    video R@1, mean IoU of the top moment, latency p50/p95 in ms."""
    with tempfile.TemporaryDirectory(prefix="vidsearch-eval-") as tmp:
        local = settings.model_copy(update={"data_dir": Path(tmp), "database_url": ""})
        db = Database(local.resolved_database_url)
        report = import_annotations(db, [segments])
        rebuild_vector_index(db, embedder, local.vector_dir, family=local.vector_index)
        searcher = Searcher(local, db, embedder)
        wanted = read_queries(queries)[:limit]
        hits = {key: 0 for key in ("r1_iou50", "r5_iou50", "r10_iou50", "r1_iou70", "r5_iou70", "video_r1")}
        ious, latencies = [], []
        searcher.search("warm up", 10)
        for q in wanted:
            started = time.perf_counter()
            results = searcher.search(q.query, 10).results
            latencies.append((time.perf_counter() - started) * 1000)
            overlaps = [temporal_iou(m.start, m.end, q.start, q.end) if m.path == q.video else 0.0 for m in results]
            for n, threshold, key in (
                (1, 0.5, "r1_iou50"),
                (5, 0.5, "r5_iou50"),
                (10, 0.5, "r10_iou50"),
                (1, 0.7, "r1_iou70"),
                (5, 0.7, "r5_iou70"),
            ):
                hits[key] += any(iou >= threshold for iou in overlaps[:n])
            hits["video_r1"] += bool(results) and results[0].path == q.video
            ious.append(overlaps[0] if overlaps else 0.0)
        db.close()
    count = len(wanted)
    latencies.sort()
    metrics: dict[str, Any] = {key: round(value / count, 4) for key, value in hits.items()}
    metrics |= {
        "miou": round(statistics.fmean(ious), 4),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[min(count - 1, round(0.95 * (count - 1)))], 2),
        "queries": count,
        "segments": report.annotations,
    }
    return metrics
