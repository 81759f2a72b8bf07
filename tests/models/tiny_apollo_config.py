"""The config.json of the tiny Apollo-shaped test snapshot (tiny_apollo.py), apart from the model building so
that tests on any transformers can read it (the caption frame plan is read from it without loading)."""

from __future__ import annotations

from typing import Any

NUM_OUTPUT_TOKENS = 4


def tiny_apollo_config(name: str, num_tokens: int = NUM_OUTPUT_TOKENS) -> dict[str, Any]:
    return {
        "_name_or_path": name,
        "architectures": ["ApolloForCausalLM"],
        "auto_map": {
            "AutoConfig": "configuration_apollo.ApolloConfig",
            "AutoModelForCausalLM": "modeling_apollo.ApolloForCausalLM",
        },
        "model_type": "apollo",
        "clip_duration": 2,
        "frames_per_clip": 4,
        "model_max_length": 2048,
        "mm_connector_cfg": {"num_output_tokens": num_tokens},
        "encode_batch_size": 15,
        "use_mm_start_end": False,
    }
