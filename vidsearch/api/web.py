"""The web page: server-rendered Jinja2 templates over the same search, ask and library code the JSON
API uses, with a little JavaScript for the player and the ask panel. Everything is served from this
package (no CDN)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from vidsearch.api.security import MAX_ID, ApiKeyStore, resolve_media, token_from
from vidsearch.errors import ForbiddenError, InvalidQueryError, NotFoundError
from vidsearch.export import exporter, nothing_for
from vidsearch.export.formats import ChapterSettings
from vidsearch.indexer import progress as index_progress
from vidsearch.kinds import MATCH_KINDS
from vidsearch.media.images import IMAGE_TYPES, decode_image
from vidsearch.search import Searcher
from vidsearch.search.engine import MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, SearchResponse
from vidsearch.search.moments import WHOLE_VIDEO_HIT_KINDS
from vidsearch.storage.database import Database
from vidsearch.storage.filters import SearchFilters
from vidsearch.storage.schema import IMPORT_SOURCE, ModelRecord, ShotRecord, VideoRecord, WindowRecord

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
KEY_COOKIE = "vidsearch_key"
PAGE_SIZE = 10
KINDS = MATCH_KINDS
# Statuses of videos that have no file on this machine (imported descriptions of a video known by a key);
# any other status is shown as it is.
NO_FILE_STATUSES = frozenset({"external"})

templates = Jinja2Templates(directory=HERE / "templates")
# The video page's export menu: each registered format (vidsearch/export/formats.py) as people know it.
EXPORT_FORMATS = (
    ("pbcore", "PBCore 2.1 record (XML)"),
    ("jsonl", "Catalogue (JSON Lines)"),
    ("csv", "Catalogue (CSV)"),
    ("vtt", "Transcript (WebVTT)"),
    ("srt", "Transcript (SRT)"),
    ("subtitles-vtt", "Subtitles (WebVTT)"),
    ("subtitles-srt", "Subtitles (SRT)"),
    ("chapters-vtt", "Chapters (WebVTT)"),
    ("ffmetadata", "Chapters (FFmpeg metadata)"),
)


def clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def marked(text: str, marks: list[tuple[int, int]]) -> Markup:
    """The text, escaped, with the matched words in <mark>."""
    parts, last = [], 0
    for start, end in marks:
        parts += [escape(text[last:start]), Markup("<mark>") + escape(text[start:end]) + Markup("</mark>")]
        last = end
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


def has_file(video: VideoRecord) -> bool:
    """Whether the video is a file (a path on this machine), not known only by a key."""
    return video.status not in NO_FILE_STATUSES and Path(video.path).is_absolute()


def folder(video: VideoRecord) -> str:
    return str(Path(video.path).parent) if has_file(video) else "no file"


def local_time(value: datetime | str | None) -> Markup:
    """A <time> in UTC for the page as sent; app.js rewrites it in the reader's own zone."""
    if not value:
        return Markup("")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:  # a progress file written by something else: shown as it is
        return escape(value)
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)  # stored times are UTC
    return Markup('<time class="local" datetime="{}">{} UTC</time>').format(
        moment.isoformat(timespec="seconds"), moment.strftime("%Y-%m-%d %H:%M")
    )


def model_label(model: ModelRecord | None, source: str) -> str:
    """What produced a text: its model and revision, or where it came from."""
    if model is not None:
        return f"{model.model_id}@{model.revision}"
    if source == IMPORT_SOURCE:
        return "imported"
    return f"from {source}" if source else "—"


templates.env.filters["clock"] = clock
templates.env.filters["marked"] = marked
templates.env.filters["basename"] = lambda path: Path(path).name
templates.env.filters["folder"] = folder
templates.env.filters["local_time"] = local_time

router = APIRouter(include_in_schema=False)


def signed_in(request: Request) -> bool:
    keys: ApiKeyStore = request.app.state.keys
    return not keys or keys.verify(token_from(request.headers, request.cookies)) is not None


def library_management(request: Request) -> dict[str, Any] | None:
    """What the library page's folders and scans section shows: for an admin (or a server with no keys)
    the allowed roots and the library's folders; None for a reading key (the section is left out)."""
    from vidsearch.api.jobs import allowed_roots, folders

    keys: ApiKeyStore = request.app.state.keys
    if keys and not keys.is_admin(token_from(request.headers, request.cookies)):
        return None
    settings = request.app.state.settings
    return {"allowed_roots": [str(r) for r in allowed_roots(settings)], "folders": folders(request.app.state.db)}


def _login(request: Request, message: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"message": message}, status_code=401)


