"""A library as it changes under a user: imports kept through re-indexing, files deleted, moved and
put back, videos removed, and videos found by their names. Real packaged models, real videos."""

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import sharing_models
from tests.indexer.test_pipeline import ForbiddenModels
from vidsearch.config import Settings
from vidsearch.errors import ConfigError
from vidsearch.indexer import Indexer
from vidsearch.indexer.annotations import import_annotations
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.search import Searcher
from vidsearch.storage import Database
from vidsearch.storage.library import name_text
from vidsearch.storage.vectors import read_manifest

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Two short silent clips with no text on screen, made once."""
    folder = tmp_path_factory.mktemp("clips")
    make_video([Scene("rocket", 6)], folder / "rocket launch.mp4", audio=False, subtitles=False)
    make_video([Scene("coffee", 6)], folder / "morning_coffee.mp4", audio=False, subtitles=False)
    return folder


class NoSignalModels(ForbiddenModels):
    """Test double: speech, OCR, labels and captions fail the test; the embedder (to publish a new
    index generation) is the real one."""

    def __init__(self, settings, real_models):
        super().__init__(settings)
        self._real = real_models

    @property
    def embedder(self):
        return self._real.embedder


def _library(tmp_path: Path, clips: Path) -> Path:
    library = tmp_path / "lib"
    (library / "trips").mkdir(parents=True)
    shutil.copy(clips / "rocket launch.mp4", library / "trips" / "rocket launch.mp4")
    shutil.copy(clips / "morning_coffee.mp4", library / "morning_coffee.mp4")
    return library


def _quiet(tmp_path: Path, **more) -> Settings:
    return Settings(data_dir=tmp_path / "data", speech="none", ocr="none", visual_labels="none", **more)


def _searcher(settings: Settings, real_models) -> Searcher:
    return Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)


def _import(settings: Settings, real_models, rows: list[dict], name: str = "notes.jsonl") -> None:
    path = settings.data_dir.parent / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    db = Database(settings.resolved_database_url)
    import_annotations(db, [path])
    rebuild_vector_index(db, real_models.embedder, settings.vector_dir)


def _imported(db: Database) -> list[tuple[str, float, float, str, tuple[str, ...]]]:
    out = []
    for video, _ in db.list_videos():
        for w in db.video_detail(video.id).windows:
            for t in w.texts:
                if t.kind == "annotation":
                    out.append(
                        (Path(video.path).name, w.start, w.end, t.text, tuple(db.window_tags([w.id]).get(w.id, [])))
                    )
    return sorted(out)


def test_reindexing_with_new_settings_keeps_imported_descriptions_and_tags(tmp_path, clips, real_models):
    library = _library(tmp_path, clips)
    settings = _quiet(tmp_path)
    Indexer(settings, models=sharing_models(settings, real_models)).run([library])
    rocket = str((library / "trips" / "rocket launch.mp4").resolve())
    rows = [
        {"video": rocket, "start": 1, "end": 4, "text": "The countdown reaches zero", "tags": ["launch", "nasa"]},
        {"video": rocket, "start": 4, "end": 6, "text": "Smoke fills the pad", "tags": ["launch"]},
    ]
    _import(settings, real_models, rows)
    db = Database(settings.resolved_database_url)
    before = _imported(db)
    assert len(before) == 2

    shorter = _quiet(tmp_path, window_length=5)  # a setting that changes every window
    report = Indexer(shorter, models=sharing_models(shorter, real_models)).run([library])
    assert len(report.indexed) == 2
    assert _imported(db) == before  # carried over, tags and all
    windows = db.video_detail(db.video_by_path(rocket).id).windows
    # One 6 s shot in 5 s windows: split in two, evenly (shot-aware windows leave no 1 s sliver).
    assert [(w.start, w.end) for w in windows if not w.imported] == [(0.0, 3.0), (3.0, 6.0)]

    from vidsearch.storage.filters import SearchFilters

    found = _searcher(shorter, real_models).search("countdown to zero", 3, filters=SearchFilters(tags=("nasa",)))
    assert found.results and found.results[0].path == rocket and found.results[0].tags == ["launch", "nasa"]

    # reindex (a rebuild from SQL) and importing the same file again keep them too.
    rebuild_vector_index(db, real_models.embedder, shorter.vector_dir)
    _import(shorter, real_models, rows)
    assert _imported(db) == before


def test_a_library_whose_files_are_all_gone_says_so_when_a_search_is_empty(tmp_path, clips, real_models):
    library = _library(tmp_path, clips)
    settings = _quiet(tmp_path)
    Indexer(settings, models=sharing_models(settings, real_models)).run([library])
    away = tmp_path / "away"
    shutil.move(library, away)
    library.mkdir()
    report = Indexer(settings, models=NoSignalModels(settings, real_models)).run([library])
    response = _searcher(settings, real_models).search("morning coffee", 10)
    assert response.results == []
    assert response.note == f"nothing is searchable now: {len(report.missing)} missing (see vidsearch status)"


def test_a_deleted_file_leaves_search_and_comes_back_without_model_work(tmp_path, clips, real_models):
    library = _library(tmp_path, clips)
    settings = _quiet(tmp_path)
    Indexer(settings, models=sharing_models(settings, real_models)).run([library])
    coffee = library / "morning_coffee.mp4"
    kept = tmp_path / "kept.mp4"
    shutil.move(coffee, kept)

    report = Indexer(settings, models=NoSignalModels(settings, real_models)).run([library])
    assert report.missing == [str(coffee)] and report.generation == 2
    db = Database(settings.resolved_database_url)
    assert db.video_by_path(str(coffee)).status == "missing"
    searcher = _searcher(settings, real_models)
    assert all(m.path != str(coffee) for m in searcher.search("morning coffee", 10).results)

    # Scanning again changes nothing; the file put back is found as it was, with no model work.
    again = Indexer(settings, models=NoSignalModels(settings, real_models)).run([library])
    assert again.missing == [] and again.generation is None
    shutil.move(kept, coffee)
    back = Indexer(settings, models=NoSignalModels(settings, real_models)).run([library])
    assert back.restored == [str(coffee)] and back.indexed == []
    assert db.video_by_path(str(coffee)).status == "done"
    assert searcher.search("morning coffee", 1).results[0].path == str(coffee)


def test_a_moved_file_keeps_its_windows_and_imports(tmp_path, clips, real_models):
    library = _library(tmp_path, clips)
    settings = _quiet(tmp_path)
    Indexer(settings, models=sharing_models(settings, real_models)).run([library])
    old = library / "trips" / "rocket launch.mp4"
    _import(settings, real_models, [{"video": str(old), "start": 0, "end": 3, "text": "Liftoff over the ocean"}])
    db = Database(settings.resolved_database_url)
    video_id = db.video_by_path(str(old)).id
    new = library / "space" / "liftoff.mp4"
    new.parent.mkdir()
    shutil.move(old, new)

    report = Indexer(settings, models=NoSignalModels(settings, real_models)).run([library])
    assert report.moved == [(str(old), str(new))] and report.missing == [] and report.indexed == []
    assert db.video_by_path(str(new)).id == video_id and db.video_by_path(str(old)) is None
    searcher = _searcher(settings, real_models)
    top = searcher.search("liftoff over the ocean", 1).results[0]
    assert top.path == str(new) and top.texts["annotation"] == "Liftoff over the ocean"
    # Its name follows it: the new file name and folder find it.
    assert top.path == searcher.search("liftoff", 1).results[0].path
    assert "name" in searcher.search("space", 1).results[0].matched


def test_removed_videos_leave_the_library_and_their_rows_go(tmp_path, clips, real_models):
    from typer.testing import CliRunner

    import vidsearch.cli as cli

    library = _library(tmp_path, clips)
    settings = _quiet(tmp_path)
    Indexer(settings, models=sharing_models(settings, real_models)).run([library])
    db = Database(settings.resolved_database_url)
    rocket = str(library / "trips" / "rocket launch.mp4")
    _import(settings, real_models, [{"video": rocket, "start": 0, "end": 3, "text": "Liftoff"}])
    (library / "morning_coffee.mp4").unlink()
    Indexer(settings, models=NoSignalModels(settings, real_models)).run([library])

    runner = CliRunner()
    data = ["--data", str(settings.data_dir)]
    result = runner.invoke(cli.app, ["remove", str(library / "trips"), *data])
    assert result.exit_code == 0, result.output
    assert f"removed {rocket}" in result.output
    result = runner.invoke(cli.app, ["remove", "--missing", *data])
    assert result.exit_code == 0 and "morning_coffee.mp4" in result.output
    assert db.list_videos() == [] and db.count_texts() == 0
    with db.engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM windows")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM videos")).scalar() == 0
    result = runner.invoke(cli.app, ["remove", "/no/such/video.mp4", *data])
    assert result.exit_code == 1 and "not in the library: /no/such/video.mp4" in result.output


def test_paths_that_do_not_exist_and_description_files_are_errors_not_videos(tmp_path, clips, real_models):
    library = _library(tmp_path, clips)
    settings = _quiet(tmp_path)
    with pytest.raises(ConfigError, match="no such file or folder: /nosuchdir"):
        Indexer(settings, models=ForbiddenModels(settings)).run([Path("/nosuchdir")])
    assert not settings.data_dir.exists() or read_manifest(settings.vector_dir) is None
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"video": "x", "start": 0, "end": 1, "text": "t"}\n')
    report = Indexer(settings, models=sharing_models(settings, real_models)).run(
        [library / "morning_coffee.mp4", notes, tmp_path / "gone"]
    )
    assert report.not_found == [str(tmp_path / "gone")]
    assert (
        dict(report.failed)[str(notes)]
        == f"not a video (.jsonl file); to add its descriptions: vidsearch import {notes}"
    )
    db = Database(settings.resolved_database_url)
    assert [Path(v.path).name for v, _ in db.list_videos()] == ["morning_coffee.mp4"]  # no failed row for notes


def test_a_video_is_found_by_its_file_name_and_folder(tmp_path, clips, real_models):
    library = _library(tmp_path, clips)
    settings = _quiet(tmp_path)
    Indexer(settings, models=sharing_models(settings, real_models)).run([library])
    searcher = _searcher(settings, real_models)
    rocket = str(library / "trips" / "rocket launch.mp4")
    top = searcher.search("rocket", 1).results[0]
    assert top.path == rocket and top.matched == {"name"} and top.start == 0.0
    assert top.texts["name"] == "rocket launch (trips)"
    assert searcher.search("trips", 1).results[0].path == rocket
    assert searcher.search("coffee in the morning", 1).results[0].path == str(library / "morning_coffee.mp4")


def test_name_text_reads_file_names_as_words():
    assert name_text("/media/v/holidays/2023/bunny_in_the-meadow.mp4", ["/media/v"]) == (
        "bunny in the meadow (holidays, 2023)"
    )
    assert name_text("/media/v/clip.mp4", ["/media/v"]) == "clip"
    assert name_text("/a/b/c/GoProFootage.MOV") == "Go Pro Footage (b, c)"
