"""The repository, on SQLite and on PostgreSQL (each test runs once per backend)."""

import numpy as np
import pytest

from vidsearch.errors import NotFoundError, StorageError
from vidsearch.models.base import ModelSpec
from vidsearch.storage.database import FileState, NewText, WindowSpan
from vidsearch.storage.schema import TextKind, VideoStatus

EMBEDDER = ModelSpec("embedder", "test", "unit/embedder", "r1", 4, {"normalized": True})
ASR = ModelSpec("speech", "test", "unit/asr", "r1")
PROBE = {"duration": 20.0, "start_time": 0.0, "fps": 25.0, "width": 640, "height": 360, "streams": []}


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _store(db, path="/videos/a.mp4", texts=None, seed=0):
    video_id = db.begin_video(FileState(path, 100, 1.5), "hash-" + path)
    embedder_id, asr_id = db.model_record(EMBEDDER), db.model_record(ASR)
    texts = texts or [
        NewText(0, TextKind.SPEECH, "hello world", asr_id),
        NewText(1, TextKind.OCR, "BREAKING NEWS", None),
        NewText(1, TextKind.SUBTITLE, "hello again", None, "a.srt"),
    ]
    db.store_video(
        video_id,
        probe=PROBE,
        windows=[(0.0, 10.0), (10.0, 20.0)],
        texts=texts,
        vectors=_vectors(len(texts), seed),
        embedder_id=embedder_id,
        pipeline_fingerprint="fp",
        pipeline_settings={"window_length": 10},
    )
    return video_id, embedder_id


def test_model_records_are_shared_by_fingerprint(db):
    first = db.model_record(EMBEDDER)
    assert db.model_record(EMBEDDER) == first
    assert db.model_record(ASR) != first
    record = db.model_by_id(first)
    assert (record.model_id, record.revision, record.dimension) == ("unit/embedder", "r1", 4)


def test_store_video_writes_windows_texts_and_vectors(db):
    video_id, embedder_id = _store(db)
    video = db.video_detail(video_id)
    assert video.status == VideoStatus.DONE and video.duration == 20.0 and video.pipeline_fingerprint == "fp"
    assert [(w.idx, w.start, w.end) for w in video.windows] == [(0, 0.0, 10.0), (1, 10.0, 20.0)]
    assert [(t.kind, t.text) for t in video.windows[1].texts] == [("ocr", "BREAKING NEWS"), ("subtitle", "hello again")]
    assert video.windows[0].texts[0].model.model_id == "unit/asr"  # every text names its producer
    assert db.count_embeddings(embedder_id) == 3
    ids, vectors = next(db.iter_embeddings(embedder_id, 4))
    assert len(ids) == 3 and np.allclose(vectors, _vectors(3))


def test_window_span_locates_a_window_in_its_video(db):
    video_id = db.begin_video(FileState("/videos/ts.ts", 100, 1.5), "h")
    embedder_id = db.model_record(EMBEDDER)
    db.store_video(
        video_id,
        probe=PROBE | {"start_time": 1.4},  # MPEG-TS starts late: window times count from there
        windows=[(0.0, 10.0), (10.0, 20.0)],
        texts=[NewText(1, TextKind.OCR, "x", None)],
        vectors=_vectors(1),
        embedder_id=embedder_id,
        pipeline_fingerprint="fp",
        pipeline_settings={},
    )
    second = db.video_detail(video_id).windows[1]
    assert db.window_span(second.id) == WindowSpan(video_id, 10.0, 20.0, 1.4)
    assert db.window_span(second.id + 1000) is None


def test_restoring_a_video_replaces_its_rows(db):
    video_id, embedder_id = _store(db)
    old_ids, _ = next(db.iter_embeddings(embedder_id, 4))
    _store(db, texts=[NewText(0, TextKind.SPEECH, "only this", None)], seed=1)
    # The live rows are the new ones; the old ones are retired, not gone: the index generation being
    # served still resolves its hits to them until a new generation is published.
    assert db.count_texts() == 1
    [(video, windows)] = db.list_videos()
    assert video.id == video_id and windows == 2
    assert [t.text for w in db.video_detail(video_id).windows for t in w.texts] == ["only this"]
    assert len(db.text_hits(old_ids.tolist())) == 3
    assert [len(ids) for ids, _ in db.iter_embeddings(embedder_id, 4)] == [1]  # a new generation gets only live rows
    assert len(db.purge_retired()) == 2
    assert db.text_hits(old_ids.tolist()) == {} and db.count_embeddings(embedder_id) == 1


