"""The web page in a real browser: Debian's chromium driven by Playwright, against a server started
here on loopback over the indexed demo library (real models, real thumbnails, real media). Screenshots
land in test-artifacts/."""

import json
import os

import pytest

from tests.api.conftest import ARTIFACTS, serving
from vidsearch.indexer.progress import PROGRESS_FILE

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def server(indexed_demo, real_models):
    with serving(indexed_demo.settings, real_models.embedder) as url:
        yield url


def _player_time(page) -> float:
    return float(page.evaluate("document.getElementById('player').currentTime"))


def _wait_for_player_at(page, start: float) -> None:
    page.wait_for_function(
        "([start]) => { const v = document.getElementById('player');"
        " return v.readyState >= 1 && Math.abs(v.currentTime - start) < 0.5; }",
        arg=[start],
        timeout=20_000,
    )


def test_search_shows_the_right_moment_first_and_clicking_plays_it_from_its_start(page, server, indexed_demo):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(server + "/")
    page.fill("#q", "the rocket on the launch pad")
    page.click("form.search button[type=submit]")
    first = page.locator("li.moment").first
    first.wait_for()
    assert first.locator(".name").inner_text() == "launch_day.mp4"
    assert "LAUNCH" in first.locator("mark").all_inner_texts() or first.locator("mark").count() > 0
    # The thumbnail was made at index time and is served by window id.
    page.wait_for_function(
        "() => { const i = document.querySelector('li.moment img.thumb'); return i.complete && i.naturalWidth > 0; }"
    )
    start = float(first.get_attribute("data-start"))
    first.click()
    _wait_for_player_at(page, start)
    assert abs(_player_time(page) - start) < 0.5
    src = page.get_attribute("#player", "src")
    assert src and src.startswith("/videos/") and src.endswith("/media")  # by id, never by path
    page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)


def test_a_later_moment_seeks_with_range_requests(page, server):
    page.goto(server + "/?q=" + "harbor bridge closed")
    moment = page.locator("li.moment").first
    moment.wait_for()
    start = float(moment.get_attribute("data-start"))
    assert start > 0  # the bridge notice is not at the beginning: the player has to seek
    moment.click()
    _wait_for_player_at(page, start)


def test_ask_and_follow_a_citation(page, server):
    page.goto(server + "/")
    page.fill("#ask input[name=question]", "what is closed?")
    page.click("#ask button")
    citation = page.locator("#answer a.citation").first
    citation.wait_for(timeout=30_000)
    assert page.locator("#answer .text").inner_text().strip()
    start = float(citation.get_attribute("data-start"))
    citation.click()
    _wait_for_player_at(page, start)
    page.screenshot(path=str(ARTIFACTS / "ask.png"), full_page=True)


def test_filters_narrow_the_results_on_the_page(page, server, indexed_demo):
    page.goto(server + "/")
    page.fill("#q", "a cat on a sofa")
    page.click("details summary")
    page.fill("input[name=path]", indexed_demo.path("space") + "/")
    page.click("form.search button[type=submit]")
    page.locator("li.moment").first.wait_for()
    paths = [
        page.locator("li.moment .name").nth(i).get_attribute("title") for i in range(page.locator("li.moment").count())
    ]
    space = indexed_demo.path("space") + "/"
    assert paths and all(p.startswith(space) for p in paths)
    assert page.input_value("input[name=path]") == space  # the form keeps the filter it applied


def test_library_shows_status_counts_and_a_running_job(page, server, indexed_demo):
    data = indexed_demo.settings.data_dir
    progress = data / PROGRESS_FILE
    saved = progress.read_text() if progress.exists() else None
    # A job in flight, as the indexer writes it (this process stands in for the indexer's pid).
    running = {
        "pid": os.getpid(),
        "started_at": "2026-11-25T10:00:00+00:00",
        "files_total": 3,
        "files_done": 1,
        "current": "/videos/city/council_meeting.mp4",
        "finished_at": None,
    }
    progress.write_text(json.dumps(running))
    try:
        page.goto(server + "/library")
        rows = page.locator("table.videos tbody tr")
        assert rows.count() == 3
        assert page.locator("table.videos .status.done").count() == 3
        assert "Indexing: 1 of 3 files" in page.locator("#job").inner_text()
        page.screenshot(path=str(ARTIFACTS / "library.png"), full_page=True)
    finally:
        if saved is None:
            progress.unlink()
        else:
            progress.write_text(saved)


def _network_off(page, server: str) -> list[str]:
    """Only the loopback server answers: every other request is refused, and noted."""
    elsewhere: list[str] = []

    def only_local(route) -> None:
        if route.request.url.startswith(server + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    return elsewhere


def test_api_docs_render_with_the_network_off(page, server):
    elsewhere = _network_off(page, server)
    page.goto(server + "/docs")
    # Swagger UI rendered the operations from /openapi.json: its script and styles came from this server.
    page.locator(".opblock-summary-path", has_text="/search").first.wait_for(timeout=20_000)
    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    assert {"/search", "/ask", "/videos", "/videos/{video_id}", "/healthz"} <= paths
    page.screenshot(path=str(ARTIFACTS / "docs.png"))
    page.goto(server + "/redoc")
    page.locator("[data-section-id='operation/search_search_get']").wait_for(timeout=20_000)
    assert page.locator("[data-section-id^='operation/']").count() >= 5
    page.screenshot(path=str(ARTIFACTS / "redoc.png"))
    # Nothing else was asked of the internet but ReDoc's own "API docs by Redocly" badge, which its
    # bundle loads from its CDN and hides when that fails.
    assert set(elsewhere) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
