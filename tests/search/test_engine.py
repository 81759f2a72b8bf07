"""Search over stored texts with the real embedder, on SQLite and PostgreSQL."""

import pytest

from vidsearch.config import Settings
from vidsearch.errors import IndexMismatchError, IndexNotReadyError, InvalidQueryError
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.models.base import ModelSpec
from vidsearch.search import Searcher
from vidsearch.storage.database import FileState, NewText
from vidsearch.storage.vectors import write_generation

pytestmark = pytest.mark.models

PROBE = {"duration": 30.0, "start_time": 0.0, "fps": 25.0, "width": 640, "height": 360}


def _library(db, embedder):
    """Two videos stored without decoding: texts in, vectors from the real embedder."""
    embedder_id = db.model_record(embedder.spec)
    content = {
        "/lib/news.mp4": [
            (0, "speech", "The mayor announced a new budget for schools."),
            (1, "ocr", "WEATHER ALERT: STORM TONIGHT"),
            (2, "speech", "Heavy rain and wind are expected after midnight."),
        ],
        "/lib/cooking.mp4": [
            (0, "subtitle", "Chop the onions finely"),
            (1, "speech", "Now fry the onions in butter until golden."),
            (2, "speech", "Serve the soup hot with bread."),
        ],
    }
    for path, rows in content.items():
        video_id = db.begin_video(FileState(path, 1, 1.0), path)
        texts = [NewText(i, kind, text, None) for i, kind, text in rows]
        db.store_video(
            video_id,
            probe=PROBE,
            windows=[(0, 10), (10, 20), (20, 30)],
            texts=texts,
            vectors=embedder.embed([t.text for t in texts]),
            embedder_id=embedder_id,
            pipeline_fingerprint="fp",
            pipeline_settings={},
        )


def _store_one_text(db, real_models, video_id: int, text: str) -> str:
    """(Re)index a video as one 10 s window saying `text`."""
    db.store_video(
        video_id,
        probe=PROBE,
        windows=[(0, 10)],
        texts=[NewText(0, "speech", text, None)],
        vectors=real_models.embedder.embed([text]),
        embedder_id=db.model_record(real_models.embedder.spec),
        pipeline_fingerprint="fp",
        pipeline_settings={},
    )
    return text


@pytest.fixture
def searcher(db, tmp_path, real_models):
    settings = Settings(data_dir=tmp_path / "data", database_url=db.url)
    _library(db, real_models.embedder)
    rebuild_vector_index(db, real_models.embedder, settings.vector_dir)
    return Searcher(settings, db, real_models.embedder)


def test_finds_the_moment_and_returns_its_texts(searcher):
    response = searcher.search("storm warning", 2)
    top = response.results[0]
    assert (top.path, top.start, top.end) == ("/lib/news.mp4", 10, 20)
    assert top.texts == {"ocr": "WEATHER ALERT: STORM TONIGHT"}
    assert set(response.timings_ms) == {"embed", "vector_search", "keyword_search", "moments", "rerank_and_texts"}


def test_json_shape(searcher):
    data = searcher.search("frying onions", 1).to_dict()
    assert data["query"] == "frying onions"
    [result] = data["results"]
    assert set(data) == {"query", "offset", "limit", "filters", "results", "note"} and data["note"] is None
    assert set(result) == {
        "video_id",
        "path",
        "start",
        "end",
        "score",
        "window_id",
        "matched",
        "texts",
        "snippets",
        "tags",
    }
    assert result["path"] == "/lib/cooking.mp4" and result["score"] > 0
    texts = {s["text"]: [s["text"][a:b] for a, b in s["marks"]] for s in result["snippets"]}
    assert texts["Now fry the onions in butter until golden."] == ["fry", "onions"]  # frying ~ fry: one stem


def test_new_generation_is_picked_up_without_restart(searcher, db, real_models):
    assert searcher.search("bread", 1).results[0].path == "/lib/cooking.mp4"
    _store_one_text(
        db,
        real_models,
        db.begin_video(FileState("/lib/bakery.mp4", 1, 1.0), "b"),
        "Fresh bread comes out of the bakery oven.",
    )
    rebuild_vector_index(db, real_models.embedder, searcher.settings.vector_dir)
    assert searcher.search("bread from the oven", 1).results[0].path == "/lib/bakery.mp4"


@pytest.mark.parametrize(
    "query,limit,offset",
    [("   ", 5, 0), ("x" * 1001, 5, 0), ("ok", 0, 0), ("ok", 101, 0), ("ok", 5, -1), ("ok", 5, 901)],
)
def test_invalid_requests(searcher, query, limit, offset):
    with pytest.raises(InvalidQueryError):
        searcher.search(query, limit, offset=offset)


