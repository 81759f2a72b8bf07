"""The captioner's frames come from the indexer's one decoding pass (issue 16: one decode, many consumers):
a captioner receives the frames a decoding pass of its own gave it before (the same times and sizes, the
pixels within JPEG's tolerance), on the fixed grid of overlapping windows and on shot-aware windows over
real footage, in the same batches; only one container is opened for frames; with no captioner nothing
changes; under Ray the frames travel compact. The real captioner here is the transformers-native adapter
on a tiny RANDOM-WEIGHT Idefics3 (tests/models/tiny_vlm.py; no video language model ships offline);
RecordingCaptioner is a test double that records exactly what it was given."""

from __future__ import annotations

import pickle
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import sharing_models
from tests.models.tiny_vlm import build_tiny_vlm
from vidsearch.config import Settings
from vidsearch.indexer import work as work_module
from vidsearch.indexer.caption_frames import CaptionFrames
from vidsearch.indexer.work import StageClock, VideoWork
from vidsearch.media import frames as frames_module
from vidsearch.media.frames import SampledFrame, iter_window_frames, open_frames, sample_grid
from vidsearch.media.probe import probe
from vidsearch.media.synthesize import sample_clip
from vidsearch.media.windows import Window, plan_windows
from vidsearch.models.base import Caption, ModelSpec, WindowClip
from vidsearch.models.loader import ModelSet

pytestmark = pytest.mark.models

# JPEG at the store's quality moves a pixel by about 1-2.5 levels of 255 on average on real footage;
# frames of another time or another scene differ by tens.
PIXEL_TOLERANCE = 4.0


class RecordingCaptioner:
    """Test double for a video language model: records every batch of clips it is given, captions nothing
    but the clip's frame count."""

    def __init__(self, sample_fps: float) -> None:
        self.spec = ModelSpec("captioner", "recording", "test/recording-captioner", "1")
        self.sample_fps = sample_fps
        self.calls: list[list[WindowClip]] = []

    def caption(self, clips):
        self.calls.append(list(clips))
        return [Caption(f"{len(clip.frames)} frames") for clip in clips]


class RecordingRealCaptioner:
    """Test double around the REAL captioner: records the clips, then lets the real model caption them."""

    def __init__(self, real) -> None:
        self.real, self.spec, self.sample_fps = real, real.spec, real.sample_fps
        self.calls: list[list[WindowClip]] = []

    def caption(self, clips):
        self.calls.append(list(clips))
        return self.real.caption(clips)


def separate_pass_batches(path: Path, settings: Settings, windows: list[Window], sample_fps: float):
    """The reference: the captioner's frames as the indexer took them before they came from the shared
    pass (VideoWork.caption_clips until 2026-12-02): a decoding pass of their own at the captioner's rate
    and size, grouped per window as the frames came, `caption_batch_size` windows a batch."""
    info = probe(path)
    source = open_frames(path, info, settings.caption_max_side, settings.frame_decoder)
    frames = source.iter_frames(sample_grid(info.duration, sample_fps))
    batches, batch = [], []
    for window, window_frames in iter_window_frames(frames, windows):
        batch.append(WindowClip(path, window, window_frames))
        if len(batch) == settings.caption_batch_size or window is windows[-1]:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)
    return batches


def assert_same_batches(got: list[list[WindowClip]], want: list[list[WindowClip]]) -> int:
    """The same windows in the same batches, each with frames at the same times and sizes and (within
    JPEG's tolerance) the same pixels. Returns how many frames were compared."""
    assert [[c.window for c in batch] for batch in got] == [[c.window for c in batch] for batch in want]
    compared = 0
    for got_batch, want_batch in zip(got, want, strict=True):
        for ours, theirs in zip(got_batch, want_batch, strict=True):
            assert ours.video_path == theirs.video_path
            assert [f.time for f in ours.frames] == pytest.approx([f.time for f in theirs.frames], abs=1e-6)
            for a, b in zip(ours.frames, theirs.frames, strict=True):
                assert a.image.shape == b.image.shape and a.image.dtype == b.image.dtype == np.uint8
                difference = np.abs(a.image.astype(float) - b.image.astype(float)).mean()
                assert difference < PIXEL_TOLERANCE, (ours.window, a.time, difference)
                compared += 1
    return compared


