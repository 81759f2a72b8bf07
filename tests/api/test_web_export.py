"""The video page's description, chapters and export button in a real browser (Debian's chromium via
Playwright) against a real server over the indexed demo library."""

import re

import pysubs2
import pytest
from lxml import etree

from tests.api.conftest import ARTIFACTS
from tests.export.test_export import SCHEMA
from vidsearch.api.web import EXPORT_FORMATS
from vidsearch.export import format_names
from vidsearch.storage import Database

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def launch(indexed_demo):
    db = Database(indexed_demo.settings.resolved_database_url)
    try:
        video = db.video_by_path(indexed_demo.path("space/launch_day.mp4"))
        return db.catalogue_entry(video.id)
    finally:
        db.close()


def test_the_menu_offers_every_format():
    assert sorted(name for name, _ in EXPORT_FORMATS) == format_names()


def test_a_video_page_shows_its_description_and_chapters_and_exports(page, demo_server, launch, tmp_path):
    page.goto(f"{demo_server}/library/{launch.id}")
    description = page.locator("section.description")
    assert description.locator(".model").inner_text().startswith("vidsearch/extractive-description@vidsearch==")
    # Quoted with its window's time (shot-aware windows: the first scene's window, 0:00 to its cut).
    assert "The rocket stands" in description.inner_text()
    assert re.search(r"\[0:00-0:\d\d\]", description.inner_text())
    chapters = page.locator("section.chapters li")
    assert chapters.count() >= 1 and chapters.first.locator(".time").inner_text().startswith("0:00–")
    # A chapter plays from its start, like a window.
    last = chapters.last
    start = float(last.get_attribute("data-start"))
    last.click()
    page.wait_for_function(
        "([s]) => { const v = document.getElementById('player');"
        " return v.readyState >= 1 && Math.abs(v.currentTime - s) < 0.5; }",
        arg=[start],
        timeout=20_000,
    )
    page.screenshot(path=str(ARTIFACTS / "video-export.png"), full_page=True)
    page.select_option("form.export select", "pbcore")
    with page.expect_download() as info:
        page.click("form.export button")
    download = info.value
    assert download.suggested_filename == "launch_day.pbcore.xml"
    record = tmp_path / download.suggested_filename
    download.save_as(record)
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    assert schema.validate(etree.parse(str(record))), schema.error_log
    page.select_option("form.export select", "srt")
    with page.expect_download() as info:
        page.click("form.export button")
    transcript = tmp_path / info.value.suggested_filename
    info.value.save_as(transcript)
    assert any("rocket" in e.plaintext.lower() for e in pysubs2.load(str(transcript)))
