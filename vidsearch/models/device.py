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


def shared_threads(requested: int, ways: int = 2) -> int:
    """Threads for a model that runs beside others while indexing (speech beside the frames' readers):
    the cores split `ways` ways, at least one each; a `requested` count (VIDSEARCH_THREADS) wins.
    On 2 cores that is one thread each: a second intra-op thread per model only contends for a core
    another signal is using."""
    return requested or max(1, (os.cpu_count() or 1) // ways)
