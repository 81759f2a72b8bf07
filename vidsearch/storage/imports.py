"""Imported windows: timestamped descriptions given whole by a file (JSONL, CSV, subtitles), not cut
by the indexer. They are user data: re-indexing a video never replaces them, and importing the same
file again brings the library to what the file says now (new rows added, changed rows replaced, rows
no longer in the file taken out) instead of adding every row a second time.

Each window remembers its import (`import_source`: the file's resolved path or a name given) and its
key within it (`import_key`: the row's own id, or a digest of what it says). Replaced windows are
retired, not deleted, like re-indexed ones: the generation being served still resolves its hits to
them until the next one is published."""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from vidsearch.storage.schema import (
    IMPORT_SOURCE,
    ShotRecord,
    SubtitleCueRecord,
    TextKind,
    VideoRecord,
    VideoStatus,
    WindowRecord,
    WindowTag,
    WindowTextRecord,
    utcnow,
)
from vidsearch.storage.store import StoreBase
from vidsearch.storage.videos import SubtitleCue

# The lines of an exported catalogue (`vidsearch export --format jsonl`): one about each video, then one
# per window with all its texts. A line without `record` is a description row.
VIDEO_RECORD = "video"
WINDOW_RECORD = "window"

# Windows imported before imports were keyed: their file is unknown, an import of the same rows adopts them.
LEGACY_SOURCE = ""


@dataclass(frozen=True)
class ImportText:
    """One text of an imported window, with the model that wrote it when the import says (a catalogue
    exported by `vidsearch export` does)."""

    kind: str
    text: str
    model_id: int | None = None
    source: str = IMPORT_SOURCE  # a window the indexer cut (an exported catalogue's) keeps its texts' own


@dataclass(frozen=True)
class ImportRow:
    """One description as an import gives it: a window with its text (and, from an exported catalogue,
    the window's further texts in `more`)."""

    key: str
    start: float
    end: float
    kind: str
    text: str
    tags: tuple[str, ...] = ()
    model_id: int | None = None
    more: tuple[ImportText, ...] = ()
    cut_by_indexer: bool = False  # a window an indexer cut, as an exported catalogue lists it
    source: str = IMPORT_SOURCE  # the first text's (see ImportText.source)

    @property
    def texts(self) -> tuple[ImportText, ...]:
        return (ImportText(self.kind, self.text, self.model_id, self.source), *self.more)

    def same_as(self, other: ImportRow) -> bool:
        return (self.start, self.end, self.texts, sorted(self.tags), self.cut_by_indexer) == (
            other.start,
            other.end,
            other.texts,
            sorted(other.tags),
            other.cut_by_indexer,
        )


@dataclass(frozen=True)
class CatalogueVideo:
    """What the video line of an exported catalogue says about a video, as the library that exported it
    knew it: restored on import to a video this library knows only through imports."""

    status: str
    duration: float | None = None
    start_time: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int = 0
    content_hash: str | None = None
    recorded_at: datetime | None = None
    indexed_at: datetime | None = None
    probe: dict[str, Any] = field(default_factory=dict)  # what the probe said that the line carries
    shots: tuple[tuple[float, float], ...] = ()
    subtitle_cues: tuple[SubtitleCue, ...] = ()
    pipeline_fingerprint: str | None = None
    pipeline_settings: dict[str, Any] | None = None


@dataclass
class ImportChanges:
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    removed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.removed)

    def __iadd__(self, other: ImportChanges) -> ImportChanges:
        self.added += other.added
        self.replaced += other.replaced
        self.unchanged += other.unchanged
        self.removed += other.removed
        return self


@dataclass(frozen=True)
class _Stored:
    window_id: int
    video_id: int
    row: ImportRow


