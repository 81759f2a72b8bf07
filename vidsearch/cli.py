"""The command line: index, search, suggest, ask, serve, status, reindex, import, remove, eval, demo, export."""

from __future__ import annotations

import atexit
import dataclasses
import gc
import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vidsearch.errors import ConfigError, VidsearchError
from vidsearch.kinds import MATCH_KINDS

if TYPE_CHECKING:
    from rich.progress import Progress

if TYPE_CHECKING:  # the settings (pydantic) and progress bars are imported where used: --help needs neither
    from rich.progress import Progress

    from vidsearch.config import Settings

app = typer.Typer(
    help="Semantic search over your video library.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
out = Console(soft_wrap=True)  # long paths stay whole lines (copyable, greppable)
err = Console(stderr=True, soft_wrap=True)


def _readable_help() -> None:
    """Newer typers print each argument's and flag's Python type in --help (`PATH <list[Path]>`,
    `--json <bool>`): an argument's name (its metavar) already says what it takes, and a flag takes
    nothing, so neither gets a type column. Older typers print neither and have nothing to change."""
    from typer import core

    argument_type = getattr(core.TyperArgument, "display_type_rich", None)
    option_type = getattr(core.TyperOption, "display_type_rich", None)
    if argument_type is None or option_type is None or getattr(argument_type, "readable", False):
        return

    def argument(self: Any, ctx: Any) -> str | None:
        return None if self.metavar else argument_type(self, ctx)

    def option(self: Any, ctx: Any) -> str | None:
        return None if self.is_flag and self.metavar is None else option_type(self, ctx)

    argument.readable = option.readable = True  # type: ignore[attr-defined]
    setattr(core.TyperArgument, "display_type_rich", argument)  # noqa: B010
    setattr(core.TyperOption, "display_type_rich", option)  # noqa: B010


_readable_help()

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        metavar="DIR",
        help="Data folder (database and vector index). Default: $VIDSEARCH_DATA_DIR or the user data folder.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (on stdout) instead of text.")]


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens, on stderr.")] = False,
) -> None:
    from rich.logging import RichHandler

    # A person at a terminal gets rich's layout; a log file or a pipe gets one plain line per record.
    handler: logging.Handler = (
        RichHandler(console=err, show_path=False) if err.is_terminal else logging.StreamHandler(sys.stderr)
    )
    if not err.is_terminal:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", handlers=[handler])
    # faiss says at INFO which of its builds it could not load before the one it uses: not news to a user.
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    # Model libraries print their own load bars; vidsearch shows one progress display.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # The process ends with the command: what it made is left to the operating system instead of being
    # walked and taken apart by the interpreter's shutdown collections (0.2-0.3 s after a search, half
    # as long as the search's own start). Atexit handlers (logging's flush) still run, before this one.
    _leave_objects_at_exit()


_left_at_exit = False


def _leave_objects_at_exit() -> None:
    global _left_at_exit
    if not _left_at_exit:
        atexit.register(gc.freeze)
        _left_at_exit = True


def _settings(data: Path | None, **overrides: Any) -> Settings:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from vidsearch.config import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if data is not None:
        values["data_dir"] = data
    try:
        return Settings(**values)
    except ValidationError as exc:
        err.print(f"[red]invalid settings:[/] {exc}")
        raise typer.Exit(2) from exc
    except SettingsError as exc:  # a list or mapping setting that is not JSON (VIDSEARCH_CORS_ORIGINS=http://x)
        err.print(
            f"[red]invalid settings:[/] {exc}: a list or mapping setting is written as JSON, e.g. "
            """VIDSEARCH_LIBRARY_ALLOWED_ROOTS='["/media/videos"]'""",
            soft_wrap=True,
        )
        raise typer.Exit(2) from exc


