"""Transformers-native video language models as Captioner and VideoAnswerer: Qwen2.5-VL, Qwen3-VL,
SmolVLM / SmolVLM2, LLaVA-OneVision, InternVL3 (-hf), ... loaded with AutoProcessor and
AutoModelForImageTextToText, no remote code.

A window's decoded frames go to the model's own processor and chat template as timestamped images:
"You are provided the following series of N frames from a H:MM:SS [H:MM:SS] video." then
"Frame from MM:SS:" before each frame (the form SmolVLM2's own video prompt takes). Every image-text
model accepts it, and it needs none of transformers' video processors, which require torchvision."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelError, ModelNotFoundError
from vidsearch.models.apollo import number_in_words
from vidsearch.models.base import CAPTION_PROMPT_VERSIONS, Caption, ModelSpec, MomentClip, WindowClip, captioners
from vidsearch.models.batching import ItemFailure, captions_with_backoff, run_with_backoff
from vidsearch.models.device import resolve_device
from vidsearch.models.prompts import ANSWER_PROMPT, CAPTION_PROMPT, PROMPTS_VERSION
from vidsearch.models.resolve import local_revision

if TYPE_CHECKING:  # annotations only: importing media.frames loads PyAV
    from vidsearch.media.frames import SampledFrame

log = logging.getLogger(__name__)

PROMPT_VERSION = f"hf-video-{PROMPTS_VERSION}"  # captions of two prompt versions never mix


def even_subset(frames: Sequence[SampledFrame], limit: int) -> list[SampledFrame]:
    if len(frames) <= limit:
        return list(frames)
    keep = np.linspace(0, len(frames) - 1, limit).round().astype(int)
    return [frames[i] for i in keep]


def _stamp(seconds: float) -> str:
    minutes, secs = divmod(max(0, int(seconds)), 60)
    return f"{minutes:02d}:{secs:02d}"


def frames_content(frames: Sequence[SampledFrame], origin: float, duration: float) -> list[dict[str, str]]:
    """Chat-template content for a clip: the intro line, then a timestamp before each frame."""
    content = [
        {
            "type": "text",
            "text": f"You are provided the following series of {number_in_words(len(frames))} frames from a "
            f"{timedelta(seconds=round(duration))} [H:MM:SS] video.\n",
        }
    ]
    for frame in frames:
        content += [{"type": "text", "text": f"\nFrame from {_stamp(frame.time - origin)}:"}, {"type": "image"}]
    content.append({"type": "text", "text": "\n\n"})
    return content


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
    ) -> None:
        if getattr(processor, "chat_template", None) is None:
            raise ModelError(f"{spec.model_id} has no chat template: it is not an instruction-tuned model")
        self.model, self.processor, self.spec = model, processor, spec
        self.device = device
        self.sample_fps, self.max_frames = sample_fps, max_frames
        self.max_new_tokens, self.temperature, self.batch_size = max_new_tokens, temperature, batch_size

    def caption(self, clips: Sequence[WindowClip]) -> list[Caption]:
        return captions_with_backoff(clips, self.batch_size, self._caption_batch)

    def _caption_batch(self, clips: list[WindowClip]) -> list[str]:
        conversations = []
        for clip in clips:
            frames = even_subset(clip.frames, self.max_frames)
            if not frames:
                raise ModelError(f"{clip.video_path}: window {clip.window.index} has no frames to caption")
            content = frames_content(frames, clip.window.start, clip.window.duration)
            content.append({"type": "text", "text": CAPTION_PROMPT})
            conversations.append((content, [f.image for f in frames]))
        return self.generate(conversations)

    def answer(self, question: str, moments: Sequence[MomentClip]) -> str:
        content: list[dict[str, str]] = []
        images: list[np.ndarray] = []
        per_moment = max(1, self.max_frames // max(1, len(moments)))
        for moment in moments:
            frames = even_subset(moment.frames, per_moment)
            known = "; ".join(f"{kind}: {text}" for kind, text in moment.texts.items())
            content.append(
                {
                    "type": "text",
                    "text": f"Moment [{moment.number}] from {moment.video_path.name}, "
                    f"{moment.start:.1f}-{moment.end:.1f} s. Known text: {known}\n",
                }
            )
            if frames:
                content += frames_content(frames, 0.0, moment.end)  # absolute timestamps
                images += [f.image for f in frames]
        content.append({"type": "text", "text": f"Question: {question}\n{ANSWER_PROMPT}"})
        [result] = run_with_backoff([0], 1, lambda _: self.generate([(content, images)]))
        if isinstance(result, ItemFailure):
            raise ModelError(f"{self.spec.model_id}: {result.reason}")
        return result

    def generate(self, conversations: list[tuple[list[dict[str, str]], list[np.ndarray]]]) -> list[str]:
        import torch

        texts = [
            self.processor.apply_chat_template(
                [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
            )
            for content, _ in conversations
        ]
        images = [imgs for _, imgs in conversations]
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        tokenizer.padding_side = "left"  # every row's generation starts right after its own prompt
        inputs = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        inputs = inputs.to(self.device)
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
        raise ModelError(
            f"cannot build the processor of {location!r} ({exc}); its video processor may need "
            "torchvision: pip install torchvision matching your torch"
        ) from exc
    model = model.to(device).eval()  # type: ignore[arg-type]  # transformers stub quirk
    revision = local_revision(path) if local else str(getattr(model.config, "_commit_hash", None) or "hub")
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
        },
    )
    log.info("loaded %s (%s) on %s", spec.model_id, model.__class__.__name__, device)
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
    )


CAPTION_PROMPT_VERSIONS["hf-video"] = PROMPT_VERSION


@captioners.register("hf-video")
def _hf_video(settings: Settings) -> TransformersVideoLM:
    return load_transformers_video_lm(settings.captioner_model, settings)
