"""Index jobs started over HTTP: each is a scan of library folders run by its own process (the writer,
never the server's request path), recorded as a small JSON file in the data folder's `jobs/` folder.

The server writes a job's file once (queued) and starts `python -m vidsearch.indexer.jobs JOB_ID`; from
then on only that process writes it (state, summary, failures). Live progress (files done and total, the
current file, seconds of video so far) is the indexer's own progress file, which belongs to the process
holding the writer lock. A job waits while another writer (a watcher, `vidsearch index`, another job)
holds the lock.

Cancelling writes a marker file beside the job's and sends its process SIGTERM. The process stops where
it is: the video being read is left as it was (its previous windows, if any, stay searchable; a video is
stored in one transaction or not at all), every video stored before stays, and a new index generation is
published for them before the process ends. A job whose process is gone without finishing reads
`interrupted`: what it stored is in the database, and the next scan or generation serves it."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from vidsearch.config import Settings
from vidsearch.errors import IndexerBusyError, NotFoundError, VidsearchError
from vidsearch.indexer import progress as index_progress

log = logging.getLogger(__name__)

JOBS_DIR = "jobs"
JOB_ID_PATTERN = r"^[0-9a-f]{12}$"
FAILURES_KEPT = 200
JOBS_LISTED = 50
JOBS_KEPT = 200  # finished jobs' records (and logs) beyond this many, oldest first, are deleted
_NEVER_STARTED_SECONDS = 120.0  # a queued job whose process never wrote its pid by then did not start

QUEUED, WAITING, RUNNING = "queued", "waiting", "running"
DONE, FAILED, CANCELLED, INTERRUPTED = "done", "failed", "cancelled", "interrupted"
ACTIVE = frozenset({QUEUED, WAITING, RUNNING})


@dataclass
class IndexJob:
    id: str
    folders: list[str]  # resolved library folders the job scans
    created_at: str
    state: str = QUEUED
    pid: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    files_total: int = 0
    files_done: int = 0
    indexed: int = 0
    skipped: int = 0
    missing: int = 0
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    failed: list[list[str]] = field(default_factory=list)  # [path, reason]
    generation: int | None = None
    error: str | None = None


class JobStore:
    """The jobs of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.folder = data_dir / JOBS_DIR

    def create(self, folders: list[str]) -> IndexJob:
        job = IndexJob(secrets.token_hex(6), folders, _now())
        self.save(job)
        self._prune()
        return job

    def _prune(self) -> None:
        records = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in records[JOBS_KEPT:]:
            try:
                if IndexJob(**json.loads(path.read_text())).state in ACTIVE:
                    continue
            except (ValueError, TypeError):
                pass
            for leftover in (path, path.with_suffix(".log"), path.with_suffix(".cancel")):
                leftover.unlink(missing_ok=True)

    def save(self, job: IndexJob) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._path(job.id)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(job)))
        os.replace(temporary, target)

    def get(self, job_id: str) -> IndexJob:
        try:
            return IndexJob(**json.loads(self._path(job_id).read_text()))
        except (FileNotFoundError, ValueError, TypeError) as exc:
            raise NotFoundError(f"no index job {job_id}") from exc

    def list(self) -> list[IndexJob]:
        """The latest jobs, newest first."""
        jobs = []
        for path in sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
            try:
                jobs.append(IndexJob(**json.loads(path.read_text())))
            except (ValueError, TypeError):
                log.warning("%s: not a job record; left alone", path)
        jobs.sort(key=lambda j: j.created_at, reverse=True)
        return jobs[:JOBS_LISTED]

    def request_cancel(self, job_id: str) -> IndexJob:
        job = self.get(job_id)
        if self.view(job)["state"] not in ACTIVE:
            return job
        self._cancel_marker(job_id).touch()
        if job.pid is not None and _alive(job.pid):
            os.kill(job.pid, signal.SIGTERM)
        return job

    def cancel_requested(self, job_id: str) -> bool:
        return self._cancel_marker(job_id).exists()

    def view(self, job: IndexJob) -> dict[str, Any]:
        """The job as the API shows it: its record, with live progress while it runs, and `interrupted`
        for one whose process is gone without finishing."""
        out = asdict(job)
        out["cancel_requested"] = job.state in ACTIVE and self.cancel_requested(job.id)
        out |= {"current": None, "realtime": None, "eta_seconds": None}
        if job.state in ACTIVE:
            started_long_ago = _age_seconds(job.created_at) > _NEVER_STARTED_SECONDS
            if (job.pid is not None and not _alive(job.pid)) or (job.pid is None and started_long_ago):
                out["state"] = INTERRUPTED
        if out["state"] == RUNNING:
            live = index_progress.read(self.data_dir)
            if live is not None and live.pid == job.pid and live.running:
                out |= {
                    "files_total": live.files_total,
                    "files_done": live.files_done,
                    "indexed": live.indexed,
                    "skipped": live.skipped,
                    "current": live.current,
                    "media_seconds": round(live.media_seconds, 3),
                    "realtime": None if live.realtime is None else round(live.realtime, 3),
                    "eta_seconds": None if live.eta_seconds is None else round(live.eta_seconds, 1),
                    "failed": live.failed,
                }
        elif job.wall_seconds > 0 and job.media_seconds > 0:
            out["realtime"] = round(job.media_seconds / job.wall_seconds, 3)
        out["failed"] = [{"path": p, "reason": r} for p, r in out["failed"]]
        return out

    def _path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def _cancel_marker(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.cancel"


def start_job_process(settings: Settings, job: IndexJob) -> subprocess.Popen[bytes]:
    """Run the job in a process of its own, with these settings; its output goes to jobs/<id>.log. A
    thread waits for it, so that it is reaped when it ends."""
    log_path = settings.data_dir / JOBS_DIR / f"{job.id}.log"
    with open(log_path, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "vidsearch.indexer.jobs", job.id],
            env=os.environ | settings.as_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for the server does not cancel the job
        )
    threading.Thread(target=process.wait, daemon=True, name=f"job-{job.id}").start()
    return process


