"""Peak memory while indexing one long video (not a test: prints figures, writes JSON).

Frames stream window by window and speech is the only whole-file signal, so memory should not grow
with the video's length. Builds a long 720p video (a titled photo; --minutes of it, cached), indexes
it with the packaged models, and reports peak resident memory of the process.

    /usr/bin/time -v .venv/bin/python benchmarks/memory_benchmark.py --minutes 60"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.media.synthesize import Scene, make_video


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/memory_benchmark.json"))
    args = parser.parse_args()
    video = Path("benchmarks/results") / f"long_{args.minutes:g}min.mp4"
    if not video.exists():
        make_video(
            [Scene("rocket", args.minutes * 60, title="ONE LONG TAKE")], video, size=(1280, 720), fps=5, audio=False
        )
    data = Path(tempfile.mkdtemp(prefix="vidsearch-mem-"))
    try:
        settings = Settings(data_dir=data, speech="none")
        indexer = Indexer(settings)
        indexer.models.load_indexing_models()
        after_load = peak_rss_mib()
        start = time.perf_counter()
        report = indexer.run([video])
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(data, ignore_errors=True)
    result = {
        "video_minutes": args.minutes,
        "resolution": "1280x720",
        "windows": report.windows,
        "failed": report.failed,
        "index_seconds": round(seconds, 1),
        "peak_rss_after_model_load_mib": round(after_load, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "peak_rss_growth_while_indexing_mib": round(peak_rss_mib() - after_load, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
