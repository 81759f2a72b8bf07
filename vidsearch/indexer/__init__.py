"""Indexing: find video files, turn each into windows with texts and vectors, store them, and
rebuild the vector index generation.

`Indexer` and `IndexReport` are imported on first use: commands that only read a running job's
progress (`vidsearch status`, the web page) import this package without the pipeline and its
media and model modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vidsearch.indexer.pipeline import Indexer, IndexReport

__all__ = ["IndexReport", "Indexer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from vidsearch.indexer import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