def _require_library(settings: Settings) -> None:
    """Commands that read a library stop with a pointer when the data folder holds none (rather than
    make an empty one and say "nothing indexed")."""
    if settings.database_url or (settings.data_dir / "vidsearch.db").exists():
        return
    err.print(
        f"[red]error:[/] no library in {escape(str(settings.data_dir))}: index videos with `vidsearch index FOLDER`, "
        "or point at a library with --data DIR or VIDSEARCH_DATA_DIR (the quick start keeps its library in "
        "./vidsearch-data/library and the demo in ./vidsearch-data/demo)",
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _fail(exc: VidsearchError) -> typer.Exit:
    # One line however long (a log reader greps it), and the message never read as markup.
    err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
    return typer.Exit(1)


@app.command()
def index(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="Video files or folders (searched recursively); one or more.")
    ],
    data: DataOption = None,
    window_length: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", help="Length of the clip windows a video is cut into. Default: 10."),
    ] = None,
    window_stride: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", help="Seconds between window starts. Default: the window length."),
    ] = None,
    speech: Annotated[bool, typer.Option("--speech/--no-speech", help="Transcribe speech.")] = True,
    ocr: Annotated[bool, typer.Option("--ocr/--no-ocr", help="Read on-screen text.")] = True,
    labels: Annotated[
        bool, typer.Option("--labels/--no-labels", help="Name what frames show (objects, animals, scenes).")
    ] = True,
    captioner: Annotated[
        str | None,
        typer.Option(
            metavar="NAME", help="Video language model for captions: apollo, hf-video, or a dotted class path."
        ),
    ] = None,
    captioner_model: Annotated[
        str | None,
        typer.Option(metavar="PATH_OR_ID", help="The captioner's weights: a local snapshot folder or a hub id."),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Try again files that failed before, even if unchanged.")
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Run the model work on Ray: 'local' starts a Ray instance on this machine; 'auto', "
            "host:port or ray://head:10001 joins that cluster. Needs the ray extra.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Index new and changed videos; unchanged ones are skipped without any model work."""
    from vidsearch.indexer import Indexer

    settings = _settings(
        data,
        window_length=window_length,
        window_stride=window_stride,
        speech=None if speech else "none",
        ocr=None if ocr else "none",
        visual_labels=None if labels else "none",
        captioner=captioner,
        captioner_model=captioner_model,
    )
    try:
        if ray is not None:
            if Path(ray).exists() and ray not in ("local", "auto"):
                raise ConfigError(
                    f"--ray takes a Ray address, and {ray!r} is a path: give it local, auto, host:port or "
                    "ray://head:10001"
                )
            from vidsearch.indexer.ray_runner import RayIndexer

            indexer: Indexer = RayIndexer(settings, retry_failed=retry_failed, address=ray)
        else:
            indexer = Indexer(settings, retry_failed=retry_failed)
        with _progress(disable=as_json) as progress:
            report = indexer.run(paths, progress)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
        if report.not_found:
            raise typer.Exit(1)
        return
    line = (
        f"[bold]indexed[/] {len(report.indexed)}  [bold]skipped[/] {len(report.skipped)} (unchanged)  "
        f"[bold]failed[/] {len(report.failed)}"
    )
    if report.moved or report.restored:
        line += f"  [bold]found again[/] {len(report.moved) + len(report.restored)}"
    if report.missing:
        line += f"  [bold]missing[/] {len(report.missing)}"
    if report.media_seconds:
        speed = report.media_seconds / report.wall_seconds
        line += (
            f"  ·  {report.windows} windows, {report.media_seconds:.0f}s of video in "
            f"{report.wall_seconds:.1f}s ({speed:.1f}x realtime)"
        )
    out.print(line)
    if report.failed:
        table = Table(title="Not indexed", title_justify="left")
        table.add_column("file", overflow="fold")
        table.add_column("reason", overflow="fold")
        for path, reason in report.failed:
            table.add_row(path, reason)
        out.print(table)
    for old, new in report.moved:
        out.print(f"moved: {escape(old)} → {escape(new)} (nothing re-indexed)", soft_wrap=True)
    for path in report.missing:
        out.print(
            f"[yellow]missing:[/] {escape(path)} (out of search until it is back; `vidsearch remove --missing` "
            "forgets it)",
            soft_wrap=True,
        )
    out.print(f"data: {settings.data_dir}")
    for path in report.not_found:
        err.print(f"[red]error:[/] {escape(path)}: no such file or folder", soft_wrap=True)
    if report.not_found:
        raise typer.Exit(1)


DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def _date_option(help_text: str) -> Any:
    return typer.Option(
        formats=DATE_FORMATS,
        metavar="YYYY-MM-DD",
        show_default=False,
        help=f"{help_text} A date, or a date and time as YYYY-MM-DDTHH:MM:SS (UTC).",
    )


@app.command()
def search(
    query: Annotated[
        str | None,
        typer.Argument(
            metavar="QUERY", help="What to find, in plain language (or give --image or --like).", show_default=False
        ),
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(
            "--image",
            metavar="FILE",
            help="Find moments that look like this picture (JPEG, PNG, WebP, ...): with an image-text model by "
            "its vectors, otherwise by what the frame labels see in it.",
        ),
    ] = None,
    like: Annotated[
        int | None,
        typer.Option("--like", metavar="WINDOW_ID", help="More like a result: its window_id (from --json)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-k", "--top", metavar="N", help="How many moments to show (1 to 100).")
    ] = 10,
    offset: Annotated[
        int,
        typer.Option(metavar="N", help="Skip this many moments: --offset 10 shows the second page of 10 (up to 900)."),
    ] = 0,
    path: Annotated[
        str | None,
        typer.Option(
            "--path",
            metavar="PATH",
            help="Only videos whose path starts with this: a folder (end it with / for that folder only, not "
            "its namesakes) or a file. A relative path starts from the current folder.",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            metavar="TAG",
            help="Only moments with this tag (tags come with imported descriptions); "
            "repeat it for moments with all of them.",
        ),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            metavar="KIND",
            help=f"Only what matched in this kind: {', '.join(MATCH_KINDS)} (visual: the picture itself); repeat it "
            "for any of several.",
        ),
    ] = None,
    recorded_after: Annotated[
        datetime | None, _date_option("Only videos the camera says were recorded on or after this (creation_time).")
    ] = None,
    recorded_before: Annotated[
        datetime | None, _date_option("Only videos the camera says were recorded before this (creation_time).")
    ] = None,
    modified_after: Annotated[datetime | None, _date_option("Only video files last modified on or after this.")] = None,
    modified_before: Annotated[datetime | None, _date_option("Only video files last modified before this.")] = None,
    min_duration: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Only videos at least this long.")
    ] = None,
    max_duration: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Only videos at most this long.")
    ] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find the moments that match a query, a picture (--image) or a result (--like), narrowed at will."""
    from vidsearch.search import Searcher
    from vidsearch.storage import Database
    from vidsearch.storage.filters import SearchFilters

    settings = _settings(data)
    _require_library(settings)
    if sum(x is not None for x in (query, image, like)) != 1:
        err.print("[red]error:[/] give one of: a QUERY, --image FILE or --like WINDOW_ID")
        raise typer.Exit(2)
    try:
        filters = SearchFilters(
            path_prefix=_path_prefix(path),
            tags=tuple(tag or ()),
            kinds=tuple(kind or ()),
            recorded_after=recorded_after,
            recorded_before=recorded_before,
            modified_after=modified_after,
            modified_before=modified_before,
            min_duration=min_duration,
            max_duration=max_duration,
        )
        filters.check()  # before anything is opened: a filter no library can match is a mistake to report
        db = Database(settings.resolved_database_url)
        if path and not Path(path).expanduser().is_absolute():
            # An imported video may be known by a key rather than a path ("s30-d52"): a relative --path
            # that matches only as written is taken as written.
            resolved, written = SearchFilters(path_prefix=filters.path_prefix), SearchFilters(path_prefix=path)
            if not db.any_text(resolved) and db.any_text(written):
                filters = dataclasses.replace(filters, path_prefix=path)
        # One query in this process: nothing read up front that it does not need (Searcher's one_shot),
        # and the query embedded without torch where the query encoder's descriptor allows.
        searcher = Searcher(settings, db, one_shot=True)
        if image is not None:
            response = searcher.search_image(
                _read_image(image), limit, offset=offset, filters=filters, label=str(image)
            )
        elif like is not None:
            response = searcher.similar(like, limit, offset=offset, filters=filters)
        else:
            assert query is not None
            response = searcher.search(query, limit, offset=offset, filters=filters)
        why = (response.note or searcher.why_empty(filters, offset)) if not response.results else None
    except VidsearchError as exc:
        raise _fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(response.to_dict(), ensure_ascii=False, indent=2) + "\n")
        if why:
            err.print(f"no results: {escape(why)}", soft_wrap=True)
            raise typer.Exit(1)  # like grep: nothing found is a distinct outcome
        return
    if why:
        out.print(f"no results: {escape(why)}" if why != "no results" else why, soft_wrap=True)
        raise typer.Exit(1)
    table = Table(title=f"“{escape(response.query)}”", title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score")
    table.add_column("video", overflow="fold", min_width=22)
    table.add_column("time", no_wrap=True)
    table.add_column("what matched", ratio=1)
    for i, moment in enumerate(response.results, offset + 1):
        shown = moment.snippets or []
        said = "\n".join(f"[dim]{s.kind}:[/] {_marked(s.text[:200], s.marks)}" for s in shown)
        if not said:
            said = "\n".join(f"[dim]{k}:[/] {escape(t[:200])}" for k, t in moment.texts.items())
        where = f"{_clock(moment.start)}–{_clock(moment.end)}"
        table.add_row(str(i), f"{moment.score:.3f}", escape(_short_path(moment.path)), where, said)
    out.print(table)


def _read_image(path: Path) -> Any:
    """A picture file given to search by, decoded safely; a clear error for one that is missing or bad."""
    from vidsearch.errors import InvalidQueryError
    from vidsearch.media.images import decode_image

    try:
        data = path.expanduser().read_bytes()
    except OSError as exc:
        raise InvalidQueryError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return decode_image(data, str(path))


@app.command()
def suggest(
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=50, metavar="N", help="How many searches.")] = 3,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a few searches to try, drawn from what the indexed videos say.

    One per line, each a phrase from a different video where there are enough of them. It reads the
    database only (no model runs), so it is quick."""
    from vidsearch.search.suggest import suggest_queries
    from vidsearch.storage import Database

    settings = _settings(data)
    _require_library(settings)
    try:
        suggestions = suggest_queries(Database(settings.resolved_database_url), count)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps([s.to_dict() for s in suggestions], ensure_ascii=False, indent=2) + "\n")
    else:  # plain lines, for a person to copy and for a script to read
        sys.stdout.write("".join(f"{s.query}\n" for s in suggestions))
    if not suggestions:
        err.print("nothing to suggest: no indexed video says anything yet (vidsearch status tells what is indexed)")


