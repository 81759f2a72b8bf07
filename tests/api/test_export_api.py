"""The export routes over the real indexed demo library: one video in each format, the catalogue
streamed or zipped, and clear errors for an unknown id or format."""

from __future__ import annotations

import io
import json
import zipfile

import pysubs2
import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.export.test_export import SCHEMA
from vidsearch.api import create_app
from vidsearch.api.export import MEDIA_TYPES
from vidsearch.export import exporter, format_names
from vidsearch.search import Searcher
from vidsearch.storage import Database

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def client(indexed_demo, real_models):
    settings = indexed_demo.settings
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        yield client


@pytest.fixture(scope="module")
def launch_id(client, indexed_demo) -> int:
    videos = client.get("/videos").json()
    return next(v["id"] for v in videos if v["path"] == indexed_demo.path("space/launch_day.mp4"))


def test_one_video_in_every_format(client, launch_id):
    for name in format_names():
        response = client.get(f"/videos/{launch_id}/export", params={"format": name})
        assert response.status_code == 200, (name, response.text)
        assert response.headers["content-disposition"].startswith("attachment; filename*=UTF-8''launch_day")
        assert response.text
    pbcore = client.get(f"/videos/{launch_id}/export", params={"format": "pbcore"})
    assert pbcore.headers["content-type"] == "application/xml; charset=utf-8"
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    assert schema.validate(etree.fromstring(pbcore.content)), schema.error_log
    vtt = client.get(f"/videos/{launch_id}/export", params={"format": "vtt"})
    assert vtt.headers["content-type"] == "text/vtt; charset=utf-8"
    cues = pysubs2.SSAFile.from_string(vtt.text, format_="vtt")
    assert any("rocket" in e.plaintext.lower() for e in cues)
    lines = [json.loads(line) for line in client.get(f"/videos/{launch_id}/export").text.splitlines()]
    assert lines[0]["record"] == "video" and lines[0]["video_id"] == launch_id
    assert {line["record"] for line in lines[1:]} == {"window"}


def test_every_format_answers_with_a_documented_media_type(indexed_demo):
    for name in format_names():
        assert exporter(name, indexed_demo.settings).media_type in MEDIA_TYPES


def test_the_catalogue_streams_and_per_video_formats_come_zipped(client):
    videos = client.get("/videos").json()
    lines = [json.loads(line) for line in client.get("/export", params={"format": "jsonl"}).text.splitlines()]
    assert {line["video_id"] for line in lines if line["record"] == "video"} == {v["id"] for v in videos}
    csv_text = client.get("/export", params={"format": "csv"}).text
    assert csv_text.startswith("video,start,end,kind,text,tags,duration,id,")
    zipped = client.get("/export", params={"format": "pbcore"})
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        names = archive.namelist()
    assert len(names) == len(videos) and all(n.endswith(".pbcore.xml") for n in names)
    one = client.get("/export", params={"format": "srt", "video": videos[0]["id"]})
    with zipfile.ZipFile(io.BytesIO(one.content)) as archive:
        assert archive.namelist() == [f"{videos[0]['id']}-{videos[0]['path'].rsplit('/', 1)[1][:-4]}.srt"]


def test_bad_requests_say_what_is_wrong(client, launch_id):
    names = format_names()
    unknown = client.get("/videos/999999/export", params={"format": "jsonl"})
    assert unknown.status_code == 404 and unknown.json() == {"detail": "video 999999 not found"}
    bad = client.get(f"/videos/{launch_id}/export", params={"format": "mp3"})
    assert bad.status_code == 422
    assert bad.json() == {
        "detail": "format: Input should be " + ", ".join(f"'{n}'" for n in names[:-1]) + f" or '{names[-1]}'"
    }
    plugin = client.get("/export", params={"format": "os:system"})
    assert plugin.status_code == 422, "a request can only name a registered format, never a class path"
    assert client.get("/export", params={"video": 999999}).status_code == 404
