"""Models behind small protocols: Embedder, SpeechRecognizer, TextReader, FrameLabeler,
ImageTextEmbedder, Captioner, Reranker.

Each seam has one registry; `registry.create(name, settings)` builds a component by name or by a
dotted class path. Importing this package registers the built-in adapters."""

from vidsearch.models import (  # noqa: F401  (registration side effects)
    apollo,
    embedders,
    hf_video,
    image_text,
    labels,
    ocr,
    reranking,
    speech,
)
from vidsearch.models.base import (
    Captioner,
    Embedder,
    FrameLabel,
    FrameLabeler,
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
    frame_labelers,
    image_text_embedders,
    rerankers,
    speech_recognizers,
    text_readers,
)

__all__ = [
    "Captioner",
    "Embedder",
    "FrameLabel",
    "FrameLabeler",
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
    "frame_labelers",
    "image_text_embedders",
    "rerankers",
    "speech_recognizers",
    "text_readers",
]
