"""One decoding pass feeds every frame reader and the thumbnails; readers run in threads of their own;
sparse samples decode reference frames only; what each stage costs is clocked in wall and CPU time."""

import io
import subprocess
import threading
import time

import numpy as np
import pytest
from PIL import Image

from vidsearch.config import Settings
from vidsearch.errors import DecodeError
from vidsearch.indexer import work as work_module
from vidsearch.indexer.work import StageClock, VideoWork
from vidsearch.media.frames import PyAVFrameSource, open_frames, sample_grid
from vidsearch.media.probe import probe
from vidsearch.models.base import ModelSpec
from vidsearch.storage.schema import TextKind
from vidsearch.storage.thumbnails import take_thumbnail

from ..conftest import sharing_models


def _picture(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.float32)


def test_one_decoding_pass_feeds_text_labels_and_thumbnails(two_scenes, tmp_path, real_models, monkeypatch):
    opened = []

    def counting_open_frames(*args, **kwargs):
        opened.append(kwargs)
        return open_frames(*args, **kwargs)

    monkeypatch.setattr(work_module, "open_frames", counting_open_frames)
    settings = Settings(data_dir=tmp_path, window_length=4.0, speech="none")
    clock = StageClock()
    extracted = VideoWork(settings, sharing_models(settings, real_models), clock).extract(two_scenes, captions=False)

    assert len(opened) == 1 and opened[0]["sparse"] is True  # no second pass for the thumbnails
    texts = {(t.window_index, t.kind): t.text for t in extracted.texts}
    assert "LAUNCH DAY" in texts[(0, TextKind.OCR)] and "LAUNCH" not in texts.get((1, TextKind.OCR), "")
    assert "rocket" in texts[(0, TextKind.OBJECTS)] and "espresso" in texts[(1, TextKind.OBJECTS)]
    # Each window's thumbnail is its middle frame, as a pass of its own took it before.
    assert sorted(extracted.thumbnails) == [0, 1]
    for index, middle in ((0, 2.0), (1, 6.0)):
        ours, reference = _picture(extracted.thumbnails[index]), _picture(take_thumbnail(two_scenes, middle))
        assert ours.shape == reference.shape and np.abs(ours - reference).mean() < 6
    # The frames' stages each ran in a thread of their own, clocked in wall and CPU time.
    for stage in ("decode", "ocr", "ocr_detect", "labels", "thumbnails"):
        assert clock.seconds[stage] > 0 and 0 < clock.cpu_seconds[stage] <= clock.seconds[stage] + 0.05


def test_thumbnails_alone_decode_only_the_middle_frames_and_charge_them(two_scenes, tmp_path, real_models):
    settings = Settings(data_dir=tmp_path, window_length=4.0, speech="none", ocr="none", visual_labels="none")
    models = sharing_models(settings, real_models)
    models.ocr = None
    clock = StageClock()
    extracted = VideoWork(settings, models, clock).extract(two_scenes, captions=False)
    assert sorted(extracted.thumbnails) == [0, 1] and "decode" not in clock.seconds and clock.seconds["thumbnails"] > 0


class FailingLabeler:
    spec = ModelSpec("labeler", "failing", "test/failing", "0")

    def label(self, images, *, min_score=None):
        raise RuntimeError("the labeler broke")


def test_a_reader_that_fails_fails_the_video_and_leaves_no_thread_behind(two_scenes, tmp_path, real_models):
    settings = Settings(data_dir=tmp_path, window_length=4.0, speech="none")
    models = sharing_models(settings, real_models)
    models.labeler = FailingLabeler()
    with pytest.raises(RuntimeError, match="the labeler broke"):
        VideoWork(settings, models).extract(two_scenes, captions=False)
    assert not [t for t in threading.enumerate() if t.name.startswith("frames-")]


def test_reference_only_sampling_lands_at_most_a_few_frames_early(two_scenes):
    info = probe(two_scenes)
    times = sample_grid(info.duration, 1.0)
    every = list(PyAVFrameSource(two_scenes, info, 320).iter_frames(times))
    sparse = list(PyAVFrameSource(two_scenes, info, 320, reference_only=True, threads=False).iter_frames(times))
    assert len(sparse) == len(every) == len(times)
    for asked, full, ref in zip(times, every, sparse, strict=True):
        assert full.time - 4 / info.fps <= ref.time <= full.time <= asked + 1e-6
    # The same scenes, frame for frame: a still picture is the same picture a few frames earlier.
    assert all(np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 3 for a, b in zip(every, sparse, strict=True))


def test_a_file_cut_short_with_its_index_up_front_is_refused_by_the_sparse_pass(two_scenes, tmp_path):
    front = tmp_path / "front.mp4"
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
            "-movflags",
            "+faststart",
            str(front),
        ],
        check=True,
    )
    data = front.read_bytes()
    cut = tmp_path / "cut80.mp4"
    cut.write_bytes(data[: len(data) * 8 // 10])  # the last sample lies within 2 s of where the data ends
    info = probe(cut)
    source = open_frames(cut, info, 320, sparse=True, threads=False)
    with pytest.raises(DecodeError, match="damaged or truncated"):
        list(source.iter_frames(sample_grid(info.duration, 1.0)))


def test_stage_clock_counts_the_threads_cpu_apart_from_waiting():
    clock = StageClock()
    with clock("busy"):
        end = time.perf_counter() + 0.2
        while time.perf_counter() < end:
            pass
    with clock("waiting"):
        time.sleep(0.2)
    assert clock.cpu_seconds["busy"] > 0.1 and clock.cpu_seconds["waiting"] < 0.05
    assert clock.seconds["waiting"] >= 0.19


def test_models_running_beside_each_other_split_the_cores(monkeypatch):
    from vidsearch.models import device

    monkeypatch.setattr(device.os, "cpu_count", lambda: 2)
    assert device.shared_threads(0) == 1  # speech beside the frames' readers: a core each
    monkeypatch.setattr(device.os, "cpu_count", lambda: 16)
    assert device.shared_threads(0) == 8
    assert device.shared_threads(3) == 3  # VIDSEARCH_THREADS wins
    monkeypatch.setattr(device.os, "cpu_count", lambda: None)
    assert device.shared_threads(0) == 1
