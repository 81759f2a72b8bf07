"""Thumbnails for windows the indexer did not cut (imported descriptions): taken from the video file the
first time one is asked for, at the window's middle, and kept in the thumbnail store like the indexer's.
Only for videos whose file lies inside the library roots (the media route's rules); a video known only
by a key has none. Called from the thread pool: decoding blocks."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from cachetools import TTLCache

from vidsearch.api.security import resolve_media
from vidsearch.errors import ForbiddenError, MediaError, NotFoundError
from vidsearch.storage.database import Database
from vidsearch.storage.thumbnails import ThumbnailStore, take_thumbnail

log = logging.getLogger(__name__)

_LOCKS = 64  # windows taken at once by one process, at most; the same window never twice at a time
FAILURE_SECONDS = 600  # a file that could not be decoded is not tried again for this long


class OnDemandThumbnails:
    def __init__(self, db: Database, store: ThumbnailStore) -> None:
        self.db, self.store = db, store
        self._locks = [threading.Lock() for _ in range(_LOCKS)]
        self._failed: TTLCache[int, str] = TTLCache(maxsize=10_000, ttl=FAILURE_SECONDS)
        self._failed_lock = threading.Lock()

    def get(self, window_id: int) -> Path | None:
        """The window's thumbnail, taken from its video file if the store has none; None when there is
        no file to take it from (or no such window)."""
        picture = self.store.path(window_id)
        if picture.is_file():
            return picture
        with self._failed_lock:
            if window_id in self._failed:
                return None
        span = self.db.window_span(window_id)
        if span is None:
            return None
        try:
            video = resolve_media(self.db, str(span.video_id))
        except (NotFoundError, ForbiddenError):
            return None  # known only by a key, gone, or outside the library: nothing to take it from
        with self._locks[window_id % _LOCKS]:
            if picture.is_file():  # taken while this request waited
                return picture
            try:
                jpeg = take_thumbnail(video, (span.start + span.end) / 2, span.media_start)
            except MediaError as exc:
                log.info("no thumbnail for window %d: %s", window_id, exc)
                with self._failed_lock:
                    self._failed[window_id] = exc.reason
                return None
            self.store.save(window_id, jpeg)
        return picture
