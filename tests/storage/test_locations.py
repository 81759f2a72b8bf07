"""Where texts live, held in memory beside a served generation: the same answers SQL gives."""

from vidsearch.storage.database import NewText
from vidsearch.storage.imports import ImportRow
from vidsearch.storage.locations import TextHit, TextLocations
from vidsearch.storage.schema import IMPORT_SOURCE, TextKind

from .test_database import _store


def test_the_table_answers_what_it_holds_and_names_what_it_does_not():
    rows = [
        [(7, 70, 1, 10.0, 20.0, "ocr", ""), (3, 30, 1, 0.0, 10.0, "speech", "stream:1")],
        [],
        [(5, 50, 2, 4.5, 9.0, "annotation", IMPORT_SOURCE)],
    ]
    table = TextLocations(rows, {1: "/a.mp4", 2: "archive-17"})
    assert len(table) == 3 and table.text_ids.tolist() == [3, 5, 7]
    found, unknown = table.hits([7, 4, 5, 99])
    assert unknown == [4, 99]
    assert found == {
        7: TextHit(7, 70, 1, "/a.mp4", 10.0, 20.0, "ocr", ""),
        5: TextHit(5, 50, 2, "archive-17", 4.5, 9.0, "annotation", IMPORT_SOURCE),
    }
    assert found[5].imported and not found[7].imported
    assert TextLocations([]).hits([1]) == ({}, [1])


def test_the_table_read_from_the_database_agrees_with_sql(db):
    _store(db)
    _store(db, "/videos/b.mp4", [NewText(0, TextKind.SPEECH, "second video", None)], seed=1)
    _store(db, texts=[NewText(0, TextKind.SPEECH, "re-indexed", None)], seed=2)  # old rows retired, still held
    archive = db.video_for_import("archive-17", file=None, duration=60.0)
    db.sync_import("notes.jsonl", {archive: [ImportRow("k1", 5, 12, "annotation", "a barn")]})
    table = db.text_locations(batch=2)  # several batches
    ids = table.text_ids.tolist()
    assert len(ids) == 6
    found, unknown = table.hits([*ids, 10**9])
    assert unknown == [10**9]
    assert found == db.text_hits(ids)
    assert {hit.path for hit in found.values()} == {"/videos/a.mp4", "/videos/b.mp4", "archive-17"}
