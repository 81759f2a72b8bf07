"""Every export format from the real indexed demo library (synthesised videos, real packaged models),
through the command line: JSON Lines and CSV, transcripts parsed back with pysubs2, chapter files,
PBCore records validated against the published PBCore 2.1 schema with lxml, chaptered copies probed
with PyAV, and the JSON Lines imported back into an empty data folder."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import av
import pysubs2
import pytest
from lxml import etree
from typer.testing import CliRunner

from tests.conftest import sharing_models
from vidsearch.cli import app
from vidsearch.config import Settings
from vidsearch.export import format_names
from vidsearch.export.chapters import SHOT
from vidsearch.export.formats import ChapterSettings
from vidsearch.indexer import Indexer
from vidsearch.kinds import TextKind
from vidsearch.search import Searcher
from vidsearch.storage import Database
from vidsearch.storage.catalogue import WHOLE_VIDEO_KINDS, VideoEntry

pytestmark = pytest.mark.models

runner = CliRunner()
# The PBCore 2.1 schema as published (PBCore-AV-Metadata/PBCore_2.1, CC0 1.0), kept beside this test.
SCHEMA = Path(__file__).with_name("pbcore-2.1.xsd")
PBCORE = "{http://www.pbcore.org/PBCore/PBCoreNamespace.html}"
# The demo's videos are 24-36 s, cut in 10 s windows: chapters of at least 10 s can show its scenes.
CHAPTER_ENV = {"VIDSEARCH_CHAPTER_MIN_SECONDS": "10"}
ALL_FORMATS = [
    "jsonl",
    "csv",
    "vtt",
    "srt",
    "subtitles-vtt",
    "subtitles-srt",
    "chapters-vtt",
    "ffmetadata",
    "pbcore",
]


@dataclass
class Exported:
    out: Path
    videos: list[VideoEntry]  # what the library holds, read through the same storage code
    chapters: ChapterSettings


@pytest.fixture(scope="module")
def exported(indexed_demo, tmp_path_factory) -> Exported:
    out = tmp_path_factory.mktemp("export")
    args = ["export", "--data", str(indexed_demo.settings.data_dir), "--out", str(out), "--embed-chapters"]
    for name in ALL_FORMATS:
        args += ["--format", name]
    result = runner.invoke(app, args, env=CHAPTER_ENV)
    assert result.exit_code == 0, result.output
    db = Database(indexed_demo.settings.resolved_database_url)
    try:
        videos = list(db.catalogue_entries(db.catalogue_video_ids()))
    finally:
        db.close()
    settings = indexed_demo.settings.model_copy(update={"chapter_min_seconds": 10.0})
    return Exported(out, videos, ChapterSettings.of(settings))


def _file(exported: Exported, video: VideoEntry, suffix: str) -> Path:
    return exported.out / f"{video.id}-{Path(video.path).stem}{suffix}"


def test_every_format_is_registered_and_written(exported):
    assert sorted(ALL_FORMATS) == format_names()
    names = {p.name for p in exported.out.iterdir()}
    assert {"catalogue.jsonl", "catalogue.csv"} <= names
    for video in exported.videos:
        for suffix in (".vtt", ".srt", ".subtitle.vtt", ".subtitle.srt", ".chapters.vtt", ".ffmetadata.txt"):
            assert _file(exported, video, suffix).is_file()
        assert _file(exported, video, ".pbcore.xml").is_file()
    assert not any(name.startswith(".") for name in names), "no temporary file is left behind"


def test_jsonl_holds_every_window_and_text_with_its_model(exported):
    lines = [json.loads(line) for line in (exported.out / "catalogue.jsonl").read_text().splitlines()]
    videos = [row for row in lines if row["record"] == "video"]
    windows = [row for row in lines if row["record"] == "window"]
    assert [v["video"] for v in videos] == [v.path for v in exported.videos]
    assert len(windows) == sum(len(v.windows) for v in exported.videos)
    for video in exported.videos:
        line = next(v for v in videos if v["video"] == video.path)
        assert line["duration"] == pytest.approx(video.duration)
        assert {s["kind"] for s in line["streams"]} >= {"video", "audio"}
        assert line["chapters"] and line["chapters"][0]["start"] == 0
        rows = [w for w in windows if w["video"] == video.path]
        assert [(w["start"], w["end"]) for w in rows] == [(w.start, w.end) for w in video.windows]
        for row, window in zip(rows, video.windows, strict=True):
            assert [(t["kind"], t["text"]) for t in row["texts"]] == [(t.kind, t.text) for t in window.texts]
            for given, stored in zip(row["texts"], window.texts, strict=True):
                assert given["model"] == (stored.model.to_dict() if stored.model else None)
    speech = [t for w in windows for t in w["texts"] if t["kind"] == TextKind.SPEECH]
    assert speech and all(t["model"]["kind"] == "speech" and t["model"]["revision"] for t in speech)


def test_csv_has_one_row_per_text_with_its_model(exported):
    with (exported.out / "catalogue.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    texts = [(v, w, t) for v in exported.videos for w in v.windows for t in w.texts]
    assert len(rows) == len(texts)
    for row, (video, window, text) in zip(rows, texts, strict=True):
        assert (row["video"], float(row["start"]), float(row["end"])) == (video.path, window.start, window.end)
        assert (row["kind"], row["text"]) == (text.kind, text.text)
        assert row["model"] == (text.model.label if text.model else "")


def test_transcripts_parse_back_as_the_speech_and_subtitles(exported, indexed_demo):
    launch = next(v for v in exported.videos if v.path.endswith("launch_day.mp4"))
    for fmt in ("vtt", "srt"):
        speech = pysubs2.load(str(_file(exported, launch, f".{fmt}")))
        # Cue times are whole milliseconds; shot-aware windows start at a cut's frame time.
        said = [
            (round(w.start * 1000), round(w.end * 1000), w.texts_of(TextKind.SPEECH)[0])
            for w in launch.windows
            if w.texts_of("speech")
        ]
        assert [(e.start, e.end, e.plaintext) for e in speech] == said
        subtitles = pysubs2.load(str(_file(exported, launch, f".subtitle.{fmt}")))
        # The soft subtitle of the second scene (12-24 s) is one cue, as found in the track.
        track = [
            (round(s.start * 1000), round(s.end * 1000), s.scene.subtitle)
            for s in indexed_demo.truth["space/launch_day.mp4"]
            if s.scene.subtitle
        ]
        assert [(e.start, e.end, e.plaintext) for e in subtitles] == track


def test_chapters_start_at_topic_changes_or_at_the_shots_the_indexer_found(exported, indexed_demo):
    db = Database(indexed_demo.settings.resolved_database_url)
    try:
        stored = db.shot_cuts([v.id for v in exported.videos])
    finally:
        db.close()
    lines = [json.loads(line) for line in (exported.out / "catalogue.jsonl").read_text().splitlines()]
    # With no topic ever changing (a cosine is never below -1), the cuts alone start chapters.
    shots_only = dataclasses.replace(exported.chapters, threshold=-1.0)
    assert any(video.cuts for video in exported.videos)  # the demo's scenes are shots
    for video in exported.videos:
        assert video.shots and video.cuts == stored.get(video.id, [])
        line = next(v for v in lines if v["record"] == "video" and v["video"] == video.path)
        assert [[s["start"], s["end"]] for s in line["shots"]] == [list(shot) for shot in video.shots]
        for chapter in exported.chapters.chapters(video)[1:]:
            assert chapter.reason != SHOT or chapter.start in video.cuts
        starts = [c.start for c in shots_only.chapters(video)]
        assert starts[0] == 0 and set(starts[1:]) <= set(video.cuts)
        assert len(starts) > 1 or not video.cuts
        assert {c.reason for c in shots_only.chapters(video)[1:]} <= {SHOT}


def test_chapters_follow_the_topics_and_cover_each_video(exported):
    for video in exported.videos:
        chapters = pysubs2.load(str(_file(exported, video, ".chapters.vtt")))
        assert chapters[0].start == 0 and chapters[-1].end == round(video.end * 1000)
        assert all(a.end == b.start for a, b in itertools.pairwise(chapters))
        assert all(e.plaintext.strip() for e in chapters)
        expected = exported.chapters.chapters(video)
        assert [e.plaintext for e in chapters] == [c.title for c in expected]
        meta = _file(exported, video, ".ffmetadata.txt").read_text()
        assert meta.startswith(";FFMETADATA1\n") and meta.count("[CHAPTER]") == len(expected)


def test_a_change_of_subject_starts_a_chapter_titled_from_its_texts(labelled_library, tmp_path):
    """The silent video shows a cat, coffee, then a rocket, 6 s each, in 6 s windows: three subjects."""
    args = ["export", "--data", str(labelled_library.data_dir), "--out", str(tmp_path), "-f", "chapters-vtt"]
    result = runner.invoke(app, args, env={"VIDSEARCH_CHAPTER_MIN_SECONDS": "5"})
    assert result.exit_code == 0, result.output
    chapters = pysubs2.load(str(tmp_path / "three things.chapters.vtt"))
    assert [(e.start, e.end) for e in chapters] == [(0, 6000), (6000, 12000), (12000, 18000)]
    titles = [e.plaintext for e in chapters]
    assert "cat" in titles[0] and "coffee" in titles[1] and "rocket" in titles[2]


def test_pbcore_records_validate_against_the_published_schema(exported):
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    for video in exported.videos:
        record = etree.parse(str(_file(exported, video, ".pbcore.xml")))
        assert schema.validate(record), schema.error_log
        root = record.getroot()
        assert root.findtext(f"{PBCORE}pbcoreIdentifier") == str(video.id)
        assert root.findtext(f"{PBCORE}pbcoreTitle") == Path(video.path).stem
        abstract = root.find(f"{PBCORE}pbcoreDescription[@descriptionType='Abstract']")
        assert abstract.text == video.description.text and abstract.text.startswith("Extractive description")
        assert abstract.get("annotation") == video.description.model.label
        timed = root.findall(f"{PBCORE}pbcoreDescription[@startTime]")
        assert len(timed) == sum(1 for w in video.windows for t in w.texts if t.kind not in WHOLE_VIDEO_KINDS)
        subjects = root.findall(f"{PBCORE}pbcoreSubject[@subjectType='Visual label']")
        assert subjects and all(s.get("startTime") and s.get("endTime") for s in subjects)
        instantiation = root.find(f"{PBCORE}pbcoreInstantiation")
        assert instantiation.findtext(f"{PBCORE}instantiationLocation") == video.path
        essence = instantiation.iter(f"{PBCORE}instantiationEssenceTrack")
        tracks = [t.findtext(f"{PBCORE}essenceTrackType") for t in essence]
        assert "Video" in tracks and "Audio" in tracks
        assert len(root.findall(f"{PBCORE}pbcorePart")) == len(exported.chapters.chapters(video))


def test_chaptered_copies_have_the_chapters_and_the_same_streams(exported):
    for video in exported.videos:
        original = Path(video.path)
        copy = exported.out / f"{video.id}-{original.stem}.chapters{original.suffix}"  # several: id first
        with av.open(str(copy)) as chaptered:
            chapters = chaptered.chapters()
        expected = exported.chapters.chapters(video)
        assert [c["metadata"].get("title") for c in chapters] == [c.title for c in expected]
        # FFmpeg's chapter times are whole milliseconds; a shot's cut falls on a frame's time.
        assert [round(float(c["start"] * c["time_base"]), 3) for c in chapters] == [round(c.start, 3) for c in expected]
        assert _packets(copy) == _packets(original), "every stream is copied bit for bit"


def _packets(path: Path) -> dict[tuple[int, str, str], list[tuple[int | None, bytes]]]:
    """Each stream's packets in order (the muxer may interleave the streams differently)."""
    out: dict[tuple[int, str, str], list[tuple[int | None, bytes]]] = {}
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type in ("video", "audio", "subtitle")]
        for packet in container.demux(streams):
            if packet.size:  # the demuxer's flush packets carry nothing
                key = (packet.stream.index, packet.stream.type, packet.stream.codec_context.name)
                out.setdefault(key, []).append((packet.pts, bytes(packet)))
    return out


def test_the_original_files_are_untouched(exported, indexed_demo):
    for video in exported.videos:
        assert os.stat(video.path).st_size == video.size_bytes


def _sources(window) -> list[tuple[str, str]]:
    return sorted((t.kind, t.source) for t in window.texts if t.kind != TextKind.NAME)


def _search(settings: Settings, real_models, query: str) -> list:
    db = Database(settings.resolved_database_url)
    try:
        return Searcher(settings, db, real_models.embedder).search(query, 5).results
    finally:
        db.close()


def test_jsonl_imports_back_into_an_empty_data_folder_with_the_same_windows_and_texts(
    exported, indexed_demo, real_models, tmp_path
):
    data = tmp_path / "data"
    result = runner.invoke(app, ["import", str(exported.out / "catalogue.jsonl"), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "3 videos as catalogued" in result.output
    assert "index their folders" in " ".join(result.output.split())  # to play them in this new library
    db = Database(f"sqlite:///{data / 'vidsearch.db'}")
    try:
        back = {v.path: v for v in db.catalogue_entries(db.catalogue_video_ids())}
    finally:
        db.close()
    assert set(back) == {v.path for v in exported.videos}
    for video in exported.videos:
        again = back[video.path]
        assert again.duration == pytest.approx(video.duration)
        assert [(w.start, w.end) for w in again.windows] == [(w.start, w.end) for w in video.windows]
        for before, after in zip(video.windows, again.windows, strict=True):
            assert _said(after) == _said(before)
            assert after.tags == before.tags
            assert after.imported == before.imported  # the indexer's windows are still listed as its own
            # Each text keeps where it was read (a track, a sidecar, speech): not "import".
            assert _sources(after) == _sources(before)
        # The video's name is made again from its path by the library it is in (its folders count from
        # that library's roots), on its first window.
        assert again.windows[0].texts_of(TextKind.NAME)
        # What the video line carries comes back: done (searchable) as it was, its probe data and shots.
        assert again.status == video.status == "done"
        assert (again.shots, again.subtitle_cues, again.content_hash) == (
            video.shots,
            video.subtitle_cues,
            video.content_hash,
        )

    # It searches the same: the same moments with the same spans, in the same order (the indexer's
    # windows join and support as they did; they are not spans a person gave). Scores move a little: each
    # video's name text is made by the library it is in, from that library's roots.
    for query in ("the rocket on the launch pad", "harbor bridge closed", "grandma's apple pie"):
        here, there = (
            _search(settings, real_models, query) for settings in (indexed_demo.settings, Settings(data_dir=data))
        )
        assert here and [(m.path, m.start, m.end) for m in here] == [(m.path, m.start, m.end) for m in there]
        assert [m.score for m in there] == pytest.approx([m.score for m in here], abs=0.05), query

    # Exported again from the new library: the same video lines, chapters and PBCore records.
    out = tmp_path / "again"
    args = ["export", "--data", str(data), "--out", str(out), "-f", "jsonl", "-f", "chapters-vtt", "-f", "pbcore"]
    result = runner.invoke(app, [*args, "-f", "subtitles-vtt"], env=CHAPTER_ENV)
    assert result.exit_code == 0, result.output
    assert _video_lines(out / "catalogue.jsonl") == _video_lines(exported.out / "catalogue.jsonl")
    ids = {video.path: (video.id, back[video.path].id) for video in exported.videos}
    for video in exported.videos:
        old_id, new_id = ids[video.path]
        stem = Path(video.path).stem
        for suffix in (".chapters.vtt", ".subtitle.vtt"):
            assert (out / f"{new_id}-{stem}{suffix}").read_text() == _file(exported, video, suffix).read_text()
        record = (out / f"{new_id}-{stem}.pbcore.xml").read_text()
        assert _without_id(record, new_id) == _without_id(_file(exported, video, ".pbcore.xml").read_text(), old_id)

    # Imported again: nothing changes, nothing is added twice.
    result = runner.invoke(app, ["import", str(exported.out / "catalogue.jsonl"), "--data", str(data)])
    assert result.exit_code == 0 and "0 new, 0 changed" in result.output
    # The files are here, with the same bytes, indexed with the same pipeline: nothing is indexed again.
    settings = Settings(data_dir=data)
    report = Indexer(settings, models=sharing_models(settings, real_models)).run([indexed_demo.folder])
    assert report.failed == [] and report.indexed == [] and len(report.skipped) == len(exported.videos)


def test_a_catalogue_keeps_to_the_library_it_is_imported_into(exported, indexed_demo, tmp_path):
    """Where the library has indexed a video itself, its own windows and facts stand and only what
    people imported comes in; a video whose file is not here is known by its key, with its facts."""
    data = tmp_path / "data"
    shutil.copytree(indexed_demo.settings.data_dir, data)
    result = runner.invoke(app, ["import", str(exported.out / "catalogue.jsonl"), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "indexed in this library" in result.output and "0 new, 0 changed" in result.output
    db = Database(f"sqlite:///{data / 'vidsearch.db'}")
    try:
        kept = {v.path: [(w.id, w.imported) for w in v.windows] for v in db.catalogue_entries(db.catalogue_video_ids())}
    finally:
        db.close()
    assert kept == {v.path: [(w.id, w.imported) for w in v.windows] for v in exported.videos}

    launch = next(v for v in exported.videos if v.path.endswith("launch_day.mp4"))
    elsewhere = "/archive/elsewhere/launch_day.mp4"
    lines = [json.loads(line) for line in (exported.out / "catalogue.jsonl").read_text().splitlines()]
    moved = tmp_path / "moved.jsonl"
    moved.write_text(
        "".join(json.dumps({**line, "video": elsewhere}) + "\n" for line in lines if line["video"] == launch.path)
    )
    fresh = tmp_path / "fresh"
    result = runner.invoke(app, ["import", str(moved), "--data", str(fresh)])
    assert result.exit_code == 0, result.output
    db = Database(f"sqlite:///{fresh / 'vidsearch.db'}")
    try:
        [known] = db.catalogue_entries(db.catalogue_video_ids())
    finally:
        db.close()
    assert (known.path, known.status, known.has_file) == (elsewhere, "external", False)
    assert (known.shots, known.subtitle_cues, known.probe["streams"]) == (
        launch.shots,
        launch.subtitle_cues,
        launch.probe["streams"],
    )


def _video_lines(catalogue: Path) -> list[dict]:
    """The catalogue's video lines but their ids (the library that imports them numbers its videos)."""
    lines = [json.loads(line) for line in catalogue.read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "video_id"} for line in lines if line["record"] == "video"]


def _without_id(record: str, video_id: int) -> str:
    """A PBCore record with its video's id (an identifier, and its chapters' as ID.n) taken out."""
    record = record.replace(f'<pbcoreIdentifier source="vidsearch">{video_id}</pbcoreIdentifier>', "ID")
    return re.sub(rf'<pbcoreIdentifier source="vidsearch">{video_id}\.(\d+)<', r"ID.\1<", record)


def _said(window):
    """A window's texts with their models, but the video's name (derived from the path, not exported data)."""
    return [(t.kind, t.text, t.model.to_dict() if t.model else None) for t in window.texts if t.kind != TextKind.NAME]


def test_one_video_to_stdout_and_bad_requests_get_clear_errors(indexed_demo, exported):
    data = str(indexed_demo.settings.data_dir)
    launch = next(v for v in exported.videos if v.path.endswith("launch_day.mp4"))
    result = runner.invoke(app, ["export", "--data", data, "--video", launch.path, "--out", "-"])
    assert result.exit_code == 0
    assert {json.loads(line)["video"] for line in result.stdout.splitlines()} == {launch.path}
    unknown = runner.invoke(app, ["export", "--data", data, "--format", "mp3"])
    assert unknown.exit_code == 1 and "unknown export format 'mp3'" in unknown.stderr
    missing = runner.invoke(app, ["export", "--data", data, "--video", "999999"])
    assert missing.exit_code == 1 and "no video '999999'" in missing.stderr
    a_file = Path(exported.out) / "catalogue.csv"
    onto_file = runner.invoke(app, ["export", "--data", data, "--out", str(a_file)])
    assert onto_file.exit_code == 1 and "is a file, not a folder" in onto_file.stderr