def _path_prefix(value: str | None) -> str | None:
    """--path as the indexer stores paths: absolute, with symlinks resolved (it resolves what it is given).
    A trailing slash keeps meaning "inside this folder"."""
    if not value:
        return None
    resolved = str(Path(value).expanduser().resolve())
    if value.endswith(("/", os.sep)) and not resolved.endswith(("/", os.sep)):
        resolved += "/"
    return resolved


def _marked(text: str, marks: list[tuple[int, int]]) -> str:
    """Rich markup with the query's words in bold."""
    parts, last = [], 0
    for start, end in marks:
        if start >= len(text):
            break
        parts += [escape(text[last:start]), f"[bold yellow]{escape(text[start:end])}[/]"]
        last = end
    return "".join(parts) + escape(text[last:])


@app.command()
def ask(
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="A question about the library.")],
    k: Annotated[int, typer.Option("-k", "--top", metavar="N", help="How many moments to answer from.")] = 5,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from the best-matching moments, citing them."""
    from vidsearch.models.loader import ModelSet
    from vidsearch.search import Searcher
    from vidsearch.search.answer import Asker
    from vidsearch.storage import Database

    settings = _settings(data)
    _require_library(settings)
    try:
        models = ModelSet(settings)
        db = Database(settings.resolved_database_url)
        searcher = Searcher(settings, db, models.embedder, one_shot=True)
        answer = Asker(settings, searcher, models.answerer).ask(question, k)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    out.print(answer.answer)
    for citation in answer.citations:
        out.print(f"  [{citation.number}] {citation.path}  {_clock(citation.start)}–{_clock(citation.end)}")
    if answer.note:
        out.print(f"[dim]{answer.note}[/]")


@app.command()
def serve(
    data: DataOption = None,
    host: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", help="Address to listen on. Default: 127.0.0.1 (this machine only)."),
    ] = None,
    port: Annotated[int | None, typer.Option(metavar="PORT", help="Port to listen on. Default: 8000.")] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="Development run: allow a public address with no API key.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Server processes, each with its own models and index (about one per core). Default: 1.",
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Keep the library current: a watcher process indexes files as they land in the library's "
            "folders and takes deleted ones out of search.",
        ),
    ] = False,
) -> None:
    """Serve the web page and the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from vidsearch.api import create_app
    from vidsearch.api.security import ApiKeyStore, check_exposure

    settings = _settings(data, host=host, port=port, dev=dev or None, api_workers=workers)
    try:
        check_exposure(settings, ApiKeyStore(settings.data_dir))
    except VidsearchError as exc:
        raise _fail(exc) from exc
    out.print(
        f"vidsearch API on http://{settings.host}:{settings.port}  (docs: /docs, data: {settings.data_dir}, "
        f"{settings.api_workers} process{'es' if settings.api_workers > 1 else ''})"
    )
    if watch:
        from vidsearch.indexer.watch import start_watcher_process

        watcher = start_watcher_process(settings)
        atexit.register(_stop_process, watcher)
    if settings.api_workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
        return
    # Worker processes build their app from the environment: hand them these settings through it,
    # and split the cores between them rather than have each use them all.
    os.environ.update(settings.as_environment())
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // settings.api_workers)))
    # The workers' request metrics add up through files in a fresh folder (prometheus-client's multiprocess mode).
    from vidsearch.api.metrics import MULTIPROCESS_ENV, fresh_multiprocess_dir

    os.environ[MULTIPROCESS_ENV] = str(fresh_multiprocess_dir(settings.data_dir))
    uvicorn.run(
        "vidsearch.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.api_workers,
        log_level="info",
    )


