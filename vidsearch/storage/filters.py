"""What a search may be narrowed to, and how that becomes SQL conditions (one place for both the
keyword query and the set of texts the vector search may return)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, select

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

    def conditions(self) -> list[ColumnElement[bool]]:
        """WHERE clauses over window_texts joined to windows and videos (live windows of videos that
        are not offline: a missing file's or a removed video's windows are never returned)."""
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
        if self.kinds:
            where.append(WindowTextRecord.kind.in_(self.kinds))
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


def _utc(value: datetime) -> datetime:
    # A date given without a zone means UTC, as stored.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
