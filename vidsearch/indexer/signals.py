"""Turning what the models and the file say into one text per window and kind."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from PIL import Image

from vidsearch.media.frames import SampledFrame
from vidsearch.media.subtitles import Cue
from vidsearch.media.windows import Window
from vidsearch.models.base import FrameLabel, FrameLabeler, ImageTextEmbedder, SpokenWord, TextReader

T = TypeVar("T")


def words_by_window(words: Sequence[SpokenWord], windows: Sequence[Window]) -> dict[int, str]:
    """A word belongs to every window that contains its midpoint (several when windows overlap)."""
    out: dict[int, list[str]] = {}
    for word in words:
        mid = (word.start + word.end) / 2
        for window in windows:
            if window.contains(mid) or (window is windows[-1] and mid >= window.end):
                out.setdefault(window.index, []).append(word.text)
    return {i: " ".join(parts) for i, parts in out.items()}


def cues_by_window(cues: Sequence[Cue], windows: Sequence[Window]) -> dict[int, tuple[str, str]]:
    """(text, sources) per window, from every cue that overlaps it; repeated cue texts appear once."""
    out: dict[int, list[Cue]] = {}
    for cue in sorted(cues, key=lambda c: (c.start, c.end)):
        for window in windows:
            if window.overlap(cue.start, cue.end) > 0:
                out.setdefault(window.index, []).append(cue)
    return {
        i: (" ".join(_unique(c.text for c in group)), ", ".join(_unique(c.source for c in group)))
        for i, group in out.items()
    }


@dataclass(frozen=True)
class FrameText:
    time: float
    lines: tuple[str, ...]


class ScreenTextReader:
    """Reads on-screen text frame by frame, skipping frames that look like the last one read:
    a static title costs one OCR call, and its text is still credited to every frame showing it."""

    def __init__(self, reader: TextReader, dedup_threshold: float) -> None:
        self.reader = reader
        self.threshold = dedup_threshold
        self._last_thumb: np.ndarray | None = None
        self._last_lines: tuple[str, ...] = ()
        self.calls = 0

    def read(self, frame: SampledFrame, thumb: np.ndarray | None = None) -> FrameText:
        """`thumb`: the frame's `thumbnail()`, when the caller has it already."""
        thumb = thumbnail(frame.image) if thumb is None else thumb
        if _differs(thumb, self._last_thumb, self.threshold):
            self._last_lines = tuple(line.text for line in self.reader.read(frame.image))
            self._last_thumb = thumb
            self.calls += 1
        return FrameText(frame.time, self._last_lines)


def screen_text_by_window(texts: Sequence[FrameText], windows: Sequence[Window]) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    for text in texts:
        for window in windows:
            if window.contains(text.time):
                out.setdefault(window.index, []).extend(text.lines)
    return {i: " / ".join(_unique(lines)) for i, lines in out.items() if lines}


@dataclass(frozen=True)
class FrameLabels:
    time: float
    labels: tuple[FrameLabel, ...]


class DistinctFrames(Generic[T]):
    """Runs a model over frames in batches, skipping frames that look like the last one it saw (the same
    test as on-screen text): a static scene costs one frame of model work, and its result is still
    credited to every frame showing it."""

    def __init__(
        self, run: Callable[[list[np.ndarray]], Sequence[T]], dedup_threshold: float, batch_size: int = 8
    ) -> None:
        self.run = run
        self.threshold = dedup_threshold
        self.batch_size = batch_size
        self._last_thumb: np.ndarray | None = None
        self._pending: list[np.ndarray] = []
        self._results: list[T] = []
        self._frames: list[tuple[float, int]] = []  # (time, index of the distinct frame it shows)
        self.calls = 0  # distinct frames given to the model

    def add(self, frame: SampledFrame, thumb: np.ndarray | None = None) -> None:
        thumb = thumbnail(frame.image) if thumb is None else thumb
        if _differs(thumb, self._last_thumb, self.threshold):
            self._last_thumb = thumb
            self._pending.append(frame.image)
            self.calls += 1
            if len(self._pending) == self.batch_size:
                self._flush()
        self._frames.append((frame.time, self.calls - 1))

    def finish(self) -> list[tuple[float, int, T]]:
        """(time, distinct frame index, its result) for every frame added, in order."""
        self._flush()
        return [(time, i, self._results[i]) for time, i in self._frames]

    def _flush(self) -> None:
        if self._pending:
            results = list(self.run(self._pending))
            if len(results) != len(self._pending):
                raise ValueError(f"{len(results)} results for {len(self._pending)} frames")
            self._results += results
            self._pending = []


