"""The Ray runner: the local pipeline's model work spread over a Ray cluster with Ray Data.

    signals (CPU actors)     probe, speech, on-screen text, frame labels, subtitles, thumbnails, and the captioner's
                             frames, taken by the same decoding pass and sent on in batches of windows (JPEG)
    captions (GPU actors)    the video language model over each clip batch (only with a captioner)
    embeddings (GPU actors)  sentence embeddings of every text

The driver (this process) decides what to index exactly as the local runner does and stores each
video's result through the same storage layer as soon as all of its parts arrive, so a cluster run
writes the same rows and vectors as a local one. Workers read the videos by the path the driver
found them at: on a multi-node cluster the library must be mounted at the same path everywhere.
Rows between stages are pickled Python objects in one binary column; Ray Data streams them with
backpressure, so a long video's frames never pile up."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelLoadError
from vidsearch.indexer import progress as index_progress
from vidsearch.indexer.caption_frames import CaptionBatch
from vidsearch.indexer.pipeline import Indexer, IndexReport, VideoJob, VideoResult, failure_reason
from vidsearch.indexer.work import Extracted, StageClock, VideoWork, WindowText
from vidsearch.models.base import ModelSpec
from vidsearch.models.loader import ModelSet
from vidsearch.storage.database import Database

log = logging.getLogger(__name__)

LOCAL = "local"  # `--ray` with no address: start a Ray instance on this machine


@dataclass
class _Signals:
    """Everything but captions and vectors, and how many caption batches follow."""

    key: int
    result: VideoResult
    caption_batches: int = 0


@dataclass
class _Clips:
    key: int
    batch: int
    frames: CaptionBatch  # still JPEG: decoded on the caption worker, so rows stay small


@dataclass
class _Captions:
    key: int
    batch: int
    texts: list[WindowText] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    spec: ModelSpec | None = None
    vectors: np.ndarray | None = None
    error: str | None = None
    model_load_error: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)


_Part = _Signals | _Clips | _Captions


def _pack(part: _Part) -> dict[str, bytes]:
    return {"part": pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)}


def _unpack(row: dict[str, Any]) -> _Part:
    part: _Part = pickle.loads(row["part"])
    return part


class _Stage:
    """A Ray actor holding the models one stage needs, loaded on its first row."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models = ModelSet(settings)
        self._load_error: str | None = None
        self._loaded = False

    def _load(self, *which: str) -> str | None:
        if not self._loaded:
            self._loaded = True
            try:
                for name in which:
                    getattr(self.models, name)
            except ModelLoadError as exc:
                self._load_error = str(exc)
        return self._load_error


class SignalStage(_Stage):
    def __call__(self, row: dict[str, Any]) -> Iterator[dict[str, bytes]]:
        key, job = pickle.loads(row["job"])
        clock = StageClock()
        work = VideoWork(self.settings, self.models, clock)
        signals = _Signals(key, VideoResult(job))
        # The captioner's frames are decoded here by its plan; its model (many GB) lives on the GPU stage.
        if (error := self._load("speech", "ocr", "labeler", "visual_embedder", "caption_frame_plan")) is not None:
            signals.result.model_load_error = error
            yield _pack(signals)
            return
        try:
            # The captioner's frames come from extract's one decoding pass; captions come back per
            # batch, and the captioner's spec is the GPU stage's to report.
            extracted = work.extract(job.path, captions=False)
            for batch, frames in enumerate(extracted.caption_batches(self.settings.caption_batch_size)):
                yield _pack(_Clips(key, batch, frames))
                signals.caption_batches = batch + 1
            extracted.caption_frames = None  # sent: not pickled again to the driver
            signals.result.extracted = extracted
        except Exception as exc:
            signals.result.error = failure_reason(job.path, exc)
        signals.result.stage_seconds = dict(clock.seconds)
        yield _pack(signals)


class CaptionStage(_Stage):
    def __call__(self, row: dict[str, Any]) -> Iterator[dict[str, bytes]]:
        part = _unpack(row)
        if not isinstance(part, _Clips):
            yield row
            return
        out = _Captions(part.key, part.batch)
        if (error := self._load("captioner")) is not None:
            out.model_load_error = error
            yield _pack(out)
            return
        clock = StageClock()
        work = VideoWork(self.settings, self.models, clock)
        try:
            captions, out.errors = work.caption_batch(part.frames)
            out.texts = [WindowText(i, "caption", text) for i, text in captions.items()]
            assert self.models.captioner is not None
            out.spec = self.models.captioner.spec
        except Exception as exc:
            out.error = failure_reason(part.frames.video_path, exc)
        out.stage_seconds = dict(clock.seconds)
        yield _pack(out)


class EmbedStage(_Stage):
    def __call__(self, row: dict[str, Any]) -> Iterator[dict[str, bytes]]:
        part = _unpack(row)
        if isinstance(part, _Signals):
            self._embed_signals(part)
        elif isinstance(part, _Captions):
            self._embed_captions(part)
        yield _pack(part)

    def _embed_signals(self, part: _Signals) -> None:
        result = part.result
        if result.model_load_error or result.error or result.extracted is None:
            return
        if (error := self._load("embedder")) is not None:
            result.model_load_error = error
            return
        clock = StageClock()
        result.vectors = VideoWork(self.settings, self.models, clock).embed([t.text for t in result.extracted.texts])
        result.embedder = self.models.embedder.spec
        _merge_seconds(result.stage_seconds, clock.seconds)

    def _embed_captions(self, part: _Captions) -> None:
        if part.model_load_error or part.error or not part.texts:
            return
        if (error := self._load("embedder")) is not None:
            part.model_load_error = error
            return
        clock = StageClock()
        part.vectors = VideoWork(self.settings, self.models, clock).embed([t.text for t in part.texts])
        _merge_seconds(part.stage_seconds, clock.seconds)


class RayIndexer(Indexer):
    """Indexes on a Ray cluster: `address` is a Ray address ("auto", "ray://head:10001") or "local"."""

    def __init__(
        self,
        settings: Settings,
        db: Database | None = None,
        models: ModelSet | None = None,
        *,
        retry_failed: bool = False,
        address: str = LOCAL,
    ) -> None:
        super().__init__(settings, db, models, retry_failed=retry_failed)
        self.address = address

    def _index_files(
        self,
        files: Sequence[Path],
        report: IndexReport,
        job: index_progress.IndexProgress,
        progress: Progress | None,
    ) -> None:
        jobs: list[VideoJob] = []
        local = VideoWork(self.settings, self.models, self.clock)
        for path in files:
            planned = self._plan(path, report)
            if planned is not None and planned.frame_vectors_of is not None:
                # Only its frames, for a new image-text model: a small job, done here.
                self._store(self._work(local, planned, progress), report)
                job.files_done += 1
            elif planned is not None:
                jobs.append(planned)
            else:
                job.files_done += 1
        index_progress.save(self.settings.data_dir, job)
        if not jobs:
            return
        ray = _connect(self.address)
        task = progress.add_task("videos (ray)", total=len(jobs)) if progress else None
        pending: dict[int, _Pending] = {}
        rows = self._dataset(ray, jobs).iter_rows()
        try:
            for row in rows:
                part = _unpack(row)
                entry = pending.setdefault(part.key, _Pending())
                entry.add(part)
                if not entry.complete:
                    continue
                del pending[part.key]
                self._store(entry.result(), report)
                job.files_done += 1
                job.current = str(jobs[part.key].path)
                index_progress.save(self.settings.data_dir, job)
                if progress and task is not None:
                    progress.advance(task)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
        for key in pending:  # a stage lost a part: say so rather than leave the video half done
            self._fail(jobs[key].state, jobs[key].digest, "the Ray workers lost part of this video", report)

    def _dataset(self, ray: Any, jobs: list[VideoJob]) -> Any:
        from ray.data import ActorPoolStrategy, DataContext

        DataContext.get_current().enable_progress_bars = False  # the driver shows its own
        resources = ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 1)), int(resources.get("GPU", 0))
        settings = self.settings
        model_workers = settings.ray_model_workers or max(1, gpus)
        # Without GPUs the model stages take a CPU each; the signal workers get what is left.
        model_cpus = 0 if gpus else (model_workers * (2 if settings.captioner != "none" else 1))
        signal_workers = settings.ray_signal_workers or max(1, cpus - model_cpus)
        items = [{"job": pickle.dumps((key, job))} for key, job in enumerate(jobs)]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.flat_map(
            SignalStage,
            fn_constructor_kwargs={"settings": settings},
            compute=ActorPoolStrategy(size=signal_workers),
            num_cpus=1,
        )
        gpu_or_cpu = (lambda share: {"num_gpus": share}) if gpus else (lambda share: {"num_cpus": 1})
        if settings.captioner != "none":
            ds = ds.flat_map(
                CaptionStage,
                fn_constructor_kwargs={"settings": settings},
                compute=ActorPoolStrategy(size=model_workers),
                **gpu_or_cpu(settings.ray_gpus_per_captioner),
            )
        return ds.flat_map(
            EmbedStage,
            fn_constructor_kwargs={"settings": settings},
            compute=ActorPoolStrategy(size=model_workers),
            **gpu_or_cpu(settings.ray_gpus_per_embedder),
        )


class _Pending:
    """The parts of one video that have arrived so far."""

    def __init__(self) -> None:
        self.signals: _Signals | None = None
        self.captions: list[_Captions] = []

    def add(self, part: _Part) -> None:
        if isinstance(part, _Signals):
            self.signals = part
        elif isinstance(part, _Captions):
            self.captions.append(part)

    @property
    def complete(self) -> bool:
        return self.signals is not None and len(self.captions) >= self.signals.caption_batches

    def result(self) -> VideoResult:
        """The video's result as the local runner would have made it: texts in one order, vectors aligned."""
        assert self.signals is not None
        result = self.signals.result
        for part in self.captions:
            _merge_seconds(result.stage_seconds, part.stage_seconds)
            result.model_load_error = result.model_load_error or part.model_load_error
            result.error = result.error or part.error
        extracted = result.extracted
        if result.error or result.model_load_error or extracted is None or result.vectors is None:
            return result
        vectors = [result.vectors]
        for part in sorted(self.captions, key=lambda p: p.batch):
            extracted.add_captions({t.window_index: t.text for t in part.texts}, part.errors, part.spec)
            if part.vectors is not None:
                vectors.append(part.vectors)
        stacked = np.concatenate(vectors) if len(vectors) > 1 else vectors[0]
        order = sorted(range(len(extracted.texts)), key=lambda i: _text_key(extracted, i))
        extracted.texts = [extracted.texts[i] for i in order]
        result.vectors = stacked[order]
        return result


def _text_key(extracted: Extracted, i: int) -> tuple[int, str]:
    text = extracted.texts[i]
    return text.window_index, text.kind


def _merge_seconds(into: dict[str, float], more: dict[str, float]) -> None:
    for stage, seconds in more.items():
        into[stage] = into.get(stage, 0.0) + seconds


def _connect(address: str) -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("the Ray runner needs Ray: pip install 'vidsearch[ray]'") from exc
    # Ray Data reports every execution at INFO (and its metrics at DEBUG); the driver's progress bar
    # and report say what matters.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    if not ray.is_initialized():
        if address == LOCAL:
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    return ray
