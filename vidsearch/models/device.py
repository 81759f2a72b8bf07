"""Choosing where models run."""

from __future__ import annotations

import os


def resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_threads(requested: int) -> int:
    return requested or os.cpu_count() or 1
