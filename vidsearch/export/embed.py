"""A chaptered copy of a video file: FFmpeg copies every stream as it is (`-c copy`, never re-encoding)
into a new file that also carries the chapters (and the original's metadata). The original is only
read; the copy is written under a temporary name and renamed when whole."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from vidsearch.errors import ConfigError, MediaError
from vidsearch.export.chapters import Chapter
from vidsearch.export.formats import ffmetadata

log = logging.getLogger(__name__)

FFMPEG_SECONDS = 600  # a stream copy reads and writes the file once: minutes even for hours of video


def chaptered_name(source: Path, video_id: int | None = None) -> str:
    """`talk.chapters.mp4`, or `42-talk.chapters.mp4` with the id first (several videos to one folder:
    two `talk.mp4` in different folders must not overwrite each other's copy)."""
    stem = f"{video_id}-{source.stem}" if video_id is not None else source.stem
    return f"{stem}.chapters{source.suffix}"


def embed_chapters(source: Path, chapters: Iterable[Chapter], title: str, target: Path) -> Path:
    """Write `target`: `source`'s streams copied bit for bit, with these chapters. Raises MediaError
    naming the file when FFmpeg cannot (no FFmpeg, a container that holds no chapters)."""
    if not source.is_file():
        raise MediaError(source, "no such file here: a chaptered copy needs the video's file")
    if target.resolve() == source.resolve():
        raise ConfigError(f"{target}: a chaptered copy never replaces the original; choose another folder")
    chapters = list(chapters)
    if not chapters:
        raise MediaError(source, "has no chapters to embed (no indexed windows)")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise MediaError(source, "ffmpeg is not installed (it copies the streams into the chaptered file)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vidsearch-chapters-") as work:
        metadata = Path(work) / "chapters.ffmetadata"
        metadata.write_text(ffmetadata(title, chapters), encoding="utf-8")
        partial = target.with_name(f".{target.stem}.partial{target.suffix}")
        # Absolute paths: a file name starting with "-" is never read as an option.
        command = [
            ffmpeg, "-nostdin", "-v", "error", "-y",
            "-i", str(source.resolve()), "-f", "ffmetadata", "-i", str(metadata),
            "-map", "0", "-map_metadata", "0", "-map_chapters", "1",
            "-c", "copy", str(partial.resolve()),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=FFMPEG_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            partial.unlink(missing_ok=True)
            raise MediaError(source, f"ffmpeg did not finish the chaptered copy in {FFMPEG_SECONDS} s") from None
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise MediaError(source, f"ffmpeg could not write a chaptered copy: {reason}")
        os.replace(partial, target)
    log.info("wrote %s with %d chapters", target, len(chapters))
    return target
