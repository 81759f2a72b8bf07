"""Turning what the models and the file say into one text per window and kind."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from PIL import Image

from vidsearch.media.frames import SampledFrame
from vidsearch.media.subtitles import Cue
from vidsearch.media.windows import Window
from vidsearch.models.base import (
    FrameLabel,
    FrameLabeler,
    ImageTextEmbedder,
    RegionTextReader,
    SpokenWord,
    TextLine,
    TextReader,
)

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


# A cue belongs to a window it overlaps by at least min(this, half the cue): a cue that ends on a cut
# (where a shot-aware window starts) or runs a few milliseconds past a window's edge is not the next
# window's text. The version is part of the pipeline fingerprint: a change re-indexes.
CUE_MIN_OVERLAP_SECONDS = 0.5
SUBTITLE_ATTACHMENT_VERSION = 2


def cues_by_window(cues: Sequence[Cue], windows: Sequence[Window]) -> dict[int, tuple[str, str]]:
    """(text, sources) per window, from every cue that overlaps it by at least
    min(CUE_MIN_OVERLAP_SECONDS, half the cue's length); a cue that overlaps no window that much is in
    the window it overlaps most. Repeated cue texts appear once; a cue's lines are one line here."""
    out: dict[int, list[Cue]] = {}
    for cue in sorted(cues, key=lambda c: (c.start, c.end)):
        needed = min(CUE_MIN_OVERLAP_SECONDS, (cue.end - cue.start) / 2)
        overlaps = [(window.overlap(cue.start, cue.end), window) for window in windows]
        # (A microsecond of slack: half of a cue that sits evenly on an edge is half, whatever the floats say.)
        chosen = [window for overlap, window in overlaps if overlap > 0 and overlap >= needed - 1e-6]
        if not chosen:
            best = max(overlaps, key=lambda pair: pair[0], default=(0.0, None))
            chosen = [best[1]] if best[1] is not None and best[0] > 0 else []
        for window in chosen:
            out.setdefault(window.index, []).append(cue)
    return {
        i: (" ".join(_unique(" ".join(c.text.split()) for c in group)), ", ".join(_unique(c.source for c in group)))
        for i, group in out.items()
    }


@dataclass(frozen=True)
class FrameText:
    time: float
    lines: tuple[str, ...]


class ScreenTextReader:
    """Reads on-screen text frame by frame, skipping frames that look like the last one read:
    a static title costs one OCR call, and its text is still credited to every frame showing it.

    With a reader whose detector and recogniser can be called apart (RegionTextReader), a frame that
    moved is only searched for text (the cheap half on a frame without text, which is most footage),
    and a line found where the last frame read had one keeps that line's reading unless its pixels
    changed (`reread_threshold`): only new or changed lines are recognised, in one batch a frame. A
    title over moving footage is recognised once, not once a second; a number that changes in place,
    a title that slides and a new shot behind bare text are read again. Where the last frame read had
    no text, the reader first glances at the frame (`may_hold_text`, the detector at low resolution) and
    searches it in full only if it sees text, or when `glance_every` frames have passed since the last
    full search (text too small for the glance is still found, that many frames late at most)."""

    def __init__(
        self,
        reader: TextReader,
        dedup_threshold: float,
        reread_threshold: float = 0.0,
        clock: Callable[[str], AbstractContextManager[object]] | None = None,
        glance_every: int = 1,
    ) -> None:
        self.reader = reader
        self.threshold = dedup_threshold
        self.reread_threshold = reread_threshold
        self.glance_every = glance_every
        self._since_search = 0  # frames read since the last full search
        self._clock = clock or (lambda _stage: nullcontext())
        self._regions = isinstance(reader, RegionTextReader) and reread_threshold > 0
        self._last_thumb: np.ndarray | None = None
        self._last_lines: tuple[str, ...] = ()
        self._last_grey: np.ndarray | None = None
        self._last_read: list[_ReadLine] = []
        self.calls = 0  # frames read (glanced at or searched for text)
        self.glanced = 0  # frames a glance found no text in (not searched in full)
        self.lines_read = 0  # lines given to the recogniser (RegionTextReader)
        self.lines_kept = 0  # lines whose last reading was kept

    def read(self, frame: SampledFrame, thumb: np.ndarray | None = None) -> FrameText:
        """`thumb`: the frame's `thumbnail()`, when the caller has it already."""
        thumb = thumbnail(frame.image) if thumb is None else thumb
        if _differs(thumb, self._last_thumb, self.threshold):
            if self._regions:
                self._last_lines = self._read_regions(frame.image)
            else:
                self._last_lines = tuple(line.text for line in self.reader.read(frame.image))
            self._last_thumb = thumb
            self.calls += 1
        return FrameText(frame.time, self._last_lines)

    def _read_regions(self, image: np.ndarray) -> tuple[str, ...]:
        reader = self.reader
        assert isinstance(reader, RegionTextReader)
        if not self._last_read and self._since_search + 1 < self.glance_every:
            with self._clock("ocr_glance"):
                seen = reader.may_hold_text(image)
            if not seen:
                self._since_search += 1
                self.glanced += 1
                return ()
        self._since_search = 0
        with self._clock("ocr_detect"):
            regions = reader.detect(image)
        grey = np.asarray(Image.fromarray(image).convert("L"))
        lines: list[TextLine | None] = []
        rects = [_rect(region.quad, grey.shape) for region in regions]
        for rect in rects:
            kept = _same_line(rect, self._last_read, self._last_grey, grey, self.reread_threshold)
            lines.append(kept)
        new = [i for i, line in enumerate(lines) if line is None]
        if new:
            with self._clock("ocr_recognise"):
                read = reader.recognise([regions[i] for i in new])
            if len(read) != len(new):
                raise ValueError(f"{len(read)} lines read for {len(new)} regions")
            for i, line in zip(new, read, strict=True):
                lines[i] = line
        self.lines_read += len(new)
        self.lines_kept += len(regions) - len(new)
        done = [line for line in lines if line is not None]
        self._last_read = [_ReadLine(rect, line) for rect, line in zip(rects, done, strict=True)]
        self._last_grey = grey
        return tuple(line.text for line in done if line.text)


@dataclass(frozen=True)
class _ReadLine:
    rect: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), frame pixels
    line: TextLine


def _rect(quad: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    height, width = shape[:2]
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    return max(0, int(x0)), max(0, int(y0)), min(width, int(x1) + 1), min(height, int(y1) + 1)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two rectangles."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# A line found again overlaps the last reading's box by at least this much (intersection over union).
SAME_BOX = 0.5


def _same_line(
    rect: tuple[int, int, int, int],
    last: Sequence[_ReadLine],
    last_grey: np.ndarray | None,
    grey: np.ndarray,
    threshold: float,
) -> TextLine | None:
    """The last reading of the line at `rect` if that line is still there unchanged, else None."""
    if last_grey is None or last_grey.shape != grey.shape or not last:
        return None
    best = max(last, key=lambda read: _overlap(rect, read.rect))
    if _overlap(rect, best.rect) < SAME_BOX:
        return None
    # Compare both boxes' area in both frames: a jittering box around the same pixels is the same line.
    x0, y0 = min(rect[0], best.rect[0]), min(rect[1], best.rect[1])
    x1, y1 = max(rect[2], best.rect[2]), max(rect[3], best.rect[3])
    return best.line if region_change(last_grey[y0:y1, x0:x1], grey[y0:y1, x0:x1]) < threshold else None


# What counts as a stroke of a text line and as a changed one (grey levels, 0-255): a pixel this far from
# the patch's median (the box behind the text, or the picture around bare text) in either frame, and a
# change of a stroke pixel by this much between the frames.
STROKE_CONTRAST = 70
STROKE_CHANGE = 60


def region_change(before: np.ndarray, after: np.ndarray) -> float:
    """How much a text line's patch changed between two grey frames, 0 (the same strokes) to 1: the
    largest share of stroke pixels that changed, over blocks along the line. Only the middle half of
    the patch's height is compared (the detector's box adds a margin of picture above and below the
    letters) and only stroke pixels (far from the patch's median in either frame), so the picture
    moving behind a title or around bare text counts little, while one changed digit changes most of
    its block (a block is 0.7 of the patch's height wide: about a character). A patch with no
    strokes to compare counts as changed."""
    height, width = before.shape[:2]
    top, bottom = height // 4, height - height // 4
    a = before[top:bottom].astype(np.int16)
    b = after[top:bottom].astype(np.int16)
    if not a.size:
        return 1.0
    strokes = (np.abs(a - np.median(a)) > STROKE_CONTRAST) | (np.abs(b - np.median(b)) > STROKE_CONTRAST)
    changed = strokes & (np.abs(a - b) > STROKE_CHANGE)
    block = max(1, round(0.7 * height))
    starts = np.arange(0, width, block)
    stroke_counts = np.add.reduceat(strokes.sum(axis=0), starts)
    changed_counts = np.add.reduceat(changed.sum(axis=0), starts)
    areas = np.diff(np.append(starts, width)) * a.shape[0]
    judged = stroke_counts >= 0.05 * areas  # blocks with strokes in them (not the gaps between words)
    if not judged.any():
        return 1.0
    return float((changed_counts[judged] / stroke_counts[judged]).max())


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
