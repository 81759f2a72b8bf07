"""Tests that need torchvision: transformers' image and video processors of Qwen2.5-VL, SmolVLM2 and
LLaVA-OneVision. They run in the separate environment `scripts/setup.sh --torchvision --dev` makes
(.venv-torchvision: torch 2.14.1 + torchvision 0.29.1):

    HF_HUB_OFFLINE=1 .venv-torchvision/bin/python -m pytest tests/torchvision_env

Where torchvision is absent (the default .venv) nothing here is collected: no test is reported as
skipped for an environment that was never meant to run it."""

import importlib.util

if importlib.util.find_spec("torchvision") is None:
    collect_ignore_glob = ["*.py"]
