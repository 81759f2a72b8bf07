"""Importing timestamped descriptions without decoding any video: JSONL, CSV, and SRT/WebVTT files.

Each description becomes a window of its video with a text of kind `annotation` (or the `kind` given),
searchable like any other once the next index generation is built. A video is named by an indexed path,
a database id, or any key (an archive id): unknown keys become videos known only by that key."""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidsearch.config import VIDEO_EXTENSIONS
from vidsearch.errors import ConfigError, NotFoundError
from vidsearch.media.subtitles import SIDECAR_EXTENSIONS, read_sidecar
from vidsearch.storage.database import Database, NewWindow
from vidsearch.storage.schema import IMPORT_SOURCE, TEXT_KINDS, TextKind

log = logging.getLogger(__name__)

MAX_TAG_CHARS = 128


@dataclass(frozen=True)
class Annotation:
    video: str
    start: float
    end: float
    text: str
    kind: str = TextKind.ANNOTATION
    duration: float | None = None
    tags: tuple[str, ...] = ()


@dataclass
class ImportReport:
    files: int = 0
    annotations: int = 0
    videos: int = 0
    skipped: list[str] = field(default_factory=list)  # "file:line: reason"


def read_annotations(path: Path, report: ImportReport) -> Iterator[Annotation]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    yield from _parse(lambda line=line: json.loads(line), f"{path}:{number}", report)
    elif suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            for number, row in enumerate(csv.DictReader(f), 2):
                yield from _parse(lambda row=row: row, f"{path}:{number}", report)
    elif suffix in SIDECAR_EXTENSIONS:
        video = _video_beside(path)
        for cue in read_sidecar(path):
            yield Annotation(video, cue.start, cue.end, cue.text, TextKind.SUBTITLE)
    else:
        raise ConfigError(f"{path}: unknown annotation format (use .jsonl, .csv, .srt, .vtt, .ass)")


def _parse(load: Any, where: str, report: ImportReport) -> Iterator[Annotation]:
    try:
        row = load()
        start, end = float(row["start"]), float(row["end"])
        text = " ".join(str(row["text"]).split())
        if not text or end <= start or start < 0:
            raise ValueError("needs text and 0 <= start < end")
        duration = float(row["duration"]) if row.get("duration") not in (None, "") else None
        kind = str(row.get("kind") or TextKind.ANNOTATION)
        if kind not in TEXT_KINDS:  # a kind no search filter could ask for
            raise ValueError(f"unknown kind {kind!r} (the kinds are {', '.join(TEXT_KINDS)})")
        yield Annotation(str(row["video"]), start, end, text, kind, duration, _tags(row.get("tags")))
    except (KeyError, ValueError, TypeError) as exc:
        report.skipped.append(f"{where}: {exc}")


def _tags(value: Any) -> tuple[str, ...]:
    """Tags as a JSON list, or one string separated by commas, semicolons or bars (CSV cells)."""
    if value in (None, ""):
        return ()
    items = value if isinstance(value, list) else re.split(r"[,;|]", str(value))
    tags = tuple(dict.fromkeys(" ".join(str(t).split()) for t in items))
    if any(len(t) > MAX_TAG_CHARS for t in tags):
        raise ValueError(f"a tag is longer than {MAX_TAG_CHARS} characters")
    return tuple(t for t in tags if t)


def _video_beside(subtitles: Path) -> str:
    """The video a subtitle file belongs to: talk.en.srt -> talk.mp4 in the same folder."""
    stem = subtitles.name.split(".")[0]
    for candidate in sorted(subtitles.parent.glob(f"{stem}.*")):
        if candidate.suffix.lower() in VIDEO_EXTENSIONS:
            return str(candidate.resolve())
    raise ConfigError(f"{subtitles}: no video named {stem}.* beside it")


def import_annotations(db: Database, files: list[Path]) -> ImportReport:
    report = ImportReport()
    by_video: dict[str, list[Annotation]] = defaultdict(list)
    for path in files:
        report.files += 1
        for annotation in read_annotations(path, report):
            by_video[annotation.video].append(annotation)
    for key, items in by_video.items():
        video_id = _resolve_video(db, key, max((a.duration or 0) for a in items) or None)
        windows = [
            NewWindow(a.start, a.end, a.kind, a.text, IMPORT_SOURCE, a.tags)
            for a in sorted(items, key=lambda a: a.start)
        ]
        report.annotations += db.add_windows(video_id, windows)
        report.videos += 1
    for problem in report.skipped:
        log.warning("skipped %s", problem)
    return report


def _resolve_video(db: Database, key: str, duration: float | None) -> int:
    if key.isdigit():
        try:
            db.video_path(int(key))
            return int(key)
        except NotFoundError:  # not an id after all: a key made of digits
            pass
    path = Path(key).expanduser()
    if path.exists():
        existing = db.video_by_path(str(path.resolve()))
        if existing is not None:
            return existing.id
    return db.external_video(key, duration)
