"""Storage: SQL (the source of truth) through SQLAlchemy, and FAISS vector index generations derived from it."""

from vidsearch.storage.database import Database
from vidsearch.storage.vectors import IndexManifest, VectorIndex

__all__ = ["Database", "IndexManifest", "VectorIndex"]
