"""A tiny RANDOM-WEIGHT Apollo-shaped snapshot for tests: the folder layout of the released snapshots
(config.json with an auto_map, llm/, vision_tower/siglip, vision_tower/internvideo2, mm_connector/) and
remote code written for these tests (tests/models/apollo_remote/) that behaves as Apollo's published
code does where an adapter can tell. A real Qwen2 LLM with a slow Qwen2 tokenizer (byte-level, no
merges, the ChatML special tokens) and a real SigLIP vision model and image processor. Its text is
noise; what it proves is the code path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer, SiglipVisionConfig, SiglipVisionModel
from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

try:  # transformers 5 names the PIL processor apart from the torchvision one
    from transformers import SiglipImageProcessorPil as SiglipProcessor
except ImportError:
    from transformers import SiglipImageProcessor as SiglipProcessor  # type: ignore[assignment,no-redef]

from tests.models.tiny_apollo_config import NUM_OUTPUT_TOKENS, tiny_apollo_config

REMOTE_CODE = Path(__file__).parent / "apollo_remote"
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _tokenizer(folder: Path) -> Qwen2Tokenizer:
    alphabet = sorted(bytes_to_unicode().values())
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(alphabet)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = Qwen2Tokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL})
    return tokenizer


# Apollo-1.5B's dimensions (Qwen2.5-1.5B LLM, SigLIP-SO400M at 384 px, 32 tokens per clip), for benchmarks.
APOLLO_1_5B_SHAPE = {
    "llm": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
    },
    "siglip": {
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_hidden_layers": 27,
        "num_attention_heads": 16,
        "patch_size": 14,
    },
    "num_output_tokens": 32,
}
TINY_SHAPE = {
    "llm": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    },
    "siglip": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "patch_size": 48,
    },
    "num_output_tokens": NUM_OUTPUT_TOKENS,
}


def build_tiny_apollo(folder: Path, *, seed: int = 0, shape: dict | None = None) -> Path:
    shape = shape or TINY_SHAPE
    llm_dims, siglip_dims, num_tokens = shape["llm"], shape["siglip"], shape["num_output_tokens"]
    torch.manual_seed(seed)
    llm_dir = folder / "llm"
    llm_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(llm_dir)
    tokenizer.save_pretrained(llm_dir)
    llm = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=len(tokenizer),
            **llm_dims,
            max_position_embeddings=4096,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        )
    )
    llm.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    llm.generation_config.pad_token_id = tokenizer.pad_token_id
    llm.save_pretrained(llm_dir)

    siglip_dir = folder / "vision_tower" / "siglip"
    siglip = SiglipVisionModel(
        SiglipVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=384,
            patch_size=48,
        )
    )
    siglip.save_pretrained(siglip_dir)
    SiglipProcessor(size={"height": 384, "width": 384}).save_pretrained(siglip_dir)

    video_dir = folder / "vision_tower" / "internvideo2"
    video_dir.mkdir(parents=True, exist_ok=True)
    video_config = {"hidden_size": 16, "patch_size": 56, "image_size": 224}
    (video_dir / "config.json").write_text(json.dumps(video_config))
    conv = torch.nn.Conv3d(3, 16, kernel_size=(4, 56, 56), stride=(4, 56, 56))
    torch.save({"conv.weight": conv.weight.detach(), "conv.bias": conv.bias.detach()}, video_dir / "weights.pt")

    connector_dir = folder / "mm_connector"
    connector_dir.mkdir(parents=True, exist_ok=True)
    proj = torch.nn.Linear(siglip_dims["hidden_size"] + 16, num_tokens * llm_dims["hidden_size"])
    torch.save({"proj.weight": proj.weight.detach(), "proj.bias": proj.bias.detach()}, connector_dir / "weights.pt")

    for name in ("configuration_apollo.py", "modeling_apollo.py"):
        shutil.copy(REMOTE_CODE / name, folder / name)
    (folder / "config.json").write_text(json.dumps(tiny_apollo_config(folder.name, num_tokens), indent=2))
    return folder