class FrameLabelReader:
    """Labels what frames show, distinct frames only, in batches."""

    def __init__(self, labeler: FrameLabeler, dedup_threshold: float, batch_size: int = 8) -> None:
        self._frames = DistinctFrames[list[FrameLabel]](labeler.label, dedup_threshold, batch_size)

    @property
    def calls(self) -> int:
        return self._frames.calls

    def add(self, frame: SampledFrame, thumb: np.ndarray | None = None) -> None:
        self._frames.add(frame, thumb)

    def finish(self) -> list[FrameLabels]:
        return [FrameLabels(time, tuple(labels)) for time, _, labels in self._frames.finish()]


@dataclass(frozen=True)
class PooledVector:
    """A window's picture in an image-text space: its frames' vectors averaged (each frame counts for
    the time it is shown), L2-normalised; the frame nearest that mean stands for the window."""

    vector: np.ndarray
    frame_time: float
    frames: int  # distinct frames pooled


class FrameVectorReader:
    """Embeds distinct frames with an image-text model, in batches, and pools them per window."""

    def __init__(self, embedder: ImageTextEmbedder, dedup_threshold: float, batch_size: int = 8) -> None:
        self._frames = DistinctFrames[np.ndarray](
            lambda images: list(embedder.embed_images(images)), dedup_threshold, batch_size
        )

    @property
    def calls(self) -> int:
        return self._frames.calls

    def add(self, frame: SampledFrame, thumb: np.ndarray | None = None) -> None:
        self._frames.add(frame, thumb)

    def finish(self, windows: Sequence[Window]) -> dict[int, PooledVector]:
        frames = self._frames.finish()
        out: dict[int, PooledVector] = {}
        for window in windows:
            inside = [(time, i, vector) for time, i, vector in frames if window.contains(time)]
            if not inside:
                continue
            stacked = np.stack([np.asarray(v, dtype=np.float32) for _, _, v in inside])
            mean = stacked.mean(axis=0)
            norm = float(np.linalg.norm(mean))
            pooled = mean / norm if norm > 0 else stacked[0]
            best = int(np.argmax(stacked @ pooled))
            out[window.index] = PooledVector(pooled.astype(np.float32), inside[best][0], len({i for _, i, _ in inside}))
        return out


# A label's words in a window's text: enough to name it the ways a searcher would, not a thesaurus.
MAX_LABEL_WORDS = 8


def labels_by_window(frames: Sequence[FrameLabels], windows: Sequence[Window]) -> dict[int, str]:
    """Per window, every label confident in one of its frames, most confident first, each with its
    synonyms: "cat, Egyptian cat, tabby, pet, animal; coffee, espresso, drink"."""
    out: dict[int, str] = {}
    for window in windows:
        best: dict[str, float] = {}
        words: dict[str, list[str]] = {}
        for frame in frames:
            if not window.contains(frame.time):
                continue
            for label in frame.labels:
                best[label.name] = max(best.get(label.name, 0.0), label.score)
                words.setdefault(label.name, []).extend(label.synonyms)
        if best:
            names = sorted(best, key=lambda name: -best[name])
            out[window.index] = "; ".join(", ".join([name, *_unique(words[name])][:MAX_LABEL_WORDS]) for name in names)
    return out


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A 32x32 grey copy: what the near-duplicate test compares."""
    grey = Image.fromarray(image).convert("L").resize((32, 32), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.float32)


def _differs(thumb: np.ndarray, last: np.ndarray | None, threshold: float) -> bool:
    return last is None or float(np.abs(thumb - last).mean()) >= threshold


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
