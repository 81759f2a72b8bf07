"""Per-video descriptions: written by a video language model from the window captions (a tiny
RANDOM-WEIGHT Idefics3 through the real hf-video adapter: the path is tested, not the prose), its
citations checked and turned into times; extractive without one."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.test_hf_video import cpu_settings
from tests.models.tiny_vlm import build_tiny_vlm
from vidsearch.export.description import EXTRACTIVE, WRITTEN, describe_videos, written_description
from vidsearch.kinds import TextKind
from vidsearch.models.base import ModelSpec
from vidsearch.models.hf_video import load_transformers_video_lm
from vidsearch.storage import Database
from vidsearch.storage.database import FileState, NewText

CAPTIONS = [
    "A rocket stands on a launch pad under a blue sky.",
    "An astronaut in an orange suit smiles at the camera.",
    "A field of distant galaxies glows against black space.",
]


def _library(path, captions: bool) -> tuple[Database, int]:
    db = Database(f"sqlite:///{path / 'test.db'}")
    video_id = db.begin_video(FileState("/videos/launch.mp4", 100, 1.0), "hash")
    embedder = db.model_record(ModelSpec("embedder", "unit", "unit/embedder", "r1", 4))
    kind = TextKind.CAPTION if captions else TextKind.SPEECH
    texts = [NewText(i, kind, text, None) for i, text in enumerate(CAPTIONS)]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(texts), 4)).astype(np.float32)
    db.store_video(
        video_id,
        probe={"duration": 30.0, "start_time": 0.0, "fps": 25.0, "width": 64, "height": 64},
        windows=[(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)],
        texts=texts,
        vectors=vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
        embedder_id=embedder,
        pipeline_fingerprint="fp",
        pipeline_settings={},
    )
    return db, video_id


class CitingAnswerer:
    """A TEST DOUBLE for a video language model (unit test of the citation handling only)."""

    spec = ModelSpec("captioner", "double", "unit/describer", "r1")
    sample_fps = 1.0

    def __init__(self) -> None:
        self.asked = []

    def answer(self, question, moments):
        self.asked.append((question, moments))
        return "A rocket waits [1], an astronaut smiles [2] and a whale sings [7]."


@pytest.mark.models
def test_citations_become_the_cited_windows_times_and_unknown_ones_go(tmp_path, real_models):
    db, video_id = _library(tmp_path, captions=True)
    answerer = CitingAnswerer()
    described = written_description(db.catalogue_entry(video_id), answerer)
    assert described.text == "A rocket waits [0:00-0:10], an astronaut smiles [0:10-0:20] and a whale sings."
    assert described.citations == ((0.0, 10.0), (10.0, 20.0))
    ((question, moments),) = answerer.asked
    assert "cite" in question and [m.texts[TextKind.CAPTION] for m in moments] == CAPTIONS
    assert all(m.frames == () for m in moments)
    # Stored with the model that wrote it.
    assert describe_videos(db, cpu_settings(tmp_path), lambda: answerer, embedder=lambda: real_models.embedder) == 1
    stored = db.catalogue_entry(video_id).description
    assert (stored.text, stored.source, stored.model.label) == (described.text, WRITTEN, "unit/describer@r1")
    # Stored with its vector, in the same transaction.
    embedder_id = db.model_record(real_models.embedder.spec)
    assert db.text_vectors(embedder_id, [stored.id], 384).keys() == {stored.id}


@pytest.mark.models
def test_the_real_adapter_takes_captions_without_frames_and_prose_without_words_falls_back(tmp_path, real_models):
    """The hf-video adapter builds its prompt from the numbered captions alone (no frames) and runs; a
    random-weight model writes no words, so the description falls back to the extractive one."""
    model = load_transformers_video_lm(str(build_tiny_vlm(tmp_path / "tiny-idefics3")), cpu_settings())
    db, video_id = _library(tmp_path, captions=True)
    assert written_description(db.catalogue_entry(video_id), model) is None
    embedder = lambda: real_models.embedder  # noqa: E731
    assert describe_videos(db, cpu_settings(tmp_path), lambda: model, embedder=embedder) == 1
    stored = db.catalogue_entry(video_id).description
    assert stored.source == EXTRACTIVE and stored.text.startswith("Extractive description")
    assert db.videos_without_description() == []
    assert describe_videos(db, cpu_settings(tmp_path), embedder=embedder) == 0


@pytest.mark.models
def test_without_captions_or_a_model_the_description_is_extractive(tmp_path, real_models):
    db, video_id = _library(tmp_path, captions=False)
    asked = []
    assert (
        describe_videos(db, cpu_settings(tmp_path), lambda: asked.append(1), embedder=lambda: real_models.embedder) == 1
    )
    assert asked == [], "no model is loaded for a video without captions"
    stored = db.catalogue_entry(video_id).description
    assert stored.source == EXTRACTIVE and stored.model.model_id == "vidsearch/extractive-description"
    assert stored.text.startswith("Extractive description (sentences quoted from the indexed texts): A rocket")
    assert [w.id for w in db.catalogue_entry(video_id).windows if w.texts_of(TextKind.DESCRIPTION)] == [
        db.catalogue_entry(video_id).windows[0].id
    ]
