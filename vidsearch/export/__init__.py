"""Taking the catalogue out: every export format behind one registry (`formats.EXPORTERS`), chapters,
descriptions, and chaptered copies of video files. Reads storage only; the CLI and the API call it."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, cast

from vidsearch.errors import ConfigError, InvalidQueryError, NothingToExportError, StorageError
from vidsearch.export.formats import EXPORTERS, Exporter, nothing_to_write
from vidsearch.storage.catalogue import VideoEntry

if TYPE_CHECKING:
    from vidsearch.config import Settings
    from vidsearch.storage import Database

log = logging.getLogger(__name__)

CATALOGUE_STEM = "catalogue"


def format_names() -> list[str]:
    return EXPORTERS.names()


def exporter(name: str, settings: Settings, *, plugins: bool = False, track: str | None = None) -> Exporter:
    """The format registered under `name` (with `plugins`, a dotted class path too: the command line's
    choice; a web request can only name a registered format); `track`: which subtitle track or sidecar
    file the subtitle formats write (default: the first found)."""
    if name not in EXPORTERS.names() and not plugins:
        raise InvalidQueryError(f"unknown export format {name!r}; known: {', '.join(EXPORTERS.names())}")
    try:
        chosen = EXPORTERS.create(name, settings)
    except ConfigError as exc:
        raise InvalidQueryError(str(exc)) from exc
    if track is None:
        return chosen
    with_track = getattr(chosen, "with_track", None)
    if not callable(with_track):
        raise InvalidQueryError(f"a track is chosen for subtitles only, not for {name}")
    return cast(Exporter, with_track(track))


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


@dataclass
class WrittenExport:
    files: list[Path] = field(default_factory=list)
    # The videos a per-video format had nothing to write for, each as "video ID (PATH) has no ...".
    skipped: list[str] = field(default_factory=list)


def nothing_for(chosen: Exporter, video: VideoEntry) -> str | None:
    """ "video ID (PATH) has no subtitles ..." when the format has nothing to write for the video."""
    why = nothing_to_write(chosen, video)
    return None if why is None else f"video {video.id} ({video.path}) {why}"


def write_export(db: Database, chosen: Exporter, out: Path, video_ids: list[int] | None = None) -> WrittenExport:
    """Write the export under the folder `out` (made if missing): one file for a catalogue format, one
    per video for a per-video format. Each file is written under a temporary name and renamed, so a
    file there is always whole. A video the format has nothing to write for (subtitles of a video with
    none) gets no file: it is listed in `skipped`, or, when it is the one video asked for, an error
    (NothingToExportError)."""
    ids = db.catalogue_video_ids() if video_ids is None else video_ids
    prepare_folder(out)
    if not chosen.per_video:
        target = out / file_name(None, chosen)
        _write(target, render(db, chosen, ids))
        return WrittenExport([target])
    written = WrittenExport()
    for video in db.catalogue_entries(ids):
        why = nothing_for(chosen, video)
        if why is not None:
            if video_ids is not None and len(ids) == 1:  # asked for by name: an empty file would hide it
                raise NothingToExportError(why)
            log.info("no %s file: %s", chosen.name, why)
            written.skipped.append(why)
            continue
        target = out / file_name(video, chosen, with_id=len(ids) > 1)
        _write(target, chosen.render([video]))
        written.files.append(target)
    return written


def prepare_folder(out: Path) -> None:
    """Make the output folder; a path that is a file, or a folder that cannot be written, is one clear
    error (StorageError) instead of a traceback."""
    if out.exists() and not out.is_dir():
        raise StorageError(f"--out {out}: is a file, not a folder (give a folder; '-' prints to stdout)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"--out {out}: cannot make the folder ({exc.strerror})") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise StorageError(f"--out {out}: the folder is not writable")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write(target: Path, pieces: Iterable[str]) -> None:
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise StorageError(f"cannot write {target} ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            for piece in pieces:
                f.write(piece)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600: export files are for sharing
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise StorageError(f"cannot write {target} ({exc.strerror})") from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.info("wrote %s", target)


def zip_export(db: Database, chosen: Exporter, video_ids: list[int], target: Path) -> list[str]:
    """A per-video format over many videos as one ZIP file of their files (the API's bulk export).
    Videos the format has nothing to write for get no file; they are returned ("video ID (PATH) has no
    ..."), and when that is every video, it is an error (NothingToExportError)."""
    skipped = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for video in db.catalogue_entries(video_ids):
            why = nothing_for(chosen, video)
            if why is not None:
                log.info("no %s file: %s", chosen.name, why)
                skipped.append(why)
                continue
            archive.writestr(file_name(video, chosen, with_id=True), "".join(chosen.render([video])))
    if skipped and len(skipped) == len(video_ids):
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        raise NothingToExportError(f"nothing to export as {chosen.name}: " + "; ".join(skipped[:3]) + more)
    return skipped


__all__ = [
    "EXPORTERS",
    "Exporter",
    "WrittenExport",
    "exporter",
    "file_name",
    "format_names",
    "nothing_for",
    "prepare_folder",
    "render",
    "write_export",
    "zip_export",
]