def _search_context(q: str = "", path: str = "", kind: list[str] | None = None, tag: str = "") -> dict[str, Any]:
    return {
        "q": q,
        "path": path,
        "kinds": KINDS,
        "chosen": kind or [],
        "tag": tag,
        "offset": 0,
        "results": None,
        "count": None,
        "error": None,
        "prev_url": None,
        "next_url": None,
        "max_query": MAX_QUERY_CHARS,
        "like": None,
        "image_name": None,
        "image_types": ",".join(IMAGE_TYPES),
        "no_file": set(),
    }


def _message_page(request: Request, message: str, status_code: int) -> HTMLResponse:
    """The search page with a message where results would be, and the box to try again."""
    context = _search_context() | {"error": message}
    return templates.TemplateResponse(request, "search.html", context, status_code=status_code)


def page_error(request: Request, message: str, status_code: int) -> Response | None:
    """For a request to one of the pages, the page showing the message (the API's handlers answer
    JSON to everything else); None for any other request."""
    if request.scope.get("endpoint") not in PAGES:
        return None
    if not signed_in(request):
        return _login(request)
    return _message_page(request, message, status_code)


def _count(offset: int, shown: int, more: bool) -> str:
    if offset == 0 and not more:
        return f"{shown} moment" + ("" if shown == 1 else "s")
    return f"Moments {offset + 1}–{offset + shown}"


