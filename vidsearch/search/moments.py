"""Shaping window hits into moments people can watch.

Two kinds of window reach search: windows the indexer cut on a fixed grid, and spans given whole
(imported descriptions, which are moments already). Rules, best hit first:
- a hit overlapping a moment's first window by at least `overlap_iou` is the same moment found again
  (another annotator, another modality, an overlapping window): it supports the moment, whose span
  becomes the consensus (median) of those windows' boundaries and whose score gains `support` times
  their mean score;
- a grid window touching a grid moment extends it when it scores at least `join_ratio` of the
  moment's best, and otherwise collapses into it (the stretch is already shown);
- anything else starts a moment of its own;
- where a moment's span is a consensus of windows that disagree (the median of their starts or ends)
  and the video's shots are known, that boundary moves to the hard cut nearest it among those lying
  between the windows' earliest and latest start (end): the evidence allows any boundary in that range,
  and a cut is where a moment really begins or ends. A boundary that no two windows dispute stays as it
  is (a shot-aware window's boundary is a cut already, or a split inside a long shot), and so does a
  moment led by an imported span.
Each of these was chosen with the evaluation harness: docs/evaluation.md has the numbers."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Collection, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from vidsearch.storage.schema import TextKind

_TOUCH = 1e-3  # seconds: windows that meet end to start touch
_SAME_SPAN = 0.999  # temporal IoU of two spans that are the same (up to float rounding)


# Texts about the whole video whose hits are the whole video (a video's name, on its first window too,
# keeps pointing there: "holidays" finds where each video in that folder starts).
WHOLE_VIDEO_HIT_KINDS = (TextKind.DESCRIPTION,)


class WindowHit(NamedTuple):
    """A window's best text hit (a named tuple: a search makes a few hundred a query)."""

    window_id: int
    video_id: int
    path: str
    start: float
    end: float
    score: float
    kinds: frozenset[str]  # which kinds of text matched
    text_ids: frozenset[int] = frozenset()  # which texts matched
    delimited: bool = False  # a span given whole (imported), not cut by the indexer
    # A text about the whole video matched (its description): the hit is the video from start to end,
    # a moment of its own that window hits neither join nor support.
    whole_video: bool = False


