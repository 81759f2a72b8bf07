"""The export formats: one small protocol (`Exporter`) and one registry of them by name.

An exporter renders videos of the catalogue as text, in pieces (an export of a large library streams).
A catalogue format (`per_video = False`) renders every video into one file; a per-video format (a
transcript, a chapter file, a PBCore record) is given one video at a time and makes one file each."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pysubs2

from vidsearch.errors import InvalidQueryError, NothingToExportError
from vidsearch.export.chapters import SHOT, Boundary, Chapter, video_chapters
from vidsearch.kinds import TextKind
from vidsearch.registry import Registry
from vidsearch.storage.catalogue import VideoEntry, WindowEntry
from vidsearch.storage.imports import VIDEO_RECORD, WINDOW_RECORD

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from vidsearch.config import Settings


class Exporter(Protocol):
    name: str
    suffix: str  # the file name's ending: ".jsonl", ".pbcore.xml"
    media_type: str
    per_video: bool

    def render(self, videos: Iterable[VideoEntry]) -> Iterator[str]:
        """The file's text, in pieces. A per-video format is given one video."""
        ...


EXPORTERS: Registry[Exporter] = Registry("export format")


@dataclass(frozen=True)
class ChapterSettings:
    threshold: float
    min_seconds: float
    title_chars: int

    @classmethod
    def of(cls, settings: Settings) -> ChapterSettings:
        return cls(settings.chapter_topic_threshold, settings.chapter_min_seconds, settings.chapter_title_chars)

    def chapters(self, video: VideoEntry) -> list[Chapter]:
        """Chapters from the video's topic changes and its shots (a hard cut is where a chapter may
        start; a topic change at the same place keeps the topic as the reason)."""
        return video_chapters(
            video,
            threshold=self.threshold,
            min_seconds=self.min_seconds,
            title_chars=self.title_chars,
            extra=[Boundary(cut, SHOT) for cut in video.cuts],
        )


def video_title(video: VideoEntry) -> str:
    """The title the file carries (its container's title tag, when the probe kept one), else its file
    name without the extension; a video known only by a key is titled by the key."""
    title = (video.probe or {}).get("title")
    if title:
        return str(title)
    return PurePath(video.path).stem if video.has_file else video.path


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


# --- the catalogue: JSON Lines and CSV -----------------------------------------------------------


class JsonLinesExporter:
    """One line per video (`record: video`: its facts, streams, shots, subtitle cues, chapters and the
    pipeline that indexed it), then one per window (`record: window`: span, tags, and every text with
    the model that wrote it). `vidsearch import` reads it back: the same videos, windows, texts and
    models."""

    name = "jsonl"
    suffix = ".jsonl"
    media_type = "application/x-ndjson"
    per_video = False

    def __init__(self, chapters: ChapterSettings) -> None:
        self.chapters = chapters

    def render(self, videos: Iterable[VideoEntry]) -> Iterator[str]:
        for video in videos:
            yield _line(
                {
                    "record": VIDEO_RECORD,
                    "video": video.path,
                    "video_id": video.id,
                    "title": video_title(video),
                    "status": video.status,
                    "duration": video.duration,
                    "start_time": video.start_time,
                    "fps": video.fps,
                    "width": video.width,
                    "height": video.height,
                    "size_bytes": video.size_bytes,
                    "content_hash": video.content_hash,
                    "recorded_at": _iso(video.recorded_at),
                    "indexed_at": _iso(video.indexed_at),
                    "streams": (video.probe or {}).get("streams", []),
                    "shots": [{"start": start, "end": end} for start, end in video.shots],
                    "subtitle_cues": [
                        {"start": c.start, "end": c.end, "text": c.text, "source": c.source}
                        for c in video.subtitle_cues
                    ],
                    "chapters": [c.to_dict() for c in self.chapters.chapters(video)],
                    "pipeline_fingerprint": video.pipeline_fingerprint,
                    "pipeline_settings": video.pipeline_settings,
                }
            )
            for window in video.windows:
                yield _line(
                    {
                        "record": WINDOW_RECORD,
                        "video": video.path,
                        "id": f"window-{window.id}",
                        "start": window.start,
                        "end": window.end,
                        "duration": video.duration,
                        "imported": window.imported,
                        "error": window.error,
                        "tags": window.tags,
                        "texts": [
                            {
                                "kind": t.kind,
                                "text": t.text,
                                "source": t.source,
                                "model": t.model.to_dict() if t.model else None,
                            }
                            for t in window.texts
                        ],
                    }
                )


def _line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


