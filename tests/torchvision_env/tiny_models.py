"""Tiny RANDOM-WEIGHT Qwen2.5-VL, SmolVLM2 and LLaVA-OneVision models, built offline for tests: the real
model, config and processor classes (with their torchvision image and video processors), a real
byte-level tokenizer carrying each family's special tokens, and each family's published chat template,
saved to a folder so the adapter's real loading code (AutoProcessor / AutoModelForImageTextToText) reads
it. Their captions are noise; what they prove is the code path, end to end."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

# Qwen2-VL-Instruct's chat template, which Qwen2.5-VL-{3B,7B,72B}-Instruct publish unchanged in their
# chat_template.json (the default system turn, <|vision_start|><|image_pad|><|vision_end|> per image,
# <|video_pad|> per video, "Picture n:" / "Video n:" only with add_vision_id).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# SmolVLM2-{256M,500M,2.2B}-Video-Instruct / -Instruct's chat template ("User:" / "Assistant:" turns,
# <image> and <video> in place); transformers' SmolVLMProcessor carries the same text as its
# DEFAULT_CHAT_TEMPLATE for videos (transformers PR #38105).
SMOLVLM2_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% elif line['type'] == 'video' %}{{ '<video>' }}{% endif %}"
    "{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# llava-hf/llava-onevision-qwen2-{0.5b,7b}-ov-hf's chat template, as transformers' conversion script
# (models/llava_onevision/convert_llava_onevision_weights_to_hf.py) writes it: Qwen's <|im_start|> turns,
# ALL images of a turn first, then all videos, then all its texts (images are not interleaved with text).
LLAVA_ONEVISION_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>\n' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] }}{% endgeneration %}{% endfor %}{% endif %}"
    "{{'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
SMOLVLM_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<end_of_utterance>",
    "<image>",
    "<video>",
    "<fake_token_around_image>",
    "<global-img>",
]
# Weights drawn 10x wider than transformers' default (0.02): a random model whose output visibly depends
# on the frames it is shown, so a test can tell whether the frames reached it.
INIT = 0.2

LLAVA_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]


def byte_tokenizer(special: list[str], *, eos: str, pad: str, **extra: str) -> PreTrainedTokenizerFast:
    """A byte-level BPE with no merges: one token per byte, so it encodes any text; then the specials."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(special)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=eos,
        pad_token=pad,
        additional_special_tokens=[t for t in special if t not in (eos, pad)],
        **extra,
    )


def _save(folder: Path, model: torch.nn.Module, processor: object, tokenizer: PreTrainedTokenizerFast) -> Path:
    model.generation_config.eos_token_id = tokenizer.eos_token_id  # type: ignore[union-attr]
    model.generation_config.pad_token_id = tokenizer.pad_token_id  # type: ignore[union-attr]
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # type: ignore[operator]
    processor.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder


def build_tiny_qwen2_5_vl(folder: Path) -> Path:
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = byte_tokenizer(QWEN_SPECIAL, eos="<|im_end|>", pad="<|endoftext|>")
    ids = tokenizer.convert_tokens_to_ids
    # Small pictures: at most 112x112 pixels each, i.e. at most 16 merged tokens per picture.
    pixels = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=pixels),
        video_processor=Qwen2VLVideoProcessor(size=pixels),
        tokenizer=tokenizer,
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "initializer_range": INIT,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids("<|endoftext|>"),
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "out_hidden_size": 64,
            "fullatt_block_indexes": [1],
            "initializer_range": INIT,
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(0)
    return _save(folder, Qwen2_5_VLForConditionalGeneration(config), processor, tokenizer)


def build_tiny_smolvlm2(folder: Path) -> Path:
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    tokenizer = byte_tokenizer(SMOLVLM_SPECIAL, eos="<end_of_utterance>", pad="<|endoftext|>")
    # As SmolVLM2 is configured: pictures split into tiles of max_image_size plus a global view; video
    # frames resized to one tile each. Here a tile is 64 px, encoded as 4 tokens (image_seq_len).
    images = SmolVLMImageProcessor(
        do_image_splitting=True, size={"longest_edge": 128}, max_image_size={"longest_edge": 64}
    )
    videos = SmolVLMVideoProcessor(size={"longest_edge": 64}, max_image_size={"longest_edge": 64})
    processor = SmolVLMProcessor(
        image_processor=images,
        video_processor=videos,
        tokenizer=tokenizer,
        image_seq_len=4,
        chat_template=SMOLVLM2_CHAT_TEMPLATE,
    )
    config = SmolVLMConfig(
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "pad_token_id": tokenizer.pad_token_id,
            "initializer_range": INIT,
        },
        vision_config={
            "initializer_range": INIT,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 64,
            "patch_size": 16,
        },
        scale_factor=2,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    torch.manual_seed(0)
    return _save(folder, SmolVLMForConditionalGeneration(config), processor, tokenizer)


def build_tiny_llava_onevision(folder: Path) -> Path:
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    tokenizer = byte_tokenizer(LLAVA_SPECIAL, eos="<|im_end|>", pad="<|endoftext|>")
    side, patch = 32, 8  # a SigLIP tower on 32 px pictures in 8 px patches: 16 features per picture
    pinpoints = [[side, side], [side, 2 * side], [2 * side, side], [2 * side, 2 * side]]
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(
            size={"height": side, "width": side}, image_grid_pinpoints=pinpoints
        ),
        video_processor=LlavaOnevisionVideoProcessor(size={"height": side, "width": side}),
        tokenizer=tokenizer,
        num_image_tokens=(side // patch) ** 2,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_ONEVISION_CHAT_TEMPLATE,
    )
    config = LlavaOnevisionConfig(
        text_config={
            "model_type": "qwen2",
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "initializer_range": INIT,
        },
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": side,
            "patch_size": patch,
            "vision_use_head": False,
            "initializer_range": INIT,
        },
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        image_grid_pinpoints=pinpoints,
    )
    torch.manual_seed(0)
    return _save(folder, LlavaOnevisionForConditionalGeneration(config), processor, tokenizer)
