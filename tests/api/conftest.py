"""What the API and web page tests share: a real server on loopback, headless chromium, and a copy of
the indexed demo library grown the way a user grows one (an imported annotation for one of its videos,
a video known only by a key, a file that failed)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright import sync_api as playwright_api  # a dev dependency: missing means a broken setup

from tests.conftest import IndexedLibrary
from vidsearch.api import create_app
from vidsearch.config import Settings
from vidsearch.indexer.annotations import import_annotations
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.search import Searcher
from vidsearch.storage import Database
from vidsearch.storage.database import FileState
from vidsearch.storage.thumbnails import ThumbnailStore

CHROMIUM = os.environ.get("VIDSEARCH_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# An imported description of launch_day.mp4 (a real, indexed file) and one of a video known only by a key.
IMPORTED_TEXT = "A countdown clock glows beside the gantry"
EXTERNAL_KEY = "archive-reel-17"
EXTERNAL_TEXT = "Harvesters cross a wheat field at dusk"
BROKEN_REASON = "not a video: Invalid data found when processing input"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(settings: Settings, embedder: object) -> Iterator[str]:
    """A real server (uvicorn, loopback) over this data folder; yields its base URL."""
    searcher = Searcher(settings, Database(settings.resolved_database_url), embedder)  # type: ignore[arg-type]
    config = uvicorn.Config(
        create_app(settings, searcher=searcher), host="127.0.0.1", port=free_port(), log_level="warning"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{config.port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def demo_server(indexed_demo, real_models) -> Iterator[str]:
    """A real server over the indexed demo library, as configured (one per test module)."""
    with serving(indexed_demo.settings, real_models.embedder) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"chromium not found at {CHROMIUM}: apt-get install chromium (scripts/test.sh does)")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, timezone_id="Europe/Paris")
    tab = context.new_page()
    yield tab
    context.close()


@dataclass
class GrownLibrary:
    """The demo library's data, copied, with what users add to it."""

    demo: IndexedLibrary
    settings: Settings
    launch_id: int  # launch_day.mp4, indexed normally
    imported_window_id: int  # its imported annotation: a window with no thumbnail made at index time
    external_id: int  # a video known only by a key
    external_window_id: int
    broken_id: int  # a file that failed


@pytest.fixture(scope="module")
def grown_demo(tmp_path_factory: pytest.TempPathFactory, indexed_demo, real_models) -> GrownLibrary:
    # A copy: the session's indexed library is shared by other modules that count its videos.
    data = tmp_path_factory.mktemp("grown") / "data"
    shutil.copytree(indexed_demo.settings.data_dir, data)
    settings = indexed_demo.settings.model_copy(update={"data_dir": data})
    db = Database(settings.resolved_database_url)
    try:
        launch = indexed_demo.path("space/launch_day.mp4")
        notes = data.parent / "notes.jsonl"
        rows = [
            {"video": launch, "start": 13.0, "end": 17.0, "text": IMPORTED_TEXT},
            {"video": EXTERNAL_KEY, "start": 12.0, "end": 20.0, "text": EXTERNAL_TEXT, "duration": 95.0},
        ]
        notes.write_text("".join(json.dumps(r) + "\n" for r in rows))
        import_annotations(db, [notes])
        broken_id = db.mark_failed(FileState(str(indexed_demo.folder.resolve() / "broken.mp4"), 12, 1.0), BROKEN_REASON)
        rebuild_vector_index(
            db, real_models.embedder, settings.vector_dir, thumbnails=ThumbnailStore(settings.thumbnail_dir)
        )
        videos = {v.path: v.id for v, _ in db.list_videos()}
        launch_windows = db.video_detail(videos[launch]).windows
        imported = next(w for w in launch_windows if w.texts and w.texts[0].text == IMPORTED_TEXT)
        external = db.video_detail(videos[EXTERNAL_KEY]).windows[0]
    finally:
        db.close()
    store = ThumbnailStore(settings.thumbnail_dir)
    assert not store.path(imported.id).exists() and not store.path(external.id).exists()
    return GrownLibrary(
        indexed_demo, settings, videos[launch], imported.id, videos[EXTERNAL_KEY], external.id, broken_id
    )