class ImportedWindowsMixin(StoreBase):
    """The imports part of `Database` (which provides `session`)."""

    def video_for_import(self, key: str, *, file: str | None, duration: float | None) -> int:
        """The video imported texts name: the one at `file` (a resolved path that exists here), or else
        one known only by `key`. A file not indexed yet is `pending`, a key that is no file `external`."""
        path = file or key
        with self.session() as s:
            video = s.scalar(select(VideoRecord).where(VideoRecord.path == path))
            if video is None:
                status = VideoStatus.PENDING if file else VideoStatus.EXTERNAL
                video = VideoRecord(path=path, status=status, duration=duration, created_at=utcnow())
                s.add(video)
            elif duration and not video.duration:
                video.duration = duration
            s.flush()
            return video.id

    def sync_import(
        self, source: str, rows: Mapping[int, Sequence[ImportRow]], *, replace: bool = True
    ) -> ImportChanges:
        """Bring the windows of the import `source` to `rows` (video id: its rows), in one transaction.
        With `replace`, the import's windows whose key is no longer given are taken out."""
        changes = ImportChanges()
        with self.session() as s:
            stored = {key: found for key, found in _stored_rows(s, source)}
            legacy = _legacy_rows(s, list(rows))
            next_idx: dict[int, int] = {}
            given: set[str] = set()
            for video_id, video_rows in rows.items():
                for row in sorted(video_rows, key=lambda r: (r.start, r.end, r.key)):
                    given.add(row.key)
                    old = stored.get(row.key)
                    if old is not None and old.video_id == video_id and old.row.same_as(row):
                        changes.unchanged += 1
                        continue
                    if old is not None:
                        _retire(s, [old.window_id])
                        changes.replaced += 1
                    adopted = legacy.pop((video_id, row.start, row.end, row.kind, row.text), None)
                    if adopted is not None:  # the same row, imported before imports had keys
                        _adopt(s, adopted, source, row)
                        if old is None:
                            changes.unchanged += 1
                        continue
                    if video_id not in next_idx:
                        last = s.scalar(select(func.max(WindowRecord.idx)).where(WindowRecord.video_id == video_id))
                        next_idx[video_id] = 0 if last is None else last + 1
                    _add(s, video_id, next_idx[video_id], source, row)
                    next_idx[video_id] += 1
                    if old is None:
                        changes.added += 1
            if replace:
                gone = [found.window_id for key, found in stored.items() if key not in given]
                _retire(s, gone)
                changes.removed += len(gone)
        return changes

    def remove_import(self, source: str) -> int:
        """Take every window of the import `source` out (retired: deleted with the next generation)."""
        with self.session() as s:
            ids = list(
                s.scalars(
                    select(WindowRecord.id).where(WindowRecord.import_source == source, WindowRecord.retired.is_(False))
                )
            )
            _retire(s, ids)
            return len(ids)

    def indexed_here(self, video_id: int) -> bool:
        """Whether this library's indexer has cut live windows of the video."""
        with self.session() as s:
            return _indexed_here(s, video_id)

    def restore_catalogue_video(self, video_id: int, facts: CatalogueVideo, *, file_here: bool) -> bool:
        """Give a video this library knows only through imports the facts its catalogue line carries (its
        probe data, size, hash, dates, shots, subtitle cues), and the status it had where it was exported
        when its file is here (`done`: searchable, and `vidsearch index` leaves it alone while the file's
        hash and the pipeline are the same). A video this library indexed itself keeps its own facts.
        Returns whether the facts were restored."""
        with self.session() as s:
            video = s.get(VideoRecord, video_id)
            restorable = (VideoStatus.PENDING, VideoStatus.EXTERNAL, VideoStatus.DONE)
            if video is None or video.status not in restorable or _indexed_here(s, video_id):
                return False
            video.duration, video.start_time, video.fps = facts.duration, facts.start_time, facts.fps
            video.width, video.height = facts.width, facts.height
            video.size_bytes, video.content_hash = facts.size_bytes, facts.content_hash
            video.recorded_at, video.probe = facts.recorded_at, facts.probe or None
            s.execute(delete(ShotRecord).where(ShotRecord.video_id == video_id))
            s.add_all(
                ShotRecord(video_id=video_id, idx=i, start=start, end=end) for i, (start, end) in enumerate(facts.shots)
            )
            s.execute(delete(SubtitleCueRecord).where(SubtitleCueRecord.video_id == video_id))
            s.add_all(
                SubtitleCueRecord(video_id=video_id, idx=i, start=c.start, end=c.end, text=c.text, source=c.source)
                for i, c in enumerate(facts.subtitle_cues)
            )
            if not file_here:
                video.status = VideoStatus.EXTERNAL
            elif facts.status == VideoStatus.DONE:
                video.status, video.error = VideoStatus.DONE, None
                video.pipeline_fingerprint, video.pipeline_settings = (
                    facts.pipeline_fingerprint,
                    facts.pipeline_settings,
                )
                video.indexed_at = facts.indexed_at
            else:  # indexed there but not finished: this library indexes it
                video.status = VideoStatus.PENDING
            return True

    def import_sources(self) -> dict[str, int]:
        """Every import with how many live windows it has."""
        with self.session() as s:
            rows = s.execute(
                select(WindowRecord.import_source, func.count())
                .where(WindowRecord.import_key.is_not(None), WindowRecord.retired.is_(False))
                .group_by(WindowRecord.import_source)
                .order_by(WindowRecord.import_source)
            )
            return {source or "": int(n) for source, n in rows}


def _indexed_here(s: Session, video_id: int) -> bool:
    live = select(WindowRecord.id).where(
        WindowRecord.video_id == video_id, WindowRecord.retired.is_(False), WindowRecord.import_key.is_(None)
    )
    return s.scalar(live.limit(1)) is not None


