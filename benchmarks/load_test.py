"""Load test of GET /search on loopback (not a test: prints figures, writes JSON).

Builds a library of --windows windows in a fresh data folder (or --library) without decoding video
(texts stored through the same storage layer, embedded with the packaged MiniLM when
--embed is given, else the mean of its two sentences' embeddings plus noise), starts `vidsearch serve`
in its own process, then sends GET /search from --clients concurrent connections for --seconds (at
most --requests requests) with wrk (`apt-get install wrk`), and reports throughput and latency
percentiles.

    .venv/bin/python benchmarks/load_test.py --windows 100000 --clients 8 --seconds 30 --workers 2

A window's text is two real sentences: the dev set's moment descriptions and the docstring sentences
of the installed packages (benchmarks/corpus.py: real word frequencies with their long tail of rare
words). Requests are the dev set's queries and held-out docstring sentences, in turn, with the
server's caches off, so that every request is a whole search; --repeat N draws them from N queries
with the caches on instead (what the caches are for)."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import corpus  # benchmarks/corpus.py: run as a script, its folder is on the path
import httpx
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vidsearch.config import Settings
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.models.loader import ModelSet
from vidsearch.storage.database import Database, FileState, NewText
from vidsearch.storage.vectors import read_manifest

HELD_OUT = 3000  # docstring sentences kept out of the library, to be asked as queries


def library_sentences() -> tuple[corpus.Sentences, list[str]]:
    """(the sentences windows are made of, the queries): the dev set's moment descriptions and the
    installed packages' docstring sentences; queries are the dev set's queries and held-out docstring
    sentences, alternately, each once (benchmarks/corpus.py)."""
    segments = corpus.eval_texts("tacos_dev_segments.jsonl", "text")
    pool, held_out = corpus.split(corpus.embedded("docstrings", corpus.docstring_sentences()), HELD_OUT, seed=5)
    dev = corpus.embedded("tacos_segments", segments)
    sentences = corpus.Sentences(pool.texts + dev.texts, np.concatenate([pool.vectors, dev.vectors]))
    asked = list(dict.fromkeys(corpus.eval_texts("tacos_dev_queries.jsonl", "query")))
    random.Random(11).shuffle(asked)
    queries = [q for pair in zip(asked, held_out.texts, strict=False) for q in pair]
    return sentences, queries


def build_library(settings: Settings, windows: int, embed: bool) -> None:
    sentences, _ = library_sentences()
    db = Database(settings.resolved_database_url)
    embedder = ModelSet(settings).embedder
    embedder_id = db.model_record(embedder.spec)
    rng = np.random.default_rng(7)
    per_video = 360  # an hour of 10 s windows
    for start in range(0, windows, per_video):
        count = min(per_video, windows - start)
        path = f"/archive/reel-{start // per_video:05d}.mp4"
        video_id = db.begin_video(FileState(path, 1, 1.0), path)
        picks = rng.integers(0, len(sentences.texts), size=(count, 2))
        texts = [NewText(i, "speech", " ".join(sentences.texts[j] for j in pick), None) for i, pick in enumerate(picks)]
        if embed:
            vectors = embedder.embed([t.text for t in texts])
        else:
            # A window's vector is the normalised sum of its two sentences' real vectors (a mean-pooled
            # model embeds the two together about so), for the cost of embedding each sentence once.
            raw = sentences.vectors[picks].sum(axis=1)
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
    rebuild_vector_index(db, embedder, settings.vector_dir, family=settings.vector_index)
    db.close()


# wrk drives the load: a C client on epoll that costs the shared 2 cores little (a Python client of 8
# threads took a large share of them from the server). Each request is the next query in the list;
# the run stops at the time limit or after the count, whichever comes first.
WRK_SCRIPT = """
local paths = {%(paths)s}
local limit = %(limit)d
local headers = {%(headers)s}
local next_path, answered = 0, 0
request = function()
  next_path = next_path %% #paths + 1
  return wrk.format("GET", paths[next_path], headers)
