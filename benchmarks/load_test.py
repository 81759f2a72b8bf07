"""Load test of GET /search on loopback (not a test: prints figures, writes JSON).

Builds a library of --windows windows in a fresh data folder (or --library) without decoding video
(texts stored through the same storage layer, embedded with the packaged MiniLM when
--embed is given, else the mean of its two sentences' embeddings plus noise), starts `vidsearch serve`
in its own process, then sends GET /search from --clients concurrent clients for --seconds (at most
--requests requests), and reports throughput and latency percentiles.

    .venv/bin/python benchmarks/load_test.py --windows 100000 --clients 8 --seconds 30 --workers 2

Texts are the dev set's real segment descriptions (two to a window), requests its real queries, every
one different unless --repeat N asks for traffic that repeats N queries (what caches are for)."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vidsearch.config import Settings
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.models.loader import ModelSet
from vidsearch.storage.database import Database, FileState, NewText
from vidsearch.storage.vectors import read_manifest

# Real English descriptions of moments (the dev set's segment texts) make the library's texts, and its
# queries make the requests: word frequencies like a real library's, every request a fresh query.
EVAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


def eval_texts(name: str, field: str) -> list[str]:
    with open(EVAL_DIR / name, encoding="utf-8") as f:
        return [json.loads(line)[field] for line in f if line.strip()]


def build_library(settings: Settings, windows: int, embed: bool) -> None:
    sentences = eval_texts("tacos_dev_segments.jsonl", "text")
    db = Database(settings.resolved_database_url)
    embedder = ModelSet(settings).embedder
    embedder_id = db.model_record(embedder.spec)
    rng = random.Random(7)
    noise = np.random.default_rng(7)
    # Without --embed, a window's vector is the mean of its two sentences' real embeddings plus a little
    # noise: vectors on the real embedding's manifold (as the query's is) for the cost of embedding
    # each distinct sentence once.
    sentence_vectors = None if embed else embedder.embed(sentences)
    per_video = 360  # an hour of 10 s windows
    for start in range(0, windows, per_video):
        count = min(per_video, windows - start)
        path = f"/archive/reel-{start // per_video:05d}.mp4"
        video_id = db.begin_video(FileState(path, 1, 1.0), path)
        picks = [rng.choices(range(len(sentences)), k=2) for _ in range(count)]
        texts = [NewText(i, "speech", " ".join(sentences[j] for j in pick), None) for i, pick in enumerate(picks)]
        if sentence_vectors is None:
            vectors = embedder.embed([t.text for t in texts])
        else:
            raw = sentence_vectors[np.array(picks)].sum(axis=1)
            raw += noise.normal(scale=0.05, size=raw.shape).astype(np.float32)
            vectors = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        db.store_video(
            video_id,
            probe={"duration": count * 10.0, "start_time": 0.0, "fps": 25.0, "width": 1280, "height": 720},
            windows=[(10.0 * i, 10.0 * i + 10) for i in range(count)],
            texts=texts,
            vectors=vectors,
            embedder_id=embedder_id,
            pipeline_fingerprint="load-test",
            pipeline_settings={},
        )
    rebuild_vector_index(db, embedder, settings.vector_dir)
    db.close()


def hammer(base: str, clients: int, seconds: float, requests: int, queries: list[str]) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        nonlocal errors
        mine = queries[n::clients]  # each client its own queries, none repeated until all are used
        random.Random(n).shuffle(mine)
        asked = 0
        with httpx.Client(base_url=base, timeout=30) as http:
            while time.monotonic() < deadline:
                with lock:
                    if len(latencies) + errors >= requests:
                        return
                started = time.perf_counter()
                response = http.get("/search", params={"q": mine[asked % len(mine)], "limit": 10})
                asked += 1
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        errors += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * (len(latencies) - 1)))], 2)

    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(wall, 2),
        "requests_per_second": round(len(latencies) / wall, 1),
        "p50_ms": pct(0.5),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--embed", action="store_true", help="embed the texts with the real model (slow)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=1, help="vidsearch serve --workers")
    parser.add_argument(
        "--repeat", type=int, default=0, help="draw the requests from only this many queries (0: every query once)"
    )
    parser.add_argument("--library", type=Path, help="build the library here, or reuse the one built here before")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/load_test.json"))
    args = parser.parse_args()
    queries = list(dict.fromkeys(eval_texts("tacos_dev_queries.jsonl", "query")))
    random.Random(11).shuffle(queries)
    warm_up, queries = queries[:100], queries[100:]
    if args.repeat:
        queries = queries[: args.repeat]
    with tempfile.TemporaryDirectory(prefix="vidsearch-load-") as scratch:
        tmp = str(args.library or scratch)
        settings = Settings(data_dir=Path(tmp), rate_limit="1000000/minute")
        if read_manifest(settings.vector_dir) is None:
            started = time.perf_counter()
            build_library(settings, args.windows, args.embed)
            print(f"library of {args.windows} windows built in {time.perf_counter() - started:.0f} s", flush=True)
        env = os.environ | {"VIDSEARCH_DATA_DIR": tmp, "VIDSEARCH_RATE_LIMIT": "1000000/minute"}
        command = ["serve", "--port", str(args.port), "--workers", str(args.workers)]
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "vidsearch"), *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{args.port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            hammer(base, 2, 5, len(warm_up), warm_up)  # warm up on other queries: no answer is cached
            figures = hammer(base, args.clients, args.seconds, args.requests, queries)
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "windows": args.windows,
        "clients": args.clients,
        "workers": args.workers,
        "distinct_queries": len(queries),
        "cpu_count": os.cpu_count(),
        **figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
