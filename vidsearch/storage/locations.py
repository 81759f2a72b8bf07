"""Where each text lives (window, video, time span, kind), held in memory beside a served vector index
generation: a search turns a few hundred candidate texts into time segments on every query, and
asking SQL for them each time cost more than the vector search itself (5 ms of 30 at 100k texts).

These facts never change for a text id (a re-indexed video gets new windows and new texts), so the
table is read once when a generation is loaded and stays right for as long as that generation
serves. Texts stored after it was read (a run still indexing) are looked up in SQL instead."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from vidsearch.storage.schema import IMPORT_SOURCE

# A text's place in the library: text id, window id, video id, start, end, kind, source.
LocationRow = tuple[int, int, int, float, float, str, str]


class TextHit(NamedTuple):
    """Where a stored text lives: enough to turn a vector hit into a time segment. (A named tuple: a
    search makes a few hundred a query, and a frozen dataclass costs several times as much to make.)"""

    text_id: int
    window_id: int
    video_id: int
    path: str
    start: float
    end: float
    kind: str
    source: str

    @property
    def imported(self) -> bool:
        """A span given whole (an imported description), not a window the indexer cut."""
        return self.source == IMPORT_SOURCE


class TextLocations:
    """Column arrays sorted by text id (about 40 bytes a text), and each video's path."""

    def __init__(self, rows: Iterable[Sequence[LocationRow]], paths: dict[int, str] | None = None) -> None:
        columns: list[list[np.ndarray]] = [[] for _ in range(5)]
        kinds: list[str] = []
        sources: list[str] = []
        for part in rows:
            if not part:
                continue
            text_id, window_id, video_id, start, end, kind, source = zip(*part, strict=True)
            for store, values, dtype in zip(
                columns, (text_id, window_id, video_id, start, end), (np.int64,) * 3 + (np.float64,) * 2, strict=True
            ):
                store.append(np.array(values, dtype=dtype))
            kinds.extend(kind)
            sources.extend(source)
        ids, windows, videos, starts, ends = (np.concatenate(c) if c else np.zeros(0, dtype=np.int64) for c in columns)
        order = np.argsort(ids, kind="stable")
        self.text_ids = ids[order]
        self.window_ids = windows[order]
        self.video_ids = videos[order]
        self.starts = starts[order].astype(np.float64)
        self.ends = ends[order].astype(np.float64)
        # Kinds and sources repeat endlessly: stored once each, referred to by a small code.
        kind_names, kind_codes = np.unique(np.array(kinds, dtype=object), return_inverse=True)
        source_names, source_codes = np.unique(np.array(sources, dtype=object), return_inverse=True)
        self._kind_names: list[str] = [str(k) for k in kind_names]
        self._source_names: list[str] = [str(s) for s in source_names]
        self.kind_codes = kind_codes.astype(np.int32)[order]
        self.source_codes = source_codes.astype(np.int32)[order]
        self.paths: dict[int, str] = dict(paths or {})

    def __len__(self) -> int:
        return int(self.text_ids.size)

    def hits(self, text_ids: Sequence[int]) -> tuple[dict[int, TextHit], list[int]]:
        """The hits of the texts this table knows, and the ids it does not know (for SQL to look up)."""
        wanted = np.asarray(text_ids, dtype=np.int64)
        if wanted.size == 0 or self.text_ids.size == 0:
            return {}, [int(i) for i in wanted]
        at = np.minimum(np.searchsorted(self.text_ids, wanted), self.text_ids.size - 1)
        known = self.text_ids[at] == wanted
        at_known = at[known]
        rows = zip(
            wanted[known].tolist(),
            self.window_ids[at_known].tolist(),
            self.video_ids[at_known].tolist(),
            self.starts[at_known].tolist(),
            self.ends[at_known].tolist(),
            self.kind_codes[at_known].tolist(),
            self.source_codes[at_known].tolist(),
            strict=True,
        )
        kinds, sources, paths = self._kind_names, self._source_names, self.paths
        found = {
            text_id: TextHit(text_id, window_id, video_id, paths.get(video_id, ""), start, end, kinds[k], sources[s])
            for text_id, window_id, video_id, start, end, k, s in rows
        }
        return found, wanted[~known].tolist()
