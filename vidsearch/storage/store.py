"""What the parts of `Database` share: its transactions and connections, and how vectors are stored."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from vidsearch.models.base import ModelSpec


class StoreBase:
    """Declares what `Database` provides to the mixins it is made of (storage/videos.py, retrieval.py,
    embeddings.py, imports.py, library.py), one per concern."""

    engine: Engine
    is_sqlite: bool

    def session(self) -> AbstractContextManager[Session]:
        """A transaction: committed when the block ends, rolled back on any error."""
        raise NotImplementedError

    def reading(self) -> AbstractContextManager[Connection]:
        """A plain connection for reads."""
        raise NotImplementedError

    def model_record(self, spec: ModelSpec) -> int:
        """The id of the row describing this model, created on first use."""
        raise NotImplementedError


def to_blob(vector: np.ndarray) -> bytes:
    """A vector as stored: float32, little-endian."""
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()
