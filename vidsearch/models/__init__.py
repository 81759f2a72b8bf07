"""Models behind small protocols: Embedder, SpeechRecognizer, TextReader, Captioner,
Reranker, ImageTextEmbedder.

Each seam has one registry; `registry.create(name, settings)` builds a component by name or by a
dotted class path. Importing this package registers the built-in adapters."""

from vidsearch.models import apollo, embedders, hf_video, image_text, ocr, reranking, speech  # noqa: F401  (registration side effects)
from vidsearch.models.base import (
    Captioner,
    Embedder,
    ImageTextEmbedder,
    ModelSpec,
    Reranker,
    SpeechRecognizer,
    SpokenWord,
    TextLine,
    TextReader,
    WindowClip,
    captioners,
    embedder_registry,
    image_text_embedders,
    rerankers,
    speech_recognizers,
    text_readers,
)

__all__ = [
    "Captioner",
    "Embedder",
    "ImageTextEmbedder",
    "ModelSpec",
    "Reranker",
    "SpeechRecognizer",
    "SpokenWord",
    "TextLine",
    "TextReader",
    "WindowClip",
    "captioners",
    "embedder_registry",
    "image_text_embedders",
    "rerankers",
    "speech_recognizers",
    "text_readers",
]
