"""Importing timestamped descriptions (JSONL, CSV, SRT/WebVTT), on SQLite and PostgreSQL."""

import json

import pytest

from vidsearch.errors import NotFoundError
from vidsearch.indexer.annotations import import_annotations
from vidsearch.storage.database import FileState


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_creates_videos_known_by_key_and_reports_bad_lines(db, tmp_path):
    rows = [
        {"video": "s30-d52", "start": 4.8, "end": 12.0, "text": "She took out kiwi", "duration": 250},
        {"video": "s30-d52", "start": 12.3, "end": 24.9, "text": "She took out cutting board", "kind": "caption"},
        {"video": "s31-d01", "start": 0, "end": 5, "text": "He washes a pan"},
        {"video": "s31-d01", "start": 5, "end": 3, "text": "end before start"},
        {"video": "s31-d01", "start": 1, "text": "no end"},
    ]
    report = import_annotations(db, [write_jsonl(tmp_path / "seg.jsonl", rows)])
    assert (report.files, report.annotations, report.videos) == (1, 3, 2)
    assert [s.split(": ")[0].rsplit(":", 1)[1] for s in report.skipped] == ["4", "5"]  # reported by line
    assert report.external == ["s30-d52", "s31-d01"] and report.not_found == []
    videos = {v.path: (v, n) for v, n in db.list_videos()}
    kiwi, windows = videos["s30-d52"]
    # Known only by its key: visibly not a file (not "done" with no duration, as it used to be).
    assert windows == 2 and kiwi.duration == 250 and kiwi.status == "external" and not kiwi.has_file
    detail = db.video_detail(kiwi.id)
    assert [(w.start, w.end, w.texts[0].kind, w.texts[0].text) for w in detail.windows] == [
        (4.8, 12.0, "annotation", "She took out kiwi"),
        (12.3, 24.9, "caption", "She took out cutting board"),
    ]


def test_tags_from_jsonl_lists_and_csv_cells(db, tmp_path):
    write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"video": "reel-1", "start": 0, "end": 4, "text": "A barn burns", "tags": ["fire", "farm", "fire"]},
            {"video": "reel-1", "start": 4, "end": 8, "text": "Too long a tag", "tags": ["x" * 200]},
        ],
    )
    (tmp_path / "b.csv").write_text(
        'video,start,end,text,tags\nreel-2,1,3,Cows in a field,"farm; animals"\nreel-2,3,5,Sky,\n'
    )
    report = import_annotations(db, [tmp_path / "a.jsonl", tmp_path / "b.csv"])
    assert report.annotations == 3 and len(report.skipped) == 1 and "longer than 128" in report.skipped[0]
    windows = {w.texts[0].text: w.id for v, _ in db.list_videos() for w in db.video_detail(v.id).windows}
    tags = db.window_tags(list(windows.values()))
    assert tags[windows["A barn burns"]] == ["farm", "fire"]
    assert tags[windows["Cows in a field"]] == ["animals", "farm"]
    assert windows["Sky"] not in tags


def test_csv_and_appending_to_an_indexed_video(db, tmp_path):
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"x")
    video_id = db.begin_video(FileState(str(video.resolve()), 1, 1.0), "h")
    (tmp_path / "notes.csv").write_text(
        f"video,start,end,text\n{video},1,4,Opening remarks\n{video_id},5,9,Questions\n"
    )
    report = import_annotations(db, [tmp_path / "notes.csv"])
    assert report.annotations == 2 and report.videos == 1  # one by path, one by id: the same video
    assert [w.idx for w in db.video_detail(video_id).windows] == [0, 1]


