"""A video's description. Without a video language model it is extractive: texts quoted as they are
from the indexed windows (the most central of each chapter, then others spread over the video), each
cited to the time it was said or shown, and it says that it is extractive."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from vidsearch import __version__
from vidsearch.export.chapters import TITLE_KINDS, Chapter, central_window, video_chapters
from vidsearch.models.base import ModelSpec
from vidsearch.storage.catalogue import VideoEntry, WindowEntry

if TYPE_CHECKING:
    from vidsearch.config import Settings
    from vidsearch.storage import Database

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"
MAX_SENTENCES = 5


@dataclass(frozen=True)
class Description:
    text: str
    method: str  # EXTRACTIVE, or the model that wrote it
    citations: tuple[tuple[float, float], ...]  # the span of each sentence quoted, in order


def extractive_description(video: VideoEntry, chapters: list[Chapter]) -> Description | None:
    """Up to MAX_SENTENCES of the video's texts, quoted in time order, each with its [start-end]: the
    most central text of each chapter first, then texts spread evenly over the rest of the video. A
    window's text is its best kind (TITLE_KINDS' order). None when the video has no texts."""
    candidates: dict[int, tuple[WindowEntry, str]] = {}
    seen: set[str] = set()
    for window in sorted(video.windows, key=lambda w: (w.start, w.index)):
        for kind in TITLE_KINDS:
            said = " ".join(" ".join(window.texts_of(kind)).split())
            if sum(c.isalpha() for c in said) >= 3:
                if said not in seen:
                    seen.add(said)
                    candidates[window.id] = (window, said)
                break
    if not candidates:
        return None
    chosen: list[int] = []
    for chapter in chapters if len(chapters) <= MAX_SENTENCES else _spread(chapters, MAX_SENTENCES):
        inside = [candidates[i][0] for i in chapter.window_ids if i in candidates]
        if inside:
            chosen.append(central_window(inside).id)
    rest = [i for i in candidates if i not in chosen]
    room = MAX_SENTENCES - len(chosen)
    if room > 0 and rest:
        chosen += rest if len(rest) <= room else _spread(rest, room)
    picked = sorted((candidates[i] for i in set(chosen)), key=lambda c: (c[0].start, c[0].index))
    quoted = " ".join(
        f"{said}{'' if said.endswith(('.', '!', '?')) else '.'} [{_clock(w.start)}-{_clock(w.end)}]"
        for w, said in picked
    )
    return Description(
        f"Extractive description (sentences quoted from the indexed texts): {quoted}",
        EXTRACTIVE,
        tuple((w.start, w.end) for w, _ in picked),
    )


def extractive_spec(settings: Settings) -> ModelSpec:
    """What writes extractive descriptions, recorded like any model (its settings shape its output)."""
    return ModelSpec(
        kind="describer",
        name=EXTRACTIVE,
        model_id="vidsearch/extractive-description",
        revision=f"vidsearch=={__version__}",
        settings={
            "max_sentences": MAX_SENTENCES,
            "chapter_topic_threshold": settings.chapter_topic_threshold,
            "chapter_min_seconds": settings.chapter_min_seconds,
        },
    )


def describe_videos(db: Database, settings: Settings) -> int:
    """Describe every video that has windows but no description yet (new, re-indexed or imported
    since): extractive, from its indexed texts, stored as a text of kind `description` with the model
    record of what wrote it. Returns how many were described (their vectors come with the next
    generation)."""
    pending = db.videos_without_description()
    if not pending:
        return 0
    model_id = db.model_record(extractive_spec(settings))
    described = 0
    for video in db.catalogue_entries(pending):
        chapters = video_chapters(
            video,
            threshold=settings.chapter_topic_threshold,
            min_seconds=settings.chapter_min_seconds,
            title_chars=settings.chapter_title_chars,
        )
        description = extractive_description(video, chapters)
        if description is not None:
            db.set_description(video.id, description.text, model_id, EXTRACTIVE)
            described += 1
    log.info("described %d videos", described)
    return described


T = TypeVar("T")


def _spread(items: list[T], n: int) -> list[T]:
    """n of the items, evenly spaced, the first and the last among them (n >= 1)."""
    if n == 1:
        return [items[len(items) // 2]]
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
