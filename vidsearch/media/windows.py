"""Cutting a video's timeline into clip windows."""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def plan_shot_windows(shots: Sequence[tuple[float, float]], length: float, stride: float) -> list[Window]:
    """Windows that never straddle a cut: a shot no longer than `length` is one window; a longer shot is
    split on the grid of `length` and `stride`, stretched to fill the shot exactly (n windows, n the
    least that cover it with that grid, each `length` x f long every `stride` x f): the window length
    stays the ceiling, the overlap keeps its share, and no sliver of a window is left at the shot's end.
    As on the fixed grid, where a tail shorter than min(`MIN_TAIL_SECONDS`, half the length) joins its
    neighbour, a shot that overshoots the grid by less than that (audio padding past the last frame,
    often) gets no window more: its windows are then longer than `length` by under a second between
    them. `shots` are (start, end) in time order, end to end."""
    if length <= 0 or stride <= 0 or stride > length:
        raise ValueError(f"invalid window length {length} / stride {stride}")
    slack = min(MIN_TAIL_SECONDS, length / 2)
    windows: list[Window] = []
    for start, end in shots:
        duration = end - start
        if duration <= 0:
            continue
        # The fewest windows whose grid reaches past the shot's end by more than the slack.
        count = 1 if duration < length + slack else math.floor((duration - length - slack) / stride + 1e-9) + 2
        scale = 1.0 if count == 1 else duration / (length + (count - 1) * stride)
        for i in range(count):
            w_start = round(start + i * stride * scale, 6)
            w_end = end if i == count - 1 else min(end, start + (i * stride + length) * scale)
            windows.append(Window(len(windows), float(w_start), float(round(w_end, 6))))
    return windows
