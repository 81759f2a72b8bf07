"""The FastAPI application. Routes validate, call search and storage, and shape JSON; domain errors
become HTTP codes here and nowhere else. Model work runs in the thread pool, off the event loop."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vidsearch import __version__
from vidsearch.api.schemas import (
    AskIn,
    AskOut,
    ErrorOut,
    HealthOut,
    SearchOut,
    TextOut,
    VideoDetailOut,
    VideoOut,
    WindowOut,
)
from vidsearch.config import Settings
from vidsearch.errors import (
    ConfigError,
    IndexMismatchError,
    IndexNotReadyError,
    InvalidQueryError,
    ModelError,
    NotFoundError,
    StorageError,
    VidsearchError,
)
from vidsearch.models.loader import ModelSet
from vidsearch.search import Searcher
from vidsearch.search.answer import Asker
from vidsearch.search.engine import MAX_K, MAX_QUERY_CHARS
from vidsearch.storage import Database
from vidsearch.storage.schema import ModelRecord, VideoRecord
from vidsearch.storage.vectors import read_manifest

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[VidsearchError], int]] = [
    (NotFoundError, 404),
    (InvalidQueryError, 422),
    (IndexNotReadyError, 503),
    (IndexMismatchError, 503),
    (StorageError, 503),
    (ModelError, 503),
    (ConfigError, 500),
]
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (404, 422, 503)}


def create_app(settings: Settings | None = None, *, searcher: Searcher | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = searcher.db if searcher else Database(settings.resolved_database_url)
        app.state.db = db
        app.state.searcher = searcher or Searcher(settings, db)
        # Load the models now, not on the first request.
        await run_in_threadpool(lambda: app.state.searcher.embedder)
        models = ModelSet(settings)
        answerer = await run_in_threadpool(lambda: models.answerer)
        app.state.asker = Asker(settings, app.state.searcher, answerer)
        yield
        db.close()

    app = FastAPI(
        title="vidsearch",
        version=__version__,
        lifespan=lifespan,
        description="Semantic search over a video library: moments, not files.",
    )

    @app.exception_handler(VidsearchError)
    async def _domain_error(_request: Request, exc: VidsearchError) -> JSONResponse:
        code = next((c for kind, c in _STATUS if isinstance(exc, kind)), 500)
        if code >= 500:
            log.warning("%s: %s", type(exc).__name__, exc)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.get("/healthz", response_model=HealthOut, tags=["service"])
    def healthz(request: Request) -> HealthOut:
        db: Database = request.app.state.db
        manifest = read_manifest(settings.vector_dir)
        return HealthOut(
            status="ok",
            videos=db.status_counts(),
            index_generation=manifest.generation if manifest else None,
            vectors=manifest.vector_count if manifest else None,
        )

    @app.get("/search", response_model=SearchOut, responses=_ERRORS, tags=["search"])
    async def search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="plain-language query")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="how many moments")] = 10,
    ) -> SearchOut:
        searcher: Searcher = request.app.state.searcher
        response = await run_in_threadpool(searcher.search, q, k)
        return SearchOut.model_validate(response.to_dict())

    @app.post("/ask", response_model=AskOut, responses=_ERRORS, tags=["search"])
    async def ask(request: Request, body: AskIn) -> AskOut:
        asker: Asker = request.app.state.asker
        answer = await run_in_threadpool(asker.ask, body.question, body.k)
        return AskOut.model_validate(answer.to_dict())

    @app.get("/videos", response_model=list[VideoOut], tags=["library"])
    def videos(request: Request) -> list[VideoOut]:
        db: Database = request.app.state.db
        return [_video_out(video, n) for video, n in db.list_videos()]

    @app.get("/videos/{video_id}", response_model=VideoDetailOut, responses=_ERRORS, tags=["library"])
    def video(request: Request, video_id: int) -> VideoDetailOut:
        db: Database = request.app.state.db
        record = db.video_detail(video_id)
        windows = [
            WindowOut(
                index=w.idx,
                start=w.start,
                end=w.end,
                error=w.error,
                texts=[TextOut(kind=t.kind, text=t.text, source=t.source, model=_model_name(t.model)) for t in w.texts],
            )
            for w in record.windows
        ]
        base = _video_out(record, len(windows)).model_dump()
        return VideoDetailOut(
            **base,
            fps=record.fps,
            content_hash=record.content_hash,
            probe=record.probe,
            pipeline_settings=record.pipeline_settings,
            window_list=windows,
        )

    @app.get("/", include_in_schema=False)
    def root() -> dict[str, str]:
        return {"name": "vidsearch", "version": __version__, "docs": "/docs"}

    return app


def _model_name(record: ModelRecord | None) -> str | None:
    return f"{record.model_id}@{record.revision}" if record else None


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC, so say so.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _video_out(video: VideoRecord, windows: int) -> VideoOut:
    return VideoOut(
        id=video.id,
        path=video.path,
        status=video.status,
        error=video.error,
        duration=video.duration,
        width=video.width,
        height=video.height,
        windows=windows,
        indexed_at=_utc(video.indexed_at),
    )