@dataclass
class Snippet:
    """A text of the moment that matched, with the character spans of the query words in it."""

    text_id: int
    kind: str
    text: str
    marks: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "marks": [list(m) for m in self.marks]}


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
    snippets: list[Snippet] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    text_ids: set[int] = field(default_factory=set)
    best_window_id: int = 0  # the best-scoring window: its thumbnail stands for the moment
    whole_video: bool = False  # the video as a whole (its description matched), not a stretch of it

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape of a moment (search results, answer evidence)."""
        return {
            "video_id": self.video_id,
            "path": self.path,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "score": round(self.score, 4),
            "window_id": self.best_window_id,
            "matched": sorted(self.matched),
            "texts": self.texts,
            "snippets": [s.to_dict() for s in self.snippets],
            "tags": self.tags,
        }


def temporal_iou(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    inter = max(0.0, min(a_end, b_end) - max(a_start, b_start))
    union = max(a_end, b_end) - min(a_start, b_start)
    return inter / union if union > 0 else 0.0


@dataclass
class _Building:
    first: WindowHit
    start: float
    end: float
    support: list[WindowHit] = field(default_factory=list)  # hits overlapping `first` by >= overlap_iou
    joined: list[WindowHit] = field(default_factory=list)  # touching grid windows that extended it

    def touches(self, hit: WindowHit) -> bool:
        return hit.video_id == self.first.video_id and hit.start <= self.end + _TOUCH and hit.end >= self.start - _TOUCH

    def overlap(self, hit: WindowHit) -> float:
        if hit.video_id != self.first.video_id:
            return 0.0
        iou = temporal_iou(self.first.start, self.first.end, hit.start, hit.end)
        if hit.whole_video != self.first.whole_video:  # the whole video and a stretch of it are the same
            return iou if iou >= _SAME_SPAN else 0.0  # moment only where the stretch is all of it
        return iou

    def score(self, support_weight: float) -> float:
        if not self.support:
            return self.first.score
        return self.first.score + support_weight * statistics.fmean(h.score for h in self.support)

    def disputed(self) -> bool:
        """Whether the windows found again disagree on where the moment starts or ends (see `snap`)."""
        same = [self.first, *self.support]
        return (
            not self.first.delimited
            and len(same) > 1
            and (len({h.start for h in same}) > 1 or len({h.end for h in same}) > 1)
        )

    def moment(self, score: float, cuts: Sequence[float] = ()) -> Moment:
        members = [self.first, *self.support, *self.joined]
        start, end = self.first.start, self.first.end
        if self.support:
            # The k-th smallest start precedes the k-th smallest end, so the medians form a span.
            same = [self.first, *self.support]
            start, end = statistics.median(h.start for h in same), statistics.median(h.end for h in same)
            if cuts and self.disputed():
                start, end = snap(start, end, same, cuts)
        for hit in self.joined:
            start, end = min(start, hit.start), max(end, hit.end)
        return Moment(
            self.first.video_id,
            self.first.path,
            start,
            end,
            score,
            [h.window_id for h in members],
            set().union(*(h.kinds for h in members)),
            text_ids=set().union(*(h.text_ids for h in members)),
            best_window_id=self.first.window_id,
            whole_video=self.first.whole_video,
        )


def snap(start: float, end: float, same: Sequence[WindowHit], cuts: Sequence[float]) -> tuple[float, float]:
    """A consensus span moved to the cuts the evidence allows (the module's last rule)."""

    def nearest(value: float, bounds: list[float]) -> float:
        inside = [c for c in cuts if min(bounds) <= c <= max(bounds)]
        return min(inside, key=lambda c: abs(c - value)) if inside else value

    new_start = nearest(start, [h.start for h in same])
    new_end = nearest(end, [h.end for h in same])
    return (new_start, new_end) if new_start < new_end else (start, end)


def merge_into_moments(
    hits: Sequence[WindowHit],
    *,
    overlap_iou: float = 0.5,
    support: float = 0.1,
    join_ratio: float = 0.85,
    keep: int | None = None,
    shot_cuts: Callable[[Collection[int]], Mapping[int, Sequence[float]]] | None = None,
) -> list[Moment]:
    """Moments, best first, from window hits in any order (see the module's rules); with `keep`, only
    the best `keep` (a search shows a page of a few hundred candidates' moments). `shot_cuts` gives the
    cuts of the videos asked for; it is asked once, for the moments shown whose span is disputed."""
    building: list[_Building] = []
    by_video: dict[int, list[_Building]] = {}  # the same moments, per video: hits only meet their own video
    for hit in sorted(hits, key=lambda h: (-h.score, h.video_id, h.start)):
        mine = by_video.setdefault(hit.video_id, [])
        same = next((b for b in mine if b.overlap(hit) >= overlap_iou), None)
        if same is not None:
            same.support.append(hit)
            continue
        if not hit.delimited and not hit.whole_video:
            near = next((b for b in mine if not b.first.delimited and not b.first.whole_video and b.touches(hit)), None)
            if near is not None:
                if hit.score >= join_ratio * near.first.score:
                    near.start, near.end = min(near.start, hit.start), max(near.end, hit.end)
                    near.joined.append(hit)
                continue  # weaker: the stretch is already shown
        fresh = _Building(hit, hit.start, hit.end)
        building.append(fresh)
        mine.append(fresh)
    # Scores first: building a Moment is most of the cost, and only the best `keep` are shown.
    scored = [(b.score(support), b) for b in building]
    scored.sort(key=lambda pair: (-pair[0], pair[1].first.video_id, pair[1].first.start))
    chosen = scored if keep is None else scored[:keep]
    disputed = {b.first.video_id for _, b in chosen if b.disputed()}
    cuts = shot_cuts(disputed) if shot_cuts is not None and disputed else {}
    return [b.moment(score, cuts.get(b.first.video_id, ())) for score, b in chosen]


def moment_texts(
    window_order: Sequence[int],
    texts: dict[int, list[tuple[int, str, str]]],
    matched: Container[int] = (),
    *,
    whole_video: bool = False,
) -> dict[str, str]:
    """Each kind's texts across the moment's windows in time order; repeats (a title on screen across
    windows) appear once. A video's name and description are not something a stretch of it says: they
    are shown only when among the `matched` text ids (a stretch that is the whole video, a one-window
    video's). A moment of the `whole_video` (its description matched) says what matched and nothing
    else of its first window."""
    by_kind: dict[str, dict[str, None]] = {}
    for window_id in window_order:
        for text_id, kind, text in texts.get(window_id, []):
            if whole_video:
                if text_id not in matched:
                    continue
            elif kind in (TextKind.NAME, *WHOLE_VIDEO_HIT_KINDS) and text_id not in matched:
                continue
            by_kind.setdefault(kind, {})[text] = None
    return {kind: " ".join(parts) for kind, parts in sorted(by_kind.items())}
