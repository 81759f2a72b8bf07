"""What every index run of a data folder has done, added up: files indexed, seconds of video, failures by
kind of reason. A small JSON file beside the progress file, written by the indexer (which holds the
writer lock, so there is one writer) and read by the server's /metrics as Prometheus counters, whichever
process ran the index: `vidsearch index`, a watcher or a job started from the API."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

TOTALS_FILE = "index-totals.json"

log = logging.getLogger(__name__)

# A failure's reason is a sentence naming the file; counters need a few fixed kinds of reason.
FAILURE_KINDS = ("not_video", "damaged", "unreadable", "changed_while_indexing", "bad_name", "internal", "other")
_NOT_VIDEO = ("not a video", "not a readable media container", "no video stream", "file is empty", "file has no video")
_DAMAGED = (
    "damaged or truncated",
    "no frame could be decoded",
    "holds no frames",
    "cannot read stream headers",
    "duration is unknown",
    "has no frame size",
)


@dataclass
class IndexTotals:
    since: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    runs: int = 0
    files_indexed: int = 0
    video_seconds: float = 0.0
    wall_seconds: float = 0.0
    files_missing: int = 0  # files that left search because they were gone
    failures: dict[str, int] = field(default_factory=dict)  # by failure_kind


def failure_kind(reason: str) -> str:
    """One of FAILURE_KINDS for a failure's reason (the sentence the indexer records)."""
    text = reason.lower()
    if text.startswith("internal error"):
        return "internal"
    if "not valid utf-8" in text:
        return "bad_name"
    if "changed while it was being indexed" in text:
        return "changed_while_indexing"
    if text.startswith(("cannot read", "permission")):
        return "unreadable"
    if any(phrase in text for phrase in _NOT_VIDEO):
        return "not_video"
    if any(phrase in text for phrase in _DAMAGED):
        return "damaged"
    return "other"


def read(data_dir: Path) -> IndexTotals:
    try:
        raw = json.loads((data_dir / TOTALS_FILE).read_text())
        return IndexTotals(**raw)
    except FileNotFoundError:
        return IndexTotals()
    except (ValueError, TypeError) as exc:  # damaged: start counting again (Prometheus sees a reset)
        log.warning("%s is unreadable (%s); index totals start again", data_dir / TOTALS_FILE, exc)
        return IndexTotals()


def add_run(
    data_dir: Path,
    *,
    indexed: int,
    video_seconds: float,
    wall_seconds: float,
    missing: int,
    failure_reasons: Iterable[str],
) -> IndexTotals:
    """Add one run's numbers (the caller holds the writer lock); written atomically."""
    totals = read(data_dir)
    totals.runs += 1
    totals.files_indexed += indexed
    totals.video_seconds += video_seconds
    totals.wall_seconds += wall_seconds
    totals.files_missing += missing
    for reason in failure_reasons:
        kind = failure_kind(reason)
        totals.failures[kind] = totals.failures.get(kind, 0) + 1
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / TOTALS_FILE
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(totals)))
    os.replace(temporary, target)
    return totals
