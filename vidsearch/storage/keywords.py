"""Keyword search with the database's own full-text engine: SQLite FTS5 (porter stemming, BM25) or
PostgreSQL text search (the english configuration, ts_rank_cd). Other databases get no keyword
search; dense retrieval still works there.

The keyword index follows window_texts by itself (FTS5 triggers, a PostgreSQL generated column), so
no writer has to remember it, and `install` adds it to databases created before it existed."""

from __future__ import annotations

import logging
import math
import re
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    Select,
    Text,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.elements import ColumnClause

from vidsearch.storage.schema import VideoRecord, WindowRecord, WindowTextRecord

log = logging.getLogger(__name__)

FTS_TABLE = "window_texts_fts"
MAX_TERMS = 32  # a pasted paragraph should not turn into a 500-way OR
# Marks around matched terms in highlighted text: control characters never stored in a text.
MARK_START, MARK_END = "\x02", "\x03"

# Function words not worth marking in a snippet. Display only: ranking keeps every word and lets
# BM25's inverse document frequency weigh them (PostgreSQL's english configuration drops its own).
_UNMARKED = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "he",
        "her",
        "his",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "too",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "will",
        "with",
        "you",
        "your",
    ]
)

# The FTS5 table as SQLAlchemy sees it: its rowid is the window_texts id.
_fts = table(FTS_TABLE, column("rowid", Integer))

SQLITE_TOKENIZER = "porter unicode61 remove_diacritics 2"
_SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    f"text, content='window_texts', content_rowid='id', tokenize='{SQLITE_TOKENIZER}')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON window_texts BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON window_texts BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF text ON window_texts BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); "
    f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
)
_POSTGRES_DDL = (
    "ALTER TABLE window_texts ADD COLUMN IF NOT EXISTS tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX IF NOT EXISTS ix_window_texts_tsv ON window_texts USING GIN (tsv)",
)


def idf(texts: int, holding: int) -> float:
    """Inverse document frequency of a word held by `holding` of `texts` texts, as BM25 (and FTS5's
    bm25()) has it, floored just above 0 for words in over half the texts."""
    return max(1e-6, math.log((texts - holding + 0.5) / (holding + 0.5)))


def keyword_parameters(dialect: str, terms: Sequence[str], counts: Mapping[str, int], texts: int) -> dict[str, Any]:
    """The parameters of keyword_select's statement for these terms: the engine's match expression and,
    on PostgreSQL, each term with its inverse document frequency (`counts`: texts holding each term, of
    `texts` in all)."""
    parameters: dict[str, Any] = {"match": match_expression(dialect, terms)}
    if dialect == "postgresql":
        parameters["terms"] = list(terms)
        parameters["idfs"] = [idf(max(texts, counts.get(t, 0)), counts.get(t, 0)) for t in terms]
    return parameters


def install(conn: Connection) -> bool:
    """Create the keyword index where the database has an engine for it, filling it from existing
    texts when it is new (databases from before it). Returns whether keyword search is available."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        if not _sqlite_has_fts5(conn):
            log.warning("this SQLite has no FTS5: keyword search is off, dense search still works")
            return False
        is_new = not _sqlite_has_table(conn)
        for statement in _SQLITE_DDL:
            conn.execute(text(statement))
        if is_new:
            conn.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"))
        return True
    if dialect == "postgresql":
        for statement in _POSTGRES_DDL:  # a new generated column is computed for existing rows
            conn.execute(text(statement))
        return True
    log.warning("no full-text engine for %s: keyword search is off, dense search still works", dialect)
    return False


def available(engine: Engine) -> bool:
    """Whether this database has the keyword index (the migrations create it where they can)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return _sqlite_has_table(conn)
        return conn.dialect.name == "postgresql"


def _sqlite_has_table(conn: Connection) -> bool:
    found = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": FTS_TABLE})
    return found.first() is not None


def _sqlite_has_fts5(conn: Connection) -> bool:
    options = {row[0] for row in conn.execute(text("PRAGMA compile_options"))}
    return "ENABLE_FTS5" in options


def query_terms(query: str) -> list[str]:
    """Words of the query, as the full-text engines tokenise them; repeats once."""
    return list(dict.fromkeys(t.lower() for t in re.findall(r"\w+", query)))[:MAX_TERMS]


def content_terms(query: str) -> list[str]:
    """The query words a person means (function words left out): what "every word matched" counts."""
    return [t for t in query_terms(query) if t not in _UNMARKED]


def covers(terms: Sequence[str], marked_words: Sequence[str]) -> bool:
    """Whether words the keyword engine marked in a text account for every term. The engine stems
    (fried, frying: fry), so a marked word counts for a term when they share a stem-length prefix."""

    def same(a: str, b: str) -> bool:
        n = max(3, min(len(a), len(b)) - 2)
        return a[:n] == b[:n]

    words = [w.lower() for w in marked_words]
    return bool(terms) and all(any(same(t, w) for w in words) for t in terms)


def match_expression(dialect: str, terms: Sequence[str]) -> str:
    """The engine's query for texts holding any of the terms (the "match" parameter of keyword_select)."""
    if dialect == "postgresql":
        return " | ".join(terms)
    return " OR ".join(f'"{t}"' for t in terms)  # \w+ terms cannot carry quotes or operators