class CsvExporter:
    """One row per text: its video, window span, kind, text, the model that wrote it and the window's
    tags. The columns `vidsearch import` reads (video, start, end, kind, text, tags, duration, id) come
    first, so a spreadsheet edited from it imports as descriptions."""

    name = "csv"
    suffix = ".csv"
    media_type = "text/csv"
    per_video = False
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "video",
        "start",
        "end",
        "kind",
        "text",
        "tags",
        "duration",
        "id",
        "video_id",
        "window_id",
        "model",
        "model_kind",
        "source",
        "recorded_at",
    )

    def __init__(self, _settings: Settings | None = None) -> None:
        pass

    def render(self, videos: Iterable[VideoEntry]) -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.COLUMNS)
        for video in videos:
            for window in video.windows:
                for text in window.texts:
                    writer.writerow(
                        (
                            video.path,
                            window.start,
                            window.end,
                            text.kind,
                            text.text,
                            "|".join(window.tags),
                            video.duration if video.duration is not None else "",
                            f"text-{text.id}",
                            video.id,
                            window.id,
                            text.model.label if text.model else "",
                            text.model.kind if text.model else "",
                            text.source,
                            _iso(video.recorded_at) or "",
                        )
                    )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()


# --- per video: transcripts, chapters ------------------------------------------------------------


def cues(windows: Iterable[WindowEntry], kind: str) -> list[tuple[float, float, str]]:
    """A kind's texts as timed cues, window by window in time order; the same text in consecutive
    windows (a subtitle cue that spans a window boundary) is one cue over both."""
    out: list[tuple[float, float, str]] = []
    for window in sorted(windows, key=lambda w: (w.start, w.index)):
        for text in window.texts_of(kind):
            if out and out[-1][2] == text and window.start <= out[-1][1] + 1e-3:
                out[-1] = (out[-1][0], max(out[-1][1], window.end), text)
            else:
                out.append((window.start, window.end, text))
    return out


def subtitle_tracks(video: VideoEntry) -> list[str]:
    """The video's subtitle tracks and sidecar files ("stream:2", "film.fr.srt"), in the order found."""
    return list(dict.fromkeys(c.source for c in video.subtitle_cues))


def _missing_track(tracks: list[str], track: str | None) -> str | None:
    if track is None or track in tracks:
        return None
    return f"has no subtitle track {track!r} (its tracks: {', '.join(tracks) or 'none'})"


def subtitles_as_found(video: VideoEntry, track: str | None = None) -> list[tuple[float, float, str]]:
    """One subtitle track's cues as the track or sidecar file has them (own times, own text, lines kept),
    in time order: `track`, or the first found (two languages in one file would interleave), with the
    subtitles imported as descriptions (each window a cue as given). A video indexed before cues were
    stored has only its windows' texts: those, merged as `cues` does."""
    tracks = subtitle_tracks(video)
    if (missing := _missing_track(tracks, track)) is not None:
        raise NothingToExportError(f"video {video.id} ({video.path}) {missing}")
    if not tracks:
        return cues(video.windows, TextKind.SUBTITLE)
    chosen = track or tracks[0]
    if track is None and len(tracks) > 1:
        others = ", ".join(tracks[1:])
        log.info("%s: subtitle track %s exported; also has %s (--track / track= chooses)", video.path, chosen, others)
    found = [(c.start, c.end, c.text) for c in video.subtitle_cues if c.source == chosen]
    given = cues([w for w in video.windows if w.imported], TextKind.SUBTITLE)
    return sorted(found + given, key=lambda cue: (cue[0], cue[1]))


def _subtitle_file(timed: Iterable[tuple[float, float, str]], fmt: str) -> str:
    subs = pysubs2.SSAFile()
    for start, end, text in timed:
        event = pysubs2.SSAEvent(start=round(start * 1000), end=round(end * 1000))
        event.plaintext = text
        subs.append(event)
    return str(subs.to_string(fmt))


def nothing_to_write(chosen: Exporter, video: VideoEntry) -> str | None:
    """Why a per-video format has nothing to write for this video ("has no subtitles ..."), or None. A
    format says so with a `nothing_for(video)` method; one without it always has something to write."""
    nothing_for = getattr(chosen, "nothing_for", None)
    return nothing_for(video) if callable(nothing_for) else None


class TranscriptExporter:
    """A video's texts of one kind as timed cues (WebVTT or SRT, written by pysubs2): what is said
    (speech, a cue per window) or the subtitles as found (a cue per cue of the file's). A video with no
    such text has no file (`nothing_for`), not an empty one."""

    media_types: ClassVar[dict[str, str]] = {"vtt": "text/vtt", "srt": "application/x-subrip"}
    per_video = True
    _NOTHING: ClassVar[dict[str, str]] = {
        TextKind.SUBTITLE: "has no subtitles (no text subtitle track or sidecar file, none imported)",
        TextKind.SPEECH: "has no transcript (no speech was transcribed)",
    }

    def __init__(self, name: str, kind: str, fmt: str, track: str | None = None) -> None:
        self.name, self.kind, self.fmt = name, kind, fmt
        self.track = track  # subtitles: which track or sidecar file (None: the first found)
        self.suffix = ("" if kind == TextKind.SPEECH else f".{kind}") + f".{fmt}"
        self.media_type = self.media_types[fmt]

    def with_track(self, track: str) -> TranscriptExporter:
        """The same format for one subtitle track ("stream:3", "film.fr.srt")."""
        if self.kind != TextKind.SUBTITLE:
            raise InvalidQueryError(f"a track is chosen for subtitles only, not for {self.name}")
        return TranscriptExporter(self.name, self.kind, self.fmt, track)

    def timed(self, video: VideoEntry) -> list[tuple[float, float, str]]:
        if self.kind == TextKind.SUBTITLE:
            return subtitles_as_found(video, self.track)
        return cues(video.windows, self.kind)

    def nothing_for(self, video: VideoEntry) -> str | None:
        if self.kind == TextKind.SUBTITLE and (missing := _missing_track(subtitle_tracks(video), self.track)):
            return missing
        return None if self.timed(video) else self._NOTHING.get(self.kind, f"has no texts of kind {self.kind}")

    def render(self, videos: Iterable[VideoEntry]) -> Iterator[str]:
        for video in videos:
            yield _subtitle_file(self.timed(video), self.fmt)


class ChaptersVttExporter:
    """A WebVTT chapter track: one cue per chapter, its title as the text (what players show in their
    chapter menu, `<track kind="chapters">`)."""

    name = "chapters-vtt"
    suffix = ".chapters.vtt"
    media_type = "text/vtt"
    per_video = True

    def __init__(self, chapters: ChapterSettings) -> None:
        self.chapters = chapters

    def render(self, videos: Iterable[VideoEntry]) -> Iterator[str]:
        for video in videos:
            yield _subtitle_file(((c.start, c.end, c.title) for c in self.chapters.chapters(video)), "vtt")


class FfmetadataExporter:
    """FFmpeg's metadata file with the video's title and chapters: `ffmpeg -i video -i this
    -map_metadata 1 -map_chapters 1 -c copy out` writes them into a copy (`--embed-chapters` does)."""

    name = "ffmetadata"
    suffix = ".ffmetadata.txt"
    media_type = "text/plain"
    per_video = True

    def __init__(self, chapters: ChapterSettings) -> None:
        self.chapters = chapters

    def render(self, videos: Iterable[VideoEntry]) -> Iterator[str]:
        for video in videos:
            yield ffmetadata(video_title(video), self.chapters.chapters(video))


def ffmetadata(title: str, chapters: Iterable[Chapter]) -> str:
    lines = [";FFMETADATA1", f"title={_ffescape(title)}"]
    for chapter in chapters:
        lines += [
            "",
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(chapter.start * 1000)}",
            f"END={round(chapter.end * 1000)}",
            f"title={_ffescape(chapter.title)}",
        ]
    return "\n".join(lines) + "\n"


def _ffescape(value: str) -> str:
    """FFmpeg metadata escapes '=', ';', '#', '\\' and newlines with a backslash."""
    out = []
    for char in value:
        if char in "=;#\\\n":
            out.append("\\")
        out.append(char)
    return "".join(out)


class PbcoreExporter:
    """A PBCore 2.1 XML record per video (vidsearch/export/pbcore.py)."""

    name = "pbcore"
    suffix = ".pbcore.xml"
    media_type = "application/xml"
    per_video = True

    def __init__(self, chapters: ChapterSettings) -> None:
        self.chapters = chapters

    def render(self, videos: Iterable[VideoEntry]) -> Iterator[str]:
        from vidsearch.export.pbcore import pbcore_record

        for video in videos:
            yield pbcore_record(video, self.chapters.chapters(video), video_title(video))


@EXPORTERS.register("jsonl")
def _jsonl(settings: Settings) -> Exporter:
    return JsonLinesExporter(ChapterSettings.of(settings))


@EXPORTERS.register("csv")
def _csv(settings: Settings) -> Exporter:
    return CsvExporter(settings)


def _transcript(name: str, kind: str, fmt: str) -> None:
    @EXPORTERS.register(name)
    def factory(_settings: Settings) -> Exporter:
        return TranscriptExporter(name, kind, fmt)


for _fmt in ("vtt", "srt"):
    _transcript(_fmt, TextKind.SPEECH, _fmt)
    _transcript(f"subtitles-{_fmt}", TextKind.SUBTITLE, _fmt)


@EXPORTERS.register("chapters-vtt")
def _chapters_vtt(settings: Settings) -> Exporter:
    return ChaptersVttExporter(ChapterSettings.of(settings))


@EXPORTERS.register("ffmetadata")
def _ffmetadata(settings: Settings) -> Exporter:
    return FfmetadataExporter(ChapterSettings.of(settings))


@EXPORTERS.register("pbcore")
def _pbcore(settings: Settings) -> Exporter:
    return PbcoreExporter(ChapterSettings.of(settings))
