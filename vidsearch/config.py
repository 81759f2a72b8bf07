"""Every setting and its default, in one place. Environment variables use the prefix VIDSEARCH_
(for example VIDSEARCH_DATA_DIR, VIDSEARCH_DATABASE_URL, VIDSEARCH_WINDOW_LENGTH)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".m2ts",
    ".wmv",
    ".flv",
    ".3gp",
    ".ogv",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDSEARCH_", extra="ignore")

    # Where the database (by default) and the vector index live.
    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("vidsearch")))
    # Any SQLAlchemy URL; empty means SQLite inside data_dir.
    database_url: str = ""

    # Windows: every video is cut into windows of this length, one starting every stride seconds.
    window_length: float = Field(default=10.0, gt=0)
    window_stride: float | None = Field(default=None, gt=0)  # empty: the window length (no overlap)
    # Shot-aware windows: hard cuts are found in the frames decoded anyway (PySceneDetect's
    # ContentDetector) and no window straddles one: a shot up to window_length is a window, a longer
    # one is split on the length/stride grid. Off: the fixed grid over the whole video, no shots.
    shot_windows: bool = True
    # The content score (mean change of hue, saturation and brightness between frames, 0-255) that
    # makes a cut, and the shortest shot (cuts closer together are merged).
    shot_threshold: float = Field(default=27.0, gt=0, le=255)
    shot_min_seconds: float = Field(default=1.0, ge=0)

    # Frame sampling for on-screen text.
    frame_decoder: Literal["auto", "decord", "pyav"] = "auto"
    ocr_fps: float = Field(default=1.0, gt=0)
    ocr_max_side: int = Field(default=960, ge=64)
    # Frames whose 32x32 grey thumbnails differ less than this (mean absolute, 0-255) from the last
    # frame read are not read again: static scenes cost one OCR call.
    ocr_dedup_threshold: float = Field(default=6.0, ge=0)
    ocr_min_score: float = Field(default=0.6, ge=0, le=1)
    # Text is detected on the frame scaled down to this side (recognition still reads the full frame):
    # at 480 px detection costs a third of RapidOCR's default (which scales the short side *up* to 736 px)
    # and half of 640 px, with the same texts found on the moving-text set (docs/benchmarks.md).
    ocr_detect_side: int = Field(default=480, ge=64)
    # A line detected where the last frame read had one keeps that reading unless its letters changed:
    # it is read again when, in any block of the line (about a character), this share of its stroke
    # pixels changed (signals.region_change). 0 reads every line of every frame read.
    ocr_reread_threshold: float = Field(default=0.2, ge=0, le=1)
    # PP-OCR's angle classifier turns lines found upside down; text burnt into video is upright.
    ocr_angle_classifier: bool = False
    # Where the last frame read showed no text, the detector first glances at the frame at this side
    # (under half the cost of a full search) and searches in full only if it sees text there; every
    # ocr_glance_every-th frame read is searched in full anyway (text too small to show at this size is
    # found within that many frames). 0 turns glancing off.
    ocr_glance_side: int = Field(default=320, ge=0)
    ocr_glance_every: int = Field(default=4, ge=1)
    # A JPEG of each window's middle frame for the web page's results (320 px, ~10-20 KB each).
    thumbnails: bool = True

    # Components, by registry name or dotted class path; "none" turns a signal off.
    embedder: str = "sentence-transformers"
    embedder_model: str = ""  # local path or HF id; empty: the packaged all-MiniLM-L6-v2
    embed_batch_size: int = Field(default=64, ge=1)
    # Short inputs (queries) on ONNX Runtime: "auto" does so on a CPU for plain mean-pooled models.
    embedder_runtime: Literal["auto", "torch", "onnx"] = "auto"
    # Queries on ONNX Runtime with 8-bit weights ("int8", ~2.5x faster) or exact ("fp32"). Stored texts
    # are always embedded exactly, so this changes no index (docs/evaluation.md has the quality cost).
    query_precision: Literal["fp32", "int8"] = "int8"
    speech: str = "faster-whisper"
    speech_model: str = ""  # local CTranslate2 folder or size/id; empty: the packaged tiny.en
    speech_language: str = "en"
    speech_compute_type: str = "int8"
    speech_beam_size: int = Field(default=1, ge=1)  # greedy decoding: tiny.en loses little and runs ~3x faster
    ocr: str = "rapidocr"
    # What the frames show, as readable labels (an ImageNet classifier; "none" turns it off): the frames
    # decoded for on-screen text are labelled, near-duplicates once (ocr_dedup_threshold), and each
    # window gets a text of kind "objects" with every label confident in one of its frames.
    visual_labels: str = "efficientnet-lite0"
    # A label (a class, or a group such as "cat" or "dog" whose classes' probabilities add up) counts
    # when the model gives it at least this probability; at most top_k labels a frame.
    visual_label_min_score: float = Field(default=0.3, gt=0, le=1)
    visual_label_top_k: int = Field(default=3, ge=1)
    captioner: str = "none"
    captioner_model: str = ""
    caption_fps: float = Field(default=1.0, gt=0)
    caption_max_side: int = Field(default=448, ge=64)
    caption_batch_size: int = Field(default=8, ge=1)  # windows per captioner call (halved on GPU out-of-memory)
    caption_max_frames: int = Field(default=8, ge=1)  # frames per window for transformers-native models
    caption_max_new_tokens: int = Field(default=256, ge=1)
    caption_temperature: float = Field(default=0.0, ge=0)  # 0: greedy, so re-indexing gives the same captions
    captioner_allow_cpu: bool = False  # GPU video models on the CPU only when asked
    # Frames and text queries in one space (vidsearch/models/image_text.py): "clip", "siglip", a dotted
    # path, or "none". No such model ships offline, so it is off by default. Not yet in
    # pipeline_settings(): indexing does not use it yet (it joins there when the pipeline stores frame
    # vectors, so that changing it re-indexes).
    visual_embedder: str = "none"
    visual_embedder_model: str = ""  # local folder or hub id; empty: the family's base model on the hub
    # "auto": both towers on ONNX Runtime on a CPU (exported once into data_dir/models/onnx), torch on a GPU.
    visual_embedder_runtime: Literal["auto", "torch", "onnx"] = "auto"
    # "int8": 8-bit weights on ONNX Runtime (faster, vectors slightly off the exact ones; recorded in the
    # model's spec, so it changes what indexing stores). Measured in docs/benchmarks.md.
    visual_embedder_precision: Literal["fp32", "int8"] = "fp32"
    visual_embed_batch_size: int = Field(default=8, ge=1)  # frames per model call

    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(default=0, ge=0)  # 0: one per core

    # The Ray runner (`vidsearch index --ray`): how the work is spread, never what it produces.
    ray_signal_workers: int = Field(default=0, ge=0)  # CPU actors decoding and reading; 0: the CPUs left over
    ray_model_workers: int = Field(default=0, ge=0)  # captioner and embedder actors each; 0: one per GPU
    ray_gpus_per_captioner: float = Field(default=1.0, gt=0, le=1)  # a fraction shares a GPU between actors
    ray_gpus_per_embedder: float = Field(default=0.25, gt=0, le=1)

    # Answers: the video language model answering questions ("auto": the captioner, when it can answer;
    # "extractive": never a model), and how much of each moment it sees.
    answerer: str = "auto"
    answer_max_frames: int = Field(default=16, ge=1)  # per moment: 4 Apollo clips
    answer_extract_sentences: int = Field(default=3, ge=1)

    # Search.
    # Texts fetched per query from each retriever: 100 scores as 200 did on the dev set (R@5 0.484 and
    # 0.484) for half the work of turning them into moments.
    search_candidates: int = Field(default=100, ge=1)
    # The vector index beyond 20k texts (exact search below): "auto" and "hnsw" build an HNSW graph,
    # "ivf" an inverted file (faster to build, and rebuilt from the last one's cells, but lower recall on
    # real text embeddings), "flat" keeps exact search however large. docs/benchmarks.md has the figures.
    vector_index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    hnsw_ef_search: int = Field(default=0, ge=0)  # HNSW search breadth; 0: the measured default
    ivf_nprobe: int = Field(default=0, ge=0)  # IVF cells a query scans; 0: the measured default
    query_cache_size: int = Field(default=4096, ge=0)  # query vectors kept per process (0: none)
    result_cache_size: int = Field(default=1024, ge=0)  # search answers kept per process (0: none)
    result_cache_seconds: float = Field(default=60.0, gt=0)
    # Hybrid retrieval (docs/evaluation.md has the variants measured on both dev sets): a text's score is
    # its cosine similarity c raised by keyword_weight times its full-text score relative to the query's
    # best keyword hit, times c itself (c x (1 + w x bm25/best)), times the weight of its kind (caption,
    # speech, ocr, subtitle, annotation; 1.0 when not listed). Scaling the keyword bonus by the cosine
    # lifts what is semantically close, and keeps scores on the cosine's absolute scale across queries.
    keyword_weight: float = Field(default=0.5, ge=0.0)
    # Query words found in more than this share of all texts are left out of the keyword query: they
    # carry almost no BM25 weight, and an OR over them makes the engine rank most of the library.
    keyword_max_df: float = Field(default=0.05, gt=0.0, le=1.0)
    # ...but a word in at most this many texts always takes part, however small the library.
    keyword_always_kept: int = Field(default=1000, ge=1)
    # The engine scores every text that holds a query word (FTS5: about 1.7 ms per 1,000 such texts on
    # one core), so the words are taken rarest first while the texts they match add up to at most this
    # many; the rarest words carry most of the BM25 weight, and the dense search covers the rest (dev
    # set R@5: 0.481 at 1,000, 0.484 at 2,000, 0.482 without a bound).
    keyword_max_postings: int = Field(default=1000, ge=1)
    kind_weights: dict[str, float] = Field(default_factory=dict)
    # Matches on the picture (an image-text model's frame vectors), put on the text scale by each space's
    # background (search/visual.py), times this.
    visual_weight: float = Field(default=1.0, ge=0.0)
    # Moments: windows overlapping a better one by at least this IoU are the same moment seen again;
    # they shape its span (the consensus of their boundaries) and add support times their mean score.
    moment_overlap_iou: float = Field(default=0.5, gt=0.0, le=1.0)
    moment_support: float = Field(default=0.1, ge=0.0)
    # Windows the indexer cut that touch a moment and score at least this share of it extend it.
    moment_join_ratio: float = Field(default=0.85, gt=0.0, le=1.0)
    # Video context: a moment's score blends its own (weight 1 - w) with the query's similarity to the
    # mean text vector of the part of its video around it (weight w; parts of this many seconds, fixed
    # when an index generation is built). The stretch of video around a moment being about the query is
    # evidence that it is the moment meant. Measured on both dev sets: docs/evaluation.md ("Video
    # context"). 0 turns it off.
    video_context_weight: float = Field(default=0.4, ge=0.0, le=1.0)
    video_context_seconds: float = Field(default=600.0, gt=0.0)
    # Moments scoring below this are not results: a query with nothing this close answers "no results"
    # instead of a page of noise. The score's scale and how this default was measured on both dev sets
    # and on nonsense queries: docs/evaluation.md ("Scores and the minimum relevance"). 0 keeps everything.
    min_relevance: float = Field(default=0.40, ge=0.0)
    # An optional cross-encoder re-ranks the best moments: registry name or dotted path, and its model.
    reranker: str | None = None
    reranker_model: str = ""
    rerank_depth: int = Field(default=30, ge=1, le=200)

    # Exports (vidsearch export). Chapters: a new chapter starts where consecutive windows' texts change
    # subject (the cosine of their mean text vectors falls below this), and is at least this long (a
    # shorter one joins the chapter before it). A chapter's title is at most this many characters.
    chapter_topic_threshold: float = Field(default=0.35, ge=-1.0, le=1.0)
    chapter_min_seconds: float = Field(default=20.0, ge=0.0)
    chapter_title_chars: int = Field(default=60, ge=8, le=500)
    # Each video gets a description (kind `description`, on its first window) when it is indexed or
    # imported: extractive, sentences quoted from its texts with their times (export/description.py).
    video_descriptions: bool = True

    # API.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    dev: bool = False  # allow listening beyond loopback with no API key (a development run only)
    api_workers: int = Field(default=1, ge=1)  # `vidsearch serve` processes; the rate limit counts per process
    cors_origins: list[str] = Field(default_factory=list)  # e.g. ["https://archive.example.org"]; none by default
    rate_limit: str = "120/minute"  # per client address, on every route but /healthz
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_image_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # a picture to search by (POST /search/image)
    # Folders the API and the web page may register as library folders (POST /folders): a folder must lie
    # inside one of these once resolved. Empty: no folder can be added over HTTP.
    library_allowed_roots: list[Path] = Field(default_factory=list)

    # Watched folders (`vidsearch watch`, `vidsearch serve --watch`). A file is indexed once its size and
    # modification time have held still this long; files ready together are indexed as one run once the
    # folders have been quiet this long, or once a batch has waited watch_batch_max_seconds.
    watch_settle_seconds: float = Field(default=2.0, gt=0)
    watch_batch_max_seconds: float = Field(default=30.0, gt=0)
    # Poll listings instead of inotify: network mounts (NFS, SMB) never tell inotify of other machines'
    # writes. Each poll lists every watched folder.
    watch_polling: bool = False
    watch_poll_seconds: float = Field(default=5.0, gt=0)

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _check_windows(self) -> Settings:
        if self.window_stride is not None and self.window_stride > self.window_length:
            raise ValueError("window_stride must not exceed window_length (it would leave gaps)")
        return self

    @property
    def stride(self) -> float:
        return self.window_stride or self.window_length

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'vidsearch.db'}"

    @property
    def vector_dir(self) -> Path:
        return self.data_dir / "vectors"

    @property
    def visual_vector_dir(self) -> Path:
        """The visual space's index generations (frame vectors under the image-text model)."""
        return self.data_dir / "vectors-visual"

    def visual_settings(self) -> dict[str, Any] | None:
        """What decides a video's frame vectors; None when no image-text model is configured. Kept apart
        from the pipeline settings: switching the model re-embeds frames without redoing speech or OCR."""
        if self.visual_embedder == "none":
            return None
        return {
            "visual_embedder": self.visual_embedder,
            "visual_embedder_model": self.visual_embedder_model,
            "visual_embedder_precision": self.visual_embedder_precision,
            "ocr_fps": self.ocr_fps,
            "ocr_dedup_threshold": self.ocr_dedup_threshold,
        }

    @property
    def thumbnail_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    def as_environment(self) -> dict[str, str]:
        """These settings as VIDSEARCH_ variables, for processes that read their settings from the
        environment (server workers)."""
        prefix = self.model_config.get("env_prefix", "")
        out: dict[str, str] = {}
        for name, value in self.model_dump(mode="json").items():
            if value is None:
                continue
            out[f"{prefix}{name}".upper()] = value if isinstance(value, str) else json.dumps(value)
        return out

    def pipeline_settings(self) -> dict[str, Any]:
        """The settings that change what indexing produces (not where or how fast)."""
        return {
            "window_length": self.window_length,
            "window_stride": self.stride,
            "shot_windows": self.shot_windows,
            # The detector's settings matter only when it runs.
            "shot_threshold": self.shot_threshold if self.shot_windows else None,
            "shot_min_seconds": self.shot_min_seconds if self.shot_windows else None,
            "ocr_fps": self.ocr_fps,
            "ocr_max_side": self.ocr_max_side,
            "ocr_dedup_threshold": self.ocr_dedup_threshold,
            "ocr_min_score": self.ocr_min_score,
            "ocr_detect_side": self.ocr_detect_side,
            "ocr_reread_threshold": self.ocr_reread_threshold,
            "ocr_angle_classifier": self.ocr_angle_classifier,
            "ocr_glance_side": self.ocr_glance_side,
            "ocr_glance_every": self.ocr_glance_every,
            "embedder": self.embedder,
            "embedder_model": self.embedder_model,
            "speech": self.speech,
            "speech_model": self.speech_model,
            "speech_language": self.speech_language,
            "speech_beam_size": self.speech_beam_size,
            "ocr": self.ocr,
            "visual_labels": self.visual_labels,
            "visual_label_min_score": self.visual_label_min_score,
            "visual_label_top_k": self.visual_label_top_k,
            "captioner": self.captioner,
            "captioner_model": self.captioner_model,
            "caption_fps": self.caption_fps,
            "caption_max_side": self.caption_max_side,
            "caption_max_frames": self.caption_max_frames,
            "caption_max_new_tokens": self.caption_max_new_tokens,
            "caption_temperature": self.caption_temperature,
        }


def fingerprint(data: dict[str, Any]) -> str:
    """A stable short hash of settings, used to key units of work and artifacts."""
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
