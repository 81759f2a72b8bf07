"""What shot detection adds to the indexer's one decoding pass, measured apart from everything else
(a whole indexing run on a busy shared machine varies by more than this costs).

For each video of the footage library (benchmarks/index_benchmark.py --library footage builds it), the
indexer's pass is run as the indexer runs it (PyAV, reference frames only, one thread, a frame a second
converted at the OCR size), without and then with the shot detector watching every decoded frame, in
turn, `--repeats` times; the CPU time of this process is taken for each (time.process_time), and the
medians compared. Also the thumbnails shot-aware windows need: a JPEG of every sampled frame instead of
one per window.

    .venv/bin/python benchmarks/shot_cost.py --minutes 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from index_benchmark import build_footage  # this folder: the script's own (run as a script)

from vidsearch.config import Settings
from vidsearch.media.frames import open_frames, sample_grid
from vidsearch.media.probe import probe
from vidsearch.media.shots import ShotDetector
from vidsearch.storage.thumbnails import encode_thumbnail


def one_pass(path: Path, detect: bool, thumbnails: bool) -> tuple[float, int, int]:
    """CPU seconds of one decoding pass; frames the detector saw; shots found."""
    settings = Settings()
    info = probe(path)
    detector = ShotDetector(info.fps, threshold=settings.shot_threshold, min_seconds=settings.shot_min_seconds)
    source = open_frames(path, info, settings.ocr_max_side, settings.frame_decoder, sparse=True, threads=False)
    start = time.process_time()
    watch = detector.see_frame if detect else None
    for frame in source.iter_frames(sample_grid(info.duration, settings.ocr_fps), watch):
        if thumbnails:
            encode_thumbnail(frame.image)
    shots = len(detector.shots(info.duration)) if detect else 0
    return time.process_time() - start, detector.frames, shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=Path("benchmarks/results/footage"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/shot_cost.json"))
    args = parser.parse_args()
    media = build_footage(args.folder, args.minutes)
    videos = sorted(args.folder.glob("*_loop.mp4"))
    runs: dict[str, list[float]] = {"pass": [], "pass+shots": [], "pass+shots+thumbnails": []}
    seen: dict[str, tuple[int, int]] = {}  # video -> (frames the detector saw, shots)
    load = [os.getloadavg()[0]]
    variants = (("pass", False, False), ("pass+shots", True, False), ("pass+shots+thumbnails", True, True))
    for _ in range(args.repeats):
        for name, detect, thumbs in variants:
            cpu = 0.0
            for video in videos:
                seconds, frames, shots = one_pass(video, detect, thumbs)
                cpu += seconds
                if detect:
                    seen[video.name] = (frames, shots)
            runs[name].append(cpu)
        load.append(os.getloadavg()[0])
    frames_seen = sum(f for f, _ in seen.values())
    medians = {k: statistics.median(v) for k, v in runs.items()}
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average_1min": load},
        "media_seconds": media,
        "frames_seen_by_the_detector": frames_seen,
        "shots": {name: shots for name, (_, shots) in seen.items()},
        "cpu_seconds": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "cpu_seconds_median": {k: round(v, 3) for k, v in medians.items()},
        "shots_cpu_per_media_second_ms": round(1000 * (medians["pass+shots"] - medians["pass"]) / media, 2),
        "shots_cpu_per_frame_ms": round(1000 * (medians["pass+shots"] - medians["pass"]) / max(frames_seen, 1), 3),
        "thumbnails_cpu_per_media_second_ms": round(
            1000 * (medians["pass+shots+thumbnails"] - medians["pass+shots"]) / media, 2
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
