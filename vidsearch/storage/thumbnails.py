"""Window thumbnails: one small JPEG per window, taken at index time from the window's middle frame (or,
for a window the indexer did not cut, such as an imported one, from its video file the first time it is
asked for), kept in the data folder by window id and served by id (never by path)."""

from __future__ import annotations

import io
import logging
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from vidsearch.media.frames import frame_at

log = logging.getLogger(__name__)

THUMBNAIL_SIDE = 320  # pixels on the long side: a results list, not a preview player
JPEG_QUALITY = 80


def encode_thumbnail(image: np.ndarray, side: int = THUMBNAIL_SIDE) -> bytes:
    """An RGB frame as a JPEG no larger than `side` on its long side."""
    picture = Image.fromarray(image)
    picture.thumbnail((side, side))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def take_thumbnail(path: Path, time: float, start_time: float = 0.0) -> bytes:
    """The thumbnail of the frame on screen at `time` in a video file, as the indexer makes them.
    Raises MediaError when no frame can be decoded there."""
    return encode_thumbnail(frame_at(path, time, THUMBNAIL_SIDE, start_time).image)


class ThumbnailStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, window_id: int) -> Path:
        # A thousand windows a folder: no directory grows to millions of entries.
        return self.root / f"{window_id // 1000:06d}" / f"{window_id}.jpg"

    def save(self, window_id: int, jpeg: bytes) -> None:
        target = self.path(window_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        # A temporary name of its own: two writers of one window (the indexer and a server taking it
        # on demand, or two server processes) never write into the same file.
        temporary = target.with_name(f".{window_id}.{uuid.uuid4().hex}.tmp")
        try:
            temporary.write_bytes(jpeg)
            os.replace(temporary, target)  # a reader sees the whole file or none
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def remove(self, window_ids: Iterable[int]) -> int:
        removed = 0
        for window_id in window_ids:
            try:
                self.path(window_id).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed
