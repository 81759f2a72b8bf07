"""Watched folders with the real things: watchdog's inotify and polling observers on a temporary folder,
synthesised videos copied in, the real embedder, searches through the served generation."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import sharing_models
from vidsearch.config import Settings
from vidsearch.indexer.watch import FolderWatcher
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.search import Searcher
from vidsearch.storage import Database

pytestmark = pytest.mark.models

SUBTITLE = "Lift off at dawn"
BOUND_SECONDS = 60  # a landed file is searchable within this (settle time, one batch, a generation)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 2 s video whose only text is a subtitle (no speech or OCR needed to find it)."""
    path = tmp_path_factory.mktemp("clip") / "launch.mp4"
    make_video([Scene("rocket", 2, subtitle=SUBTITLE)], path, audio=False)
    return path.read_bytes()


def watch_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "speech": "none",
        "ocr": "none",
        "visual_labels": "none",
        "watch_settle_seconds": 1.0,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@contextmanager
def watching(settings: Settings, folder: Path, real_models) -> Iterator[FolderWatcher]:
    """A real watcher on `folder`, in a thread (in production: its own process); stopped at the end,
    failing the test if it raised."""
    watcher = FolderWatcher(settings, [folder], models=sharing_models(settings, real_models))
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            watcher.run(stop)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert watcher.ready.wait(60), "the watcher did not start"
    try:
        yield watcher
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not failures, failures


def wait_for(condition: Callable[[], object], seconds: float = BOUND_SECONDS) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - started


def status(db: Database, path: Path) -> str | None:
    video = db.video_by_path(str(path.resolve()))
    return video.status if video else None


def found(searcher: Searcher, path: Path) -> bool:
    return any(m.path == str(path.resolve()) for m in searcher.search(SUBTITLE.lower(), 10).results)


def times_indexed(watcher: FolderWatcher, path: Path) -> int:
    return sum(report.indexed.count(str(path.resolve())) for report in watcher.reports)


def test_a_slowly_copied_file_is_indexed_once_complete_and_leaves_search_when_deleted(tmp_path, clip, real_models):
    folder = tmp_path / "incoming"
    folder.mkdir()
    settings = watch_settings(tmp_path)
    db = Database(settings.resolved_database_url)
    searcher = Searcher(settings, db, real_models.embedder)
    target = folder / "arrival.mp4"
    with watching(settings, folder, real_models) as watcher:
        # Written in 8 pieces 0.4 s apart (3 s in all, each pause shorter than the 1 s settle time): the
        # half-written file must not be taken, where it would fail as a damaged video.
        chunk = len(clip) // 8 + 1
        with open(target, "wb") as out:
            for start in range(0, len(clip), chunk):
                out.write(clip[start : start + chunk])
                out.flush()
                time.sleep(0.4)
                assert status(db, target) is None, "a file still growing was indexed"
        # Done once the run that indexed it has published its generation.
        waited = wait_for(lambda: times_indexed(watcher, target) == 1)
        assert waited < BOUND_SECONDS and status(db, target) == "done"
        assert not any(report.failed for report in watcher.reports)
        assert db.library_roots() == [str(folder.resolve())]  # the folder is the library's, not each file
        wait_for(lambda: found(searcher, target))

        target.unlink()
        wait_for(lambda: any(str(target.resolve()) in report.missing for report in watcher.reports), 20)
        assert status(db, target) == "missing"
        assert not found(searcher, target)  # out of the served generation, at once

        # Back (the same bytes, another name): found again as the same video, with no model work.
        back = folder / "returned.mp4"
        back.write_bytes(clip)
        wait_for(lambda: any(report.moved for report in watcher.reports))
        assert status(db, back) == "done" and found(searcher, back)
        assert any(report.moved for report in watcher.reports) and times_indexed(watcher, back) == 0


