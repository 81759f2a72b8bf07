"""Apollo (Meta, arXiv 2412.10360) as a Captioner and VideoAnswerer.

Apollo's weights and model code exist only as Hugging Face snapshots a user has on disk; it is loaded
with trust_remote_code, and its inputs are built here, following the released loader and conversation
format (facts in ../shared/notes/apollo.md, checked against the published code):
- ceil(duration / clip_duration x 0.65) clips spread over the material, each centred in its share,
  each of 4 frames 0.5 s apart (2 fps); more clips than the token budget allows are spaced out;
- every frame padded to a centred square filled with each vision processor's mean colour, then run
  through both processors (SigLIP and InternVideo2), stacked per clip;
- a preamble "You are provided the following series of {N in words}, {d} second clips from a
  {duration} [H:MM:SS] video." (the unrounded duration, as released) and one line per clip
  "{first:.1f}-{last:.1f} seconds: " (its first and last sampled frame times) followed by
  `num_output_tokens` placeholders, lines joined by ",\\n"; each placeholder becomes token id -200;
- the "qwen_2" ChatML conversation, whose system turn has a blank line after the role; generation
  stops at <|im_end|>.
A caption's "video" is its window, so the preamble states the window's length: that is what the model
sees. Answers take every retrieved moment as ONE vision input (their clips concatenated in prompt
order, labelled with times in their own videos), because the model pairs each prompt with exactly one
vision input.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelError, ModelNotFoundError
from vidsearch.models.base import (
    CAPTION_PROMPT_VERSIONS,
    CAPTION_SAMPLE_RATES,
    Caption,
    ModelSpec,
    MomentClip,
    WindowClip,
    captioners,
)
from vidsearch.models.batching import ItemFailure, captions_with_backoff, run_with_backoff
from vidsearch.models.device import resolve_device
from vidsearch.models.prompts import ANSWER_PROMPT, CAPTION_PROMPT, PROMPTS_VERSION
from vidsearch.models.resolve import local_revision

if TYPE_CHECKING:  # annotations only: importing media.frames loads PyAV
    from vidsearch.media.frames import SampledFrame

log = logging.getLogger(__name__)

VIDEO_TOKEN = "<|video_token|>"
VIDEO_TOKEN_INDEX = -200
END_OF_TURN = "<|im_end|>"
SYSTEM_PROMPT = "You are a helpful vision-language assistant."
# Captions of two prompt versions never mix; ".2": the released clip sampling, labels and system turn.
PROMPT_VERSION = f"apollo-{PROMPTS_VERSION}.2"
SNAPSHOT_PARTS = ("llm", "vision_tower", "mm_connector")
FRAMES_PER_CLIP = 4  # the released loader's, when a config names none


def clip_sample_fps(frames_per_clip: int, clip_duration: float) -> float:
    """The rate frames are sampled at inside a clip: the released 4 frames per 2-s clip are 2 fps."""
    return frames_per_clip / clip_duration


def planned_sample_fps(settings: Settings) -> float | None:
    """The snapshot's frame rate from its config.json read as plain JSON (no weights, no remote code),
    so workers that only decode frames need not load the model; None when the config cannot say (then
    loading the snapshot does, or says what is wrong with it)."""
    if not settings.captioner_model:
        return None
    config_file = Path(settings.captioner_model).expanduser() / "config.json"
    try:
        config = json.loads(config_file.read_text())
        clip_duration = float(config["clip_duration"])
        frames_per_clip = int(config.get("frames_per_clip", FRAMES_PER_CLIP) or FRAMES_PER_CLIP)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.debug("no frame rate from %s without loading Apollo: %r", config_file, exc)
        return None
    return clip_sample_fps(frames_per_clip, clip_duration) if clip_duration > 0 else None


@dataclass(frozen=True)
class ApolloClip:
    start: float  # seconds of its first and last sampled frame, as labelled in the prompt
    end: float
    frames: np.ndarray  # (frames_per_clip, H, W, 3) uint8


def number_in_words(n: int) -> str:
    from num2words import num2words

    return str(num2words(n))


def group_into_clips(
    frames: Sequence[SampledFrame],
    origin: float,
    duration: float,
    clip_duration: float,
    frames_per_clip: int,
    max_clips: int,
    sampling_ratio: float = 0.65,
) -> list[ApolloClip]:
    """The released loader's clips over frames sampled at frames_per_clip / clip_duration fps:
    ceil(duration / clip_duration x sampling_ratio) clips (at most max_clips), each the run of
    frames_per_clip consecutive frames centred nearest the middle of its equal share of the material.
    Labels are the first and last frame's seconds from `origin`."""
    if not frames:
        return []
    frames = sorted(frames, key=lambda f: f.time)
    wanted = max(1, min(max_clips, math.ceil(duration / clip_duration * sampling_ratio - 1e-9)))
    share = duration / wanted
    last_start = max(0, len(frames) - frames_per_clip)
    clips: list[ApolloClip] = []
    taken: set[int] = set()
    for k in range(wanted):
        centre = origin + (k + 0.5) * share
        first = min(
            range(last_start + 1),
            key=lambda i: abs(float(np.mean([f.time for f in frames[i : i + frames_per_clip]])) - centre),
        )
        if first in taken:  # fewer frames than clips: a run is given once
            continue
        taken.add(first)
        group = list(frames[first : first + frames_per_clip])
        end_time = group[-1].time
        while len(group) < frames_per_clip:  # a short tail repeats its last frame, as the released loader does
            group.append(group[-1])
        clips.append(ApolloClip(group[0].time - origin, end_time - origin, np.stack([f.image for f in group])))
    return clips


def clip_lines(clips: Sequence[ApolloClip], num_tokens: int) -> str:
    return ",\n".join(f"{c.start:.1f}-{c.end:.1f} seconds: {VIDEO_TOKEN * num_tokens}" for c in clips)


def video_preamble(clips: Sequence[ApolloClip], clip_duration: float, duration: float) -> str:
    length = timedelta(seconds=duration)  # unrounded, as the released loader prints it
    return (
        f"You are provided the following series of {number_in_words(len(clips))}, {clip_duration:g} second clips "
        f"from a {length} [H:MM:SS] video.\n"
    )


def chat(user: str) -> str:
    """The "qwen_2" conversation as released: note the blank line after the system role."""
    return (
        f"<|im_start|>system\n\n{SYSTEM_PROMPT}{END_OF_TURN}\n<|im_start|>user\n{user}{END_OF_TURN}\n"
        "<|im_start|>assistant\n"
    )


def tokenize(tokenizer: Any, prompt: str) -> list[int]:
    """Token ids of the prompt with each video placeholder as the single id -200."""
    ids: list[int] = []
    for i, chunk in enumerate(prompt.split(VIDEO_TOKEN)):
        if i:
            ids.append(VIDEO_TOKEN_INDEX)
        if chunk:
            ids.extend(tokenizer(chunk, add_special_tokens=False).input_ids)
    return ids


def pad_to_square(frames: np.ndarray, fill: Sequence[int]) -> np.ndarray:
    """(N, H, W, 3) frames centred on square canvases of the fill colour."""
    n, height, width, channels = frames.shape
    side = max(height, width)
    canvas = np.empty((n, side, side, channels), dtype=frames.dtype)
    canvas[...] = np.asarray(fill, dtype=frames.dtype)
    top, left = (side - height) // 2, (side - width) // 2
    canvas[:, top : top + height, left : left + width] = frames
    return canvas


class _StdoutToLog(io.TextIOBase):
    """Apollo's remote code prints progress while it loads; those lines become log records so that
    standard output stays the command's own (e.g. `--json`)."""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                log.info("apollo: %s", line.rstrip())
        return len(text)


