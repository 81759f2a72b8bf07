"""Text embedders. The default is sentence-transformers with all-MiniLM-L6-v2, from an explicit path,
a hub id, or the copy packaged on PyPI (works offline)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from vidsearch.config import Settings
from vidsearch.errors import ModelError, ModelNotFoundError
from vidsearch.models.base import ModelSpec, embedder_registry
from vidsearch.models.device import resolve_device
from vidsearch.models.resolve import PACKAGED_EMBEDDER, hub_revision, resolve

log = logging.getLogger(__name__)


class SentenceTransformerEmbedder:
    def __init__(self, model: str = "", *, device: str = "auto", batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        resolved = resolve(model, PACKAGED_EMBEDDER)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        try:
            self._model = SentenceTransformer(resolved.location, device=self.device, local_files_only=resolved.is_local)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(
                f"cannot load embedder {resolved.location!r}: {exc}. Give a local folder, a hub id that "
                "is cached or reachable, or leave it empty for the packaged all-MiniLM-L6-v2."
            ) from exc
        revision = resolved.revision
        if not resolved.is_local:
            revision = hub_revision(self._model.tokenizer.name_or_path) or _hub_commit(self._model) or "hub"
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ModelError(f"embedder {resolved.model_id!r} does not report its output dimension")
        self.spec = ModelSpec(
            kind="embedder",
            name="sentence-transformers",
            model_id=resolved.model_id,
            revision=revision,
            dimension=int(dimension),
            settings={"normalized": True, "max_seq_length": self._model.max_seq_length},
        )
        log.info("embedder %s (%s) on %s, %d dims", self.spec.model_id, revision, self.device, dimension)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.spec.dimension or 0), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _hub_commit(model: object) -> str | None:
    card = getattr(model, "model_card_data", None)
    return getattr(card, "base_model_revision", None) if card else None


@embedder_registry.register("sentence-transformers")
def _sentence_transformers(settings: Settings) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(
        settings.embedder_model, device=settings.device, batch_size=settings.embed_batch_size
    )
