"""Probe and frame sampling on videos synthesised with known content."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from vidsearch.errors import DecodeError, ProbeError
from vidsearch.media.frames import (
    DecordFrameSource,
    PyAVFrameSource,
    SampledFrame,
    Sampling,
    frame_at,
    iter_window_frames,
    open_frames,
    sample_grid,
    scaled_size,
)
from vidsearch.media.probe import probe
from vidsearch.media.synthesize import Scene, make_video, sample_clip
from vidsearch.media.windows import plan_windows


@pytest.fixture(scope="module")
def two_scenes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("media") / "two.mp4"
    make_video([Scene("rocket", 4, narration="Hello there."), Scene("coffee", 4, subtitle="cup")], out)
    return out


def test_probe_reports_duration_size_and_streams(two_scenes):
    info = probe(two_scenes)
    assert info.duration == pytest.approx(8.0, abs=0.15)
    assert (info.width, info.height) == (640, 360)
    assert info.fps == pytest.approx(25.0)
    assert info.has_audio
    assert [s.codec for s in info.subtitle_streams] == ["mov_text"]
    assert info.to_dict()["streams"][0]["kind"] == "video"


def test_probe_reads_when_the_camera_says_it_recorded(two_scenes, tmp_path):
    stamped = tmp_path / "stamped.mp4"
    make_video([Scene("rocket", 2, subtitle="go")], stamped, recorded_at="2021-05-01T10:00:00Z")
    assert probe(stamped).recorded_at == "2021-05-01T10:00:00+00:00"
    assert probe(two_scenes).recorded_at is None


def test_probe_keeps_the_containers_title_tag(two_scenes, tmp_path):
    titled = tmp_path / "titled.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(two_scenes),
            "-c",
            "copy",
            "-metadata",
            "title=The Cat and the Budget",
            str(titled),
        ],
        check=True,
    )
    assert probe(titled).title == "The Cat and the Budget"  # the export's title (export.formats.video_title)
    assert probe(two_scenes).title is None


@pytest.mark.parametrize(
    "stamp",
    [
        "1970-01-01T00:00:00Z",  # a zeroed creation_time, as many tools and cameras write it
        "1904-01-01T00:00:00Z",  # QuickTime's epoch
        "1980-01-01T00:00:00Z",  # a reset camera clock
        "2100-01-01T00:00:00Z",  # a clock set in the future
    ],
)
def test_a_date_no_recording_can_have_is_no_recording_date(two_scenes, tmp_path, stamp):
    # Matroska keeps any date it is given (ffmpeg's mp4 muxer leaves a zero time out altogether).
    stamped = tmp_path / "stamped.mkv"
    remux = ["ffmpeg", "-v", "error", "-i", str(two_scenes), "-map", "0:v", "-map", "0:a", "-c", "copy"]
    subprocess.run([*remux, "-metadata", f"creation_time={stamp}", str(stamped)], check=True, timeout=60)
    assert probe(stamped).recorded_at is None
    subprocess.run([*remux, "-metadata", "creation_time=2021-05-01T10:00:00Z", "-y", str(stamped)], check=True)
    assert probe(stamped).recorded_at == "2021-05-01T10:00:00+00:00"  # the same container with a real date


def test_probe_errors_name_the_file_and_reason(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ProbeError, match="empty") as caught:
        probe(empty)
    assert caught.value.path == str(empty)

    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(ProbeError, match=r"notes\.mp4"):
        probe(text)

    audio = tmp_path / "audio_only.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:a",
            "aac",
            str(audio),
        ],
        check=True,
    )
    with pytest.raises(ProbeError, match="no video stream"):
        probe(audio)


@pytest.mark.parametrize("source_class", [DecordFrameSource, PyAVFrameSource])
def test_frames_come_at_the_asked_times_resized(two_scenes, source_class):
    info = probe(two_scenes)
    frames = list(source_class(two_scenes, info, 320).iter_frames(sample_grid(info.duration, 1.0)))
    assert len(frames) == 8
    for frame, wanted in zip(frames, sample_grid(info.duration, 1.0), strict=True):
        assert abs(frame.time - wanted) < 0.1
        assert frame.image.shape == (180, 320, 3) and frame.image.dtype == np.uint8
    # The picture changes at the scene cut (rocket, then coffee): frames on each side differ.
    first, second = frames[1].image.astype(float), frames[6].image.astype(float)
    assert np.abs(first - second).mean() > 20


def test_decoders_agree(two_scenes):
    info = probe(two_scenes)
    times = [0.5, 3.5, 6.5]
    a = list(DecordFrameSource(two_scenes, info, 320).iter_frames(times))
    b = list(PyAVFrameSource(two_scenes, info, 320).iter_frames(times))
    for x, y in zip(a, b, strict=True):
        assert np.abs(x.image.astype(float) - y.image.astype(float)).mean() < 8


def _same_frames(a, b, *, tolerance=0.0):
    assert [f.time for f in a] == pytest.approx([f.time for f in b], abs=1e-6)
    for x, y in zip(a, b, strict=True):
        assert x.image.shape == y.image.shape
        assert np.abs(x.image.astype(float) - y.image.astype(float)).mean() <= tolerance


@pytest.mark.parametrize("reference_only", [False, True])
def test_several_samplings_from_one_pass_are_each_as_their_own_pass(reference_only):
    """Real moving footage (bikes.mp4, 25 fps, cuts): a 1 fps grid at 320 px and a denser 2 fps grid at
    448 px (their times meet nowhere; a third sampling repeats times of the first) from one decoding pass
    give, frame for frame, the pixels each gets from a pass of its own: each decoded frame is converted at
    each size."""
    path = sample_clip("bikes.mp4")
    info = probe(path)
    readers, captions = sample_grid(info.duration, 1.0), sample_grid(info.duration, 2.0)
    samplings = [Sampling(readers, 320), Sampling(captions, 448), Sampling(readers[:3], 320)]
    source = PyAVFrameSource(path, info, 320, reference_only=reference_only, threads=False)
    decoded: list[float] = []
    items = list(source.iter_samplings(samplings, lambda t, _frame: decoded.append(t)))
    assert [f.time for _, f in items] == sorted(f.time for _, f in items)  # one pass, in time order
    assert len(decoded) == len(set(decoded))  # no frame decoded twice
    for which, sampling in enumerate(samplings):
        alone = PyAVFrameSource(path, info, sampling.max_side, reference_only=reference_only, threads=False)
        _same_frames([f for k, f in items if k == which], list(alone.iter_frames(sampling.times)))


def test_a_sparse_pass_that_must_be_exact_decodes_every_frame(two_scenes):
    info = probe(two_scenes)
    for decoder in ("auto", "pyav"):
        sparse = open_frames(two_scenes, info, 320, decoder, sparse=True)
        exact = open_frames(two_scenes, info, 320, decoder, sparse=True, exact=True)
        assert isinstance(sparse, PyAVFrameSource) and sparse.reference_only
        assert isinstance(exact, PyAVFrameSource) and not exact.reference_only


def test_decord_samplings_at_a_smaller_size_are_scaled_down_from_its_frames():
    """decord sizes frames as it decodes: opened at the larger size, the smaller sampling is scaled down,
    close to decord's own frames at that size and at the very same times."""
    path = sample_clip("bikes.mp4")
    info = probe(path)
    readers, captions = sample_grid(info.duration, 1.0), sample_grid(info.duration, 2.0)
    items = list(DecordFrameSource(path, info, 448).iter_samplings([Sampling(readers, 320), Sampling(captions, 448)]))
    _same_frames([f for k, f in items if k == 1], list(DecordFrameSource(path, info, 448).iter_frames(captions)))
    smaller = list(DecordFrameSource(path, info, 320).iter_frames(readers))
    _same_frames([f for k, f in items if k == 0], smaller, tolerance=3.0)


