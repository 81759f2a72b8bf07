"""The export routes: one video's catalogue in any export format, and the whole catalogue (a catalogue
format as one streamed file, a per-video format as a ZIP of one file per video). Thin: the formats and
the reading live in vidsearch/export; unknown ids are 404, unknown formats 422."""

from __future__ import annotations

import os
import tempfile
from enum import Enum
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from vidsearch.api.security import MAX_ID
from vidsearch.config import Settings
from vidsearch.errors import NothingToExportError
from vidsearch.export import exporter, file_name, format_names, nothing_for, render, zip_export
from vidsearch.storage import Database

router = APIRouter(tags=["export"])

# The formats a request may name: the registered ones (never a class path), checked by FastAPI.
ExportFormat = Enum("ExportFormat", {name.replace("-", "_"): name for name in format_names()}, type=str)  # type: ignore[misc]
JSONL = ExportFormat("jsonl")
FormatQuery = Annotated[
    ExportFormat,
    Query(description="jsonl, csv, vtt, srt, subtitles-vtt, subtitles-srt, chapters-vtt, ffmetadata or pbcore"),
]
TrackQuery = Annotated[
    str | None,
    Query(
        max_length=500,
        description="subtitles-vtt/-srt only (other formats ignore it): which subtitle track or sidecar file "
        "(e.g. stream:3, film.fr.srt); default: the first found",
    ),
]
# What the export routes answer with (a test holds this to every registered format's media type).
MEDIA_TYPES = (
    "application/x-ndjson",
    "text/csv",
    "text/vtt",
    "application/x-subrip",
    "text/plain",
    "application/xml",
)
_FILE: dict[str, Any] = {"schema": {"type": "string"}}
_ONE_VIDEO: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The video in the format asked for, as a file to download.",
        "content": dict.fromkeys(MEDIA_TYPES, _FILE),
    }
}
_CATALOGUE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A catalogue format as one file; a per-video format as a ZIP of one file per video.",
        "content": dict.fromkeys((*MEDIA_TYPES, "application/zip"), _FILE),
    }
}


def _subtitle_track(format: ExportFormat, track: str | None) -> str | None:
    """The track asked for, where the format writes subtitles; other formats have no tracks to choose
    (the parameter is documented as theirs only, and a valid request is not refused for it)."""
    return track if format.value.startswith("subtitles-") else None


def _attachment(name: str) -> dict[str, str]:
    from urllib.parse import quote

    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"}


@router.get("/videos/{video_id}/export", response_class=Response, responses=_ONE_VIDEO)
async def export_video(
    request: Request,
    video_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    format: FormatQuery = JSONL,
    track: TrackQuery = None,
) -> Response:
    """One video in an export format, as a file to download: its catalogue lines (jsonl, csv), its
    transcript or subtitles (vtt, srt), its chapters (chapters-vtt, ffmetadata) or its PBCore record. A
    transcript or subtitles of a video that has none is a 404 that says so."""
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    chosen = exporter(format.value, settings, track=_subtitle_track(format, track))
    video = await run_in_threadpool(db.catalogue_entry, video_id)
    why = await run_in_threadpool(nothing_for, chosen, video)
    if why is not None:  # subtitles of a video with none: 404 saying so, not an empty file
        raise NothingToExportError(why)
    body = await run_in_threadpool(lambda: "".join(chosen.render([video])))
    return Response(body, media_type=_media_type(chosen.media_type), headers=_attachment(file_name(video, chosen)))


@router.get("/export", response_class=Response, responses=_CATALOGUE)
async def export_catalogue(
    request: Request,
    format: FormatQuery = JSONL,
    track: TrackQuery = None,
    video: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
        Query(description="only these video ids (default: every video)"),
    ] = None,
) -> Response:
    """The whole catalogue (or the videos given): jsonl and csv as one streamed file; a per-video
    format as a ZIP holding one file per video that has something to write (no empty subtitle files:
    a 404 when no video asked for has any)."""
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    chosen = exporter(format.value, settings, track=_subtitle_track(format, track))
    if video:
        for video_id in video:  # unknown ids are a 404 before anything is sent
            await run_in_threadpool(db.video_path_and_status, video_id)
        ids = list(dict.fromkeys(video))
    else:
        ids = await run_in_threadpool(db.catalogue_video_ids)
    if not chosen.per_video:
        return StreamingResponse(
            render(db, chosen, ids),
            media_type=_media_type(chosen.media_type),
            headers=_attachment(file_name(None, chosen)),
        )
    fd, name = tempfile.mkstemp(prefix="vidsearch-export-", suffix=".zip")
    os.close(fd)
    target = FilePath(name)
    try:
        await run_in_threadpool(zip_export, db, chosen, ids, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return FileResponse(
        target,
        media_type="application/zip",
        filename=f"catalogue-{chosen.name}.zip",
        background=BackgroundTask(target.unlink, missing_ok=True),
    )


def _media_type(media_type: str) -> str:
    # Starlette names the charset of text/* itself; XML and JSON Lines are UTF-8 too.
    return media_type if media_type.startswith("text/") else f"{media_type}; charset=utf-8"
