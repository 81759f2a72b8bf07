"""Watched folders: video files that land in them are indexed once they have stopped growing, and files
deleted or moved away leave search, with no command typed.

watchdog reports what changes (inotify on Linux, the native APIs elsewhere; with `watch_polling`, a
polling observer that compares listings, for network mounts whose changes inotify never hears of). A
file is taken once its size and modification time have held still for `watch_settle_seconds`; files that
become ready together (a burst: a card copied in) go to the indexer as one run, once the folders have
been quiet for that long or a batch has waited `watch_batch_max_seconds`. Each run is an ordinary
`Indexer.run` under the writer lock: unchanged files are skipped, a file that changed while it was read
fails and is taken again on its next change, and a deleted file is retired as a scan retires a missing
one (out of search in the new generation; back as it was if the bytes return, anywhere).

The watcher is the writer: it runs in its own process (`vidsearch watch`, or the child that `vidsearch
serve --watch` starts), never in a server's request path. When another writer holds the lock (an index
job, `vidsearch index`), the batch waits and is tried again."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from vidsearch.config import VIDEO_EXTENSIONS, Settings
from vidsearch.errors import IndexerBusyError, ModelLoadError, VidsearchError
from vidsearch.indexer.pipeline import Indexer, IndexReport
from vidsearch.models.loader import ModelSet
from vidsearch.storage.database import Database

log = logging.getLogger(__name__)

_TICK_SECONDS = 0.25
_BUSY_RETRY_SECONDS = 2.0
_ROOTS_REFRESH_SECONDS = 10.0


@dataclass
class _Pending:
    """A file seen to change, and since when it has held still."""

    size: int = -1
    mtime: float = -1.0
    still_since: float = field(default_factory=time.monotonic)


class _Events(FileSystemEventHandler):
    """Collects what the observer reports, from its thread; the watcher's loop takes it."""

    def __init__(self, wanted: Callable[[str], bool], ignored: Path) -> None:
        self.wanted = wanted
        self.ignored = ignored  # the data folder, should it lie inside a watched one
        self.lock = threading.Lock()
        self.changed: set[str] = set()
        self.gone: set[str] = set()
        self.last_event = 0.0

    def on_any_event(self, event: FileSystemEvent) -> None:
        src = os.fsdecode(event.src_path)
        with self.lock:
            if isinstance(event, FileCreatedEvent | FileModifiedEvent | FileClosedEvent):
                self._changed(src)
            elif isinstance(event, DirDeletedEvent) or (isinstance(event, FileDeletedEvent) and self.wanted(src)):
                self._gone(src)
            elif isinstance(event, FileMovedEvent | DirMovedEvent):
                if isinstance(event, DirMovedEvent) or self.wanted(src):
                    self._gone(src)
                dest = os.fsdecode(event.dest_path)
                if isinstance(event, DirMovedEvent):
                    self.changed.add(dest)  # a folder moved in: scanned like any folder
                    self.last_event = time.monotonic()
                else:
                    self._changed(dest)

    def _changed(self, path: str) -> None:
        if self.wanted(path):
            self.changed.add(path)
            self.gone.discard(path)
            self.last_event = time.monotonic()

    def _gone(self, path: str) -> None:
        if Path(path).is_relative_to(self.ignored):
            return
        self.gone.add(path)
        self.changed.discard(path)
        self.last_event = time.monotonic()

    def take(self) -> tuple[set[str], set[str]]:
        with self.lock:
            changed, gone = self.changed, self.gone
            self.changed, self.gone = set(), set()
            return changed, gone