def test_the_captioner_gets_its_own_pass_frames_on_overlapping_grid_windows(two_scenes, tmp_path, real_models):
    settings = Settings(
        data_dir=tmp_path,
        speech="none",
        visual_labels="none",
        shot_windows=False,
        window_length=4.0,
        window_stride=2.0,  # overlapping windows: a frame belongs to two of them
        caption_fps=2.0,
        caption_batch_size=2,
    )
    models = sharing_models(settings, real_models)
    captioner = models.captioner = RecordingCaptioner(sample_fps=2.0)
    extracted = VideoWork(settings, models).extract(two_scenes)

    windows = extracted.windows
    assert [(w.start, w.end) for w in windows] == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0)]
    want = separate_pass_batches(two_scenes, settings, windows, 2.0)
    assert [len(batch) for batch in captioner.calls] == [2, 1]
    assert assert_same_batches(captioner.calls, want) == 24  # 8 frames in each window
    first = captioner.calls[0][0].frames[0]
    assert first.image.shape == (252, 448, 3)  # caption_max_side, while on-screen text read 960 px frames
    texts = {(t.window_index, t.kind): t.text for t in extracted.texts}
    assert [texts[(i, "caption")] for i in range(3)] == ["8 frames"] * 3
    assert "LAUNCH DAY" in texts[(0, "ocr")]  # the readers were fed by the same pass
    assert extracted.specs["caption"] == captioner.spec and extracted.caption_frames is None


def test_the_captioner_gets_its_own_pass_frames_on_shot_aware_windows_of_real_footage(tmp_path, real_models):
    """bikes.mp4 (real moving footage with hard cuts, 10 s): the windows are planned from the cuts after
    the pass, so the frames wait in the store (as JPEG) until then."""
    path = sample_clip("bikes.mp4")
    settings = Settings(
        data_dir=tmp_path, speech="none", ocr="none", visual_labels="none", window_length=4.0, caption_batch_size=3
    )
    models = sharing_models(settings, real_models)
    models.ocr = None
    captioner = models.captioner = RecordingCaptioner(sample_fps=2.0)  # Apollo's rate
    clock = StageClock()
    extracted = VideoWork(settings, models, clock).extract(path)

    assert extracted.shots and len(extracted.windows) >= 4
    want = separate_pass_batches(path, settings, extracted.windows, 2.0)
    assert sum(len(b) for b in captioner.calls) == len(extracted.windows)
    assert assert_same_batches(captioner.calls, want) == 20  # 2 fps over 10 s, no window overlaps another
    # The decode and caption clocks: decoding once for everything, the frames' JPEG apart, the model apart.
    assert clock.seconds["decode"] > 0 and clock.seconds["caption_frames"] > 0 and clock.seconds["caption"] > 0
    assert "thumbnails" in clock.seconds and len(extracted.thumbnails) == len(extracted.windows)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm") / "tiny-idefics3")


def test_a_real_captioner_through_the_shared_pass(two_scenes, tiny_vlm, tmp_path, real_models):
    """The transformers-native adapter (tiny random weights, greedy) captions every window from frames of
    the shared pass, and those frames are the ones its own pass gave it."""
    settings = Settings(
        data_dir=tmp_path,
        speech="none",
        visual_labels="none",
        window_length=4.0,
        captioner="hf-video",
        captioner_model=str(tiny_vlm),
        device="cpu",
        captioner_allow_cpu=True,
        caption_max_new_tokens=4,
        caption_max_frames=2,
    )
    models = sharing_models(settings, real_models)
    real = ModelSet(settings).captioner
    assert real is not None and real.spec.name == "hf-video"
    models.captioner = recorder = RecordingRealCaptioner(real)
    extracted = VideoWork(settings, models).extract(two_scenes)

    captions = {t.window_index: t.text for t in extracted.texts if t.kind == "caption"}
    assert sorted(captions) == [w.index for w in extracted.windows] and extracted.window_errors == {}
    assert extracted.specs["caption"].name == "hf-video"
    want = separate_pass_batches(two_scenes, settings, extracted.windows, real.sample_fps)
    assert assert_same_batches(recorder.calls, want) == 8  # 1 fps (caption_fps) over 8 s


