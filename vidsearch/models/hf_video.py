"""Transformers-native video language models as Captioner and VideoAnswerer: Qwen2.5-VL, Qwen3-VL,
SmolVLM / SmolVLM2, LLaVA-OneVision, InternVL3 (-hf), ... loaded with AutoProcessor and
AutoModelForImageTextToText, no remote code.

A window's decoded frames go to the model as ONE VIDEO when its processor has a video processor and its
chat template places videos (Qwen2.5-VL, SmolVLM2, LLaVA-OneVision): the form these models were trained
on for video, at their video token budget (Qwen merges two frames per temporal patch and encodes their
times; LLaVA-OneVision pools each frame 2x2; SmolVLM2 does not split frames into tiles). The frames'
times travel in the video's metadata; a processor that writes them into the prompt itself (SmolVLM2:
"Frame from MM:SS:") is found by a probe at load, and for the others the prompt names them.

Otherwise (an image-text model, or a processor without a video path) the frames go in as timestamped
images: "You are provided the following series of N frames from a H:MM:SS [H:MM:SS] video." then
"Frame from MM:SS:" before each frame (the form SmolVLM2's own video prompt takes)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelError, ModelNotFoundError
from vidsearch.models.apollo import number_in_words
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

# Captions of two prompt versions never mix. .2: video-capable models see a window as one video.
PROMPT_VERSION = f"hf-video-{PROMPTS_VERSION}.2"
# A clip's video metadata counts its frames on a millisecond grid: frame i is at frames_indices[i] / fps.
TICKS_PER_SECOND = 1000


def even_subset(frames: Sequence[SampledFrame], limit: int) -> list[SampledFrame]:
    if len(frames) <= limit:
        return list(frames)
    keep = np.linspace(0, len(frames) - 1, limit).round().astype(int)
    return [frames[i] for i in keep]


def _stamp(seconds: float) -> str:
    minutes, secs = divmod(max(0, int(seconds)), 60)
    return f"{minutes:02d}:{secs:02d}"


def _series(frames: Sequence[SampledFrame], duration: float) -> str:
    return (
        f"You are provided the following series of {number_in_words(len(frames))} frames from a "
        f"{timedelta(seconds=round(duration))} [H:MM:SS] video"
    )


def frames_content(frames: Sequence[SampledFrame], origin: float, duration: float) -> list[dict[str, str]]:
    """Chat-template content for a clip given as images: the intro line, then a timestamp before each frame."""
    content = [{"type": "text", "text": f"{_series(frames, duration)}.\n"}]
    for frame in frames:
        content += [{"type": "text", "text": f"\nFrame from {_stamp(frame.time - origin)}:"}, {"type": "image"}]
    content.append({"type": "text", "text": "\n\n"})
    return content


def video_intro(frames: Sequence[SampledFrame], origin: float, duration: float) -> str:
    """What a prompt says of a clip given as a video when the processor does not write the frame times."""
    stamps = [_stamp(f.time - origin) for f in frames]
    at = stamps[0] if len(stamps) == 1 else f"{', '.join(stamps[:-1])} and {stamps[-1]}"
    return f"{_series(frames, duration)}, at {at}:\n"


def clip_metadata(frames: Sequence[SampledFrame], origin: float, duration: float, span: float) -> Any:
    """The VideoMetadata of a clip's frames: their times (from `origin`) and the video's `duration` for
    the prompt, and their sampling rate over `span` seconds (Qwen's temporal positions use it)."""
    from transformers.video_utils import VideoMetadata

    height, width = frames[0].image.shape[:2]
    return VideoMetadata(
        total_num_frames=max(1, round(span * TICKS_PER_SECOND)),  # so the sampled fps is len(frames) / span
        fps=TICKS_PER_SECOND,
        width=width,
        height=height,
        duration=duration,
        frames_indices=[round(max(0.0, f.time - origin) * TICKS_PER_SECOND) for f in frames],
    )


@dataclass
class Prompt:
    """One user turn: chat-template content, and the pictures and videos its placeholders stand for."""

    content: list[dict[str, str]] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    videos: list[tuple[np.ndarray, Any]] = field(default_factory=list)  # (T x H x W x 3, VideoMetadata)


@dataclass(frozen=True)
class VideoInput:
    """How a processor takes a clip as a video; None (see `probe_video_input`) means as images."""

    writes_times: bool  # its prompt names the frames' times itself (SmolVLM2's "Frame from MM:SS:")


def _visual_inputs(prompts: Sequence[Prompt]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    images = [p.images for p in prompts]
    if any(images):
        kwargs["images"] = images
    videos = [video for p in prompts for video in p.videos]
    if videos:
        # The frames are already sampled: the processor must take every one of them, as they are.
        kwargs.update(videos=[v for v, _ in videos], video_metadata=[m for _, m in videos], do_sample_frames=False)
    return kwargs


def probe_video_input(processor: Any) -> VideoInput | None:
    """Whether the processor takes a clip as one video (it has a video processor and its chat template
    places a video) and whether it writes the frames' times into the prompt: the same two-frame clip is
    expanded with its frames 1 s and 10 s apart, and the prompts compared."""
    token = getattr(processor, "video_token", None)
    if getattr(processor, "video_processor", None) is None or not token:
        return None
    from vidsearch.media.frames import SampledFrame

    content = [{"type": "video"}, {"type": "text", "text": "?"}]
    try:
        text = processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        if token not in text:
            return None
        expanded = []
        for spacing in (1.0, 10.0):
            frames = [SampledFrame(i * spacing, np.zeros((64, 64, 3), np.uint8)) for i in range(2)]
            video = (np.stack([f.image for f in frames]), clip_metadata(frames, 0.0, 2 * spacing, 2 * spacing))
            inputs = processor(text=[text], **_visual_inputs([Prompt(videos=[video])]), return_tensors="pt")
            expanded.append(inputs["input_ids"][0].tolist())
    except Exception as exc:  # a broken video path must not stop captioning: frames go in as images
        log.warning(
            "the processor's video input does not work (%s: %s); frames go in as images", type(exc).__name__, exc
        )
        return None
    return VideoInput(writes_times=expanded[0] != expanded[1])


class TransformersVideoLM:
    def __init__(
        self,
        model: Any,
        processor: Any,
        spec: ModelSpec,
        *,
        device: str,
        sample_fps: float = 1.0,
        max_frames: int = 8,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        batch_size: int = 4,
        video_input: VideoInput | None = None,
    ) -> None:
        if getattr(processor, "chat_template", None) is None:
            raise ModelError(f"{spec.model_id} has no chat template: it is not an instruction-tuned model")
        self.model, self.processor, self.spec = model, processor, spec
        self.device = device
        self.sample_fps, self.max_frames = sample_fps, max_frames
        self.max_new_tokens, self.temperature, self.batch_size = max_new_tokens, temperature, batch_size
        self.video_input = video_input

    def caption(self, clips: Sequence[WindowClip]) -> list[Caption]:
        return captions_with_backoff(clips, self.batch_size, self._caption_batch)

    def caption_prompt(self, clip: WindowClip) -> Prompt:
        frames = even_subset(clip.frames, self.max_frames)
        if not frames:
            raise ModelError(f"{clip.video_path}: window {clip.window.index} has no frames to caption")
        prompt = Prompt()
        self._add_clip(prompt, frames, clip.window.start, clip.window.duration, clip.window.duration)
        prompt.content.append({"type": "text", "text": CAPTION_PROMPT})
        return prompt

    def _caption_batch(self, clips: list[WindowClip]) -> list[str]:
        return self.generate([self.caption_prompt(clip) for clip in clips])

    def answer_prompt(self, question: str, moments: Sequence[MomentClip]) -> Prompt:
        prompt = Prompt()
        per_moment = max(1, self.max_frames // max(1, len(moments)))
        if self.video_input is not None:  # one processor call takes videos of one length (see `generate`)
            per_moment = min([per_moment] + [len(m.frames) for m in moments if m.frames])
        for moment in moments:
            frames = even_subset(moment.frames, per_moment)
            known = "; ".join(f"{kind}: {text}" for kind, text in moment.texts.items())
            header = (
                f"Moment [{moment.number}] from {moment.video_path.name}, "
                f"{moment.start:.1f}-{moment.end:.1f} s. Known text: {known}\n"
            )
            if frames and self.video_input is not None and not self.video_input.writes_times:
                # A chat template may place every video before the texts (LLaVA-OneVision's does):
                # the number ties a video to its moment.
                header += f"Its frames are video {len(prompt.videos) + 1}.\n"
            prompt.content.append({"type": "text", "text": header})
            if frames:  # absolute timestamps
                self._add_clip(prompt, frames, 0.0, moment.end, moment.end - moment.start)
        prompt.content.append({"type": "text", "text": f"Question: {question}\n{ANSWER_PROMPT}"})
        return prompt

    def answer(self, question: str, moments: Sequence[MomentClip]) -> str:
        prompt = self.answer_prompt(question, moments)
        [result] = run_with_backoff([0], 1, lambda _: self.generate([prompt]))
        if isinstance(result, ItemFailure):
            raise ModelError(f"{self.spec.model_id}: {result.reason}")
        return result

    def _add_clip(
        self, prompt: Prompt, frames: Sequence[SampledFrame], origin: float, duration: float, span: float
    ) -> None:
        """A clip's frames into the prompt: as one video, or as timestamped images."""
        if self.video_input is None:
            prompt.content += frames_content(frames, origin, duration)
            prompt.images += [f.image for f in frames]
            return
        if not self.video_input.writes_times:
            prompt.content.append({"type": "text", "text": video_intro(frames, origin, duration)})
        prompt.content.append({"type": "video"})
        if not self.video_input.writes_times:
            prompt.content.append({"type": "text", "text": "\n\n"})
        metadata = clip_metadata(frames, origin, duration, span)
        prompt.videos.append((np.stack([f.image for f in frames]), metadata))

    def render(self, prompt: Prompt) -> str:
        """The prompt's text as the model's chat template writes it (placeholders not yet expanded)."""
        return str(
            self.processor.apply_chat_template(
                [{"role": "user", "content": prompt.content}], add_generation_prompt=True, tokenize=False
            )
        )

    def generate(self, prompts: list[Prompt]) -> list[str]:
        """One generation per prompt. Prompts whose videos have different numbers of frames go to the
        processor in separate calls: LLaVA-OneVision's video processor cannot stack such videos, and
        SmolVLM's pads the shorter ones and then counts the padding frames in their prompts."""
        groups: dict[int, list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(max((len(v) for v, _ in prompt.videos), default=0), []).append(i)
        texts = [""] * len(prompts)
        for rows in groups.values():
            for i, text in zip(rows, self._generate([prompts[i] for i in rows]), strict=True):
                texts[i] = text
        return texts

    def encode(self, prompts: list[Prompt]) -> Any:
        """The model's inputs for prompts of one video length: the chat template's text with every
        picture and video expanded into its tokens by the processor, left-padded, on the device."""
        texts = [self.render(prompt) for prompt in prompts]
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        tokenizer.padding_side = "left"  # every row's generation starts right after its own prompt
        inputs = self.processor(text=texts, **_visual_inputs(prompts), return_tensors="pt", padding=True)
        return inputs.to(self.device)

    def _generate(self, prompts: list[Prompt]) -> list[str]:
        import torch

        inputs = self.encode(prompts)
        sampling = (
            {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {"do_sample": False}
        )
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, **sampling)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]


def load_transformers_video_lm(model_ref: str, settings: Settings) -> TransformersVideoLM:
    if not model_ref:
        raise ConfigError(
            "the hf-video captioner needs --captioner-model: a local folder or a hub id "
            "(e.g. HuggingFaceTB/SmolVLM2-2.2B-Instruct, Qwen/Qwen2.5-VL-3B-Instruct)"
        )
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = Path(model_ref).expanduser()
    local = path.is_dir()
    if not local and model_ref.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model folder {model_ref} does not exist")
    location = str(path) if local else model_ref
    device = resolve_device(settings.device)
    if device != "cuda" and not settings.captioner_allow_cpu:
        raise ModelError(
            "video language models need a CUDA GPU; set VIDSEARCH_CAPTIONER_ALLOW_CPU=true to run "
            "one on the CPU anyway (slow)"
        )
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    attention = "flash_attention_2" if device == "cuda" and importlib.util.find_spec("flash_attn") else "sdpa"
    try:
        processor = AutoProcessor.from_pretrained(location, local_files_only=local)
        model = AutoModelForImageTextToText.from_pretrained(
            location, dtype=dtype, attn_implementation=attention, local_files_only=local
        )
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load video language model {location!r}: {exc}") from exc
    except (ImportError, AttributeError) as exc:
        reason = " ".join(str(exc).split())  # transformers' message spans several lines
        raise ModelError(
            f"cannot build the processor of {location!r} ({reason}); its image or video processor may need "
            "torchvision: pip install the torchvision build that matches your torch"
        ) from exc
    model = model.to(device).eval()  # type: ignore[arg-type]  # transformers stub quirk
    revision = local_revision(path) if local else str(getattr(model.config, "_commit_hash", None) or "hub")
    video_input = probe_video_input(processor)
    spec = ModelSpec(
        kind="captioner",
        name="hf-video",
        model_id=path.name if local else model_ref,
        revision=revision,
        settings={
            "prompt_version": PROMPT_VERSION,
            "fps": settings.caption_fps,
            "max_frames": settings.caption_max_frames,
            "max_new_tokens": settings.caption_max_new_tokens,
            "temperature": settings.caption_temperature,
            "dtype": str(dtype),
            "attention": attention,
            "frames_as": "images" if video_input is None else "video",
        },
    )
    log.info(
        "loaded %s (%s) on %s; frames go in as %s",
        spec.model_id,
        model.__class__.__name__,
        device,
        spec.settings["frames_as"],
    )
    return TransformersVideoLM(
        model,
        processor,
        spec,
        device=device,
        sample_fps=settings.caption_fps,
        max_frames=settings.caption_max_frames,
        max_new_tokens=settings.caption_max_new_tokens,
        temperature=settings.caption_temperature,
        batch_size=settings.caption_batch_size,
        video_input=video_input,
    )


def planned_sample_fps(settings: Settings) -> float:
    """The adapter samples at the configured rate whatever the model (its frames go in as sampled)."""
    return settings.caption_fps


CAPTION_PROMPT_VERSIONS["hf-video"] = PROMPT_VERSION
CAPTION_SAMPLE_RATES["hf-video"] = planned_sample_fps


@captioners.register("hf-video")
def _hf_video(settings: Settings) -> TransformersVideoLM:
    return load_transformers_video_lm(settings.captioner_model, settings)
