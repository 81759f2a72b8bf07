"""The model work on one video, with no database: probe → windows → signals (speech ‖ frames → on-screen
text and what the frames show, subtitles, captions) → embeddings. The local runner calls it in process;
the Ray runner calls the same methods on its workers, so both produce the same texts and vectors."""

from __future__ import annotations

import bisect
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
from rich.progress import Progress, TaskID

from vidsearch.config import Settings
from vidsearch.errors import MediaError, ModelError
from vidsearch.indexer import signals
from vidsearch.indexer.caption_frames import CaptionBatch, CaptionFrames
from vidsearch.media import subtitles
from vidsearch.media.frames import SampledFrame, Sampling, open_frames, sample_grid
from vidsearch.media.probe import MediaInfo, probe
from vidsearch.media.shots import Shot, ShotDetector
from vidsearch.media.windows import Window, plan_shot_windows, plan_windows
from vidsearch.models.base import CaptionFramePlan, ModelSpec, SpokenWord, WindowClip
from vidsearch.models.loader import ModelSet
from vidsearch.storage.schema import TextKind
from vidsearch.storage.thumbnails import THUMBNAIL_SIDE, encode_thumbnail

log = logging.getLogger(__name__)

_Item = TypeVar("_Item")
_CAPTIONS = 1  # the captioner's sampling in the frame pass (the readers' and thumbnails' is 0)

# Frames decoded for the labeler alone (on-screen text off) need no more than this: it looks at 224 px.
LABEL_FRAME_SIDE = 448


