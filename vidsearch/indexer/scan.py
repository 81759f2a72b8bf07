"""Finding video files under the given paths and fingerprinting their content."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


NO_SUCH_PATH = "no such file or folder"
# Files that hold descriptions rather than video: named to `index`, they get a pointer to `import`.
_DESCRIPTION_EXTENSIONS = (".jsonl", ".ndjson", ".csv", ".srt", ".vtt", ".ass", ".ssa", ".txt", ".json")


@dataclass(frozen=True)
class ScanProblem:
    path: str
    reason: str


def find_videos(paths: Iterable[Path], extensions: Iterable[str]) -> tuple[list[Path], list[ScanProblem]]:
    """Video files under `paths`, sorted and de-duplicated. A file named directly is taken whatever its
    extension, unless it is a kind of file that holds descriptions (JSONL, CSV, subtitles: those are
    imported); folders are walked without following symlinked folders (no loops, no escapes)."""
    exts = {e.lower() for e in extensions}
    found: dict[str, Path] = {}
    problems: list[ScanProblem] = []
    for root in paths:
        if root.is_file():
            if root.suffix.lower() in _DESCRIPTION_EXTENSIONS:
                reason = f"not a video ({root.suffix} file); to add its descriptions: vidsearch import {root}"
                problems.append(ScanProblem(str(root), reason))
                continue
            found.setdefault(str(root.resolve()), root.resolve())
        elif root.is_dir():
            for file in _walk(root, problems):
                if file.suffix.lower() in exts:
                    found.setdefault(str(file), file)
        else:
            problems.append(ScanProblem(str(root), NO_SUCH_PATH))
    return [found[k] for k in sorted(found)], problems


def _walk(root: Path, problems: list[ScanProblem]) -> Iterator[Path]:
    def on_error(exc: OSError) -> None:
        problems.append(ScanProblem(str(exc.filename), f"cannot read folder: {exc.strerror}"))

    for folder, dirs, files in os.walk(root.resolve(), onerror=on_error, followlinks=False):
        dirs.sort()
        for name in files:
            yield Path(folder) / name


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: identifies the same video under any name or date."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
