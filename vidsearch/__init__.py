"""vidsearch: self-hosted semantic search and question answering over video libraries."""

__version__ = "0.1.0"