def keyword_select(
    dialect: str, where: Sequence[ColumnElement[bool]], depth: int, *, narrowed: bool = True
) -> Select[Any] | None:
    """SELECT text_id, score of the best `depth` texts matching the "match" parameter (higher is
    better), restricted by `where` over window_texts, windows and videos. None where there is no engine.

    Not `narrowed` (no filter beyond live windows), the engine ranks alone first and only its best
    2 x depth matches are joined: joining every match costs as much as ranking them (22 of 48 ms at
    100k texts), and few of the best matches are retired."""
    if dialect == "sqlite":
        fts: ColumnClause[Any] = literal_column(FTS_TABLE)
        rank: ColumnElement[Any] = -func.bm25(fts)  # bm25() is lower-is-better
        matches = select(_fts.c.rowid.label("text_id"), rank.label("score")).select_from(_fts)
        matches = matches.where(fts.op("MATCH")(bindparam("match")))
    elif dialect == "postgresql":
        tsv: ColumnClause[Any] = literal_column("window_texts.tsv")
        tsquery = func.to_tsquery("english", bindparam("match"))
        # ts_rank_cd knows nothing of how rare a word is, so each word's own rank (1: divided by
        # 1 + log(length)) is weighed by its inverse document frequency (the "terms" and "idfs"
        # parameters, as BM25 would): a rare name outweighs a common word, as on SQLite.
        words = (
            func.unnest(bindparam("terms", type_=ARRAY(Text)), bindparam("idfs", type_=ARRAY(Float)))
            .table_valued("term", "idf")
            .render_derived(name="query_words")
        )
        weighed = func.ts_rank_cd(tsv, func.to_tsquery("english", words.c.term), 1).cast(Float) * words.c.idf
        rank = select(func.coalesce(func.sum(weighed), 0.0)).select_from(words).scalar_subquery()
        matches = select(WindowTextRecord.id.label("text_id"), rank.label("score")).where(tsv.op("@@")(tsquery))
    else:
        return None
    if not narrowed:
        matches = matches.order_by(rank.desc()).limit(2 * depth)
    found = matches.subquery("keyword_matches")
    return (
        select(found.c.text_id, found.c.score)
        .join(WindowTextRecord, WindowTextRecord.id == found.c.text_id)
        .join(WindowRecord, WindowTextRecord.window_id == WindowRecord.id)
        .join(VideoRecord, WindowRecord.video_id == VideoRecord.id)
        .where(*where)
        .order_by(found.c.score.desc(), found.c.text_id)
        .limit(depth)
    )


def document_count_select(dialect: str, limit: int | None = None) -> Select[Any] | None:
    """SELECT how many texts hold the word given as the "match" parameter (`match_expression` of one word), as the
    engine matches it (stemmed); with `limit`, no more than that (the engine stops walking the word's
    texts there)."""
    if dialect == "sqlite":
        fts: ColumnClause[Any] = literal_column(FTS_TABLE)
        matching = select(_fts.c.rowid).where(fts.op("MATCH")(bindparam("match")))
    elif dialect == "postgresql":
        tsv: ColumnClause[Any] = literal_column("window_texts.tsv")
        matching = select(WindowTextRecord.id).where(tsv.op("@@")(func.to_tsquery("english", bindparam("match"))))
    else:
        return None
    if limit is not None:
        matching = matching.limit(limit)
    return select(func.count()).select_from(matching.subquery("matching"))


def highlight_select(dialect: str, terms: Sequence[str], text_ids: Sequence[int]) -> Select[Any] | None:
    """PostgreSQL: SELECT text_id, text-with-marks for those of `text_ids` that contain a query term.
    (SQLite marks a page's texts apart from the library: `highlight_sqlite`.)"""
    if not terms or not text_ids or dialect != "postgresql":
        return None
    tsv: ColumnClause[Any] = literal_column("window_texts.tsv")
    tsquery = func.to_tsquery("english", bindparam("match", " | ".join(terms)))
    options = f"StartSel={MARK_START}, StopSel={MARK_END}, HighlightAll=true"
    marked = func.ts_headline("english", WindowTextRecord.text, tsquery, options)
    return select(WindowTextRecord.id.label("text_id"), marked.label("marked")).where(
        WindowTextRecord.id.in_([int(i) for i in text_ids]), tsv.op("@@")(tsquery)
    )


_page = threading.local()


def highlight_sqlite(terms: Sequence[str], texts: Mapping[int, str]) -> dict[int, str]:
    """Text-with-marks for those of `texts` (id: text) that contain a query term, marked by FTS5's own
    highlight() with the library index's tokenizer, over a small in-memory table of just these texts.

    Asking the library's FTS5 table instead walks the whole posting list of every query word even
    when only a page of texts is wanted: 3-4 ms a query at 100k texts, against well under 1 ms here."""
    shown = [t for t in terms if t not in _UNMARKED]
    if not shown or not texts:
        return {}
    conn: sqlite3.Connection | None = getattr(_page, "conn", None)
    if conn is None:  # one per thread: sqlite3 connections are not shared across threads
        conn = sqlite3.connect(":memory:")
        conn.execute(f"CREATE VIRTUAL TABLE page USING fts5(text, tokenize='{SQLITE_TOKENIZER}')")
        _page.conn = conn
    match = match_expression("sqlite", shown)
    with conn:
        conn.execute("DELETE FROM page")
        conn.executemany("INSERT INTO page(rowid, text) VALUES (?, ?)", texts.items())
        rows = conn.execute(
            "SELECT rowid, highlight(page, 0, ?, ?) FROM page WHERE page MATCH ?", (MARK_START, MARK_END, match)
        ).fetchall()
    return {int(text_id): marked for text_id, marked in rows}


def marks_from(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """Split highlighted text into the plain text and the [start, end) character spans of matches."""
    plain: list[str] = []
    spans: list[tuple[int, int]] = []
    length, opened = 0, -1
    for piece in re.split(f"([{MARK_START}{MARK_END}])", marked):
        if piece == MARK_START:
            opened = length
        elif piece == MARK_END:
            if opened >= 0 and length > opened:
                spans.append((opened, length))
            opened = -1
        else:
            plain.append(piece)
            length += len(piece)
    return "".join(plain), spans
