"""Window thumbnails: one small JPEG per window, taken at index time from the window's middle frame,
kept in the data folder by window id and served by id (never by path)."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

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


class ThumbnailStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, window_id: int) -> Path:
        # A thousand windows a folder: no directory grows to millions of entries.
        return self.root / f"{window_id // 1000:06d}" / f"{window_id}.jpg"

    def save(self, window_id: int, jpeg: bytes) -> None:
        target = self.path(window_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(jpeg)
        os.replace(temporary, target)  # a reader sees the whole file or none

    def remove(self, window_ids: Iterable[int]) -> int:
        removed = 0
        for window_id in window_ids:
            try:
                self.path(window_id).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed
