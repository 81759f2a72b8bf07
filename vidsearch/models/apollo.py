"""Apollo (Meta, arXiv 2412.10360) as a Captioner and VideoAnswerer.

Apollo's weights and model code exist only as Hugging Face snapshots a user has on disk; it is loaded
with trust_remote_code, and its inputs are built here, following the released format:
- frames at 2 fps inside clips of `config.clip_duration` seconds (4 frames each);
- every frame padded to a centred square filled with each vision processor's mean colour, then run
  through both processors (SigLIP and InternVideo2), stacked per clip;
- a preamble "You are provided the following series of {N in words}, {d} second clips from a
  {H:MM:SS} [H:MM:SS] video." and one line per clip "{start:.1f}-{end:.1f} seconds: " followed by
  `num_output_tokens` placeholders, lines joined by ",\\n"; each placeholder becomes token id -200;
- a ChatML conversation; generation stops at <|im_end|>.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelError, ModelNotFoundError
from vidsearch.models.base import CAPTION_PROMPT_VERSIONS, Caption, ModelSpec, MomentClip, WindowClip, captioners
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
PROMPT_VERSION = f"apollo-{PROMPTS_VERSION}"  # captions of two prompt versions never mix
SNAPSHOT_PARTS = ("llm", "vision_tower", "mm_connector")


@dataclass(frozen=True)
class ApolloClip:
    start: float  # seconds, as labelled in the prompt
    end: float
    frames: np.ndarray  # (frames_per_clip, H, W, 3) uint8


def number_in_words(n: int) -> str:
    from num2words import num2words

    return str(num2words(n))


def group_into_clips(
    frames: Sequence[SampledFrame], origin: float, clip_duration: float, frames_per_clip: int, max_clips: int
) -> list[ApolloClip]:
    """Consecutive runs of frames_per_clip frames (sampled at frames_per_clip / clip_duration fps) become
    clips; beyond max_clips, clips are spaced evenly and each keeps its own frame rate. Labels are
    seconds from `origin`."""
    if not frames:
        return []
    frames = list(frames)
    while len(frames) % frames_per_clip:  # a short tail: repeat its last frame, as the released loader does
        frames.append(frames[-1])
    groups = [frames[i : i + frames_per_clip] for i in range(0, len(frames), frames_per_clip)]
    if len(groups) > max_clips:
        keep = np.linspace(0, len(groups) - 1, max_clips).round().astype(int)
        groups = [groups[i] for i in keep]
    half_step = clip_duration / frames_per_clip / 2
    clips = []
    for group in groups:
        start = max(0.0, group[0].time - half_step - origin)
        clips.append(ApolloClip(start, start + clip_duration, np.stack([f.image for f in group])))
    return clips


def clip_lines(clips: Sequence[ApolloClip], num_tokens: int) -> str:
    return ",\n".join(f"{c.start:.1f}-{c.end:.1f} seconds: {VIDEO_TOKEN * num_tokens}" for c in clips)


def video_preamble(clips: Sequence[ApolloClip], clip_duration: float, duration: float) -> str:
    length = timedelta(seconds=round(duration))
    return (
        f"You are provided the following series of {number_in_words(len(clips))}, {clip_duration:g} second clips "
        f"from a {length} [H:MM:SS] video.\n"
    )


def chat(user: str) -> str:
    return (
        f"<|im_start|>system\n{SYSTEM_PROMPT}{END_OF_TURN}\n<|im_start|>user\n{user}{END_OF_TURN}\n"
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
        self.frames_per_clip = int(getattr(config, "frames_per_clip", 4) or 4)
        self.num_tokens = int(config.mm_connector_cfg["num_output_tokens"])
        # The released examples keep video tokens under model_max_length x 0.65.
        self.max_clips = max(1, int(config.model_max_length * clip_sampling_ratio // self.num_tokens))
        self.sample_fps = self.frames_per_clip / self.clip_duration

    # --- Captioner ------------------------------------------------------------------------------
    def caption(self, clips: Sequence[WindowClip]) -> list[Caption]:
        return captions_with_backoff(clips, self.batch_size, self._caption_batch)

    def _caption_batch(self, clips: list[WindowClip]) -> list[str]:
        prompts, videos = [], []
        for clip in clips:
            window = clip.window
            apollo_clips = group_into_clips(
                clip.frames, window.start, self.clip_duration, self.frames_per_clip, self.max_clips
            )
            if not apollo_clips:
                raise ModelError(f"{clip.video_path}: window {window.index} has no frames to caption")
            text = video_preamble(apollo_clips, self.clip_duration, window.duration)
            text += clip_lines(apollo_clips, self.num_tokens) + "\n\n" + CAPTION_PROMPT
            prompts.append(chat(text))
            videos.append([self.vision_tensors(apollo_clips)])
        return self.generate(prompts, videos)

    # --- VideoAnswerer --------------------------------------------------------------------------
    def answer(self, question: str, moments: Sequence[MomentClip]) -> str:
        sections, tensors = [], []
        for moment in moments:
            # Absolute times: the answer is grounded in where the moment lies in its video.
            apollo_clips = group_into_clips(
                moment.frames,
                0.0,
                self.clip_duration,
                self.frames_per_clip,
                max(1, self.max_clips // max(1, len(moments))),
            )
            known = "; ".join(f"{kind}: {text}" for kind, text in moment.texts.items())
            header = f"Moment [{moment.number}] from {moment.video_path.name}, {moment.start:.1f}-{moment.end:.1f} s."
            if not apollo_clips:
                sections.append(f"{header} (no frames) {known}")
                continue
            sections.append(
                f"{header}\n{video_preamble(apollo_clips, self.clip_duration, moment.end)}"
                f"{clip_lines(apollo_clips, self.num_tokens)}\nKnown text: {known}"
            )
            tensors.append(self.vision_tensors(apollo_clips))
        prompt = chat("\n\n".join(sections) + f"\n\nQuestion: {question}\n{ANSWER_PROMPT}")
        results = run_with_backoff([0], 1, lambda _: self.generate([prompt], [tensors]))
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

    def generate(self, prompts: list[str], videos: list[list[list[Any]]]) -> list[str]:
        """prompts[i] holds len(videos[i]) videos' placeholders; returns the text up to <|im_end|>."""
        import torch

        rows = [tokenize(self.tokenizer, p) for p in prompts]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(len(r) for r in rows)
        # Left padding: every row's generation starts right after its own prompt.
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        vision = [video for per_prompt in videos for video in per_prompt]
        with torch.inference_mode():
            output = self.model.generate(
                input_ids,
                attention_mask=attention,
                vision_input=vision,
                data_types=["video"] * len(vision),
                do_sample=self.temperature > 0,
                temperature=self.temperature if self.temperature > 0 else None,
                top_p=self.top_p if self.temperature > 0 else None,
                max_new_tokens=self.max_new_tokens,
                use_cache=True,
            )
        # Apollo generates from input embeddings, so the output holds only the new tokens.
        texts = self.tokenizer.batch_decode(output, skip_special_tokens=False)
        return [t.split(END_OF_TURN)[0].replace("<|endoftext|>", "").strip() for t in texts]


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
    check_remote_code_compatibility()
    import torch
    from transformers import AutoModelForCausalLM

    attention = "flash_attention_2" if device == "cuda" and importlib.util.find_spec("flash_attn") else "sdpa"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    log.info("loading Apollo from %s (%s, %s)", path, attention, dtype)
    model = AutoModelForCausalLM.from_pretrained(
        str(path), trust_remote_code=True, low_cpu_mem_usage=True, attn_implementation=attention
    )
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


def check_remote_code_compatibility() -> None:
    """Apollo's published model code imports transformers internals that later releases moved."""
    import importlib

    import transformers

    needed = {"transformers.modeling_utils": "no_init_weights", "transformers.utils": "ContextManagers"}
    missing = [
        f"{module}.{name}" for module, name in needed.items() if not hasattr(importlib.import_module(module), name)
    ]
    if missing:
        raise ModelError(
            f"Apollo's model code cannot run on transformers {transformers.__version__} (it lacks "
            f"{', '.join(missing)}). Run Apollo in its own environment with transformers==4.44.2, e.g. a "
            "separate virtualenv for the indexer."
        )


CAPTION_PROMPT_VERSIONS["apollo"] = PROMPT_VERSION


@captioners.register("apollo")
def _apollo(settings: Settings) -> ApolloVideoLM:
    return load_apollo(settings.captioner_model, settings)
