"""A video's description. With a video language model (the answerer), written by it from the window
captions, its citations checked and written as times; without one, extractive: texts quoted as they are
from the indexed windows (the most central of each chapter, then others spread over the video), each
cited to the time it was said or shown, and it says that it is extractive."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from vidsearch import __version__
from vidsearch.errors import ModelError
from vidsearch.export.chapters import TITLE_KINDS, Chapter, central_window, video_chapters
from vidsearch.kinds import TextKind
from vidsearch.models.base import Embedder, ModelSpec, MomentClip, VideoAnswerer
from vidsearch.storage.catalogue import VideoEntry, WindowEntry

if TYPE_CHECKING:
    from vidsearch.config import Settings
    from vidsearch.storage import Database

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"
WRITTEN = "written"  # by a video language model, from the window captions
MAX_SENTENCES = 5
MAX_CAPTIONS = 24  # captions a video language model is given to describe a video from
DESCRIBE_QUESTION = (
    "Describe the whole video in three to five sentences for an archive catalogue: what it shows and what "
    "happens, in order. Use only the numbered moments' captions, and cite each statement with the moments "
    "it comes from, as [n]."
)
_CITATION = re.compile(r"\[(\d+)\]")


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


def written_description(video: VideoEntry, answerer: VideoAnswerer) -> Description | None:
    """The whole video described by a video language model from its window captions (up to
    MAX_CAPTIONS of them, spread over the video, each a numbered moment with its times and no frames),
    its citations [n] checked against them and written as the cited windows' times. None when the
    video has no captions or the model says nothing."""
    captioned = [w for w in sorted(video.windows, key=lambda w: (w.start, w.index)) if w.texts_of(TextKind.CAPTION)]
    if not captioned:
        return None
    windows = captioned if len(captioned) <= MAX_CAPTIONS else _spread(captioned, MAX_CAPTIONS)
    moments = [
        MomentClip(n, Path(video.path), w.start, w.end, (), {TextKind.CAPTION: " ".join(w.texts_of(TextKind.CAPTION))})
        for n, w in enumerate(windows, 1)
    ]
    answer = answerer.answer(DESCRIBE_QUESTION, moments)
    cited: list[tuple[float, float]] = []

    def as_time(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if not 1 <= n <= len(windows):  # a moment it was not given: the citation goes
            return ""
        window = windows[n - 1]
        cited.append((window.start, window.end))
        return f"[{_clock(window.start)}-{_clock(window.end)}]"

    cleaned = re.sub(r"[ \t]{2,}", " ", _CITATION.sub(as_time, answer))
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned).strip()  # no space left before punctuation
    if sum(c.isalpha() for c in text) < 3:
        return None
    return Description(text, answerer.spec.model_id, tuple(cited))


def describe_videos(
    db: Database,
    settings: Settings,
    answerer: Callable[[], VideoAnswerer | None] = lambda: None,
    *,
    embedder: Callable[[], Embedder],
) -> int:
    """Describe every video that has windows but no description yet (new, re-indexed or imported
    since), stored as a text of kind `description` with the model record of what wrote it: the video
    language model `answerer()` gives (asked only when a video has captions), from the window captions;
    else extractive, from the indexed texts. Each is stored with its vector under `embedder()` (asked
    for only when a video is described) in one transaction. Returns how many were described."""
    pending = db.videos_without_description()
    if not pending:
        return 0
    extractive_id: int | None = None
    described = 0
    embedder_id: int | None = None

    def store(video_id: int, text: str, model_id: int | None, source: str) -> None:
        nonlocal embedder_id
        model = embedder()
        embedder_id = embedder_id or db.model_record(model.spec)
        db.set_description(video_id, text, model_id, source, model.embed([text])[0], embedder_id)

    for video in db.catalogue_entries(pending):
        has_captions = any(w.texts_of(TextKind.CAPTION) for w in video.windows)
        model = answerer() if has_captions else None
        description = None
        if model is not None:
            try:
                description = written_description(video, model)
            except ModelError as exc:  # the extractive one stands in; the next run tries again
                log.warning("%s: the video language model could not describe it: %s", video.path, exc)
            if description is not None:
                store(video.id, description.text, db.model_record(model.spec), WRITTEN)
                described += 1
                continue
        chapters = video_chapters(
            video,
            threshold=settings.chapter_topic_threshold,
            min_seconds=settings.chapter_min_seconds,
            title_chars=settings.chapter_title_chars,
        )
        description = extractive_description(video, chapters)
        if description is not None:
            extractive_id = extractive_id or db.model_record(extractive_spec(settings))
            store(video.id, description.text, extractive_id, EXTRACTIVE)
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