class StageClock:
    """Seconds spent per stage. Stages that run in parallel threads each count their own time: wall
    seconds in `seconds`, and in `cpu_seconds` the CPU time of the thread that ran the stage (its share
    of a core: a stage whose cpu is well below its wall time waited for a core or for input). Work a
    stage hands to threads of its own (a decoder's or a model's thread pool) is not in its cpu figure."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[stage] += time.perf_counter() - start
                self.cpu_seconds[stage] += time.thread_time() - cpu

    def add(self, other: dict[str, float], cpu: dict[str, float] | None = None) -> None:
        with self._lock:
            for stage, seconds in other.items():
                self.seconds[stage] += seconds
            for stage, seconds in (cpu or {}).items():
                self.cpu_seconds[stage] += seconds


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
    ocr_lines_read: int = 0  # text lines recognised
    ocr_lines_kept: int = 0  # text lines found again unchanged, their last reading kept
    ocr_glanced: int = 0  # frames a glance at low resolution found no text in (not searched in full)
    shots: list[Shot] = field(default_factory=list)  # hard cuts found (shot-aware windows), else none
    # The subtitle cues as found (tracks, then sidecars): the windows' subtitle texts come from these.
    cues: list[subtitles.Cue] = field(default_factory=list)
    # The captioner's frames from the decoding pass, left for the caller to caption (extract with
    # captions=False and a captioner configured: the Ray runner); None otherwise. Never stored.
    caption_frames: CaptionFrames | None = None

    def caption_batches(self, batch_size: int) -> Iterator[CaptionBatch]:
        """The windows' captioner input, `batch_size` windows a batch (none without caption frames)."""
        if self.caption_frames is not None:
            yield from self.caption_frames.batches(self.windows, batch_size)

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
        """The texts of every window. With captions=False the captioner is left to the caller: the
        captioner's frames come back in `Extracted.caption_frames` (the Ray runner captions them on GPU
        workers, `Extracted.caption_batches`)."""
        with self.clock("probe"):
            info = probe(path)
        # Shot-aware windows are planned once the frames have shown where the cuts are.
        grid = None if self.settings.shot_windows else self._grid_windows(info)
        models = self.models
        speech = models.speech if info.has_audio else None
        # Only a pass that captions needs the model; the frames it wants are planned without it (the Ray
        # runner's CPU workers decode them for GPU workers that hold the model).
        captioner = models.captioner if captions else None
        caption_plan = models.caption_frame_plan
        # The audio and the picture are independent: transcribe while frames are decoded and read.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="speech") as pool:
            words_future = pool.submit(self._transcribe, path) if speech is not None else None
            seen = self._frame_signals(
                path,
                info,
                grid,
                progress,
                thumbnails=self.settings.thumbnails,
                caption_plan=caption_plan,
            )
            windows = seen.windows
            caption_texts: dict[int, str] = {}
            window_errors: dict[int, str] = {}
            if captions and seen.caption_frames is not None:
                for batch in seen.caption_frames.batches(windows, self.settings.caption_batch_size):
                    batch_captions, batch_errors = self.caption_batch(batch)
                    caption_texts.update(batch_captions)
                    window_errors.update(batch_errors)
                seen.caption_frames = None  # captioned: let the frames go before embedding
            thumbnails = seen.thumbnails
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
        extracted.ocr_lines_read, extracted.ocr_lines_kept = seen.ocr_lines_read, seen.ocr_lines_kept
        extracted.ocr_glanced = seen.ocr_glanced
        extracted.shots = seen.shots
        extracted.cues = cues
        extracted.caption_frames = seen.caption_frames
        if models.visual_embedder is not None:
            extracted.visual_spec = models.visual_embedder.spec
        extracted.add_captions(caption_texts, {}, captioner.spec if captioner is not None else None)
        extracted.sort_texts()
        return extracted

    def _grid_windows(self, info: MediaInfo) -> list[Window]:
        return plan_windows(info.duration, self.settings.window_length, self.settings.stride)

    def caption_batch(self, batch: CaptionBatch) -> tuple[dict[int, str], dict[int, str]]:
        """`caption` over a batch of windows whose frames are still compact (decoding them is clocked
        as "caption_frames", apart from the model's "caption")."""
        with self.clock("caption_frames"):
            clips = batch.clips()
        return self.caption(clips)

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

    # --- signals ---------------------------------------------------------------------------------
    def _transcribe(self, path: Path) -> list[SpokenWord]:
        speech = self.models.speech
        assert speech is not None
        with self.clock("speech"):
            return speech.transcribe(path)

    def _frame_signals(
        self,
        path: Path,
        info: MediaInfo,
        windows: list[Window] | None,
        progress: Progress | None,
        *,
        only_visual: bool = False,
        thumbnails: bool = False,
        caption_plan: CaptionFramePlan | None = None,
    ) -> FrameSignals:
        """On-screen text, what the frames show (labels), the windows' frame vectors and thumbnails, from
        one decoding pass: frames sampled at `ocr_fps`, plus each window's middle frame for its thumbnail,
        decoded once at the size the most demanding reader needs. Each reader runs in a thread of its own
        fed from that pass, so decoding, text, labels and vectors (and speech, in the caller's thread)
        keep the cores busy together. No decoding when every such signal is off.

        `caption_plan` (a captioner is configured): the same pass also takes the frames on the captioner's
        grid (its `sample_fps`, at most `max_side` pixels), decoding every frame so that each is the frame on screen
        at its time, as a pass of the captioner's own took it (reference frames only would land a few
        frames early); each decoded frame is converted once per size asked of it. They are kept as JPEG
        (caption_frames.py says why) until the windows exist, and come back in `caption_frames`.

        `windows` None: shot-aware windows. The same pass shows every decoded frame to the shot detector,
        the windows are planned from the shots it found, and each window's thumbnail is the sampled frame
        nearest its middle inside it (so inside its own shot)."""
        visual = self.models.visual_embedder
        reader = None if only_visual else self.models.ocr
        labeler = None if only_visual else self.models.labeler
        detector = (
            ShotDetector(info.fps, threshold=self.settings.shot_threshold, min_seconds=self.settings.shot_min_seconds)
            if windows is None
            else None
        )
        thumbnails = thumbnails and not only_visual and (windows is None or bool(windows))
        reading = reader is not None or labeler is not None or visual is not None
        captioning = caption_plan is not None and not only_visual and (windows is None or bool(windows))
        if not reading and not thumbnails and detector is None and not captioning:
            return FrameSignals(windows=windows or [])
        threshold = self.settings.ocr_dedup_threshold
        screen = (
            signals.ScreenTextReader(
                reader,
                threshold,
                self.settings.ocr_reread_threshold,
                self.clock,
                self.settings.ocr_glance_every if self.settings.ocr_glance_side else 1,
            )
            if reader is not None
            else None
        )
        shows = signals.FrameLabelReader(labeler, threshold) if labeler is not None else None
        pictures = (
            signals.FrameVectorReader(visual, threshold, self.settings.visual_embed_batch_size)
            if visual is not None
            else None
        )
        texts: list[signals.FrameText] = []
        pictures_by_window: dict[int, bytes] = {}
        readers: list[_FrameConsumer] = []
        if screen is not None:
            readers.append(_FrameConsumer("ocr", self.clock, lambda f, t: texts.append(screen.read(f, t))))
        if shows is not None:
            readers.append(_FrameConsumer("labels", self.clock, shows.add))
        if pictures is not None:
            readers.append(_FrameConsumer("visual", self.clock, pictures.add))

        grid = sample_grid(info.duration, self.settings.ocr_fps) if reading or detector is not None else []
        middles: dict[float, list[int]] = defaultdict(list)
        for window in windows if thumbnails and windows is not None else []:
            middles[(window.start + window.end) / 2].append(window.index)
        on_grid = set(grid)
        times = sorted(on_grid | set(middles))
        # Shot-aware: every sampled frame's thumbnail is kept (~15 KB a second) until the windows are planned.
        sampled_pictures: list[tuple[float, bytes]] = []
        if reader is not None:
            side = self.settings.ocr_max_side
        elif reading:
            side = min(self.settings.ocr_max_side, LABEL_FRAME_SIDE)
        else:
            side = THUMBNAIL_SIDE
        samplings = [Sampling(times, side)]
        caption_frames: CaptionFrames | None = None
        if captioning:
            assert caption_plan is not None
            caption_frames = CaptionFrames(path)
            samplings.append(Sampling(sample_grid(info.duration, caption_plan.sample_fps), caption_plan.max_side))
        task: TaskID | None = progress.add_task(f"  frames · {path.name}", total=info.duration) if progress else None
        # Frames a second apart: reference frames only (every frame for a captioner's), decoded in this
        # thread (the readers and speech have the other cores). A decoder that sizes frames as it decodes
        # (decord, asked for by name) decodes at the larger size and scales down for the smaller.
        source = open_frames(
            path,
            info,
            max(s.max_side for s in samplings),
            self.settings.frame_decoder,
            sparse=True,
            threads=False,
            exact=captioning,
        )
        asked_times = iter(times)
        try:
            for consumer in readers:
                consumer.start()
            watch = None
            if detector is not None:
                see = detector.see_frame

                def watch(time: float, frame: av.VideoFrame | np.ndarray) -> None:
                    with self.clock("shots"):
                        see(time, frame)

            # Decoding for thumbnails alone is charged to them, as when they had a pass of their own. The
            # shot detector's time is spent inside decoding, and also clocked apart as "shots".
            stage = "thumbnails" if thumbnails and not reading and not captioning else "decode"
            frames = _timed(self.clock, stage, source.iter_samplings(samplings, watch))
            for which, frame in frames:
                if which == _CAPTIONS:
                    assert caption_frames is not None
                    with self.clock("caption_frames"):
                        caption_frames.add(frame)
                    continue
                asked = next(asked_times)
                if asked in middles:
                    with self.clock("thumbnails"):
                        picture = encode_thumbnail(frame.image)
                    pictures_by_window.update(dict.fromkeys(middles[asked], picture))
                elif thumbnails and windows is None:
                    with self.clock("thumbnails"):
                        sampled_pictures.append((frame.time, encode_thumbnail(frame.image)))
                if asked in on_grid and readers:
                    thumb = signals.thumbnail(frame.image)  # one near-duplicate test picture for every reader
                    for consumer in readers:
                        consumer.put(frame, thumb)
                if progress and task is not None:
                    progress.update(task, completed=frame.time)
        except MediaError as exc:
            if reading or captioning:
                raise
            log.info("%s: no thumbnails or shots: %s", path, exc.reason)  # pictures and shots are niceties
            pictures_by_window, sampled_pictures, detector = {}, [], None
        finally:
            for consumer in readers:
                consumer.finish()
            if progress and task is not None:
                progress.remove_task(task)
        for consumer in readers:
            consumer.raise_error()
        shots: list[Shot] = []
        if windows is None and detector is None:  # the frames could not be decoded: no shots were seen
            windows = self._grid_windows(info)
        elif windows is None:
            assert detector is not None
            shots = detector.shots(info.duration)
            windows = plan_shot_windows(
                [(shot.start, shot.end) for shot in shots], self.settings.window_length, self.settings.stride
            )
            pictures_by_window = _pictures_inside(windows, sampled_pictures)
        labelled: list[signals.FrameLabels] = []
        if shows is not None:
            with self.clock("labels"):
                labelled = shows.finish()
        vectors: dict[int, signals.PooledVector] = {}
        if pictures is not None:
            with self.clock("visual"):
                vectors = pictures.finish(windows)
        return FrameSignals(
            signals.screen_text_by_window(texts, windows),
            signals.labels_by_window(labelled, windows),
            vectors,
            screen.calls if screen is not None else 0,
            shows.calls if shows is not None else 0,
            pictures_by_window,
            screen.lines_read if screen is not None else 0,
            screen.lines_kept if screen is not None else 0,
            screen.glanced if screen is not None else 0,
            windows,
            shots,
            caption_frames,
        )


