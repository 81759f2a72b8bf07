"""The model work on one video, with no database: probe → windows → signals (speech ‖ frames → on-screen
text and what the frames show, subtitles, captions) → embeddings. The local runner calls it in process;
the Ray runner calls the same methods on its workers, so both produce the same texts and vectors."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import Progress, TaskID

from vidsearch.config import Settings
from vidsearch.errors import MediaError, ModelError
from vidsearch.indexer import signals
from vidsearch.media import subtitles
from vidsearch.media.frames import SampledFrame, iter_window_frames, open_frames, sample_grid
from vidsearch.media.probe import MediaInfo, probe
from vidsearch.media.windows import Window, plan_windows
from vidsearch.models.base import ModelSpec, SpokenWord, WindowClip
from vidsearch.models.loader import ModelSet
from vidsearch.storage.schema import TextKind
from vidsearch.storage.thumbnails import THUMBNAIL_SIDE, encode_thumbnail

log = logging.getLogger(__name__)

# Frames decoded for the labeler alone (on-screen text off) need no more than this: it looks at 224 px.
LABEL_FRAME_SIDE = 448


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

    def add(self, other: dict[str, float]) -> None:
        with self._lock:
            for stage, seconds in other.items():
                self.seconds[stage] += seconds


@dataclass
class WindowText:
    window_index: int
    kind: str
    text: str
    source: str = ""


@dataclass
class Extracted:
    """Everything one video says, per window, before embedding."""

    info: MediaInfo
    windows: list[Window]
    texts: list[WindowText]
    window_errors: dict[int, str]
    thumbnails: dict[int, bytes]  # window index -> JPEG
    # Which model wrote each kind of text (kinds read from the file itself have none).
    specs: dict[str, ModelSpec] = field(default_factory=dict)
    ocr_calls: int = 0
    label_calls: int = 0  # frames the labeler looked at (near-duplicates are not looked at again)
    # Each window's pooled frame vector under the image-text model, and that model (None: none configured).
    frame_vectors: dict[int, signals.PooledVector] = field(default_factory=dict)
    visual_spec: ModelSpec | None = None

    def add_captions(self, captions: dict[int, str], errors: dict[int, str], spec: ModelSpec | None) -> None:
        self.texts += [WindowText(i, TextKind.CAPTION, text) for i, text in captions.items()]
        self.window_errors.update(errors)
        if spec is not None:
            self.specs[TextKind.CAPTION] = spec

    def sort_texts(self) -> None:
        """One order for every runner: the order texts are embedded and stored in."""
        self.texts.sort(key=lambda t: (t.window_index, t.kind))


class VideoWork:
    def __init__(self, settings: Settings, models: ModelSet, clock: StageClock | None = None) -> None:
        self.settings = settings
        self.models = models
        self.clock = clock or StageClock()

    def extract(self, path: Path, *, captions: bool = True, progress: Progress | None = None) -> Extracted:
        """The texts of every window. With captions=False the captioner is left to the caller
        (the Ray runner captions on GPU workers from `caption_clips`)."""
        with self.clock("probe"):
            info = probe(path)
            windows = plan_windows(info.duration, self.settings.window_length, self.settings.stride)
        models = self.models
        speech = models.speech if info.has_audio else None
        # The audio and the picture are independent: transcribe while frames are decoded and read.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="speech") as pool:
            words_future = pool.submit(self._transcribe, path) if speech is not None else None
            seen = self._frame_signals(path, info, windows, progress)
            caption_texts: dict[int, str] = {}
            window_errors: dict[int, str] = {}
            if captions and models.captioner is not None:
                for clips in self.caption_clips(path, info, windows):
                    batch_captions, batch_errors = self.caption(clips)
                    caption_texts.update(batch_captions)
                    window_errors.update(batch_errors)
            thumbnails = self._thumbnails(path, info, windows)
            words = words_future.result() if words_future is not None else []
        with self.clock("subtitles"):
            cues = subtitles.read_all(path, info)
        texts: list[WindowText] = []
        specs: dict[str, ModelSpec] = {}
        if speech is not None:
            specs[TextKind.SPEECH] = speech.spec
            texts += [
                WindowText(i, TextKind.SPEECH, text, speech.spec.model_id)
                for i, text in signals.words_by_window(words, windows).items()
            ]
        if models.ocr is not None:
            specs[TextKind.OCR] = models.ocr.spec
        texts += [WindowText(i, TextKind.OCR, text) for i, text in seen.screen.items()]
        if models.labeler is not None:
            specs[TextKind.OBJECTS] = models.labeler.spec
        texts += [WindowText(i, TextKind.OBJECTS, text) for i, text in seen.objects.items()]
        texts += [
            WindowText(i, TextKind.SUBTITLE, text, source)
            for i, (text, source) in signals.cues_by_window(cues, windows).items()
        ]
        extracted = Extracted(
            info, windows, texts, window_errors, thumbnails, specs, seen.ocr_calls, seen.label_calls, seen.vectors
        )
        if models.visual_embedder is not None:
            extracted.visual_spec = models.visual_embedder.spec
        captioner = models.captioner if captions else None
        extracted.add_captions(caption_texts, {}, captioner.spec if captioner is not None else None)
        extracted.sort_texts()
        return extracted

    def caption_clips(self, path: Path, info: MediaInfo, windows: list[Window]) -> Iterator[list[WindowClip]]:
        """The captioner's frames, `caption_batch_size` windows at a time, decoded as they are needed."""
        captioner = self.models.captioner
        if captioner is None or not windows:
            return
        source = open_frames(path, info, self.settings.caption_max_side, self.settings.frame_decoder)
        frames = _timed(self.clock, "decode", source.iter_frames(sample_grid(info.duration, captioner.sample_fps)))
        batch: list[WindowClip] = []
        for window, window_frames in iter_window_frames(frames, windows):
            batch.append(WindowClip(path, window, window_frames))
            if len(batch) == self.settings.caption_batch_size or window is windows[-1]:
                yield batch
                batch = []
        if batch:
            yield batch

    def caption(self, clips: Sequence[WindowClip]) -> tuple[dict[int, str], dict[int, str]]:
        """(caption per window index, error per window index that could not be captioned)."""
        captioner = self.models.captioner
        assert captioner is not None
        with self.clock("caption"):
            results = captioner.caption(list(clips))
        if len(results) != len(clips):
            raise ModelError(
                f"captioner {captioner.spec.model_id} returned {len(results)} captions for {len(clips)} windows"
            )
        captions: dict[int, str] = {}
        errors: dict[int, str] = {}
        for clip, result in zip(clips, results, strict=True):
            if result.error:
                errors[clip.window.index] = f"caption: {result.error}"
            elif result.text.strip():
                captions[clip.window.index] = result.text.strip()
        return captions, errors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self.clock("embed"):
            return self.models.embedder.embed(texts)

    def frame_vectors(self, path: Path, spans: Sequence[tuple[float, float]]) -> dict[int, signals.PooledVector]:
        """Only the frame vectors of windows that already stand (a new image-text model): by position."""
        with self.clock("probe"):
            info = probe(path)
        windows = [Window(i, start, end) for i, (start, end) in enumerate(spans)]
        return self._frame_signals(path, info, windows, None, only_visual=True).vectors

    # --- signals ------------------------------------------------------------------------------
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

    def _frame_signals(
        self,
        path: Path,
        info: MediaInfo,
        windows: list[Window],
        progress: Progress | None,
        *,
        only_visual: bool = False,
    ) -> FrameSignals:
        """On-screen text, what the frames show (labels) and the windows' frame vectors, from one pass over
        the frames sampled at `ocr_fps`; no decoding when every such signal is off."""
        visual = self.models.visual_embedder
        reader = None if only_visual else self.models.ocr
        labeler = None if only_visual else self.models.labeler
        if reader is None and labeler is None and visual is None:
            return FrameSignals()
        task: TaskID | None = progress.add_task(f"  windows · {path.name}", total=len(windows)) if progress else None
        threshold = self.settings.ocr_dedup_threshold
        screen = signals.ScreenTextReader(reader, threshold) if reader is not None else None
        shows = signals.FrameLabelReader(labeler, threshold) if labeler is not None else None
        pictures = (
            signals.FrameVectorReader(visual, threshold, self.settings.visual_embed_batch_size)
            if visual is not None
            else None
        )
        texts: list[signals.FrameText] = []
        side = self.settings.ocr_max_side if reader is not None else min(self.settings.ocr_max_side, LABEL_FRAME_SIDE)
        source = open_frames(path, info, side, self.settings.frame_decoder)
        frames = _timed(self.clock, "decode", source.iter_frames(sample_grid(info.duration, self.settings.ocr_fps)))
        for frame in frames:
            thumb = signals.thumbnail(frame.image)  # one near-duplicate test picture for every reader
            if screen is not None:
                with self.clock("ocr"):
                    texts.append(screen.read(frame, thumb))
            if shows is not None:
                with self.clock("labels"):
                    shows.add(frame, thumb)
            if pictures is not None:
                with self.clock("visual"):
                    pictures.add(frame, thumb)
            if progress and task is not None:
                progress.update(task, completed=sum(1 for w in windows if w.end <= frame.time))
        labelled: list[signals.FrameLabels] = []
        if shows is not None:
            with self.clock("labels"):
                labelled = shows.finish()
        vectors: dict[int, signals.PooledVector] = {}
        if pictures is not None:
            with self.clock("visual"):
                vectors = pictures.finish(windows)
        if progress and task is not None:
            progress.remove_task(task)
        return FrameSignals(
            signals.screen_text_by_window(texts, windows),
            signals.labels_by_window(labelled, windows),
            vectors,
            screen.calls if screen is not None else 0,
            shows.calls if shows is not None else 0,
        )


@dataclass
class FrameSignals:
    """What one pass over a video's frames found, per window index."""

    screen: dict[int, str] = field(default_factory=dict)
    objects: dict[int, str] = field(default_factory=dict)
    vectors: dict[int, signals.PooledVector] = field(default_factory=dict)
    ocr_calls: int = 0
    label_calls: int = 0


def _timed(clock: StageClock, stage: str, frames: Iterator[SampledFrame]) -> Iterator[SampledFrame]:
    """Charge the time spent producing each frame to `stage`, not to the consumer."""
    while True:
        with clock(stage):
            frame = next(frames, None)
        if frame is None:
            return
        yield frame
