"""The transformers-native adapter on a tiny RANDOM-WEIGHT Idefics3 (tests/models/tiny_vlm.py): the
real model class, processor, chat template and loading code; the captions themselves are noise."""

import importlib.util
import json
import shutil

import numpy as np
import pytest
import torch

from tests.conftest import sharing_models
from tests.models.tiny_vlm import build_tiny_vlm
from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelError, ModelNotFoundError
from vidsearch.indexer import Indexer
from vidsearch.media.frames import SampledFrame
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.media.windows import Window
from vidsearch.models.base import MomentClip, WindowClip
from vidsearch.models.hf_video import frames_content, load_transformers_video_lm
from vidsearch.search.answer import Asker
from vidsearch.storage import Database


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm") / "tiny-idefics3")


def cpu_settings(tmp_path=None, **extra):
    base = {"device": "cpu", "captioner_allow_cpu": True, "caption_max_new_tokens": 4}
    if tmp_path is not None:
        base["data_dir"] = tmp_path / "data"
    return Settings(**base, **extra)


def frames(times, shape=(90, 160, 3)):
    rng = np.random.default_rng(0)
    return [SampledFrame(t, rng.integers(0, 255, shape, dtype=np.uint8)) for t in times]


def test_loads_from_a_folder_and_records_its_identity(tiny_vlm):
    model = load_transformers_video_lm(str(tiny_vlm), cpu_settings())
    spec = model.spec
    assert (spec.kind, spec.name, spec.model_id) == ("captioner", "hf-video", "tiny-idefics3")
    assert spec.revision.startswith("local:") and spec.settings["prompt_version"] == "hf-video-v1.2"
    assert model.model.__class__.__name__ == "Idefics3ForConditionalGeneration"
    # An image-text model without a video processor: a window's frames go in as timestamped images.
    assert spec.settings["frames_as"] == "images" and model.video_input is None


def test_the_frame_plan_is_the_loaded_models_rate_and_loads_nothing(tiny_vlm, monkeypatch):
    """The caption frame plan comes from the settings alone and equals what the loaded adapter samples at;
    a plan that disagreed with its model is refused when the model loads."""
    from vidsearch.errors import ModelLoadError
    from vidsearch.models import base
    from vidsearch.models.loader import ModelSet

    settings = cpu_settings(captioner="hf-video", captioner_model=str(tiny_vlm), caption_fps=1.5)
    real_factory = base.captioners.resolve("hf-video")
    built: list[Settings] = []

    def spy(s):  # test double (spy) around the registry's real factory: counts the models built
        built.append(s)
        return real_factory(s)

    monkeypatch.setitem(base.captioners._factories, "hf-video", spy)
    models = ModelSet(settings)
    plan = models.caption_frame_plan
    assert plan == base.CaptionFramePlan(1.5, settings.caption_max_side) and built == []
    loaded = models.captioner
    assert loaded is not None and loaded.sample_fps == plan.sample_fps and len(built) == 1

    monkeypatch.setitem(base.CAPTION_SAMPLE_RATES, "hf-video", lambda s: 3.0)
    with pytest.raises(ModelLoadError, match=r"planned 3 frames a second but its model samples 1\.5"):
        _ = ModelSet(settings).captioner


def test_captions_a_batch_of_windows(tiny_vlm):
    model = load_transformers_video_lm(str(tiny_vlm), cpu_settings(caption_max_frames=2))
    clips = [
        WindowClip(tiny_vlm / "x.mp4", Window(i, 3.0 * i, 3.0 * i + 3), frames([3 * i + 0.5, 3 * i + 1.5, 3 * i + 2.5]))
        for i in range(3)
    ]
    captions = model.caption(clips)
    assert len(captions) == 3 and all(isinstance(c.text, str) and c.error is None for c in captions)


def test_a_window_goes_in_as_timestamped_images(tiny_vlm):
    model = load_transformers_video_lm(str(tiny_vlm), cpu_settings(caption_max_frames=2))
    clip = WindowClip(tiny_vlm / "x.mp4", Window(5, 60.0, 64.0), frames([60.5, 61.5, 62.5, 63.5]))
    prompt = model.caption_prompt(clip)
    assert len(prompt.images) == 2 and prompt.videos == []
    rendered = model.render(prompt)
    assert rendered.startswith("<|im_start|>User:You are provided the following series of two frames")
    assert "\nFrame from 00:00:<image>\nFrame from 00:03:<image>\n\nDescribe this video" in rendered


