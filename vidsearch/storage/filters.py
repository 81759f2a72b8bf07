"""What a search may be narrowed to, and how that becomes SQL conditions (one place for both the
keyword query and the set of texts the vector search may return)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, select

from vidsearch.errors import InvalidQueryError
from vidsearch.kinds import MATCH_KINDS, TEXT_KINDS
from vidsearch.storage.schema import OFFLINE_STATUSES, VideoRecord, WindowRecord, WindowTag, WindowTextRecord


@dataclass(frozen=True)
class SearchFilters:
    """Every field narrows the search; tags and kinds match when a window has all the tags given and
    a text is of any of the kinds given."""

    path_prefix: str | None = None  # a folder, a collection, or any start of the stored path
    tags: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    recorded_after: datetime | None = None
    recorded_before: datetime | None = None
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    min_duration: float | None = None
    max_duration: float | None = None

    @property
    def active(self) -> bool:
        return any(value not in (None, ()) for value in self.__dict__.values())

    def describe(self) -> dict[str, Any]:
        """The filters as given, for logs and responses."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value in (None, ()):
                continue
            out[key] = (
                value.isoformat() if isinstance(value, datetime) else list(value) if isinstance(value, tuple) else value
            )
        return out

    def check(self) -> None:
        """Raise InvalidQueryError for what no library can match: a kind of text that does not exist, a
        negative duration."""
        unknown = [k for k in self.kinds if k not in MATCH_KINDS]
        if unknown:
            raise InvalidQueryError(
                f"unknown kind of text {', '.join(map(repr, unknown))}: the kinds are {', '.join(MATCH_KINDS)}"
            )
        for name, value in (("minimum", self.min_duration), ("maximum", self.max_duration)):
            if value is not None and value < 0:
                raise InvalidQueryError(f"the {name} duration is negative ({value:g} s)")

    def contradiction(self) -> str | None:
        """Filters that exclude each other (an empty date range, a minimum duration over the maximum),
        said as a person would: a reason for an empty page rather than an error, since each is fine alone."""
        for name, low, high in (
            ("recorded", self.recorded_after, self.recorded_before),
            ("modified", self.modified_after, self.modified_before),
        ):
            if low is not None and high is not None and _utc(low) >= _utc(high):
                return f"{name} on or after {_day(low)} and before {_day(high)}: that range is empty"
        if self.min_duration is not None and self.max_duration is not None and self.min_duration > self.max_duration:
            return f"the minimum duration ({self.min_duration:g} s) is more than the maximum ({self.max_duration:g} s)"
        return None

    def each(self) -> list[tuple[str, SearchFilters]]:
        """Each filter on its own, with what it means when it matches nothing: to tell a person which
        filter emptied a search."""
        parts: list[tuple[str, SearchFilters]] = []
        if self.path_prefix:
            parts.append((f"no video path starts with {self.path_prefix}", SearchFilters(path_prefix=self.path_prefix)))
        parts += [(f"no window is tagged {tag!r}", SearchFilters(tags=(tag,))) for tag in self.tags]
        if self.kinds:
            parts.append((f"no {' or '.join(self.kinds)} text is indexed", SearchFilters(kinds=self.kinds)))
        dated = "(a recording date is the camera's creation_time tag; many files have none)"
        if self.recorded_after is not None:
            parts.append(
                (
                    f"no video was recorded on or after {_day(self.recorded_after)} {dated}",
                    SearchFilters(recorded_after=self.recorded_after),
                )
            )
        if self.recorded_before is not None:
            parts.append(
                (
                    f"no video was recorded before {_day(self.recorded_before)} {dated}",
                    SearchFilters(recorded_before=self.recorded_before),
                )
            )
        if self.modified_after is not None:
            parts.append(
                (
                    f"no video file was modified on or after {_day(self.modified_after)}",
                    SearchFilters(modified_after=self.modified_after),
                )
            )
        if self.modified_before is not None:
            parts.append(
                (
                    f"no video file was modified before {_day(self.modified_before)}",
                    SearchFilters(modified_before=self.modified_before),
                )
            )
        if self.min_duration is not None:
            parts.append(
                (f"no video is at least {self.min_duration:g} s long", SearchFilters(min_duration=self.min_duration))
            )
        if self.max_duration is not None:
            parts.append(
                (f"no video is at most {self.max_duration:g} s long", SearchFilters(max_duration=self.max_duration))
            )
        return parts

    @property
    def text_kinds(self) -> tuple[str, ...]:
        """The kinds asked for that are kinds of text (not `visual`, a match on the picture)."""
        return tuple(k for k in self.kinds if k in TEXT_KINDS)

    def wants(self, kind: str) -> bool:
        """Whether matches of this kind may be returned (any, when no kind is asked for)."""
        return not self.kinds or kind in self.kinds

    def conditions(self, *, texts: bool = True) -> list[ColumnElement[bool]]:
        """WHERE clauses over window_texts joined to windows and videos (live windows of videos that
        are not offline: a missing file's or a removed video's windows are never returned). With
        `texts=False`, over windows joined to videos only (the kinds of text do not apply)."""
        where: list[ColumnElement[bool]] = [
            WindowRecord.retired.is_(False),
            VideoRecord.status.not_in(OFFLINE_STATUSES),
        ]
        if self.path_prefix:
            where.append(VideoRecord.path.startswith(self.path_prefix, autoescape=True))
        for tag in self.tags:
            where.append(
                exists(select(WindowTag.window_id).where(WindowTag.window_id == WindowRecord.id, WindowTag.tag == tag))
            )
        if self.kinds and texts:
            where.append(WindowTextRecord.kind.in_(self.text_kinds))
        if self.recorded_after is not None:
            where.append(VideoRecord.recorded_at >= _utc(self.recorded_after))
        if self.recorded_before is not None:
            where.append(VideoRecord.recorded_at < _utc(self.recorded_before))
        if self.modified_after is not None:
            where.append(VideoRecord.mtime >= _utc(self.modified_after).timestamp())
        if self.modified_before is not None:
            where.append(VideoRecord.mtime < _utc(self.modified_before).timestamp())
        if self.min_duration is not None:
            where.append(VideoRecord.duration >= self.min_duration)
        if self.max_duration is not None:
            where.append(VideoRecord.duration <= self.max_duration)
        return where


def _day(value: datetime) -> str:
    """A date as a person gave it: the day alone when it is midnight."""
    if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.date().isoformat()
    return value.isoformat()


def _utc(value: datetime) -> datetime:
    # A date given without a zone means UTC, as stored.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
