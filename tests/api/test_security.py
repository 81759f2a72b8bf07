"""API keys, exposure, body and rate limits, CORS, and media served by id inside the library roots."""

import json
import os

import pytest
from fastapi.testclient import TestClient

from tests.conftest import sharing_models
from vidsearch.api import create_app
from vidsearch.api.security import ApiKeyStore, check_exposure
from vidsearch.config import Settings
from vidsearch.errors import ConfigError
from vidsearch.indexer import Indexer
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.search import Searcher
from vidsearch.storage import Database
from vidsearch.storage.thumbnails import ThumbnailStore

pytestmark = pytest.mark.models


@pytest.fixture
def library(tmp_path, real_models):
    """A one-video library indexed with the real embedder (speech and OCR off for speed)."""
    make_video([Scene("rocket", 3, subtitle="Lift off at dawn")], tmp_path / "lib" / "launch.mp4")
    settings = Settings(data_dir=tmp_path / "data", speech="none", ocr="none")
    Indexer(settings, models=sharing_models(settings, real_models)).run([tmp_path / "lib"])
    return settings


def client_for(settings, real_models, **overrides):
    settings = settings.model_copy(update=overrides)
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    return TestClient(create_app(settings, searcher=searcher))


def test_keys_are_stored_hashed_and_checked(tmp_path):
    store = ApiKeyStore(tmp_path)
    assert not store
    token = store.create("newsroom")
    assert token not in (tmp_path / "api_keys.json").read_text()
    assert oct((tmp_path / "api_keys.json").stat().st_mode & 0o777) == "0o600"
    assert store.verify(token) == "newsroom" and store.verify(token + "x") is None and store.verify(None) is None
    with pytest.raises(ConfigError, match="exists already"):
        store.create("newsroom")
    assert store.revoke("newsroom") and not store.revoke("newsroom") and store.verify(token) is None


def test_no_public_address_without_a_key_unless_dev(tmp_path):
    keys = ApiKeyStore(tmp_path)
    check_exposure(Settings(data_dir=tmp_path, host="127.0.0.1"), keys)
    check_exposure(Settings(data_dir=tmp_path, host="::1"), keys)
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without an API key"):
        check_exposure(Settings(data_dir=tmp_path, host="0.0.0.0"), keys)
    check_exposure(Settings(data_dir=tmp_path, host="0.0.0.0", dev=True), keys)
    keys.create("ops")
    check_exposure(Settings(data_dir=tmp_path, host="0.0.0.0"), keys)


