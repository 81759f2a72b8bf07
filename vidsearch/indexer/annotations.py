"""Importing timestamped descriptions without decoding any video: JSONL, CSV, and SRT/WebVTT files.

Each description becomes a window of its video with a text of kind `annotation` (or the `kind` given),
searchable like any other once the next index generation is built. A video is named by an indexed path,
a database id, or any key (an archive id): a key that is no file here makes a video known only by that
key (status `external`), and the import says so.

An import is keyed by its file (its resolved path, or `source` when given): importing the same file
again brings the library to what the file says now, so nothing is ever imported twice, and
`remove_import` takes a file's rows out. A row's key is its `id` field when it has one, else what it
says (video, span, kind, text, tags), so an edited row replaces the old one.

A catalogue written by `vidsearch export --format jsonl` imports as it was: each window line becomes one
window with all its texts, each recorded with the model that wrote it (a window an indexer cut still
says so), and each video line gives a video known here only through imports its facts and status
(`Database.restore_catalogue_video`); a video this library indexed itself keeps its own windows."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vidsearch.config import VIDEO_EXTENSIONS
from vidsearch.errors import ConfigError, NotFoundError
from vidsearch.media.subtitles import SIDECAR_EXTENSIONS, read_sidecar
from vidsearch.models.base import ModelSpec
from vidsearch.storage.database import Database
from vidsearch.storage.imports import (
    VIDEO_RECORD,
    WINDOW_RECORD,
    CatalogueVideo,
    ImportChanges,
    ImportRow,
    ImportText,
)
from vidsearch.storage.schema import IMPORT_SOURCE, TEXT_KINDS, TextKind, VideoStatus
from vidsearch.storage.videos import SubtitleCue

log = logging.getLogger(__name__)

MAX_TAG_CHARS = 128

MAX_KEY_CHARS = 128
FORMATS = ".jsonl, .ndjson, .csv, .srt, .vtt, .ass, .ssa"
# Kinds an import may give: what the indexer derives from the file itself (a video's name) is not one.
IMPORTABLE_KINDS = tuple(k for k in TEXT_KINDS if k != TextKind.NAME)


@dataclass(frozen=True)
class AnnotatedText:
    kind: str
    text: str
    model: ModelSpec | None = None  # the model that wrote it, when the row says (exported catalogues do)
    source: str = ""  # where the indexer read it ("stream:2", a sidecar's name), as a catalogue says


@dataclass(frozen=True)
class Annotation:
    video: str
    start: float
    end: float
    text: str
    kind: str = TextKind.ANNOTATION
    duration: float | None = None
    tags: tuple[str, ...] = ()
    key: str | None = None  # the row's own id, when it gives one
    where: str = ""  # "file:line", for messages
    # A window of an exported catalogue: all its texts (the first is `kind`/`text`), each with its model.
    texts: tuple[AnnotatedText, ...] = ()
    cut_by_indexer: bool = False  # a catalogue's window that an indexer cut (not one a person gave)


@dataclass(frozen=True)
class VideoLine:
    """An exported catalogue's line about a video: its facts, restored where the library knows the
    video only through imports."""

    video: str
    facts: CatalogueVideo
    where: str


@dataclass
class ImportReport:
    files: int = 0
    annotations: int = 0  # rows read and imported (added, replaced or already there)
    videos: int = 0
    changes: ImportChanges = field(default_factory=ImportChanges)
    skipped: list[str] = field(default_factory=list)  # "file:line: reason"
    failed_files: list[str] = field(default_factory=list)  # "file: reason"
    # Keys that are no file here (videos known only by the key); those that look like a path are
    # most likely a typo or a file on another machine.
    external: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    # Videos of a catalogue whose facts (probe data, shots, subtitle cues, status) were restored, and
    # those this library has indexed itself, which keep theirs and their own windows.
    restored: int = 0
    indexed_here: list[str] = field(default_factory=list)

    def summary(self) -> str:
        c = self.changes
        parts = [
            f"{_count(self.annotations, 'description')} of {_count(self.videos, 'video')} "
            f"from {_count(self.files, 'file')}",
            f"{c.added} new, {c.replaced} changed, {c.unchanged} unchanged, {c.removed} removed",
        ]
        if self.restored:
            parts.append(f"{_count(self.restored, 'video')} as catalogued (status, probe data, shots, subtitles)")
        return "imported " + "; ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class _BadRow(ValueError):
    """A row that cannot be imported; the message names the field and what was expected."""


def read_annotations(path: Path, report: ImportReport) -> Iterator[Annotation | VideoLine]:
    """The file's descriptions (and an exported catalogue's video lines); a bad row is reported
    (file:line, field, what was expected) and skipped."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    yield from _parse(lambda line=line: _json_object(line), f"{path}:{number}", report)
    elif suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("video", "start", "end", "text") if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(
                    f"{path}: the CSV header lacks {', '.join(missing)} (expected columns: video, start, end, "
                    "text; optional: kind, tags, duration, id)"
                )
            for number, row in enumerate(reader, 2):
                yield from _parse(lambda row=row: row, f"{path}:{number}", report)
    elif suffix in SIDECAR_EXTENSIONS:
        video = _video_beside(path)
        for number, cue in enumerate(read_sidecar(path), 1):
            text = " ".join(cue.text.split())  # a description is one line
            yield Annotation(video, cue.start, cue.end, text, TextKind.SUBTITLE, where=f"{path}: cue {number}")
    else:
        raise ConfigError(f"{path}: unknown annotation format {suffix or '(no extension)'!r} (use {FORMATS})")


