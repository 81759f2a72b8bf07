"""Cold start of the command line (not a test: prints figures, writes JSON).

Times whole `vidsearch` processes from start to exit over a library of --windows windows: `search` and
`search --json` (a fresh process each run, each with another of the dev set's queries), `status` and
`--help`. The library is built as
benchmarks/load_test.py builds it (real sentences, real MiniLM vectors; no video decoded) in a fresh
folder, or reused from --library DIR when one was built there before (by this script or the load test).
Each command runs --warmup times unmeasured (the files it reads come into the OS page cache, as they are
on a machine in use), then --runs times; the figures are the median, min and max of the runs, each
run's wall time measured around the child process and its CPU time and peak memory from the kernel's
accounting of that child (wait4; the peak reads no lower than this script's own size, given as
peak_floor_mib).

    .venv/bin/python benchmarks/cold_start.py --windows 100000 --library /tmp/lib100k --runs 11 --phases --warm 300

--phases also runs, in fresh processes, one cold search with each step timed from inside (imports,
settings, database open, query embedder, vector index generation, the search itself), to see where a
cold start goes; --warm N times N searches in one warm process as the server makes them (to check that
what makes the command line start fast costs a server nothing).

The cold figure by hand: `/usr/bin/time -v .venv/bin/vidsearch search "..." --data DIR` (after one run
unmeasured, as here)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import corpus  # benchmarks/corpus.py: run as a script, its folder is on the path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# One cold search with each step timed, run in a fresh interpreter by --phases (argv: library, query).
PHASES = r"""
import sys, time, json
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import vidsearch.cli
mark("import the command line")
from vidsearch.search import Searcher
from vidsearch.storage import Database
mark("import search and storage")
from pathlib import Path
from vidsearch.config import Settings
settings = Settings(data_dir=Path(sys.argv[1]))
mark("settings")
db = Database(settings.resolved_database_url)
mark("open the database")
try:
    searcher = Searcher(settings, db, one_shot=True)
except TypeError:  # a vidsearch from before one-shot searchers: what its command line did
    searcher = Searcher(settings, db)
searcher.embedder
mark("query embedder")
searcher.vector_index()
mark("vector index generation")
response = searcher.search(sys.argv[2], 10)
mark("search")
heavy = [m for m in ("torch", "transformers", "sentence_transformers", "alembic") if m in sys.modules]
steps = {b[0]: round((b[1] - a[1]) * 1000, 1) for a, b in zip(marks, marks[1:])}
print(json.dumps({"steps_ms": steps, "search_ms": response.timings_ms, "imported": heavy}))
"""


# The server's path, for comparison (argv: library, how many queries, then the queries as JSON on stdin):
# a Searcher with its defaults (the whole generation and every text's location in memory), answer
# cache off, warmed up, then each query's whole search timed.
WARM = r"""
import json, statistics, sys, time
from pathlib import Path
from vidsearch.config import Settings
from vidsearch.search import Searcher
from vidsearch.storage import Database
queries = json.load(sys.stdin)
count = int(sys.argv[2])
settings = Settings(data_dir=Path(sys.argv[1]), result_cache_size=0)
searcher = Searcher(settings, Database(settings.resolved_database_url))
for query in queries[count:count + 100]:
    searcher.search(query)
totals = []
for query in queries[:count]:
    started = time.perf_counter()
    searcher.search(query)
    totals.append((time.perf_counter() - started) * 1000)
totals.sort()
print(json.dumps({"queries": count, "p50_ms": round(statistics.median(totals), 2),
                  "p99_ms": round(totals[int(0.99 * (count - 1))], 2)}))
"""


def vidsearch_command() -> list[str]:
    """The installed console script beside this interpreter (its `vidsearch`), as a user runs it."""
    script = Path(sys.executable).parent / "vidsearch"
    if not script.exists():
        sys.exit(f"no vidsearch console script at {script}: install vidsearch into this environment")
    return [str(script)]


def timed(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """One run: wall seconds around the child, and its CPU seconds and peak memory from wait4."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({child.returncode}): {errors.decode(errors='replace')}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        # KiB on Linux. A floor: the kernel counts the forked copy of this process before exec too.
        "peak_mib": usage.ru_maxrss / 1024,
    }


def summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": len(runs)}
    for key in runs[0]:
        values = [r[key] for r in runs]
        out[key] = {
            "median": round(statistics.median(values), 3),
            "min": round(min(values), 3),
            "max": round(max(values), 3),
        }
    out["wall_s_each"] = [round(r["wall_s"], 3) for r in runs]
    return out


def phases(library: Path, queries: list[str], runs: int, env: dict[str, str]) -> dict[str, Any]:
    """Each step's median over `runs` fresh processes."""
    found: list[dict[str, Any]] = []
    for i in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", PHASES, str(library), queries[i % len(queries)]],
            env=env,
            cwd=library,  # not a checkout's folder, whose vidsearch `-c` would import first
            capture_output=True,
            text=True,
            check=True,
        )
        found.append(json.loads(done.stdout.strip().splitlines()[-1]))
    steps = {step: round(statistics.median(f["steps_ms"][step] for f in found), 1) for step in found[0]["steps_ms"]}
    search = {
        stage: round(statistics.median(f["search_ms"].get(stage, 0.0) for f in found), 2)
        for stage in found[0]["search_ms"]
    }
    return {"steps_ms": steps, "search_stages_ms": search, "imported": found[-1]["imported"]}


def warm(library: Path, queries: list[str], count: int, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", WARM, str(library), str(count)],
        input=json.dumps(queries),
        env=env,
        cwd=library,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).date().isoformat(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=100_000)
    parser.add_argument("--library", type=Path, help="build the library here, or reuse the one built here before")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--phases", action="store_true", help="also time each step of a cold search from inside")
    parser.add_argument(
        "--warm", type=int, default=0, help="also time this many searches in one warm process (the server's path)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cold_start.json"))
    args = parser.parse_args()

    from vidsearch.config import Settings
    from vidsearch.storage.vectors import read_manifest

    queries = list(dict.fromkeys(corpus.eval_texts("tacos_dev_queries.jsonl", "query")))
    random.Random(3).shuffle(queries)
    with tempfile.TemporaryDirectory(prefix="vidsearch-cold-") as scratch:
        library = args.library or Path(scratch)
        settings = Settings(data_dir=library)
        manifest = read_manifest(settings.vector_dir)
        if manifest is None:
            from load_test import build_library  # needs the models (and torch): only to build a library

            started = time.perf_counter()
            build_library(settings, args.windows, embed=False)
            manifest = read_manifest(settings.vector_dir)
            print(f"library of {args.windows} windows built in {time.perf_counter() - started:.0f} s", flush=True)
        assert manifest is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSEARCH_")}
        env["VIDSEARCH_DATA_DIR"] = str(library)
        vidsearch = vidsearch_command()
        commands = {
            "search": lambda i: [*vidsearch, "search", queries[i % len(queries)]],
            "search --json": lambda i: [*vidsearch, "search", queries[i % len(queries)], "--json"],
            "status": lambda i: [*vidsearch, "status"],
            "--help": lambda i: [*vidsearch, "--help"],
        }
        results: dict[str, Any] = {}
        for name, command in commands.items():
            for i in range(args.warmup):
                timed(command(-1 - i), env)
            results[name] = summary([timed(command(i), env) for i in range(args.runs)])
            wall = results[name]["wall_s"]
            print(f"{name:14s} wall {wall['median']:.2f} s (min {wall['min']:.2f}, max {wall['max']:.2f})", flush=True)
        result: dict[str, Any] = {
            "vectors": manifest.vector_count,
            "index_type": manifest.index_type,
            "machine": machine(),
            # A child's peak memory reads no lower than this process's own at the fork (see timed()).
            "peak_floor_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "commands": results,
        }
        if args.phases:
            result["phases"] = phases(library, queries, args.runs, env)
        if args.warm:
            result["warm"] = warm(library, queries, min(args.warm, len(queries) - 100), env)
            print(f"warm searches p50 {result['warm']['p50_ms']} ms, p99 {result['warm']['p99_ms']} ms", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