def _stored_rows(s: Session, source: str) -> Iterator[tuple[str, _Stored]]:
    windows = s.execute(
        select(
            WindowRecord.id,
            WindowRecord.video_id,
            WindowRecord.import_key,
            WindowRecord.start,
            WindowRecord.end,
            WindowRecord.cut_by_indexer,
        )
        .where(WindowRecord.import_source == source, WindowRecord.retired.is_(False))
        .order_by(WindowRecord.id)
    ).all()
    if not windows:
        return
    texts, tags = _texts_and_tags(s, [w[0] for w in windows], {w[0] for w in windows if w[5]})
    for window_id, video_id, key, start, end, cut in windows:
        key = key or ""
        first, *more = texts.get(window_id) or [ImportText("", "")]
        row = ImportRow(
            key,
            start,
            end,
            first.kind,
            first.text,
            tuple(tags.get(window_id, ())),
            first.model_id,
            tuple(more),
            cut,
            first.source,
        )
        yield key, _Stored(window_id, video_id, row)


def _legacy_rows(s: Session, video_ids: list[int]) -> dict[tuple[int, float, float, str, str], int]:
    """Windows imported before imports were keyed, of these videos: (video, start, end, kind, text) -> id."""
    if not video_ids:
        return {}
    windows = s.execute(
        select(WindowRecord.id, WindowRecord.video_id, WindowRecord.start, WindowRecord.end).where(
            WindowRecord.import_source == LEGACY_SOURCE,
            WindowRecord.retired.is_(False),
            WindowRecord.video_id.in_(video_ids),
        )
    ).all()
    texts, _ = _texts_and_tags(s, [w[0] for w in windows])
    out: dict[tuple[int, float, float, str, str], int] = {}
    for window_id, video_id, start, end in windows:
        first = (texts.get(window_id) or [ImportText("", "")])[0]
        out.setdefault((video_id, start, end, first.kind, first.text), window_id)
    return out


def _texts_and_tags(
    s: Session, window_ids: list[int], cut: Container[int] = ()
) -> tuple[dict[int, list[ImportText]], dict[int, list[str]]]:
    """The imported texts and tags of these windows: a window a person gave has its import's texts (an
    indexer's window it adopted keeps the indexer's apart); a window an indexer cut (`cut`), imported
    from a catalogue, has only the texts the import wrote, each with the source it was read from."""
    texts: dict[int, list[ImportText]] = {}
    tags: dict[int, list[str]] = {}
    for start in range(0, len(window_ids), 10_000):  # bounded IN lists
        chunk = window_ids[start : start + 10_000]
        for window_id, kind, body, model_id, source in s.execute(
            select(
                WindowTextRecord.window_id,
                WindowTextRecord.kind,
                WindowTextRecord.text,
                WindowTextRecord.model_id,
                WindowTextRecord.source,
            )
            .where(WindowTextRecord.window_id.in_(chunk))
            .order_by(WindowTextRecord.id)
        ):
            if source == IMPORT_SOURCE or (window_id in cut and kind != TextKind.NAME):  # the name is the library's
                texts.setdefault(window_id, []).append(ImportText(kind, body, model_id, source))
        for window_id, tag in s.execute(
            select(WindowTag.window_id, WindowTag.tag).where(WindowTag.window_id.in_(chunk))
        ):
            tags.setdefault(window_id, []).append(tag)
    return texts, tags


def _retire(s: Session, window_ids: list[int]) -> None:
    for start in range(0, len(window_ids), 10_000):
        chunk = window_ids[start : start + 10_000]
        s.execute(update(WindowRecord).where(WindowRecord.id.in_(chunk)).values(retired=True))


def _adopt(s: Session, window_id: int, source: str, row: ImportRow) -> None:
    s.execute(update(WindowRecord).where(WindowRecord.id == window_id).values(import_source=source, import_key=row.key))
    s.query(WindowTag).filter(WindowTag.window_id == window_id).delete()
    s.add_all(WindowTag(window_id=window_id, tag=tag) for tag in dict.fromkeys(row.tags))


def _add(s: Session, video_id: int, idx: int, source: str, row: ImportRow) -> None:
    window = WindowRecord(
        video_id=video_id,
        idx=idx,
        start=row.start,
        end=row.end,
        import_source=source,
        import_key=row.key,
        cut_by_indexer=row.cut_by_indexer,
    )
    s.add(window)
    s.flush()
    s.add_all(
        WindowTextRecord(window_id=window.id, kind=t.kind, text=t.text, model_id=t.model_id, source=t.source)
        for t in row.texts
    )
    s.add_all(WindowTag(window_id=window.id, tag=tag) for tag in dict.fromkeys(row.tags))
