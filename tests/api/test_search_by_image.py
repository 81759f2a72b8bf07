"""Search by picture and "more like this" through the API, the command line and the web page (chromium),
over the silent library: with the default settings (the real EfficientNet labels: quality is checked)
and with a RANDOM-WEIGHT tiny CLIP (paths and shapes, not quality). Bad uploads are 4xx with the reason."""

import io
import json
import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from skimage import data as photos
from typer.testing import CliRunner

from tests.api.conftest import ARTIFACTS, serving
from vidsearch.api import create_app
from vidsearch.api.schemas import SearchOut
from vidsearch.cli import app as cli
from vidsearch.search import Searcher
from vidsearch.storage import Database

pytestmark = pytest.mark.models


def png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny PNG whose header claims a huge picture (a decompression bomb's first bytes)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # noqa: E731
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def labelled_client(labelled_library, real_models):
    searcher = Searcher(labelled_library, Database(labelled_library.resolved_database_url), real_models.embedder)
    with TestClient(create_app(labelled_library, searcher=searcher)) as client:
        yield client


@pytest.fixture(scope="module")
def clip_client(clip_library, real_models):
    # A tiny random-weight CLIP: its matches are mechanics, not relevance, so nothing is cut.
    settings = clip_library.model_copy(update={"min_relevance": 0.0})
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        yield client


def test_a_photo_finds_the_scene_that_shows_it(labelled_client, silent_library):
    response = labelled_client.post(
        "/search/image", params={"limit": 3}, files={"image": ("cat.png", png(photos.chelsea()), "image/png")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert SearchOut.model_validate(body).model_dump(mode="json") == body
    top = body["results"][0]
    assert body["query"] == "cat.png (seen as: cat)" and top["path"] == str(silent_library / "three things.mp4")
    assert (top["start"], top["matched"]) == (0.0, ["objects"])
    like = labelled_client.get("/search/similar", params={"window_id": top["window_id"], "limit": 3}).json()
    assert like["query"] == f"like window {top['window_id']}"
    assert all(m["window_id"] != top["window_id"] for m in like["results"])


def test_with_an_image_text_model_pictures_match_visually(clip_client):
    response = clip_client.post("/search/image", files={"image": ("c.jpg", png(photos.coffee()), "image/jpeg")})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results and all(m["matched"] == ["visual"] for m in results)
    words = clip_client.get("/search", params={"q": "a cup of coffee", "kind": "visual"}).json()["results"]
    assert words and all(m["matched"] == ["visual"] for m in words)


@pytest.mark.parametrize(
    ("name", "content", "kind", "status", "reason"),
    [
        ("notes.txt", b"hello", "text/plain", 422, "text/plain is not a picture type"),
        ("empty.png", b"", "image/png", 422, "empty.png is empty"),
        ("junk.png", b"not a picture at all" * 10, "image/png", 422, "junk.png is not a picture vidsearch can read"),
        ("bomb.png", bomb_png(), "image/png", 422, "bomb.png is too large a picture: more than 40 million pixels"),
        ("cut.png", png(photos.chelsea())[:3000], "image/png", 422, "cut.png is damaged or truncated"),
        ("wide.png", bomb_png(8000, 6000), "image/png", 422, "wide.png is 8000x6000 pixels: more than 40 million"),
    ],
)
def test_bad_uploads_are_4xx_with_the_reason(labelled_client, name, content, kind, status, reason):
    response = labelled_client.post("/search/image", files={"image": (name, content, kind)})
    assert response.status_code == status and reason in response.json()["detail"], response.text


def test_a_huge_upload_is_413_before_any_route_runs(labelled_client, labelled_library):
    limit = labelled_library.max_image_bytes
    big = b"\xff" * (limit + 1)
    response = labelled_client.post("/search/image", files={"image": ("big.jpg", big, "image/jpeg")})
    assert response.status_code == 413 and str(limit) in response.json()["detail"]
    # Other routes keep their small limit.
    assert labelled_client.post("/ask", content=b"x" * 70_000).status_code == 413


def test_similar_to_an_unknown_window_is_404(labelled_client):
    assert labelled_client.get("/search/similar", params={"window_id": 999_999}).status_code == 404


def test_the_command_line_searches_by_picture_and_like_a_result(labelled_library, silent_library, tmp_path):
    picture = tmp_path / "rocket.png"
    picture.write_bytes(png(photos.rocket()))
    data = ["--data", str(labelled_library.data_dir)]
    runner = CliRunner()
    result = runner.invoke(cli, ["search", "--image", str(picture), "--json", "-k", "1", *data])
    assert result.exit_code == 0, result.output
    [top] = json.loads(result.stdout)["results"]
    assert top["path"] == str(silent_library / "three things.mp4") and top["start"] == 12.0
    like = runner.invoke(cli, ["search", "--like", str(top["window_id"]), "--json", *data])
    # Exit 1 when nothing else shows the same things (like grep); never the window itself.
    assert like.exit_code in (0, 1)
    assert all(m["window_id"] != top["window_id"] for m in json.loads(like.stdout)["results"])
    missing = runner.invoke(cli, ["search", "--image", str(tmp_path / "nope.png"), *data])
    assert missing.exit_code == 1 and "nope.png: cannot read" in missing.output and "Traceback" not in missing.output
    both = runner.invoke(cli, ["search", "a cat", "--image", str(picture), *data])
    assert both.exit_code == 2 and "give one of" in both.output


def test_the_page_searches_by_a_chosen_picture_and_more_like_this(labelled_library, real_models, page, tmp_path):
    picture = tmp_path / "coffee.png"
    picture.write_bytes(png(photos.coffee()))
    with serving(labelled_library, real_models.embedder) as base:
        page.goto(base + "/")
        page.set_input_files("form.by-image input[type=file]", str(picture))
        page.click("form.by-image button")
        page.wait_for_selector("ol.results li.moment")
        assert "Moments that look like coffee.png" in page.inner_text("main")
        first = page.locator("ol.results li.moment").first
        assert first.get_attribute("data-start") == "6.0"
        page.screenshot(path=str(ARTIFACTS / "search-by-image.png"), full_page=True)
        first.locator("a.like").click()
        page.wait_for_url("**/?like=*")
        assert "Moments that look like window" in page.inner_text("main")


def test_the_page_shows_what_matched_the_picture_with_an_image_text_model(clip_library, real_models, page, tmp_path):
    picture = tmp_path / "rocket.png"
    picture.write_bytes(png(photos.rocket()))
    with serving(clip_library, real_models.embedder) as base:
        page.goto(base + "/?q=a+rocket+on+the+launch+pad&kind=visual")
        page.wait_for_selector("ol.results li.moment")
        kinds = page.locator("ol.results li.moment .snippet .kind").all_inner_texts()
        assert "visual" in kinds
        page.set_input_files("form.by-image input[type=file]", str(picture))
        page.click("form.by-image button")
        page.wait_for_selector("ol.results li.moment")
        assert "Moments that look like rocket.png" in page.inner_text("main")
