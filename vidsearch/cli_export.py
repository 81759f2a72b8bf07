"""`vidsearch export`: the catalogue in the formats archives use (registered in vidsearch/export/formats.py),
and chaptered copies of video files. Registered on the CLI's app by vidsearch/cli.py; imports what it
uses where it uses it (the CLI's --help loads none of it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from vidsearch.cli import DataOption, _fail, _require_library, _settings, err, out
from vidsearch.errors import NotFoundError, NothingToExportError, VidsearchError

if TYPE_CHECKING:
    from vidsearch.storage import Database

DEFAULT_OUT = Path("vidsearch-export")


def export_command(
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="jsonl, csv (the catalogue); vtt, srt (speech transcripts); subtitles-vtt, subtitles-srt; "
            "chapters-vtt, ffmetadata (chapters); pbcore (a PBCore 2.1 record per video). Repeat for several. "
            "Default: jsonl.",
        ),
    ] = None,
    videos: Annotated[
        list[str] | None,
        typer.Option("--video", metavar="ID_OR_PATH", help="Only this video (its id, path or key); repeatable."),
    ] = None,
    out_dir: Annotated[
        Path,
        typer.Option("--out", "-o", metavar="DIR", help="Folder the files go to; '-' prints a catalogue format."),
    ] = DEFAULT_OUT,
    embed_chapters: Annotated[
        bool,
        typer.Option(
            "--embed-chapters",
            help="Also write a chaptered copy of each video file into DIR (streams copied, never re-encoded; "
            "the original is not touched).",
        ),
    ] = False,
    track: Annotated[
        str | None,
        typer.Option(
            "--track",
            metavar="TRACK",
            help="subtitles-vtt/-srt: the subtitle track or sidecar file to write (e.g. stream:3, film.fr.srt); "
            "default: the first found.",
        ),
    ] = None,
    list_formats: Annotated[bool, typer.Option("--list-formats", help="List the formats and stop.")] = False,
    data: DataOption = None,
) -> None:
    """Export the catalogue: videos, windows, texts with the model of each, tags, chapters.

    `vidsearch import` reads the JSON Lines back into another library (the same windows and texts)."""
    from vidsearch.export import exporter, format_names, render, write_export

    if list_formats:
        for name in format_names():
            out.print(name)
        return
    settings = _settings(data)
    _require_library(settings)
    from vidsearch.storage import Database

    db = Database(settings.resolved_database_url)
    try:
        if track is not None and not any(name.startswith("subtitles-") for name in formats or []):
            err.print("[red]error:[/] --track chooses the subtitle track of subtitles-vtt or subtitles-srt")
            raise typer.Exit(2)
        chosen = [
            exporter(name, settings, plugins=True, track=track if name.startswith("subtitles-") else None)
            for name in (formats or ["jsonl"])
        ]
        ids = _video_ids(db, videos) if videos else None
        if str(out_dir) == "-":
            if len(chosen) != 1 or chosen[0].per_video or embed_chapters:
                err.print("[red]error:[/] --out - prints one catalogue format (jsonl or csv) and nothing else")
                raise typer.Exit(2)
            for piece in render(db, chosen[0], ids if ids is not None else db.catalogue_video_ids()):
                sys.stdout.write(piece)
            return
        empty = False
        for one in chosen:
            try:
                written = write_export(db, one, out_dir, ids)
            except NothingToExportError as exc:  # the one video asked for: say so, write the other formats
                err.print(f"[red]error:[/] {one.name}: {escape(str(exc))}", soft_wrap=True)
                empty = True
                continue
            count = len(written.files)
            summary = f"{one.name}: {count} {'file' if count == 1 else 'files'} in {escape(str(out_dir))}"
            if written.skipped:  # a video with nothing in this format gets no file, not an empty one
                summary += f"; none for {len(written.skipped)} {'video' if len(written.skipped) == 1 else 'videos'}"
            out.print(summary)
            for why in written.skipped:
                err.print(f"[yellow]no {one.name} file:[/] {escape(why)}", soft_wrap=True)
        if embed_chapters:
            _embed(db, settings, ids, out_dir)
        if empty:
            raise typer.Exit(1)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    finally:
        db.close()


def _video_ids(db: Database, given: list[str]) -> list[int]:
    ids = []
    for value in given:
        if value.isdigit():
            try:
                db.video_path_and_status(int(value))
                ids.append(int(value))
                continue
            except NotFoundError:
                pass
        candidates = [value, str(Path(value).expanduser().resolve())]
        found = next((v for v in map(db.video_by_path, candidates) if v is not None), None)
        if found is None:
            raise NotFoundError(f"no video {value!r} in this library (give its id, its path or its key)")
        ids.append(found.id)
    return ids


def _embed(db: Database, settings: object, ids: list[int] | None, out_dir: Path) -> None:
    from vidsearch.export.embed import chaptered_name, embed_chapters
    from vidsearch.export.formats import ChapterSettings, video_title

    chapters = ChapterSettings.of(settings)  # type: ignore[arg-type]
    failed = 0
    chosen_ids = ids if ids is not None else db.catalogue_video_ids()
    several = len(chosen_ids) > 1
    for video in db.catalogue_entries(chosen_ids):
        if not video.has_file:
            continue
        source = Path(video.path)
        try:
            target = out_dir / chaptered_name(source, video.id if several else None)
            embed_chapters(source, chapters.chapters(video), video_title(video), target)
            out.print(f"chaptered copy: {escape(str(target))}")
        except VidsearchError as exc:  # one file's problem: the others go on
            failed += 1
            err.print(f"[yellow]no chaptered copy[/] {escape(str(exc))}", soft_wrap=True)
    if failed:
        raise typer.Exit(1)