def test_nothing_indexed_yet(db, tmp_path, real_models):
    searcher = Searcher(Settings(data_dir=tmp_path / "empty"), db, real_models.embedder)
    with pytest.raises(IndexNotReadyError):
        searcher.search("anything")


def test_nothing_indexed_is_said_before_any_model_loads(db, tmp_path):
    searcher = Searcher(Settings(data_dir=tmp_path / "empty", embedder="no.such:Embedder"), db)
    with pytest.raises(IndexNotReadyError):  # not the ConfigError that building the embedder raises
        searcher.search("anything")


@pytest.mark.parametrize(
    "query,filters",
    [("storm warning", {}), ("onions", {}), ("fry the onions", {"kinds": ("speech",)}), ("zzz nothing", {})],
)
def test_a_one_shot_searcher_answers_as_the_server_does(searcher, db, real_models, query, filters):
    """The command line looks each search's hits up in SQL instead of reading where every text lives
    when the generation loads: the same answers."""
    from vidsearch.storage.filters import SearchFilters

    one_shot = Searcher(searcher.settings, db, real_models.embedder, one_shot=True)
    given = SearchFilters(**filters)
    expected = searcher.search(query, 5, filters=given).to_dict()
    assert one_shot.search(query, 5, filters=given).to_dict() == expected
    assert one_shot._serving().locations is None and searcher._serving().locations is not None


def test_index_of_another_embedder_is_refused(db, tmp_path, real_models):
    import faiss

    settings = Settings(data_dir=tmp_path / "data")
    other = ModelSpec("embedder", "x", "someone/else", "r", 384)
    write_generation(settings.vector_dir, 1, faiss.IndexIDMap2(faiss.IndexFlatIP(384)), other)
    with pytest.raises(IndexMismatchError, match="vidsearch reindex"):
        Searcher(settings, db, real_models.embedder).search("anything")


def test_reindex_embeds_texts_missing_a_vector(db, tmp_path, real_models):
    """Texts without a vector under the current embedder (imported, or after an embedder change)
    are embedded by the rebuild, so no video has to be decoded again."""
    settings = Settings(data_dir=tmp_path / "data")
    _library(db, real_models.embedder)
    from sqlalchemy import delete

    from vidsearch.storage.schema import TextEmbedding

    with db.session() as s:
        s.execute(delete(TextEmbedding))
    manifest = rebuild_vector_index(db, real_models.embedder, settings.vector_dir)
    assert manifest.vector_count == 6
    assert Searcher(settings, db, real_models.embedder).search("onions", 1).results[0].path == "/lib/cooking.mp4"


def test_readers_keep_the_served_generation_until_the_next_is_published(searcher, db, real_models):
    """Re-indexing a video replaces its rows for the next generation only: until that generation is
    published, searches still resolve to the old rows; afterwards to the new ones, and the old are purged."""
    before = searcher.search("storm warning", 1).results[0]
    assert before.path == "/lib/news.mp4" and "ocr" in before.texts
    video_id = next(v.id for v, _ in db.list_videos() if v.path == "/lib/news.mp4")
    text = _store_one_text(db, real_models, video_id, "The harvest festival fills the square with music.")
    during = searcher.search("storm warning", 1).results[0]
    assert (during.path, during.start, during.texts) == (before.path, before.start, before.texts)

    rebuild_vector_index(db, real_models.embedder, searcher.settings.vector_dir)
    after = searcher.search("harvest festival music", 1).results[0]
    assert after.path == "/lib/news.mp4" and after.texts == {"speech": text}
    assert all("WEATHER ALERT" not in m.texts.get("ocr", "") for m in searcher.search("storm warning", 5).results)
    assert db.purge_retired() == []  # already purged when the generation was published


def test_texts_stored_after_the_served_generation_was_loaded_still_resolve(searcher, db, real_models):
    """The served generation keeps where its texts live in memory; a text stored since (an index run
    still going) is not among them, and is looked up in SQL when the keyword search finds it."""
    searcher.search("storm warning", 1)  # loads the generation and its text locations
    video_id = db.begin_video(FileState("/lib/late.mp4", 1, 1.0), "late")
    _store_one_text(db, real_models, video_id, "Zanzibar cloves arrive at the harbour.")
    top = searcher.search("zanzibar", 1).results[0]
    assert (top.path, top.start) == ("/lib/late.mp4", 0)
    assert top.texts == {"speech": "Zanzibar cloves arrive at the harbour."}
