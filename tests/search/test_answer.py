"""Grounded answers. The generative path uses a test double for the video language model (no such
model ships offline); retrieval, frames and grounding around it are real. Extractive mode is real."""

import pytest

from vidsearch.models.base import ModelSpec
from vidsearch.search import Searcher
from vidsearch.search.answer import EXTRACTIVE_NOTE, Asker, ground
from vidsearch.search.moments import Moment
from vidsearch.storage import Database


def _moment(video_id, start):
    return Moment(video_id, f"/v/{video_id}.mp4", start, start + 10, 0.5, [video_id])


def test_ground_keeps_retrieved_citations_and_drops_the_rest():
    evidence = [_moment(1, 0), _moment(2, 30)]
    text, citations, dropped = ground("The bridge closed [2] after the storm [7], as said [1][2].", evidence)
    assert text == "The bridge closed [2] after the storm, as said [1][2]."
    assert [(c.number, c.video_id, c.start, c.end) for c in citations] == [(1, 1, 0, 10), (2, 2, 30, 40)]
    assert dropped == [7]


def test_ground_with_no_citations():
    assert ground("No idea.", [_moment(1, 0)]) == ("No idea.", [], [])
    assert ground("See [0] and [3].", [_moment(1, 0)])[2] == [0, 3]


class ScriptedAnswerer:
    """Test double for a video language model: records what it is shown and answers with a fixed text
    that cites moment 1 and a moment 9 that was never retrieved."""

    spec = ModelSpec("captioner", "scripted", "test/scripted-vlm", "1")
    sample_fps = 2.0

    def __init__(self):
        self.seen = []

    def answer(self, question, moments):
        self.seen = list(moments)
        return "The title says HARBOR BRIDGE CLOSED [1], and the mayor agreed [9]."


@pytest.mark.models
def test_generative_answer_sees_the_moments_and_only_cites_evidence(indexed_demo, real_models):
    # Every moment down to the weakest, so that three are numbered (the demo holds one close match).
    settings = indexed_demo.settings.model_copy(update={"min_relevance": 0.0})
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    model = ScriptedAnswerer()
    answer = Asker(settings, searcher, model).ask("is the harbor bridge closed?", k=3)

    assert answer.mode == "generative" and answer.model == "test/scripted-vlm@1"
    assert answer.answer == "The title says HARBOR BRIDGE CLOSED [1], and the mayor agreed."
    assert answer.dropped_citations == [9]
    [citation] = answer.citations
    assert citation.path == indexed_demo.path("city/council_meeting.mp4") and citation.start >= 20
    # The model saw numbered moments with frames at absolute times inside each moment, and their texts.
    assert [m.number for m in model.seen] == [1, 2, 3]
    first = model.seen[0]
    assert first.frames and all(first.start <= f.time <= first.end for f in first.frames)
    assert first.texts["ocr"] == "HARBOR BRIDGE CLOSED"
    assert len(first.frames) <= settings.answer_max_frames
    gaps = {round(b.time - a.time, 2) for a, b in zip(first.frames, first.frames[1:], strict=False)}
    assert gaps <= {0.48, 0.5, 0.52}  # consecutive frames at the model's 2 fps


@pytest.mark.models
def test_extractive_answer_quotes_the_best_sentence_and_cites_it(indexed_demo, real_models):
    settings = indexed_demo.settings
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    answer = Asker(settings, searcher, None).ask("what will happen to spending on public transport?")
    assert answer.mode == "extractive" and answer.model is None and answer.note == EXTRACTIVE_NOTE
    assert "transport" in answer.answer.lower() and answer.answer.endswith("[1].")
    [citation] = answer.citations
    assert citation.path == indexed_demo.path("city/council_meeting.mp4")
    span = indexed_demo.truth["city/council_meeting.mp4"][1]
    assert citation.start < span.end and citation.end > span.start
    data = answer.to_dict()
    assert set(data) == {"question", "answer", "citations", "evidence", "model", "mode", "dropped_citations", "note"}
    assert data["evidence"][0]["number"] == 1


def test_the_readmes_question_is_answered_by_what_the_video_says(indexed_demo, real_models):
    """README's `ask` example: the file's name ("council meeting") and the words for what the frames show
    are not statements, so the answer quotes what was said, the transport decision among it."""
    settings = indexed_demo.settings
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    answer = Asker(settings, searcher, None).ask("what did the council decide about transport?")
    assert "Spending on public transport will rise" in answer.answer
    assert "council meeting (" not in answer.answer  # the name text
    span = indexed_demo.truth["city/council_meeting.mp4"][1]  # the transport scene
    assert any(c.start < span.end and c.end > span.start for c in answer.citations)