def test_prompt_content_times_each_frame():
    content = frames_content(frames([10.5, 12.5]), origin=10.0, duration=4.0)
    texts = [c["text"] for c in content if c["type"] == "text"]
    assert texts[0] == "You are provided the following series of two frames from a 0:00:04 [H:MM:SS] video.\n"
    assert texts[1:3] == ["\nFrame from 00:00:", "\nFrame from 00:02:"]
    assert [c["type"] for c in content].count("image") == 2


def test_out_of_memory_halves_the_batch(tiny_vlm, monkeypatch):
    model = load_transformers_video_lm(str(tiny_vlm), cpu_settings(caption_batch_size=4))
    real_generate = model.model.generate
    sizes = []

    def generate(**inputs):
        sizes.append(len(inputs["input_ids"]))
        if len(inputs["input_ids"]) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return real_generate(**inputs)

    monkeypatch.setattr(model.model, "generate", generate)
    clips = [WindowClip(tiny_vlm / "x.mp4", Window(i, i, i + 1.0), frames([i + 0.5])) for i in range(4)]
    captions = model.caption(clips)
    assert sizes == [4, 2, 1, 1, 1, 1] and all(c.error is None for c in captions)


def test_answers_over_moments(tiny_vlm):
    model = load_transformers_video_lm(str(tiny_vlm), cpu_settings())
    moment = MomentClip(1, tiny_vlm / "a.mp4", 30.0, 34.0, frames([30.5, 32.5]), {"ocr": "TITLE"})
    assert isinstance(model.answer("what is shown?", [moment]), str)


def test_loading_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs --captioner-model"):
        load_transformers_video_lm("", cpu_settings())
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_transformers_video_lm(str(tmp_path / "missing"), cpu_settings())
    (tmp_path / "junk").mkdir()
    with pytest.raises(ModelNotFoundError, match="cannot load video language model"):
        load_transformers_video_lm(str(tmp_path / "junk"), cpu_settings())
    with pytest.raises(ModelError, match="need a CUDA GPU"):
        load_transformers_video_lm(str(tmp_path / "junk"), Settings(device="cpu"))


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed here")
def test_a_processor_that_needs_torchvision_is_refused_with_the_fix_named(tiny_vlm, tmp_path):
    """SmolVLM2's processor (as Qwen2.5-VL's and LLaVA-OneVision's) has a video processor that only
    torchvision runs; tests/torchvision_env runs those models where it is installed."""
    folder = tmp_path / "needs-torchvision"
    shutil.copytree(tiny_vlm, folder)
    config = json.loads((folder / "processor_config.json").read_text())
    config["processor_class"] = "SmolVLMProcessor"
    config["video_processor"] = {"video_processor_type": "SmolVLMVideoProcessor"}
    (folder / "processor_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"SmolVLMVideoProcessor requires the Torchvision library.*pip install"):
        load_transformers_video_lm(str(folder), cpu_settings())


@pytest.mark.models
def test_indexes_a_synthesised_video_end_to_end(tiny_vlm, tmp_path, real_models):
    make_video([Scene("rocket", 4, title="LAUNCH"), Scene("coffee", 4)], tmp_path / "lib" / "clip.mp4")
    settings = cpu_settings(
        tmp_path, captioner="hf-video", captioner_model=str(tiny_vlm), window_length=4, caption_max_frames=2
    )
    models = sharing_models(settings, real_models)
    report = Indexer(settings, models=models).run([tmp_path / "lib"])
    assert report.failed == [] and report.windows == 2 and "caption" in report.stage_seconds
    db = Database(settings.resolved_database_url)
    [(video, _)] = db.list_videos()
    captions = [t for w in db.video_detail(video.id).windows for t in w.texts if t.kind == "caption"]
    assert len(captions) == 2 and {c.model.name for c in captions} == {"hf-video"}
    assert video.pipeline_settings["captioner"] == "hf-video"

    # The same model answers: generative mode, and whatever it cites is checked against the evidence.
    from vidsearch.search import Searcher

    searcher = Searcher(settings, db, real_models.embedder)
    answer = Asker(settings, searcher, models.answerer).ask("what is the title?", k=2)  # ask keeps every moment
    assert answer.mode == "generative" and answer.model.startswith("tiny-idefics3@local:")
    assert {c.number for c in answer.citations} <= {1, 2}