def test_text_hits_and_window_texts(db):
    video_id, embedder_id = _store(db)
    ids, _ = next(db.iter_embeddings(embedder_id, 4))
    hits = db.text_hits(ids.tolist())
    hit = hits[int(ids[1])]
    assert (hit.video_id, hit.path, hit.start, hit.end, hit.kind) == (video_id, "/videos/a.mp4", 10.0, 20.0, "ocr")
    texts = db.window_texts([hit.window_id])
    assert [(kind, body) for _, kind, body in texts[hit.window_id]] == [
        ("ocr", "BREAKING NEWS"),
        ("subtitle", "hello again"),
    ]
    assert texts[hit.window_id][0][0] == int(ids[1])
    assert db.text_hits([]) == {}


def test_failure_is_recorded_and_keeps_the_last_good_windows(db):
    video_id, _ = _store(db)
    db.mark_failed(FileState("/videos/a.mp4", 50, 9.0), "truncated file")
    video = db.video_detail(video_id)
    assert video.status == VideoStatus.FAILED and video.error == "truncated file"
    assert len(video.windows) == 2  # nothing already indexed is lost
    db.mark_failed(FileState("/videos/new.mp4", 1, 1.0), "not a video")
    assert db.failed_videos() == [("/videos/a.mp4", "truncated file"), ("/videos/new.mp4", "not a video")]
    assert db.status_counts() == {"failed": 2}


def test_texts_without_embedding_under_another_embedder(db):
    _store(db)
    other = db.model_record(ModelSpec("embedder", "test", "unit/other", "r1", 8))
    missing = db.texts_without_embedding(other, 10)
    assert [t for _, t in missing] == ["hello world", "BREAKING NEWS", "hello again"]
    db.add_embeddings(other, [i for i, _ in missing[:2]], np.zeros((2, 8), np.float32))
    assert [t for _, t in db.texts_without_embedding(other, 10)] == ["hello again"]


def test_iter_embeddings_pages_in_id_order(db):
    _store(db)
    _store(db, path="/videos/b.mp4", seed=3)
    embedder_id = db.model_record(EMBEDDER)
    pages = list(db.iter_embeddings(embedder_id, 4, batch=4))
    assert [len(ids) for ids, _ in pages] == [4, 2]
    all_ids = np.concatenate([ids for ids, _ in pages])
    assert (np.diff(all_ids) > 0).all()


def test_generations(db):
    embedder_id = db.model_record(EMBEDDER)
    assert db.latest_generation() is None
    first = db.create_generation(embedder_id, "flat", 4)
    db.finish_generation(first, vector_count=3, file_name="gen-1.faiss", checksum="abc")
    broken = db.create_generation(embedder_id, "flat", 4)
    db.fail_generation(broken)
    latest = db.latest_generation()
    assert latest.id == first and latest.vector_count == 3 and latest.status == "ready"


def test_mismatched_texts_and_vectors_are_refused(db):
    video_id = db.begin_video(FileState("/v.mp4", 1, 1), "h")
    with pytest.raises(StorageError, match="2 texts but 1 vectors"):
        db.store_video(
            video_id,
            probe=PROBE,
            windows=[(0, 10)],
            texts=[NewText(0, "speech", "a", None), NewText(0, "ocr", "b", None)],
            vectors=_vectors(1),
            embedder_id=db.model_record(EMBEDDER),
            pipeline_fingerprint="fp",
            pipeline_settings={},
        )


def test_unknown_video_is_not_found(db):
    with pytest.raises(NotFoundError):
        db.video_detail(999)


def test_unreachable_database_is_a_storage_error(tmp_path):
    from vidsearch.storage import Database

    with pytest.raises(StorageError, match="cannot open database"):
        Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def _keyword_ids(db, query):
    from vidsearch.storage.filters import SearchFilters

    return [text_id for text_id, _ in db.keyword_hits(query, SearchFilters(), 50)]


def test_the_keyword_index_follows_writes_reindexing_and_purging(db):
    """FTS5 triggers / the PostgreSQL generated column keep keyword search in step with window_texts:
    new texts are found at once, a retired window is not, and a purge leaves nothing dangling."""
    assert db.has_keyword_search
    _store(db)
    assert len(_keyword_ids(db, "breaking")) == 1
    _store(db, "/videos/a.mp4", [NewText(0, TextKind.SPEECH, "goodbye moon", None)])  # re-index: old rows retired
    assert _keyword_ids(db, "breaking") == [] and len(_keyword_ids(db, "moon")) == 1
    db.purge_retired()
    assert _keyword_ids(db, "breaking") == [] and len(_keyword_ids(db, "moon")) == 1
    [moon] = _keyword_ids(db, "moon")
    highlights = db.highlights("the MOON", {moon: "goodbye moon", moon + 1: "no match here"})
    assert list(highlights) == [moon]
    assert highlights[moon].text == "goodbye moon" and highlights[moon].spans == [(8, 12)]


