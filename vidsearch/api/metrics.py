"""`GET /metrics` in the Prometheus text format (prometheus-client).

Per request: `vidsearch_http_requests_total{route,method,status}` and the latency histogram
`vidsearch_http_request_duration_seconds{route}` (search is route="/search", ask route="/ask"); the route
is the matched template (`/videos/{video_id}`), so ids never become labels. Read from the data folder at
each scrape: the index generation published and its vectors, searchable windows, videos by status, the
running index job, and the index totals every writer adds to (files, seconds of video, failures by kind).

Several server processes (`serve --workers N`): the request metrics go through prometheus-client's
multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, which `serve` sets to a fresh folder in the data folder
before the workers start), so any worker's scrape adds up all of them."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidsearch.api.schemas import ErrorOut
from vidsearch.api.security import require_key
from vidsearch.config import Settings
from vidsearch.indexer import progress as index_progress
from vidsearch.indexer import totals as index_totals
from vidsearch.storage.database import Database
from vidsearch.storage.schema import searchable_windows
from vidsearch.storage.vectors import read_manifest

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Search answers in milliseconds, ask (a video model) in seconds to a minute.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_REQUESTS_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "vidsearch_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
    registry=_REQUESTS_REGISTRY,
)
LATENCY = Histogram(
    "vidsearch_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
    registry=_REQUESTS_REGISTRY,
)
if MULTIPROCESS_ENV not in os.environ:  # one process: its own CPU and memory too
    ProcessCollector(registry=_REQUESTS_REGISTRY)


def fresh_multiprocess_dir(data_dir: Path) -> Path:
    """Where `serve --workers N` keeps the workers' metric files: emptied at each start (the counters of
    a server that stopped are not this one's)."""
    folder = data_dir / "metrics-multiprocess"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def route_of(scope: Scope) -> str:
    """The matched route's template; mounted static files as one route; anything else "unmatched"."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return "unmatched"


class MetricsMiddleware:
    """Counts every HTTP request and times it, by route template and status. Pure ASGI, like the others."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = route_of(scope)
            REQUESTS.labels(route, scope.get("method", ""), str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)


class LibraryCollector(Collector):
    """The library's numbers, read at each scrape from the manifest, SQL and the data folder's files."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db

    def collect(self) -> Iterator[Metric]:
        manifest = read_manifest(self.settings.vector_dir)
        generation = GaugeMetricFamily(
            "vidsearch_index_generation", "The vector index generation published (and served from the next query)."
        )
        vectors = GaugeMetricFamily("vidsearch_index_vectors", "Vectors in the published index generation.")
        if manifest is not None:
            generation.add_metric([], manifest.generation)
            vectors.add_metric([], manifest.vector_count)
        yield generation
        yield vectors
        with self.db.reading() as conn:
            windows = conn.execute(select(func.count()).select_from(searchable_windows().subquery())).scalar()
        yield GaugeMetricFamily("vidsearch_windows", "Searchable windows (of videos not missing or removed).", windows)
        videos = GaugeMetricFamily("vidsearch_videos", "Videos in the library, by status.", labels=["status"])
        for status, count in sorted(self.db.status_counts().items()):
            videos.add_metric([status], count)
        yield videos
        yield from self._index_totals()
        yield from self._running_job()

    def _index_totals(self) -> Iterator[Metric]:
        totals = index_totals.read(self.settings.data_dir)
        files = CounterMetricFamily(
            "vidsearch_index_files", "Video files index runs handled, by outcome.", labels=["outcome"]
        )
        files.add_metric(["indexed"], totals.files_indexed)
        files.add_metric(["failed"], sum(totals.failures.values()))
        files.add_metric(["missing"], totals.files_missing)
        yield files
        yield CounterMetricFamily(
            "vidsearch_index_video_seconds", "Seconds of video indexed.", value=totals.video_seconds
        )
        yield CounterMetricFamily(
            "vidsearch_index_wall_seconds",
            "Seconds index runs took (x-realtime: video / wall).",
            value=totals.wall_seconds,
        )
        yield CounterMetricFamily("vidsearch_index_runs", "Index runs that changed something.", value=totals.runs)
        failures = CounterMetricFamily(
            "vidsearch_index_failures", "Files that could not be indexed, by kind of reason.", labels=["reason"]
        )
        for kind in index_totals.FAILURE_KINDS:
            failures.add_metric([kind], totals.failures.get(kind, 0))
        yield failures

    def _running_job(self) -> Iterator[Metric]:
        job = index_progress.read(self.settings.data_dir)
        running = job is not None and job.running
        yield GaugeMetricFamily("vidsearch_index_job_running", "1 while an index job runs.", value=int(running))
        done = GaugeMetricFamily("vidsearch_index_job_files_done", "Files the running index job has done.")
        total = GaugeMetricFamily("vidsearch_index_job_files_total", "Files the running index job found.")
        if job is not None and running:
            done.add_metric([], job.files_done)
            total.add_metric([], job.files_total)
        yield done
        yield total


def render(settings: Settings, db: Database) -> bytes:
    """The whole scrape: request metrics (every worker's, in multiprocess mode) and the library's."""
    if MULTIPROCESS_ENV in os.environ:
        requests = CollectorRegistry()
        MultiProcessCollector(requests)
    else:
        requests = _REQUESTS_REGISTRY
    library = CollectorRegistry(auto_describe=False)
    library.register(LibraryCollector(settings, db))
    return generate_latest(requests) + generate_latest(library)


router = APIRouter(tags=["service"])


@router.get(
    "/metrics",
    dependencies=[Depends(require_key)],
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format."},
        401: {"model": ErrorOut, "description": "A missing or wrong API key."},
        429: {"model": ErrorOut, "description": "Too many requests from this address."},
    },
)
def metrics(request: Request) -> Response:
    """The server's and the library's numbers in the Prometheus text format (with API keys configured, a
    scrape needs one, like every data route)."""
    return Response(render(request.app.state.settings, request.app.state.db), media_type=CONTENT_TYPE)
