"""Searches worth trying on a library: short phrases drawn from what its videos say, one per video
where it can, for a person who has just indexed a folder and does not know what to type. No model
runs: a few videos spread over the library are read from SQL, and from each the phrase whose words
are rarest among the texts read is kept."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from vidsearch.storage.database import Database
from vidsearch.storage.schema import TextKind, VideoRecord, VideoStatus, WindowRecord, WindowTextRecord

VIDEOS_PER_SUGGESTION = 4  # videos read for each suggestion asked for: room to skip ones with little text
TEXTS_PER_VIDEO = 200
MAX_PHRASE_WORDS = 4
MIN_CONTENT_WORDS = 2
# On-screen text is often a logo or a stray word the reader half got: kept only when it reads as well.
KIND_WEIGHTS = {TextKind.OCR: 0.8}

_FILLER = """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just let me
    more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves okay yeah oh um uh well really going got get gonna
    like know think one two three thing things right now see look come go say said just lot lots bit
    good hello hi thanks thank please yes sure welcome maybe actually basically kind sort stuff something
    anything everything nothing someone everyone always never even still back want need make made take
    way much many little quite"""
STOPWORDS = frozenset(_FILLER.split())
_SENTENCES = re.compile(r"[.,!?;:()\[\]\n\"“”]+")
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_VOWELS = re.compile(r"[aeiouyàâäéèêëïîôöùûüáíóúãõåæøœ]", re.IGNORECASE)


@dataclass(frozen=True)
class Suggestion:
    query: str
    video_id: int
    path: str
    start: float
    end: float
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def suggest_queries(db: Database, count: int = 3) -> list[Suggestion]:
    """Up to `count` phrases from the library's texts, from as many different videos as there are."""
    if count < 1:
        return []
    texts = _sample_texts(db, count * VIDEOS_PER_SUGGESTION)
    documents = Counter(word for *_, body in texts for word in {w.lower() for w in _WORD.findall(body)})
    total = max(1, len(texts))
    by_video: dict[int, list[tuple[float, Suggestion]]] = {}
    for video_id, path, start, end, kind, body in texts:
        for phrase, rarity in _phrases(body, documents, total):
            score = rarity * KIND_WEIGHTS.get(kind, 1.0)
            by_video.setdefault(video_id, []).append((score, Suggestion(phrase, video_id, path, start, end, kind)))
    for candidates in by_video.values():
        candidates.sort(key=lambda c: (-c[0], c[1].start))
    chosen: list[Suggestion] = []
    seen: set[str] = set()
    # The best phrase of each video first (best videos first), then the next best of each, and so on.
    for rank in range(max((len(c) for c in by_video.values()), default=0)):
        round_ = sorted((c[rank] for c in by_video.values() if len(c) > rank), key=lambda c: -c[0])
        for _, suggestion in round_:
            if suggestion.query.lower() not in seen:
                seen.add(suggestion.query.lower())
                chosen.append(suggestion)
            if len(chosen) == count:
                return chosen
    return chosen


def _sample_texts(db: Database, videos: int) -> list[tuple[int, str, float, float, str, str]]:
    """The texts of up to `videos` indexed videos spread evenly over the library (by id)."""
    with db.reading() as conn:
        ids = list(
            conn.scalars(select(VideoRecord.id).where(VideoRecord.status == VideoStatus.DONE).order_by(VideoRecord.id))
        )
        if len(ids) > videos:
            step = len(ids) / videos
            ids = [ids[int(i * step)] for i in range(videos)]
        rows: list[tuple[int, str, float, float, str, str]] = []
        for video_id in ids:
            stmt = (
                select(
                    VideoRecord.id,
                    VideoRecord.path,
                    WindowRecord.start,
                    WindowRecord.end,
                    WindowTextRecord.kind,
                    WindowTextRecord.text,
                )
                .join(WindowRecord, WindowTextRecord.window_id == WindowRecord.id)
                .join(VideoRecord, WindowRecord.video_id == VideoRecord.id)
                .where(WindowRecord.video_id == video_id, WindowRecord.retired.is_(False))
                .order_by(WindowTextRecord.id)
                .limit(TEXTS_PER_VIDEO)
            )
            rows += [tuple(row) for row in conn.execute(stmt)]  # type: ignore[misc]
    return rows


def _phrases(body: str, documents: Counter[str], total: int) -> list[tuple[str, float]]:
    """The best phrase of each sentence of a text, with its rarity: the summed inverse document
    frequency of its content words, a little less for each filler word it carries."""
    if body.isupper():  # a title burnt into the picture: shown in lower case
        body = body.lower()
    found: list[tuple[str, float]] = []
    for sentence in _SENTENCES.split(body):
        words = _WORD.findall(sentence)
        best: tuple[float, list[str]] | None = None
        for i in range(len(words)):
            if not _content(words[i]):
                continue
            for j in range(i + 1, min(len(words), i + MAX_PHRASE_WORDS) + 1):
                span = words[i:j]
                if not _content(span[-1]):
                    continue
                content = [w for w in span if _content(w)]
                if len(content) < MIN_CONTENT_WORDS:
                    continue
                rarity = sum(math.log(1 + total / documents.get(w.lower(), 1)) for w in content)
                rarity -= 0.5 * (len(span) - len(content))
                if best is None or rarity > best[0]:
                    best = (rarity, span)
        if best is not None:
            found.append((" ".join(best[1]), best[0]))
    return found


def _content(word: str) -> bool:
    """A word that carries meaning: letters only (no number or code), at least three of them, not a filler
    word, and pronounceable."""
    return (
        len(word) >= 3
        and not any(c.isdigit() or c == "_" for c in word)
        and word.lower() not in STOPWORDS
        and _VOWELS.search(word) is not None
    )
