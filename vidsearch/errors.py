"""Domain exceptions. Every error vidsearch raises on purpose derives from VidsearchError;
the API maps the subtrees to HTTP status codes, nothing below it knows about HTTP."""

from __future__ import annotations

from pathlib import Path


class VidsearchError(Exception):
    """Base of every vidsearch error."""


class ConfigError(VidsearchError):
    """A setting or argument is invalid."""


class MediaError(VidsearchError):
    """A media file cannot be used. Always names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ProbeError(MediaError):
    """The container or its streams cannot be read."""


class DecodeError(MediaError):
    """Frames or audio cannot be decoded."""


class ModelError(VidsearchError):
    """A model cannot be resolved, loaded or run."""


class ModelNotFoundError(ModelError):
    """No model at the given path, id or package."""


class ModelLoadError(ModelError):
    """A configured model cannot be built: the run stops before any video is touched."""


class StorageError(VidsearchError):
    """The database or the vector index is unusable."""


class IndexMismatchError(StorageError):
    """The vector index on disk does not match the database or the configured embedder."""


class IndexerBusyError(StorageError):
    """Another indexer is writing to the same data folder."""


class IndexNotReadyError(StorageError):
    """There is no vector index yet (nothing indexed)."""


class NotFoundError(VidsearchError):
    """A requested record does not exist."""


class NothingToExportError(NotFoundError):
    """A per-video export format has nothing to write for the videos asked for (subtitles of a video
    that has none)."""


class ForbiddenError(VidsearchError):
    """The request asks for something outside what may be served (a file outside the library roots)."""


class AuthenticationError(VidsearchError):
    """A missing or wrong API key."""


class InvalidQueryError(VidsearchError):
    """A search request is malformed (empty query, k out of range)."""
