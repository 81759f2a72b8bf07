"""The SQL schema. Every text records the model that produced it; every vector records its embedder;
every index generation records the embedder, dimension and vector count it was built with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Text,
    false,
    select,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The kinds of text live in a module of their own (the CLI lists them without loading SQLAlchemy); they
# are named here too, beside the table that stores them.
from vidsearch.kinds import TEXT_KINDS as TEXT_KINDS
from vidsearch.kinds import TextKind as TextKind


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class VideoStatus:
    PENDING = "pending"  # known (its descriptions were imported) but not indexed yet
    INDEXING = "indexing"
    DONE = "done"
    FAILED = "failed"
    # Known only by a key (an archive id, a path on another machine): imported texts, no file here.
    EXTERNAL = "external"
    # Its file was not found by the last scan of its folder: out of search, nothing deleted, back
    # as it was when the file returns (or is found moved elsewhere).
    MISSING = "missing"
    # Taken out by `vidsearch remove`: out of search at once, deleted with the next index generation.
    REMOVED = "removed"


# Videos whose windows no search returns (their rows stay until removed for good).
OFFLINE_STATUSES = (VideoStatus.MISSING, VideoStatus.REMOVED)


# The `source` of every imported text: search keeps imported spans as given (they are moments already).
IMPORT_SOURCE = "import"


class ModelRecord(Base):
    """A model (with its revision and settings) that produced stored artifacts."""

    __tablename__ = "model_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    model_id: Mapped[str] = mapped_column(String(512))
    revision: Mapped[str] = mapped_column(String(256))
    dimension: Mapped[int | None] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VideoRecord(Base):
    __tablename__ = "videos"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(4096), unique=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    mtime: Mapped[float] = mapped_column(Float, default=0.0)
    duration: Mapped[float | None] = mapped_column(Float)
    start_time: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    probe: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # From the container's creation_time tag when the camera wrote one: the "recorded" date filter.
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16), default=VideoStatus.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    # Hash of the settings and models that produced this video's windows: a change means redo.
    pipeline_fingerprint: Mapped[str | None] = mapped_column(String(32))
    pipeline_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    indexed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    # The live windows; a re-indexed video's previous windows stay (retired) until a new index
    # generation that no longer needs them is published.
    windows: Mapped[list[WindowRecord]] = relationship(
        primaryjoin="and_(VideoRecord.id == WindowRecord.video_id, WindowRecord.retired.is_(False))",
        order_by="[WindowRecord.start, WindowRecord.idx]",
        viewonly=True,
    )

    # The hard cuts the indexer found (shot-aware windows), in time order; empty when none were looked for.
    shots: Mapped[list[ShotRecord]] = relationship(order_by="ShotRecord.idx", viewonly=True)

    @property
    def has_file(self) -> bool:
        """Whether the video is a file here (not only a key that imported texts name)."""
        return self.status != VideoStatus.EXTERNAL


class WindowRecord(Base):
    __tablename__ = "windows"
    __table_args__ = (
        Index("ix_windows_video_idx", "video_id", "idx"),
        # One live window per row of an import: importing the same file again updates, never duplicates.
        Index(
            "ix_windows_import_key",
            "import_source",
            "import_key",
            unique=True,
            sqlite_where=sql_text("retired = 0 AND import_key IS NOT NULL"),
            postgresql_where=sql_text("retired = false AND import_key IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    # Replaced by a re-index, still referenced by the index generation being served until the next one.
    retired: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    # Why a signal is missing for this window (e.g. the captioner ran out of GPU memory), if one is.
    error: Mapped[str | None] = mapped_column(Text)
    # Windows given whole by an import (user data: re-indexing the video never replaces them): the
    # import they came from (a file's resolved path, or the name given) and their key within it.
    import_source: Mapped[str | None] = mapped_column(String(1024))
    import_key: Mapped[str | None] = mapped_column(String(128))
    # An imported window that an indexer cut (a window of a catalogue `vidsearch export` wrote): exports
    # list it as the indexer's, as the catalogue did, and indexing the video here replaces it.
    cut_by_indexer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    video: Mapped[VideoRecord] = relationship()
    texts: Mapped[list[WindowTextRecord]] = relationship(back_populates="window", order_by="WindowTextRecord.id")

    @property
    def imported(self) -> bool:
        return self.import_key is not None


class ShotRecord(Base):
    """A shot of an indexed video: the frames between two hard cuts (the shot detector's settings are in
    its video's pipeline_settings). Replaced whenever the video's windows are."""

    __tablename__ = "shots"
    __table_args__ = (Index("ix_shots_video_idx", "video_id", "idx", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)


class SubtitleCueRecord(Base):
    """A subtitle cue of an indexed video as found in its text subtitle tracks and sidecar files: its own
    times, text (line breaks kept) and source ("stream:2", "talk.en.srt"). Windows hold the cues' texts
    for search; the subtitle exports write these. Replaced whenever the video's windows are."""

    __tablename__ = "subtitle_cues"
    __table_args__ = (Index("ix_subtitle_cues_video_idx", "video_id", "idx", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(512), default="")


class WindowTag(Base):
    """A label on a window (imported descriptions carry them): the tags filter matches these."""

    __tablename__ = "window_tags"
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class WindowTextRecord(Base):
    """What a window says in one modality: a caption, speech, on-screen text or subtitles."""

    __tablename__ = "window_texts"
    __table_args__ = (Index("ix_window_texts_window_kind", "window_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("model_records.id"))
    source: Mapped[str] = mapped_column(String(512), default="")  # e.g. "stream:2", "talk.en.srt"

    window: Mapped[WindowRecord] = relationship(back_populates="texts")
    model: Mapped[ModelRecord | None] = relationship()


class TextEmbedding(Base):
    """A text's vector under one embedder: the FAISS index is rebuilt from these rows."""

    __tablename__ = "text_embeddings"
    text_id: Mapped[int] = mapped_column(ForeignKey("window_texts.id", ondelete="CASCADE"), primary_key=True)
    embedder_id: Mapped[int] = mapped_column(ForeignKey("model_records.id"), primary_key=True, index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian, L2-normalised


class LibraryRoot(Base):
    """A folder (or file) given to the indexer: media is served only from inside one of these."""

    __tablename__ = "library_roots"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(4096), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WindowVector(Base):
    """A window's picture in an image-text model's space: the vectors of its distinct frames pooled
    (mean, L2-normalised). The visual vector index generation is built from these rows."""

    __tablename__ = "window_vectors"
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True)
    embedder_id: Mapped[int] = mapped_column(ForeignKey("model_records.id"), primary_key=True, index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian, L2-normalised
    # The frame nearest the pooled vector (seconds from the start): the picture that stands for the window.
    frame_time: Mapped[float] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer)  # distinct frames pooled


# The vector spaces a generation can index: what windows say (texts, sentence embeddings) and what
# they show (frames, an image-text model).
TEXT_SPACE = "text"
VISUAL_SPACE = "visual"


class IndexGeneration(Base):
    """One build of a vector index; the newest ready generation of each space is the one searched."""

    __tablename__ = "index_generations"
    id: Mapped[int] = mapped_column(primary_key=True)
    space: Mapped[str] = mapped_column(String(16), default=TEXT_SPACE, server_default=TEXT_SPACE)
    embedder_id: Mapped[int] = mapped_column(ForeignKey("model_records.id"))
    status: Mapped[str] = mapped_column(String(16), default="building")  # building | ready | failed
    index_type: Mapped[str] = mapped_column(String(64))
    dimension: Mapped[int] = mapped_column(Integer)
    vector_count: Mapped[int] = mapped_column(Integer, default=0)
    file_name: Mapped[str | None] = mapped_column(String(256))
    checksum: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    embedder: Mapped[ModelRecord] = relationship()


def searchable_windows() -> Select[Any]:
    """Ids of the windows a search may return: live, of a video that is not offline."""
    offline = select(VideoRecord.id).where(VideoRecord.status.in_(OFFLINE_STATUSES))
    return select(WindowRecord.id).where(WindowRecord.retired.is_(false()), WindowRecord.video_id.not_in(offline))
