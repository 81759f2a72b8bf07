"""Turning what the models and the file say into one text per window and kind."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vidsearch.media.frames import SampledFrame
from vidsearch.media.subtitles import Cue
from vidsearch.media.windows import Window
from vidsearch.models.base import SpokenWord, TextReader


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

    def read(self, frame: SampledFrame) -> FrameText:
        thumb = _thumbnail(frame.image)
        if self._last_thumb is None or float(np.abs(thumb - self._last_thumb).mean()) >= self.threshold:
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


def _thumbnail(image: np.ndarray) -> np.ndarray:
    grey = Image.fromarray(image).convert("L").resize((32, 32), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.float32)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
