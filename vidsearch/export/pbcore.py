"""A video's catalogue record as PBCore 2.1 XML (pbcoreDescriptionDocument), the metadata standard of
broadcasters' archives: identifiers, title, subjects (tags and what the frames show, with their time
ranges), a description, the time-coded texts (each with the model that wrote it), the file and its
tracks, and the chapters as parts. Elements come in the order the schema's sequences require; the tests
validate records against the published XSD."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable
from pathlib import PurePath
from xml.etree import ElementTree as ET

from vidsearch.export.chapters import Chapter
from vidsearch.export.description import extractive_description
from vidsearch.kinds import TextKind
from vidsearch.storage.catalogue import WHOLE_VIDEO_KINDS, VideoEntry

NAMESPACE = "http://www.pbcore.org/PBCore/PBCoreNamespace.html"
SCHEMA_LOCATION = "http://www.pbcore.org/xsd/pbcore-2.1.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SOURCE = "vidsearch"
_LANGUAGE = re.compile(r"^[a-z]{3}$")
_TRACK_TYPES = {"video": "Video", "audio": "Audio", "subtitle": "Text"}

ET.register_namespace("", NAMESPACE)
ET.register_namespace("xsi", XSI)


def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def _add(parent: ET.Element, tag: str, text: object = None, **attributes: object) -> ET.Element:
    element = ET.SubElement(parent, _q(tag), {k: str(v) for k, v in attributes.items() if v is not None})
    if text is not None:
        element.text = str(text)
    return element


def timecode(seconds: float) -> str:
    """HH:MM:SS.mmm, as PBCore's time attributes and durations are written."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def pbcore_record(video: VideoEntry, chapters: list[Chapter], title: str) -> str:
    root = ET.Element(_q("pbcoreDescriptionDocument"), {f"{{{XSI}}}schemaLocation": f"{NAMESPACE} {SCHEMA_LOCATION}"})
    _add(root, "pbcoreAssetType", "Clip")
    if video.recorded_at:
        _add(root, "pbcoreAssetDate", video.recorded_at.isoformat(), dateType="created")
    _add(root, "pbcoreIdentifier", video.id, source=SOURCE)
    if video.content_hash:
        _add(root, "pbcoreIdentifier", video.content_hash, source="SHA-256")
    _add(root, "pbcoreTitle", title, titleType="Main")
    _subjects(root, video)
    stored = video.description
    if stored is not None:  # written when the video was indexed, by the model its record names
        _add(
            root,
            "pbcoreDescription",
            stored.text,
            descriptionType="Abstract",
            annotation=stored.model.label if stored.model else "imported",
        )
    elif (made := extractive_description(video, chapters)) is not None:
        _add(root, "pbcoreDescription", made.text, descriptionType="Abstract", annotation=made.method)
    else:
        _add(root, "pbcoreDescription", "No indexed texts.", descriptionType="Abstract")
    for window in video.windows:
        for text in window.texts:
            if text.kind in WHOLE_VIDEO_KINDS:
                continue
            _add(
                root,
                "pbcoreDescription",
                text.text,
                descriptionType=text.kind,
                segmentType="window",
                startTime=timecode(window.start),
                endTime=timecode(window.end),
                annotation=text.model.label if text.model else ("imported" if window.imported else None),
            )
    if video.has_file:
        _instantiation(root, video)
    models = sorted({(t.kind, t.model.label) for w in video.windows for t in w.texts if t.model})
    for kind, label in models:
        _add(root, "pbcoreAnnotation", f"{kind} texts written by {label}", annotationType="model")
    for number, chapter in enumerate(chapters, 1):
        part = _add(
            root, "pbcorePart", partType="chapter", startTime=timecode(chapter.start), endTime=timecode(chapter.end)
        )
        _add(part, "pbcoreIdentifier", f"{video.id}.{number}", source=SOURCE)
        _add(part, "pbcoreTitle", chapter.title, titleType="Chapter")
        _add(
            part,
            "pbcoreDescription",
            f"Chapter {number} ({chapter.reason}): {chapter.title}",
            descriptionType="Chapter",
        )
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _subjects(root: ET.Element, video: VideoEntry) -> None:
    """Tags and visual labels as subjects, each with the span of the first window that has it."""
    seen: set[tuple[str, str]] = set()
    for window in video.windows:
        found = [("Tag", tag) for tag in window.tags]
        for objects in window.texts_of(TextKind.OBJECTS):
            # "cat, Egyptian cat, tabby; coffee, espresso": a label with its synonyms, labels by ';'.
            found += [("Visual label", label.split(",")[0].strip()) for label in objects.split(";") if label.strip()]
        for kind, subject in found:
            if (kind, subject) in seen:
                continue
            seen.add((kind, subject))
            _add(
                root,
                "pbcoreSubject",
                subject,
                subjectType=kind,
                startTime=timecode(window.start),
                endTime=timecode(window.end),
            )


def _instantiation(root: ET.Element, video: VideoEntry) -> None:
    streams: list[dict[str, object]] = list((video.probe or {}).get("streams", []))
    inst = _add(root, "pbcoreInstantiation")
    _add(inst, "instantiationIdentifier", PurePath(video.path).name, source="File Name")
    if video.recorded_at:
        _add(inst, "instantiationDate", video.recorded_at.isoformat(), dateType="created")
    if video.width and video.height:
        _add(inst, "instantiationDimensions", f"{video.width}x{video.height}", unitsOfMeasure="pixels")
    _add(inst, "instantiationDigital", mimetypes.guess_type(video.path)[0] or "application/octet-stream")
    _add(inst, "instantiationLocation", video.path)
    _add(inst, "instantiationMediaType", "Moving Image")
    if video.size_bytes:
        _add(inst, "instantiationFileSize", video.size_bytes, unitsOfMeasure="bytes")
    if video.start_time:
        _add(inst, "instantiationTimeStart", timecode(video.start_time))
    if video.duration:
        _add(inst, "instantiationDuration", timecode(video.duration))
    if streams:
        _add(inst, "instantiationTracks", _tracks(streams))
    for stream in streams:
        track = _add(inst, "instantiationEssenceTrack")
        kind = str(stream.get("kind", ""))
        _add(track, "essenceTrackType", _TRACK_TYPES.get(kind, kind.title() or "Unknown"))
        _add(track, "essenceTrackIdentifier", stream.get("index"), source="stream index")
        _add(track, "essenceTrackEncoding", stream.get("codec") or "unknown")
        if kind == "video" and video.fps:
            _add(track, "essenceTrackFrameRate", f"{video.fps:g}", unitsOfMeasure="fps")
        if kind == "video" and video.width and video.height:
            _add(track, "essenceTrackFrameSize", f"{video.width}x{video.height}", unitsOfMeasure="pixels")
        language = stream.get("language")
        if isinstance(language, str) and _LANGUAGE.match(language):
            _add(track, "essenceTrackLanguage", language)


def _tracks(streams: Iterable[dict[str, object]]) -> str:
    counts: dict[str, int] = {}
    for stream in streams:
        counts[str(stream.get("kind"))] = counts.get(str(stream.get("kind")), 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())
