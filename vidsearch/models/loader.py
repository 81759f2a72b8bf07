"""The configured models, each built on first use, so work that needs no model loads none."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelLoadError, VidsearchError
from vidsearch.models.base import (
    Captioner,
    Embedder,
    FrameLabeler,
    ImageTextEmbedder,
    Reranker,
    SpeechRecognizer,
    TextReader,
    VideoAnswerer,
    captioners,
    embedder_registry,
    frame_labelers,
    image_text_embedders,
    speech_recognizers,
    text_readers,
)
from vidsearch.models.base import rerankers as reranker_registry

OFF = "none"
AUTO = "auto"
EXTRACTIVE = "extractive"


class ModelSet:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def embedder(self) -> Embedder:
        return _load("embedder", lambda: embedder_registry.create(self.settings.embedder, self.settings))

    @cached_property
    def query_embedder(self) -> Embedder:
        """The embedder for queries: built without torch from the query encoder's descriptor when one
        matches these settings (models/query_encoder.py: the same vectors, in a fraction of the start-up
        time), else the full embedder. Long inputs still reach the full embedder, loaded then."""
        if "embedder" not in self.__dict__:  # not loaded yet
            from vidsearch.models.query_encoder import load_query_encoder

            light = load_query_encoder(self.settings, lambda: self.embedder)
            if light is not None:
                return light
        return self.embedder

    @cached_property
    def speech(self) -> SpeechRecognizer | None:
        if self.settings.speech == OFF:
            return None
        return _load("speech recognizer", lambda: speech_recognizers.create(self.settings.speech, self.settings))

    @cached_property
    def ocr(self) -> TextReader | None:
        if self.settings.ocr == OFF:
            return None
        return _load("text reader", lambda: text_readers.create(self.settings.ocr, self.settings))

    @cached_property
    def labeler(self) -> FrameLabeler | None:
        if self.settings.visual_labels == OFF:
            return None
        return _load("frame labeler", lambda: frame_labelers.create(self.settings.visual_labels, self.settings))

    @cached_property
    def captioner(self) -> Captioner | None:
        if self.settings.captioner == OFF:
            return None
        return _load("captioner", lambda: captioners.create(self.settings.captioner, self.settings))

    @cached_property
    def visual_embedder(self) -> ImageTextEmbedder | None:
        """Frames and text queries in one space (CLIP, SigLIP); None when off (the default)."""
        if self.settings.visual_embedder == OFF:
            return None
        name = self.settings.visual_embedder
        return _load("image-text embedder", lambda: image_text_embedders.create(name, self.settings))

    @cached_property
    def reranker(self) -> Reranker | None:
        if not self.settings.reranker or self.settings.reranker == OFF:
            return None
        name = self.settings.reranker
        return _load("reranker", lambda: reranker_registry.create(name, self.settings))

    def load_indexing_models(self) -> None:
        """Build every model indexing uses, so a broken one stops the run before any video is touched."""
        _ = self.embedder, self.speech, self.ocr, self.labeler, self.visual_embedder, self.captioner

    @cached_property
    def answerer(self) -> VideoAnswerer | None:
        """The model that answers questions; None means extractive answers."""
        choice = self.settings.answerer
        if choice == EXTRACTIVE:
            return None
        if choice == AUTO:
            captioner = self.captioner
            return captioner if isinstance(captioner, VideoAnswerer) else None
        model = _load("answerer", lambda: captioners.create(choice, self.settings))
        if not isinstance(model, VideoAnswerer):
            raise ConfigError(f"{choice!r} cannot answer questions (it has no answer method)")
        return model


T = TypeVar("T")


def _load(what: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except ModelLoadError:
        raise
    except VidsearchError as exc:
        raise ModelLoadError(f"cannot load the {what}: {exc}") from exc
