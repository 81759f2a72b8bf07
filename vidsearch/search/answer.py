"""Grounded answers: retrieve moments, let a video language model answer over their frames and
texts citing them as [n], and keep only citations of moments that were actually retrieved.
With no video language model, answer extractively: quote the indexed sentences that best match."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidsearch.config import Settings
from vidsearch.errors import InvalidQueryError, MediaError
from vidsearch.kinds import TextKind
from vidsearch.media.frames import SampledFrame, open_frames
from vidsearch.media.probe import probe
from vidsearch.models.base import MomentClip, VideoAnswerer
from vidsearch.search.engine import Searcher
from vidsearch.search.moments import Moment

log = logging.getLogger(__name__)

_CITATION = re.compile(r"\[(\d+)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s+/\s+")  # sentence ends, and OCR line breaks
# An extractive answer keeps sentences scoring at least this share of the best one.
_EXTRACT_RELATIVE = 0.8
_NOT_SAID = (TextKind.DESCRIPTION, TextKind.NAME, TextKind.OBJECTS)
EXTRACTIVE_NOTE = "No video language model is configured: this answer quotes the indexed texts of the moments."


@dataclass(frozen=True)
class Citation:
    number: int
    video_id: int
    path: str
    start: float
    end: float


@dataclass
class Answer:
    question: str
    answer: str
    citations: list[Citation]
    evidence: list[Moment]
    model: str | None
    mode: str  # "generative" | "extractive"
    dropped_citations: list[int] = field(default_factory=list)  # cited numbers that were not evidence
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "citations": [
                {
                    "number": c.number,
                    "video_id": c.video_id,
                    "path": c.path,
                    "start": round(c.start, 3),
                    "end": round(c.end, 3),
                }
                for c in self.citations
            ],
            "evidence": [{"number": i, **m.to_dict()} for i, m in enumerate(self.evidence, 1)],
            "model": self.model,
            "mode": self.mode,
            "dropped_citations": self.dropped_citations,
            "note": self.note,
        }


def _centred_run(start: float, end: float, fps: float, limit: int) -> list[float]:
    """Frame times at `fps` inside [start, end): all of them, or `limit` consecutive ones around the middle.
    Consecutive, so models that read fixed-rate clips (Apollo: 4 frames per 2 s) get whole clips."""
    step = 1 / fps
    count = max(1, int((end - start) * fps))
    first = 0 if count <= limit else (count - limit) // 2
    return [round(start + (i + 0.5) * step, 6) for i in range(first, min(count, first + limit))]


def ground(text: str, evidence: list[Moment]) -> tuple[str, list[Citation], list[int]]:
    """Keep citations [n] that name a retrieved moment; remove the others from the text."""
    valid = range(1, len(evidence) + 1)
    cited: list[int] = []
    dropped: list[int] = []

    def keep_or_drop(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n in valid:
            if n not in cited:
                cited.append(n)
            return match.group(0)
        if n not in dropped:
            dropped.append(n)
        return ""

    cleaned = _CITATION.sub(keep_or_drop, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()
    citations = [
        Citation(n, evidence[n - 1].video_id, evidence[n - 1].path, evidence[n - 1].start, evidence[n - 1].end)
        for n in sorted(cited)
    ]
    return cleaned, citations, dropped


class Asker:
    def __init__(self, settings: Settings, searcher: Searcher, answerer: VideoAnswerer | None = None) -> None:
        self.settings = settings
        self.searcher = searcher
        self.answerer = answerer

    def ask(self, question: str, k: int = 5) -> Answer:
        question = " ".join(question.split())
        if not question:
            raise InvalidQueryError("the question is empty")
        # Without the minimum relevance: a question lies farther from the statements it is answered by than
        # a search phrase does (unmeasured on the dev sets, which hold statements), and the answer says
        # itself when the moments do not answer it.
        evidence = self.searcher.search(question, k, min_relevance=0.0).results
        if not evidence:
            return Answer(
                question,
                "Nothing in the library matches this question.",
                [],
                [],
                None,
                "extractive",
                note=EXTRACTIVE_NOTE,
            )
        if self.answerer is None:
            return self._extractive(question, evidence)
        clips = [self._clip(i, moment) for i, moment in enumerate(evidence, 1)]
        raw = self.answerer.answer(question, clips)
        text, citations, dropped = ground(raw, evidence)
        if dropped:
            log.warning("dropped citations of moments that were not retrieved: %s", dropped)
        spec = self.answerer.spec
        return Answer(question, text, citations, evidence, f"{spec.model_id}@{spec.revision}", "generative", dropped)

    def _clip(self, number: int, moment: Moment) -> MomentClip:
        frames: list[SampledFrame] = []
        try:
            path = Path(moment.path)
            info = probe(path)
            times = _centred_run(
                moment.start,
                moment.end,
                self.answerer.sample_fps if self.answerer else 1.0,
                self.settings.answer_max_frames,
            )
            source = open_frames(path, info, self.settings.caption_max_side, self.settings.frame_decoder)
            frames = list(source.iter_frames(times))
        except MediaError as exc:  # the file moved or broke since indexing: answer from its texts alone
            log.warning("moment %d: no frames (%s)", number, exc.reason)
        return MomentClip(number, Path(moment.path), moment.start, moment.end, frames, moment.texts)

    def _extractive(self, question: str, evidence: list[Moment]) -> Answer:
        """The indexed sentences closest to the question, each cited by its moment."""
        sentences: list[tuple[int, str]] = []
        for number, moment in enumerate(evidence, 1):
            for kind, text in moment.texts.items():
                # Only what the moment says: not its video's description (other windows' texts with their
                # times), nor the file's name or the words for what its frames show (not statements).
                if kind in _NOT_SAID:
                    continue
                sentences += [(number, s.strip()) for s in _SENTENCE_END.split(text) if len(s.strip()) > 2]
        embedder = self.searcher.embedder
        vectors = embedder.embed([question] + [s for _, s in sentences])
        scores = vectors[1:] @ vectors[0]
        ranked = np.argsort(-scores)[: self.settings.answer_extract_sentences].tolist()
        keep = [i for i in ranked if scores[i] >= _EXTRACT_RELATIVE * scores[ranked[0]]]
        parts = []
        for i in keep:  # best first
            number, sentence = sentences[i]
            parts.append(f"{sentence.rstrip('.')} [{number}].")
        text, citations, dropped = ground(" ".join(parts), evidence)
        return Answer(question, text, citations, evidence, None, "extractive", dropped, EXTRACTIVE_NOTE)
