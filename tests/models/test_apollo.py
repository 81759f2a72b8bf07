"""The Apollo adapter against FakeApollo, a TEST DOUBLE that enforces what Apollo's published remote code
enforces (../shared/notes/apollo.md, "Behaviour of the real remote code"): one vision input per batch
row whose feature count must equal the row's placeholders, padding stripped and re-added on the side
its LLM's config names ("right" unless told otherwise, which changes the shorter rows' output), and
prints on standard output. It records what the adapter sends. The SigLIP image processor is the real
one from transformers; frames come from a real synthesised video. The adapter against a real
transformers model behind Apollo-shaped remote code runs in the Apollo environment
(tests/apollo_env/)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelError, ModelNotFoundError
from vidsearch.media.frames import SampledFrame, open_frames, sample_grid
from vidsearch.media.probe import probe
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.media.windows import Window
from vidsearch.models.apollo import (
    VIDEO_TOKEN_INDEX,
    ApolloVideoLM,
    chat,
    check_apollo_environment,
    group_into_clips,
    load_apollo,
    model_prints_to_log,
    pad_to_square,
    video_preamble,
)
from vidsearch.models.base import ModelSpec, MomentClip, WindowClip

try:  # transformers 5 names the PIL processor apart from the torchvision one; 4.44 has only this one
    from transformers import SiglipImageProcessorPil as SiglipProcessor
except ImportError:
    from transformers import SiglipImageProcessor as SiglipProcessor

REPLY = "A rocket stands on the launch pad."


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


def reply_for(prompt_ids):
    """The double's deterministic 'generation': the reply names a digest of the prompt it saw."""
    return f"{REPLY} #{sum(prompt_ids) % 9973}<|im_end|>ignored after the end of turn"


class FakeApollo:
    """Test double for a loaded Apollo model; optionally runs out of memory above a batch size."""

    def __init__(self, oom_above=None):
        self.config = SimpleNamespace(
            clip_duration=2, frames_per_clip=4, mm_connector_cfg={"num_output_tokens": 3}, model_max_length=40
        )
        self.tokenizer = CharTokenizer()
        self.vision_tower = SimpleNamespace(
            vision_processor=[SiglipProcessor(size={"height": 384, "width": 384}), FakeInternVideo2Processor()]
        )
        self.llm = SimpleNamespace(config=SimpleNamespace())  # no tokenizer_padding_side: "right", as released
        self.calls = []
        self.oom_above = oom_above

    def generate(self, input_ids, attention_mask=None, vision_input=None, data_types=None, **kwargs):
        print("generating...")  # the real code's prints must not reach our standard output either
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
        assert len(vision_input) == len(input_ids) == len(data_types)  # row i pairs with vision_input[i]
        rows = []
        for ids, mask, video in zip(input_ids, attention_mask, vision_input, strict=True):
            kept = ids[mask.bool()].tolist()  # padding stripped, as the real code does
            features = video[0].shape[0] * self.config.mm_connector_cfg["num_output_tokens"]
            assert kept.count(VIDEO_TOKEN_INDEX) == features, (
                "not the same number of vision tokens in and vision embeddings"
            )
            rows.append(kept)
        width = max(len(r) for r in rows)
        side = getattr(self.llm.config, "tokenizer_padding_side", "right")
        out = []
        for kept in rows:
            text = reply_for(kept)
            if side == "right" and len(kept) < width:  # generation continues from pad positions: wrong text
                text = "pad pad pad<|im_end|>"
            out.append([ord(c) for c in text])
        longest = max(len(o) for o in out)
        return torch.tensor([o + [0] * (longest - len(o)) for o in out])


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


def test_caption_builds_apollos_inputs_in_the_released_format(video):
    model = FakeApollo()
    apollo = adapter(model)
    assert apollo.sample_fps == 2.0 and apollo.max_clips == 8
    [caption] = apollo.caption([window_clip(video, Window(1, 10.0, 20.0))])
    assert caption.text.startswith(REPLY) and caption.error is None

    [call] = model.calls
    ids = call.input_ids[0].tolist()
    # The released loader: ceil(10 s / 2 s x 0.65) = 4 clips, each centred in its 2.5 s share.
    assert ids.count(VIDEO_TOKEN_INDEX) == 4 * 3
    text = prompt_text(ids)
    assert text.startswith(
        "<|im_start|>system\n\nYou are a helpful vision-language assistant.<|im_end|>\n"
        "<|im_start|>user\nYou are provided the following series of four, 2 second clips "
        "from a 0:00:10 [H:MM:SS] video.\n0.7-2.2 seconds: <V><V><V>,\n3.2-4.7 seconds: <V><V><V>,"
    )  # labels: the first and last decoded frame of each clip (30 fps frames near 2 fps), as released
    assert "8.2-9.7 seconds: <V><V><V>\n\nDescribe this video" in text
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert call.data_types == ["video"]
    [[siglip, internvideo]] = call.vision_input
    assert tuple(siglip.shape) == (4, 4, 3, 384, 384) and siglip.dtype == torch.bfloat16
    assert tuple(internvideo.shape) == (4, 3, 4, 224, 224) and internvideo.dtype == torch.bfloat16
    assert call.kwargs["do_sample"] is False and call.kwargs["max_new_tokens"] == 256


def test_the_preamble_states_the_unrounded_length_as_released():
    clips = group_into_clips(
        [SampledFrame(0.25 + 0.5 * i, np.zeros((2, 2, 3), np.uint8)) for i in range(10)], 0.0, 5.3, 2, 4, 8
    )
    assert "from a 0:00:05.300000 [H:MM:SS] video." in video_preamble(clips, 2, 5.3)
    assert chat("q").startswith("<|im_start|>system\n\nYou are")


def test_frames_are_padded_square_with_the_processor_mean(video):
    model = FakeApollo()
    adapter(model).caption([window_clip(video, Window(0, 0.0, 4.0))])
    internvideo = model.vision_tower.vision_processor[1]
    first = internvideo.inputs[0]
    assert first.shape == (4, 448, 448, 3)  # 448x252 frames centred on a square canvas
    assert tuple(first[0, 0, 0]) == (123, 116, 103)  # int(mean * 255) fills the padding
    assert pad_to_square(np.zeros((1, 2, 4, 3), np.uint8), (9, 9, 9))[0, 0, 0, 0] == 9


def test_a_batch_captions_exactly_as_the_windows_one_at_a_time(video):
    windows = [Window(0, 0.0, 10.0), Window(1, 10.0, 14.0), Window(2, 14.0, 20.0)]
    clips = [window_clip(video, w) for w in windows]
    batched_model = FakeApollo()
    batched = adapter(batched_model, batch_size=3).caption(clips)
    alone = [adapter(FakeApollo(), batch_size=1).caption([clip])[0] for clip in clips]
    assert [c.text for c in batched] == [c.text for c in alone]
    assert all(c.text.startswith(REPLY) for c in batched)
    # The model re-pads on its LLM config's side: the adapter must have made it the left.
    assert batched_model.llm.config.tokenizer_padding_side == "left"
    [call] = batched_model.calls
    short_row = call.attention_mask[1].tolist()
    assert short_row[0] == 0 and short_row[-1] == 1  # the shorter prompt is padded on the left
    assert len(call.vision_input) == 3 and call.data_types == ["video"] * 3


def test_out_of_memory_halves_the_batch_then_fails_single_windows(video):
    clips = [window_clip(video, Window(i, 2.0 * i, 2.0 * i + 2)) for i in range(4)]
    model = FakeApollo(oom_above=1)
    captions = adapter(model, batch_size=4).caption(clips)
    assert all(c.text and c.error is None for c in captions)
    assert [len(c.input_ids) for c in model.calls] == [1, 1, 1, 1]  # 4 -> 2 -> 1

    always = FakeApollo(oom_above=0)
    failed = adapter(always, batch_size=2).caption(clips[:2])
    assert [c.error for c in failed] == ["out of GPU memory even for a single window"] * 2