def test_a_burst_of_20_files_is_indexed_once_each_in_few_runs(tmp_path, clip, real_models):
    folder = tmp_path / "card"
    folder.mkdir()
    settings = watch_settings(tmp_path)
    db = Database(settings.resolved_database_url)
    source = tmp_path / "source.mp4"
    source.write_bytes(clip)
    with watching(settings, folder, real_models) as watcher:
        burst = [folder / "dcim" / f"clip_{i:02d}.mp4" for i in range(20)]
        burst[0].parent.mkdir()
        for path in burst:
            shutil.copyfile(source, path)
        wait_for(lambda: all(times_indexed(watcher, p) for p in burst), 180)
        time.sleep(2 * settings.watch_settle_seconds)  # any second run would start by now
    assert [times_indexed(watcher, p) for p in burst] == [1] * 20
    assert all(status(db, p) == "done" for p in burst)
    runs = [report for report in watcher.reports if report.indexed]
    assert len(runs) <= 3, [len(r.indexed) for r in runs]  # batched, not one run a file
    assert not any(report.failed for report in watcher.reports)


def test_the_polling_observer_for_network_mounts(tmp_path, clip, real_models):
    folder = tmp_path / "nfs"
    folder.mkdir()
    (folder / "before.mp4").write_bytes(clip)  # there before the watcher: the first scan takes it
    settings = watch_settings(tmp_path, watch_polling=True, watch_poll_seconds=0.5)
    db = Database(settings.resolved_database_url)
    with watching(settings, folder, real_models) as watcher:
        assert status(db, folder / "before.mp4") == "done"
        (folder / "later.mp4").write_bytes(clip)
        wait_for(lambda: times_indexed(watcher, folder / "later.mp4"))
        (folder / "later.mp4").unlink()
        wait_for(lambda: status(db, folder / "later.mp4") == "missing", 20)
    assert times_indexed(watcher, folder / "later.mp4") == 1


def test_serve_watch_with_two_workers_keeps_the_library_current_and_counts_every_worker(tmp_path, clip):
    """The whole thing as a user runs it: `vidsearch serve --watch --workers 2` in its own process, a file
    copied into a library folder, searchable with no command typed; /metrics adds up both workers
    (prometheus-client's multiprocess mode); stopping the server stops its watcher."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys

    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from tests.api.conftest import free_port

    library, data = tmp_path / "library", tmp_path / "data"
    library.mkdir()
    env = os.environ | {
        "VIDSEARCH_SPEECH": "none",
        "VIDSEARCH_OCR": "none",
        "VIDSEARCH_VISUAL_LABELS": "none",
        "VIDSEARCH_WATCH_SETTLE_SECONDS": "1",
    }
    cli = [sys.executable, "-m", "vidsearch"]
    # An empty folder indexed: the library's folder, which serve --watch follows.
    subprocess.run([*cli, "index", str(library), "--data", str(data)], env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--watch", "--workers", "2", "--port", str(port), "--data", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/healthz"), 180)
        (library / "landed.mp4").write_bytes(clip)
        path = str((library / "landed.mp4").resolve())

        def searchable() -> bool:
            response = httpx.get(f"{base}/search", params={"q": SUBTITLE}, timeout=30)
            return response.status_code == 200 and any(m["path"] == path for m in response.json()["results"])

        wait_for(searchable, 180)
        searches = 12  # spread over both workers by the kernel
        for _ in range(searches):
            assert httpx.get(f"{base}/search", params={"q": "rocket at dawn"}, timeout=30).status_code == 200
        for _ in range(3):  # whichever worker answers the scrape, it counts both
            text = httpx.get(f"{base}/metrics", timeout=30).text
            counted = sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "vidsearch_http_requests_total"
                and sample.labels["route"] == "/search"
                and sample.labels["status"] == "200"
            )
            assert counted >= searches + 1
        assert len(list((data / "metrics-multiprocess").glob("*.db"))) >= 2  # both workers wrote
        watcher = [line for line in _children(server.pid) if " watch " in line]
        assert len(watcher) == 1, watcher
    finally:
        server.send_signal(signal.SIGTERM)  # the server alone: it stops its workers and its watcher
        try:
            server.wait(timeout=60)
            wait_for(lambda: not any(f"--parent {server.pid}" in line for line in _process_table()), 30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)  # whatever is left of the group, on failure


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _process_table() -> list[str]:
    import subprocess

    return subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout.splitlines()


def _children(pid: int) -> list[str]:
    return [line for line in _process_table() if line.split()[1] == str(pid)]
