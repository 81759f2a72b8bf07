import pytest

from vidsearch.search.moments import WindowHit, merge_into_moments, moment_texts, temporal_iou


def hit(window_id, video_id, start, end, score, kinds=("speech",), delimited=False):
    return WindowHit(
        window_id,
        video_id,
        f"/v{video_id}.mp4",
        start,
        end,
        score,
        frozenset(kinds),
        frozenset({window_id * 10}),
        delimited,
    )


def spans(moments):
    return [(m.video_id, m.start, m.end) for m in moments]


def test_temporal_iou():
    assert temporal_iou(0, 10, 0, 10) == 1.0
    assert temporal_iou(0, 10, 5, 15) == pytest.approx(5 / 15)
    assert temporal_iou(0, 10, 20, 30) == 0.0


def test_touching_strong_grid_windows_merge_into_one_moment():
    moments = merge_into_moments([hit(1, 1, 0, 10, 0.9), hit(2, 1, 10, 20, 0.85, ("ocr",)), hit(3, 2, 0, 10, 0.5)])
    assert [(m.video_id, m.start, m.end, m.score) for m in moments] == [(1, 0, 20, 0.9), (2, 0, 10, 0.5)]
    assert moments[0].window_ids == [1, 2] and moments[0].matched == {"speech", "ocr"}
    assert moments[0].text_ids == {10, 20}


def test_weaker_touching_grid_window_collapses_without_stretching_the_moment():
    moments = merge_into_moments([hit(1, 1, 0, 10, 0.9), hit(2, 1, 10, 20, 0.3)])
    assert spans(moments) == [(1, 0, 10)]


def test_distant_windows_of_one_video_are_separate_moments():
    moments = merge_into_moments([hit(1, 1, 0, 10, 0.9), hit(3, 1, 20, 30, 0.88)])
    assert spans(moments) == [(1, 0, 10), (1, 20, 30)]


def test_order_is_by_score_then_video_and_start():
    moments = merge_into_moments([hit(i, i, 0, 10, 0.1 * i) for i in range(1, 8)])
    assert [m.video_id for m in moments] == [7, 6, 5, 4, 3, 2, 1]


def test_overlapping_grid_windows_chain_into_one_moment():
    # Windows of 10 s every 5 s overlap by a third: less than the same-moment IoU, so they join by touch.
    moments = merge_into_moments([hit(1, 1, 0, 10, 0.8), hit(2, 1, 5, 15, 0.8), hit(3, 1, 10, 20, 0.79)])
    assert spans(moments) == [(1, 0, 20)]


def test_the_same_moment_found_again_supports_it_and_its_span_is_the_consensus():
    moments = merge_into_moments(
        [
            hit(1, 1, 10, 20, 0.9, ("annotation",), delimited=True),
            hit(2, 1, 11, 21, 0.6, ("annotation",), delimited=True),
            hit(3, 1, 12, 20, 0.4, ("annotation",), delimited=True),
        ],
        support=0.1,
    )
    assert len(moments) == 1
    assert (moments[0].start, moments[0].end) == (11, 20)  # medians of starts and of ends
    assert moments[0].score == pytest.approx(0.9 + 0.1 * (0.6 + 0.4) / 2)
    assert sorted(moments[0].window_ids) == [1, 2, 3]


def test_support_lifts_a_moment_found_twice_above_one_found_once():
    hits = [
        hit(1, 1, 0, 10, 0.80, delimited=True),
        hit(2, 2, 0, 10, 0.78, delimited=True),
        hit(3, 2, 1, 10, 0.70, delimited=True),
    ]
    assert [m.video_id for m in merge_into_moments(hits, support=0.1)] == [2, 1]
    assert [m.video_id for m in merge_into_moments(hits, support=0.0)] == [1, 2]


def test_given_spans_that_touch_stay_separate_moments():
    # Imported descriptions are moments already: neighbours are distinct candidates, not one long span.
    hits = [hit(1, 1, 0, 10, 0.9, delimited=True), hit(2, 1, 10, 20, 0.89, delimited=True)]
    assert spans(merge_into_moments(hits)) == [(1, 0, 10), (1, 10, 20)]


def test_moment_texts_join_kinds_in_time_order_without_repeats():
    texts = {1: [(1, "ocr", "TITLE"), (2, "speech", "hello")], 2: [(3, "ocr", "TITLE"), (4, "speech", "world")]}
    assert moment_texts([1, 2], texts) == {"ocr": "TITLE", "speech": "hello world"}


