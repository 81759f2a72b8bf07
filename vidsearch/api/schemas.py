"""Response shapes of the HTTP API (they document themselves in /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SnippetOut(BaseModel):
    kind: str
    text: str
    marks: list[tuple[int, int]] = Field(description="[start, end) character spans where query words matched")


class MomentOut(BaseModel):
    video_id: int
    path: str
    start: float = Field(description="seconds from the start of the video")
    end: float = Field(description="seconds from the start of the video")
    score: float
    window_id: int = Field(description="the best matching window: GET /windows/{id}/thumbnail shows it")
    matched: list[str] = Field(default_factory=list, description="the kinds of text that matched")
    texts: dict[str, str] = Field(description="what the moment says, by kind: speech, ocr, subtitle, caption")
    snippets: list[SnippetOut] = Field(default_factory=list, description="the best matching texts, words marked")
    tags: list[str] = Field(default_factory=list)


class SearchOut(BaseModel):
    query: str
    offset: int
    limit: int
    filters: dict[str, Any] = Field(description="the filters applied, as given")
    results: list[MomentOut]
    note: str | None = Field(
        default=None, description="why there are no results, when there are none (e.g. nothing close enough)"
    )


class VideoOut(BaseModel):
    id: int
    path: str
    status: str
    error: str | None
    duration: float | None
    width: int | None
    height: int | None
    windows: int
    indexed_at: datetime | None


class TextOut(BaseModel):
    kind: str
    text: str
    source: str
    model: str | None = Field(None, description="model id and revision that produced the text")


class WindowOut(BaseModel):
    index: int
    start: float
    end: float
    error: str | None = Field(None, description="why a signal is missing for this window, if one is")
    texts: list[TextOut]


class ShotOut(BaseModel):
    index: int
    start: float = Field(description="seconds from the start of the video: a hard cut, or the video's start")
    end: float = Field(description="seconds from the start of the video: the next cut, or the video's end")


class VideoDetailOut(VideoOut):
    fps: float | None
    content_hash: str | None
    probe: dict[str, Any] | None
    pipeline_settings: dict[str, Any] | None
    window_list: list[WindowOut]
    shots: list[ShotOut] = Field(
        default_factory=list,
        description="the shots the indexer found (shot-aware windows never straddle a cut); "
        "empty when it looked for none",
    )


class HealthOut(BaseModel):
    status: str
    videos: dict[str, int]
    index_generation: int | None
    vectors: int | None


class ErrorOut(BaseModel):
    """Every error's body, whatever its status."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "q: String should have at most 1000 characters"}]}
    )

    detail: str = Field(
        description="one readable sentence; for an invalid request, the parameter and what was expected"
    )


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=1000)
    k: int = Field(default=5, ge=1, le=20, description="how many moments to answer from")


class CitationOut(BaseModel):
    number: int
    video_id: int
    path: str
    start: float
    end: float


class EvidenceOut(MomentOut):
    number: int


class AskOut(BaseModel):
    question: str
    answer: str
    citations: list[CitationOut] = Field(description="only moments that were retrieved as evidence")
    evidence: list[EvidenceOut]
    model: str | None = Field(description="the video language model that answered; null when extractive")
    mode: str = Field(description="generative or extractive")
    dropped_citations: list[int] = Field(description="numbers the model cited that were not evidence")
    note: str
