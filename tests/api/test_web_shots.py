"""The video page's shots in a real browser (Debian's chromium via Playwright) against a real server
over the indexed demo library: the timeline and strip show the stored shots, each with a thumbnail
from its own frames, and a shot plays from its cut."""

import pytest

from tests.api.conftest import ARTIFACTS
from vidsearch.storage import Database

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def launch(indexed_demo):
    db = Database(indexed_demo.settings.resolved_database_url)
    try:
        return db.video_detail(db.video_by_path(indexed_demo.path("space/launch_day.mp4")).id)
    finally:
        db.close()


def test_the_video_page_shows_the_shots_and_plays_one_from_its_cut(page, demo_server, launch):
    shots = sorted(launch.shots, key=lambda s: s.start)
    assert len(shots) >= 2  # the demo video has scenes with hard cuts between them
    page.goto(f"{demo_server}/library/{launch.id}")
    section = page.locator("section.shots")
    assert f"{len(shots)} ·" in section.locator("h2").inner_text()
    segments = section.locator(".timeline .segment")
    assert segments.count() == len(shots)
    # The timeline's segments are each shot's share of the video, side by side.
    widths = segments.evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
    bar = section.locator(".timeline").evaluate("e => e.getBoundingClientRect().width")
    expected = [(s.end - s.start) / launch.duration for s in shots]
    assert sum(widths) == pytest.approx(bar, rel=0.02)
    assert [w / bar for w in widths] == pytest.approx(expected, abs=0.02)
    strip = section.locator("ol.shot-strip li")
    assert strip.count() == len(shots)
    for i, shot in enumerate(shots):
        item = strip.nth(i)
        assert float(item.get_attribute("data-start")) == pytest.approx(shot.start, abs=1e-3)
        assert f"Shot {i + 1}" in item.inner_text()
        # Its thumbnail is a picture that loaded, from a window inside the shot.
        thumb = item.locator("img.thumb")
        thumb.scroll_into_view_if_needed()
        page.wait_for_function("e => e.complete && e.naturalWidth > 0", arg=thumb.element_handle(), timeout=10_000)
        window_id = int(thumb.get_attribute("src").split("/")[2])
        window = next(w for w in launch.windows if w.id == window_id)
        assert shot.start - 1e-3 <= window.start and window.end <= shot.end + 1e-3
    # Each window says which shot it belongs to.
    windows = page.locator("ol.windows li.window")
    assert windows.count() == len(launch.windows)
    for i, window in enumerate(sorted(launch.windows, key=lambda w: w.start)):
        number = next(n for n, s in enumerate(shots, 1) if s.start <= (window.start + window.end) / 2 < s.end)
        assert windows.nth(i).locator(".in-shot").inner_text() == f"shot {number}"
    second = strip.nth(1)
    second.click()
    page.wait_for_function(
        "([s]) => { const v = document.getElementById('player');"
        " return v.readyState >= 1 && Math.abs(v.currentTime - s) < 0.5; }",
        arg=[shots[1].start],
        timeout=20_000,
    )
    page.screenshot(path=str(ARTIFACTS / "video-shots.png"), full_page=True)
