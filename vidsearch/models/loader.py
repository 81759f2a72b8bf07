"""The configured models, each built on first use, so work that needs no model loads none."""

from __future__ import annotations

from functools import cached_property

from vidsearch.config import Settings
from vidsearch.errors import ConfigError
from vidsearch.models.base import (
    Captioner,
    Embedder,
    SpeechRecognizer,
    TextReader,
    VideoAnswerer,
    captioners,
    embedder_registry,
    speech_recognizers,
    text_readers,
)

OFF = "none"
AUTO = "auto"
EXTRACTIVE = "extractive"


class ModelSet:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def embedder(self) -> Embedder:
        return embedder_registry.create(self.settings.embedder, self.settings)

    @cached_property
    def speech(self) -> SpeechRecognizer | None:
        return None if self.settings.speech == OFF else speech_recognizers.create(self.settings.speech, self.settings)

    @cached_property
    def ocr(self) -> TextReader | None:
        return None if self.settings.ocr == OFF else text_readers.create(self.settings.ocr, self.settings)

    @cached_property
    def captioner(self) -> Captioner | None:
        if self.settings.captioner == OFF:
            return None
        return captioners.create(self.settings.captioner, self.settings)

    @cached_property
    def answerer(self) -> VideoAnswerer | None:
        """The model that answers questions; None means extractive answers."""
        choice = self.settings.answerer
        if choice == EXTRACTIVE:
            return None
        if choice == AUTO:
            captioner = self.captioner
            return captioner if isinstance(captioner, VideoAnswerer) else None
        model = captioners.create(choice, self.settings)
        if not isinstance(model, VideoAnswerer):
            raise ConfigError(f"{choice!r} cannot answer questions (it has no answer method)")
        return model