def _stop_process(process: Any) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except Exception:
            process.kill()


@app.command()
def watch(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FOLDER",
            help="Folders to watch (recursively). Default: the library's folders, and any registered later.",
            show_default=False,
        ),
    ] = None,
    data: DataOption = None,
    polling: Annotated[
        bool, typer.Option("--polling", help="Poll instead of inotify (network mounts: NFS, SMB).")
    ] = False,
    parent: Annotated[
        int | None,
        typer.Option(hidden=True, metavar="PID", help="Stop when this process (the server that started it) ends."),
    ] = None,
) -> None:
    """Index video files as they land in the folders and take deleted ones out of search, until stopped.

    A file is taken once it has stopped growing; files landing together are indexed as one run. What
    changed while nobody watched is caught up first."""
    from vidsearch.indexer.watch import watch_until_stopped

    settings = _settings(data, watch_polling=True if polling else None)
    logging.getLogger("vidsearch.indexer.watch").setLevel(logging.INFO)
    folders = [p.expanduser() for p in paths] if paths else None
    for folder in folders or []:
        if not folder.is_dir():
            err.print(f"[red]error:[/] {escape(str(folder))}: not a folder")
            raise typer.Exit(2)
    out.print(
        f"watching {', '.join(map(str, folders)) if folders else 'the library folders'} (data: {settings.data_dir})"
    )
    try:
        watch_until_stopped(settings, folders, parent_pid=parent)
    except VidsearchError as exc:
        raise _fail(exc) from exc


