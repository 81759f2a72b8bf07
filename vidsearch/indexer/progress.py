"""The progress of a running index job, in a small JSON file in the data folder, so the web page and
`status` can show it. Written atomically; a job that died is recognised by its process being gone."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROGRESS_FILE = "index-progress.json"
FAILURES_KEPT = 50  # the last failures a running job shows, with their reasons


@dataclass
class IndexProgress:
    pid: int
    started_at: str
    files_total: int = 0
    files_done: int = 0
    current: str | None = None
    finished_at: str | None = None
    media_seconds: float = 0.0  # seconds of video indexed so far
    indexed: int = 0  # files stored so far
    skipped: int = 0  # files unchanged so far
    failed: list[list[str]] = field(default_factory=list)  # the last [path, reason] pairs

    @property
    def elapsed_seconds(self) -> float:
        end = datetime.fromisoformat(self.finished_at) if self.finished_at else datetime.now(UTC)
        try:
            return max(0.0, (end - datetime.fromisoformat(self.started_at)).total_seconds())
        except ValueError:
            return 0.0

    @property
    def realtime(self) -> float | None:
        """Seconds of video indexed per second of wall time so far."""
        elapsed = self.elapsed_seconds
        return self.media_seconds / elapsed if elapsed > 0 and self.media_seconds > 0 else None

    @property
    def eta_seconds(self) -> float | None:
        """The time left at the pace so far (files done per second)."""
        if not self.running or self.files_done == 0 or self.files_total <= self.files_done:
            return None
        return self.elapsed_seconds / self.files_done * (self.files_total - self.files_done)

    @property
    def running(self) -> bool:
        return self.finished_at is None and _alive(self.pid)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "running": self.running,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "realtime": None if self.realtime is None else round(self.realtime, 3),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
        }


def start(data_dir: Path, files_total: int) -> IndexProgress:
    progress = IndexProgress(os.getpid(), _now(), files_total)
    save(data_dir, progress)
    return progress


def save(data_dir: Path, progress: IndexProgress) -> None:
    target = data_dir / PROGRESS_FILE
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(progress)))
    os.replace(temporary, target)


def finish(data_dir: Path, progress: IndexProgress) -> None:
    progress.current, progress.finished_at = None, _now()
    save(data_dir, progress)


def read(data_dir: Path) -> IndexProgress | None:
    try:
        return IndexProgress(**json.loads((data_dir / PROGRESS_FILE).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat()
