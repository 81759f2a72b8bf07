"""Models behind small protocols: Embedder, SpeechRecognizer, TextReader, FrameLabeler, Captioner,
Reranker.

Each seam has one registry; `registry.create(name, settings)` builds a component by name or by a
dotted class path. Importing this package registers the built-in adapters."""

from vidsearch.models import apollo, embedders, hf_video, labels, ocr, reranking, speech  # noqa: F401  (registration side effects)
from vidsearch.models.base import (
    Captioner,
    Embedder,
    FrameLabel,
    FrameLabeler,
    ModelSpec,
    Reranker,
    SpeechRecognizer,
    SpokenWord,
    TextLine,
    TextReader,
    WindowClip,
    captioners,
    embedder_registry,
    frame_labelers,
    rerankers,
    speech_recognizers,
    text_readers,
)

__all__ = [
    "Captioner",
    "Embedder",
    "FrameLabel",
    "FrameLabeler",
    "ModelSpec",
    "Reranker",
    "SpeechRecognizer",
    "SpokenWord",
    "TextLine",
    "TextReader",
    "WindowClip",
    "captioners",
    "embedder_registry",
    "frame_labelers",
    "rerankers",
    "speech_recognizers",
    "text_readers",
]
