"""The library's membership: files that went missing, moved, came back or were removed, and the text
that makes a video findable by its name.

Nothing here deletes what cannot be made again without the user: a missing file's windows leave
search but stay (an unmounted drive comes back as it was); `remove` retires a video's windows and the
rows go with the next index generation, like any replaced window."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from vidsearch.models.base import Embedder
from vidsearch.storage.schema import (
    TextEmbedding,
    TextKind,
    VideoRecord,
    VideoStatus,
    WindowRecord,
    WindowTextRecord,
)
from vidsearch.storage.store import StoreBase, to_blob

NAME_SOURCE = "path"
# Statuses of videos that are files here (a scan can find them missing).
_FILE_STATUSES = (VideoStatus.DONE, VideoStatus.FAILED, VideoStatus.PENDING, VideoStatus.INDEXING)


@dataclass(frozen=True)
class LibraryVideo:
    id: int
    path: str
    status: str


class LibraryMixin(StoreBase):
    """The membership part of `Database` (which provides `session`)."""

    def videos_under(self, roots: Sequence[str]) -> list[LibraryVideo]:
        """File videos (not removed, not known only by key) at or under these resolved paths."""
        conditions = []
        for root in roots:
            folder = root.rstrip(os.sep) + os.sep
            conditions += [VideoRecord.path == root, VideoRecord.path.startswith(folder, autoescape=True)]
        if not conditions:
            return []
        with self.session() as s:
            rows = s.execute(
                select(VideoRecord.id, VideoRecord.path, VideoRecord.status)
                .where(or_(*conditions), VideoRecord.status.in_((*_FILE_STATUSES, VideoStatus.MISSING)))
                .order_by(VideoRecord.path)
            )
            return [LibraryVideo(*row) for row in rows]

    def mark_missing(self, video_ids: Sequence[int]) -> None:
        """Their files are gone: out of search, kept. A failed one will be indexed afresh if it returns."""
        with self.session() as s:
            for video in s.scalars(select(VideoRecord).where(VideoRecord.id.in_(list(video_ids)))):
                if video.status != VideoStatus.DONE:
                    video.pipeline_fingerprint = None  # nothing finished to restore: index it again
                video.status, video.error = VideoStatus.MISSING, "the file was not found when its folder was scanned"

    def restore_video(self, video_id: int, path: str, size_bytes: int, mtime: float) -> None:
        """A missing video's bytes are back (at `path`, maybe moved): searchable again as it was."""
        with self.session() as s:
            s.execute(
                update(VideoRecord)
                .where(VideoRecord.id == video_id)
                .values(path=path, size_bytes=size_bytes, mtime=mtime, status=VideoStatus.DONE, error=None)
            )

    def moved_video(self, content_hash: str, pipeline_fingerprint: str) -> int | None:
        """A finished video with these bytes whose file is gone: the file at a new path is that video moved."""
        with self.session() as s:
            candidates = s.execute(
                select(VideoRecord.id, VideoRecord.path).where(
                    VideoRecord.content_hash == content_hash,
                    VideoRecord.pipeline_fingerprint == pipeline_fingerprint,
                    VideoRecord.status.in_((VideoStatus.DONE, VideoStatus.MISSING)),
                )
            ).all()
        for video_id, path in candidates:
            if not os.path.exists(path):
                return int(video_id)
        return None

    def resolve_videos(self, target: str) -> list[LibraryVideo]:
        """The videos `vidsearch remove` means by `target`: an id, a key or path exactly, or every video
        under a folder."""
        with self.session() as s:
            query = select(VideoRecord.id, VideoRecord.path, VideoRecord.status).where(
                VideoRecord.status != VideoStatus.REMOVED
            )
            if target.isdigit():
                found = s.execute(query.where(VideoRecord.id == int(target))).all()
                if found:
                    return [LibraryVideo(*row) for row in found]
            exact = s.execute(query.where(VideoRecord.path == target)).all()
            if exact:
                return [LibraryVideo(*row) for row in exact]
            folder = target.rstrip(os.sep) + os.sep
            under = s.execute(
                query.where(VideoRecord.path.startswith(folder, autoescape=True)).order_by(VideoRecord.path)
            ).all()
            return [LibraryVideo(*row) for row in under]

    def statuses(self, video_ids: Sequence[int]) -> dict[int, str]:
        with self.session() as s:
            rows = s.execute(select(VideoRecord.id, VideoRecord.status).where(VideoRecord.id.in_(list(video_ids))))
            return {int(i): str(status) for i, status in rows}

    def videos_with_status(self, status: str) -> list[LibraryVideo]:
        with self.session() as s:
            rows = s.execute(
                select(VideoRecord.id, VideoRecord.path, VideoRecord.status)
                .where(VideoRecord.status == status)
                .order_by(VideoRecord.path)
            )
            return [LibraryVideo(*row) for row in rows]

    def imported_rows(self, video_ids: Sequence[int]) -> int:
        """How many imported descriptions these videos hold (what removing them takes with them)."""
        with self.session() as s:
            stmt = select(func.count()).where(
                WindowRecord.video_id.in_(list(video_ids)),
                WindowRecord.retired.is_(False),
                WindowRecord.import_key.is_not(None),
            )
            return int(s.scalar(stmt) or 0)

    def remove_videos(self, video_ids: Sequence[int]) -> None:
        """Out of search at once; their rows are deleted once a generation without them is published."""
        ids = list(video_ids)
        with self.session() as s:
            s.execute(update(WindowRecord).where(WindowRecord.video_id.in_(ids)).values(retired=True))
            s.execute(update(VideoRecord).where(VideoRecord.id.in_(ids)).values(status=VideoStatus.REMOVED, error=None))

    def purge_removed_videos(self) -> int:
        """Delete removed videos whose windows are gone, and videos that existed only for imported texts
        (known by key, or a file not indexed) once none is left (call after `purge_retired`)."""
        emptied = (VideoStatus.REMOVED, VideoStatus.EXTERNAL, VideoStatus.PENDING)
        with self.session() as s:
            has_windows = select(WindowRecord.video_id).distinct()
            gone = list(
                s.scalars(
                    select(VideoRecord.id).where(VideoRecord.status.in_(emptied), VideoRecord.id.not_in(has_windows))
                )
            )
            if gone:
                s.execute(delete(VideoRecord).where(VideoRecord.id.in_(gone)))
            return len(gone)

    def forget_failures(self, video_ids: Sequence[int]) -> None:
        """Delete failed videos that have no windows at all (a broken file that was deleted)."""
        with self.session() as s:
            has_windows = select(WindowRecord.video_id).distinct()
            s.execute(
                delete(VideoRecord).where(
                    VideoRecord.id.in_(list(video_ids)),
                    VideoRecord.status == VideoStatus.FAILED,
                    VideoRecord.id.not_in(has_windows),
                )
            )

    def sync_name_texts(self, name_for: Callable[[str], str], embedder: Callable[[], Embedder]) -> int:
        """Give every file video a text of kind `name` (its file name and folders, from `name_for(path)`)
        on its first live window (the indexer's first where it has windows of its own); replace stale
        ones. Each is stored with its vector under `embedder()` (asked for only when a name changed), in
        one transaction: a name is never stored without its vector. The caller holds the writer lock, so
        what is read first still holds when the names are written. Returns how many changed."""
        with self.session() as s:
            changes = _name_changes(s, name_for)
        if not changes:
            return 0
        named = [change for change in changes if change.wanted]
        vectors: np.ndarray | None = None
        embedder_id: int | None = None
        if named:
            model = embedder()
            vectors, embedder_id = model.embed([change.wanted for change in named]), self.model_record(model.spec)
        with self.session() as s:
            for change in changes:
                if change.stale:
                    s.execute(delete(TextEmbedding).where(TextEmbedding.text_id.in_(change.stale)))
                    s.execute(delete(WindowTextRecord).where(WindowTextRecord.id.in_(change.stale)))
            added = [
                WindowTextRecord(
                    window_id=change.window_id,
                    kind=TextKind.NAME,
                    text=change.wanted,
                    model_id=None,
                    source=NAME_SOURCE,
                )
                for change in named
            ]
            s.add_all(added)
            s.flush()
            if vectors is not None and embedder_id is not None:
                s.add_all(
                    TextEmbedding(text_id=row.id, embedder_id=embedder_id, vector=to_blob(vector))
                    for row, vector in zip(added, vectors, strict=True)
                )
        return len(changes)