def model_prints_to_log() -> contextlib.AbstractContextManager[Any]:
    return contextlib.redirect_stdout(_StdoutToLog())


class ApolloVideoLM:
    """Wraps a loaded Apollo model (anything honouring its interface: .tokenizer,
    .vision_tower.vision_processor, .config, generate(input_ids, vision_input=..., data_types=...))."""

    def __init__(
        self,
        model: Any,
        spec: ModelSpec,
        *,
        device: str,
        dtype: Any,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 0.7,
        batch_size: int = 4,
        clip_sampling_ratio: float = 0.65,
    ) -> None:
        self.model = model
        self.spec = spec
        self.device, self.dtype = device, dtype
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.batch_size = batch_size
        config = model.config
        self.tokenizer = model.tokenizer
        self.processors = list(model.vision_tower.vision_processor)
        self.clip_duration = float(config.clip_duration)
        self.frames_per_clip = int(getattr(config, "frames_per_clip", FRAMES_PER_CLIP) or FRAMES_PER_CLIP)
        self.num_tokens = int(config.mm_connector_cfg["num_output_tokens"])
        self.clip_sampling_ratio = clip_sampling_ratio
        # The released examples keep video tokens under model_max_length x 0.65.
        self.max_clips = max(1, int(config.model_max_length * clip_sampling_ratio // self.num_tokens))
        self.sample_fps = clip_sample_fps(self.frames_per_clip, self.clip_duration)
        # The model strips the prompt's padding and re-pads its merged embeddings on the side its LLM's
        # config names, "right" by default: generation after right padding continues from pad
        # positions, so batched rows would differ from the same rows alone. Left, always.
        llm_config = getattr(getattr(model, "llm", None), "config", None)
        if llm_config is not None:
            llm_config.tokenizer_padding_side = "left"

    def _clips(self, frames: Sequence[SampledFrame], origin: float, duration: float, budget: int) -> list[ApolloClip]:
        return group_into_clips(
            frames,
            origin,
            duration,
            self.clip_duration,
            self.frames_per_clip,
            budget,
            self.clip_sampling_ratio,
        )

    # --- Captioner ------------------------------------------------------------------------------
    def caption(self, clips: Sequence[WindowClip]) -> list[Caption]:
        return captions_with_backoff(clips, self.batch_size, self._caption_batch)

    def _caption_batch(self, clips: list[WindowClip]) -> list[str]:
        prompts, videos = [], []
        for clip in clips:
            window = clip.window
            apollo_clips = self._clips(clip.frames, window.start, window.duration, self.max_clips)
            if not apollo_clips:
                raise ModelError(f"{clip.video_path}: window {window.index} has no frames to caption")
            text = video_preamble(apollo_clips, self.clip_duration, window.duration)
            text += clip_lines(apollo_clips, self.num_tokens) + "\n\n" + CAPTION_PROMPT
            prompts.append(chat(text))
            videos.append(self.vision_tensors(apollo_clips))
        return self.generate(prompts, videos)

    # --- VideoAnswerer --------------------------------------------------------------------------
    def answer(self, question: str, moments: Sequence[MomentClip]) -> str:
        budget = max(1, self.max_clips // max(1, len(moments)))
        sections: list[str] = []
        all_clips: list[ApolloClip] = []
        for moment in moments:
            # Times in the moment's own video (origin 0): an answer is grounded in where the moment lies.
            apollo_clips = [
                ApolloClip(c.start + moment.start, c.end + moment.start, c.frames)
                for c in self._clips(moment.frames, moment.start, moment.end - moment.start, budget)
            ]
            all_clips += apollo_clips
            known = "; ".join(f"{kind}: {text}" for kind, text in moment.texts.items())
            header = (
                f"Moment [{moment.number}] from {moment.video_path.name}, {moment.start:.1f}-{moment.end:.1f} s "
                f"({timedelta(seconds=moment.end - moment.start)} [H:MM:SS])"
            )
            lines = clip_lines(apollo_clips, self.num_tokens) if apollo_clips else "(no frames)"
            sections.append(f"{header}:\n{lines}\nKnown text: {known}")
        if not all_clips:
            raise ModelError("Apollo answers from video: none of the moments' files could be decoded")
        preamble = (
            f"You are provided the following series of {number_in_words(len(all_clips))}, {self.clip_duration:g} "
            f"second clips from {number_in_words(len(moments))} numbered moments of video, each clip labelled "
            "with its seconds in its own video.\n"
        )
        prompt = chat(preamble + "\n\n".join(sections) + f"\n\nQuestion: {question}\n{ANSWER_PROMPT}")
        # ONE vision input for the one prompt: the moments' clips concatenated in prompt order.
        results = run_with_backoff([0], 1, lambda _: self.generate([prompt], [self.vision_tensors(all_clips)]))
        if isinstance(results[0], ItemFailure):
            raise ModelError(f"{self.spec.model_id}: {results[0].reason}")
        return results[0]

    # --- shared ---------------------------------------------------------------------------------
    def vision_tensors(self, clips: Sequence[ApolloClip]) -> list[Any]:
        """One tensor per vision processor: each clip's padded frames processed, stacked over clips."""
        import torch

        out = []
        for processor in self.processors:
            fill = tuple(int(x * 255) for x in processor.image_mean)
            per_clip = []
            for clip in clips:
                pixels = processor.preprocess(pad_to_square(clip.frames, fill), return_tensors="pt")["pixel_values"]
                if isinstance(pixels, list):
                    pixels = pixels[0]
                per_clip.append(torch.as_tensor(pixels))
            out.append(torch.stack(per_clip).to(device=self.device, dtype=self.dtype))
        return out

    def generate(self, prompts: list[str], videos: list[list[Any]]) -> list[str]:
        """prompts[i] and its one vision input videos[i] (every clip its placeholders name, in order);
        returns each row's text up to <|im_end|>."""
        import torch

        rows = [tokenize(self.tokenizer, p) for p in prompts]
        for row, video in zip(rows, videos, strict=True):
            placeholders, features = row.count(VIDEO_TOKEN_INDEX), len(video[0]) * self.num_tokens
            if placeholders != features:  # the model asserts the same; say it in our terms first
                raise ModelError(f"prompt has {placeholders} video placeholders for {features} clip features")
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        with torch.inference_mode(), model_prints_to_log():
            output = self.model.generate(
                input_ids,
                attention_mask=attention,
                vision_input=videos,
                data_types=["video"] * len(videos),
                do_sample=self.temperature > 0,
                temperature=self.temperature if self.temperature > 0 else None,
                top_p=self.top_p if self.temperature > 0 else None,
                max_new_tokens=self.max_new_tokens,
                use_cache=True,
            )
        # Apollo generates from input embeddings, so the output holds only the new tokens.
        texts = self.tokenizer.batch_decode(output, skip_special_tokens=False)
        return [t.split(END_OF_TURN)[0].replace("<|endoftext|>", "").strip() for t in texts]


# Apollo's published remote code loads on these transformers releases only: 4.45-4.48 refuse its model
# class at load, 4.50-4.57 fail inside loading, 5.x lacks the internals it imports.
SUPPORTED_TRANSFORMERS = ((4, 43), (4, 44))
APOLLO_ENVIRONMENT_FIX = (
    "run Apollo from its own environment: scripts/setup.sh --apollo makes one (.venv-apollo), or "
    "pip install 'vidsearch[apollo]' into a separate virtualenv"
)


def check_apollo_environment(transformers_version: str | None = None, *, accelerate: bool | None = None) -> None:
    """Refuse up front what Apollo's remote code cannot load on, naming the fix."""
    from packaging.version import Version

    if transformers_version is None:
        import transformers

        transformers_version = transformers.__version__
    if Version(transformers_version).release[:2] not in SUPPORTED_TRANSFORMERS:
        raise ModelError(
            f"Apollo's model code loads only on transformers 4.43.x-4.44.x, and this environment has "
            f"transformers {transformers_version}: {APOLLO_ENVIRONMENT_FIX}"
        )
    if accelerate is None:
        accelerate = importlib.util.find_spec("accelerate") is not None
    if not accelerate:
        raise ModelError(
            f"Apollo's loader needs the accelerate package, which is not installed: {APOLLO_ENVIRONMENT_FIX}"
        )


def load_apollo(snapshot: str, settings: Settings) -> ApolloVideoLM:
    """Load a local Apollo snapshot; every way this can fail says what is wrong and what to do."""
    if not snapshot:
        raise ConfigError("the apollo captioner needs --captioner-model PATH: a local Apollo snapshot folder")
    path = Path(snapshot).expanduser()
    if not path.is_dir():
        raise ModelNotFoundError(f"Apollo snapshot {path} does not exist (Apollo loads only from a local folder)")
    config_file = path / "config.json"
    if not config_file.exists():
        raise ModelNotFoundError(f"{path} is not an Apollo snapshot: it has no config.json")
    config = json.loads(config_file.read_text())
    if "apollo" not in json.dumps(config.get("auto_map", {})).lower() and config.get("model_type") != "apollo":
        raise ModelNotFoundError(f"{path} is not an Apollo snapshot: config.json names no Apollo model class")
    missing = [f"{part}/" for part in SNAPSHOT_PARTS if not (path / part).exists()]
    if missing:
        raise ModelNotFoundError(f"{path} is an incomplete Apollo snapshot: missing {', '.join(missing)}")
    device = resolve_device(settings.device)
    if device != "cuda" and not settings.captioner_allow_cpu:
        raise ModelError(
            "Apollo needs a CUDA GPU; set VIDSEARCH_CAPTIONER_ALLOW_CPU=true to run it on the CPU "
            "anyway (minutes per window)"
        )
    check_apollo_environment()
    import torch
    from transformers import AutoModelForCausalLM

    attention = "flash_attention_2" if device == "cuda" and importlib.util.find_spec("flash_attn") else "sdpa"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    log.info("loading Apollo from %s (%s, %s)", path, attention, dtype)
    try:
        with model_prints_to_log():
            model = AutoModelForCausalLM.from_pretrained(
                str(path), trust_remote_code=True, low_cpu_mem_usage=True, attn_implementation=attention
            )
    except ImportError as exc:  # the snapshot's code imports a package this environment lacks
        raise ModelError(f"Apollo's model code in {path} cannot load here: {exc}") from exc
    model = model.to(device=device, dtype=dtype).eval()  # type: ignore[call-arg]  # transformers stub quirk
    spec = ModelSpec(
        kind="captioner",
        name="apollo",
        model_id=str(config.get("_name_or_path") or path.name),
        revision=local_revision(path),
        settings={
            "prompt_version": PROMPT_VERSION,
            "max_new_tokens": settings.caption_max_new_tokens,
            "temperature": settings.caption_temperature,
            "attention": attention,
            "dtype": str(dtype),
        },
    )
    return ApolloVideoLM(
        model,
        spec,
        device=device,
        dtype=dtype,
        max_new_tokens=settings.caption_max_new_tokens,
        temperature=settings.caption_temperature,
        batch_size=settings.caption_batch_size,
    )


CAPTION_PROMPT_VERSIONS["apollo"] = PROMPT_VERSION
CAPTION_SAMPLE_RATES["apollo"] = planned_sample_fps


@captioners.register("apollo")
def _apollo(settings: Settings) -> ApolloVideoLM:
    return load_apollo(settings.captioner_model, settings)
