"""The hf-video adapter on the model families the README names, through their real processors (the
torchvision image and video processors) and published chat templates: tiny RANDOM-WEIGHT Qwen2.5-VL,
SmolVLM2 and LLaVA-OneVision (tests/torchvision_env/tiny_models.py) loaded by the adapter's own loading
code. Their captions are noise; the prompts, the token expansion, batching and the whole index-and-ask
path are real."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import sharing_models
from tests.torchvision_env.tiny_models import build_tiny_llava_onevision, build_tiny_qwen2_5_vl, build_tiny_smolvlm2
from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.media.frames import SampledFrame
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.media.windows import Window
from vidsearch.models.base import MomentClip, WindowClip
from vidsearch.models.hf_video import PROMPT_VERSION, TransformersVideoLM, load_transformers_video_lm
from vidsearch.search import Searcher
from vidsearch.search.answer import Asker, ground
from vidsearch.storage import Database


@dataclass(frozen=True)
class Family:
    name: str
    build: object
    model_class: str
    processor_class: str
    video_processor_class: str
    writes_times: bool  # the processor itself writes "Frame from MM:SS:" (SmolVLM2)
    video_marker: str  # what the chat template writes for a video, before expansion
    turn: str  # how the chat template opens the user's turn


FAMILIES = [
    Family(
        "qwen2.5-vl",
        build_tiny_qwen2_5_vl,
        "Qwen2_5_VLForConditionalGeneration",
        "Qwen2_5_VLProcessor",
        "Qwen2VLVideoProcessor",
        False,
        "<|vision_start|><|video_pad|><|vision_end|>",
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
    ),
    Family(
        "smolvlm2",
        build_tiny_smolvlm2,
        "SmolVLMForConditionalGeneration",
        "SmolVLMProcessor",
        "SmolVLMVideoProcessor",
        True,
        "<video>",
        "<|im_start|>User:",
    ),
    Family(
        "llava-onevision",
        build_tiny_llava_onevision,
        "LlavaOnevisionForConditionalGeneration",
        "LlavaOnevisionProcessor",
        "LlavaOnevisionVideoProcessor",
        False,
        "<video>\n",
        "<|im_start|>user\n",
    ),
]


@pytest.fixture(scope="module", params=FAMILIES, ids=[f.name for f in FAMILIES])
def family(request, tmp_path_factory) -> tuple[Family, Path]:
    fam = request.param
    return fam, fam.build(tmp_path_factory.mktemp("tiny-vlm") / f"tiny-{fam.name}")


def cpu_settings(tmp_path: Path | None = None, **extra) -> Settings:
    base = {"device": "cpu", "captioner_allow_cpu": True, "caption_max_new_tokens": 6}
    if tmp_path is not None:
        base["data_dir"] = tmp_path / "data"
    return Settings(**{**base, **extra})


def frames(times, seed=0, shape=(252, 448, 3)):
    rng = np.random.default_rng(seed)
    return [SampledFrame(t, rng.integers(0, 255, shape, dtype=np.uint8)) for t in times]


def window_clip(index: int, start: float, count: int, shape=(252, 448, 3)) -> WindowClip:
    """A 3 s window with `count` frames at 1 fps, each window's pictures its own."""
    times = [start + 0.5 + i for i in range(count)]
    return WindowClip(Path("x.mp4"), Window(index, start, start + 3.0), frames(times, index, shape))


def expanded(model: TransformersVideoLM, prompt) -> str:
    """The prompt the model reads: the chat template's text with every video expanded by the processor
    (runs of one token written once with their count)."""
    ids = model.encode([prompt])["input_ids"][0]
    text = model.processor.tokenizer.decode(ids, skip_special_tokens=False)
    return re.sub(
        r"(<\|video_pad\|>|<video>|<image>)\1+", lambda m: f"{m.group(1)}x{len(m.group(0)) // len(m.group(1))}", text
    )