def test_routes_need_a_key_once_keys_exist(library, real_models):
    token = ApiKeyStore(library.data_dir).create("client")
    with client_for(library, real_models) as client:
        assert client.get("/healthz").status_code == 200  # health stays open for probes
        missing = client.get("/search", params={"q": "rocket"})
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert client.get("/videos", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert (
            client.get("/search", params={"q": "rocket"}, headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
        assert client.get("/videos", headers={"X-API-Key": token}).status_code == 200
        assert client.post("/ask", json={"question": "what lifts off?"}).status_code == 401
        assert client.get("/videos/1/media").status_code == 401


def test_request_bodies_over_the_limit_are_refused_before_the_route(library, real_models):
    with client_for(library, real_models, max_body_bytes=1024) as client:
        big = {"question": "x" * 900, "k": 1, "padding": "y" * 2000}
        assert client.post("/ask", json=big).status_code == 413
        streamed = client.post(
            "/ask",
            content=(json.dumps(big).encode()[i : i + 100] for i in range(0, 3000, 100)),
            headers={"content-type": "application/json"},
        )
        assert streamed.status_code == 413 and "larger than 1024 bytes" in streamed.json()["detail"]
        assert client.post("/ask", json={"question": "what lifts off?", "k": 1}).status_code == 200


def test_rate_limit_answers_429_with_retry_after(library, real_models):
    with client_for(library, real_models, rate_limit="3/minute") as client:
        codes = [client.get("/search", params={"q": "rocket"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/videos")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert limited.json() == {"detail": "rate limit exceeded: 3/minute"}
        # Health checks, the page's files and thumbnails are not counted.
        assert client.get("/healthz").status_code == 200
        assert client.get("/static/app.js").status_code == 200
        assert client.get("/windows/1/thumbnail").status_code in (200, 404)


def test_cors_only_for_listed_origins(library, real_models):
    preflight = {"access-control-request-method": "GET"}
    with client_for(library, real_models, cors_origins=["https://archive.example.org"]) as client:
        ok = client.options("/search", headers={"origin": "https://archive.example.org", **preflight})
        assert ok.headers.get("access-control-allow-origin") == "https://archive.example.org"
        evil = client.options("/search", headers={"origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in evil.headers
    with client_for(library, real_models) as client:  # none listed: no CORS at all
        plain = client.get("/healthz", headers={"origin": "https://archive.example.org"})
        assert "access-control-allow-origin" not in plain.headers


def test_media_is_served_by_id_with_ranges(library, real_models):
    with client_for(library, real_models) as client:
        whole = client.get("/videos/1/media")
        assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
        assert whole.headers["accept-ranges"] == "bytes"
        part = client.get("/videos/1/media", headers={"range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100
        assert part.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"


@pytest.mark.parametrize(
    "video_id",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "%2E%2E",
        "%2Fetc%2Fpasswd",
        "1%00",
        "-1",
        "999",
        "1.0",
        "0x1",
        "9223372036854775808",
        "١",
    ],
)
def test_traversal_attempts_find_nothing(library, real_models, video_id):
    with client_for(library, real_models) as client:
        assert client.get(f"/videos/{video_id}/media").status_code in (403, 404)


def test_a_symlink_out_of_the_root_is_forbidden(library, real_models, tmp_path):
    outside = tmp_path / "outside.mp4"
    video = tmp_path / "lib" / "launch.mp4"
    outside.write_bytes(video.read_bytes())
    video.unlink()
    os.symlink(outside, video)  # the indexed file is swapped for a link leading out of the library
    store = ThumbnailStore(library.thumbnail_dir)
    store.path(1).unlink()  # as if the window were imported: its thumbnail would be taken from the file
    with client_for(library, real_models) as client:
        response = client.get("/videos/1/media")
        assert client.get("/windows/1/thumbnail").status_code == 404  # not taken from a file outside
    assert response.status_code == 403 and "outside the library roots" in response.json()["detail"]
    assert not store.path(1).exists()
    video.unlink()
    with client_for(library, real_models) as client:
        assert client.get("/videos/1/media").status_code == 404  # the file is gone


def test_the_web_page_signs_in_with_a_key_kept_in_a_strict_http_only_cookie(library, real_models):
    token = ApiKeyStore(library.data_dir).create("browser")
    with client_for(library, real_models) as client:
        page = client.get("/")
        assert page.status_code == 401 and 'name="key"' in page.text  # the sign-in form, not data
        assert client.get("/library").status_code == 401
        wrong = client.post("/login", data={"key": "nope"}, follow_redirects=False)
        assert wrong.status_code == 401 and "not valid" in wrong.text
        signed = client.post("/login", data={"key": token}, follow_redirects=False)
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        results = client.get("/", params={"q": "rocket"})  # the client keeps the cookie
        assert results.status_code == 200 and "launch.mp4" in results.text
        assert client.get("/videos/1/media").status_code == 200  # the player's requests carry it too
    with client_for(library, real_models) as stranger:
        assert stranger.get("/", params={"q": "rocket"}).status_code == 401


def test_the_library_page_shows_failures_with_their_reason(tmp_path, real_models):
    folder = tmp_path / "lib"
    make_video([Scene("rocket", 3, subtitle="Lift off at dawn")], folder / "launch.mp4")
    (folder / "broken.mp4").write_bytes(b"not a video at all" * 100)
    settings = Settings(data_dir=tmp_path / "data", speech="none", ocr="none")
    Indexer(settings, models=sharing_models(settings, real_models)).run([folder])
    with client_for(settings, real_models) as client:
        page = client.get("/library")
    assert page.status_code == 200
    assert "broken.mp4" in page.text and "not a readable media container" in page.text
    assert "done: 1" in page.text and "failed: 1" in page.text
    assert "Last index run finished" in page.text
