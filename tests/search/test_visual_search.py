"""Searching what videos show: a query in words fused from both spaces, a picture, and "more like this".

With an image-text model: RANDOM-WEIGHT tiny CLIP checkpoints (the real classes and loading code; their
vectors mean nothing, so these tests check the paths — a frame finds its own window, scores are put on
the text scale, kinds filter — not quality). Offline: the real packaged EfficientNet labels on real
photos, where quality is checked."""

import numpy as np
import pytest

from tests.conftest import sharing_models
from vidsearch.config import Settings
from vidsearch.errors import InvalidQueryError, NotFoundError
from vidsearch.indexer import Indexer
from vidsearch.media.frames import frame_at
from vidsearch.search import Searcher
from vidsearch.search.visual import Background, on_text_scale
from vidsearch.storage import Database
from vidsearch.storage.filters import SearchFilters

pytestmark = pytest.mark.models


def _searcher(settings, real_models):
    # Tiny random-weight image-text models: their matches are mechanics, not relevance; nothing is cut.
    settings = settings.model_copy(update={"min_relevance": 0.0})
    return Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)


def _frame(video, seconds):
    return frame_at(video, seconds, 640).image


def test_visual_scores_are_put_on_the_text_scale_by_their_backgrounds():
    rng = np.random.default_rng(0)
    sample = rng.normal(size=(64, 8)).astype(np.float32)
    sample /= np.linalg.norm(sample, axis=1, keepdims=True)
    query = sample[0]
    mean, spread = Background(sample).stats(query)
    assert mean == pytest.approx(float((sample @ query).mean()))
    # A score at the visual background's mean lands on the text background's mean; one spread above
    # it, one text spread above that; the weight scales the result.
    scaled = on_text_scale({1: mean, 2: mean + spread}, (mean, spread), (0.3, 0.1), weight=2.0)
    assert scaled == {1: pytest.approx(0.6), 2: pytest.approx(0.8)}
    assert Background(np.zeros((0, 8), dtype=np.float32)).stats(query) == (0.0, 1.0)


def test_a_text_query_searches_both_spaces_and_says_which_matched(clip_library, real_models):
    searcher = _searcher(clip_library, real_models)
    response = searcher.search("a photo of a cat", 5)
    assert response.results and any("visual" in m.matched for m in response.results)
    assert "visual_search" in response.timings_ms
    # Asked for pictures only, only the visual space answers; asked for texts only, it is left out.
    pictures = searcher.search("a photo of a cat", 5, filters=SearchFilters(kinds=("visual",))).results
    assert pictures and all(m.matched == {"visual"} for m in pictures)
    words = searcher.search("a cat", 5, filters=SearchFilters(kinds=("objects",))).results
    assert words and all("visual" not in m.matched for m in words)


def test_a_frame_finds_its_own_window_and_more_like_this_leaves_the_window_out(
    clip_library, silent_library, real_models
):
    searcher = _searcher(clip_library, real_models)
    video = silent_library / "three things.mp4"
    db = Database(clip_library.resolved_database_url)
    [(record, _)] = db.list_videos()
    windows = {w.start: w.id for w in db.video_detail(record.id).windows}
    for start, window_id in windows.items():
        # Random weights score every window alike, so neighbours may join the moment: the best window
        # (the one whose picture is nearest) is what must be right.
        top = searcher.search_image(_frame(video, start + 3.0), 1, label="probe.jpg").results[0]
        assert top.path == str(video) and top.best_window_id == window_id, start
        assert top.matched == {"visual"} and top.start <= start < top.end
    first = searcher.search_image(_frame(video, 3.0), 1).results[0]
    like = searcher.similar(first.best_window_id, 5)
    assert like.results and all(first.best_window_id not in m.window_ids for m in like.results)
    with pytest.raises(NotFoundError):
        searcher.similar(10**9, 5)


def test_offline_a_picture_finds_the_scene_that_shows_the_same_thing(labelled_library, silent_library, real_models):
    """No image-text model: the labeler names what the picture shows, and those words are searched
    among what the windows show. Real model, real photos (scikit-image's), a silent video with no text."""
    from skimage import data

    searcher = _searcher(labelled_library, real_models)
    video = str(silent_library / "three things.mp4")
    for photo, start in ((data.chelsea(), 0.0), (data.coffee(), 6.0), (data.rocket(), 12.0)):
        top = searcher.search_image(photo, 1).results[0]
        assert (top.path, top.start) == (video, start)
        assert top.matched == {"objects"}
    cat_window = searcher.search_image(data.chelsea(), 1).results[0].best_window_id
    assert all(cat_window not in m.window_ids for m in searcher.similar(cat_window, 3).results)


def test_offline_search_by_image_needs_a_way_to_see(tmp_path, silent_library, real_models):
    settings = Settings(data_dir=tmp_path / "data", window_length=6, speech="none", visual_labels="none")
    Indexer(settings, models=sharing_models(settings, real_models)).run([silent_library])
    with pytest.raises(InvalidQueryError, match="needs an image-text model"):
        _searcher(settings, real_models).search_image(np.zeros((32, 32, 3), dtype=np.uint8), 3)


def test_siglip_indexes_and_searches_by_words_and_by_picture(tmp_path, silent_library, real_models):
    """The other family end to end (RANDOM-WEIGHT tiny SigLIP: paths, not quality)."""
    from tests.models.tiny_image_text import build_siglip

    settings = Settings(
        data_dir=tmp_path / "data",
        speech="none",
        visual_labels="none",
        window_length=6,
        visual_embedder="siglip",
        visual_embedder_model=str(build_siglip(tmp_path / "tiny-siglip")),
    )
    Indexer(settings, models=sharing_models(settings, real_models)).run([silent_library])
    searcher = _searcher(settings, real_models)
    assert any("visual" in m.matched for m in searcher.search("a cat", 3).results)
    video = silent_library / "three things.mp4"
    top = searcher.search_image(_frame(video, 9.0), 1).results[0]
    assert top.path == str(video) and top.matched == {"visual"}


def test_a_damaged_visual_generation_is_refused_with_the_fix_and_reindex_rebuilds_it(
    tmp_path, clip_library, real_models
):
    """The visual space's generation is checked like the text one's: a damaged file is never served,
    the error names `vidsearch reindex`, and reindex rebuilds it from SQL (no frame decoded again)."""
    import json
    import shutil

    from typer.testing import CliRunner

    from vidsearch.cli import app
    from vidsearch.errors import IndexMismatchError

    data = tmp_path / "data"
    shutil.copytree(clip_library.data_dir, data)
    settings = clip_library.model_copy(update={"data_dir": data})
    manifest = json.loads((settings.visual_vector_dir / "current.json").read_text())
    damaged = settings.visual_vector_dir / manifest["file"]
    damaged.write_bytes(damaged.read_bytes()[:-64])
    with pytest.raises(IndexMismatchError, match="vidsearch reindex"):
        _searcher(settings, real_models).search("a cat", 3)
    env = {
        f"VIDSEARCH_{k.upper()}": v
        for k, v in (("visual_embedder", "clip"), ("visual_embedder_model", settings.visual_embedder_model))
    }
    rebuilt = CliRunner().invoke(app, ["reindex", "--data", str(data)], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads((settings.visual_vector_dir / "current.json").read_text())["generation"] > manifest["generation"]
    assert any("visual" in m.matched for m in _searcher(settings, real_models).search("a cat", 3).results)