def test_one_container_is_opened_for_frames_when_captioning(two_scenes, tmp_path, real_models, monkeypatch):
    """Spies (test doubles around the real functions) count the frame sources the indexer opens and the
    containers the frame module opens: one each, for on-screen text, thumbnails, shots and captions."""
    opened_sources: list[dict] = []
    opened_containers: list[str] = []

    def counting_open_frames(*args, **kwargs):
        opened_sources.append(kwargs)
        return open_frames(*args, **kwargs)

    class CountingAV:
        def __getattr__(self, name):
            return getattr(av, name)

        def open(self, file, *args, **kwargs):
            opened_containers.append(file)
            return av.open(file, *args, **kwargs)

    monkeypatch.setattr(frames_module, "av", CountingAV())
    monkeypatch.setattr(work_module, "open_frames", counting_open_frames)
    settings = Settings(data_dir=tmp_path, speech="none", visual_labels="none", window_length=4.0)
    models = sharing_models(settings, real_models)
    models.captioner = captioner = RecordingCaptioner(sample_fps=2.0)
    extracted = VideoWork(settings, models).extract(two_scenes)

    assert len(opened_sources) == 1 and opened_sources[0]["exact"] is True
    assert opened_containers == [str(two_scenes)]
    assert sum(len(batch) for batch in captioner.calls) == len(extracted.windows) == 2


def test_with_no_captioner_the_pass_is_as_before(two_scenes, tmp_path, real_models, monkeypatch):
    """No captioner: reference frames only, one sampling, nothing kept for captions."""
    samplings_asked: list[list] = []

    def spying_open_frames(*args, **kwargs):
        source = open_frames(*args, **kwargs)
        iter_samplings = source.iter_samplings

        def recording(samplings, watch=None):
            samplings_asked.append(list(samplings))
            return iter_samplings(samplings, watch)

        source.iter_samplings = recording  # type: ignore[method-assign]
        assert kwargs["exact"] is False and source.reference_only  # type: ignore[attr-defined]
        return source

    monkeypatch.setattr(work_module, "open_frames", spying_open_frames)
    settings = Settings(data_dir=tmp_path, speech="none", visual_labels="none", window_length=4.0)
    clock = StageClock()
    extracted = VideoWork(settings, sharing_models(settings, real_models), clock).extract(two_scenes)
    assert len(samplings_asked) == 1 and len(samplings_asked[0]) == 1
    assert samplings_asked[0][0].max_side == settings.ocr_max_side
    assert extracted.caption_frames is None and "caption_frames" not in clock.seconds


def test_left_to_the_caller_the_frames_travel_compact(two_scenes, tmp_path, real_models):
    """extract(captions=False), as the Ray runner's CPU workers call it: nothing is captioned, the frames
    come back as JPEG in batches that survive pickling and give the captioner the same clips."""
    settings = Settings(
        data_dir=tmp_path,
        speech="none",
        visual_labels="none",
        window_length=4.0,
        window_stride=2.0,
        caption_batch_size=2,
    )
    models = sharing_models(settings, real_models)
    models.captioner = captioner = RecordingCaptioner(sample_fps=2.0)
    extracted = VideoWork(settings, models).extract(two_scenes, captions=False)
    assert captioner.calls == [] and not [t for t in extracted.texts if t.kind == "caption"]
    assert "caption" not in extracted.specs  # the caption worker's model reports its own

    batches = list(extracted.caption_batches(settings.caption_batch_size))
    travelled = [pickle.loads(pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL)) for b in batches]
    want = separate_pass_batches(two_scenes, settings, extracted.windows, 2.0)
    assert assert_same_batches([b.clips() for b in travelled], want) > 0
    held = extracted.caption_frames
    assert held is not None and len(held) == 16
    arrays = sum(f.image.nbytes for batch in want for clip in batch for f in clip.frames) / 2  # each frame in 2 windows
    assert held.nbytes < arrays / 5  # JPEG: a fraction of the decoded arrays


def test_frames_are_grouped_and_batched_as_the_window_grouping_does():
    """The store's windows-to-frames assignment is iter_window_frames's, edges included: a frame at a
    window's start is in it, one at its end is not, overlapping windows share frames, a window with no
    frame gets an empty clip, and a repeated frame (a video slower than the captioner) is held once."""
    rng = np.random.default_rng(0)
    times = [0.0, 0.5, 1.0, 1.0, 2.0, 3.5, 4.0, 9.9]
    frames: list[SampledFrame] = []
    for t in times:
        colour = rng.integers(0, 255, 3, dtype=np.uint8)  # a flat picture: JPEG keeps it nearly exactly
        image = frames[-1].image if frames and frames[-1].time == t else np.broadcast_to(colour, (8, 16, 3)).copy()
        frames.append(SampledFrame(t, image))
    windows = [*plan_windows(4.0, 2.0, 1.0), Window(3, 5.0, 6.0), Window(4, 6.0, 10.0)]
    store = CaptionFrames(Path("v.mp4"))
    for frame in frames:
        store.add(frame)
    assert len(store) == len(times) and len({id(p) for p in store.pictures}) == len(times) - 1
    for batch_size in (1, 2, 5):
        batches = [b.clips() for b in store.batches(windows, batch_size)]
        grouped = list(iter_window_frames(iter(frames), windows))
        want = [
            [WindowClip(Path("v.mp4"), w, f) for w, f in grouped[lo : lo + batch_size]]
            for lo in range(0, len(grouped), batch_size)
        ]
        assert_same_batches(batches, want)
    assert [len(c.frames) for b in store.batches(windows, 5) for c in b.clips()] == [4, 3, 2, 0, 1]


def test_the_ray_stages_send_the_frames_of_the_one_pass_to_the_caption_worker(two_scenes, tmp_path):
    """The Ray runner's stages called as its actors call them (no cluster needed): the CPU stage sends
    each batch's JPEG frames from extract's one pass and keeps them out of the row it sends the driver;
    the caption stage gives the captioner the frames its own pass gave it. The captioner is the
    recording test double of test_captioner_seam, loaded by dotted path as the workers load it."""
    from tests.indexer.test_captioner_seam import RecordingCaptioner as SeamCaptioner
    from vidsearch.indexer.caption_frames import CaptionBatch
    from vidsearch.indexer.pipeline import VideoJob
    from vidsearch.indexer.ray_runner import CaptionStage, SignalStage, _Captions, _Clips, _Signals, _unpack
    from vidsearch.storage.videos import FileState

    settings = Settings(
        data_dir=tmp_path,
        speech="none",
        ocr="none",
        visual_labels="none",
        window_length=4.0,
        captioner="tests.indexer.test_captioner_seam:RecordingCaptioner",
        caption_fps=2.0,
        caption_batch_size=1,
    )
    job = VideoJob(FileState(str(two_scenes), two_scenes.stat().st_size, two_scenes.stat().st_mtime), None)
    parts = [_unpack(row) for row in SignalStage(settings)({"job": pickle.dumps((0, job))})]
    *clips, signals = parts
    assert isinstance(signals, _Signals) and signals.result.error is None
    extracted = signals.result.extracted
    assert extracted is not None and extracted.caption_frames is None  # not pickled again for the driver
    assert signals.caption_batches == len(clips) == len(extracted.windows) == 2
    assert all(isinstance(c, _Clips) and isinstance(c.frames, CaptionBatch) for c in clips)

    SeamCaptioner.calls = []
    stage = CaptionStage(settings)
    captions = [_unpack(next(iter(stage({"part": pickle.dumps(c)})))) for c in clips]
    assert all(isinstance(c, _Captions) and c.error is None and len(c.texts) == 1 for c in captions)
    want = separate_pass_batches(two_scenes, settings, extracted.windows, 2.0)
    assert assert_same_batches(SeamCaptioner.calls, want) == 16


def test_the_ray_signal_stage_plans_the_caption_frames_without_building_the_captioner(
    two_scenes, tmp_path, monkeypatch
):
    """The CPU stage decodes the captioner's frames by its plan (hf-video: caption_fps, caption_max_side)
    and never builds the video language model, which only the caption stage loads. A spy stands in for
    the registry's hf-video factory: it records each build and returns the recording test double."""
    from vidsearch.indexer.pipeline import VideoJob
    from vidsearch.indexer.ray_runner import CaptionStage, SignalStage, _Captions, _Clips, _Signals, _unpack
    from vidsearch.models import base
    from vidsearch.storage.videos import FileState

    built: list[Settings] = []
    sample_fps = {"value": 2.0}  # what the built double samples at (the plan says caption_fps)

    def spy(s):  # test double (spy) for the registry's factory
        built.append(s)
        return RecordingCaptioner(sample_fps=sample_fps["value"])

    monkeypatch.setitem(base.captioners._factories, "hf-video", spy)
    settings = Settings(
        data_dir=tmp_path,
        speech="none",
        ocr="none",
        visual_labels="none",
        window_length=4.0,
        captioner="hf-video",
        captioner_model=str(tmp_path / "never-loaded"),
        caption_fps=2.0,
        caption_max_side=224,
        caption_batch_size=1,
    )
    job = VideoJob(FileState(str(two_scenes), two_scenes.stat().st_size, two_scenes.stat().st_mtime), None)
    *clips, signals = [_unpack(row) for row in SignalStage(settings)({"job": pickle.dumps((0, job))})]
    assert built == []  # the CPU stage never built the captioner
    assert isinstance(signals, _Signals) and signals.result.error is None and signals.result.model_load_error is None
    extracted = signals.result.extracted
    assert extracted is not None and signals.caption_batches == len(clips) == len(extracted.windows) == 2
    assert all(isinstance(c, _Clips) for c in clips)
    got = [c.frames.clips() for c in clips if isinstance(c, _Clips)]
    # Each frame is the one on screen at its time on the 2-fps grid (0.25, 0.75, ...): at most a frame early.
    info = probe(two_scenes)
    times = [f.time for batch in got for clip in batch for f in clip.frames]
    grid = sample_grid(info.duration, 2.0)
    assert len(times) == len(grid) == 16
    assert all(want - 1 / info.fps < t <= want + 1e-6 for t, want in zip(times, grid, strict=True))
    assert {max(f.image.shape[:2]) for batch in got for clip in batch for f in clip.frames} == {224}
    want = separate_pass_batches(two_scenes, settings, extracted.windows, 2.0)
    assert assert_same_batches(got, want) == 16

    # The caption stage builds the model, once; one whose rate is not the plan's is refused there.
    stage = CaptionStage(settings)
    captions = [_unpack(next(iter(stage({"part": pickle.dumps(c)})))) for c in clips]
    assert len(built) == 1 and all(isinstance(c, _Captions) and c.error is None for c in captions)
    sample_fps["value"] = 1.0
    refused = _unpack(next(iter(CaptionStage(settings)({"part": pickle.dumps(clips[0])}))))
    assert isinstance(refused, _Captions) and "planned 2 frames a second" in (refused.model_load_error or "")
