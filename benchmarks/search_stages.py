"""Where a search spends its time, in process (not a test: prints figures, writes JSON).

Runs the load test's queries through `Searcher.search` over a library (e.g. one built by
`benchmarks/load_test.py --library DIR`) with the answer cache off, and prints the median of each
stage's own timing.

    .venv/bin/python benchmarks/search_stages.py --library DIR --queries 300"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from load_test import library_sentences  # benchmarks/: run as a script, its folder is on the path

from vidsearch.config import Settings
from vidsearch.search import Searcher
from vidsearch.storage import Database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/search_stages.json"))
    args = parser.parse_args()
    settings = Settings(data_dir=args.library, result_cache_size=0)
    searcher = Searcher(settings, Database(settings.resolved_database_url))
    queries = library_sentences()[1][: args.queries]  # the load test's queries, in its order
    searcher.search("a warm-up query")
    stages: dict[str, list[float]] = {}
    totals: list[float] = []
    for query in queries:
        started = time.perf_counter()
        response = searcher.search(query)
        totals.append((time.perf_counter() - started) * 1000)
        for stage, ms in response.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    totals.sort()
    result = {
        "library": str(args.library),
        "vectors": searcher.vector_index().size,
        "queries": len(queries),
        "median_ms": {stage: round(statistics.median(ms), 2) for stage, ms in stages.items()},
        "total_p50_ms": round(statistics.median(totals), 2),
        "total_p99_ms": round(totals[int(0.99 * (len(totals) - 1))], 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