@router.get("/", response_class=HTMLResponse)
async def search_page(
    request: Request,
    # No length limit here: an overlong query gets a message on the page, not a validation error.
    q: str = "",
    path: Annotated[str, Query(max_length=4096)] = "",
    kind: Annotated[list[str] | None, Query()] = None,
    tag: Annotated[str, Query(max_length=128)] = "",
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    like: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Results of a query in words, or "more like" a result's window (`like`)."""
    if not signed_in(request):
        return _login(request)
    context = _search_context(q, path, kind, tag) | {"offset": offset, "like": like}
    if len(q) > MAX_QUERY_CHARS:
        context["error"] = f"The query is too long: {len(q)} characters, at most {MAX_QUERY_CHARS}."
        return templates.TemplateResponse(request, "search.html", context, status_code=422)
    searcher: Searcher = request.app.state.searcher
    filters = SearchFilters(path_prefix=path or None, kinds=tuple(kind or ()), tags=(tag,) if tag else ())
    limit = min(PAGE_SIZE, MAX_LIMIT)
    if like is not None:
        await _results(request, context, lambda: searcher.similar(like, limit, offset=offset, filters=filters))
    elif q.strip():
        await _results(request, context, lambda: searcher.search(q, limit, offset=offset, filters=filters))
    return templates.TemplateResponse(request, "search.html", context)


@router.post("/image", response_class=HTMLResponse)
async def image_page(request: Request, image: Annotated[UploadFile, File()]) -> Response:
    """Results for a picture chosen on the page (the first page of them)."""
    if not signed_in(request):
        return _login(request)
    name = image.filename or "the image"
    context = _search_context() | {"image_name": name}
    if image.content_type not in IMAGE_TYPES:
        context["error"] = f"{name} is not a picture ({image.content_type or 'unknown type'})."
        return templates.TemplateResponse(request, "search.html", context, status_code=422)
    data = await image.read()
    searcher: Searcher = request.app.state.searcher

    def run() -> SearchResponse:
        return searcher.search_image(decode_image(data, name), PAGE_SIZE, label=name)

    await _results(request, context, run, pages=False)
    status = 422 if context["error"] else 200
    return templates.TemplateResponse(request, "search.html", context, status_code=status)


async def _results(
    request: Request, context: dict[str, Any], run: Callable[[], SearchResponse], *, pages: bool = True
) -> None:
    """Fill the page's results (or the error) from a search run in the thread pool."""
    offset = context["offset"]
    try:
        response = await run_in_threadpool(run)
    except (InvalidQueryError, NotFoundError) as exc:
        context["error"] = str(exc)
        return
    context["results"] = response.results
    context["note"] = response.note
    db: Database = request.app.state.db
    statuses = db.statuses(list({m.video_id for m in response.results}))
    context["no_file"] = {video for video, status in statuses.items() if status in NO_FILE_STATUSES}
    if pages and offset > 0:
        context["prev_url"] = str(request.url.include_query_params(offset=max(0, offset - PAGE_SIZE)))
    if pages and len(response.results) == PAGE_SIZE and offset + PAGE_SIZE <= MAX_OFFSET:
        context["next_url"] = str(request.url.include_query_params(offset=offset + PAGE_SIZE))
    context["count"] = _count(offset, len(response.results), context["next_url"] is not None)


@router.get("/library", response_class=HTMLResponse)
def library_page(request: Request) -> Response:
    if not signed_in(request):
        return _login(request)
    db: Database = request.app.state.db
    videos = db.list_videos()
    job = index_progress.read(request.app.state.settings.data_dir)
    counts = db.status_counts()
    context = {"videos": videos, "job": job, "counts": counts, "manage": library_management(request)}
    return templates.TemplateResponse(request, "library.html", context)


@router.get("/library/{video_id}", response_class=HTMLResponse)
def video_page(request: Request, video_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> Response:
    """One video: its file (and a player) or why there is none, its windows with their times,
    thumbnails and texts by kind with the model that produced each, and why it failed if it did."""
    if not signed_in(request):
        return _login(request)
    db: Database = request.app.state.db
    try:
        video = db.video_detail(video_id)
    except NotFoundError as exc:
        return _message_page(request, str(exc), 404)
    playable, file_note = False, "no file: this video is known only by its key"
    if has_file(video):
        try:
            resolve_media(db, str(video.id))
            playable, file_note = True, video.path
        except (NotFoundError, ForbiddenError) as exc:
            file_note = f"{video.path} (cannot be played: {exc})"
    windows = [(window, _texts_by_kind(window)) for window in sorted(video.windows, key=lambda w: (w.start, w.idx))]
    shots = _shots_with_windows(video)
    entry = db.catalogue_entry(video_id)  # chapters come from the windows' texts and stored vectors
    description = entry.description
    context = {
        "video": video,
        "windows": windows,
        "playable": playable,
        "file_note": file_note,
        "chapters": ChapterSettings.of(request.app.state.settings).chapters(entry),
        "description": description,
        "description_by": (description.model.label if description.model else "imported") if description else "",
        # Only what there is: no "Subtitles" for a video without any (the route would say 404).
        "export_formats": [
            (name, label)
            for name, label in EXPORT_FORMATS
            if nothing_for(exporter(name, request.app.state.settings), entry) is None
        ],
        "shots": shots,
        "shot_of_window": _shot_of_each_window(video, [shot for shot, _, _ in shots]),
    }
    return templates.TemplateResponse(request, "video.html", context)


def _shot_of_each_window(video: VideoRecord, shots: list[ShotRecord]) -> dict[int, int]:
    """The number (from 1) of the shot holding each window's middle."""
    out: dict[int, int] = {}
    for window in video.windows:
        middle = (window.start + window.end) / 2
        number = next((n for n, shot in enumerate(shots, 1) if shot.start <= middle < shot.end), None)
        if number is not None:
            out[window.id] = number
    return out


def _shots_with_windows(video: VideoRecord) -> list[tuple[ShotRecord, int | None, float]]:
    """Each stored shot with the window that overlaps it most (its thumbnail comes from the shot's own
    frames: shot-aware windows never straddle a cut) and its share of the video, for the timeline."""
    duration = video.duration or max((shot.end for shot in video.shots), default=0.0)
    out: list[tuple[ShotRecord, int | None, float]] = []
    for shot in sorted(video.shots, key=lambda s: s.start):
        overlaps = [(min(w.end, shot.end) - max(w.start, shot.start), w.id) for w in video.windows]
        overlap, window_id = max(overlaps, default=(0.0, None))
        share = 100 * (shot.end - shot.start) / duration if duration > 0 else 0.0
        out.append((shot, window_id if overlap > 0 else None, share))
    return out


def _texts_by_kind(window: WindowRecord) -> dict[str, list[tuple[str, str]]]:
    """A window's texts grouped by kind (in the page's order of kinds), each with what produced it."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for text in sorted(window.texts, key=lambda t: (KINDS.index(t.kind) if t.kind in KINDS else len(KINDS), t.id)):
        if text.kind in WHOLE_VIDEO_HIT_KINDS:  # about the whole video: the page's Description shows it
            continue
        groups.setdefault(text.kind, []).append((text.text, model_label(text.model, text.source)))
    return groups


@router.post("/login")
def login(request: Request, key: Annotated[str, Form(max_length=200)]) -> Response:
    keys: ApiKeyStore = request.app.state.keys
    if keys and keys.verify(key) is None:
        return _login(request, "That key is not valid.")
    response = RedirectResponse("/", status_code=303)
    # HttpOnly: page scripts never see it; SameSite=Strict: other sites cannot ride on it.
    response.set_cookie(KEY_COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


# The routes that answer with a page: their invalid requests get a page too (see page_error).
PAGES: frozenset[Callable[..., Any]] = frozenset({search_page, image_page, library_page, video_page})