class JobCancelled(BaseException):
    """Raised in the job's process when it is told to stop (not an Exception: nothing on the way
    mistakes it for a failure of the video being read)."""


def run_job(settings: Settings, job_id: str) -> IndexJob:
    """The job's process: wait for the writer lock, scan its folders, record the outcome."""
    from vidsearch.indexer.pipeline import Indexer

    store = JobStore(settings.data_dir)
    job = store.get(job_id)
    job.pid, job.started_at = os.getpid(), _now()
    cancelled = threading.Event()

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        if not cancelled.is_set():
            cancelled.set()
            raise JobCancelled

    signal.signal(signal.SIGTERM, on_term)
    indexer = None
    try:
        if store.cancel_requested(job_id):
            raise JobCancelled
        job.state = WAITING
        store.save(job)
        indexer = Indexer(settings)
        while True:
            try:
                job.state = RUNNING
                store.save(job)
                report = indexer.run([Path(f) for f in job.folders])
                break
            except IndexerBusyError:
                job.state = WAITING
                store.save(job)
                time.sleep(1.0)
        job.state = DONE
        job.indexed, job.skipped, job.missing = len(report.indexed), len(report.skipped), len(report.missing)
        job.media_seconds, job.wall_seconds, job.generation = (
            report.media_seconds,
            report.wall_seconds,
            report.generation,
        )
        job.failed = [[p, r] for p, r in report.failed[:FAILURES_KEPT]]
        job.files_done = job.files_total = len(report.indexed) + len(report.skipped) + len(report.failed)
    except JobCancelled:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop is enough: let the publishing finish
        job.state = CANCELLED
        _progress_into(job, settings)
        # Only when this job stored videos: the stop may have come while the models were loading (torch
        # half imported), and the generation served already holds everything else.
        if indexer is not None and job.indexed:
            try:
                job.generation = _publish_what_was_stored(settings, indexer)
            except Exception as exc:  # the job is still cancelled; the next run publishes what it stored
                log.exception("index job %s: publishing after the cancel failed", job_id)
                job.error = f"cancelled; what was stored is published by the next index run ({exc})"
    except VidsearchError as exc:
        job.state, job.error = FAILED, str(exc)
        _progress_into(job, settings)
    except Exception as exc:  # a bug: recorded, not hidden
        log.exception("index job %s failed", job_id)
        job.state, job.error = FAILED, f"internal error: {type(exc).__name__}: {exc}"
    job.finished_at = _now()
    store.save(job)
    return job


def _progress_into(job: IndexJob, settings: Settings) -> None:
    """What the job's own progress file says it did before it stopped."""
    live = index_progress.read(settings.data_dir)
    if live is not None and live.pid == job.pid:
        job.files_total, job.files_done, job.media_seconds = live.files_total, live.files_done, live.media_seconds
        job.indexed, job.skipped = live.indexed, live.skipped
        job.failed = live.failed
        job.wall_seconds = live.elapsed_seconds


def _publish_what_was_stored(settings: Settings, indexer: Any) -> int | None:
    """After a cancel: a generation holding every video stored before it, unless another writer has
    the lock by now (it publishes one itself)."""
    from vidsearch.indexer.generations import publish_generations
    from vidsearch.indexer.pipeline import writer_lock

    try:
        with writer_lock(settings.data_dir):
            manifest = publish_generations(indexer.db, indexer.models, settings, thumbnails=indexer.thumbnails)
    except IndexerBusyError:
        return None
    return manifest.generation


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _age_seconds(stamp: str) -> float:
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return 0.0


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job = run_job(Settings(), sys.argv[1])
    logging.shutdown()
    # A cancelled job may leave a reader's thread finishing a file no one will store: not waited for.
    os._exit(0 if job.state in (DONE, CANCELLED) else 1)


if __name__ == "__main__":
    main()
