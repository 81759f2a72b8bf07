"""The configured models, each built on first use, so work that needs no model loads none."""

from __future__ import annotations

from functools import cached_property

from vidsearch.config import Settings
from vidsearch.models.base import (
    Captioner,
    Embedder,
    SpeechRecognizer,
    TextReader,
    captioners,
    embedder_registry,
    speech_recognizers,
    text_readers,
)

OFF = "none"


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
