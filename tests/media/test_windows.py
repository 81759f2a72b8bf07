import pytest

from vidsearch.media.windows import Window, plan_windows


def test_windows_cover_the_video_and_the_last_is_shorter():
    windows = plan_windows(25.0, 10.0, 10.0)
    assert [(w.start, w.end) for w in windows] == [(0, 10), (10, 20), (20, 25)]
    assert [w.index for w in windows] == [0, 1, 2]


def test_overlapping_windows():
    windows = plan_windows(25.0, 10.0, 5.0)
    assert [(w.start, w.end) for w in windows] == [(0, 10), (5, 15), (10, 20), (15, 25)]


def test_short_video_gets_one_window():
    assert [(w.start, w.end) for w in plan_windows(3.2, 10.0, 10.0)] == [(0, 3.2)]


def test_exact_multiple_has_no_empty_tail():
    assert [(w.start, w.end) for w in plan_windows(20.0, 10.0, 10.0)] == [(0, 10), (10, 20)]


def test_empty_and_invalid():
    assert plan_windows(0.0, 10, 10) == []
    with pytest.raises(ValueError):
        plan_windows(10.0, 5.0, 6.0)


def test_window_contains_and_overlap():
    w = Window(0, 10.0, 20.0)
    assert w.contains(10.0) and not w.contains(20.0)
    assert w.overlap(15, 30) == 5 and w.overlap(0, 5) == 0


def test_a_tiny_tail_joins_the_window_before():
    assert [(w.start, w.end) for w in plan_windows(20.046, 10.0, 10.0)] == [(0, 10), (10, 20.046)]
    assert [(w.start, w.end) for w in plan_windows(0.5, 10.0, 10.0)] == [(0, 0.5)]
