"""Vector search at scale (not a test: prints figures, writes JSON).

Builds the index families vidsearch uses (exact flat inner product; HNSW32 beyond
FLAT_MAX_VECTORS) over synthetic 384-d vectors with topic structure (a mixture of Gaussians, as
window texts about a few thousand subjects would be), then measures build time, recall@10 against
exact search, single-query latency p50/p99 (one thread per query, as the API runs them), and the
index's bytes per vector.

    /usr/bin/time -v .venv/bin/python benchmarks/vector_benchmark.py --sizes 100000 1000000"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from vidsearch.storage.vectors import FLAT, HNSW, build_index, hnsw_ef_search_for

DIMENSION = 384
QUERIES = 300


def clustered(n: int, seed: int, topics: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, DIMENSION)).astype(np.float32)
    out = np.empty((n, DIMENSION), dtype=np.float32)
    for lo in range(0, n, 100_000):  # in slices: 1M x 384 floats are 1.5 GB already
        hi = min(n, lo + 100_000)
        block = centres[rng.integers(0, topics, hi - lo)] + 0.6 * rng.normal(size=(hi - lo, DIMENSION))
        out[lo:hi] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def batches(vectors: np.ndarray, size: int = 50_000):  # type: ignore[no-untyped-def]
    for lo in range(0, len(vectors), size):
        yield np.arange(lo, min(len(vectors), lo + size), dtype=np.int64), vectors[lo : lo + size]


def latencies_ms(index: faiss.Index, queries: np.ndarray, k: int, params: faiss.SearchParameters | None) -> list[float]:
    out = []
    for q in queries:
        started = time.perf_counter()
        index.search(q[None, :], k, params=params)
        out.append((time.perf_counter() - started) * 1000)
    return sorted(out)


def measure(n: int, candidates: int) -> dict[str, object]:
    vectors = clustered(n, seed=n)
    queries = clustered(QUERIES, seed=n + 1)
    faiss.omp_set_num_threads(1)  # one query per thread, as the API serves them
    figures: dict[str, object] = {"vectors": n, "dimension": DIMENSION}
    truth = None
    for kind in (FLAT, HNSW):
        faiss.omp_set_num_threads(0 if kind == HNSW else 1)  # building HNSW uses every core
        started = time.perf_counter()
        index = build_index(DIMENSION, batches(vectors), kind)
        build_s = time.perf_counter() - started
        faiss.omp_set_num_threads(1)
        params: faiss.SearchParameters | None = None
        if kind == HNSW:
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = max(hnsw_ef_search_for(n), candidates)  # type: ignore[attr-defined]
        _, found = index.search(queries, 10, params=params)
        if truth is None:
            truth = found
        recall = float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]))
        at_candidates = latencies_ms(index, queries, candidates, params)
        with tempfile.NamedTemporaryFile(suffix=".faiss") as f:
            faiss.write_index(index, f.name)
            size = Path(f.name).stat().st_size
        figures[kind] = {
            "build_s": round(build_s, 1),
            "recall_at_10": round(recall, 4),
            f"p50_ms_k{candidates}": round(statistics.median(at_candidates), 3),
            f"p99_ms_k{candidates}": round(at_candidates[int(0.99 * (len(at_candidates) - 1))], 3),
            "bytes_per_vector": round(size / n, 1),
        }
        print(n, kind, figures[kind], flush=True)
        del index
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--candidates", type=int, default=200, help="k per query, as search asks (search_candidates)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/vector_benchmark.json"))
    args = parser.parse_args()
    results = [measure(n, args.candidates) for n in args.sizes]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu_count": os.cpu_count(), "results": results}, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
