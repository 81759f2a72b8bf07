"""The Captioner seam, driven through the real pipeline. No video language model ships offline, so the
captioner here is a test double (RecordingCaptioner) loaded by dotted path exactly as a plugin would be;
everything around it (frames, batching, storage, embedding, search) is the real thing."""

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from tests.conftest import sharing_models
from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.models.base import Caption, ModelSpec, WindowClip
from vidsearch.models.loader import ModelSet
from vidsearch.search import Searcher
from vidsearch.storage import Database

pytestmark = pytest.mark.models


class RecordingCaptioner:
    """Test double for a video language model: describes a clip by its brightness and records calls."""

    calls: ClassVar[list[list[WindowClip]]] = []

    def __init__(self, settings: Settings) -> None:
        self.spec = ModelSpec("captioner", "recording", "test/recording-captioner", "1", settings={"prompt": "v1"})
        self.sample_fps = settings.caption_fps

    def caption(self, clips):
        RecordingCaptioner.calls.append(list(clips))
        out = []
        for clip in clips:
            level = np.mean([f.image.mean() for f in clip.frames])
            out.append(Caption("a very bright white picture" if level > 200 else "a dark night sky full of stars"))
        return out


def test_captions_flow_through_the_pipeline_and_are_searchable(tmp_path, real_models):
    make_video([Scene("hubble_deep_field", 6), Scene("text", 6)], tmp_path / "lib" / "sky.mp4", audio=False)
    settings = Settings(
        data_dir=tmp_path / "data",
        captioner=f"{__name__}:RecordingCaptioner",
        caption_fps=2.0,
        caption_batch_size=1,
        window_length=6,
        ocr="none",
        speech="none",
    )
    RecordingCaptioner.calls = []
    models = sharing_models(settings, real_models)
    del models.ocr, models.speech  # use the settings ("none") for these two
    report = Indexer(settings, models=models).run([tmp_path / "lib"])
    assert report.failed == [] and report.windows == 2

    # One call per batch of 1; each clip holds its own window's frames, sampled at 2 fps.
    assert [len(batch) for batch in RecordingCaptioner.calls] == [1, 1]
    first = RecordingCaptioner.calls[0][0]
    assert first.window.start == 0 and len(first.frames) == 12
    assert all(first.window.start <= f.time < first.window.end for f in first.frames)
    assert first.frames[0].image.shape[1] <= settings.caption_max_side

    db = Database(settings.resolved_database_url)
    [(video, _)] = db.list_videos()
    # Beside the captions: the video's name and its description (about the whole video, not a window).
    texts = [t for w in db.video_detail(video.id).windows for t in w.texts if t.kind not in ("name", "description")]
    assert {t.kind for t in texts} == {"caption"}
    assert texts[0].model.model_id == "test/recording-captioner" and texts[0].model.settings == {"prompt": "v1"}

    top = Searcher(settings, db, real_models.embedder).search("stars at night", 1).results[0]
    assert (top.start, top.texts["caption"]) == (0.0, "a dark night sky full of stars")


def test_a_captioner_that_loses_windows_fails_the_video_clearly(tmp_path, real_models):
    class Lossy(RecordingCaptioner):
        def caption(self, clips):
            return []

    make_video([Scene("rocket", 3)], tmp_path / "lib" / "a.mp4", audio=False)
    settings = Settings(data_dir=tmp_path / "data", ocr="none", speech="none", visual_labels="none")
    models = ModelSet(settings)
    models.embedder, models.captioner = real_models.embedder, Lossy(settings)
    report = Indexer(settings, models=models).run([tmp_path / "lib"])
    [(path, reason)] = report.failed
    assert Path(path).name == "a.mp4" and "returned 0 captions for 1 windows" in reason


def test_a_window_the_captioner_cannot_do_is_recorded_and_the_rest_is_kept(tmp_path, real_models):
    class HalfFailing(RecordingCaptioner):
        def caption(self, clips):
            return [
                Caption(error="CUDA out of memory at batch size 1") if c.window.index == 1 else Caption("fine")
                for c in clips
            ]

    make_video([Scene("rocket", 6)], tmp_path / "lib" / "a.mp4", audio=False)
    settings = Settings(data_dir=tmp_path / "data", ocr="none", speech="none", visual_labels="none", window_length=3)
    models = ModelSet(settings)
    models.embedder, models.captioner = real_models.embedder, HalfFailing(settings)
    report = Indexer(settings, models=models).run([tmp_path / "lib"])
    assert report.failed == [] and len(report.indexed) == 1
    db = Database(settings.resolved_database_url)
    [(video, _)] = db.list_videos()
    windows = db.video_detail(video.id).windows
    assert [w.error for w in windows] == [None, "caption: CUDA out of memory at batch size 1"]
    assert [[t.text for t in w.texts if t.kind not in ("name", "description")] for w in windows] == [["fine"], []]


def test_a_new_caption_prompt_means_re_captioning(tmp_path, monkeypatch):
    from vidsearch.models.base import CAPTION_PROMPT_VERSIONS

    settings = Settings(data_dir=tmp_path / "data", captioner="hf-video", captioner_model="some/model")
    before = Indexer(settings).pipeline_fingerprint
    monkeypatch.setitem(CAPTION_PROMPT_VERSIONS, "hf-video", "hf-video-v999")
    after = Indexer(settings)
    assert after.pipeline_fingerprint != before
    assert after.pipeline_settings["caption_prompt_version"] == "hf-video-v999"
