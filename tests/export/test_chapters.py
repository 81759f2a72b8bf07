"""Unit tests of the chapter builder on hand-made windows (plain data, no doubles): boundaries from any
source merge, short chapters join their neighbour, titles come from the best kind of text."""

from __future__ import annotations

import numpy as np

from vidsearch.export.chapters import SHOT, TOPIC, Boundary, build_chapters, shorten, topic_boundaries
from vidsearch.export.description import EXTRACTIVE, extractive_description
from vidsearch.storage.catalogue import TextEntry, VideoEntry, WindowEntry


def _window(i: int, start: float, end: float, texts: dict[str, str], vector: list[float] | None) -> WindowEntry:
    entries = [TextEntry(i * 10 + n, kind, text, "", None) for n, (kind, text) in enumerate(texts.items())]
    v = None if vector is None else np.asarray(vector, dtype=np.float32) / np.linalg.norm(vector)
    return WindowEntry(i, i, start, end, entries, vector=v)


def _video(windows: list[WindowEntry], duration: float) -> VideoEntry:
    return VideoEntry(1, "/v.mp4", "done", duration, 0.0, 25.0, 64, 64, 1, None, None, None, None, windows)


WINDOWS = [
    _window(0, 0, 10, {"speech": "The rocket stands on the pad. Engineers check it.", "ocr": "8"}, [1, 0, 0]),
    _window(1, 10, 20, {"speech": "Fuel flows into the tanks."}, [0.9, 0.1, 0]),
    _window(2, 20, 30, {"ocr": "7", "objects": "cat, tabby, pet; coffee, espresso"}, [0, 1, 0]),
    _window(3, 30, 40, {"caption": "A cat sleeps on a sofa in the sun"}, [0, 0.9, 0.2]),
    _window(4, 40, 45, {"speech": "The end."}, [0, 0, 1]),
]


def test_topic_changes_are_where_consecutive_windows_differ():
    assert topic_boundaries(WINDOWS, 0.5) == [Boundary(20, TOPIC), Boundary(40, TOPIC)]


def test_chapters_cover_the_video_and_a_short_last_chapter_joins_the_one_before():
    video = _video(WINDOWS, 45.0)
    chapters = build_chapters(video, topic_boundaries(WINDOWS, 0.5), min_seconds=10, title_chars=60)
    assert [(c.start, c.end, c.reason) for c in chapters] == [(0, 20, "start"), (20, 45, TOPIC)]
    # The best kind of text titles a chapter (a caption before what is said); a misread "7" never does.
    assert chapters[0].title == "The rocket stands on the pad"
    assert chapters[1].title == "A cat sleeps on a sofa in the sun"
    assert chapters[1].window_ids == (2, 3, 4)


def test_shots_plug_in_as_another_source_of_boundaries():
    video = _video(WINDOWS, 45.0)
    shots = [Boundary(10.0, SHOT), Boundary(21.0, SHOT)]  # 21 s is too close to the topic change at 20 s
    chapters = build_chapters(video, [*topic_boundaries(WINDOWS, 0.5), *shots], min_seconds=10, title_chars=60)
    assert [(c.start, c.reason) for c in chapters] == [(0, "start"), (10, SHOT), (20, TOPIC)]
    assert chapters[1].title == "Fuel flows into the tanks"


def test_what_the_frames_show_titles_a_chapter_by_its_labels_first_names():
    video = _video([_window(0, 0, 10, {"ocr": "7", "objects": "cat, tabby, pet; coffee, espresso"}, None)], 10.0)
    assert build_chapters(video, [], min_seconds=0, title_chars=60)[0].title == "cat, coffee"


def test_no_windows_no_chapters_and_titles_are_cut_at_a_word():
    assert build_chapters(_video([], 10.0), [], min_seconds=0, title_chars=60) == []
    assert (
        shorten("Thousands of distant galaxies fill this small patch of the night sky", 30)
        == "Thousands of distant galaxies…"
    )


def test_an_extractive_description_quotes_texts_in_time_order_with_their_times():
    video = _video(WINDOWS, 45.0)
    chapters = build_chapters(video, topic_boundaries(WINDOWS, 0.5), min_seconds=10, title_chars=60)
    described = extractive_description(video, chapters)
    assert described.method == EXTRACTIVE
    assert described.text == (
        "Extractive description (sentences quoted from the indexed texts): "
        "The rocket stands on the pad. Engineers check it. [0:00-0:10] Fuel flows into the tanks. [0:10-0:20] "
        "cat, tabby, pet; coffee, espresso. [0:20-0:30] A cat sleeps on a sofa in the sun. [0:30-0:40] "
        "The end. [0:40-0:45]"
    )
    assert extractive_description(_video([], 10.0), []) is None
