"""Indexing: find video files, turn each into windows with texts and vectors, store them, and
rebuild the vector index generation."""

from vidsearch.indexer.pipeline import Indexer, IndexReport

__all__ = ["IndexReport", "Indexer"]
