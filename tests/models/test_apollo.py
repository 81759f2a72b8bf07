"""The Apollo adapter. Apollo's model code is not available offline, so FakeApollo below is a TEST DOUBLE
that honours the documented interface (.tokenizer, .vision_tower.vision_processor, .config,
generate(input_ids, vision_input=..., data_types=...)) and records what the adapter sends. The SigLIP
image processor is the real one from transformers; frames come from a real synthesised video."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import SiglipImageProcessorPil

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelError, ModelNotFoundError
from vidsearch.media.frames import SampledFrame, open_frames, sample_grid
from vidsearch.media.probe import probe
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.media.windows import Window
from vidsearch.models.apollo import (
    VIDEO_TOKEN_INDEX,
    ApolloVideoLM,
    group_into_clips,
    load_apollo,
    pad_to_square,
)
from vidsearch.models.base import ModelSpec, MomentClip, WindowClip

REPLY = "A rocket stands on the launch pad.<|im_end|>ignored after the end of turn"


class CharTokenizer:
    """Test double: one token per character, so prompts decode back exactly."""

    pad_token_id = 0

    def __call__(self, text, add_special_tokens=False):
        return SimpleNamespace(input_ids=[ord(c) for c in text])

    def batch_decode(self, rows, skip_special_tokens=False):
        return ["".join(chr(int(i)) for i in row if int(i) > 0) for row in rows]


class FakeInternVideo2Processor:
    """Test double for InternVideo2's processor: (T, H, W, 3) -> (3, T, 224, 224); records its inputs."""

    image_mean = (0.485, 0.456, 0.406)

    def __init__(self):
        self.inputs = []

    def preprocess(self, frames, return_tensors="pt"):
        self.inputs.append(frames)
        return {"pixel_values": torch.zeros(3, len(frames), 224, 224)}


class FakeApollo:
    """Test double for a loaded Apollo model; optionally runs out of memory above a batch size."""

    def __init__(self, oom_above=None):
        self.config = SimpleNamespace(
            clip_duration=2, frames_per_clip=4, mm_connector_cfg={"num_output_tokens": 3}, model_max_length=40
        )
        self.tokenizer = CharTokenizer()
        self.vision_tower = SimpleNamespace(
            vision_processor=[SiglipImageProcessorPil(size={"height": 384, "width": 384}), FakeInternVideo2Processor()]
        )
        self.calls = []
        self.oom_above = oom_above

    def generate(self, input_ids, attention_mask=None, vision_input=None, data_types=None, **kwargs):
        if self.oom_above is not None and len(input_ids) > self.oom_above:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.calls.append(
            SimpleNamespace(
                input_ids=input_ids,
                attention_mask=attention_mask,
                vision_input=vision_input,
                data_types=data_types,
                kwargs=kwargs,
            )
        )
        return torch.tensor([[ord(c) for c in REPLY]] * len(input_ids))


def adapter(model, batch_size=4):
    spec = ModelSpec("captioner", "apollo", "test/fake-apollo", "0")
    return ApolloVideoLM(model, spec, device="cpu", dtype=torch.bfloat16, batch_size=batch_size)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("apollo") / "launch.mp4"
    make_video([Scene("rocket", 10), Scene("coffee", 10)], path, audio=False)
    return path


def window_clip(video, window, fps=2.0):
    info = probe(video)
    times = [t for t in sample_grid(info.duration, fps) if window.start <= t < window.end]
    return WindowClip(video, window, list(open_frames(video, info, 448).iter_frames(times)))


def prompt_text(row):
    return "".join("<V>" if int(i) == VIDEO_TOKEN_INDEX else chr(int(i)) for i in row if int(i) != 0)


def test_caption_builds_apollos_inputs(video):
    model = FakeApollo()
    apollo = adapter(model)
    assert apollo.sample_fps == 2.0 and apollo.max_clips == 8
    [caption] = apollo.caption([window_clip(video, Window(1, 10.0, 20.0))])
    assert caption.text == "A rocket stands on the launch pad." and caption.error is None

    [call] = model.calls
    ids = call.input_ids[0].tolist()
    assert ids.count(VIDEO_TOKEN_INDEX) == 5 * 3  # 10 s = five 2 s clips, 3 resampler tokens each
    text = prompt_text(ids)
    assert text.startswith(
        "<|im_start|>system\nYou are a helpful vision-language assistant.<|im_end|>\n"
        "<|im_start|>user\nYou are provided the following series of five, 2 second clips "
        "from a 0:00:10 [H:MM:SS] video.\n0.0-2.0 seconds: <V><V><V>,\n2.0-4.0 seconds: <V><V><V>,"
    )
    assert "8.0-10.0 seconds: <V><V><V>\n\nDescribe this video" in text
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert call.data_types == ["video"]
    [[siglip, internvideo]] = call.vision_input
    assert tuple(siglip.shape) == (5, 4, 3, 384, 384) and siglip.dtype == torch.bfloat16
    assert tuple(internvideo.shape) == (5, 3, 4, 224, 224) and internvideo.dtype == torch.bfloat16
    assert call.kwargs["do_sample"] is False and call.kwargs["max_new_tokens"] == 256