def test_clips_follow_the_released_sampling():
    frames = [SampledFrame(0.25 + 0.5 * i, np.zeros((4, 4, 3), np.uint8)) for i in range(120)]  # 60 s at 2 fps
    clips = group_into_clips(frames, origin=0.0, duration=60.0, clip_duration=2, frames_per_clip=4, max_clips=8)
    assert len(clips) == 8  # ceil(60 / 2 x 0.65) = 20 clips wanted, the token budget allows 8
    assert [round(c.start, 2) for c in clips][:2] == [2.75, 10.25] and round(clips[-1].end, 2) == 56.75
    assert all(c.frames.shape == (4, 4, 4, 3) for c in clips)
    few = group_into_clips(frames[:20], origin=0.0, duration=10.0, clip_duration=2, frames_per_clip=4, max_clips=64)
    assert len(few) == 4 and all(c.end - c.start == 1.5 for c in few)
    tail = group_into_clips(frames[:2], origin=0.0, duration=1.0, clip_duration=2, frames_per_clip=4, max_clips=8)
    assert len(tail) == 1 and tail[0].frames.shape[0] == 4 and tail[0].end == 0.75  # the tail repeats its last frame


def test_answer_gives_several_moments_as_one_vision_input(video):
    model = FakeApollo()
    info = probe(video)
    first = list(open_frames(video, info, 448).iter_frames([12.25, 12.75, 13.25, 13.75]))
    second = list(open_frames(video, info, 448).iter_frames([2.25, 2.75, 3.25, 3.75]))
    moments = [
        MomentClip(1, video, 12.0, 14.0, first, {"ocr": "LAUNCH PAD"}),
        MomentClip(2, video, 2.0, 4.0, second, {"speech": "the rocket"}),
    ]
    answer = adapter(model).answer("what is on the pad?", moments)
    assert answer.startswith(REPLY)
    [call] = model.calls
    text = prompt_text(call.input_ids[0].tolist())
    assert "series of two, 2 second clips from two numbered moments" in text
    assert "Moment [1] from launch.mp4, 12.0-14.0 s (0:00:02 [H:MM:SS]):\n12.2-13.7 seconds: <V><V><V>" in text
    assert "Moment [2] from launch.mp4, 2.0-4.0 s (0:00:02 [H:MM:SS]):\n2.2-3.7 seconds: <V><V><V>" in text
    assert "Known text: ocr: LAUNCH PAD" in text and "Question: what is on the pad?" in text
    [[siglip, internvideo]] = call.vision_input  # ONE vision input: both moments' clips, in prompt order
    assert siglip.shape[0] == internvideo.shape[0] == 2


def test_a_moment_without_frames_is_answered_from_its_texts_beside_the_others(video):
    model = FakeApollo()
    info = probe(video)
    frames = list(open_frames(video, info, 448).iter_frames([12.25, 12.75, 13.25, 13.75]))
    moments = [
        MomentClip(1, video, 12.0, 14.0, frames, {"ocr": "LAUNCH PAD"}),
        MomentClip(2, video, 30.0, 32.0, [], {"speech": "gone"}),
    ]
    adapter(model).answer("what?", moments)
    text = prompt_text(model.calls[0].input_ids[0].tolist())
    assert "Moment [2] from launch.mp4, 30.0-32.0 s (0:00:02 [H:MM:SS]):\n(no frames)\nKnown text: speech: gone" in text
    with pytest.raises(ModelError, match="none of the moments"):
        adapter(FakeApollo()).answer("what?", moments[1:])


def test_the_models_own_prints_go_to_the_log_not_stdout(video, capsys, caplog):
    caplog.set_level("INFO", logger="vidsearch.models.apollo")
    adapter(FakeApollo()).caption([window_clip(video, Window(0, 0.0, 4.0))])
    with model_prints_to_log():
        print("loading: vision_tower/siglip")
    assert capsys.readouterr().out == ""
    assert "apollo: loading: vision_tower/siglip" in caplog.text and "apollo: generating..." in caplog.text


@pytest.mark.parametrize(
    "version, supported",
    [
        ("4.42.4", False),
        ("4.43.0", True),
        ("4.44.2", True),
        ("4.44.0.dev0", True),
        ("4.45.0", False),
        ("4.48.3", False),
        ("4.57.1", False),
        ("5.0.0", False),
        ("5.24.0", False),
    ],
)
def test_the_version_check_accepts_only_what_apollos_code_loads_on(version, supported):
    if supported:
        check_apollo_environment(version, accelerate=True)
    else:
        with pytest.raises(ModelError, match=r"only on transformers 4\.43\.x-4\.44\.x.*scripts/setup\.sh --apollo"):
            check_apollo_environment(version, accelerate=True)