def test_subtitles_beside_a_video(db, tmp_path):
    (tmp_path / "talk.mp4").write_bytes(b"x")
    (tmp_path / "talk.en.srt").write_text("1\n00:00:01,000 --> 00:00:02,500\nHello there\n")
    import_annotations(db, [tmp_path / "talk.en.srt"])
    [(video, windows)] = db.list_videos()
    assert video.path == str((tmp_path / "talk.mp4").resolve()) and windows == 1
    assert db.video_detail(video.id).windows[0].texts[0].kind == "subtitle"
    (tmp_path / "orphan.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nx\n")
    report = import_annotations(db, [tmp_path / "orphan.srt", tmp_path / "talk.mp4"])
    assert [p.split(": ", 1)[1] for p in report.failed_files] == [
        "no video named orphan.* beside it",
        "unknown annotation format '.mp4' (use .jsonl, .ndjson, .csv, .srt, .vtt, .ass, .ssa)",
    ]


def test_bad_rows_name_the_line_the_field_and_what_was_expected(db, tmp_path):
    lines = [
        json.dumps({"video": "v", "start": 0, "text": "no end"}),
        json.dumps({"video": "v", "start": "soon", "end": 3, "text": "words for a start"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"video": "v", "start": 0, "end": 2, "text": "x", "kind": "video"}),
        json.dumps({"video": "v", "start": 4, "end": 2, "text": "backwards"}),
        json.dumps({"start": 0, "end": 2, "text": "whose?"}),
        json.dumps({"video": "v", "start": 0, "end": 2, "text": "fine"}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = import_annotations(db, [path])
    assert report.annotations == 1
    assert report.skipped == [
        f"{path}:1: missing 'end' (seconds, a number)",
        f"{path}:2: 'start' is 'soon': expected seconds, a number",
        f"{path}:3: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        f"{path}:4: expected a JSON object with video, start, end and text, got list",
        f"{path}:5: 'kind' is 'video': expected one of speech, ocr, subtitle, caption, annotation, objects, "
        "description",
        f"{path}:6: 'end' (2) must be after 'start' (4)",
        f"{path}:7: missing 'video' (the video's path, id or key)",
    ]


def test_files_that_cannot_be_read_are_reported_and_the_rest_imported(db, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [{"video": "k", "start": 0, "end": 1, "text": "hello"}])
    (tmp_path / "latin.jsonl").write_bytes(b'{"video": "k", "start": 0, "end": 1, "text": "caf\xe9"}\n')
    (tmp_path / "no-header.csv").write_text("a,b\n1,2\n")
    report = import_annotations(
        db, [tmp_path / "nope.jsonl", tmp_path, good, tmp_path / "latin.jsonl", tmp_path / "no-header.csv"]
    )
    assert report.annotations == 1
    assert report.failed_files == [
        f"{tmp_path / 'nope.jsonl'}: no such file",
        f"{tmp_path}: not a file",
        f"{tmp_path / 'latin.jsonl'}: not UTF-8 text",
        f"{tmp_path / 'no-header.csv'}: the CSV header lacks video, start, end, text (expected columns: video, "
        "start, end, text; optional: kind, tags, duration, id)",
    ]


def _rows(db):
    """(video path, start, end, kind, text, tags) of every live window, sorted."""
    out = []
    for video, _ in db.list_videos():
        for w in db.video_detail(video.id).windows:
            tags = db.window_tags([w.id]).get(w.id, [])
            out += [(video.path, w.start, w.end, t.kind, t.text, tuple(tags)) for t in w.texts]
    return sorted(out)


def test_importing_the_same_file_again_adds_nothing(db, tmp_path):
    rows = [
        {"video": "reel", "start": 0, "end": 4, "text": "A barn burns", "tags": ["fire"]},
        {"video": "reel", "start": 4, "end": 8, "text": "Cows"},
        {"video": "reel", "start": 4, "end": 8, "text": "Cows"},  # the same row twice is two rows
    ]
    path = write_jsonl(tmp_path / "notes.jsonl", rows)
    first = import_annotations(db, [path])
    before = _rows(db)
    assert len(before) == 3 and first.changes.added == 3
    again = import_annotations(db, [path])
    assert _rows(db) == before
    assert (again.changes.added, again.changes.replaced, again.changes.removed, again.changes.unchanged) == (0, 0, 0, 3)
    assert not again.changes.changed


def test_importing_an_edited_file_updates_in_place(db, tmp_path):
    path = tmp_path / "notes.jsonl"
    write_jsonl(
        path,
        [
            {"id": "a", "video": "reel", "start": 0, "end": 4, "text": "A barn burns"},
            {"video": "reel", "start": 4, "end": 8, "text": "Cows"},
            {"video": "reel", "start": 8, "end": 9, "text": "Sky"},
        ],
    )
    import_annotations(db, [path])
    write_jsonl(
        path,
        [
            {"id": "a", "video": "reel", "start": 0, "end": 5, "text": "A barn burns down", "tags": ["fire"]},
            {"video": "reel", "start": 4, "end": 8, "text": "Cows"},
            {"video": "reel", "start": 9, "end": 12, "text": "Rain"},
        ],
    )
    report = import_annotations(db, [path])
    assert (report.changes.added, report.changes.replaced, report.changes.removed) == (1, 1, 1)
    assert _rows(db) == [
        ("reel", 0.0, 5.0, "annotation", "A barn burns down", ("fire",)),
        ("reel", 4.0, 8.0, "annotation", "Cows", ()),
        ("reel", 9.0, 12.0, "annotation", "Rain", ()),
    ]


def test_an_import_can_be_named_listed_and_removed(db, tmp_path):
    from vidsearch.indexer.annotations import remove_import

    one = write_jsonl(tmp_path / "one.jsonl", [{"video": "reel", "start": 0, "end": 4, "text": "from one"}])
    two = write_jsonl(tmp_path / "two.jsonl", [{"video": "reel", "start": 0, "end": 4, "text": "from two"}])
    import_annotations(db, [one])
    import_annotations(db, [two], source="catalogue")
    assert db.import_sources() == {str(one.resolve()): 1, "catalogue": 1}
    # The same file under the same name replaces; another file under that name replaces it too.
    import_annotations(db, [one], source="catalogue")
    assert [r[4] for r in _rows(db)] == ["from one", "from one"]
    assert remove_import(db, "catalogue") == 1
    assert remove_import(db, str(one)) == 1
    assert _rows(db) == [] and db.import_sources() == {}
    with pytest.raises(NotFoundError, match=r"no import named 'three\.jsonl'"):
        remove_import(db, "three.jsonl")


def test_rows_imported_before_imports_had_keys_are_adopted_not_duplicated(db, tmp_path):
    from sqlalchemy import update

    from vidsearch.storage.schema import WindowRecord

    path = write_jsonl(tmp_path / "notes.jsonl", [{"video": "reel", "start": 0, "end": 4, "text": "A barn"}])
    import_annotations(db, [path])
    with db.session() as s:  # as migration 0002 leaves rows imported by an earlier vidsearch
        s.execute(update(WindowRecord).values(import_source="", import_key="legacy-1"))
    report = import_annotations(db, [path])
    assert (report.changes.added, report.changes.unchanged) == (0, 1)
    assert len(_rows(db)) == 1 and db.import_sources() == {str(path.resolve()): 1}


def test_a_path_that_is_no_file_here_is_reported_not_taken_for_an_indexed_video(db, tmp_path):
    path = write_jsonl(
        tmp_path / "n.jsonl",
        [
            {"video": str(tmp_path / "gone.mp4"), "start": 0, "end": 4, "text": "typo"},
            {"video": "../elsewhere/clip.mov", "start": 0, "end": 4, "text": "typo"},
        ],
    )
    report = import_annotations(db, [path])
    assert report.not_found == [str(tmp_path / "gone.mp4"), "../elsewhere/clip.mov"] and report.external == []
    assert {v.status for v, _ in db.list_videos()} == {"external"}


def test_a_file_that_exists_but_is_not_indexed_yet_is_pending_under_its_full_path(db, tmp_path, monkeypatch):
    (tmp_path / "clip.mp4").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    import_annotations(
        db, [write_jsonl(tmp_path / "n.jsonl", [{"video": "clip.mp4", "start": 0, "end": 1, "text": "t"}])]
    )
    [(video, n)] = db.list_videos()
    assert (video.path, video.status, n) == (str((tmp_path / "clip.mp4").resolve()), "pending", 1)
