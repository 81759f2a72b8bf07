"""Search with and without the visual space, in process, at 100k windows (not a test: prints figures,
writes JSON).

Builds (or reuses, --library) a library of `--windows` windows: each window's text is two moment
descriptions of the dev sets (real sentences, real MiniLM vectors: a window's vector is the normalised
sum of its two sentences', as benchmarks/load_test.py makes them), and each window has a frame vector in
a 512-d image-text space (random unit vectors: the search costs what it costs whatever they hold). The
image-text model answering the query is a real-size CLIP ViT-B/32 with RANDOM weights (the architecture
of openai/clip-vit-base-patch32: a query costs what it costs with the trained weights), on ONNX Runtime.

Every query is different (dev-set queries), the answer cache is off, and the two searchers (text only;
text + visual) take turns query by query, so both see the same machine.

    .venv/bin/python benchmarks/visual_search_benchmark.py --windows 100000 --queries 300
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.models.tiny_image_text builds the model

from tests.models.tiny_image_text import build_clip
from vidsearch.config import Settings
from vidsearch.indexer.generations import rebuild_vector_index, rebuild_visual_index
from vidsearch.models.loader import ModelSet
from vidsearch.search import Searcher
from vidsearch.storage import Database
from vidsearch.storage.database import FileState, NewText
from vidsearch.storage.embeddings import WindowVectorRow

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def _lines(name: str, field: str) -> list[str]:
    with (EVAL / name).open() as f:
        return list(dict.fromkeys(json.loads(line)[field] for line in f if line.strip()))


def build(settings: Settings, windows: int) -> None:
    sentences = _lines("tacos_dev_segments.jsonl", "text") + _lines("anet_dev_segments.jsonl", "text")
    models = ModelSet(settings)
    embedder = models.embedder
    vectors = embedder.embed(sentences)
    db = Database(settings.resolved_database_url)
    embedder_id = db.model_record(embedder.spec)
    visual = models.visual_embedder
    assert visual is not None and visual.spec.dimension is not None
    visual_id = db.model_record(visual.spec)
    rng = np.random.default_rng(7)
    per_video = 360
    for start in range(0, windows, per_video):
        count = min(per_video, windows - start)
        path = f"/archive/reel-{start // per_video:05d}.mp4"
        video_id = db.begin_video(FileState(path, 1, 1.0), path)
        picks = rng.integers(0, len(sentences), size=(count, 2))
        texts = [NewText(i, "speech", " ".join(sentences[j] for j in pick), None) for i, pick in enumerate(picks)]
        raw = vectors[picks].sum(axis=1)
        window_ids = db.store_video(
            video_id,
            probe={"duration": count * 10.0, "start_time": 0.0, "fps": 25.0, "width": 1280, "height": 720},
            windows=[(10.0 * i, 10.0 * i + 10) for i in range(count)],
            texts=texts,
            vectors=raw / np.linalg.norm(raw, axis=1, keepdims=True),
            embedder_id=embedder_id,
            pipeline_fingerprint="visual-benchmark",
            pipeline_settings={},
        )
        pictures = rng.normal(size=(count, visual.spec.dimension)).astype(np.float32)
        pictures /= np.linalg.norm(pictures, axis=1, keepdims=True)
        db.add_window_vectors(
            visual_id, [WindowVectorRow(w, p, 5.0, 1) for w, p in zip(window_ids, pictures, strict=True)]
        )
    rebuild_visual_index(db, visual.spec, settings.visual_vector_dir)
    rebuild_vector_index(db, embedder, settings.vector_dir)
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", type=Path, default=Path("benchmarks/results/visual-library"))
    parser.add_argument("--windows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--model", type=Path, default=Path("benchmarks/results/clip-b32-random"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/visual_search.json"))
    args = parser.parse_args()
    if not (args.model / "config.json").exists():
        build_clip(args.model, real_size=True)
    visual = Settings(
        data_dir=args.library, result_cache_size=0, visual_embedder="clip", visual_embedder_model=str(args.model)
    )
    if not (args.library / "vectors" / "current.json").exists():
        started = time.perf_counter()
        build(visual, args.windows)
        print(f"built {args.windows} windows in {time.perf_counter() - started:.0f} s")
    text_only = visual.model_copy(update={"visual_embedder": "none"})
    searchers = {
        "text": Searcher(text_only, Database(text_only.resolved_database_url)),
        "text+visual": Searcher(visual, Database(visual.resolved_database_url)),
    }
    queries = _lines("tacos_dev_queries.jsonl", "query")[: args.queries]
    for searcher in searchers.values():
        searcher.search("a warm-up query")
    totals: dict[str, list[float]] = {name: [] for name in searchers}
    stages: dict[str, dict[str, list[float]]] = {name: {} for name in searchers}
    for query in queries:
        for name, searcher in searchers.items():
            started = time.perf_counter()
            response = searcher.search(query)
            totals[name].append((time.perf_counter() - started) * 1000)
            for stage, ms in response.timings_ms.items():
                stages[name].setdefault(stage, []).append(ms)
    report = {
        "windows": args.windows,
        "queries": len(queries),
        "results": {
            name: {
                "p50_ms": round(statistics.median(values), 2),
                "p95_ms": round(sorted(values)[int(0.95 * (len(values) - 1))], 2),
                "stages_p50_ms": {s: round(statistics.median(v), 2) for s, v in stages[name].items()},
            }
            for name, values in totals.items()
        },
    }
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
