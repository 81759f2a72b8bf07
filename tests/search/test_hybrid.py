"""Hybrid retrieval, filters, paging, snippets, kind weights and the re-ranker seam, with the real
embedder and the database's own full-text engine, on SQLite and PostgreSQL."""

import json
from datetime import datetime

import pytest

from vidsearch.config import Settings
from vidsearch.errors import InvalidQueryError
from vidsearch.indexer.annotations import import_annotations
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.search import Searcher
from vidsearch.storage.database import FileState, NewText
from vidsearch.storage.filters import SearchFilters

pytestmark = pytest.mark.models

NEWS = [
    (0, "speech", "Councillor Okonkwo said little at the meeting."),
    (1, "ocr", "WEATHER ALERT: STORM TONIGHT"),
    (2, "speech", "Heavy rain and wind are expected after midnight."),
    (3, "speech", "The council approved the budget for new schools."),
]
COOKING = [
    (0, "subtitle", "Chop the onions finely"),
    (1, "speech", "Now fry the onions in butter until golden."),
    (2, "speech", "A storm of flour covers the bench as she kneads."),
    (3, "speech", "Serve the soup hot with bread."),
]
ANNOTATIONS = [
    {
        "video": "archive-17",
        "start": 5,
        "end": 12,
        "text": "Firefighters spray water on a burning barn",
        "tags": ["fire", "farm"],
        "duration": 60,
    },
    {
        "video": "archive-17",
        "start": 30,
        "end": 41,
        "text": "A farmer leads cows out of the smoke",
        "tags": "farm;animals",
        "duration": 60,
    },
    {
        "video": "archive-18",
        "start": 0,
        "end": 9,
        "text": "A fire engine races down a city street",
        "tags": ["fire"],
        "duration": 20,
    },
]


def _store(db, embedder, path, rows, *, mtime=1.0, duration=40.0, recorded_at=None):
    video_id = db.begin_video(FileState(path, 1, mtime), path)
    texts = [NewText(i, kind, text, None) for i, kind, text in rows]
    probe = {
        "duration": duration,
        "start_time": 0.0,
        "fps": 25.0,
        "width": 640,
        "height": 360,
        "recorded_at": recorded_at,
    }
    db.store_video(
        video_id,
        probe=probe,
        windows=[(10.0 * i, 10.0 * i + 10) for i in range(len(rows))],
        texts=texts,
        vectors=embedder.embed([t.text for t in texts]),
        embedder_id=db.model_record(embedder.spec),
        pipeline_fingerprint="fp",
        pipeline_settings={},
    )


@pytest.fixture
def library(db, tmp_path, real_models):
    embedder = real_models.embedder
    _store(
        db,
        embedder,
        "/lib/news/evening.mp4",
        NEWS,
        mtime=datetime(2024, 3, 1).timestamp(),
        recorded_at="2024-02-28T18:00:00+00:00",
    )
    _store(db, embedder, "/lib/food/cooking.mp4", COOKING, mtime=datetime(2022, 6, 1).timestamp(), duration=120.0)
    jsonl = tmp_path / "archive.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in ANNOTATIONS))
    import_annotations(db, [jsonl])
    settings = Settings(data_dir=tmp_path / "data", database_url=db.url)
    rebuild_vector_index(db, embedder, settings.vector_dir)
    return settings


def _searcher(library, db, real_models, **overrides):
    # These tests are about retrieval's mechanics on a library of a dozen texts, where most matches are
    # weak: nothing is cut by the minimum relevance unless a test asks (test_a_query_with_nothing_close...).
    overrides = {"min_relevance": 0.0, **overrides}
    return Searcher(library.model_copy(update=overrides), db, real_models.embedder)


def test_keyword_search_runs_in_the_database_and_follows_its_stemmer(db, library):
    assert db.has_keyword_search
    hits = db.keyword_hits("okonkwo", SearchFilters(), 10)
    assert len(hits) == 1
    stemmed = {t for t, _ in db.keyword_hits("frying", SearchFilters(), 10)}  # fry, fried, frying: one stem
    assert len(stemmed) == 1


def test_a_rare_name_is_found_by_keyword_where_dense_alone_misses_it(db, library, real_models):
    dense_only = _searcher(library, db, real_models, keyword_weight=0.0).search("Okonkwo", 3).results
    hybrid = _searcher(library, db, real_models).search("Okonkwo", 3).results
    assert (hybrid[0].path, hybrid[0].start) == ("/lib/news/evening.mp4", 0)
    assert hybrid[0].snippets[0].marks == [(11, 18)]  # "Okonkwo" in "Councillor Okonkwo said..."
    assert [(m.path, m.start) for m in dense_only][:1] != [(m.path, m.start) for m in hybrid][:1] or (
        hybrid[0].score > dense_only[0].score
    )