@dataclass(frozen=True)
class _NameChange:
    window_id: int  # the video's first live window: where its name goes
    wanted: str  # its name now ("" when the path has no words)
    stale: list[int]  # its name texts to replace


def _name_changes(s: Session, name_for: Callable[[str], str]) -> list[_NameChange]:
    """The file videos whose name text is missing or stale."""
    videos = s.execute(
        select(VideoRecord.id, VideoRecord.path).where(VideoRecord.status.in_((*_FILE_STATUSES, VideoStatus.MISSING)))
    ).all()
    if not videos:
        return []
    current: dict[int, list[tuple[int, int, str]]] = {}
    for text_id, window_id, video_id, body in s.execute(
        select(WindowTextRecord.id, WindowTextRecord.window_id, WindowRecord.video_id, WindowTextRecord.text)
        .join(WindowRecord, WindowTextRecord.window_id == WindowRecord.id)
        .where(WindowTextRecord.kind == TextKind.NAME, WindowRecord.retired.is_(False))
    ):
        current.setdefault(video_id, []).append((text_id, window_id, body))
    # Windows are stored in time order, so a video's lowest live window id is its first.
    live = select(WindowRecord.video_id, func.min(WindowRecord.id)).where(WindowRecord.retired.is_(False))
    firsts: dict[int, int] = dict(
        s.execute(live.where(WindowRecord.import_key.is_(None)).group_by(WindowRecord.video_id)).all()
    )
    for video_id, lowest in s.execute(live.group_by(WindowRecord.video_id)):
        firsts.setdefault(video_id, lowest)
    changes = []
    for video_id, path in videos:
        first, wanted, have = firsts.get(video_id), name_for(path), current.get(video_id, [])
        if first is None or [(w, body) for _, w, body in have] == [(first, wanted)]:
            continue
        changes.append(_NameChange(first, wanted, [text_id for text_id, _, _ in have]))
    return changes


def name_text(path: str, roots: Sequence[str] = ()) -> str:
    """What a video's path says about it, as words: "bunny in the meadow (holidays, 2023)" for
    /media/videos/holidays/2023/bunny_in_the-meadow.mp4 in the library /media/videos."""
    file = Path(path)
    folders: list[str] = []
    for root in sorted(roots, key=len, reverse=True):
        if path.startswith(root.rstrip(os.sep) + os.sep):
            folders = list(Path(os.path.relpath(file.parent, root)).parts)
            break
    else:
        folders = list(file.parent.parts[-2:])
    words = _words(file.stem)
    where = [w for w in (_words(f) for f in folders if f not in (".", os.sep)) if w]
    return f"{words} ({', '.join(where)})" if words and where else words


def _words(name: str) -> str:
    # file_names-like.this and camelCase read as words
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return " ".join(re.sub(r"[_\-.+]+", " ", spaced).split())
