"""The progress of a running index job, in a small JSON file in the data folder, so the web page and
`status` can show it. Written atomically; a job that died is recognised by its process being gone."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROGRESS_FILE = "index-progress.json"


@dataclass
class IndexProgress:
    pid: int
    started_at: str
    files_total: int = 0
    files_done: int = 0
    current: str | None = None
    finished_at: str | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None and _alive(self.pid)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"running": self.running}


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