def test_keeping_the_best_few_gives_the_head_of_the_whole_ranking():
    hits = [hit(i, i % 4, 10.0 * (i // 4), 10.0 * (i // 4) + 10, 1.0 - 0.01 * i) for i in range(40)]
    hits += [hit(100 + i, i % 4, 10.0 * (i // 4) + 2, 10.0 * (i // 4) + 12, 0.5) for i in range(20)]  # support
    whole = merge_into_moments(hits)
    for keep in (1, 3, 10):
        head = merge_into_moments(hits, keep=keep)
        assert [(m.video_id, m.start, m.end, m.score, m.window_ids) for m in head] == [
            (m.video_id, m.start, m.end, m.score, m.window_ids) for m in whole[:keep]
        ]


def test_a_disputed_boundary_snaps_to_a_cut_between_the_windows():
    """Overlapping windows 0-10, 3-13, 5-15 found the same moment: the consensus is 3-13, and the start
    moves to the cut at 4.2 (between the starts 0 and 5), the end to the cut at 14 (between 10 and 15)."""
    asked = []

    def cuts(video_ids):
        asked.append(set(video_ids))
        return {1: [4.2, 14.0, 30.0]}

    found = [hit(1, 1, 0, 10, 0.9), hit(2, 1, 3, 13, 0.85), hit(3, 1, 5, 15, 0.8), hit(4, 2, 0, 10, 0.5)]
    moments = merge_into_moments(found, overlap_iou=0.3, shot_cuts=cuts)
    assert spans(moments) == [(1, 4.2, 14.0), (2, 0, 10)]
    assert asked == [{1}]  # asked once, only for the video whose moment was disputed
    # Without a cut in the disputed range the consensus stays; without shots nothing is asked.
    assert spans(merge_into_moments(found, overlap_iou=0.3, shot_cuts=lambda ids: {1: [30.0]}))[0] == (1, 3, 13)
    assert spans(merge_into_moments(found, overlap_iou=0.3))[0] == (1, 3, 13)


def test_undisputed_and_imported_boundaries_never_snap():
    asked = []

    def cuts(video_ids):
        asked.append(set(video_ids))
        return {1: [5.0, 12.0]}

    # Touching windows that join: each boundary is a window's own (a cut already, or a split in a shot).
    assert spans(merge_into_moments([hit(1, 1, 0, 10, 0.9), hit(2, 1, 10, 20, 0.85)], shot_cuts=cuts)) == [(1, 0, 20)]
    # An imported span found again by an indexer window: the consensus (medians) is not moved to a cut.
    given = [hit(1, 1, 2, 11, 0.9, delimited=True), hit(2, 1, 0, 10, 0.8)]
    assert spans(merge_into_moments(given, shot_cuts=cuts))[0] == (1, 1, 10.5)
    assert asked == []


def test_a_hit_on_the_whole_video_is_a_moment_of_its_own():
    # A short video: its first window overlaps the whole video by more than the IoU that would merge them.
    whole = hit(1, 1, 0, 12, 0.6, ("description",), delimited=True)._replace(whole_video=True, text_ids={99})
    moments = merge_into_moments([hit(1, 1, 0, 10, 0.9), hit(2, 1, 10, 12, 0.88), whole])
    assert [(m.start, m.end, m.whole_video) for m in moments] == [(0, 12, False), (0, 12, True)]
    assert moments[1].window_ids == [1] and moments[1].matched == {"description"}


def test_a_stretch_does_not_say_the_description_and_the_whole_video_says_only_it():
    texts = {1: [(10, "speech", "the rocket"), (11, "description", "A launch."), (12, "name", "launch day")]}
    assert moment_texts([1], texts) == {"speech": "the rocket"}
    assert moment_texts([1], texts, {11}) == {"speech": "the rocket", "description": "A launch."}  # all of it
    assert moment_texts([1], texts, {11}, whole_video=True) == {"description": "A launch."}


def test_a_stretch_that_is_the_whole_video_is_the_same_moment_as_the_whole_video():
    # A video known by a key with one imported span: its description's hit spans the same seconds.
    whole = hit(1, 1, 0, 5, 0.6, ("description",), delimited=True)._replace(whole_video=True)
    [moment] = merge_into_moments([hit(1, 1, 0, 5, 0.9, ("annotation",), delimited=True), whole])
    assert (moment.start, moment.end, moment.matched) == (0, 5, {"annotation", "description"})
