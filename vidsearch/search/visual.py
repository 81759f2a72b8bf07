"""The visual space as a search serves it: the image-text model's generation of windows' frame vectors,
searched by the text tower (a query in words) or the image tower (a picture), and the calibration
that puts its scores on the text space's scale.

Why calibrate: an image-text model's cosines live on another scale than a sentence embedder's (CLIP's
matching pairs score about 0.3, MiniLM's about 0.6), so raw scores cannot be compared, and the scale
differs from model to model. Each space's scores are measured against a background: the query's
cosines with a fixed sample of what that space holds (256 vectors spread over the library). A visual
hit `z` standard deviations above its background is given the text score that lies `z` standard
deviations above the text background for the same query: "as far above chance as a text hit of
that score". No constant is fitted to a dev set, so the rule holds for any model and library."""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass

import numpy as np

from vidsearch.config import Settings
from vidsearch.models.base import ImageTextEmbedder
from vidsearch.models.loader import ModelSet
from vidsearch.storage.vectors import VectorIndex, load_generation, read_manifest

log = logging.getLogger(__name__)

BACKGROUND_SIZE = 256
# A background this uniform says nothing (a library of one scene): its spread is taken as at least this.
MIN_SPREAD = 1e-3


@dataclass(frozen=True)
class Background:
    """A fixed sample of a space's stored vectors."""

    vectors: np.ndarray  # (n, dimension)

    def stats(self, query: np.ndarray) -> tuple[float, float]:
        """Mean and spread of the query's cosines with the sample."""
        if self.vectors.size == 0:
            return 0.0, 1.0
        scores = self.vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
        return float(scores.mean()), max(float(scores.std()), MIN_SPREAD)


def background_of(index: VectorIndex) -> Background:
    return Background(index.sample(BACKGROUND_SIZE))


def on_text_scale(
    scores: dict[int, float], own: tuple[float, float], text: tuple[float, float], weight: float = 1.0
) -> dict[int, float]:
    """Scores of one space put on the text space's scale for the same query: each the text score as far
    above the text background (in its spreads) as this score is above its own background."""
    (mean, spread), (text_mean, text_spread) = own, text
    return {key: weight * (text_mean + text_spread * (score - mean) / spread) for key, score in scores.items()}


@dataclass(frozen=True)
class ServedVisual:
    index: VectorIndex
    background: Background

    @property
    def generation(self) -> int:
        return self.index.manifest.generation


class VisualSpace:
    """Thread-safe; follows the visual space's generations as the searcher follows the text space's."""

    def __init__(self, settings: Settings, models: ModelSet, *, mapped: bool = False) -> None:
        self.settings = settings
        self._models = models
        self._mapped = mapped
        self._served: ServedVisual | None = None
        self._lock = threading.Lock()
        self._text_vector = functools.lru_cache(maxsize=max(1, settings.query_cache_size))(self._embed_text)

    @property
    def configured(self) -> bool:
        return self.settings.visual_embedder != "none"

    @property
    def embedder(self) -> ImageTextEmbedder:
        embedder = self._models.visual_embedder
        assert embedder is not None, "no image-text model is configured"
        return embedder

    def serving(self) -> ServedVisual | None:
        """The current visual generation, or None when no image-text model is configured or nothing has
        frame vectors yet."""
        if not self.configured:
            return None
        manifest = read_manifest(self.settings.visual_vector_dir)
        current = self._served
        if manifest is None:
            return None
        if current is not None and manifest.generation == current.generation:
            return current
        with self._lock:
            current = self._served
            if current is None or manifest.generation != current.generation:
                index = load_generation(
                    self.settings.visual_vector_dir,
                    self.embedder.spec,
                    ef_search=self.settings.hnsw_ef_search,
                    nprobe=self.settings.ivf_nprobe,
                    mapped=self._mapped,
                )
                current = self._served = ServedVisual(index, background_of(index))
                log.info("serving visual index generation %d (%d windows)", current.generation, index.size)
            return current

    def text_vector(self, query: str) -> np.ndarray:
        return self._text_vector(query)

    def image_vector(self, image: np.ndarray) -> np.ndarray:
        return np.asarray(self.embedder.embed_images([image]), dtype=np.float32)

    def _embed_text(self, query: str) -> np.ndarray:
        vector = np.asarray(self.embedder.embed_texts([query]), dtype=np.float32)
        vector.setflags(write=False)
        return vector


def nearest_windows(
    served: ServedVisual, vector: np.ndarray, depth: int, allowed: np.ndarray | None
) -> dict[int, float]:
    """Window id -> cosine of the `depth` windows nearest the vector (only `allowed` ones, if given)."""
    scores, ids = served.index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), depth, allowed)
    return {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}
