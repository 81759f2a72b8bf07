import numpy as np

from vidsearch.indexer.signals import (
    FrameLabelReader,
    FrameLabels,
    FrameText,
    ScreenTextReader,
    cues_by_window,
    labels_by_window,
    screen_text_by_window,
    words_by_window,
)
from vidsearch.media.frames import SampledFrame
from vidsearch.media.subtitles import Cue
from vidsearch.media.windows import Window, plan_windows
from vidsearch.models.base import FrameLabel, ModelSpec, SpokenWord, TextLine


def test_words_land_in_the_window_holding_their_midpoint():
    windows = plan_windows(30, 10, 10)
    words = [
        SpokenWord(1, 2, "hello"),
        SpokenWord(9.8, 10.4, "edge"),
        SpokenWord(10.1, 10.9, "there"),
        SpokenWord(29.9, 30.3, "end"),
    ]
    assert words_by_window(words, windows) == {0: "hello", 1: "edge there", 2: "end"}


def test_words_go_to_every_overlapping_window():
    windows = plan_windows(20, 10, 5)
    assert words_by_window([SpokenWord(7, 8, "shared")], windows) == {0: "shared", 1: "shared"}


def test_cues_go_to_every_window_they_overlap_once():
    windows = plan_windows(30, 10, 10)
    cues = [Cue(5, 15, "long cue", "stream:2"), Cue(16, 18, "long cue", "a.srt"), Cue(21, 22, "late", "a.srt")]
    assert cues_by_window(cues, windows) == {
        0: ("long cue", "stream:2"),
        1: ("long cue", "stream:2, a.srt"),
        2: ("late", "a.srt"),
    }


def test_a_cue_that_only_grazes_a_window_is_not_its_text():
    # Shot-aware windows start on a cut, where a cue often ends a frame or a few milliseconds later.
    windows = [Window(0, 0.0, 7.96), Window(1, 7.96, 12.0), Window(2, 12.0, 20.0)]
    cues = [
        Cue(2.0, 8.0, "ends on the cut", "stream:2"),  # 0.04 s into window 1
        Cue(8.0, 12.3, "runs past the edge", "stream:2"),  # 0.3 s into window 2
        Cue(11.8, 12.2, "short cue over an edge", "stream:2"),  # 0.2 s each side: half of it in both
        Cue(11.9, 12.0, "a blink", "stream:2"),  # all of it in window 1: half of a cue is enough
    ]
    assert cues_by_window(cues, windows) == {
        0: ("ends on the cut", "stream:2"),
        1: ("runs past the edge short cue over an edge a blink", "stream:2"),
        2: ("short cue over an edge", "stream:2"),
    }


def test_a_cue_lies_in_the_window_it_overlaps_most_when_none_holds_enough_of_it():
    windows = [Window(0, 0.0, 0.4), Window(1, 0.4, 0.8), Window(2, 0.8, 5.0)]
    # 1.1 s long: a window would need 0.5 s of it; none has that, the middle one holds the most (0.4 s).
    assert cues_by_window([Cue(0.05, 1.15, "over three windows", "a.srt")], windows) == {
        1: ("over three windows", "a.srt")
    }
    # Past the video's end it overlaps no window at all: no window's text.
    assert cues_by_window([Cue(6.0, 7.0, "after the end", "a.srt")], windows) == {}


def test_a_cue_of_several_lines_is_one_line_of_a_window_text():
    windows = plan_windows(10, 10, 10)
    assert cues_by_window([Cue(1, 3, "first line\nsecond  line", "a.srt")], windows) == {
        0: ("first line second line", "a.srt")
    }


class CountingReader:
    """Test double for a TextReader: returns the frame's mean brightness as text and counts calls."""

    spec = ModelSpec("ocr", "counting", "test/counting", "0")

    def __init__(self) -> None:
        self.calls = 0

    def read(self, image):
        self.calls += 1
        return [TextLine(f"level {int(image.mean())}", 1.0)]


def _frame(t: float, level: int) -> SampledFrame:
    return SampledFrame(t, np.full((64, 64, 3), level, np.uint8))


def test_near_duplicate_frames_are_read_once_and_credited_to_each_frame():
    reader = CountingReader()
    screen = ScreenTextReader(reader, dedup_threshold=6.0)
    texts = [screen.read(_frame(t, 100 if t < 3 else 200)) for t in (0.5, 1.5, 2.5, 3.5, 4.5)]
    assert reader.calls == 2 and screen.calls == 2
    assert [t.lines for t in texts] == [("level 100",)] * 3 + [("level 200",)] * 2


def test_threshold_zero_reads_every_frame():
    reader = CountingReader()
    screen = ScreenTextReader(reader, dedup_threshold=0.0)
    for t in (0.5, 1.5, 2.5):
        screen.read(_frame(t, 100))
    assert reader.calls == 3


def test_screen_text_by_window_dedupes_lines():
    windows = plan_windows(20, 10, 10)
    texts = [FrameText(1, ("TITLE",)), FrameText(2, ("TITLE", "sub")), FrameText(12, ()), FrameText(15, ("X",))]
    assert screen_text_by_window(texts, windows) == {0: "TITLE / sub", 1: "X"}


class BrightnessLabeler:
    """Test double for a FrameLabeler: names each frame by its brightness; records its batches."""

    spec = ModelSpec("labeler", "brightness", "test/brightness", "0")

    def __init__(self) -> None:
        self.batches: list[int] = []

    def label(self, images):
        self.batches.append(len(images))
        return [[FrameLabel(f"level {int(image.mean())}", 0.9, ("grey",))] for image in images]


def test_near_duplicate_frames_are_labelled_once_in_batches_and_credited_to_each_frame():
    labeler = BrightnessLabeler()
    shows = FrameLabelReader(labeler, dedup_threshold=6.0, batch_size=2)
    levels = [100, 101, 150, 150, 200, 30, 30]  # 5 distinct scenes (101 is a near-duplicate of 100)
    for t, level in enumerate(levels):
        shows.add(_frame(t + 0.5, level))
    frames = shows.finish()
    assert shows.calls == 4 and labeler.batches == [2, 2]  # 100, 150, 200, 30: two full batches
    assert [f.labels[0].name for f in frames] == ["level 100"] * 2 + ["level 150"] * 2 + ["level 200"] + [
        "level 30"
    ] * 2
    assert [f.time for f in frames] == [t + 0.5 for t in range(7)]


def test_a_reader_with_nothing_added_labels_nothing():
    labeler = BrightnessLabeler()
    assert FrameLabelReader(labeler, 6.0).finish() == [] and labeler.batches == []


def test_labels_by_window_pool_every_confident_label_best_first_with_its_words():
    windows = plan_windows(20, 10, 10)
    cat = FrameLabel("cat", 0.6, ("tabby", "pet"))
    frames = [
        FrameLabels(1, (cat,)),
        FrameLabels(2, (FrameLabel("coffee", 0.9, ("espresso",)), FrameLabel("cat", 0.4, ("tiger cat", "pet")))),
        FrameLabels(3, ()),
        FrameLabels(12, ()),
        FrameLabels(15, (FrameLabel("rocket", 0.5, ("missile",)),)),
    ]
    assert labels_by_window(frames, windows) == {
        0: "coffee, espresso; cat, tabby, pet, tiger cat",  # by the best score each reached
        1: "rocket, missile",
    }
    assert labels_by_window([FrameLabels(1, ())], windows) == {}
