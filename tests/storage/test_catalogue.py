"""The catalogue as exports read it, and windows imported whole (every text with its model), on SQLite
and PostgreSQL."""

import numpy as np
from sqlalchemy import func, select

from vidsearch.models.base import ModelSpec
from vidsearch.storage.database import FileState, NewText
from vidsearch.storage.imports import ImportRow, ImportText
from vidsearch.storage.schema import SubtitleCueRecord, TextKind
from vidsearch.storage.videos import SubtitleCue

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


def test_a_videos_subtitle_cues_are_stored_with_it_replaced_with_it_and_deleted_with_it(db):
    video_id = db.begin_video(FileState("/videos/talk.mp4", 100, 1.5), "hash")
    embedder_id = db.model_record(ModelSpec("embedder", "test", "unit/embedder", "r1", 4))
    texts = [NewText(0, TextKind.SUBTITLE, "Hello there", None, "stream:2")]
    cues = [SubtitleCue(1.0, 3.5, "Hello\nthere", "stream:2"), SubtitleCue(0.5, 1.0, "First", "talk.srt")]

    def store(found: list[SubtitleCue]) -> None:
        db.store_video(
            video_id,
            probe={"duration": 20.0, "start_time": 0.0, "fps": 25.0, "width": 64, "height": 64},
            windows=[(0.0, 10.0), (10.0, 20.0)],
            texts=texts,
            vectors=np.eye(1, 4, dtype=np.float32),
            embedder_id=embedder_id,
            pipeline_fingerprint="fp",
            pipeline_settings={},
            subtitle_cues=found,
        )

    store(cues)
    assert db.catalogue_entry(video_id).subtitle_cues == cues  # in the order found, lines kept
    store(cues[:1])  # indexed again: the cues found now
    assert db.catalogue_entry(video_id).subtitle_cues == cues[:1]
    db.remove_videos([video_id])
    db.purge_retired()
    assert db.purge_removed_videos() == 1
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SubtitleCueRecord)).scalar() == 0


def test_a_catalogues_indexer_windows_are_replaced_when_the_video_is_indexed_here(db):
    """A catalogue's windows that an indexer cut are listed as the indexer's, and indexing the video in
    this library replaces them; a window a person imported stays."""
    video_id = db.video_for_import("/videos/a.mp4", file="/videos/a.mp4", duration=20.0)
    cut = ImportRow("id:window-1", 0, 10, TextKind.SPEECH, "said there", cut_by_indexer=True)
    given = ImportRow("id:window-2", 2, 4, TextKind.ANNOTATION, "a person's note")
    assert db.sync_import("catalogue.jsonl", {video_id: [cut, given]}).added == 2
    assert [w.imported for w in db.catalogue_entry(video_id).windows] == [False, True]
    assert not db.indexed_here(video_id)
    assert db.sync_import("catalogue.jsonl", {video_id: [cut, given]}).unchanged == 2

    stored, _ = _store(db, "/videos/a.mp4")
    assert stored == video_id and db.indexed_here(video_id)
    windows = db.catalogue_entry(video_id).windows
    assert [(w.start, w.imported, w.texts[0].text) for w in windows] == [
        (0.0, False, "hello world"),
        (2.0, True, "a person's note"),
        (10.0, False, "BREAKING NEWS"),
    ]