end
-- Per-thread sums of the server's own step timings (its Server-Timing header), read back in done().
stages, timed = {}, 0
local threads = {}
setup = function(thread) table.insert(threads, thread) end
response = function(status, headers, body)
  answered = answered + 1
  local timing = headers["Server-Timing"] or headers["server-timing"]
  if timing then
    timed = timed + 1
    for step, ms in string.gmatch(timing, "([%%w_]+);dur=([%%d.]+)") do
      stages[step] = (stages[step] or 0) + tonumber(ms)
    end
  end
  if answered >= limit then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local sums, count, parts = {}, 0, {}
  for _, thread in ipairs(threads) do
    count = count + thread:get("timed")
    for step, total in pairs(thread:get("stages")) do sums[step] = (sums[step] or 0) + total end
  end
  for step, total in pairs(sums) do
    table.insert(parts, string.format('"%%s": %%.2f', step, total / count))
  end
  io.write("\\nSTAGES {" .. table.concat(parts, ", ") .. "}\\n")
  io.write(string.format(
    '\\nRESULT {"requests": %%d, "errors": %%d, "seconds": %%.2f, "p50_ms": %%.2f, "p95_ms": %%.2f, ' ..
    '"p99_ms": %%.2f, "mean_ms": %%.2f}\\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, seconds,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.mean / 1e3))
end
"""


def hammer(
    base: str, clients: int, seconds: float, requests: int, queries: list[str], close: bool = False
) -> dict[str, float]:
    """GET /search for each query in turn from `clients` connections, by wrk; with `close`, each
    request on a connection of its own."""
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("this load test needs wrk (Debian/Ubuntu: apt-get install wrk)")
    paths = ", ".join(json.dumps("/search?" + urlencode({"q": q, "limit": 10})) for q in queries)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        headers = '["Connection"] = "close"' if close else ""
        script.write(WRK_SCRIPT % {"paths": paths, "limit": requests, "headers": headers})
        script.flush()
        command = [wrk, "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s", script.name]
        run = subprocess.run([*command, base], capture_output=True, text=True)
    if run.returncode != 0 or "RESULT " not in run.stdout:
        sys.exit(f"wrk failed ({run.returncode}): {run.stderr or run.stdout}")
    out = run.stdout
    figures = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    # Each step's mean in the server, from its Server-Timing headers.
    figures["server_ms"] = json.loads(out.split("STAGES ", 1)[1].splitlines()[0])
    figures["requests"] -= figures["errors"]
    figures["requests_per_second"] = round(figures["requests"] / figures["seconds"], 1)
    return figures


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by a process and its children, from /proc (Linux; NaN
    elsewhere): the server's cost per request, which depends less than throughput on how the clients'
    connections happen to be split between its worker processes."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended meanwhile
        pid, parent = int(stat.parent.name), int(fields[1])
        if root in (pid, parent):
            total += (int(fields[11]) + int(fields[12])) / tick
            found = True
    return total if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--embed", action="store_true", help="embed the texts with the real model (slow)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=1, help="vidsearch serve --workers")
    parser.add_argument(
        "--repeat", type=int, default=0, help="draw the requests from only this many queries (0: every query once)"
    )
    parser.add_argument(
        "--close",
        action="store_true",
        help="a new connection for every request (many users' traffic): the kernel then spreads requests "
        "over the worker processes, where a few long-lived connections are split between them by chance",
    )
    parser.add_argument("--library", type=Path, help="build the library here, or reuse the one built here before")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/load_test.json"))
    args = parser.parse_args()
    _, queries = library_sentences()
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
        if not args.repeat:
            # Fresh traffic: every request does the whole search, even once the list of queries wraps.
            env |= {"VIDSEARCH_RESULT_CACHE_SIZE": "0", "VIDSEARCH_QUERY_CACHE_SIZE": "0"}
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
            hammer(base, 2, 5, len(warm_up), warm_up)  # warm up on other queries
            used = cpu_seconds(server.pid)
            figures = hammer(base, args.clients, args.seconds, args.requests, queries, args.close)
            figures["server_cpu_ms_per_request"] = round(
                (cpu_seconds(server.pid) - used) * 1000 / max(1, figures["requests"]), 2
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "windows": args.windows,
        "clients": args.clients,
        "workers": args.workers,
        "distinct_queries": len(queries),
        "caches": "on" if args.repeat else "off",
        "connections": "one per request" if args.close else "kept alive",
        "cpu_count": os.cpu_count(),
        **figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
