"""How long work shows its progress: bars for a person at a terminal, plain lines for a log.

The indexer and the vector index builder report through rich's `Progress` (add_task, update, advance).
On a terminal that draws live bars. When stderr is a file, a pipe or a CI log, live bars draw nothing
useful, so `LineProgress` takes the same calls and writes a line instead: one per finished item for a
task that names the item it is working on (the indexer's "videos · name.mp4"), one every `interval`
seconds for the others, and one when a task completes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LINE_INTERVAL = 10.0  # seconds between lines for a task that does not name its items


def progress_display(console: Console, *, quiet_terminal: bool = False) -> Progress:
    """Bars on `console` when it is a terminal (none with `quiet_terminal`), lines when it is not."""
    if not console.is_terminal:
        return LineProgress(lambda line: _write_line(console, line))
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet_terminal,
    )


@dataclass
class _Said:
    at: float  # time.monotonic() of the task's last line
    description: str  # the task's description then
    completed: float  # its count then
    finished: bool = False


class LineProgress(Progress):
    """A `Progress` that draws nothing and writes plain progress lines through `write`."""

    def __init__(self, write: Callable[[str], None], interval: float = LINE_INTERVAL) -> None:
        super().__init__(disable=True)
        self._write_line = write
        self._interval = interval
        self._said: dict[TaskID, _Said] = {}

    def add_task(
        self,
        description: str,
        start: bool = True,
        total: float | None = 100.0,
        completed: int = 0,
        visible: bool = True,
        **fields: Any,
    ) -> TaskID:
        task_id = super().add_task(description, start, total, completed, visible, **fields)
        self._said[task_id] = _Said(time.monotonic(), description, completed)
        return task_id

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._report(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._report(task_id)

    def _report(self, task_id: TaskID) -> None:
        with self._lock:
            task = self._tasks.get(task_id)
            said = self._said.get(task_id)
            if task is None or said is None or said.finished or task.completed == said.completed:
                return
            now = time.monotonic()
            finished = task.total is not None and task.completed >= task.total
            named_item = task.description != said.description
            if not (finished or named_item or now - said.at >= self._interval):
                return
            self._said[task_id] = _Said(now, task.description, task.completed, finished)
            line = _line(task, finished)
        self._write_line(line)


def _line(task: Task, finished: bool) -> str:
    count = f"{task.completed:g}/{task.total:g}" if task.total is not None else f"{task.completed:g}"
    timing = f"{_duration(task.elapsed or 0.0)} elapsed"
    remaining = task.time_remaining
    if not finished and remaining is not None:
        timing += f", about {_duration(remaining)} left"
    return f"{task.description.strip()}: {count} ({timing})"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _write_line(console: Console, line: str) -> None:
    # Through the console's own file (a test runner swaps sys.stderr), unwrapped and without markup.
    console.file.write(line + "\n")
    console.file.flush()