def test_a_missing_accelerate_is_named_before_loading():
    with pytest.raises(ModelError, match=r"needs the accelerate package.*vidsearch\[apollo\]"):
        check_apollo_environment("4.44.2", accelerate=False)


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


def test_an_unsupported_transformers_is_refused_before_loading(tmp_path, monkeypatch):
    import transformers

    monkeypatch.setattr(transformers, "__version__", "4.46.0")  # a release whose loading fails late
    good = _snapshot(tmp_path / "good", APOLLO_CONFIG)
    with pytest.raises(ModelError, match=r"has transformers 4\.46\.0: run Apollo from its own environment"):
        load_apollo(str(good), Settings(device="cpu", captioner_allow_cpu=True))


def test_this_environments_transformers_is_judged_truthfully():
    import transformers
    from packaging.version import Version

    if Version(transformers.__version__).release[:2] in {(4, 43), (4, 44)}:  # Apollo's own environment
        check_apollo_environment()
    else:  # vidsearch's main environment (transformers 5)
        with pytest.raises(ModelError, match=f"has transformers {transformers.__version__}"):
            check_apollo_environment()


def _snapshot_config_class():
    """The test snapshot's own config class (tests/models/apollo_remote, the remote code a load runs)."""
    import importlib.util
    from pathlib import Path

    source = Path(__file__).parent / "apollo_remote" / "configuration_apollo.py"
    spec = importlib.util.spec_from_file_location("test_apollo_snapshot_configuration", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ApolloConfig


@pytest.mark.parametrize(
    "change",
    [{}, {"clip_duration": 4, "frames_per_clip": 8}, {"clip_duration": 1}, {"frames_per_clip": None}],
    ids=["as-built", "8-per-4s", "1s-clips", "no-frames-per-clip"],
)
def test_the_frame_plan_read_from_the_config_is_the_adapters_rate(tmp_path, monkeypatch, change):
    """The caption frame plan reads the snapshot's config.json as plain JSON (no weights, no remote code)
    and must give the rate the loaded adapter samples at. Without the Apollo environment (transformers
    4.44, tests/apollo_env/ loads the snapshot for real) the adapter is built here over the test
    double's model holding the config as the snapshot's own config class parses it."""
    from tests.models.tiny_apollo_config import tiny_apollo_config
    from vidsearch.models import base
    from vidsearch.models.apollo import planned_sample_fps
    from vidsearch.models.loader import ModelSet

    config = {k: v for k, v in {**tiny_apollo_config("tiny-random-apollo"), **change}.items() if v is not None}
    folder = _snapshot(tmp_path / "tiny-random-apollo", config)
    model = FakeApollo()
    model.config = _snapshot_config_class().from_pretrained(str(folder))
    loaded = adapter(model)

    settings = Settings(captioner="apollo", captioner_model=str(folder), caption_max_side=336)
    assert planned_sample_fps(settings) == loaded.sample_fps
    built: list[Settings] = []  # test double (spy) for the registry's factory: no model may be built

    def spy(s):
        built.append(s)
        raise AssertionError("the plan must not load Apollo")

    monkeypatch.setitem(base.captioners._factories, "apollo", spy)
    plan = ModelSet(settings).caption_frame_plan
    assert plan == base.CaptionFramePlan(loaded.sample_fps, 336) and built == []


def test_a_snapshot_whose_config_cannot_say_is_loaded_to_learn_its_rate(tmp_path):
    """No readable config.json: the plan falls back to loading, which says what is wrong."""
    from vidsearch.errors import ModelLoadError
    from vidsearch.models.apollo import planned_sample_fps
    from vidsearch.models.loader import ModelSet

    missing = Settings(captioner="apollo", captioner_model=str(tmp_path / "nope"), device="cpu")
    assert planned_sample_fps(missing) is None
    with pytest.raises(ModelLoadError, match="does not exist"):
        _ = ModelSet(missing).caption_frame_plan
    no_rate = _snapshot(tmp_path / "no-rate", APOLLO_CONFIG)  # an Apollo config without clip_duration
    assert planned_sample_fps(Settings(captioner="apollo", captioner_model=str(no_rate))) is None
