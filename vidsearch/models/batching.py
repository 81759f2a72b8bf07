"""Running a model over items in batches, halving the batch on GPU out-of-memory down to one item;
an item that fails alone is reported, not fatal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from vidsearch.models.base import Caption, WindowClip

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ItemFailure(Generic[T]):
    item: T
    reason: str


def is_out_of_memory(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_gpu_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def run_with_backoff(
    items: Sequence[T], batch_size: int, run: Callable[[list[T]], list[R]]
) -> list[R | ItemFailure[T]]:
    """run(batch) -> one result per item. On out-of-memory the batch halves (and stays halved for the
    rest of the items); an item that runs out of memory alone becomes an ItemFailure."""
    results: list[R | ItemFailure[T]] = []
    size = max(1, batch_size)
    i = 0
    while i < len(items):
        batch = list(items[i : i + size])
        try:
            out = run(batch)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            _free_gpu_memory()
            if size > 1:
                size = max(1, size // 2)
                log.warning("out of GPU memory: batch size now %d", size)
                continue
            results.append(ItemFailure(batch[0], "out of GPU memory even for a single window"))
            i += 1
            continue
        if len(out) != len(batch):
            raise RuntimeError(f"the model returned {len(out)} results for {len(batch)} inputs")
        results.extend(out)
        i += len(batch)
    return results


def captions_with_backoff(
    clips: Sequence[WindowClip], batch_size: int, run: Callable[[list[WindowClip]], list[str]]
) -> list[Caption]:
    """Caption windows in batches with the out-of-memory back-off; a window that fails alone gets its reason."""
    results = run_with_backoff(list(clips), batch_size, run)
    return [Caption(error=r.reason) if isinstance(r, ItemFailure) else Caption(r) for r in results]