def test_loads_and_takes_a_window_as_one_video(family):
    fam, folder = family
    model = load_transformers_video_lm(str(folder), cpu_settings())
    assert model.model.__class__.__name__ == fam.model_class
    assert model.processor.__class__.__name__ == fam.processor_class
    assert model.processor.video_processor.__class__.__name__ == fam.video_processor_class
    assert "Pil" not in model.processor.image_processor.__class__.__name__  # the torchvision processor
    spec = model.spec
    assert (spec.name, spec.model_id, spec.revision[:6]) == ("hf-video", folder.name, "local:")
    assert spec.settings["frames_as"] == "video" and spec.settings["prompt_version"] == PROMPT_VERSION
    assert model.video_input is not None and model.video_input.writes_times is fam.writes_times


def test_caption_prompt_is_the_models_own_with_the_frame_times(family):
    fam, folder = family
    model = load_transformers_video_lm(str(folder), cpu_settings(caption_max_frames=4))
    clip = WindowClip(Path("x.mp4"), Window(7, 60.0, 64.0), frames([60.5, 61.5, 62.5, 63.5]))
    prompt = model.caption_prompt(clip)
    assert len(prompt.videos) == 1 and prompt.images == []
    video, metadata = prompt.videos[0]
    assert video.shape == (4, 252, 448, 3)
    assert metadata.timestamps == [0.5, 1.5, 2.5, 3.5]  # from the window's start
    assert metadata.sampled_fps == pytest.approx(1.0)  # 4 frames over the 4 s window
    rendered = model.render(prompt)
    assert rendered.startswith(fam.turn) and fam.video_marker in rendered

    text = expanded(model, prompt)
    intro = "You are provided the following series of four frames from a 0:00:04 [H:MM:SS] video"
    assert intro in text and "Describe this video in detail" in text
    if fam.writes_times:  # SmolVLM2's processor writes its own video prompt: each frame after its time
        assert [f"\nFrame from 00:0{s}:<fake_token_around_image><global-img><image>x4" in text for s in range(4)] == [
            True
        ] * 4
    else:  # the adapter names the times once, before the video
        assert f"{intro}, at 00:00, 00:01, 00:02 and 00:03:\n" in text
    if fam.name == "qwen2.5-vl":  # 4 frames -> 2 temporal patches of 6x10 patches, merged 2x2
        inputs = model.encode([prompt])
        assert inputs["video_grid_thw"].tolist() == [[2, 6, 10]] and "<|video_pad|>x30<|vision_end|>" in text
        assert inputs["second_per_grid_ts"].tolist() == [pytest.approx(2.0)]  # two frames 1 s apart per patch
    if fam.name == "llava-onevision":  # every frame pooled to 2x2 features, one newline for the video
        assert "<video>x17\n" in text


def test_batched_captions_equal_one_window_at_a_time(family):
    """Greedy captions do not depend on what else is in the batch: windows of unequal frame counts (the
    last window of a video is often shorter), of another size (more tokens for Qwen), or prompts of
    another length (left padding); and they depend on the frames."""
    _, folder = family
    model = load_transformers_video_lm(str(folder), cpu_settings(caption_batch_size=4, caption_max_frames=3))
    clips = [
        window_clip(0, 0.0, 3),
        window_clip(1, 3.0, 3, (360, 640, 3)),
        window_clip(2, 6.0, 2),
        window_clip(3, 9.0, 3),
    ]
    batched = model.caption(clips)
    alone = [model.caption([clip])[0] for clip in clips]
    assert batched == alone
    assert all(c.error is None and c.text for c in batched)
    assert len({c.text for c in batched}) > 1  # the model saw different pictures

    prompts = [model.caption_prompt(clip) for clip in (clips[0], clips[3])]
    prompts[1].content.append({"type": "text", "text": " Keep it short, in one sentence please."})
    assert model.generate(prompts) == [model.generate([prompt])[0] for prompt in prompts]


