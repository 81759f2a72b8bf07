"""A video's chapters: its timeline cut at boundaries, each chapter titled from its own texts.

Boundaries come from sources that each give times with a reason: topic changes between consecutive
windows (the cosine of their mean text vectors falls below `chapter_topic_threshold`) and the cuts
between the shots the indexer found (`export.formats.ChapterSettings.chapters` passes them in).
`build_chapters` merges them, keeps chapters at least `chapter_min_seconds` long, and titles each."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vidsearch.kinds import TextKind
from vidsearch.storage.catalogue import VideoEntry, WindowEntry

# Which text names a chapter best, first to last: what a model saw, what an archivist wrote, what is said.
TITLE_KINDS = (
    TextKind.CAPTION,
    TextKind.ANNOTATION,
    TextKind.SPEECH,
    TextKind.SUBTITLE,
    TextKind.OCR,
    TextKind.OBJECTS,
)
TOPIC = "topic"
SHOT = "shot"
START = "start"


@dataclass(frozen=True)
class Boundary:
    """Where a chapter may start, and why (TOPIC, SHOT, ...)."""

    time: float
    reason: str


@dataclass(frozen=True)
class Chapter:
    start: float
    end: float
    title: str
    reason: str  # why it starts here: START for the first, else its boundary's reason
    window_ids: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "title": self.title, "reason": self.reason}


def topic_boundaries(windows: Sequence[WindowEntry], threshold: float) -> list[Boundary]:
    """Where consecutive windows' texts change subject: the start of each window whose mean text vector
    is farther than `threshold` (cosine) from the previous window that has one. The indexer's windows
    are the timeline where a video has them; imported descriptions (free spans) only where it has none."""
    cut = [w for w in windows if not w.imported] or list(windows)
    out: list[Boundary] = []
    previous: np.ndarray | None = None
    for window in sorted(cut, key=lambda w: (w.start, w.index)):
        if window.vector is None:
            continue
        if previous is not None and float(window.vector @ previous) < threshold:
            out.append(Boundary(window.start, TOPIC))
        previous = window.vector
    return out


def build_chapters(
    video: VideoEntry,
    boundaries: Iterable[Boundary],
    *,
    min_seconds: float,
    title_chars: int,
) -> list[Chapter]:
    """The video's timeline [0, end) cut at the boundaries (from any source, merged in time order); a
    boundary less than `min_seconds` after the chapter it would end is dropped, and a last chapter
    shorter than that joins the one before. No windows, no chapters."""
    end = video.end
    if not video.windows or end <= 0:
        return []
    starts: list[Boundary] = [Boundary(0.0, START)]
    for boundary in sorted(boundaries, key=lambda b: b.time):
        if boundary.time - starts[-1].time >= min_seconds and end - boundary.time > 0:
            starts.append(boundary)
    if len(starts) > 1 and end - starts[-1].time < min_seconds:
        starts.pop()
    chapters = []
    for number, (first, after) in enumerate(zip(starts, [*starts[1:], None], strict=True), 1):
        stop = after.time if after is not None else end
        inside = [w for w in video.windows if w.start < stop and w.end > first.time and _overlap(w, first.time, stop)]
        title = chapter_title(inside, title_chars) or f"Chapter {number}"
        chapters.append(Chapter(first.time, stop, title, first.reason, tuple(w.id for w in inside)))
    return chapters


def _overlap(window: WindowEntry, start: float, stop: float) -> bool:
    """Whether most of the window lies in [start, stop) (a window cut by a boundary counts once)."""
    length = window.end - window.start
    shared = min(window.end, stop) - max(window.start, start)
    return length <= 0 or shared >= length / 2


def chapter_title(windows: Sequence[WindowEntry], limit: int) -> str:
    """A short title from the chapter's texts: the best kind any of its windows has (a text with fewer
    than three letters, an OCR misreading, does not count), from the window nearest the chapter's mean
    meaning (its first where there are no vectors); its first sentence, cut at a word to `limit`
    characters. What the frames show is titled by each label's first name ("cat, coffee")."""
    for kind in TITLE_KINDS:
        having = [w for w in windows if any(_wordy(t) for t in w.texts_of(kind))]
        if not having:
            continue
        text = " ".join(t for t in central_window(having).texts_of(kind) if _wordy(t))
        if kind == TextKind.OBJECTS:  # "cat, Egyptian cat, tabby; coffee, espresso" -> "cat, coffee"
            text = ", ".join(label.split(",")[0].strip() for label in text.split(";") if label.strip())
        return shorten(text, limit)
    return ""


def _wordy(text: str) -> bool:
    return sum(c.isalpha() for c in text) >= 3


def central_window(windows: Sequence[WindowEntry]) -> WindowEntry:
    vectors = [w.vector for w in windows if w.vector is not None]
    if len(vectors) < 2:
        return windows[0]
    mean = np.mean(vectors, axis=0)
    # Rounded, the earliest first among equals: two windows are always equally near their mean, and the
    # choice must not turn on float rounding (vectors embedded in other batches differ by ~1e-6).
    return max(
        (w for w in windows if w.vector is not None),
        key=lambda w: (round(float(w.vector @ mean), 4), -w.start),
    )


_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def shorten(text: str, limit: int) -> str:
    """The first sentence, at most `limit` characters, cut at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    sentence = _SENTENCE_END.split(text, maxsplit=1)[0].rstrip(".")
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 1]
    if sentence[limit - 1] != " ":  # cut inside a word: end at the word before
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(",;: ") + "…"


def video_chapters(
    video: VideoEntry,
    *,
    threshold: float,
    min_seconds: float,
    title_chars: int,
    extra: Iterable[Boundary] = (),
) -> list[Chapter]:
    """The video's chapters from its topic changes and any other boundaries given (shots)."""
    boundaries = [*topic_boundaries(video.windows, threshold), *extra]
    return build_chapters(video, boundaries, min_seconds=min_seconds, title_chars=title_chars)