@app.command()
def status(data: DataOption = None, as_json: JsonOption = False) -> None:
    """What is indexed, what failed and why, which index generation is served, and a running job."""
    from vidsearch.indexer import progress as index_progress
    from vidsearch.storage import Database
    from vidsearch.storage.schema import VideoStatus
    from vidsearch.storage.vectors import read_manifest

    settings = _settings(data)
    _require_library(settings)
    try:
        db = Database(settings.resolved_database_url)
        counts, failed = db.status_counts(), db.failed_videos()
        missing = [v.path for v in db.videos_with_status(VideoStatus.MISSING)]
        external = [v.path for v in db.videos_with_status(VideoStatus.EXTERNAL)]
        manifest = read_manifest(settings.vector_dir)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    job = index_progress.read(settings.data_dir)
    summary = {
        "data_dir": str(settings.data_dir),
        "videos": counts,
        "failed": [{"path": p, "reason": r} for p, r in failed],
        "missing": missing,
        "known_only_by_key": external,
        "index": None
        if manifest is None
        else {
            "generation": manifest.generation,
            "vectors": manifest.vector_count,
            "embedder": manifest.embedder_model_id,
            "revision": manifest.embedder_revision,
            "dimension": manifest.dimension,
        },
        "job": job.to_dict() if job else None,
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(f"data: {settings.data_dir}")
    out.print("videos: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    if manifest:
        out.print(
            f"index: generation {manifest.generation}, {manifest.vector_count} vectors, "
            f"{manifest.embedder_model_id} ({manifest.embedder_revision}, {manifest.dimension} dims)"
        )
    if job and job.running:
        out.print(f"indexing: {job.files_done} of {job.files_total} files, now {job.current or '...'}")
    for path, reason in failed:
        out.print(f"[red]failed[/] {escape(path)}: {escape(reason)}", soft_wrap=True)
    for path in missing:
        out.print(f"[yellow]missing[/] {escape(path)} (out of search until it is back)", soft_wrap=True)
    if external:
        shown = ", ".join(external[:10]) + (f" and {len(external) - 10} more" if len(external) > 10 else "")
        out.print(
            f"known only by key (imported descriptions of videos that are no file here): {escape(shown)}",
            soft_wrap=True,
        )


@app.command()
def reindex(data: DataOption = None) -> None:
    """Rebuild the vector index from the database (after damage or an embedder change); no video is decoded."""
    from vidsearch.indexer.pipeline import writer_lock
    from vidsearch.storage import Database

    settings = _settings(data)
    _require_library(settings)
    try:
        with writer_lock(settings.data_dir):
            manifest = _publish(settings, Database(settings.resolved_database_url))
    except VidsearchError as exc:
        raise _fail(exc) from exc
    out.print(f"index generation {manifest.generation}: {manifest.vector_count} vectors")


@app.command("import")
def import_(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILE",
            help="JSONL or CSV rows (video, start, end, text; optional kind, tags, duration, id), or SRT/WebVTT "
            "files beside their video.",
            show_default=False,
        ),
    ] = None,
    data: DataOption = None,
    source: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Name this import (default: each file's full path). Importing again under the same "
            "name replaces what it imported before.",
        ),
    ] = None,
    remove: Annotated[
        str | None,
        typer.Option("--remove", metavar="FILE_OR_NAME", help="Take out everything an earlier import added."),
    ] = None,
    list_imports: Annotated[bool, typer.Option("--list", help="List the imports and how many rows each has.")] = False,
) -> None:
    """Import timestamped descriptions as searchable windows, without decoding any video.

    Importing a file again brings the library to what the file says now (changed rows replaced, rows no
    longer in it taken out); nothing is added twice. Re-indexing a video keeps its imported rows."""
    from vidsearch.indexer.annotations import import_annotations, remove_import
    from vidsearch.indexer.pipeline import writer_lock
    from vidsearch.storage import Database

    settings = _settings(data)
    if list_imports:
        for name, rows in Database(settings.resolved_database_url).import_sources().items():
            out.print(f"{rows:>8}  {name or '(imported before imports were named)'}")
        return
    if not files and remove is None:
        err.print("[red]error:[/] give the files to import, --remove FILE_OR_NAME, or --list")
        raise typer.Exit(2)
    try:
        with writer_lock(settings.data_dir):
            db = Database(settings.resolved_database_url)
            if remove is not None:
                removed = remove_import(db, remove)
                changed = removed > 0
                out.print(f"removed {removed} imported {'row' if removed == 1 else 'rows'} of {remove}")
            if files:
                report = import_annotations(db, files, source=source)
                changed = report.changes.changed or (remove is not None and removed > 0)
                for problem in report.failed_files:
                    err.print(f"[red]not imported[/] {escape(problem)}", soft_wrap=True)
                for problem in report.skipped:
                    err.print(f"[yellow]skipped[/] {escape(problem)}", soft_wrap=True)
                if report.not_found:
                    err.print(
                        "[yellow]no such file here[/] (kept as videos known only by that name): "
                        + escape(", ".join(report.not_found))
                    )
                if report.indexed_here:
                    out.print(
                        "indexed in this library (its own windows and facts kept; the catalogue's descriptions "
                        f"imported): {escape(', '.join(report.indexed_here[:10]))}"
                        + (f" and {len(report.indexed_here) - 10} more" if len(report.indexed_here) > 10 else "")
                    )
                if report.external:
                    out.print(
                        "known only by key (no file): "
                        + escape(", ".join(report.external[:10]))
                        + (f" and {len(report.external) - 10} more" if len(report.external) > 10 else "")
                    )
                out.print(report.summary())
                if report.restored and not db.library_roots():
                    # Files are served and thumbnailed only under folders this library indexed.
                    out.print(
                        "[dim]to play these videos and see their thumbnails here, index their folders "
                        "(`vidsearch index FOLDER`): files unchanged since the catalogue are not indexed again[/]"
                    )
            manifest = _publish(settings, db) if changed else None
    except VidsearchError as exc:
        raise _fail(exc) from exc
    out.print(f"index generation {manifest.generation}" if manifest else "nothing changed: no new index generation")
    if files and report.failed_files:
        raise typer.Exit(1)