def test_open_frames_falls_back_to_pyav_when_decord_cannot_open(two_scenes, tmp_path):
    info = probe(two_scenes)
    assert isinstance(open_frames(two_scenes, info, 320, "pyav"), PyAVFrameSource)
    assert isinstance(open_frames(two_scenes, info, 320, "auto"), DecordFrameSource)
    ts = tmp_path / "two.ts"  # no container index: decord would seek to the wrong frames
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(two_scenes), "-c", "copy", str(ts)], check=True)
    assert isinstance(open_frames(ts, probe(ts), 320, "auto"), PyAVFrameSource)


def test_one_frame_at_a_time_is_the_frame_sampling_takes(two_scenes, tmp_path):
    """frame_at seeks instead of decoding from the start, and lands on the frame the sampler takes at
    that time, in a container starting at 0 and in one that does not (MPEG-TS starts at 1.4 s)."""
    ts = tmp_path / "two.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(two_scenes), "-c", "copy", str(ts)], check=True)
    for video in (two_scenes, ts):
        info = probe(video)
        times = [0.0, 0.5, 3.5, 6.5, info.duration - 0.05]
        sampled = list(PyAVFrameSource(video, info, 320).iter_frames(times))
        for wanted, frame in zip(times, sampled, strict=True):
            one = frame_at(video, wanted, 320, info.start_time)
            assert one.time == pytest.approx(frame.time) and np.array_equal(one.image, frame.image), (video, wanted)
        # Past the end: the last frame, as a window running past the picture shows it.
        assert frame_at(video, info.duration + 60, 320, info.start_time).time == pytest.approx(
            sampled[-1].time, abs=0.05
        )


