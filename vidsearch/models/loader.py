"""The configured models, each built on first use, so work that needs no model loads none."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelLoadError, VidsearchError
from vidsearch.models.base import (
    CAPTION_SAMPLE_RATES,
    Captioner,
    CaptionFramePlan,
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

log = logging.getLogger(__name__)

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
        captioner = _load("captioner", lambda: captioners.create(self.settings.captioner, self.settings))
        # A plan that disagreed with its model would have other workers decode frames at another rate.
        planned = planned_sample_fps(self.settings)
        if planned is not None and not math.isclose(planned, captioner.sample_fps, rel_tol=1e-9):
            raise ModelLoadError(
                f"captioner {self.settings.captioner!r} planned {planned:g} frames a second but its model "
                f"samples {captioner.sample_fps:g}"
            )
        return captioner

    @cached_property
    def caption_frame_plan(self) -> CaptionFramePlan | None:
        """The frames the captioner wants (None: no captioner), without loading it when its factory can
        say from the settings and the model's config; a captioner already here (loaded, or one a
        caller put in place) says itself."""
        if "captioner" not in self.__dict__ and self.settings.captioner != OFF:
            fps = _load("captioner", lambda: planned_sample_fps(self.settings))
            if fps is not None:
                return CaptionFramePlan(fps, self.settings.caption_max_side)
            log.info(
                "captioner %r cannot tell its frame rate without its model: loading it to learn it",
                self.settings.captioner,
            )
        captioner = self.captioner
        if captioner is None:
            return None
        return CaptionFramePlan(captioner.sample_fps, self.settings.caption_max_side)

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


def planned_sample_fps(settings: Settings) -> float | None:
    """The configured captioner's frame rate as its factory plans it from the settings (no weights
    loaded); None when it offers no plan or cannot tell without loading."""
    if settings.captioner == OFF:
        return None
    planner = CAPTION_SAMPLE_RATES.get(settings.captioner)
    if planner is None:  # a dotted path: the class or function it names may offer one
        planner = getattr(captioners.resolve(settings.captioner), "planned_sample_fps", None)
    return planner(settings) if planner is not None else None


T = TypeVar("T")


def _load(what: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except ModelLoadError:
        raise
    except VidsearchError as exc:
        raise ModelLoadError(f"cannot load the {what}: {exc}") from exc
