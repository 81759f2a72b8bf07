"""The library page's folders and scans in a real browser (Debian's chromium via Playwright) against a
real server on loopback: add a folder from the allowed roots, start a scan (a real job process with the
real models), watch its progress to the end, cancel one; the section is an admin's only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ARTIFACTS, serving
from vidsearch.api import create_app
from vidsearch.api.security import ApiKeyStore
from vidsearch.config import Settings
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.search import Searcher
from vidsearch.storage import Database

pytestmark = pytest.mark.models

JOB_MS = 240_000


def library_settings(tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        speech="none",
        ocr="none",
        visual_labels="none",
        library_allowed_roots=[tmp_path / "allowed"],
        rate_limit="10000/minute",
    )


def test_add_a_folder_scan_it_and_cancel_a_scan_from_the_page(page, tmp_path, real_models):
    folder = tmp_path / "allowed" / "holiday"
    make_video([Scene("rocket", 2, subtitle="Lift off at dawn")], folder / "launch.mp4", audio=False)
    (tmp_path / "outside").mkdir()
    settings = library_settings(tmp_path)
    with serving(settings, real_models.embedder) as url:
        page.goto(url + "/library")
        assert page.locator("#allowed-roots option").get_attribute("value") == str((tmp_path / "allowed").resolve())

        page.fill("#folder-path", str(tmp_path / "outside"))
        page.click("#add-folder button[type=submit]")
        page.wait_for_selector("#manage-message.error")
        assert "outside the folders the operator allows" in page.inner_text("#manage-message")

        page.fill("#folder-path", str(folder))
        page.click("#add-folder button[type=submit]")
        row = page.locator(f'#folders tr[data-folder="{folder.resolve()}"]')
        row.wait_for()
        assert "Added" in page.inner_text("#manage-message")

        row.locator("button.scan").click()
        done = page.locator("#jobs li.job.done")
        done.wait_for(timeout=JOB_MS)
        facts = done.locator(".facts").inner_text()
        assert "1 of 1 files" in facts and "1 indexed" in facts
        page.screenshot(path=str(ARTIFACTS / "library-scan-done.png"), full_page=True)

        page.goto(url + "/library")
        assert page.locator("table.videos a.name", has_text="launch.mp4").count() == 1
        page.goto(url + "/?q=lift off at dawn")
        page.locator("li.moment").first.wait_for()

        # A longer scan, cancelled from the page while it runs: long enough (96 s, a few seconds of work
        # on a fast machine) that the scan is still running when the click lands.
        make_video(
            [Scene(name, 4, title=f"PART {i}") for i, name in enumerate(("coffee", "chelsea") * 12)],
            folder / "long.mp4",
            audio=False,
        )
        page.goto(url + "/library")
        page.click("#scan-all")
        running = page.locator("#jobs li.job.running")
        running.wait_for(timeout=JOB_MS)
        running.locator("button.cancel").click()
        page.locator("#jobs li.job.cancelled").wait_for(timeout=60_000)
        assert page.locator("#jobs li.job").count() == 2


def test_only_an_admin_sees_the_folders_and_scans(tmp_path, real_models):
    (tmp_path / "allowed").mkdir()
    settings = library_settings(tmp_path)
    keys = ApiKeyStore(settings.data_dir)
    reader, admin = keys.create("reader"), keys.create("ops", admin=True)
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        client.cookies.set("vidsearch_key", reader)
        page = client.get("/library")
        assert page.status_code == 200 and 'id="manage"' not in page.text
        client.cookies.set("vidsearch_key", admin)
        page = client.get("/library")
        assert 'id="manage"' in page.text and str((tmp_path / "allowed").resolve()) in page.text
