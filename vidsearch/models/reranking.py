"""Re-rankers: a cross-encoder reads the query and a moment's text together and scores the pair.

No cross-encoder ships inside a PyPI package, so none is on by default; give a local folder or a hub
id (e.g. cross-encoder/ms-marco-MiniLM-L6-v2) with `VIDSEARCH_RERANKER=cross-encoder` and
`VIDSEARCH_RERANKER_MODEL=...`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from vidsearch.config import Settings
from vidsearch.errors import ModelNotFoundError
from vidsearch.models.base import ModelSpec, rerankers
from vidsearch.models.device import resolve_device
from vidsearch.models.resolve import hub_revision, local_revision

log = logging.getLogger(__name__)


class CrossEncoderReranker:
    def __init__(self, model: str, *, device: str = "auto", batch_size: int = 32) -> None:
        from sentence_transformers import CrossEncoder

        if not model:
            raise ModelNotFoundError("the cross-encoder re-ranker needs a model: a local folder or a hub id")
        path = Path(model).expanduser()
        is_local = path.exists()
        if not is_local and model.startswith((".", "/", "~")):
            raise ModelNotFoundError(f"re-ranker path {model!r} does not exist")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        location = str(path.resolve()) if is_local else model
        try:
            self._model = CrossEncoder(location, device=self.device, local_files_only=is_local)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(f"cannot load re-ranker {model!r}: {exc}") from exc
        revision = local_revision(path) if is_local else hub_revision(self._model.tokenizer.name_or_path) or "hub"
        self.spec = ModelSpec(
            kind="reranker",
            name="cross-encoder",
            model_id=path.name if is_local else model,
            revision=revision,
            dimension=None,
            settings={"max_length": self._model.max_length},
        )
        log.info("re-ranker %s (%s) on %s", self.spec.model_id, revision, self.device)

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        scores = self._model.predict(
            [(query, p) for p in passages], batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        return [float(s) for s in scores]


@rerankers.register("cross-encoder")
def _cross_encoder(settings: Settings) -> CrossEncoderReranker:
    return CrossEncoderReranker(settings.reranker_model, device=settings.device)
