"""Library folders and index jobs over HTTP: register a folder (only inside the roots the operator allowed,
`library_allowed_roots`), start a scan, follow its progress, cancel it. With API keys configured, every
route here needs an admin key. The scan itself runs in a process of its own (indexer/jobs.py): a request
only writes a small record and starts it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from vidsearch.api.schemas import ErrorOut
from vidsearch.api.security import require_admin
from vidsearch.config import Settings
from vidsearch.errors import ForbiddenError, InvalidQueryError, NotFoundError
from vidsearch.indexer.jobs import ACTIVE, JOB_ID_PATTERN, JobStore, start_job_process
from vidsearch.storage.database import Database

router = APIRouter(tags=["index jobs"], dependencies=[Depends(require_admin)])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": meaning}
    for code, meaning in {
        401: "A missing or wrong API key.",
        403: "A reading key where an admin key is needed, or a folder outside the allowed roots.",
        404: "No such folder or job.",
        422: "An invalid parameter; the detail names it.",
        429: "Too many requests from this address: wait for the seconds in Retry-After.",
    }.items()
}


class FolderIn(BaseModel):
    path: str = Field(min_length=1, max_length=4096, description="an absolute folder inside an allowed root")


class FolderOut(BaseModel):
    path: str
    videos: int = Field(description="videos known under it (any status)")


class FoldersOut(BaseModel):
    allowed_roots: list[str] = Field(description="where folders may be registered (library_allowed_roots)")
    folders: list[FolderOut] = Field(description="the library's folders: registered here or indexed")


class JobIn(BaseModel):
    folder: str | None = Field(
        default=None, max_length=4096, description="one library folder; none scans every folder of the library"
    )


class FailureOut(BaseModel):
    path: str
    reason: str


class JobOut(BaseModel):
    id: str
    folders: list[str]
    state: str = Field(
        description="queued, waiting (for another writer), running, done, failed, cancelled, interrupted"
    )
    created_at: str
    started_at: str | None
    finished_at: str | None
    files_total: int
    files_done: int
    current: str | None = Field(description="the file being read")
    indexed: int
    skipped: int
    missing: int
    media_seconds: float = Field(description="seconds of video indexed")
    wall_seconds: float
    realtime: float | None = Field(description="seconds of video indexed per second")
    eta_seconds: float | None = Field(description="time left at the pace so far")
    failed: list[FailureOut]
    generation: int | None
    error: str | None
    cancel_requested: bool
    pid: int | None


def allowed_roots(settings: Settings) -> list[Path]:
    return [Path(root).expanduser().resolve() for root in settings.library_allowed_roots]


def registrable_folder(settings: Settings, requested: str) -> Path:
    """The folder a request names, resolved (symlinks and `..` followed), if it lies inside an allowed root."""
    roots = allowed_roots(settings)
    if not roots:
        raise ForbiddenError("no folder may be added over HTTP: the operator allows none (library_allowed_roots)")
    if "\x00" in requested:
        raise InvalidQueryError("path: contains a NUL character")
    path = Path(requested)
    if not path.is_absolute():
        raise InvalidQueryError("path: give an absolute path inside an allowed root")
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise NotFoundError(f"{requested}: no such folder") from exc
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise ForbiddenError(f"{requested}: outside the folders the operator allows")
    if not real.is_dir():
        raise InvalidQueryError(f"path: {requested} is not a folder")
    return real


def folders(db: Database) -> list[FolderOut]:
    roots = db.library_roots()
    return [FolderOut(path=root, videos=len(db.videos_under([root]))) for root in roots]


@router.get("/folders", response_model=FoldersOut, responses=_RESPONSES)
def list_folders(request: Request) -> FoldersOut:
    """The roots folders may be registered under, and the library's folders."""
    settings: Settings = request.app.state.settings
    return FoldersOut(allowed_roots=[str(r) for r in allowed_roots(settings)], folders=folders(request.app.state.db))


@router.post("/folders", response_model=FolderOut, status_code=201, responses=_RESPONSES)
def add_folder(request: Request, body: FolderIn) -> FolderOut:
    """Register a library folder (inside an allowed root): scans and `serve --watch` take it from then on,
    and its videos may be played."""
    folder = registrable_folder(request.app.state.settings, body.path)
    db: Database = request.app.state.db
    db.add_library_root(str(folder))
    return FolderOut(path=str(folder), videos=len(db.videos_under([str(folder)])))


@router.post("/jobs", response_model=JobOut, status_code=202, responses=_RESPONSES)
async def start_job(request: Request, body: JobIn) -> dict[str, Any]:
    """Start a scan of one library folder, or of all of them: new and changed files are indexed,
    unchanged ones skipped, missing ones leave search. It runs in its own process; follow it at
    GET /jobs/{id}."""
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    roots = await run_in_threadpool(db.library_roots)
    if body.folder is None:
        folders = [r for r in roots if os.path.exists(r)]
        if not folders:
            raise NotFoundError("the library has no folder yet: register one (POST /folders)")
    else:
        chosen = os.path.realpath(body.folder) if "\x00" not in body.folder else body.folder
        if chosen not in roots:
            raise NotFoundError(f"{body.folder}: not a library folder; register it first (POST /folders)")
        folders = [chosen]
    store = JobStore(settings.data_dir)
    job = store.create(folders)
    await run_in_threadpool(start_job_process, settings, job)
    return store.view(job)


@router.get("/jobs", response_model=list[JobOut], responses=_RESPONSES)
def list_jobs(request: Request, active: bool = False) -> list[dict[str, Any]]:
    """The latest index jobs, newest first, with progress (`active=true`: those not finished)."""
    store = JobStore(request.app.state.settings.data_dir)
    views = [store.view(job) for job in store.list()]
    return [v for v in views if v["state"] in ACTIVE] if active else views


JobId = Annotated[str, PathParam(pattern=JOB_ID_PATTERN, description="a job's id")]


@router.get("/jobs/{job_id}", response_model=JobOut, responses=_RESPONSES)
def get_job(request: Request, job_id: JobId) -> dict[str, Any]:
    store = JobStore(request.app.state.settings.data_dir)
    return store.view(store.get(job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, status_code=202, responses=_RESPONSES)
def cancel_job(request: Request, job_id: JobId) -> dict[str, Any]:
    """Stop a job where it is: videos stored so far stay (and are published), the one being read is left
    as it was. A job that has finished is left alone."""
    store = JobStore(request.app.state.settings.data_dir)
    return store.view(store.request_cancel(job_id))
