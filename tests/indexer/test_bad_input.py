"""Awkward but valid input (timestamps, frame rates, sizes) and input that changes or vanishes."""

import itertools
import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.conftest import sharing_models
from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.media.probe import probe
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.models.base import ModelSpec
from vidsearch.storage import Database

pytestmark = pytest.mark.models


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", *args], check=True)


def ocr_by_window(settings, path):
    db = Database(settings.resolved_database_url)
    video = next(v for v, _ in db.list_videos() if v.path == str(path.resolve()))
    return {w.idx: " ".join(t.text for t in w.texts if t.kind == "ocr") for w in db.video_detail(video.id).windows}


def index(settings, real_models, library):
    return Indexer(settings, models=sharing_models(settings, real_models)).run([library])


def two_titles(path, **kwargs):
    make_video([Scene("rocket", 6, title="ALPHA"), Scene("coffee", 6, title="BRAVO")], path, audio=False, **kwargs)


def test_non_zero_start_time_is_measured_from_the_first_frame(tmp_path, real_models):
    two_titles(tmp_path / "plain.mp4")
    shifted = tmp_path / "lib" / "shifted.ts"
    shifted.parent.mkdir()
    ffmpeg("-i", str(tmp_path / "plain.mp4"), "-c", "copy", "-output_ts_offset", "10", str(shifted))
    assert probe(shifted).start_time > 9
    settings = Settings(data_dir=tmp_path / "data", speech="none", window_length=6)
    report = index(settings, real_models, tmp_path / "lib")
    assert report.failed == []
    assert ocr_by_window(settings, shifted) == {0: "ALPHA", 1: "BRAVO"}


def test_variable_frame_rate_uses_presentation_times(tmp_path, real_models):
    make_video([Scene("rocket", 6, title="ALPHA")], tmp_path / "slow.mp4", audio=False, fps=10)
    make_video([Scene("coffee", 6, title="BRAVO")], tmp_path / "fast.mp4", audio=False, fps=30)
    (tmp_path / "parts.txt").write_text(f"file '{tmp_path / 'slow.mp4'}'\nfile '{tmp_path / 'fast.mp4'}'\n")
    vfr = tmp_path / "lib" / "vfr.mp4"
    vfr.parent.mkdir()
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(tmp_path / "parts.txt"), "-c", "copy", str(vfr))
    import av

    with av.open(str(vfr)) as container:
        times = [f.time for f in container.decode(container.streams.video[0])]
    steps = {round(b - a, 3) for a, b in itertools.pairwise(times)}
    assert len(steps) > 1  # really variable: frames 0.1 s apart, then closer
    # ALPHA's frames come first (its last one stays on screen until BRAVO's first, in presentation
    # time): mapping frame index / average fps instead of presentation times would pull BRAVO's first
    # frames into a window of ALPHA's. Each window reads one title, ALPHA's windows first.
    settings = Settings(data_dir=tmp_path / "data", speech="none", window_length=6)
    assert index(settings, real_models, tmp_path / "lib").failed == []
    by_window = ocr_by_window(settings, vfr)
    texts = [by_window[i] for i in sorted(by_window)]
    assert texts[0] == "ALPHA" and texts[-1] == "BRAVO" and texts == sorted(texts)
    assert set(texts) == {"ALPHA", "BRAVO"}  # no window mixes the two


def test_very_large_frames_are_downscaled_at_decode(tmp_path, real_models):
    big = tmp_path / "lib" / "eight_k.mp4"
    make_video([Scene("rocket", 2, title="EIGHT K TITLE")], big, size=(7680, 4320), fps=5, audio=False)
    assert (probe(big).width, probe(big).height) == (7680, 4320)
    settings = Settings(data_dir=tmp_path / "data", speech="none")
    assert index(settings, real_models, tmp_path / "lib").failed == []
    assert "EIGHT K TITLE" in ocr_by_window(settings, big)[0]


