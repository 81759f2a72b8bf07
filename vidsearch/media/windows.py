"""Cutting a video's timeline into clip windows."""

from __future__ import annotations

import math
from dataclasses import dataclass

# A tail shorter than this (often audio padding a few ms past the last frame) joins the window
# before it instead of becoming a window of its own.
MIN_TAIL_SECONDS = 1.0


@dataclass(frozen=True)
class Window:
    """A span of one video, in seconds from the start of the media."""

    index: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end

    def overlap(self, start: float, end: float) -> float:
        return max(0.0, min(self.end, end) - max(self.start, start))


def plan_windows(duration: float, length: float, stride: float) -> list[Window]:
    """Windows of `length` seconds every `stride` seconds covering [0, duration]; the last is shorter."""
    if duration <= 0:
        return []
    if length <= 0 or stride <= 0 or stride > length:
        raise ValueError(f"invalid window length {length} / stride {stride}")
    windows: list[Window] = []
    count = max(1, math.ceil(max(duration - length, 0.0) / stride - 1e-9) + 1)
    for i in range(count):
        start = round(i * stride, 6)
        end = round(min(start + length, duration), 6)
        windows.append(Window(i, start, end))
    if len(windows) > 1 and windows[-1].duration < min(MIN_TAIL_SECONDS, length / 2):
        tail = windows.pop()
        before = windows.pop()
        windows.append(Window(before.index, before.start, tail.end))
    return windows
