"""Indexing and search benchmark on a synthesised library (not a test: it prints figures and writes JSON).

Builds a library of narrated, titled, subtitled videos (at least --minutes of video, cached between
runs), indexes it into a fresh data folder with the real packaged models, and reports the realtime
factor (video seconds per wall second) overall and per stage, then search latency.

    .venv/bin/python benchmarks/index_benchmark.py --minutes 10 --out benchmarks/results/index.json

Time the whole process with public tools, e.g. `/usr/bin/time -v .venv/bin/python benchmarks/...`."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.models.loader import ModelSet
from vidsearch.search import Searcher
from vidsearch.storage import Database

PHOTOS = ["rocket", "astronaut", "coffee", "chelsea", "camera", "coins", "hubble_deep_field", "page", "horse"]
NARRATION = [
    "The council approved the new budget after a long debate about schools and roads.",
    "Firefighters arrived within minutes and the building was evacuated safely.",
    "The team scored twice in the second half to win the championship.",
    "Heavy rain is expected tomorrow, with strong winds along the coast.",
    "Researchers found that the new vaccine protects older patients well.",
    "The museum opens a new exhibition of ancient pottery next week.",
    "Traffic on the bridge was stopped while engineers inspected the cables.",
    "The chef explains how to bake bread with only flour, water and salt.",
]
TITLES = ["BREAKING NEWS", "LIVE: CITY HALL", "SPORTS UPDATE", "WEATHER ALERT", "HEALTH REPORT", "", "", ""]
SUBTITLES = ["Applause from the audience", "", "Music playing", "", "Interview continues", ""]
QUERIES = [
    "budget debate about schools",
    "building evacuated after a fire",
    "weather alert",
    "win the championship",
    "how to bake bread",
    "inspecting the bridge cables",
    "new vaccine for older patients",
    "breaking news",
]


def build_library(folder: Path, minutes: float, scene_seconds: float = 8.0, scenes_per_video: int = 8) -> float:
    """Videos of scenes_per_video scenes each until `minutes` of video exist; returns total seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    per_video = scene_seconds * scenes_per_video
    count = int(-(-minutes * 60 // per_video))
    cycle = itertools.count()
    for v in range(count):
        out = folder / f"bulletin_{v:02d}.mp4"
        scenes = []
        for _ in range(scenes_per_video):
            i = next(cycle)
            scenes.append(
                Scene(
                    PHOTOS[i % len(PHOTOS)],
                    scene_seconds,
                    title=TITLES[i % len(TITLES)],
                    narration=NARRATION[i % len(NARRATION)],
                    subtitle=SUBTITLES[i % len(SUBTITLES)],
                )
            )
        if not out.exists():
            make_video(scenes, out, size=(1280, 720))
    return count * per_video


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--library", type=Path, default=Path("benchmarks/results/library"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/index_benchmark.json"))
    parser.add_argument("--search-repeats", type=int, default=25)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    print(f"building the library in {args.library} ...", flush=True)
    build_library(args.library, args.minutes)
    data = Path(tempfile.mkdtemp(prefix="vidsearch-bench-"))
    try:
        settings = Settings(data_dir=data)
        t0 = time.perf_counter()
        models = ModelSet(settings)
        _ = models.embedder, models.speech, models.ocr
        load_seconds = time.perf_counter() - t0
        report = Indexer(settings, models=models).run([args.library])
        media = report.media_seconds
        searcher = Searcher(settings, Database(settings.resolved_database_url), models.embedder)
        searcher.search("warm up", 10)
        latencies = []
        for _ in range(args.search_repeats):
            for query in QUERIES:
                start = time.perf_counter()
                searcher.search(query, 10)
                latencies.append((time.perf_counter() - start) * 1000)
        hits = {q: searcher.search(q, 1).to_dict()["results"][0]["texts"] for q in QUERIES[:3]}
    finally:
        shutil.rmtree(data, ignore_errors=True)

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "library": {
            "videos": len(report.indexed),
            "media_seconds": round(media, 1),
            "windows": report.windows,
            "resolution": "1280x720",
            "failed": report.failed,
        },
        "model_load_seconds": round(load_seconds, 2),
        "index_wall_seconds": round(report.wall_seconds, 2),
        "realtime_factor": round(media / report.wall_seconds, 2),
        "realtime_factor_with_model_load": round(media / (report.wall_seconds + load_seconds), 2),
        "stage_seconds": {k: round(v, 2) for k, v in sorted(report.stage_seconds.items())},
        "stage_realtime_factor": {k: round(media / v, 1) for k, v in sorted(report.stage_seconds.items()) if v > 0},
        "ocr_calls": report.ocr_calls,
        "search_ms": {
            "queries": len(latencies),
            "p50": round(statistics.median(latencies), 2),
            "p95": round(percentile(latencies, 95), 2),
            "max": round(max(latencies), 2),
        },
        "sample_hits": hits,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
