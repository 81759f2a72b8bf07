"""The web page: server-rendered Jinja2 templates over the same search, ask and library code the JSON
API uses, with a little JavaScript for the player and the ask panel. Everything is served from this
package (no CDN)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from vidsearch.api.security import ApiKeyStore, token_from
from vidsearch.errors import InvalidQueryError
from vidsearch.indexer import progress as index_progress
from vidsearch.kinds import TEXT_KINDS
from vidsearch.search import Searcher
from vidsearch.search.engine import MAX_LIMIT, MAX_OFFSET
from vidsearch.storage.database import Database
from vidsearch.storage.filters import SearchFilters

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
KEY_COOKIE = "vidsearch_key"
PAGE_SIZE = 10
KINDS = TEXT_KINDS

templates = Jinja2Templates(directory=HERE / "templates")


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


templates.env.filters["clock"] = clock
templates.env.filters["marked"] = marked
templates.env.filters["basename"] = lambda path: Path(path).name

router = APIRouter(include_in_schema=False)


def signed_in(request: Request) -> bool:
    keys: ApiKeyStore = request.app.state.keys
    return not keys or keys.verify(token_from(request.headers, request.cookies)) is not None


def _login(request: Request, message: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"message": message}, status_code=401)


@router.get("/", response_class=HTMLResponse)
async def search_page(
    request: Request,
    q: Annotated[str, Query(max_length=1000)] = "",
    path: Annotated[str, Query(max_length=4096)] = "",
    kind: Annotated[list[str] | None, Query()] = None,
    tag: Annotated[str, Query(max_length=128)] = "",
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    if not signed_in(request):
        return _login(request)
    context: dict[str, Any] = {"q": q, "path": path, "kinds": KINDS, "chosen": kind or [], "tag": tag}
    context |= {"offset": offset, "results": None, "error": None, "prev_url": None, "next_url": None}
    if q.strip():
        searcher: Searcher = request.app.state.searcher
        filters = SearchFilters(path_prefix=path or None, kinds=tuple(kind or ()), tags=(tag,) if tag else ())
        try:
            response = await run_in_threadpool(
                searcher.search, q, min(PAGE_SIZE, MAX_LIMIT), offset=offset, filters=filters
            )
            context["results"] = response.results
            if offset > 0:
                context["prev_url"] = str(request.url.include_query_params(offset=max(0, offset - PAGE_SIZE)))
            if len(response.results) == PAGE_SIZE and offset + PAGE_SIZE <= MAX_OFFSET:
                context["next_url"] = str(request.url.include_query_params(offset=offset + PAGE_SIZE))
        except InvalidQueryError as exc:
            context["error"] = str(exc)
    return templates.TemplateResponse(request, "search.html", context)


@router.get("/library", response_class=HTMLResponse)
def library_page(request: Request) -> Response:
    if not signed_in(request):
        return _login(request)
    db: Database = request.app.state.db
    videos = db.list_videos()
    job = index_progress.read(request.app.state.settings.data_dir)
    counts = db.status_counts()
    return templates.TemplateResponse(request, "library.html", {"videos": videos, "job": job, "counts": counts})


@router.post("/login")
def login(request: Request, key: Annotated[str, Form(max_length=200)]) -> Response:
    keys: ApiKeyStore = request.app.state.keys
    if keys and keys.verify(key) is None:
        return _login(request, "That key is not valid.")
    response = RedirectResponse("/", status_code=303)
    # HttpOnly: page scripts never see it; SameSite=Strict: other sites cannot ride on it.
    response.set_cookie(KEY_COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