def _publish(settings: Settings, db: Any) -> Any:
    """Embed what has no vector yet and publish new index generations of every configured space (the
    caller holds the writer lock)."""
    from vidsearch.indexer.generations import publish_generations
    from vidsearch.models.loader import ModelSet
    from vidsearch.storage.library import name_text
    from vidsearch.storage.thumbnails import ThumbnailStore

    models = ModelSet(settings)
    db.sync_name_texts(lambda path: name_text(path, db.library_roots()), lambda: models.embedder)
    if settings.video_descriptions:
        from vidsearch.export.description import describe_videos

        describe_videos(db, settings, lambda: models.answerer, embedder=lambda: models.embedder)
    with _progress() as progress:
        return publish_generations(db, models, settings, progress, ThumbnailStore(settings.thumbnail_dir))


@app.command()
def remove(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TARGET",
            help="Videos to take out of the library: a path (a folder takes every video under it), an id, or the "
            "key of a video known only by key.",
            show_default=False,
        ),
    ] = None,
    missing: Annotated[bool, typer.Option("--missing", help="Remove every video whose file is gone.")] = False,
    data: DataOption = None,
) -> None:
    """Remove videos from the library (windows, texts, imported ones too, vectors); never the files."""
    from vidsearch.indexer.pipeline import writer_lock
    from vidsearch.storage import Database
    from vidsearch.storage.schema import VideoStatus

    settings = _settings(data)
    _require_library(settings)
    if not targets and not missing:
        err.print("[red]error:[/] name the videos to remove (path, folder or id), or give --missing")
        raise typer.Exit(2)
    try:
        with writer_lock(settings.data_dir):
            db = Database(settings.resolved_database_url)
            chosen: dict[int, str] = {}
            unknown: list[str] = []
            for target in targets or []:
                as_path = Path(target).expanduser()
                candidates = [target, str(as_path.resolve())] if not target.isdigit() else [target]
                found = next((v for c in candidates if (v := db.resolve_videos(c))), [])
                if not found:
                    unknown.append(target)
                chosen.update((v.id, v.path) for v in found)
            if missing:
                chosen.update((v.id, v.path) for v in db.videos_with_status(VideoStatus.MISSING))
            for target in unknown:
                err.print(f"[red]not in the library:[/] {escape(target)}", soft_wrap=True)
            if chosen:
                imported = db.imported_rows(list(chosen))
                db.remove_videos(list(chosen))
                for path in sorted(chosen.values()):
                    out.print(f"removed {escape(path)}", soft_wrap=True)
                if imported:
                    out.print(f"with {imported} imported description{'' if imported == 1 else 's'} of them")
                manifest = _publish(settings, db)
                out.print(f"index generation {manifest.generation}")
            elif not unknown:
                out.print("nothing to remove")
    except VidsearchError as exc:
        raise _fail(exc) from exc
    if unknown:
        raise typer.Exit(1)


