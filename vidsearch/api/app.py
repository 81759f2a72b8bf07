"""The FastAPI application. Routes validate, call search and storage, and shape JSON; domain errors
become HTTP codes here and nowhere else. Model work runs in the thread pool, off the event loop."""

from __future__ import annotations

import gc
import json
import logging
import mimetypes
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from vidsearch import __version__
from vidsearch.api.export import router as export_router
from vidsearch.api.jobs import router as jobs_router
from vidsearch.api.metrics import MetricsMiddleware
from vidsearch.api.metrics import router as metrics_router
from vidsearch.api.schemas import (
    AskIn,
    AskOut,
    ErrorOut,
    HealthOut,
    SearchOut,
    ShotOut,
    TextOut,
    VideoDetailOut,
    VideoOut,
    WindowOut,
)
from vidsearch.api.security import (
    MAX_ID,
    ApiKeyStore,
    BodyLimitMiddleware,
    DocsPolicyMiddleware,
    RateLimitMiddleware,
    resolve_media,
    token_from,
)
from vidsearch.api.thumbnails import OnDemandThumbnails
from vidsearch.api.web import STATIC_DIR, page_error
from vidsearch.api.web import router as web_router
from vidsearch.config import Settings
from vidsearch.errors import (
    AuthenticationError,
    ConfigError,
    ForbiddenError,
    IndexMismatchError,
    IndexNotReadyError,
    InvalidQueryError,
    ModelError,
    NotFoundError,
    StorageError,
    VidsearchError,
)
from vidsearch.kinds import KindName
from vidsearch.media.images import IMAGE_TYPES, decode_image
from vidsearch.models.loader import ModelSet
from vidsearch.search import Searcher
from vidsearch.search.answer import Asker
from vidsearch.search.engine import MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, SearchResponse
from vidsearch.storage import Database
from vidsearch.storage.filters import SearchFilters
from vidsearch.storage.schema import ModelRecord, VideoRecord
from vidsearch.storage.thumbnails import ThumbnailStore
from vidsearch.storage.vectors import read_manifest, skip_interrupt_checks

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[VidsearchError], int]] = [
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (InvalidQueryError, 422),
    (IndexNotReadyError, 503),
    (IndexMismatchError, 503),
    (StorageError, 503),
    (ModelError, 503),
    (ConfigError, 500),
]
# Every error answers {"detail": "<one sentence>"}, documented per status in /docs.
_ERROR_MEANINGS = {
    401: "A missing or wrong API key.",
    403: "The video's file resolves outside the library roots.",
    404: "No such id, its file is gone, or nothing of it to export (subtitles of a video that has none).",
    413: "The request body is larger than the server accepts.",
    422: "A parameter is missing or invalid; the detail names it and what was expected, e.g. "
    '`{"detail": "q: String should have at most 1000 characters"}`.',
    429: "Too many requests from this address: wait for the seconds in Retry-After.",
    503: "Nothing is indexed yet, or the index needs `vidsearch reindex`.",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": _ERROR_MEANINGS[code]} for code in codes}


_ERRORS = _errors(401, 404, 422, 429, 503)
# Where a request's parameters came from: the sentence names the parameter alone.
_SOURCES = frozenset({"query", "path", "body", "header", "cookie"})


async def authorize(request: Request) -> None:  # async: a sync dependency costs a thread hop a request
    """With API keys configured, every data route needs one (Authorization: Bearer KEY, or X-API-Key)."""
    keys: ApiKeyStore = request.app.state.keys
    if keys and keys.verify(token_from(request.headers, request.cookies)) is None:
        raise AuthenticationError("a valid API key is required: send Authorization: Bearer KEY or X-API-Key: KEY")


Authorized = [Depends(authorize)]
GIL_SWITCH_SECONDS = 0.001


def create_app(settings: Settings | None = None, *, searcher: Searcher | None = None) -> FastAPI:
    settings = settings or Settings()
    store = ThumbnailStore(settings.thumbnail_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = searcher.db if searcher else Database(settings.resolved_database_url)
        app.state.db = db
        app.state.thumbnails = OnDemandThumbnails(db, store)
        models = ModelSet(settings)
        # Load the models now, not on the first request: the full embedder, which answers use beside
        # queries (a server starts once; the command line's searches load less, see ModelSet.query_embedder).
        embedder = None if searcher else await run_in_threadpool(lambda: models.embedder)
        app.state.searcher = searcher or Searcher(settings, db, embedder)
        await run_in_threadpool(lambda: app.state.searcher.embedder)
        answerer = await run_in_threadpool(lambda: models.answerer)
        app.state.asker = Asker(settings, app.state.searcher, answerer)
        try:  # and the served index generation, when there is one
            await run_in_threadpool(app.state.searcher.vector_index)
        except (IndexNotReadyError, IndexMismatchError) as exc:
            log.warning("no index served yet: %s", exc)
        # What start-up made (modules, models, the index's tables) lives as long as the server: kept out
        # of the garbage collector's full passes, which otherwise walked it all every few hundred
        # requests (p99 under load 390 ms before, 42 ms after).
        gc.freeze()
        # A request runs native code with the GIL released (ONNX Runtime, FAISS, SQLite) between spells
        # of Python; coming back, a thread waits for the GIL up to the switch interval. 1 ms instead of
        # Python's 5: 190 -> 208 requests/s under load at 100k windows (paired runs, docs/benchmarks.md).
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        skip_interrupt_checks()
        yield
        db.close()

    keys = ApiKeyStore(settings.data_dir)
    # /docs and /redoc with Swagger UI's and ReDoc's files served from here (fastapi-offline ships
    # them), not from a CDN: the documentation works on a machine without the internet.
    app = FastAPIOffline(
        title="vidsearch",
        version=__version__,
        lifespan=lifespan,
        description="Semantic search over a video library: moments, not files. Every error answers "
        '`{"detail": "<one sentence>"}`.',
        static_url="/static/docs",
    )

    app.state.keys = keys
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(web_router)
    app.include_router(metrics_router)
    app.include_router(jobs_router)
    app.include_router(export_router, dependencies=Authorized, responses=_ERRORS)
    app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit)
    app.add_middleware(DocsPolicyMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        uploads={"/search/image": settings.max_image_bytes, "/image": settings.max_image_bytes},
    )
    if settings.cors_origins:  # an explicit list only: no wildcard
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "x-api-key", "content-type", "range"],
        )
    app.add_middleware(MetricsMiddleware)  # outermost: counts what the others refuse too

    @app.exception_handler(VidsearchError)
    async def _domain_error(_request: Request, exc: VidsearchError) -> JSONResponse:
        code = next((c for kind, c in _STATUS if isinstance(exc, kind)), 500)
        if code >= 500:
            log.warning("%s: %s", type(exc).__name__, exc)
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        detail = validation_detail(exc.errors())
        return page_error(request, detail, 422) or JSONResponse({"detail": detail}, status_code=422)

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

    @app.get("/search", response_model=SearchOut, responses=_ERRORS, tags=["search"], dependencies=Authorized)
    async def search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="plain-language query")],
        filters: Annotated[SearchFilters, Depends(search_filters)],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many moments")] = 10,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="skip this many (the next page)")] = 0,
    ) -> Response:
        searcher: Searcher = request.app.state.searcher
        response = await run_in_threadpool(searcher.search, q, limit, offset=offset, filters=filters)
        return _search_json(response)

    @app.post(
        "/search/image",
        response_model=SearchOut,
        responses=_ERRORS | _errors(413),
        tags=["search"],
        dependencies=Authorized,
    )
    async def search_image(
        request: Request,
        image: Annotated[UploadFile, File(description="a picture (JPEG, PNG, WebP, GIF, BMP, TIFF)")],
        filters: Annotated[SearchFilters, Depends(search_filters)],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many moments")] = 10,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="skip this many (the next page)")] = 0,
    ) -> Response:
        """The moments that look most like a picture: by an image-text model's vectors when one is
        configured, otherwise by what the frame labeler sees in it."""
        if image.content_type not in IMAGE_TYPES:
            raise InvalidQueryError(
                f"image: {image.content_type or 'no content type'} is not a picture type ({', '.join(IMAGE_TYPES)})"
            )
        name = image.filename or "the image"
        data = await image.read()
        searcher: Searcher = request.app.state.searcher

        def run() -> SearchResponse:
            picture = decode_image(data, name)  # in the thread pool: decoding is work
            return searcher.search_image(picture, limit, offset=offset, filters=filters, label=name)

        return _search_json(await run_in_threadpool(run))

    @app.get("/search/similar", response_model=SearchOut, responses=_ERRORS, tags=["search"], dependencies=Authorized)
    async def search_similar(
        request: Request,
        window_id: Annotated[int, Query(ge=1, le=MAX_ID, description="a result's window_id")],
        filters: Annotated[SearchFilters, Depends(search_filters)],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many moments")] = 10,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="skip this many (the next page)")] = 0,
    ) -> Response:
        """More like a result: the moments whose pictures are nearest that window's (itself left out)."""
        searcher: Searcher = request.app.state.searcher
        response = await run_in_threadpool(searcher.similar, window_id, limit, offset=offset, filters=filters)
        return _search_json(response)

    @app.post("/ask", response_model=AskOut, responses=_ERRORS | _errors(413), tags=["search"], dependencies=Authorized)
    async def ask(request: Request, body: AskIn) -> AskOut:
        asker: Asker = request.app.state.asker
        answer = await run_in_threadpool(asker.ask, body.question, body.k)
        return AskOut.model_validate(answer.to_dict())

    @app.get("/videos", response_model=list[VideoOut], responses=_ERRORS, tags=["library"], dependencies=Authorized)
    def videos(request: Request) -> list[VideoOut]:
        db: Database = request.app.state.db
        return [_video_out(video, n) for video, n in db.list_videos()]

    @app.get(
        "/windows/{window_id}/thumbnail",
        responses=_ERRORS,
        tags=["library"],
        dependencies=Authorized,
        response_class=FileResponse,
    )
    async def thumbnail(request: Request, window_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> FileResponse:
        """A JPEG of the window's middle frame: made at index time, or, for a window the indexer did not
        cut (an imported description), taken from the video's file the first time it is asked for."""
        picture = store.path(window_id)
        if not picture.is_file():  # one stat: where nearly every request ends
            maker: OnDemandThumbnails = request.app.state.thumbnails
            # Decoding blocks: it runs in the thread pool, off the event loop.
            taken = await run_in_threadpool(maker.get, window_id) if settings.thumbnails else None
            if taken is None:
                raise NotFoundError(f"no thumbnail for window {window_id}")
            picture = taken
        return FileResponse(picture, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    @app.get(
        "/videos/{video_id}/media",
        responses=_ERRORS | _errors(403),
        tags=["library"],
        dependencies=Authorized,
    )
    def media(request: Request, video_id: str) -> FileResponse:
        """The video file, by id only, with HTTP range requests (seeking works in a browser's player)."""
        path = resolve_media(request.app.state.db, video_id)
        return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")

    @app.get(
        "/videos/{video_id}",
        response_model=VideoDetailOut,
        responses=_ERRORS,
        tags=["library"],
        dependencies=Authorized,
    )
    def video(request: Request, video_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> VideoDetailOut:
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
            shots=[ShotOut(index=shot.idx, start=shot.start, end=shot.end) for shot in record.shots],
        )

    @app.get("/", include_in_schema=False)
    def root() -> dict[str, str]:
        return {"name": "vidsearch", "version": __version__, "docs": "/docs"}

    return app


def validation_detail(errors: Sequence[Any]) -> str:
    """pydantic's validation errors as one sentence naming each parameter and what was expected:
    "q: String should have at most 1000 characters" (several are joined by "; ")."""
    parts = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        if len(location) > 1 and location[0] in _SOURCES:
            location = location[1:]  # "q", not "query.q"
        if error.get("type") == "json_invalid":  # its location is a character offset in the body
            location = ["body"]
        name = ".".join(location) or "request"
        message = str(error.get("msg", "invalid"))
        reason = (error.get("ctx") or {}).get("error")
        if error.get("type") == "json_invalid" and reason:
            message = f"{message}: {reason}"
        parts.append(f"{name}: {message}")
    return "; ".join(dict.fromkeys(parts)) or "the request is invalid"


def search_filters(
    path: Annotated[str | None, Query(max_length=4096, description="only videos whose path starts so")] = None,
    tag: Annotated[list[str] | None, Query(description="only windows with all these tags")] = None,
    kind: Annotated[
        list[KindName] | None, Query(description="only these kinds of match: kinds of text, or visual (any of them)")
    ] = None,
    recorded_after: Annotated[datetime | None, Query()] = None,
    recorded_before: Annotated[datetime | None, Query()] = None,
    modified_after: Annotated[datetime | None, Query()] = None,
    modified_before: Annotated[datetime | None, Query()] = None,
    min_duration: Annotated[float | None, Query(ge=0, description="seconds")] = None,
    max_duration: Annotated[float | None, Query(ge=0, description="seconds")] = None,
) -> SearchFilters:
    """The filters every search route takes, as query parameters."""
    return SearchFilters(
        path_prefix=path,
        tags=tuple(tag or ()),
        kinds=tuple(kind or ()),
        recorded_after=recorded_after,
        recorded_before=recorded_before,
        modified_after=modified_after,
        modified_before=modified_before,
        min_duration=min_duration,
        max_duration=max_duration,
    )


def _search_json(response: SearchResponse) -> Response:
    # The search's own JSON shape is SearchOut's (tests hold the two together): written straight out, it
    # is not validated and serialised twice on the busiest route. Where the time went, per step, in the
    # standard header browsers' developer tools show.
    timing = ", ".join(f"{step};dur={ms:.2f}" for step, ms in response.timings_ms.items())
    return Response(
        json.dumps(response.to_dict(), ensure_ascii=False),
        media_type="application/json",
        headers={"Server-Timing": timing},
    )


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
