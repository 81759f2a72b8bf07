"""The Apollo adapter against a real transformers model behind remote code (trust_remote_code), on
transformers 4.44: a tiny RANDOM-WEIGHT Apollo-shaped snapshot (tests/models/tiny_apollo.py) whose
remote code, written for these tests, behaves as Apollo's published code does where an adapter can
tell (../shared/notes/apollo.md). Its text is noise: what these tests prove is the code path, and the
equality of batched and single greedy captions."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.models.tiny_apollo import build_tiny_apollo
from vidsearch.config import Settings
from vidsearch.media.frames import open_frames, sample_grid
from vidsearch.media.probe import probe
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.media.windows import Window
from vidsearch.models.apollo import VIDEO_TOKEN_INDEX, load_apollo, tokenize
from vidsearch.models.base import MomentClip, WindowClip

VIDSEARCH = Path(sys.executable).with_name("vidsearch")


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return build_tiny_apollo(tmp_path_factory.mktemp("apollo") / "tiny-random-apollo")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("videos") / "launch.mp4"
    make_video(
        [
            Scene("rocket", 10, title="LAUNCH PAD", narration="The rocket stands on the launch pad."),
            Scene("coffee", 10),
        ],
        path,
    )
    return path


def cpu(**extra):
    return Settings(device="cpu", captioner_allow_cpu=True, caption_max_new_tokens=6, **extra)


@pytest.fixture(scope="module")
def apollo(snapshot):
    return load_apollo(str(snapshot), cpu())


def window_clip(video, window):
    info = probe(video)
    times = [t for t in sample_grid(info.duration, 2.0) if window.start <= t < window.end]
    return WindowClip(video, window, list(open_frames(video, info, 448).iter_frames(times)))


def test_loads_through_transformers_remote_code_with_its_prints_kept_off_stdout(snapshot, capfd, caplog):
    caplog.set_level("INFO", logger="vidsearch.models.apollo")
    model = load_apollo(str(snapshot), cpu())
    assert type(model.model).__module__.startswith("transformers_modules.")  # the snapshot's own code
    assert capfd.readouterr().out == ""
    assert "apollo: loading:" in caplog.text  # the remote code's prints, as log lines
    assert model.spec.model_id == "tiny-random-apollo" and model.spec.settings["attention"] == "sdpa"
    assert model.model.llm.config.tokenizer_padding_side == "left"


def test_a_batch_gives_the_same_greedy_captions_as_one_at_a_time(apollo, video):
    clips = [window_clip(video, w) for w in (Window(0, 0.0, 10.0), Window(1, 10.0, 13.0), Window(2, 13.0, 20.0))]
    apollo.batch_size = 3
    batched = [c.text for c in apollo.caption(clips)]
    apollo.batch_size = 1
    alone = [apollo.caption([clip])[0].text for clip in clips]
    assert batched == alone
    assert any(batched)  # generated text (noise from random weights), not empty strings

    # The released default re-pads on the right: the shorter rows then continue from padding.
    apollo.model.llm.config.tokenizer_padding_side = "right"
    try:
        apollo.batch_size = 3
        assert [c.text for c in apollo.caption(clips)] != alone
    finally:
        apollo.model.llm.config.tokenizer_padding_side = "left"


def test_ask_over_several_moments_is_one_vision_input(apollo, video):
    info = probe(video)
    source = open_frames(video, info, 448)
    moments = [
        MomentClip(1, video, 2.0, 6.0, list(source.iter_frames([2.25 + 0.5 * i for i in range(8)])), {"ocr": "LAUNCH"}),
        MomentClip(2, video, 12.0, 14.0, list(source.iter_frames([12.25 + 0.5 * i for i in range(4)])), {}),
    ]
    text = apollo.answer("What stands on the pad?", moments)  # the real code asserted on this before
    assert isinstance(text, str)
    prompt_ids = tokenize(apollo.tokenizer, "x")
    assert VIDEO_TOKEN_INDEX not in prompt_ids


def test_index_and_ask_from_the_command_line_keep_json_on_stdout(snapshot, video, tmp_path):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VIDSEARCH_DATA_DIR": str(tmp_path / "data"),
        "VIDSEARCH_DEVICE": "cpu",
        "VIDSEARCH_CAPTIONER_ALLOW_CPU": "true",
        "VIDSEARCH_CAPTION_MAX_NEW_TOKENS": "6",
        "VIDSEARCH_CAPTIONER": "apollo",
        "VIDSEARCH_CAPTIONER_MODEL": str(snapshot),
    }
    index = subprocess.run(
        [str(VIDSEARCH), "index", str(video.parent), "--json"], env=env, capture_output=True, text=True, timeout=600
    )
    assert index.returncode == 0, index.stderr
    report = json.loads(index.stdout)  # the remote code's prints did not land in it
    assert report["indexed"] == [str(video)] and not report["failed"], report

    ask = subprocess.run(
        [str(VIDSEARCH), "ask", "what stands on the launch pad?", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert answer["mode"] == "generative" and answer["model"].startswith("tiny-random-apollo@")
    assert answer["evidence"], answer


def test_the_frame_plan_read_from_the_config_is_the_loaded_models_rate(snapshot, apollo):
    """The caption frame plan (config.json as plain JSON, nothing loaded) is the loaded model's rate."""
    from vidsearch.models.base import CaptionFramePlan
    from vidsearch.models.loader import ModelSet

    settings = cpu(captioner="apollo", captioner_model=str(snapshot))
    assert ModelSet(settings).caption_frame_plan == CaptionFramePlan(apollo.sample_fps, settings.caption_max_side)