def test_paging_returns_consecutive_slices_of_one_ranking(db, library, real_models):
    searcher = _searcher(library, db, real_models)
    whole = [(m.path, m.start) for m in searcher.search("storm", 6).results]
    pages = [(m.path, m.start) for o in (0, 2, 4) for m in searcher.search("storm", 2, offset=o).results]
    assert len(whole) == 6 and pages == whole
    assert searcher.search("storm", 2, offset=900).results == []


@pytest.mark.parametrize(
    "filters,paths",
    [
        (SearchFilters(path_prefix="/lib/news/"), {"/lib/news/evening.mp4"}),
        (SearchFilters(path_prefix="archive-1"), {"archive-17", "archive-18"}),
        (SearchFilters(tags=("fire",)), {"archive-17", "archive-18"}),
        (SearchFilters(tags=("fire", "farm")), {"archive-17"}),
        (SearchFilters(kinds=("ocr",)), {"/lib/news/evening.mp4"}),
        (SearchFilters(min_duration=100), {"/lib/food/cooking.mp4"}),
        (SearchFilters(max_duration=30), {"archive-18"}),
        (SearchFilters(modified_after=datetime(2023, 1, 1)), {"/lib/news/evening.mp4"}),
        (
            SearchFilters(modified_before=datetime(2023, 1, 1), min_duration=1),
            {"/lib/food/cooking.mp4", "archive-17", "archive-18"},
        ),
        (
            SearchFilters(recorded_after=datetime(2024, 1, 1), recorded_before=datetime(2024, 12, 31)),
            {"/lib/news/evening.mp4"},
        ),
        (SearchFilters(tags=("no such tag",)), set()),
    ],
)
def test_filters_narrow_both_retrievers(db, library, real_models, filters, paths):
    results = _searcher(library, db, real_models).search("storm fire onions budget", 20, filters=filters).results
    assert {m.path for m in results} == paths
    if filters.kinds:
        assert all(m.matched <= set(filters.kinds) for m in results)


def test_a_filter_that_cannot_match_is_refused_before_the_search(db, library, real_models):
    with pytest.raises(InvalidQueryError, match="unknown kind of text 'video'"):
        _searcher(library, db, real_models).search("storm", 5, filters=SearchFilters(kinds=("video",)))


@pytest.mark.parametrize(
    "filters,offset,why",
    [
        (SearchFilters(path_prefix="/lib/nowhere/"), 0, "no video path starts with /lib/nowhere/"),
        (SearchFilters(path_prefix="/lib/news/", tags=("no such tag",)), 0, "no window is tagged 'no such tag'"),
        (SearchFilters(kinds=("caption",)), 0, "no caption text is indexed"),
        (SearchFilters(min_duration=1000), 0, "no video is at least 1000 s long"),
        (SearchFilters(recorded_before=datetime(2000, 1, 1)), 0, "no video was recorded before 2000-01-01"),
        (
            SearchFilters(path_prefix="/lib/news/", tags=("fire",)),
            0,
            "each filter matches something, but no text matches them all together",
        ),
        (SearchFilters(min_duration=60, max_duration=30), 0, "the minimum duration (60 s) is more than the maximum"),
        (SearchFilters(), 900, "the results end before 900: try a smaller offset"),
    ],
)
def test_an_empty_search_says_which_filter_emptied_it(db, library, real_models, filters, offset, why):
    searcher = _searcher(library, db, real_models)
    assert searcher.search("storm", 10, offset=offset, filters=filters).results == []
    assert searcher.why_empty(filters, offset).startswith(why)


def test_imported_tags_come_back_with_the_moment(db, library, real_models):
    top = _searcher(library, db, real_models).search("burning barn", 1).results[0]
    assert (top.path, top.start, top.end, top.tags) == ("archive-17", 5, 12, ["farm", "fire"])


def test_kind_weights_demote_a_kind(db, library, real_models):
    plain = _searcher(library, db, real_models).search("storm warning", 3).results
    assert "ocr" in plain[0].matched
    demoted = _searcher(library, db, real_models, kind_weights={"ocr": 0.2}).search("storm warning", 3).results
    assert "ocr" not in demoted[0].matched


def test_snippets_mark_query_words_not_function_words(db, library, real_models):
    top = _searcher(library, db, real_models).search("the budget of the council", 1).results[0]
    snippet = top.snippets[0]
    assert snippet.text == "The council approved the budget for new schools."
    assert [snippet.text[a:b] for a, b in snippet.marks] == ["council", "budget"]


