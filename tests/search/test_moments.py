from vidsearch.search.moments import WindowHit, merge_into_moments, moment_texts


def hit(window_id, video_id, start, end, score, kinds=("speech",)):
    return WindowHit(window_id, video_id, f"/v{video_id}.mp4", start, end, score, frozenset(kinds))


def test_touching_strong_windows_merge_into_one_moment():
    moments = merge_into_moments([hit(1, 1, 0, 10, 0.9), hit(2, 1, 10, 20, 0.85, ("ocr",)), hit(3, 2, 0, 10, 0.5)], 5)
    assert [(m.video_id, m.start, m.end, m.score) for m in moments] == [(1, 0, 20, 0.9), (2, 0, 10, 0.5)]
    assert moments[0].window_ids == [1, 2] and moments[0].matched == {"speech", "ocr"}


def test_weaker_touching_window_collapses_without_stretching_the_moment():
    moments = merge_into_moments([hit(1, 1, 0, 10, 0.9), hit(2, 1, 10, 20, 0.3)], 5)
    assert [(m.start, m.end) for m in moments] == [(0, 10)]


def test_distant_windows_of_one_video_are_separate_moments():
    moments = merge_into_moments([hit(1, 1, 0, 10, 0.9), hit(3, 1, 20, 30, 0.88)], 5)
    assert [(m.start, m.end) for m in moments] == [(0, 10), (20, 30)]


def test_k_limits_moments_and_order_is_by_score():
    hits = [hit(i, i, 0, 10, 0.1 * i) for i in range(1, 8)]
    moments = merge_into_moments(hits, 3)
    assert [m.video_id for m in moments] == [7, 6, 5]


def test_overlapping_windows_merge():
    moments = merge_into_moments([hit(1, 1, 0, 10, 0.8), hit(2, 1, 5, 15, 0.8), hit(3, 1, 10, 20, 0.79)], 5)
    assert [(m.start, m.end) for m in moments] == [(0, 20)]


def test_moment_texts_join_kinds_in_time_order_without_repeats():
    texts = {1: [("ocr", "TITLE"), ("speech", "hello")], 2: [("ocr", "TITLE"), ("speech", "world")]}
    assert moment_texts([1, 2], texts) == {"ocr": "TITLE", "speech": "hello world"}
