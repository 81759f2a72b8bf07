import os

from vidsearch.config import VIDEO_EXTENSIONS
from vidsearch.indexer.scan import content_hash, find_videos


def test_finds_videos_recursively_by_extension_sorted(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("b/two.MP4", "a/deep/one.mkv", "a/notes.txt", "a/three.webm"):
        (tmp_path / name).write_bytes(b"x")
    files, problems = find_videos([tmp_path], VIDEO_EXTENSIONS)
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in files] == [
        "a/deep/one.mkv",
        "a/three.webm",
        "b/two.MP4",
    ]
    assert problems == []


def test_a_named_file_is_taken_whatever_its_extension_and_duplicates_collapse(tmp_path):
    clip = tmp_path / "clip.bin"
    clip.write_bytes(b"x")
    files, _ = find_videos([clip, tmp_path, clip], VIDEO_EXTENSIONS)
    assert files == [clip.resolve()]


def test_missing_path_is_reported(tmp_path):
    files, problems = find_videos([tmp_path / "nope"], VIDEO_EXTENSIONS)
    assert files == [] and problems[0].reason == "no such file or folder"


def test_symlink_loops_are_not_followed(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.mp4").write_bytes(b"x")
    os.symlink(tmp_path / "lib", tmp_path / "lib" / "loop")
    files, _ = find_videos([tmp_path], VIDEO_EXTENSIONS)
    assert [p.name for p in files] == ["a.mp4"]


def test_non_utf8_file_names(tmp_path):
    name = os.fsdecode(b"caf\xe9.mp4")
    (tmp_path / name).write_bytes(b"x")
    files, _ = find_videos([tmp_path], VIDEO_EXTENSIONS)
    assert len(files) == 1


def test_content_hash_follows_bytes_not_names(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"same")
    (tmp_path / "b.mp4").write_bytes(b"same")
    (tmp_path / "c.mp4").write_bytes(b"other")
    assert content_hash(tmp_path / "a.mp4") == content_hash(tmp_path / "b.mp4") != content_hash(tmp_path / "c.mp4")