def test_words_in_too_many_texts_are_left_out_of_the_keyword_query(db, library):
    counts = {w: db.document_count(w, corpus=1) for w in ("storm", "onions", "okonkwo")}
    assert counts == {"storm": 2, "onions": 2, "okonkwo": 1}
    everything = db.keyword_hits("okonkwo storm", SearchFilters(), 20)
    bounded = db.keyword_hits("okonkwo storm", SearchFilters(), 20, max_documents=1, corpus=1)
    assert len(everything) == 3 and len(bounded) == 1
    assert db.keyword_hits("storm onions", SearchFilters(), 20, max_documents=1, corpus=1) == []  # dense alone
    # Counts are kept per corpus (the index generation): a new one counts again.
    db._document_counts[("onions", None)] = 99
    assert db.document_count("onions", corpus=1) == 99 and db.document_count("onions", corpus=2) == 2
    # A bounded count stops past its bound: enough to know a word is too common.
    assert db.document_count("storm", corpus=2) == 2 and db.document_count("storm", corpus=2, at_most=0) == 1
    assert db.document_count("okonkwo", 2, at_most=1) == 1


def test_keyword_words_are_taken_rarest_first_while_their_texts_fit_the_budget(db, library):
    # okonkwo is in 1 text, storm in 2: a budget of 2 texts keeps okonkwo alone, 3 keeps both.
    assert len(db.keyword_hits("storm okonkwo", SearchFilters(), 20, max_postings=2, corpus=1)) == 1
    assert len(db.keyword_hits("storm okonkwo", SearchFilters(), 20, max_postings=3, corpus=1)) == 3
    assert db.keyword_hits("storm onions", SearchFilters(), 20, max_postings=1, corpus=1) == []  # dense alone


def test_the_search_bounds_keyword_work_by_the_share_of_the_library(db, library, real_models):
    bounded = _searcher(library, db, real_models, keyword_max_df=0.1, keyword_always_kept=1)
    unbounded = _searcher(library, db, real_models)
    # 11 texts: at most 1 document a word, so "storm" is left out and "okonkwo" decides.
    top = bounded.search("okonkwo storm", 1).results[0]
    assert (top.path, top.start) == ("/lib/news/evening.mp4", 0)
    # Unbounded, both words count, and both engines weigh the rare name above the common word (FTS5's
    # BM25 by itself, PostgreSQL's ts_rank per word times the word's IDF): the Okonkwo window first.
    top = unbounded.search("okonkwo storm", 1).results[0]
    assert (top.path, top.start) == ("/lib/news/evening.mp4", 0)


def test_a_rare_word_outweighs_a_common_one_on_either_engine(db, library):
    # okonkwo is in 1 text, storm in 2: the text with the rare name ranks first, whichever text says
    # "storm" more or in fewer words.
    hits = db.keyword_hits("storm okonkwo", SearchFilters(), 20, corpus=1)
    named = {t for t, _ in db.keyword_hits("okonkwo", SearchFilters(), 20, corpus=1)}
    assert len(hits) == 3 and hits[0][0] in named and hits[0][1] > hits[1][1]


def test_repeated_searches_are_answered_from_the_cache_until_a_new_generation(db, library, real_models):
    searcher = _searcher(library, db, real_models)
    first = searcher.search("storm tonight", 3)
    again = searcher.search("storm tonight", 3)
    assert "cached" in again.timings_ms and "cached" not in first.timings_ms
    assert again.to_dict() == first.to_dict()
    again.results[0].score = -1.0  # a caller's change does not leak into the next answer
    assert searcher.search("storm tonight", 3).results[0].score == first.results[0].score
    assert "cached" not in searcher.search("storm tonight", 2).timings_ms  # another page size: searched
    rebuild_vector_index(db, real_models.embedder, library.vector_dir)
    assert "cached" not in searcher.search("storm tonight", 3).timings_ms
    off = _searcher(library, db, real_models, result_cache_size=0)
    off.search("storm tonight", 3)
    assert "cached" not in off.search("storm tonight", 3).timings_ms


def test_a_query_with_nothing_close_answers_no_results_and_says_why(db, library, real_models):
    searcher = _searcher(library, db, real_models, min_relevance=0.45)
    found = searcher.search("heavy rain expected tonight", 10)
    assert found.results and found.note is None
    assert all(m.score >= 0.45 for m in found.results)  # the weakest moments fall below the minimum
    nonsense = searcher.search("quantum entanglement between two photons", 10)
    assert nonsense.results == []
    assert nonsense.note.startswith("nothing in the library is close to this query (the closest scored 0.")
    assert "below the minimum relevance 0.45" in nonsense.note
    gibberish = searcher.search("qzx vlorp trindle", 10)
    assert gibberish.results == [] and gibberish.note is not None
    # Without a minimum the same query gets the library's nearest texts, however far.
    assert _searcher(library, db, real_models, min_relevance=0.0).search("qzx vlorp trindle", 10).results