def test_answers_over_moments_of_unequal_length(family, monkeypatch):
    fam, folder = family
    model = load_transformers_video_lm(str(folder), cpu_settings(caption_max_frames=8))
    moments = [
        MomentClip(1, Path("a.mp4"), 30.0, 34.0, frames([30.5, 31.5, 32.5, 33.5]), {"ocr": "LAUNCH"}),
        MomentClip(2, Path("b.mp4"), 60.0, 62.0, frames([60.5], seed=1), {"speech": "hello there"}),
        MomentClip(3, Path("c.mp4"), 5.0, 9.0, [], {"caption": "a cup of coffee"}),  # its file is gone
    ]
    prompt = model.answer_prompt("what is the title?", moments)
    # One processor call takes videos of one length: every moment with frames gets as many as the shortest.
    assert [len(v) for v, _ in prompt.videos] == [1, 1]
    text = expanded(model, prompt)
    for line in ("Moment [1] from a.mp4, 30.0-34.0 s. Known text: ocr: LAUNCH", "Moment [3] from c.mp4, 5.0-9.0 s"):
        assert line in text
    assert "Question: what is the title?" in text
    if fam.writes_times:
        assert "Frame from 00:30:" in text and "Frame from 01:00:" in text  # absolute times
    else:
        assert "video, at 00:30:\n" in text and "video, at 01:00:\n" in text
        assert "Its frames are video 1." in text and "Its frames are video 2." in text

    real_generate = model.model.generate
    outputs = []

    def generate(**inputs):
        out = real_generate(**inputs)
        outputs.append(out[:, inputs["input_ids"].shape[1] :])
        return out

    monkeypatch.setattr(model.model, "generate", generate)
    answer = model.answer("what is the title?", moments)
    [new_tokens] = outputs
    assert 0 < new_tokens.shape[1] <= 6
    assert answer == model.processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()


@pytest.mark.models
def test_indexes_a_synthesised_video_and_answers(family, tmp_path, real_models, monkeypatch):
    fam, folder = family
    make_video([Scene("rocket", 4, title="LAUNCH"), Scene("coffee", 4)], tmp_path / "lib" / "clip.mp4")
    settings = cpu_settings(
        tmp_path,
        captioner="hf-video",
        captioner_model=str(folder),
        window_length=4,
        caption_max_frames=4,
        answer_max_frames=2,
    )
    models = sharing_models(settings, real_models)
    report = Indexer(settings, models=models).run([tmp_path / "lib"])
    assert report.failed == [] and report.windows == 2 and "caption" in report.stage_seconds

    db = Database(settings.resolved_database_url)
    [(video, _)] = db.list_videos()
    assert video.pipeline_settings["captioner"] == "hf-video"
    assert video.pipeline_settings["caption_prompt_version"] == PROMPT_VERSION
    captions = [t for w in db.video_detail(video.id).windows for t in w.texts if t.kind == "caption"]
    assert len(captions) == 2 and all(c.text for c in captions)
    assert {(c.model.name, c.model.model_id) for c in captions} == {("hf-video", folder.name)}

    # The same model answers: what generate() wrote is the answer, over prompts that time the frames.
    answerer = models.answerer
    assert isinstance(answerer, TransformersVideoLM) and answerer.spec.settings["frames_as"] == "video"
    seen: list[tuple[str, str, str]] = []
    real_generate = answerer._generate

    def spy(prompts):
        texts = real_generate(prompts)
        seen.extend(
            zip([answerer.render(p) for p in prompts], [expanded(answerer, p) for p in prompts], texts, strict=True)
        )
        return texts

    monkeypatch.setattr(answerer, "_generate", spy)
    searcher = Searcher(settings, db, real_models.embedder)
    answer = Asker(settings, searcher, answerer).ask("what is the title?", k=2)
    assert answer.mode == "generative" and answer.model.startswith(f"{folder.name}@local:")
    [(rendered, prompt, raw)] = seen
    assert answer.answer == ground(raw, answer.evidence)[0]
    assert rendered.count(fam.video_marker) == len(answer.evidence)  # one video per moment
    for number, moment in enumerate(answer.evidence, 1):
        assert f"Moment [{number}] from clip.mp4, {moment.start:.1f}-{moment.end:.1f} s." in prompt
        # Its frames at their absolute times: the 2 middle seconds of the moment (a 4 s window, or the
        # whole video where its description matched), at 1 fps.
        middle = (moment.start + moment.end) / 2
        first, second = (f"00:{int(middle + offset):02d}" for offset in (-0.5, 0.5))
        if fam.writes_times:
            assert f"Frame from {first}:" in prompt and f"Frame from {second}:" in prompt
        else:
            assert f"video, at {first} and {second}:" in prompt
