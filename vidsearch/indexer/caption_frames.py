"""The captioner's frames, taken from the indexer's one decoding pass (work.VideoWork._frame_signals) and
kept compact until the windows exist (shot-aware windows are planned only once the pass has found the
cuts); then grouped per window and batched exactly as a decoding pass of the captioner's own grouped them
(media.frames.iter_window_frames, `caption_batch_size` windows a batch), so a captioner sees the same
frames at the same times and sizes. Under Ray a batch travels to a caption worker still compact."""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vidsearch.media.frames import SampledFrame
from vidsearch.media.windows import Window
from vidsearch.models.base import WindowClip

# Why JPEG and not the decoded arrays: an hour of video at Apollo's 2 frames a second is 7,200 frames; at
# caption_max_side 448 a 16:9 frame is 448x252x3 bytes, 330 KB, so 2.3 GB an hour as arrays (1.2 GB at
# 1 fps), held by every video being indexed. As JPEG at quality 90 (4:2:0, as the video's own chroma
# already is) a frame of detailed 720p footage is about 35 KB (bigbuckbunny; 18 KB for bikes): about
# 250 MB an hour at 2 fps. Encoding and decoding cost about 1 ms each a frame at that size, and a pixel
# moves by 2.4 levels of 255 on average (p99 11): less than the models' own resizing to 384 px or less
# blurs away. Quality 95 halves the error for 40 % more bytes. Measured 2026-12-02 (docs/benchmarks.md).
CAPTION_JPEG_QUALITY = 90


def encode_caption_frame(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JPEG", quality=CAPTION_JPEG_QUALITY)
    return out.getvalue()


def decode_caption_frame(picture: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(picture)) as image:
        return np.asarray(image.convert("RGB"))


@dataclass(frozen=True)
class CaptionBatch:
    """Windows captioned in one call, with their frames still JPEG: what a Ray caption worker receives.
    `times`/`pictures` are the frames some window here holds, in time order; `members[i]` indexes the
    frames of `windows[i]` (a frame inside several overlapping windows travels once)."""

    video_path: Path
    windows: list[Window]
    times: list[float]
    pictures: list[bytes]
    members: list[list[int]]

    def clips(self) -> list[WindowClip]:
        """The captioner's input: each window with its frames decoded (each picture once)."""
        decoded: dict[int, np.ndarray] = {}  # by the picture's identity: a repeated frame is one object
        frames: list[SampledFrame] = []
        for time, picture in zip(self.times, self.pictures, strict=True):
            image = decoded.get(id(picture))
            if image is None:
                image = decoded[id(picture)] = decode_caption_frame(picture)
            frames.append(SampledFrame(time, image))
        return [
            WindowClip(self.video_path, window, [frames[i] for i in member])
            for window, member in zip(self.windows, self.members, strict=True)
        ]


class CaptionFrames:
    """Frames at the captioner's rate and size, in time order, as JPEG until the windows are planned."""

    def __init__(self, video_path: Path) -> None:
        self.video_path = video_path
        self.times: list[float] = []
        self.pictures: list[bytes] = []

    def __len__(self) -> int:
        return len(self.times)

    @property
    def nbytes(self) -> int:
        """The JPEG bytes held (a frame repeated is held once)."""
        return sum(len(p) for p in {id(p): p for p in self.pictures}.values())

    def add(self, frame: SampledFrame) -> None:
        """The next frame (times never go back). A video slower than the captioner's rate gives the same
        decoded frame for several times: it is encoded and held once."""
        if self.times and frame.time == self.times[-1]:
            picture = self.pictures[-1]
        else:
            picture = encode_caption_frame(frame.image)
        self.times.append(frame.time)
        self.pictures.append(picture)

    def batches(self, windows: Sequence[Window], batch_size: int) -> Iterator[CaptionBatch]:
        """`batch_size` windows at a time, in order, each holding the frames whose time lies inside it
        (start <= t < end), as iter_window_frames assigns them."""
        for lo in range(0, len(windows), batch_size):
            chunk = list(windows[lo : lo + batch_size])
            spans = [
                range(bisect.bisect_left(self.times, w.start), bisect.bisect_left(self.times, w.end)) for w in chunk
            ]
            used = sorted({i for span in spans for i in span})
            position = {i: n for n, i in enumerate(used)}
            yield CaptionBatch(
                self.video_path,
                chunk,
                [self.times[i] for i in used],
                [self.pictures[i] for i in used],
                [[position[i] for i in span] for span in spans],
            )
