"""Vector search at scale (not a test: prints figures, writes JSON).

Builds the index families vidsearch uses (exact flat inner product up to FLAT_MAX_VECTORS; beyond, the
HNSW32 graph by default, swept over efSearch, and IVF with about 4 x sqrt(n) cells, swept over
--nprobe) over 384-d vectors: --data hard, synthetic vectors with topic structure (a mixture of
Gaussians, where a query's exact neighbours are a few among hundreds of nearly equal ones), or --data
real-text, windows made of real sentence embeddings (benchmarks/corpus.py). Each index is written as a
generation and served as search serves it; the benchmark measures build time, recall@10 against exact
search (by id, and by distance as ann-benchmarks counts it), single-query latency p50/p99 (one thread
per query, as the API runs them) and the index file's bytes per vector.

    /usr/bin/time -v .venv/bin/python benchmarks/vector_benchmark.py --data real-text --sizes 100000 1000000 \
        --families hnsw ivf --nprobe 64 128 256"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import corpus  # benchmarks/corpus.py: run as a script, its folder is on the path
import faiss
import numpy as np

from vidsearch.config import Settings
from vidsearch.models.base import ModelSpec
from vidsearch.storage.vectors import (
    FLAT,
    HNSW,
    IVF_NPROBE,
    VectorIndex,
    build_index,
    index_type_for,
    load_generation,
    write_generation,
)

DIMENSION = 384
QUERIES = 300
EF_SEARCH_SWEEP = (128, 256, 512, 1024)
SPEC = ModelSpec("embedder", "benchmark", "synthetic", "1", DIMENSION, {"normalized": True})


def clustered(n: int, seed: int, topics: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, DIMENSION)).astype(np.float32)
    out = np.empty((n, DIMENSION), dtype=np.float32)
    for lo in range(0, n, 100_000):  # in slices: 1M x 384 floats are 1.5 GB already
        hi = min(n, lo + 100_000)
        block = centres[rng.integers(0, topics, hi - lo)] + 0.6 * rng.normal(size=(hi - lo, DIMENSION))
        out[lo:hi] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def real_text(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Window-like vectors from real sentence embeddings (the packaged MiniLM): each the normalised sum
    of two random sentences' vectors (a mean-pooled model embeds two sentences about so), and queries
    that are held-out sentences of their own."""
    pool, queries = corpus.split(corpus.embedded("docstrings", corpus.docstring_sentences()), QUERIES, seed)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIMENSION), dtype=np.float32)
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        pairs = rng.integers(0, len(pool.texts), size=(hi - lo, 2))
        block = pool.vectors[pairs[:, 0]] + pool.vectors[pairs[:, 1]]
        out[lo:hi] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out, np.ascontiguousarray(queries.vectors)


def batches(vectors: np.ndarray, size: int = 50_000):  # type: ignore[no-untyped-def]
    for lo in range(0, len(vectors), size):
        yield np.arange(lo, min(len(vectors), lo + size), dtype=np.int64), vectors[lo : lo + size]


def latencies_ms(served: VectorIndex, queries: np.ndarray, k: int) -> list[float]:
    out = []
    for q in queries:
        started = time.perf_counter()
        served.search(q[None, :], k)
        out.append((time.perf_counter() - started) * 1000)
    return sorted(out)


def measure(n: int, candidates: int, nprobes: list[int], families: list[str], data: str) -> dict[str, object]:
    if data == "real-text":
        vectors, queries = real_text(n, seed=n)
    else:
        vectors, queries = clustered(n, seed=n), clustered(QUERIES, seed=n + 1)
    figures: dict[str, object] = {"vectors": n, "dimension": DIMENSION, "data": data}
    truth: np.ndarray | None = None
    truth_scores: np.ndarray | None = None
    kinds = {"flat": FLAT, "ivf": index_type_for(n, 0), "hnsw": HNSW}
    for family in ["flat", *families]:
        kind = kinds[family]
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # building uses every core
        started = time.perf_counter()
        index = build_index(DIMENSION, list(batches(vectors)), kind, count=n)
        build_s = time.perf_counter() - started
        faiss.omp_set_num_threads(1)  # one query per thread, as the API serves them
        with tempfile.TemporaryDirectory() as folder:
            manifest = write_generation(Path(folder), 1, index, SPEC)
            size = (Path(folder) / manifest.file).stat().st_size
            del index
            settings = [{"nprobe": p} for p in nprobes] if family == "ivf" else [{}]
            if family == "hnsw":
                settings = [{"ef_search": e} for e in EF_SEARCH_SWEEP]
            for setting in settings:
                served = load_generation(
                    Path(folder), SPEC, nprobe=setting.get("nprobe", 0), ef_search=setting.get("ef_search", 0)
                )
                scores, found = served.search(queries, 10)
                if truth is None:
                    truth, truth_scores = found, scores
                assert truth_scores is not None
                recall = float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]))
                # ann-benchmarks' definition: a result counts when it is at least as near as the 10th
                # exact neighbour (less 1e-3), so that a tie broken the other way is no miss.
                by_distance = float(np.mean((scores >= truth_scores[:, 9:10] - 1e-3).sum(axis=1) / 10))
                at_candidates = latencies_ms(served, queries, candidates)
                label = manifest.index_type + "".join(f", {key} {value}" for key, value in setting.items())
                figures[label] = {
                    "build_s": round(build_s, 1),
                    "recall_at_10": round(recall, 4),
                    "recall_at_10_by_distance": round(by_distance, 4),
                    f"p50_ms_k{candidates}": round(statistics.median(at_candidates), 3),
                    f"p99_ms_k{candidates}": round(at_candidates[int(0.99 * (len(at_candidates) - 1))], 3),
                    "bytes_per_vector": round(size / n, 1),
                }
                print(n, label, figures[label], flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument(
        "--candidates", type=int, default=Settings().search_candidates, help="k per query, as search asks"
    )
    parser.add_argument("--nprobe", type=int, nargs="+", default=[IVF_NPROBE], help="IVF cells a query scans")
    parser.add_argument(
        "--data", choices=["hard", "real-text"], default="hard", help="synthetic topics, or real sentence embeddings"
    )
    parser.add_argument("--families", nargs="+", default=["hnsw"], choices=["ivf", "hnsw"], help="besides exact")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/vector_benchmark.json"))
    args = parser.parse_args()
    results = [measure(n, args.candidates, args.nprobe, args.families, args.data) for n in args.sizes]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu_count": os.cpu_count(), "results": results}, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
