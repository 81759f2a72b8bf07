"""A video's description for its catalogue record. Without a video language model it is extractive:
sentences taken as they are from the indexed texts, one per chapter (the sentence its title comes
from), each cited to the time it was said or shown, and it says that it is extractive."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidsearch import __version__
from vidsearch.export.chapters import TITLE_KINDS, Chapter, central_window, video_chapters
from vidsearch.models.base import ModelSpec
from vidsearch.storage.catalogue import VideoEntry

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
    """Up to MAX_SENTENCES sentences from the video's texts, one per chapter (spread over the video
    when there are more chapters), each with its [start-end]; None when the video has no texts."""
    by_id = {w.id: w for w in video.windows}
    picked = chapters if len(chapters) <= MAX_SENTENCES else _spread(chapters, MAX_SENTENCES)
    sentences: list[str] = []
    spans: list[tuple[float, float]] = []
    for chapter in picked:
        windows = [by_id[i] for i in chapter.window_ids if i in by_id]
        for kind in TITLE_KINDS:
            having = [w for w in windows if w.texts_of(kind)]
            if having:
                window = central_window(having)
                sentence = " ".join(" ".join(window.texts_of(kind)).split())
                if sentence not in sentences:
                    sentences.append(sentence)
                    spans.append((window.start, window.end))
                break
    if not sentences:
        return None
    quoted = " ".join(
        f"{s.rstrip()}{'' if s.rstrip().endswith(('.', '!', '?')) else '.'} [{_clock(a)}-{_clock(b)}]"
        for s, (a, b) in zip(sentences, spans, strict=True)
    )
    return Description(
        f"Extractive description (sentences quoted from the indexed texts): {quoted}", EXTRACTIVE, tuple(spans)
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


def _spread(chapters: list[Chapter], n: int) -> list[Chapter]:
    step = (len(chapters) - 1) / (n - 1)
    return [chapters[round(i * step)] for i in range(n)]


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