def test_a_database_made_before_keyword_search_gets_it_on_open(database_url):
    """Databases created by an earlier vidsearch have texts but no keyword index (or recorded_at
    column): opening one adds them and fills the index from the texts already there."""
    from sqlalchemy import text

    from vidsearch.storage.database import Database
    from vidsearch.storage.migrate import HEAD

    old = Database(database_url)
    _store(old)
    with old.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # made before migrations existed
        conn.execute(text("DROP TABLE window_tags"))
        if old.is_sqlite:
            for name in ("window_texts_fts_ai", "window_texts_fts_ad", "window_texts_fts_au"):
                conn.execute(text(f"DROP TRIGGER {name}"))
            conn.execute(text("DROP TABLE window_texts_fts"))
            conn.execute(text("DROP INDEX ix_videos_recorded_at"))
            conn.execute(text("ALTER TABLE videos DROP COLUMN recorded_at"))
        else:
            conn.execute(text("ALTER TABLE window_texts DROP COLUMN tsv"))
            conn.execute(text("ALTER TABLE videos DROP COLUMN recorded_at"))
    old.close()
    reopened = Database(database_url)
    try:
        assert len(_keyword_ids(reopened, "breaking")) == 1
        assert reopened.video_detail(1).recorded_at is None
        assert reopened.window_tags([1]) == {}
        with reopened.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    finally:
        reopened.close()


def test_marks_from_highlighted_text():
    from vidsearch.storage.keywords import MARK_END, MARK_START, marks_from

    assert marks_from(f"a {MARK_START}red{MARK_END} fox {MARK_START}runs{MARK_END}") == (
        "a red fox runs",
        [(2, 5), (10, 14)],
    )
    assert marks_from("plain") == ("plain", [])


def test_the_migrations_build_exactly_the_schema_the_models_describe(db):
    """Alembic's own comparison of a migrated database against the models finds nothing to change."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from vidsearch.storage.migrate import include_object
    from vidsearch.storage.schema import Base

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        assert compare_metadata(context, Base.metadata) == []


def test_a_page_of_texts_is_marked_as_the_library_index_marks_it(db):
    """SQLite marks a page's texts in a small table of their own (the library's FTS5 table walks whole
    posting lists): same tokenizer, same marks as highlight() over the library index."""
    from sqlalchemy import text

    from vidsearch.storage import keywords

    _store(db)
    _store(db, "/videos/b.mp4", [NewText(0, TextKind.SPEECH, "Hellos, and helloing: the WORLD's worlds", None)])
    with db.engine.connect() as conn:
        texts = {i: t for i, t in conn.execute(text("SELECT id, text FROM window_texts"))}
    query = "the hello worlds"
    marks = db.highlights(query, texts)
    assert {texts[i] for i in marks} == {"hello world", "hello again", "Hellos, and helloing: the WORLD's worlds"}
    if db.is_sqlite:
        terms = [t for t in keywords.query_terms(query) if t != "the"]
        library = f"SELECT rowid, highlight({keywords.FTS_TABLE}, 0, :a, :b) FROM {keywords.FTS_TABLE} WHERE "
        library += f"{keywords.FTS_TABLE} MATCH :m"
        with db.engine.connect() as conn:
            params = {"a": keywords.MARK_START, "b": keywords.MARK_END, "m": " OR ".join(f'"{t}"' for t in terms)}
            expected = {i: keywords.marks_from(m) for i, m in conn.execute(text(library), params)}
        assert {i: (h.text, h.spans) for i, h in marks.items()} == expected
    marked = marks[next(i for i, t in texts.items() if t.startswith("Hellos"))]
    assert [marked.text[a:b] for a, b in marked.spans][:2] == ["Hellos", "helloing"]


def test_head_names_the_newest_migration():
    """migrate.HEAD, which lets an up-to-date database open without Alembic, is Alembic's own head."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from vidsearch.storage.migrate import HEAD, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_a_database_at_head_opens_without_running_alembic(database_url, monkeypatch):
    from alembic import command

    from vidsearch.storage.database import Database
    from vidsearch.storage.migrate import at_head

    first = Database(database_url)  # new: migrated by Alembic
    assert at_head(first.engine)
    first.close()

    def no_alembic(*_args, **_kwargs):
        raise AssertionError("Alembic ran on a database already at head")

    monkeypatch.setattr(command, "upgrade", no_alembic)
    again = Database(database_url)
    try:
        assert again.status_counts() == {}
    finally:
        again.close()
