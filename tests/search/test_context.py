"""Video context in search, with the real embedder: a moment whose video is about the query beats a
look-alike sentence in a video about something else."""

import dataclasses
import json
import logging

import numpy as np
import pytest

from vidsearch.config import Settings
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.search import Searcher
from vidsearch.search.engine import _in_context
from vidsearch.search.moments import WindowHit
from vidsearch.storage.database import FileState, NewText
from vidsearch.storage.vectors import MANIFEST, read_manifest

pytestmark = pytest.mark.models

PROBE = {"duration": 40.0, "start_time": 0.0, "fps": 25.0, "width": 640, "height": 360}
KITCHEN = [
    "Chop the onions for the soup.",
    "Fry the onions in butter until golden.",
    "Stir the soup and taste it.",
    "She slices the loaf.",
]
GARAGE = [
    "He loosens the bolts on the wheel.",
    "The car is lifted on a jack.",
    "He cuts some bread.",
    "The new tyre goes on the wheel.",
]
QUERY = "cutting bread while cooking soup"


@pytest.fixture
def library(db, tmp_path, real_models) -> Settings:
    embedder = real_models.embedder
    for path, sentences in (("/lib/kitchen.mp4", KITCHEN), ("/lib/garage.mp4", GARAGE)):
        video_id = db.begin_video(FileState(path, 1, 1.0), path)
        texts = [NewText(i, "speech", text, None) for i, text in enumerate(sentences)]
        db.store_video(
            video_id,
            probe=PROBE,
            windows=[(0, 10), (10, 20), (20, 30), (30, 40)],
            texts=texts,
            vectors=embedder.embed(sentences),
            embedder_id=db.model_record(embedder.spec),
            pipeline_fingerprint="fp",
            pipeline_settings={},
        )
    settings = Settings(
        data_dir=tmp_path / "data", database_url=db.url, keyword_weight=0, min_relevance=0, result_cache_size=0
    )
    rebuild_vector_index(db, embedder, settings.vector_dir, context_seconds=settings.video_context_seconds)
    return settings


def _first(settings: Settings, db, real_models, **changes) -> tuple[str, float]:
    searcher = Searcher(settings.model_copy(update=changes), db, real_models.embedder)
    best = searcher.search(QUERY, 3).results[0]
    return best.texts["speech"], best.score


def test_the_moment_in_a_video_about_the_query_wins(library, db, real_models):
    # By the sentence alone the garage's "cuts some bread" is closer; the kitchen's video is about the query.
    text, alone = _first(library, db, real_models, video_context_weight=0)
    assert text == "He cuts some bread."
    text, blended = _first(library, db, real_models)
    assert text == "She slices the loaf."
    # The score stays on the cosine's scale: a weighted mean of two cosines.
    assert 0 < blended < alone


def test_a_generation_without_context_or_with_a_damaged_one_still_searches(library, db, real_models, caplog):
    manifest = read_manifest(library.vector_dir)
    assert manifest is not None and manifest.context_file
    # Written before video context existed: the manifest has no such field.
    older = {key: value for key, value in dataclasses.asdict(manifest).items() if key != "context_file"}
    (library.vector_dir / MANIFEST).write_text(json.dumps(older))
    assert _first(library, db, real_models)[0] == "He cuts some bread."
    (library.vector_dir / MANIFEST).write_text(json.dumps(dataclasses.asdict(manifest)))
    (library.vector_dir / manifest.context_file).write_bytes(b"damaged")
    with caplog.at_level(logging.WARNING, logger="vidsearch.search.engine"):
        assert _first(library, db, real_models)[0] == "He cuts some bread."
    assert "without video context" in caplog.text and "reindex" in caplog.text


def test_blending_changes_only_the_score_and_leaves_unknown_videos_alone():
    hits = [
        WindowHit(1, 7, "/a.mp4", 0.0, 10.0, 0.8, frozenset({"speech"}), frozenset({3}), True, True),
        WindowHit(2, 8, "/b.mp4", 0.0, 10.0, 0.6, frozenset({"ocr"}), frozenset({4})),
    ]

    def known_for_video_7(query, video_ids, starts, ends):  # a test double of VideoContext.similarities
        return np.array([0.3 if v == 7 else np.nan for v in video_ids], dtype=np.float32)

    blended = _in_context(hits, known_for_video_7, np.zeros(4, dtype=np.float32), 0.4)
    assert blended[0] == hits[0]._replace(score=pytest.approx(0.6 * 0.8 + 0.4 * 0.3))
    assert blended[1] == hits[1]  # no context known for its video: its own score
