"""Frame vectors under an image-text model through the real pipeline: stored per window with the model
that made them, published as the visual space's generation, and re-made alone (no speech, no OCR)
when the model is switched. The models are RANDOM-WEIGHT tiny CLIP and SigLIP checkpoints (their
vectors mean nothing; the code paths are the real ones); the text models are the real packaged ones."""

import numpy as np
import pytest

from tests.conftest import sharing_models
from tests.indexer.test_pipeline import ForbiddenModels
from tests.models.tiny_image_text import build_clip, build_siglip
from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.models.loader import ModelSet
from vidsearch.storage import Database
from vidsearch.storage.schema import VISUAL_SPACE
from vidsearch.storage.vectors import load_generation, read_manifest

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-image-text")
    return {"clip": build_clip(root / "clip"), "siglip": build_siglip(root / "siglip")}


@pytest.fixture(scope="module")
def silent(tmp_path_factory):
    folder = tmp_path_factory.mktemp("silent")
    make_video([Scene("chelsea", 6), Scene("coffee", 6)], folder / "pets.mp4", audio=False, subtitles=False)
    return folder


def _settings(tmp_path, family, folder, **more):
    return Settings(
        data_dir=tmp_path / "data",
        speech="none",
        ocr="none",
        visual_labels="none",
        window_length=6,
        visual_embedder=family,
        visual_embedder_model=str(folder),
        **more,
    )


class FramesOnly(ForbiddenModels):
    """Test double: speech, OCR, labels and captions fail the test; the text embedder and the image-text
    model are real."""

    def __init__(self, settings, real_models):
        super().__init__(settings)
        self._real, self._visual = real_models, ModelSet(settings)

    @property
    def embedder(self):
        return self._real.embedder

    @property
    def labeler(self):
        raise AssertionError("the labeler was used")

    @property
    def visual_embedder(self):
        return self._visual.visual_embedder


def test_frame_vectors_are_stored_per_window_and_published_as_their_own_space(tmp_path, tiny, silent, real_models):
    settings = _settings(tmp_path, "clip", tiny["clip"])
    models = sharing_models(settings, real_models)
    report = Indexer(settings, models=models).run([silent])
    assert report.failed == [] and report.windows == 2 and report.generation is not None

    db = Database(settings.resolved_database_url)
    [(video, _)] = db.list_videos()
    assert video.pipeline_settings["visual"] == settings.visual_settings()
    spec = models.visual_embedder.spec
    clip_id = db.model_record(spec)
    windows = [w for w in db.video_detail(video.id).windows]
    stored = [db.window_vector(w.id, clip_id) for w in windows]
    assert all(s is not None for s in stored)
    for window, (vector, frame_time) in zip(windows, stored, strict=True):
        assert vector.shape == (spec.dimension,) and abs(np.linalg.norm(vector) - 1) < 1e-5
        assert window.start <= frame_time < window.end  # the frame that stands for the window is its own

    manifest = read_manifest(settings.visual_vector_dir)
    assert manifest is not None and manifest.vector_count == 2 and manifest.embedder_model_id == spec.model_id
    assert db.latest_generation(VISUAL_SPACE).id == manifest.generation
    index = load_generation(settings.visual_vector_dir, spec)
    vector, _ = stored[1]
    _, ids = index.search(vector[None, :], 1)
    assert ids[0][0] == windows[1].id  # a window's own vector finds it

    # Unchanged: nothing to do, nothing loaded.
    again = Indexer(settings, models=ForbiddenModels(settings)).run([silent])
    assert again.skipped and again.reembedded == [] and again.generation is None


def test_switching_the_image_text_model_embeds_frames_again_and_nothing_else(tmp_path, tiny, silent, real_models):
    first = _settings(tmp_path, "clip", tiny["clip"])
    models = sharing_models(first, real_models)
    Indexer(first, models=models).run([silent])
    db = Database(first.resolved_database_url)
    [(video, _)] = db.list_videos()
    windows_before = [w.id for w in db.video_detail(video.id).windows]

    switched = _settings(tmp_path, "siglip", tiny["siglip"])
    report = Indexer(switched, models=FramesOnly(switched, real_models)).run([silent])
    assert report.reembedded == [str(silent / "pets.mp4")] and report.indexed == [] and report.failed == []
    assert [w.id for w in db.video_detail(video.id).windows] == windows_before  # the same windows stand
    siglip = ModelSet(switched).visual_embedder.spec
    assert all(db.window_vector(w, db.model_record(siglip)) is not None for w in windows_before)
    manifest = read_manifest(switched.visual_vector_dir)
    assert manifest.embedder_fingerprint == siglip.fingerprint and manifest.vector_count == 2
    assert db.video_detail(video.id).pipeline_settings["visual"] == switched.visual_settings()
