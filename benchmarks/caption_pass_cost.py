"""What the captioner's frames cost the indexer's decoding, measured apart from the models (a whole
indexing run on a busy shared machine varies by more than this), and how much memory keeping them
until the windows exist takes.

For each video of a library (the footage or synthesised library benchmarks/index_benchmark.py builds),
in turn, `--repeats` times, the CPU time of this process (time.process_time, every thread) and the wall
time of:

    readers        the indexer's pass with no captioner: PyAV, reference frames only, one thread, a frame
                   a second at the OCR size, the shot detector watching every decoded frame, a thumbnail
                   JPEG of every sampled frame (shot-aware windows, the default)
    separate       readers, then the captioner's own pass as the indexer ran it until 2026-12-02
                   (open_frames at caption_max_side and the configured decoder: decord for MP4, its own
                   threads; frames at --caption-fps grouped per window)
    shared         one pass doing both: every frame decoded (so caption frames are the frames on screen at
                   their times), the caption grid converted at caption_max_side and kept as JPEG
                   (indexer/caption_frames.py), then every window's clip built from them

and the bytes the shared pass holds for the caption frames, against the decoded arrays.

    .venv/bin/python benchmarks/caption_pass_cost.py --library footage --minutes 5
    .venv/bin/python benchmarks/caption_pass_cost.py --library synthesised --minutes 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from index_benchmark import build_footage, build_library  # this folder: the script's own (run as a script)

from vidsearch.config import Settings
from vidsearch.indexer.caption_frames import CaptionFrames
from vidsearch.media.frames import Sampling, iter_window_frames, open_frames, sample_grid
from vidsearch.media.probe import MediaInfo, probe
from vidsearch.media.shots import ShotDetector
from vidsearch.media.windows import plan_shot_windows
from vidsearch.storage.thumbnails import encode_thumbnail

SETTINGS = Settings()


def readers_pass(path: Path, info: MediaInfo, caption_fps: float | None) -> tuple[list, CaptionFrames | None]:
    """The indexer's pass (as work.VideoWork._frame_signals runs it, the readers' threads left out):
    the windows planned from the shots, and the caption frames when a caption rate is given."""
    detector = ShotDetector(info.fps, threshold=SETTINGS.shot_threshold, min_seconds=SETTINGS.shot_min_seconds)
    samplings = [Sampling(sample_grid(info.duration, SETTINGS.ocr_fps), SETTINGS.ocr_max_side)]
    store = None
    if caption_fps is not None:
        store = CaptionFrames(path)
        samplings.append(Sampling(sample_grid(info.duration, caption_fps), SETTINGS.caption_max_side))
    side = max(s.max_side for s in samplings)
    source = open_frames(
        path, info, side, SETTINGS.frame_decoder, sparse=True, threads=False, exact=caption_fps is not None
    )
    for which, frame in source.iter_samplings(samplings, detector.see_frame):
        if which == 1 and store is not None:
            store.add(frame)
        else:
            encode_thumbnail(frame.image)
    shots = detector.shots(info.duration)
    windows = plan_shot_windows([(s.start, s.end) for s in shots], SETTINGS.window_length, SETTINGS.stride)
    return windows, store


def run(path: Path, variant: str, caption_fps: float) -> tuple[float, float, int, int]:
    """CPU and wall seconds of one variant over one video; caption frames held (JPEG bytes, array bytes)."""
    info = probe(path)
    cpu, wall = time.process_time(), time.perf_counter()
    held = arrays = 0
    if variant == "readers":
        readers_pass(path, info, None)
    elif variant == "separate":
        windows, _ = readers_pass(path, info, None)
        source = open_frames(path, info, SETTINGS.caption_max_side, SETTINGS.frame_decoder)
        for _window, frames in iter_window_frames(source.iter_frames(sample_grid(info.duration, caption_fps)), windows):
            arrays += sum(f.image.nbytes for f in frames)
    else:
        windows, store = readers_pass(path, info, caption_fps)
        assert store is not None
        held = store.nbytes
        for batch in store.batches(windows, SETTINGS.caption_batch_size):
            for clip in batch.clips():
                arrays += sum(f.image.nbytes for f in clip.frames)
    return time.process_time() - cpu, time.perf_counter() - wall, held, arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", choices=["synthesised", "footage"], default="footage")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--caption-fps", type=float, default=2.0, help="the captioner's rate (2: Apollo's)")
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    folder = args.folder or Path("benchmarks/results") / ("footage" if args.library == "footage" else "library")
    media = build_footage(folder, args.minutes) if args.library == "footage" else build_library(folder, args.minutes)
    videos = sorted(folder.glob("*_loop.mp4" if args.library == "footage" else "bulletin_*.mp4"))
    variants = ("readers", "separate", "shared")
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    wall: dict[str, list[float]] = {v: [] for v in variants}
    held = arrays = 0
    load = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for variant in variants:
            totals = [run(video, variant, args.caption_fps) for video in videos]
            cpu[variant].append(sum(t[0] for t in totals))
            wall[variant].append(sum(t[1] for t in totals))
            if variant == "shared":
                held, arrays = sum(t[2] for t in totals), sum(t[3] for t in totals)
        load.append(os.getloadavg()[0])
    median_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    median_wall = {k: statistics.median(v) for k, v in wall.items()}
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average_1min": load},
        "library": args.library,
        "videos": [v.name for v in videos],
        "media_seconds": media,
        "caption_fps": args.caption_fps,
        "caption_max_side": SETTINGS.caption_max_side,
        "cpu_seconds": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
        "wall_seconds": {k: [round(x, 2) for x in v] for k, v in wall.items()},
        "cpu_seconds_median": {k: round(v, 2) for k, v in median_cpu.items()},
        "wall_seconds_median": {k: round(v, 2) for k, v in median_wall.items()},
        "captions_cpu_ms_per_media_second": {
            k: round(1000 * (median_cpu[k] - median_cpu["readers"]) / media, 2) for k in ("separate", "shared")
        },
        # Held by the shared pass until the windows exist; the arrays are what the clips hold when decoded
        # (a frame inside two overlapping windows counts twice there, once in the store).
        "caption_frames_held_mib": round(held / 2**20, 1),
        "caption_frames_held_mib_per_hour": round(held / 2**20 * 3600 / media, 1),
        "caption_frames_as_arrays_mib_per_hour": round(arrays / 2**20 * 3600 / media, 1),
    }
    out = args.out or Path("benchmarks/results") / f"caption_pass_cost_{args.library}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