class _FrameConsumer:
    """One reader of the decoded frames, in a thread of its own, fed through a short queue (decoding
    never runs more than a few frames ahead of the slowest reader: memory stays bounded)."""

    def __init__(
        self, stage: str, clock: StageClock, read: Callable[[SampledFrame, np.ndarray], object], depth: int = 4
    ) -> None:
        self.stage, self.clock, self.read = stage, clock, read
        self._queue: queue.Queue[tuple[SampledFrame, np.ndarray] | None] = queue.Queue(depth)
        self._thread = threading.Thread(target=self._run, name=f"frames-{stage}", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def put(self, frame: SampledFrame, thumb: np.ndarray) -> None:
        if self._error is not None:  # the reader failed: stop decoding for it
            raise self._error
        self._queue.put((frame, thumb))

    def finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)  # the end of the frames
            self._thread.join()

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the producer is told on its next put
            frame, thumb = item
            try:
                with self.clock(self.stage):
                    self.read(frame, thumb)
            except BaseException as exc:
                self._error = exc


@dataclass
class FrameSignals:
    """What one pass over a video's frames found, per window index."""

    screen: dict[int, str] = field(default_factory=dict)
    objects: dict[int, str] = field(default_factory=dict)
    vectors: dict[int, signals.PooledVector] = field(default_factory=dict)
    ocr_calls: int = 0
    label_calls: int = 0
    thumbnails: dict[int, bytes] = field(default_factory=dict)  # window index -> JPEG
    ocr_lines_read: int = 0  # lines given to the recogniser
    ocr_lines_kept: int = 0  # lines whose last reading was kept
    ocr_glanced: int = 0  # frames a glance found no text in
    windows: list[Window] = field(default_factory=list)  # as given, or planned from the shots found
    shots: list[Shot] = field(default_factory=list)
    caption_frames: CaptionFrames | None = None  # the captioner's frames, when one was asked for


def _pictures_inside(windows: Sequence[Window], pictures: Sequence[tuple[float, bytes]]) -> dict[int, bytes]:
    """Each window's thumbnail: of the sampled frames (time, JPEG, in time order) inside the window, the
    one nearest its middle."""
    times = [t for t, _ in pictures]
    out: dict[int, bytes] = {}
    for window in windows:
        lo, hi = bisect.bisect_left(times, window.start), bisect.bisect_left(times, window.end)
        if lo < hi:
            middle = (window.start + window.end) / 2
            best = min(range(lo, hi), key=lambda i: abs(times[i] - middle))
            out[window.index] = pictures[best][1]
    return out


def _timed(clock: StageClock, stage: str, frames: Iterator[_Item]) -> Iterator[_Item]:
    """Charge the time spent producing each frame to `stage`, not to the consumer."""
    while True:
        with clock(stage):
            frame = next(frames, None)
        if frame is None:
            return
        yield frame
