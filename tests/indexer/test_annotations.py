"""Importing timestamped descriptions (JSONL, CSV, SRT/WebVTT), on SQLite and PostgreSQL."""

import json

import pytest

from vidsearch.errors import ConfigError
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
    videos = {v.path: (v, n) for v, n in db.list_videos()}
    kiwi, windows = videos["s30-d52"]
    assert windows == 2 and kiwi.duration == 250 and kiwi.status == "done"
    detail = db.video_detail(kiwi.id)
    assert [(w.start, w.end, w.texts[0].kind, w.texts[0].text) for w in detail.windows] == [
        (4.8, 12.0, "annotation", "She took out kiwi"),
        (12.3, 24.9, "caption", "She took out cutting board"),
    ]


def test_a_kind_no_search_could_filter_on_is_skipped(db, tmp_path):
    rows = [
        {"video": "reel-9", "start": 0, "end": 2, "text": "A wide shot of the bay", "kind": "scene"},
        {"video": "reel-9", "start": 2, "end": 4, "text": "HARBOUR MASTER", "kind": "ocr"},
    ]
    report = import_annotations(db, [write_jsonl(tmp_path / "kinds.jsonl", rows)])
    assert report.annotations == 1
    [skipped] = report.skipped
    assert "unknown kind 'scene'" in skipped and "speech, ocr, subtitle, caption, annotation" in skipped


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
    assert report.annotations == 2 and report.videos == 2  # one by path, one by id: the same video
    assert [w.idx for w in db.video_detail(video_id).windows] == [0, 1]


def test_subtitles_beside_a_video(db, tmp_path):
    (tmp_path / "talk.mp4").write_bytes(b"x")
    (tmp_path / "talk.en.srt").write_text("1\n00:00:01,000 --> 00:00:02,500\nHello there\n")
    import_annotations(db, [tmp_path / "talk.en.srt"])
    [(video, windows)] = db.list_videos()
    assert video.path == str((tmp_path / "talk.mp4").resolve()) and windows == 1
    assert db.video_detail(video.id).windows[0].texts[0].kind == "subtitle"
    (tmp_path / "orphan.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nx\n")
    with pytest.raises(ConfigError, match="no video named orphan"):
        import_annotations(db, [tmp_path / "orphan.srt"])
    with pytest.raises(ConfigError, match="unknown annotation format"):
        import_annotations(db, [tmp_path / "talk.mp4"])
