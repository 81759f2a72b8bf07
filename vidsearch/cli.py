"""The command line: vidsearch index | search | serve | status | reindex | demo."""

from __future__ import annotations

import atexit
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

if TYPE_CHECKING:  # the settings (pydantic) and progress bars are imported where used: --help needs neither
    from rich.progress import Progress

    from vidsearch.config import Settings

app = typer.Typer(help="Semantic search over your video library.", no_args_is_help=True, pretty_exceptions_enable=False)
out = Console()
err = Console(stderr=True)

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Data folder (database and vector index). Default: $VIDSEARCH_DATA_DIR or the user data folder."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )
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

    from vidsearch.config import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if data is not None:
        values["data_dir"] = data
    try:
        return Settings(**values)
    except ValidationError as exc:
        err.print(f"[red]invalid settings:[/] {exc}")
        raise typer.Exit(2) from exc


def _fail(exc: VidsearchError) -> typer.Exit:
    err.print(f"[red]error:[/] {exc}")
    return typer.Exit(1)


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Video files or folders (searched recursively).")],
    data: DataOption = None,
    window_length: Annotated[float | None, typer.Option(help="Window length, seconds.")] = None,
    window_stride: Annotated[float | None, typer.Option(help="Seconds between window starts.")] = None,
    speech: Annotated[bool, typer.Option("--speech/--no-speech", help="Transcribe speech.")] = True,
    ocr: Annotated[bool, typer.Option("--ocr/--no-ocr", help="Read on-screen text.")] = True,
    captioner: Annotated[
        str | None, typer.Option(help="Video language model for captions: apollo, hf-video, or a dotted class path.")
    ] = None,
    captioner_model: Annotated[
        str | None, typer.Option(help="The captioner's weights: a local snapshot folder or a hub id.")
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
        return
    line = (
        f"[bold]indexed[/] {len(report.indexed)}  [bold]skipped[/] {len(report.skipped)} (unchanged)  "
        f"[bold]failed[/] {len(report.failed)}"
    )
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
    out.print(f"data: {settings.data_dir}")


DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
DateOption = Annotated[datetime | None, typer.Option(formats=DATE_FORMATS, show_default=False)]


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to find, in plain language.")],
    limit: Annotated[int, typer.Option("--limit", "-k", "--top", help="How many moments.")] = 10,
    offset: Annotated[int, typer.Option(help="Skip this many moments (the next page).")] = 0,
    path: Annotated[str | None, typer.Option("--path", help="Only videos whose path starts with this.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only windows with this tag (repeat: all of them).")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only these kinds of text: caption, speech, ocr, subtitle, annotation."),
    ] = None,
    recorded_after: DateOption = None,
    recorded_before: DateOption = None,
    modified_after: DateOption = None,
    modified_before: DateOption = None,
    min_duration: Annotated[float | None, typer.Option(help="Only videos at least this long (seconds).")] = None,
    max_duration: Annotated[float | None, typer.Option(help="Only videos at most this long (seconds).")] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find the moments that match a query, optionally narrowed by folder, tags, kind, date or duration."""
    from vidsearch.search import Searcher
    from vidsearch.storage import Database
    from vidsearch.storage.filters import SearchFilters

    settings = _settings(data)
    filters = SearchFilters(
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
    try:
        # One query in this process: nothing read up front that it does not need (Searcher's one_shot),
        # and the query embedded without torch where the query encoder's descriptor allows.
        searcher = Searcher(settings, Database(settings.resolved_database_url), one_shot=True)
        response = searcher.search(query, limit, offset=offset, filters=filters)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(response.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"“{query}”", title_justify="left", show_lines=True)
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
        table.add_row(str(i), f"{moment.score:.3f}", _short_path(moment.path), where, said)
    out.print(table if response.results else "no results")


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
    question: Annotated[str, typer.Argument(help="A question about the library.")],
    k: Annotated[int, typer.Option("-k", "--top", help="How many moments to answer from.")] = 5,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from the best-matching moments, citing them."""
    from vidsearch.models.loader import ModelSet
    from vidsearch.search import Searcher
    from vidsearch.search.answer import Asker
    from vidsearch.storage import Database

    settings = _settings(data)
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
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="Development run: allow a public address with no API key.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Server processes, each with its own models and index (about one per core)."),
    ] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
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
    if settings.api_workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
        return
    # Worker processes build their app from the environment: hand them these settings through it,
    # and split the cores between them rather than have each use them all.
    os.environ.update(settings.as_environment())
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // settings.api_workers)))
    uvicorn.run(
        "vidsearch.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.api_workers,
        log_level="info",
    )


