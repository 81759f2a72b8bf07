"""The model seams: one small protocol each, one registry each, and ModelSpec, the identity that
every stored artifact records (model id, revision, dimension, settings)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from vidsearch.config import Settings, fingerprint
from vidsearch.registry import Registry

if TYPE_CHECKING:  # annotations only: importing media.frames loads PyAV
    from vidsearch.media.frames import SampledFrame
    from vidsearch.media.windows import Window


@dataclass(frozen=True)
class ModelSpec:
    """What produced an artifact. Two artifacts are comparable only if their specs match."""

    kind: str  # "embedder" | "speech" | "ocr" | "captioner"
    name: str  # the registry name or dotted path that built it
    model_id: str  # e.g. "sentence-transformers/all-MiniLM-L6-v2"
    revision: str  # a hub commit, the package that shipped it ("pkg==1.0"), or "local:<hash>"
    dimension: int | None = None  # embedders only
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.to_dict())

    @property
    def label(self) -> str:
        """How exports name it: model id and revision."""
        return f"{self.model_id}@{self.revision}"

    def to_dict(self) -> dict[str, Any]:
        """Every field, as the model records and exported catalogues hold them."""
        return {
            "kind": self.kind,
            "name": self.name,
            "model_id": self.model_id,
            "revision": self.revision,
            "dimension": self.dimension,
            "settings": self.settings,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> ModelSpec:
        """The spec `to_dict` wrote (an exported catalogue's); KeyError names a missing field, TypeError or
        ValueError a malformed one."""
        dimension = value.get("dimension")
        return cls(
            kind=str(value["kind"]),
            name=str(value["name"]),
            model_id=str(value["model_id"]),
            revision=str(value["revision"]),
            dimension=int(dimension) if dimension is not None else None,
            settings=dict(value.get("settings") or {}),
        )


@dataclass(frozen=True)
class SpokenWord:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float


@dataclass(frozen=True)
class Caption:
    """A captioner's output for one window: the text, or why that window could not be captioned."""

    text: str = ""
    error: str | None = None


@dataclass(frozen=True)
class WindowClip:
    """What a captioner sees of one window: its frames with their presentation times."""

    video_path: Path
    window: Window
    frames: Sequence[SampledFrame]


@dataclass(frozen=True)
class MomentClip:
    """What a video language model sees of one retrieved moment when answering: its number (for
    citations), its absolute times, frames with absolute times, and the texts already known."""

    number: int
    video_path: Path
    start: float
    end: float
    frames: Sequence[SampledFrame]
    texts: dict[str, str]


@runtime_checkable
class Embedder(Protocol):
    spec: ModelSpec

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised so inner product is cosine similarity."""
        ...


@runtime_checkable
class SpeechRecognizer(Protocol):
    spec: ModelSpec

    def transcribe(self, path: Path) -> list[SpokenWord]:
        """Every recognised word with its time in seconds from the start of the media."""
        ...


@runtime_checkable
class TextReader(Protocol):
    spec: ModelSpec

    def read(self, image: np.ndarray) -> list[TextLine]:
        """Lines of text visible in one RGB frame."""
        ...


@dataclass(frozen=True)
class TextRegion:
    """Where a detector found a line of text in a frame: its corners (4 x 2, frame pixels, clockwise
    from the top left) and what the recogniser reads (the line's crop, in the reader's own format)."""

    quad: np.ndarray
    crop: np.ndarray


@runtime_checkable
class RegionTextReader(Protocol):
    """A TextReader whose detector and recogniser can be called apart, so a video reader recognises
    only the lines that are new since the last frame it read (signals.ScreenTextReader)."""

    spec: ModelSpec

    def read(self, image: np.ndarray) -> list[TextLine]: ...

    def may_hold_text(self, image: np.ndarray) -> bool:
        """A cheap glance (e.g. the detector at low resolution): False only when the frame surely holds
        no text worth a full search."""
        ...

    def detect(self, image: np.ndarray) -> list[TextRegion]:
        """The text lines' regions in one RGB frame, top to bottom, left to right."""
        ...

    def recognise(self, regions: Sequence[TextRegion]) -> list[TextLine]:
        """One line per region, in order; an empty text where nothing was read well enough."""
        ...


@runtime_checkable
class Captioner(Protocol):
    spec: ModelSpec
    sample_fps: float  # the frame rate the model wants; clips arrive sampled at it

    def caption(self, clips: Sequence[WindowClip]) -> list[Caption]:
        """One dense description (or a per-window error) per clip, in order."""
        ...


@dataclass(frozen=True)
class CaptionFramePlan:
    """The frames a captioner wants, known before (and without) loading it: the decoding pass takes
    frames `sample_fps` a second, scaled to at most `max_side` pixels, so a worker that only decodes
    (the Ray runner's CPU stage) need not hold the video language model."""

    sample_fps: float
    max_side: int


@runtime_checkable
class VideoAnswerer(Protocol):
    """A video language model that answers a question over numbered moments, citing them as [n]."""

    spec: ModelSpec
    sample_fps: float

    def answer(self, question: str, moments: Sequence[MomentClip]) -> str: ...


@dataclass(frozen=True)
class FrameLabel:
    """What a frame shows, in words a searcher would type: a readable name ("cat", not "Egyptian
    cat, n02124075"), with the words it is also known by, and the model's confidence."""

    name: str
    score: float
    synonyms: tuple[str, ...] = ()


@runtime_checkable
class FrameLabeler(Protocol):
    """Names what frames show (e.g. an image classifier): an offline signal of the picture itself."""

    spec: ModelSpec

    def label(self, images: Sequence[np.ndarray], *, min_score: float | None = None) -> list[list[FrameLabel]]:
        """For each RGB frame (H, W, 3 uint8), its confident labels, best first (possibly none). `min_score`
        lowers or raises the configured bar (a picture a person searches by is worth a guess)."""
        ...


@runtime_checkable
class ImageTextEmbedder(Protocol):
    """Embeds frames and text queries into one shared space (CLIP, SigLIP): search by what a video
    shows, by words or by an example picture. `spec.dimension` is the shared space's."""

    spec: ModelSpec

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(len(images), dimension) float32, L2-normalised, for RGB frames (H, W, 3 uint8)."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised, in the same space as the images."""
        ...


@runtime_checkable
class Reranker(Protocol):
    """Scores (query, passage) pairs jointly, e.g. a cross-encoder: slower than the embedder, sharper."""

    spec: ModelSpec

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage, higher is better, comparable within one call."""
        ...


embedder_registry: Registry[Embedder] = Registry("embedder")
rerankers: Registry[Reranker] = Registry("reranker")
speech_recognizers: Registry[SpeechRecognizer] = Registry("speech recognizer")
text_readers: Registry[TextReader] = Registry("text reader")
frame_labelers: Registry[FrameLabeler] = Registry("frame labeler")
image_text_embedders: Registry[ImageTextEmbedder] = Registry("image-text embedder")
# Video language models (captioners and answerers) plug in here by name or dotted path.
captioners: Registry[Captioner] = Registry("captioner")
# The prompt version of each built-in captioner: part of the pipeline fingerprint, so changing a
# prompt re-captions instead of mixing captions written under two prompts.
CAPTION_PROMPT_VERSIONS: dict[str, str] = {}
# The frame rate each built-in captioner samples at, from the settings and the model's config alone
# (None: it cannot tell without loading the model). A dotted-path captioner may offer the same as a
# `planned_sample_fps(settings)` attribute of what the path names (e.g. a classmethod). Either way it
# must equal the loaded model's `sample_fps` (ModelSet.captioner checks).
CAPTION_SAMPLE_RATES: dict[str, Callable[[Settings], float | None]] = {}
# The version of each built-in frame labeler's vocabulary (its words for the model's classes), read
# when a pipeline is fingerprinted: changing the words re-labels.
LABEL_VOCABULARY_VERSIONS: dict[str, Callable[[], str]] = {}