class FolderWatcher:
    """Keeps the library current with what happens in the watched folders (see the module's text).

    `folders`: the folders to watch; None follows the library: its roots (the folders indexed or
    registered), looked at again every few seconds, so a folder registered through the API is watched
    from then on."""

    def __init__(
        self,
        settings: Settings,
        folders: Sequence[Path] | None = None,
        *,
        models: ModelSet | None = None,
        db: Database | None = None,
        initial_scan: bool = True,
    ) -> None:
        self.settings = settings
        self.db = db or Database(settings.resolved_database_url)
        self.models = models or ModelSet(settings)
        self.follow_library = folders is None
        self.folders: list[Path] = [Path(f).resolve() for f in folders or []]
        self.initial_scan = initial_scan
        self.extensions = {e.lower() for e in VIDEO_EXTENSIONS}
        self.data_dir = settings.data_dir.resolve()
        self.events = _Events(self._wanted, self.data_dir)
        self.pending: dict[str, _Pending] = {}
        self.gone: set[str] = set()
        self.reports: list[IndexReport] = []  # every run's report, in order (for the log, and tests)
        self.ready = threading.Event()  # set once the folders are watched (and the first scan is done)
        self._observer: BaseObserver | None = None
        self._watched: set[Path] = set()

    # --- what is watched ----------------------------------------------------------------------
    def _wanted(self, path: str) -> bool:
        """A video file outside the data folder (its own writes would wake the watcher forever)."""
        candidate = Path(path)
        return candidate.suffix.lower() in self.extensions and not candidate.is_relative_to(self.data_dir)

    def _library_folders(self) -> list[Path]:
        if not self.follow_library:
            return self.folders
        return [Path(root) for root in self.db.library_roots() if Path(root).is_dir()]

    def _watch_new_folders(self) -> list[Path]:
        """Schedule folders not yet watched; returns them (a scan catches up with what they hold)."""
        assert self._observer is not None
        added = []
        for folder in self._library_folders():
            if folder in self._watched or any(folder.is_relative_to(w) for w in self._watched):
                continue
            if not folder.is_dir():
                log.warning("%s: not a folder; not watched", folder)
                continue
            try:
                self._observer.schedule(self.events, str(folder), recursive=True)
            except OSError as exc:  # inotify's watch limit, most often, on a very large tree
                log.error(
                    "%s: cannot be watched (%s): raise fs.inotify.max_user_watches, or watch it by polling "
                    "(--polling, VIDSEARCH_WATCH_POLLING=true)",
                    folder,
                    exc.strerror or exc,
                )
                continue
            self._watched.add(folder)
            added.append(folder)
            log.info("watching %s%s", folder, " (polling)" if self.settings.watch_polling else "")
        return added

    # --- the loop -----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Watch until `stop` is set. A model that cannot load stops the watcher (as it stops `index`)."""
        observer: BaseObserver = (
            PollingObserver(timeout=self.settings.watch_poll_seconds) if self.settings.watch_polling else Observer()
        )
        self._observer = observer
        observer.start()
        try:
            added = self._watch_new_folders()
            if self.initial_scan and added:
                self._index(added, [])  # what landed or went while nobody watched
            self.ready.set()
            last_refresh = time.monotonic()
            while not stop.wait(_TICK_SECONDS):
                if self.follow_library and time.monotonic() - last_refresh > _ROOTS_REFRESH_SECONDS:
                    last_refresh = time.monotonic()
                    if added := self._watch_new_folders():
                        self._index(added, [])
                self._step()
        finally:
            observer.stop()
            observer.join(timeout=10)

    def _step(self) -> None:
        changed, gone = self.events.take()
        now = time.monotonic()
        for path in changed:
            self.pending.setdefault(path, _Pending(still_since=now))
        for path in gone:
            self.pending.pop(path, None)
            # A folder that went takes its pending files with it.
            for waiting in [p for p in self.pending if Path(p).is_relative_to(path)]:
                del self.pending[waiting]
        self.gone |= gone
        ready = self._settled(now)
        quiet = now - self.events.last_event >= self.settings.watch_settle_seconds
        waited = (
            ready and now - min(self.pending[p].still_since for p in ready) >= self.settings.watch_batch_max_seconds
        )
        # Deletions leave search at once; new files go in batches once the burst is over.
        if self.gone or (ready and (quiet or waited)):
            self._index([Path(p) for p in ready], [Path(p) for p in self.gone])

    def _settled(self, now: float) -> list[str]:
        """Pending files whose size and modification time have held still for the settle time."""
        ready = []
        for path, seen in list(self.pending.items()):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                del self.pending[path]  # gone before it settled: the deletion says so
                continue
            except OSError as exc:
                log.warning("%s: cannot read (%s); tried again on its next change", path, exc.strerror)
                del self.pending[path]
                continue
            if (st.st_size, st.st_mtime) != (seen.size, seen.mtime):
                seen.size, seen.mtime, seen.still_since = st.st_size, st.st_mtime, now
            elif now - seen.still_since >= self.settings.watch_settle_seconds:
                ready.append(path)
        return ready

    def _index(self, paths: Sequence[Path], gone: Iterable[Path]) -> None:
        gone = list(gone)
        try:
            # The watched folders are the library's roots (not each file that lands in them).
            folders = sorted(self._watched)
            report = Indexer(self.settings, self.db, self.models).run(list(paths), gone=gone, roots=folders)
        except IndexerBusyError:
            log.info("another indexer is writing; %d files wait", len(paths))
            time.sleep(_BUSY_RETRY_SECONDS)
            return  # kept pending: tried again on the next tick
        except ModelLoadError:
            raise
        except VidsearchError as exc:  # every path gone between settling and the run, say
            log.warning("watched files not indexed: %s", exc)
            report = None
        for path in paths:
            self.pending.pop(str(path), None)
        self.gone.difference_update(str(p) for p in gone)
        if report is None:
            return
        self.reports.append(report)
        if report.indexed or report.failed or report.missing or report.moved or report.restored:
            log.info(
                "watched folders: indexed %d, failed %d, left search %d, found again %d%s",
                len(report.indexed),
                len(report.failed),
                len(report.missing),
                len(report.moved) + len(report.restored),
                f" (generation {report.generation})" if report.generation else "",
            )
        for failed, reason in report.failed:
            log.warning("%s: not indexed: %s", failed, reason)


def watch_until_stopped(settings: Settings, folders: Sequence[Path] | None, *, parent_pid: int | None = None) -> None:
    """`vidsearch watch`: watch in this process until SIGINT or SIGTERM (or, for the child of `serve
    --watch`, until the server that started it is gone)."""
    import signal

    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    if parent_pid is not None:

        def orphaned() -> None:
            while not stop.wait(1.0):
                if os.getppid() != parent_pid:
                    log.warning("the server that started this watcher is gone; stopping")
                    stop.set()

        threading.Thread(target=orphaned, daemon=True, name="parent-check").start()
    FolderWatcher(settings, folders).run(stop)


def start_watcher_process(settings: Settings) -> subprocess.Popen[bytes]:
    """The watcher of `serve --watch`: `vidsearch watch` in a child process (the writer, apart from the
    server's request path), following the library's folders, with these settings."""
    command = [sys.executable, "-m", "vidsearch", "watch", "--parent", str(os.getpid())]
    return subprocess.Popen(command, env=os.environ | settings.as_environment())