def test_one_frame_from_a_file_without_pictures_is_a_decode_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(DecodeError, match=r"notes\.mp4"):
        frame_at(text, 1.0, 320)
    audio = tmp_path / "audio.m4a"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(audio)],
        check=True,
    )
    with pytest.raises(DecodeError, match="no video stream"):
        frame_at(audio, 0.5, 320)


def test_grid_and_window_assignment():
    assert sample_grid(3.0, 1.0) == [0.5, 1.5, 2.5]
    assert sample_grid(0.2, 1.0) == [0.5]  # a very short video still gets a frame
    windows = plan_windows(20, 10, 5)
    frames = [SampledFrame(t, np.zeros((2, 2, 3), np.uint8)) for t in (1.0, 7.0, 12.0)]
    grouped = {w.index: [f.time for f in fs] for w, fs in iter_window_frames(iter(frames), windows)}
    assert grouped == {0: [1.0, 7.0], 1: [7.0, 12.0], 2: [12.0]}  # overlapping windows share frames


def test_windows_are_released_as_soon_as_they_are_complete():
    windows = plan_windows(30, 10, 10)
    seen: list[float] = []

    def frames():
        for t in (1.0, 5.0, 11.0, 25.0):
            seen.append(t)
            yield SampledFrame(t, np.zeros((2, 2, 3), np.uint8))

    stream = iter_window_frames(frames(), windows)
    first, first_frames = next(stream)
    assert first.index == 0 and [f.time for f in first_frames] == [1.0, 5.0]
    assert seen == [1.0, 5.0, 11.0]  # window 0 came out before the rest of the video was decoded
    assert [(w.index, len(fs)) for w, fs in stream] == [(1, 1), (2, 1)]


def test_scaled_size_keeps_aspect_and_never_upscales():
    assert scaled_size(1920, 1080, 960) == (960, 540)
    assert scaled_size(640, 360, 960) == (640, 360)
    assert scaled_size(1080, 1920, 480) == (270, 480)


def test_decord_errors_are_reduced_to_a_readable_reason():
    from vidsearch.media.frames import _decord_reason

    dump = (
        "[23:48:51] /src/video/ffmpeg/threaded_decoder.cc:292: [23:48:51] /src/threaded_decoder.cc:198: "
        "Check failed: avcodec_send_packet(dec_ctx_.get(), __null) >= 0 Thread worker: Error entering draining mode."
    )
    assert _decord_reason(Exception(dump)) == "Error entering draining mode"
    assert _decord_reason(Exception("[23:48:51] /x/y.cc:12: ERROR opening: a.mp4")) == "ERROR opening: a.mp4"


def test_a_file_that_ends_before_its_header_says_is_refused(tmp_path):
    """PyAV decodes up to the cut; sampling past it fails instead of repeating the last frame."""
    from vidsearch.errors import DecodeError

    whole = tmp_path / "whole.mp4"
    make_video([Scene("rocket", 10), Scene("coffee", 10)], whole, audio=False)
    front = tmp_path / "front.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(front)],
        check=True,
    )
    data = front.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    info = probe(cut)
    assert info.duration == pytest.approx(20, abs=0.2)  # the header still promises 20 s
    with pytest.raises(DecodeError, match=r"video data ends at \d+\.\ds of the 20\.\ds"):
        list(PyAVFrameSource(cut, info, 320).iter_frames(sample_grid(info.duration, 1.0)))
    intact = probe(whole)
    assert len(list(PyAVFrameSource(whole, intact, 320).iter_frames(sample_grid(intact.duration, 1.0)))) == 20
