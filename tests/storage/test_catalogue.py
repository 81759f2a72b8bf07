"""The catalogue as exports read it, and windows imported whole (every text with its model), on SQLite
and PostgreSQL."""

from vidsearch.models.base import ModelSpec
from vidsearch.storage.database import NewText
from vidsearch.storage.imports import ImportRow, ImportText
from vidsearch.storage.schema import TextKind

from .test_database import _store


def test_an_exported_window_imports_with_all_its_texts_and_models(db):
    speech = db.model_record(ModelSpec("speech", "faster-whisper", "tiny.en", "pkg==1.0"))
    archive = db.video_for_import("archive-17", file=None, duration=60.0)
    row = ImportRow(
        "window-1", 0, 10, TextKind.SPEECH, "the rocket", ("launch",), speech, (ImportText(TextKind.OCR, "PAD 39A"),)
    )
    changes = db.sync_import("catalogue.jsonl", {archive: [row]})
    assert changes.added == 1
    entry = db.catalogue_entry(archive)
    (window,) = entry.windows
    assert [(t.kind, t.text, t.model.label if t.model else None) for t in window.texts] == [
        (TextKind.SPEECH, "the rocket", "tiny.en@pkg==1.0"),
        (TextKind.OCR, "PAD 39A", None),
    ]
    assert window.tags == ["launch"] and window.imported
    # The same row again changes nothing; a changed second text replaces the window.
    assert db.sync_import("catalogue.jsonl", {archive: [row]}).unchanged == 1
    edited = ImportRow(row.key, 0, 10, row.kind, row.text, row.tags, speech, (ImportText(TextKind.OCR, "PAD 39B"),))
    assert db.sync_import("catalogue.jsonl", {archive: [edited]}).replaced == 1
    assert db.catalogue_entry(archive).windows[0].texts_of(TextKind.OCR) == ["PAD 39B"]


def test_a_video_reads_with_its_windows_in_time_order_and_their_mean_vectors(db):
    video_id, _ = _store(db)
    _store(db, "/videos/b.mp4", [NewText(0, TextKind.SPEECH, "second video", None)], seed=1)
    entry = db.catalogue_entry(video_id)
    assert entry.path == "/videos/a.mp4" and entry.windows
    assert [w.start for w in entry.windows] == sorted(w.start for w in entry.windows)
    assert all(w.texts for w in entry.windows)
    vectors = [w.vector for w in entry.windows if w.vector is not None]
    assert vectors and all(abs(float(v @ v) - 1) < 1e-5 for v in vectors)
    assert db.catalogue_video_ids() == [video_id, video_id + 1]
