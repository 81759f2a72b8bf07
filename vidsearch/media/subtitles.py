"""Subtitle cues from a video's own text subtitle tracks and from sidecar files beside it
(name.srt, name.vtt, name.en.srt, ...). Sidecars are parsed by pysubs2; embedded tracks are decoded
by PyAV, whose ASS dialogue text pysubs2 turns into plain text."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av
import pysubs2

from vidsearch.media.probe import MediaInfo

log = logging.getLogger(__name__)

SIDECAR_EXTENSIONS = (".srt", ".vtt", ".ass", ".ssa")
# Bitmap subtitle codecs carry pictures, not text.
_BITMAP_CODECS = {"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub"}


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str  # its lines, each with its spacing evened out
    source: str  # "stream:2" or the sidecar file name


def find_sidecars(video: Path) -> list[Path]:
    """Sidecar files that share the video's name, e.g. talk.srt or talk.en.vtt for talk.mp4."""
    if not video.parent.is_dir():
        return []
    found = []
    for candidate in sorted(video.parent.iterdir()):
        if candidate.suffix.lower() not in SIDECAR_EXTENSIONS or not candidate.is_file():
            continue
        stem = candidate.name[: -len(candidate.suffix)]
        if stem == video.stem or stem.startswith(video.stem + "."):
            found.append(candidate)
    return found


def read_sidecar(path: Path) -> list[Cue]:
    try:
        subs = pysubs2.load(str(path), encoding="utf-8")
    except UnicodeDecodeError:
        subs = pysubs2.load(str(path), encoding="latin-1")
    return _cues(subs, path.name)


def read_embedded(path: Path, info: MediaInfo) -> list[Cue]:
    cues: list[Cue] = []
    for stream_info in info.subtitle_streams:
        if stream_info.codec in _BITMAP_CODECS:
            log.info(
                "%s: subtitle stream %d is a bitmap format (%s), skipped", path, stream_info.index, stream_info.codec
            )
            continue
        cues += _read_stream(path, stream_info.index, info.start_time)
    return cues


def read_all(path: Path, info: MediaInfo) -> list[Cue]:
    """Every cue for a video: embedded text tracks first, then sidecars. Damaged ones are logged."""
    cues = read_embedded(path, info)
    for sidecar in find_sidecars(path):
        try:
            cues += read_sidecar(sidecar)
        except (OSError, pysubs2.Pysubs2Error, ValueError) as exc:
            log.warning("%s: cannot read subtitles: %s", sidecar, exc)
    return cues


def _read_stream(path: Path, index: int, start_time: float) -> list[Cue]:
    subs = pysubs2.SSAFile()
    try:
        with av.open(str(path)) as container:
            stream = container.streams[index]
            for packet in container.demux(stream):
                if packet.pts is None or packet.time_base is None:
                    continue
                start = float(packet.pts * packet.time_base) - start_time
                end = start + float((packet.duration or 0) * packet.time_base)
                for subtitle in packet.decode():
                    dialogue = getattr(subtitle, "dialogue", b"")
                    if dialogue:
                        subs.append(
                            pysubs2.SSAEvent(
                                start=round(start * 1000),
                                end=round(end * 1000),
                                text=dialogue.decode("utf-8", errors="replace"),
                            )
                        )
    except av.FFmpegError as exc:
        log.warning("%s: subtitle stream %d unreadable: %s", path, index, exc.strerror)
    return _cues(subs, f"stream:{index}")


def _cues(subs: pysubs2.SSAFile, source: str) -> list[Cue]:
    cues = []
    for event in subs:
        if event.is_comment:
            continue
        # Each line's spacing evened out, the lines kept: the cue as found (windows join them into one line).
        text = "\n".join(" ".join(line.split()) for line in event.plaintext.splitlines() if line.strip())
        if text and event.end > event.start:
            cues.append(Cue(event.start / 1000, event.end / 1000, text, source))
    return cues
