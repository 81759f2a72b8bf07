"""Shaping window hits into moments people can watch: a strong window pulls in the touching windows
that match nearly as well, and weaker hits on the same stretch of video collapse into it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# A touching window joins a moment when it scores at least this share of the moment's best window.
JOIN_RATIO = 0.85
_TOUCH = 1e-3  # seconds: windows that meet end to start touch


@dataclass(frozen=True)
class WindowHit:
    window_id: int
    video_id: int
    path: str
    start: float
    end: float
    score: float
    kinds: frozenset[str]  # which kinds of text matched


@dataclass
class Moment:
    video_id: int
    path: str
    start: float
    end: float
    score: float
    window_ids: list[int]
    matched: set[str] = field(default_factory=set)
    texts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape of a moment (search results, answer evidence)."""
        return {
            "video_id": self.video_id,
            "path": self.path,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "score": round(self.score, 4),
            "texts": self.texts,
        }

    def touches(self, hit: WindowHit) -> bool:
        return hit.video_id == self.video_id and hit.start <= self.end + _TOUCH and hit.end >= self.start - _TOUCH


def merge_into_moments(hits: Sequence[WindowHit], k: int, join_ratio: float = JOIN_RATIO) -> list[Moment]:
    """Up to k moments, best first, from window hits in any order."""
    moments: list[Moment] = []
    for hit in sorted(hits, key=lambda h: (-h.score, h.video_id, h.start)):
        home = next((m for m in moments if m.touches(hit)), None)
        if home is None:
            if len(moments) < k:
                moments.append(
                    Moment(hit.video_id, hit.path, hit.start, hit.end, hit.score, [hit.window_id], set(hit.kinds))
                )
            continue
        if hit.score >= join_ratio * home.score:
            home.start, home.end = min(home.start, hit.start), max(home.end, hit.end)
            home.window_ids.append(hit.window_id)
            home.matched |= hit.kinds
        # else: a weaker hit on a stretch already shown: it collapses into that moment.
    return sorted(moments, key=lambda m: -m.score)


def moment_texts(window_order: Sequence[int], texts: dict[int, list[tuple[str, str]]]) -> dict[str, str]:
    """Each kind's texts across the moment's windows in time order; repeats (a title on screen across
    windows) appear once."""
    by_kind: dict[str, dict[str, None]] = {}
    for window_id in window_order:
        for kind, text in texts.get(window_id, []):
            by_kind.setdefault(kind, {})[text] = None
    return {kind: " ".join(parts) for kind, parts in sorted(by_kind.items())}