@app.command("eval")
def eval_(
    sets: Annotated[
        Path | None,
        typer.Option(
            "--sets",
            metavar="DIR",
            help="Score every NAME_segments.jsonl + NAME_queries.jsonl pair in DIR (e.g. ../shared/eval) and "
            "their mean.",
        ),
    ] = None,
    segments: Annotated[
        Path | None, typer.Option(metavar="FILE", help="JSONL of {video, start, end, text}: what the index holds.")
    ] = None,
    queries: Annotated[
        Path | None, typer.Option(metavar="FILE", help="JSONL of {query, video, start, end}: what should be found.")
    ] = None,
    variants: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help='JSON of variants to compare, {"name": {"setting": value}}, over the same imported sets.',
        ),
    ] = None,
    nonsense: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Queries with no right answer, one a line: report the share that comes back empty.",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(metavar="N", help="Only the first N queries of each set.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score retrieval on labelled sets in throwaway data folders: recall at IoU 0.5/0.7, mIoU, latency."""
    from vidsearch.models.loader import ModelSet
    from vidsearch.search.evaluation import EvalSet, evaluate_sets, find_sets, read_variants

    settings = _settings(None)
    try:
        chosen: list[EvalSet] = find_sets(sets) if sets is not None else []
        if segments is not None or queries is not None:
            if segments is None or queries is None:
                raise ConfigError("--segments and --queries go together")
            chosen.append(EvalSet(segments.stem.removesuffix("_segments"), segments, queries))
        if not chosen:
            raise ConfigError("give --sets DIR, or --segments FILE with --queries FILE")
        missing = [str(p) for s in chosen for p in (s.segments, s.queries) if not p.is_file()]
        if missing:
            raise ConfigError(f"no such file: {', '.join(missing)}")
        wanted = read_variants(variants) if variants is not None else None
        odd = [line.strip() for line in nonsense.read_text().splitlines() if line.strip()] if nonsense else []
        result = evaluate_sets(chosen, settings, ModelSet(settings).embedder, limit, wanted, odd)
    except OSError as exc:
        raise _fail(ConfigError(f"{exc.filename}: {exc.strerror}")) from exc
    except VidsearchError as exc:
        raise _fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    for name, run in result.items() if wanted else [("", result)]:
        rows = {**run["sets"], "mean": run["mean"]}
        keys = list(next(iter(run["sets"].values())))
        table = Table("metric", *rows, title=f"variant {name}" if name else None)
        for key in keys:
            table.add_row(key, *(str(r.get(key, "")) for r in rows.values()))
        out.print(table)


@app.command()
def demo(folder: Annotated[Path, typer.Argument(metavar="DIR", help="Where to write the demo videos.")]) -> None:
    """Make a small demo library (narration, on-screen titles, subtitles) from packaged sample photos."""
    from vidsearch.demo import build_demo_library

    try:
        built = build_demo_library(folder)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    for name, spans in built.items():
        out.print(f"{folder / name}  ({spans[-1].end:.0f}s, {len(spans)} scenes)")


api_key_app = typer.Typer(help="Manage API keys (stored hashed in the data folder).", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")


@api_key_app.command("create")
def api_key_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A name for the key, e.g. the client.")],
    data: DataOption = None,
    admin: Annotated[
        bool,
        typer.Option("--admin", help="May also register library folders and start and cancel index jobs."),
    ] = False,
) -> None:
    """Create a key; it is printed once and only its hash is kept. A key searches and reads the library;
    an --admin key also manages folders and index jobs."""
    from vidsearch.api.security import ApiKeyStore

    try:
        token = ApiKeyStore(_settings(data).data_dir).create(name, admin=admin)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    out.print(token)
    err.print("Keep it now: only its hash is stored. Send it as `Authorization: Bearer KEY`.")


@api_key_app.command("list")
def api_key_list(data: DataOption = None) -> None:
    """Names of the keys that exist (an admin key's with "(admin)")."""
    from vidsearch.api.security import ADMIN_ROLE, ApiKeyStore

    for name, role in ApiKeyStore(_settings(data).data_dir).roles().items():
        out.print(f"{name} (admin)" if role == ADMIN_ROLE else name)


@api_key_app.command("revoke")
def api_key_revoke(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The key's name (api-key list shows them).")],
    data: DataOption = None,
) -> None:
    """Delete a key."""
    from vidsearch.api.security import ApiKeyStore

    if not ApiKeyStore(_settings(data).data_dir).revoke(name):
        err.print(f"[red]error:[/] no API key named {name!r}")
        raise typer.Exit(1)
    out.print(f"revoked {name}")


def _progress(disable: bool = False) -> Progress:
    """Progress on stderr: bars for a person at a terminal, plain lines ("videos · name.mp4: 3/10 (41s
    elapsed, about 1m30s left)") when stderr is a log, a pipe or a CI run. `disable` (a --json run) keeps a
    terminal quiet; the lines still go to a stderr that is not one, and never to stdout."""
    from vidsearch.progress_display import progress_display

    return progress_display(err, quiet_terminal=disable)


def _short_path(path: str) -> str:
    """The folder and file name: enough to tell videos apart in a narrow terminal."""
    parts = Path(path).parts
    return str(Path(*parts[-2:])) if len(parts) >= 2 else path


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# `export` lives in a module of its own (the catalogue's formats, chaptered copies).
from vidsearch.cli_export import export_command  # noqa: E402

app.command("export")(export_command)