def _json_object(line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _BadRow(f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(row, dict):
        raise _BadRow(f"expected a JSON object with video, start, end and text, got {type(row).__name__}")
    return row


def _parse(load: Any, where: str, report: ImportReport) -> Iterator[Annotation | VideoLine]:
    try:
        row = load()
        record = row.get("record")
        if record == VIDEO_RECORD:  # an exported catalogue's line about the video: its windows follow
            yield VideoLine(_required(row, "video", "the video's path or key"), _catalogue_video(row), where)
            return
        if record not in (None, "", WINDOW_RECORD):
            raise _BadRow(f"'record' is {record!r}: expected {WINDOW_RECORD!r} or {VIDEO_RECORD!r}")
        video = _required(row, "video", "the video's path, id or key")
        start = _seconds(row, "start")
        end = _seconds(row, "end")
        if end <= start:
            raise _BadRow(f"'end' ({end:g}) must be after 'start' ({start:g})")
        duration = _seconds(row, "duration") if row.get("duration") not in (None, "") else None
        texts = _texts(row)
        if not texts:
            raise _BadRow("its 'texts' hold no text but the video's name (which is made from its path)")
        key = str(row["id"]).strip() if row.get("id") not in (None, "") else None
        if key is not None and len(key) > MAX_KEY_CHARS:
            raise _BadRow(f"'id' is longer than {MAX_KEY_CHARS} characters")
        first = texts[0]
        more = tuple(texts) if len(texts) > 1 or first.model is not None else ()
        cut = record == WINDOW_RECORD and row.get("imported") is False
        tags = _tags(row.get("tags"))
        yield Annotation(video, start, end, first.text, first.kind, duration, tags, key, where, more, cut)
    except _BadRow as exc:
        report.skipped.append(f"{where}: {exc}")


def _catalogue_video(row: Mapping[str, Any]) -> CatalogueVideo:
    """The facts a catalogue's video line carries, checked field by field."""
    streams = row.get("streams") or []
    if not isinstance(streams, list) or not all(isinstance(stream, dict) for stream in streams):
        raise _BadRow("'streams' must be a list of objects (index, kind, codec, language)")
    shots = tuple((_seconds(shot, "start"), _seconds(shot, "end")) for shot in _objects(row, "shots"))
    cues = tuple(
        SubtitleCue(
            _seconds(cue, "start"), _seconds(cue, "end"), str(cue.get("text") or ""), str(cue.get("source") or "")
        )
        for cue in _objects(row, "subtitle_cues")
    )
    recorded_at = _moment(row, "recorded_at")
    fps, width, height = _optional_number(row, "fps"), _optional_number(row, "width"), _optional_number(row, "height")
    duration, start_time = _optional_number(row, "duration"), _optional_number(row, "start_time")
    title = row.get("title")
    probe: dict[str, Any] = {
        "duration": duration,
        "start_time": start_time,
        "width": int(width) if width is not None else None,
        "height": int(height) if height is not None else None,
        "fps": fps,
        "streams": streams,
        "recorded_at": recorded_at.isoformat() if recorded_at else None,
        # The line gives the title exports show (the file's name where the file had no title tag).
        "title": str(title) if title and str(title) != _default_title(str(row["video"]), row.get("status")) else None,
    }
    settings = row.get("pipeline_settings")
    if settings is not None and not isinstance(settings, dict):
        raise _BadRow("'pipeline_settings' must be an object")
    size = _optional_number(row, "size_bytes")
    return CatalogueVideo(
        status=str(row.get("status") or ""),
        duration=duration,
        start_time=start_time,
        fps=fps,
        width=probe["width"],
        height=probe["height"],
        size_bytes=int(size or 0),
        content_hash=str(row["content_hash"]) if row.get("content_hash") else None,
        recorded_at=recorded_at,
        indexed_at=_moment(row, "indexed_at"),
        probe=probe,
        shots=shots,
        subtitle_cues=cues,
        pipeline_fingerprint=str(row["pipeline_fingerprint"]) if row.get("pipeline_fingerprint") else None,
        pipeline_settings=settings,
    )


def _default_title(video: str, status: Any) -> str:
    """The title exports give a video whose file has no title tag (export/formats.py: video_title)."""
    return video if status == VideoStatus.EXTERNAL else Path(video).stem


def _objects(row: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = row.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _BadRow(f"{name!r} must be a list of objects with start and end")
    return value


def _optional_number(row: Mapping[str, Any], name: str) -> float | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _BadRow(f"{name!r} is {value!r}: expected a number") from None


def _moment(row: Mapping[str, Any], name: str) -> datetime | None:
    value = row.get(name)
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise _BadRow(f"{name!r} is {value!r}: expected an ISO 8601 date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _texts(row: Mapping[str, Any]) -> list[AnnotatedText]:
    """The row's `text` (and `kind`), or its `texts` (a window of an exported catalogue: a list of
    {kind, text, model}; a text of kind `name` is left out, the library makes it from the path)."""
    given = row.get("texts")
    if given is None:
        text = " ".join(_required(row, "text", "the description").split())
        return [AnnotatedText(_kind(row.get("kind") or TextKind.ANNOTATION), text)]
    if not isinstance(given, list) or not given:
        raise _BadRow("'texts' must be a list of {kind, text, model} objects")
    texts = []
    for number, item in enumerate(given, 1):
        if not isinstance(item, dict):
            raise _BadRow(f"'texts' item {number} is not an object with kind and text")
        if item.get("kind") == TextKind.NAME:
            continue
        body = " ".join(_required(item, "text", f"texts item {number}'s text").split())
        source = item.get("source")
        model = _model(item.get("model"), number)
        texts.append(AnnotatedText(_kind(item.get("kind")), body, model, source if isinstance(source, str) else ""))
    return texts


def _kind(value: Any) -> str:
    kind = str(value or "").strip()
    if kind not in IMPORTABLE_KINDS:
        raise _BadRow(f"'kind' is {kind!r}: expected one of {', '.join(IMPORTABLE_KINDS)}")
    return kind


def _model(value: Any, number: int) -> ModelSpec | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _BadRow(f"'texts' item {number}: 'model' must be an object (kind, name, model_id, revision)")
    try:
        return ModelSpec.from_dict(value)
    except KeyError as exc:
        raise _BadRow(f"'texts' item {number}: 'model' lacks {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise _BadRow(f"'texts' item {number}: 'model' is malformed ({exc})") from None


def _required(row: Mapping[str, Any], name: str, what: str) -> str:
    value = row.get(name)
    if value is None or not str(value).strip():
        raise _BadRow(f"missing {name!r} ({what})")
    return str(value).strip()


def _seconds(row: Mapping[str, Any], name: str) -> float:
    value = row.get(name)
    if value is None or value == "":
        raise _BadRow(f"missing {name!r} (seconds, a number)")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise _BadRow(f"{name!r} is {value!r}: expected seconds, a number") from None
    if not 0 <= seconds < float("inf"):
        raise _BadRow(f"{name!r} is {value!r}: expected seconds from the start, 0 or more")
    return seconds


def _tags(value: Any) -> tuple[str, ...]:
    """Tags as a JSON list, or one string separated by commas, semicolons or bars (CSV cells)."""
    if value in (None, ""):
        return ()
    items = value if isinstance(value, list) else re.split(r"[,;|]", str(value))
    tags = tuple(dict.fromkeys(" ".join(str(t).split()) for t in items))
    if any(len(t) > MAX_TAG_CHARS for t in tags):
        raise _BadRow(f"'tags': a tag is longer than {MAX_TAG_CHARS} characters")
    return tuple(t for t in tags if t)


def _video_beside(subtitles: Path) -> str:
    """The video a subtitle file belongs to: talk.en.srt -> talk.mp4 in the same folder."""
    stem = subtitles.name.split(".")[0]
    for candidate in sorted(subtitles.parent.glob(f"{stem}.*")):
        if candidate.suffix.lower() in VIDEO_EXTENSIONS:
            return str(candidate.resolve())
    raise ConfigError(f"{subtitles}: no video named {stem}.* beside it")


def import_source(path: Path) -> str:
    """What identifies an import of this file: its resolved path."""
    return str(path.expanduser().resolve())


def import_annotations(
    db: Database, files: list[Path], *, source: str | None = None, replace: bool = True
) -> ImportReport:
    """Import each file as its own import (or all of them as `source`). A file that cannot be read is
    reported and the others go on; a bad row is reported and the rest of its file goes on."""
    report = ImportReport()
    per_source: dict[str, list[Annotation | VideoLine]] = defaultdict(list)
    for path in files:
        try:
            if not path.exists():
                raise ConfigError(f"{path}: no such file")
            if not path.is_file():
                raise ConfigError(f"{path}: not a file")
            rows = list(read_annotations(path, report))
        except ConfigError as exc:
            report.failed_files.append(str(exc))
            continue
        except UnicodeDecodeError:
            report.failed_files.append(f"{path}: not UTF-8 text")
            continue
        except OSError as exc:
            report.failed_files.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        report.files += 1  # read: the summary counts the files descriptions came from
        per_source[source or import_source(path)].extend(rows)
    videos: set[int] = set()
    resolved: dict[str, int] = {}
    models: dict[str, int] = {}  # model fingerprint: its record's id
    for name, read in per_source.items():
        videos |= _import_one(db, name, read, report, resolved, models, replace=replace)
    report.videos = len(videos)
    log.info("%s", report.summary())
    return report


def _import_one(
    db: Database,
    name: str,
    read: list[Annotation | VideoLine],
    report: ImportReport,
    resolved: dict[str, int],
    models: dict[str, int],
    *,
    replace: bool,
) -> set[int]:
    """One import's rows (and an exported catalogue's video lines); returns the videos it names."""
    rows = [row for row in read if isinstance(row, Annotation)]
    lines = {line.video: line for line in read if isinstance(line, VideoLine)}
    durations: dict[str, float] = defaultdict(float)
    for row in rows:
        durations[row.video] = max(durations[row.video], row.duration or 0.0)
    for line in lines.values():
        durations[line.video] = max(durations[line.video], line.facts.duration or 0.0)
    for key in [*lines, *(row.video for row in rows)]:
        if key not in resolved:
            resolved[key] = _resolve_video(db, key, report, durations[key] or None)
    # A video this library indexed itself keeps its own windows: a catalogue's indexer windows of it are
    # not imported (the descriptions people imported are).
    indexed_here = {resolved[key]: db.indexed_here(resolved[key]) for key in lines}
    by_video: dict[int, list[ImportRow]] = defaultdict(list)
    for annotation, key in _keyed(rows, report):
        target = resolved[annotation.video]
        if annotation.cut_by_indexer and indexed_here.get(target):
            continue
        by_video[target].append(_import_row(db, annotation, key, models))
        report.annotations += 1
    report.changes += db.sync_import(name, by_video, replace=replace)
    for key, line in lines.items():  # after the windows: a video is never done without them
        target = resolved[key]
        if indexed_here[target]:
            report.indexed_here.append(key)
        elif db.restore_catalogue_video(target, line.facts, file_here=Path(db.video_path(target)).is_file()):
            report.restored += 1
    return set(by_video) | {resolved[key] for key in lines}


def _import_row(db: Database, annotation: Annotation, key: str, models: dict[str, int]) -> ImportRow:
    def model_id(spec: ModelSpec | None) -> int | None:
        if spec is None:
            return None
        if spec.fingerprint not in models:
            models[spec.fingerprint] = db.model_record(spec)
        return models[spec.fingerprint]

    if not annotation.texts:
        return ImportRow(key, annotation.start, annotation.end, annotation.kind, annotation.text, annotation.tags)
    first, *more = annotation.texts

    def source(text: AnnotatedText) -> str:
        # A window the indexer cut keeps where each text was read: it stays a window to search (joined,
        # supported, snapped), not a span a person gave, and says so on the page and in the next export.
        if annotation.cut_by_indexer and text.source != IMPORT_SOURCE:
            return text.source
        return IMPORT_SOURCE

    return ImportRow(
        key,
        annotation.start,
        annotation.end,
        first.kind,
        first.text,
        annotation.tags,
        model_id(first.model),
        tuple(ImportText(t.kind, t.text, model_id(t.model), source(t)) for t in more),
        annotation.cut_by_indexer,
        source(first),
    )


def remove_import(db: Database, file_or_source: str) -> int:
    """Take an import's windows out: by its file (resolved as imports are) or by the source name given."""
    known = db.import_sources()
    candidates = [file_or_source, import_source(Path(file_or_source))]
    for name in candidates:
        if name in known:
            return db.remove_import(name)
    listed = ", ".join(sorted(k for k in known if k)) or "none"
    raise NotFoundError(f"no import named {file_or_source!r} (imports: {listed})")


def _keyed(rows: list[Annotation], report: ImportReport) -> Iterator[tuple[Annotation, str]]:
    """Each row with its key: its id, or a digest of what it says (the n-th identical row gets #n)."""
    seen: Counter[str] = Counter()
    ids: set[str] = set()
    for row in rows:
        if row.key is not None:
            if row.key in ids:
                report.skipped.append(f"{row.where}: 'id' {row.key!r} is given twice in this import")
                continue
            ids.add(row.key)
            yield row, f"id:{row.key}"
            continue
        parts: list[Any] = [row.video, row.start, row.end, row.kind, row.text, sorted(row.tags)]
        if row.texts:
            parts.append([[t.kind, t.text, t.model.fingerprint if t.model else None] for t in row.texts])
        said = json.dumps(parts)
        digest = hashlib.sha256(said.encode()).hexdigest()[:32]
        seen[digest] += 1
        yield row, digest if seen[digest] == 1 else f"{digest}#{seen[digest]}"


def _resolve_video(db: Database, key: str, report: ImportReport, duration: float | None) -> int:
    if key.isdigit():
        try:
            db.video_path(int(key))
            return int(key)
        except NotFoundError:  # not an id after all: a key made of digits
            pass
    path = Path(key).expanduser()
    if path.is_file():
        resolved = str(path.resolve())
        existing = db.video_by_path(resolved)
        return existing.id if existing is not None else db.video_for_import(key, file=resolved, duration=duration)
    existing = db.video_by_path(key)
    if existing is not None:
        return existing.id
    if key not in report.external and key not in report.not_found:
        looks_like_a_file = "/" in key or "\\" in key or path.suffix.lower() in VIDEO_EXTENSIONS
        (report.not_found if looks_like_a_file else report.external).append(key)
    return db.video_for_import(key, file=None, duration=duration)