def test_frames_are_padded_square_with_the_processor_mean(video):
    model = FakeApollo()
    adapter(model).caption([window_clip(video, Window(0, 0.0, 4.0))])
    internvideo = model.vision_tower.vision_processor[1]
    first = internvideo.inputs[0]
    assert first.shape == (4, 448, 448, 3)  # 448x252 frames centred on a square canvas
    assert tuple(first[0, 0, 0]) == (123, 116, 103)  # int(mean * 255) fills the padding
    assert pad_to_square(np.zeros((1, 2, 4, 3), np.uint8), (9, 9, 9))[0, 0, 0, 0] == 9


def test_windows_are_batched_with_left_padding(video):
    model = FakeApollo()
    clips = [
        window_clip(video, Window(0, 0.0, 10.0)),
        window_clip(video, Window(1, 10.0, 14.0)),
        window_clip(video, Window(2, 14.0, 20.0)),
    ]
    captions = adapter(model, batch_size=2).caption(clips)
    assert [c.text for c in captions] == ["A rocket stands on the launch pad."] * 3
    assert [len(c.input_ids) for c in model.calls] == [2, 1]
    first = model.calls[0]
    short_row = first.attention_mask[1].tolist()
    assert short_row[0] == 0 and short_row[-1] == 1  # the shorter prompt is padded on the left
    assert len(first.vision_input) == 2 and first.data_types == ["video", "video"]


def test_out_of_memory_halves_the_batch_then_fails_single_windows(video):
    clips = [window_clip(video, Window(i, 2.0 * i, 2.0 * i + 2)) for i in range(4)]
    model = FakeApollo(oom_above=1)
    captions = adapter(model, batch_size=4).caption(clips)
    assert all(c.text and c.error is None for c in captions)
    assert [len(c.input_ids) for c in model.calls] == [1, 1, 1, 1]  # 4 -> 2 -> 1

    always = FakeApollo(oom_above=0)
    failed = adapter(always, batch_size=2).caption(clips[:2])
    assert [c.error for c in failed] == ["out of GPU memory even for a single window"] * 2


def test_long_windows_space_their_clips_evenly():
    frames = [SampledFrame(0.25 + 0.5 * i, np.zeros((4, 4, 3), np.uint8)) for i in range(120)]  # 60 s at 2 fps
    clips = group_into_clips(frames, origin=0.0, clip_duration=2, frames_per_clip=4, max_clips=8)
    assert len(clips) == 8
    assert [c.start for c in clips][:2] == [0.0, 8.0] and clips[-1].start == 58.0
    assert all(c.frames.shape == (4, 4, 4, 3) for c in clips)
    tail = group_into_clips(frames[:6], origin=0.0, clip_duration=2, frames_per_clip=4, max_clips=8)
    assert len(tail) == 2 and tail[1].frames.shape[0] == 4  # a short tail repeats its last frame


def test_answer_labels_moments_with_absolute_times(video):
    model = FakeApollo()
    info = probe(video)
    frames = list(open_frames(video, info, 448).iter_frames([12.25, 12.75, 13.25, 13.75]))
    moment = MomentClip(1, video, 12.0, 14.0, frames, {"ocr": "LAUNCH PAD"})
    assert adapter(model).answer("what is on the pad?", [moment]) == "A rocket stands on the launch pad."
    [call] = model.calls
    text = prompt_text(call.input_ids[0].tolist())
    assert "Moment [1] from launch.mp4, 12.0-14.0 s." in text and "12.0-14.0 seconds: <V><V><V>" in text
    assert "Known text: ocr: LAUNCH PAD" in text and "Question: what is on the pad?" in text
    assert len(call.vision_input) == 1


def _snapshot(tmp_path, config, parts=("llm", "vision_tower", "mm_connector")):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    for part in parts:
        (tmp_path / part).mkdir()
    return tmp_path


APOLLO_CONFIG = {"auto_map": {"AutoModelForCausalLM": "modeling_apollo.ApolloForCausalLM"}}


def test_loading_errors_say_what_is_wrong(tmp_path):
    cpu = Settings(device="cpu")
    with pytest.raises(ConfigError, match="--captioner-model"):
        load_apollo("", cpu)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_apollo(str(tmp_path / "nope"), cpu)
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        load_apollo(str(tmp_path), cpu)
    other = _snapshot(tmp_path / "other", {"model_type": "llama"})
    with pytest.raises(ModelNotFoundError, match="names no Apollo model class"):
        load_apollo(str(other), cpu)
    partial = _snapshot(tmp_path / "partial", APOLLO_CONFIG, parts=("llm",))
    with pytest.raises(ModelNotFoundError, match="missing vision_tower/, mm_connector/"):
        load_apollo(str(partial), cpu)
    good = _snapshot(tmp_path / "good", APOLLO_CONFIG)
    with pytest.raises(ModelError, match="needs a CUDA GPU"):
        load_apollo(str(good), cpu)


def test_incompatible_transformers_is_reported_before_loading(tmp_path):
    import transformers.modeling_utils as modeling_utils

    if hasattr(modeling_utils, "no_init_weights"):
        pytest.skip("this transformers still has the internals Apollo's code imports")
    good = _snapshot(tmp_path / "good", APOLLO_CONFIG)
    with pytest.raises(ModelError, match=r"transformers==4\.44\.2"):
        load_apollo(str(good), Settings(device="cpu", captioner_allow_cpu=True))
