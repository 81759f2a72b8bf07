"""Shot-aware windows through the real indexer: a synthesised video with cuts at known times off the
10 s grid is indexed with the real packaged models; no stored window straddles a cut, the shots are
stored, each window's on-screen text and thumbnail come from its own shot, overlapping windows still
work, and turning the setting off re-indexes onto the fixed grid with no shots."""

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from vidsearch.config import Settings
from vidsearch.indexer.pipeline import Indexer
from vidsearch.media.frames import frame_at
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.storage import Database
from vidsearch.storage.schema import TextKind
from vidsearch.storage.thumbnails import ThumbnailStore

from ..conftest import sharing_models

pytestmark = pytest.mark.models

FPS = 25
TOLERANCE = 2 / FPS + 1e-6  # see tests/media/test_shots.py: a cut is found at most two frames late
SCENES = (
    Scene("rocket", 3.0, title="ROCKET PAD"),
    Scene("coffee", 14.0, title="MORNING COFFEE"),
    Scene("chelsea", 2.5, title="CAT WATCH"),
    Scene("astronaut", 6.0),
)


@pytest.fixture(scope="module")
def cut_library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cut-library")
    spans = make_video(SCENES, folder / "cuts.mp4", size=(640, 360), fps=FPS, audio=False, subtitles=False)
    return folder, spans


def index(folder, data, real_models, **overrides):
    settings = Settings(data_dir=data, speech="none", visual_labels="none", **overrides)
    report = Indexer(settings, models=sharing_models(settings, real_models)).run([folder])
    db = Database(settings.resolved_database_url)
    video = db.video_detail(db.list_videos()[0][0].id)
    return settings, report, db, video


def scene_of(spans, start, end):
    """The scene a span lies in (within the tolerance), or None if it straddles a cut."""
    return next((s for s in spans if s.start - TOLERANCE <= start and end <= s.end + TOLERANCE), None)


def grey(image) -> np.ndarray:
    return np.asarray(Image.fromarray(image).convert("L").resize((32, 32)), dtype=np.float32)


def test_indexed_windows_follow_the_shots(cut_library, tmp_path, real_models):
    folder, spans = cut_library
    settings, report, _db, video = index(folder, tmp_path / "data", real_models)
    assert report.indexed and not report.failed
    # The shots are stored, at the cuts.
    assert len(video.shots) == len(spans)
    for shot, span in zip(video.shots, spans, strict=True):
        assert abs(shot.start - span.start) <= TOLERANCE and abs(shot.end - span.end) <= TOLERANCE
    assert video.pipeline_settings["shot_windows"] is True
    # No window straddles a cut; the 14 s shot is two windows, the others one each.
    windows = video.windows
    owners = [scene_of(spans, w.start, w.end) for w in windows]
    assert None not in owners
    assert [o.scene.photo for o in owners] == ["rocket", "coffee", "coffee", "chelsea", "astronaut"]
    assert max(w.end - w.start for w in windows) <= settings.window_length
    # Each window's on-screen text is its own shot's title (signals are attached after the windows are planned).
    for window, owner in zip(windows, owners, strict=True):
        screen = " ".join(t.text for t in window.texts if t.kind == TextKind.OCR)
        for scene in SCENES:
            if scene.title:
                assert (scene.title.split()[-1] in screen) == (scene is owner.scene), (window.start, screen)
    # Each window's thumbnail is a frame of its own shot: nearer that shot's picture than any other's.
    pictures = {s.scene.photo: grey(frame_at(folder / "cuts.mp4", (s.start + s.end) / 2, 320).image) for s in spans}
    store = ThumbnailStore(settings.thumbnail_dir)
    for window, owner in zip(windows, owners, strict=True):
        thumb = grey(np.asarray(Image.open(io.BytesIO(store.path(window.id).read_bytes())).convert("RGB")))
        nearest = min(pictures, key=lambda photo: float(np.abs(pictures[photo] - thumb).mean()))
        assert nearest == owner.scene.photo


def test_overlapping_windows_stay_inside_their_shot(cut_library, tmp_path, real_models):
    folder, spans = cut_library
    _settings, _, _, video = index(folder, tmp_path / "data", real_models, window_length=6.0, window_stride=3.0)
    windows = video.windows
    assert all(scene_of(spans, w.start, w.end) is not None for w in windows)
    assert max(w.end - w.start for w in windows) <= 6.0 + 1e-6
    coffee = [w for w in windows if scene_of(spans, w.start, w.end).scene.photo == "coffee"]
    # 14 s at length 6 / stride 3: four windows, each overlapping the next by half.
    assert len(coffee) == 4
    assert all(b.start < a.end for a, b in itertools.pairwise(coffee))
    assert coffee[0].start == pytest.approx(spans[1].start, abs=TOLERANCE)
    assert coffee[-1].end == pytest.approx(spans[1].end, abs=TOLERANCE)


def test_turning_shot_windows_off_reindexes_onto_the_grid(cut_library, tmp_path, real_models):
    folder, _ = cut_library
    data = tmp_path / "data"
    on = index(folder, data, real_models)[0]
    settings, report, _, video = index(folder, data, real_models, shot_windows=False)
    assert report.indexed  # a different pipeline fingerprint: not skipped
    assert Indexer(on).pipeline_fingerprint != Indexer(settings).pipeline_fingerprint
    assert [(w.start, w.end) for w in video.windows] == [(0.0, 10.0), (10.0, 20.0), (20.0, pytest.approx(25.5, 0.05))]
    assert video.shots == []
