"""Taking the catalogue out: every export format behind one registry (`formats.EXPORTERS`), chapters,
descriptions, and chaptered copies of video files. Reads storage only; the CLI and the API call it."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from vidsearch.errors import ConfigError, InvalidQueryError
from vidsearch.export.formats import EXPORTERS, Exporter
from vidsearch.storage.catalogue import VideoEntry

if TYPE_CHECKING:
    from vidsearch.config import Settings
    from vidsearch.storage import Database

log = logging.getLogger(__name__)

CATALOGUE_STEM = "catalogue"


def format_names() -> list[str]:
    return EXPORTERS.names()


def exporter(name: str, settings: Settings, *, plugins: bool = False) -> Exporter:
    """The format registered under `name` (with `plugins`, a dotted class path too: the command line's
    choice; a web request can only name a registered format)."""
    if name not in EXPORTERS.names() and not plugins:
        raise InvalidQueryError(f"unknown export format {name!r}; known: {', '.join(EXPORTERS.names())}")
    try:
        return EXPORTERS.create(name, settings)
    except ConfigError as exc:
        raise InvalidQueryError(str(exc)) from exc


def file_name(video: VideoEntry | None, chosen: Exporter, *, with_id: bool = False) -> str:
    """What an export file is called: the catalogue's, or the video's file name (or key) with the
    format's ending; `with_id` puts the video's id first, so that names in one folder never collide."""
    if video is None:
        return CATALOGUE_STEM + chosen.suffix
    stem = PurePath(video.path).stem if video.has_file else video.path
    stem = re.sub(r"[^\w.\- ]+", "_", stem).strip(" .") or "video"
    return (f"{video.id}-{stem}" if with_id else stem) + chosen.suffix


def render(db: Database, chosen: Exporter, video_ids: Iterable[int]) -> Iterator[str]:
    """A catalogue format's text over these videos, read one video at a time."""
    return chosen.render(db.catalogue_entries(video_ids))


def write_export(db: Database, chosen: Exporter, out: Path, video_ids: list[int] | None = None) -> list[Path]:
    """Write the export under the folder `out` (made if missing): one file for a catalogue format, one
    per video for a per-video format. Each file is written under a temporary name and renamed, so a
    file there is always whole. Returns the files written."""
    ids = db.catalogue_video_ids() if video_ids is None else video_ids
    out.mkdir(parents=True, exist_ok=True)
    if not chosen.per_video:
        target = out / file_name(None, chosen)
        _write(target, render(db, chosen, ids))
        return [target]
    written = []
    for video in db.catalogue_entries(ids):
        target = out / file_name(video, chosen, with_id=len(ids) > 1)
        _write(target, chosen.render([video]))
        written.append(target)
    return written


def _write(target: Path, pieces: Iterable[str]) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            for piece in pieces:
                f.write(piece)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.info("wrote %s", target)


def zip_export(db: Database, chosen: Exporter, video_ids: list[int], target: Path) -> None:
    """A per-video format over many videos as one ZIP file of their files (the API's bulk export)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for video in db.catalogue_entries(video_ids):
            archive.writestr(file_name(video, chosen, with_id=True), "".join(chosen.render([video])))


__all__ = ["EXPORTERS", "Exporter", "exporter", "file_name", "format_names", "render", "write_export", "zip_export"]