@app.command()
def status(data: DataOption = None, as_json: JsonOption = False) -> None:
    """What is indexed, what failed and why, which index generation is served, and a running job."""
    from vidsearch.indexer import progress as index_progress
    from vidsearch.storage import Database
    from vidsearch.storage.vectors import read_manifest

    settings = _settings(data)
    try:
        db = Database(settings.resolved_database_url)
        counts, failed = db.status_counts(), db.failed_videos()
        manifest = read_manifest(settings.vector_dir)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    job = index_progress.read(settings.data_dir)
    summary = {
        "data_dir": str(settings.data_dir),
        "videos": counts,
        "failed": [{"path": p, "reason": r} for p, r in failed],
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
        out.print(f"[red]failed[/] {path}: {reason}")


@app.command()
def reindex(data: DataOption = None) -> None:
    """Rebuild the vector index from the database (after damage or an embedder change); no video is decoded."""
    from vidsearch.indexer.generations import rebuild_vector_index
    from vidsearch.indexer.pipeline import writer_lock
    from vidsearch.models.loader import ModelSet
    from vidsearch.storage import Database
    from vidsearch.storage.thumbnails import ThumbnailStore

    settings = _settings(data)
    try:
        with writer_lock(settings.data_dir):
            db, embedder = Database(settings.resolved_database_url), ModelSet(settings).embedder
            with _progress() as progress:
                manifest = rebuild_vector_index(
                    db,
                    embedder,
                    settings.vector_dir,
                    progress,
                    ThumbnailStore(settings.thumbnail_dir),
                    family=settings.vector_index,
                )
    except VidsearchError as exc:
        raise _fail(exc) from exc
    out.print(f"index generation {manifest.generation}: {manifest.vector_count} vectors")


@app.command("import")
def import_(
    files: Annotated[
        list[Path], typer.Argument(help="JSONL or CSV (video, start, end, text), or SRT/WebVTT beside a video.")
    ],
    data: DataOption = None,
) -> None:
    """Import timestamped descriptions as searchable windows, without decoding any video."""
    from vidsearch.indexer.annotations import import_annotations
    from vidsearch.indexer.generations import rebuild_vector_index
    from vidsearch.indexer.pipeline import writer_lock
    from vidsearch.models.loader import ModelSet
    from vidsearch.storage import Database

    settings = _settings(data)
    try:
        with writer_lock(settings.data_dir):
            db = Database(settings.resolved_database_url)
            report = import_annotations(db, files)
            with _progress() as progress:
                embedder = ModelSet(settings).embedder
                manifest = rebuild_vector_index(
                    db, embedder, settings.vector_dir, progress, family=settings.vector_index
                )
    except VidsearchError as exc:
        raise _fail(exc) from exc
    out.print(
        f"imported {report.annotations} descriptions of {report.videos} videos from {report.files} files; "
        f"index generation {manifest.generation}"
    )
    for problem in report.skipped:
        err.print(f"[yellow]skipped[/] {problem}")


@app.command("eval")
def eval_(
    segments: Annotated[Path, typer.Option(help="JSONL of {video, start, end, text}: what the index holds.")],
    queries: Annotated[Path, typer.Option(help="JSONL of {query, video, start, end}: what should be found.")],
    limit: Annotated[int | None, typer.Option(help="Only the first N queries.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score retrieval on a labelled set in a throwaway data folder: recall at IoU 0.5/0.7, mIoU, latency."""
    from vidsearch.models.loader import ModelSet
    from vidsearch.search.evaluation import evaluate

    settings = _settings(None)
    try:
        metrics = evaluate(segments, queries, settings, ModelSet(settings).embedder, limit)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(metrics) + "\n")
        return
    table = Table("metric", "value", title=f"{metrics['queries']} queries over {metrics['segments']} segments")
    for key, value in metrics.items():
        table.add_row(key, str(value))
    out.print(table)


@app.command()
def demo(folder: Annotated[Path, typer.Argument(help="Where to write the demo videos.")]) -> None:
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
    name: Annotated[str, typer.Argument(help="A name for the key, e.g. the client.")], data: DataOption = None
) -> None:
    """Create a key; it is printed once and only its hash is kept."""
    from vidsearch.api.security import ApiKeyStore

    try:
        token = ApiKeyStore(_settings(data).data_dir).create(name)
    except VidsearchError as exc:
        raise _fail(exc) from exc
    out.print(token)
    err.print("Keep it now: only its hash is stored. Send it as `Authorization: Bearer KEY`.")


@api_key_app.command("list")
def api_key_list(data: DataOption = None) -> None:
    """Names of the keys that exist."""
    from vidsearch.api.security import ApiKeyStore

    for name in ApiKeyStore(_settings(data).data_dir).names():
        out.print(name)


@api_key_app.command("revoke")
def api_key_revoke(name: str, data: DataOption = None) -> None:
    """Delete a key."""
    from vidsearch.api.security import ApiKeyStore

    if not ApiKeyStore(_settings(data).data_dir).revoke(name):
        err.print(f"[red]error:[/] no API key named {name!r}")
        raise typer.Exit(1)
    out.print(f"revoked {name}")


def _progress(disable: bool = False) -> Progress:
    """Bars on stderr, only when a person is watching a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=disable or not err.is_terminal,
    )


def _short_path(path: str) -> str:
    """The folder and file name: enough to tell videos apart in a narrow terminal."""
    parts = Path(path).parts
    return str(Path(*parts[-2:])) if len(parts) >= 2 else path


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
