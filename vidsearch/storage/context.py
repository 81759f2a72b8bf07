"""What each part of each video is about, as one vector: the mean of its texts' vectors.

A query's similarity to that mean is the mean of its similarities to the part's texts, i.e. how much
the stretch of video around a moment is about the query. Search blends it into a moment's score
(docs/evaluation.md, "Video context"): a moment whose surroundings are about the query is likelier the
one meant than a look-alike sentence in a video about something else. This is the passage-plus-document
evidence of text retrieval, with a video's part as the document.

Parts are fixed spans of `part_seconds` from a video's start (by each window's middle), so a long
recording (a lecture, a broadcast) gets the context of its own stretch rather than the blur of hours;
most videos are one part. Built with each generation of the text space from the vectors the generation
holds, and written beside it (`gen-NNNNNN.context.npz`), so it always describes the served texts."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsearch.errors import IndexMismatchError
from vidsearch.storage.locations import TextLocations

log = logging.getLogger(__name__)

PART_SHIFT = 20  # a (video, part) key is video << 20 | part: a part of 600 s reaches 20 years


def context_file_name(generation: int) -> str:
    return f"gen-{generation:06d}.context.npz"


def part_keys(video_ids: np.ndarray, starts: np.ndarray, ends: np.ndarray, part_seconds: float) -> np.ndarray:
    """The (video, part) key of windows, by each window's middle."""
    middles = (np.asarray(starts, dtype=np.float64) + np.asarray(ends, dtype=np.float64)) / 2
    parts = np.clip(np.floor(np.maximum(middles, 0.0) / part_seconds), 0, (1 << PART_SHIFT) - 1).astype(np.int64)
    return (np.asarray(video_ids, dtype=np.int64) << PART_SHIFT) | parts


@dataclass(frozen=True)
class VideoContext:
    """Each (video, part) key's mean text vector, keys sorted."""

    keys: np.ndarray  # int64, sorted
    means: np.ndarray  # float32, one row a key: the mean of unit vectors (not renormalised)
    part_seconds: float

    def __len__(self) -> int:
        return int(self.keys.size)

    def similarities(
        self, query: np.ndarray, video_ids: np.ndarray, starts: np.ndarray, ends: np.ndarray
    ) -> np.ndarray:
        """The query's similarity to the context of each window given; NaN where none is known (a
        video stored after this generation was built)."""
        keys = part_keys(video_ids, starts, ends, self.part_seconds)
        out = np.full(keys.size, np.nan, dtype=np.float32)
        if not self.keys.size or not keys.size:
            return out
        wanted, inverse = np.unique(keys, return_inverse=True)
        rows = np.searchsorted(self.keys, wanted)
        rows = np.minimum(rows, self.keys.size - 1)
        known = self.keys[rows] == wanted
        scores = np.full(wanted.size, np.nan, dtype=np.float32)
        if known.any():
            scores[known] = self.means[rows[known]] @ np.asarray(query, dtype=np.float32).reshape(-1)
        return scores[inverse]

    def save(self, path: Path) -> None:
        """Written to a temporary file and renamed: a reader sees the whole file or none."""
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("wb") as f:
            np.savez(f, keys=self.keys, means=self.means, part_seconds=np.float64(self.part_seconds))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, dimension: int) -> VideoContext:
        try:
            with np.load(path) as data:
                context = cls(data["keys"], data["means"].astype(np.float32), float(data["part_seconds"]))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexMismatchError(f"{path} is unreadable ({exc}); run `vidsearch reindex` to rebuild it") from exc
        if context.means.shape != (context.keys.size, dimension):
            raise IndexMismatchError(
                f"{path} holds {context.means.shape} context vectors for {context.keys.size} parts of "
                f"{dimension} dimensions; run `vidsearch reindex` to rebuild it"
            )
        return context


class ContextBuilder:
    """Sums the vectors of a generation, per (video, part), as the build reads them once.

    Wraps the batches a build iterates (in id order): each vector is summed once, however many passes
    the build makes (an IVF build reads its vectors twice)."""

    def __init__(
        self, batches: Iterable[tuple[np.ndarray, np.ndarray]], locations: TextLocations, part_seconds: float
    ) -> None:
        self.batches = batches
        self.part_seconds = part_seconds
        self._text_ids = locations.text_ids
        self._keys = part_keys(locations.video_ids, locations.starts, locations.ends, part_seconds)
        self._sums: dict[int, np.ndarray] = {}
        self._counts: dict[int, int] = {}
        self._summed_to = -1  # the last text id summed

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for ids, vectors in self.batches:
            self._add(ids, vectors)
            yield ids, vectors

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        fresh = ids > self._summed_to
        if not fresh.any() or not self._text_ids.size:
            return
        ids, vectors = ids[fresh], vectors[fresh]
        self._summed_to = int(ids.max())
        rows = np.minimum(np.searchsorted(self._text_ids, ids), self._text_ids.size - 1)
        located = self._text_ids[rows] == ids  # a text stored after the locations were read has none
        keys = self._keys[rows[located]]
        vectors = np.asarray(vectors[located], dtype=np.float64)
        unique, inverse = np.unique(keys, return_inverse=True)
        sums = np.zeros((unique.size, vectors.shape[1]), dtype=np.float64)
        np.add.at(sums, inverse, vectors)
        counts = np.bincount(inverse, minlength=unique.size)
        for key, total, count in zip(unique.tolist(), sums, counts.tolist(), strict=True):
            if key in self._sums:
                self._sums[key] += total
                self._counts[key] += count
            else:
                self._sums[key] = total
                self._counts[key] = count

    def context(self, dimension: int) -> VideoContext:
        keys = np.array(sorted(self._sums), dtype=np.int64)
        means = np.zeros((keys.size, dimension), dtype=np.float32)
        for row, key in enumerate(keys.tolist()):
            means[row] = self._sums[key] / self._counts[key]
        return VideoContext(keys, means, self.part_seconds)