def test_a_dangling_symlink_is_reported_and_the_rest_indexed(tmp_path, real_models):
    make_video([Scene("rocket", 2)], tmp_path / "lib" / "real.mp4", audio=False)
    os.symlink(tmp_path / "gone.mp4", tmp_path / "lib" / "ghost.mp4")
    settings = Settings(data_dir=tmp_path / "data", speech="none", ocr="none")
    report = index(settings, real_models, tmp_path / "lib")
    assert [Path(p).name for p in report.indexed] == ["real.mp4"]
    [(path, reason)] = report.failed
    assert path.endswith("ghost.mp4") and reason.startswith("cannot read file")


class RewritingRecognizer:
    """Test double for a SpeechRecognizer: rewrites the file it is transcribing, once, like a user
    replacing a video while the indexer reads it."""

    spec = ModelSpec("speech", "rewriting", "test/rewriting", "1")

    def __init__(self):
        self.rewrote = False

    def transcribe(self, path):
        if not self.rewrote:
            self.rewrote = True
            with open(path, "ab") as f:
                f.write(b"\0" * 1024)
        return []


def test_a_file_changed_while_indexing_fails_cleanly_and_is_indexed_next_run(tmp_path, real_models):
    make_video([Scene("rocket", 2, narration="Hello.")], tmp_path / "lib" / "moving.mp4")
    settings = Settings(data_dir=tmp_path / "data", ocr="none")
    models = sharing_models(settings, real_models)
    models.speech = RewritingRecognizer()
    first = Indexer(settings, models=models).run([tmp_path / "lib"])
    [(_, reason)] = first.failed
    assert "file changed while it was being indexed" in reason
    second = Indexer(settings, models=models).run([tmp_path / "lib"])
    assert second.failed == [] and len(second.indexed) == 1


def test_corrupted_media_data_is_reported_with_a_reason(tmp_path, real_models):
    make_video([Scene("rocket", 6, title="FINE"), Scene("coffee", 6)], tmp_path / "lib" / "good.mp4", audio=False)
    data = bytearray((tmp_path / "lib" / "good.mp4").read_bytes())
    rng = random.Random(7)
    for _ in range(2000):  # flip bytes all through the media data (the header at the start is spared)
        i = rng.randrange(len(data) // 10, len(data))
        data[i] ^= 0xFF
    (tmp_path / "lib" / "flipped.mp4").write_bytes(bytes(data))
    settings = Settings(data_dir=tmp_path / "data", speech="none")
    report = index(settings, real_models, tmp_path / "lib")
    assert [Path(p).name for p in report.indexed] == ["good.mp4"]
    [(path, reason)] = report.failed
    assert path.endswith("flipped.mp4") and ("damaged" in reason or "not a readable" in reason), reason


def test_a_file_that_cannot_be_read_is_reported(tmp_path, real_models, monkeypatch):
    """Injected: the tests run as root, which reads any file whatever its permissions, so the
    PermissionError an ordinary user would get is raised where the indexer first opens the file."""
    import vidsearch.indexer.pipeline as pipeline

    make_video([Scene("rocket", 2)], tmp_path / "lib" / "secret.mp4", audio=False)
    make_video([Scene("coffee", 2)], tmp_path / "lib" / "open.mp4", audio=False)
    real_hash = pipeline.content_hash

    def denied(path):
        if path.name == "secret.mp4":
            raise PermissionError(13, "Permission denied", str(path))
        return real_hash(path)

    monkeypatch.setattr(pipeline, "content_hash", denied)
    settings = Settings(data_dir=tmp_path / "data", speech="none", ocr="none")
    report = index(settings, real_models, tmp_path / "lib")
    assert [Path(p).name for p in report.indexed] == ["open.mp4"]
    assert report.failed == [(str((tmp_path / "lib" / "secret.mp4").resolve()), "cannot read file: Permission denied")]
