"""Subtitles exported as found: a synthesised video whose soft subtitle track has cues that end exactly
on its cuts and its shot-aware windows' edges, or a frame or a few milliseconds past them (and one of
two lines), indexed with the real shot detector and embedder, exported through the command line as
WebVTT and SRT and parsed back with pysubs2: the same cues, with their own times and texts, as the
track holds. Each window's subtitle text is the cues it holds, not the ones that only touch it."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pysubs2
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from vidsearch.api import create_app
from vidsearch.cli import app
from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.kinds import TextKind
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.models.loader import ModelSet
from vidsearch.search import Searcher
from vidsearch.storage import Database
from vidsearch.storage.catalogue import VideoEntry

pytestmark = pytest.mark.models

runner = CliRunner()
# Cuts at 6 s and 20 s; the 14 s shot between them is two windows of 7 s (10 s windows, stretched to
# fill the shot), so windows are 0-6, 6-13, 13-20 and 20-25.
SCENES = [Scene("rocket", 6), Scene("coffee", 14), Scene("astronaut", 5)]
CUES = [
    (0.5, 6.04, "Countdown at the pad"),  # ends a frame past the cut
    (6.04, 12.98, "Coffee break\nfor the crew"),  # two lines
    (12.98, 16.5, "Second cup"),  # starts 20 ms before a window's edge (a track's cues never overlap)
    (16.5, 20.0, "Back to work"),  # ends on the cut
    (20.0, 25.0, "Suit check"),
]
FRAME_MS = 40  # 25 fps


@dataclass
class Subtitled:
    settings: Settings
    video: VideoEntry  # crew day.mp4, with its track
    quiet: VideoEntry  # quiet.mp4: no subtitles at all

    @property
    def data(self) -> Path:
        return self.settings.data_dir


@pytest.fixture(scope="module")
def subtitled(tmp_path_factory, real_models) -> Subtitled:
    folder = tmp_path_factory.mktemp("subtitled")
    make_video(SCENES, folder / "crew day.mp4", audio=False, subtitle_cues=CUES)
    make_video([Scene("coffee", 3)], folder / "quiet.mp4", audio=False, subtitles=False)
    settings = Settings(data_dir=folder / "data", speech="none", ocr="none", visual_labels="none")
    models = ModelSet(settings)
    models.embedder = real_models.embedder
    report = Indexer(settings, models=models).run([folder])
    assert report.failed == [] and len(report.indexed) == 2
    db = Database(settings.resolved_database_url)
    try:
        videos = {Path(v.path).name: v for v in db.catalogue_entries(db.catalogue_video_ids())}
    finally:
        db.close()
    return Subtitled(settings, videos["crew day.mp4"], videos["quiet.mp4"])


def test_the_windows_start_on_the_cuts_and_edges_the_cues_end_on(subtitled):
    edges = [(w.start, w.end) for w in subtitled.video.windows]
    assert [s for s, _ in edges] == pytest.approx([0.0, 6.0, 13.0, 20.0], abs=FRAME_MS / 1000)
    assert subtitled.video.cuts == pytest.approx([6.0, 20.0], abs=FRAME_MS / 1000)


def test_each_window_holds_its_own_cues_and_not_those_that_touch_it(subtitled):
    said = [" ".join(w.texts_of(TextKind.SUBTITLE)) for w in subtitled.video.windows]
    assert said == [
        "Countdown at the pad",
        "Coffee break for the crew",
        "Second cup Back to work",
        "Suit check",
    ]


@pytest.mark.parametrize("fmt", ["vtt", "srt"])
def test_exported_subtitles_are_the_cues_of_the_track(subtitled, tmp_path, fmt):
    out = tmp_path / "out"
    args = ["export", "--data", str(subtitled.data), "-f", f"subtitles-{fmt}", "--out", str(out)]
    result = runner.invoke(app, [*args, "--video", subtitled.video.path])
    assert result.exit_code == 0, result.output
    exported = pysubs2.load(str(out / f"crew day.subtitle.{fmt}"))
    assert [e.plaintext for e in exported] == [text for _, _, text in CUES]
    for event, (start, end, _) in zip(exported, CUES, strict=True):
        assert abs(event.start - start * 1000) <= 1 and abs(event.end - end * 1000) <= 1


def test_a_video_without_subtitles_gets_no_subtitle_file(subtitled, tmp_path):
    """Exporting many videos, one without subtitles gets no (empty) file, and the summary says so; asked
    for by itself, it is an error that says why (the other formats asked for are still written)."""
    out = tmp_path / "all"
    result = runner.invoke(app, ["export", "--data", str(subtitled.data), "-f", "subtitles-srt", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"{subtitled.video.id}-crew day.subtitle.srt"]
    assert "subtitles-srt: 1 file in" in result.stdout and "none for 1 video" in result.stdout
    assert f"video {subtitled.quiet.id} ({subtitled.quiet.path}) has no subtitles" in " ".join(result.stderr.split())

    one = tmp_path / "one"
    args = ["export", "--data", str(subtitled.data), "--video", subtitled.quiet.path, "--out", str(one)]
    result = runner.invoke(app, [*args, "-f", "subtitles-vtt", "-f", "chapters-vtt"])
    assert result.exit_code == 1
    assert "subtitles-vtt" in result.stderr and "has no subtitles" in " ".join(result.stderr.split())
    assert sorted(p.name for p in one.iterdir()) == ["quiet.chapters.vtt"]


def test_the_api_and_the_video_page_offer_no_empty_subtitles(subtitled, real_models):
    settings = subtitled.settings
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        quiet, crew = subtitled.quiet.id, subtitled.video.id
        none = client.get(f"/videos/{quiet}/export", params={"format": "subtitles-vtt"})
        assert none.status_code == 404
        assert none.json()["detail"].startswith(f"video {quiet} ({subtitled.quiet.path}) has no subtitles")
        assert client.get(f"/videos/{crew}/export", params={"format": "subtitles-vtt"}).status_code == 200
        zipped = client.get("/export", params={"format": "subtitles-srt"})
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
            assert archive.namelist() == [f"{crew}-crew day.subtitle.srt"]
        assert client.get("/export", params={"format": "subtitles-srt", "video": quiet}).status_code == 404
        # The video page's export menu lists what there is.
        assert 'value="subtitles-vtt"' not in client.get(f"/library/{quiet}").text
        assert 'value="subtitles-vtt"' in client.get(f"/library/{crew}").text


FRENCH = [(0.5, 6.0, "Compte à rebours"), (6.5, 12.0, "Pause café"), (20.0, 24.0, "Vérification")]


def test_each_subtitle_track_is_exported_on_its_own(tmp_path, real_models):
    """A video with its own track and a French sidecar: the export writes one track (the first found,
    or the one asked for), never the two languages interleaved; an unknown track is an error listing
    the video's tracks, through the command line and the API."""
    folder = tmp_path / "videos"
    folder.mkdir()
    make_video(SCENES, folder / "crew day.mp4", audio=False, subtitle_cues=CUES)
    french = pysubs2.SSAFile()
    for start, end, text in FRENCH:
        french.append(pysubs2.SSAEvent(start=round(start * 1000), end=round(end * 1000), text=text))
    french.save(str(folder / "crew day.fr.srt"))
    settings = Settings(data_dir=tmp_path / "data", speech="none", ocr="none", visual_labels="none")
    models = ModelSet(settings)
    models.embedder = real_models.embedder
    assert Indexer(settings, models=models).run([folder]).failed == []
    data = ["--data", str(settings.data_dir)]

    def exported(*extra: str) -> list[str]:
        out = tmp_path / f"out{len(extra)}"
        result = runner.invoke(app, ["export", *data, "-f", "subtitles-srt", "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        return [e.plaintext for e in pysubs2.load(str(out / "crew day.subtitle.srt"))]

    assert exported() == [text for _, _, text in CUES]  # the video's own track, found first
    assert exported("--track", "crew day.fr.srt") == [text for _, _, text in FRENCH]
    only = ["--video", str(folder / "crew day.mp4")]
    result = runner.invoke(
        app, ["export", *data, *only, "-f", "subtitles-srt", "-o", str(tmp_path / "x"), "--track", "de"]
    )
    assert result.exit_code == 1
    assert "has no subtitle track 'de' (its tracks: stream:" in " ".join(result.stderr.split())
    assert "crew day.fr.srt)" in " ".join(result.stderr.split())

    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        video_id = client.get("/videos").json()[0]["id"]
        url = f"/videos/{video_id}/export"
        french_vtt = client.get(url, params={"format": "subtitles-vtt", "track": "crew day.fr.srt"})
        assert french_vtt.status_code == 200
        assert [e.plaintext for e in pysubs2.SSAFile.from_string(french_vtt.text)] == [t for _, _, t in FRENCH]
        assert client.get(url, params={"format": "subtitles-vtt", "track": "de"}).status_code == 404
        # Other formats have no tracks: the parameter is theirs to ignore.
        assert client.get(url, params={"format": "pbcore", "track": "crew day.fr.srt"}).status_code == 200
