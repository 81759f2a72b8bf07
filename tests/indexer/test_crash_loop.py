"""Crash loop: a real `vidsearch index` process is SIGKILLed at random moments (seeded, bounded in count
and time) and after every kill the data folder must be consistent: SQLite passes integrity_check, the
published vector index loads and verifies, no video is done without all its windows and vectors, and
the lock is free. A final uninterrupted run must then leave FAISS and SQL in exact agreement."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidsearch.config import Settings
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.storage import Database
from vidsearch.storage.vectors import load_generation, read_manifest

pytestmark = pytest.mark.models

KILLS = int(os.environ.get("VIDSEARCH_CRASH_KILLS", "30"))
TIME_BUDGET = float(os.environ.get("VIDSEARCH_CRASH_SECONDS", "900"))
PHOTOS = ["rocket", "coffee", "astronaut", "chelsea", "camera", "coins"]


def check_consistent(data: Path) -> None:
    db_file = data / "vidsearch.db"
    if not db_file.exists():
        return
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # A done video has windows, and every text it has has its vector: the indexer's, stored with the
        # video, and those about the whole video (its name, its description), each stored with its vector.
        bare = conn.execute(
            "SELECT count(*) FROM videos v WHERE v.status = 'done' AND NOT EXISTS "
            "(SELECT 1 FROM windows w WHERE w.video_id = v.id)"
        ).fetchone()[0]
        assert bare == 0
        unembedded = conn.execute(
            "SELECT count(*) FROM window_texts t JOIN windows w ON t.window_id = w.id "
            "JOIN videos v ON w.video_id = v.id WHERE v.status = 'done' AND NOT EXISTS "
            "(SELECT 1 FROM text_embeddings e WHERE e.text_id = t.id)"
        ).fetchone()[0]
        assert unembedded == 0
    if read_manifest(data / "vectors") is not None:
        load_generation(data / "vectors")  # checksum, count and dimension match: never half a file


def test_sigkill_at_random_points_never_corrupts_or_loses_finished_work(tmp_path):
    library = tmp_path / "lib"
    for i in range(16):
        make_video(
            [
                Scene(PHOTOS[i % 6], 4, title=f"CLIP {i}", subtitle=f"subtitle of clip {i}"),
                Scene(PHOTOS[(i + 1) % 6], 4, title=f"PART TWO {i}"),
            ],
            library / f"clip{i:02d}.mp4",
            audio=False,
        )
    data = tmp_path / "data"
    exe = str(Path(sys.executable).parent / "vidsearch")
    rng = random.Random(20261124)
    kills = completed = 0
    done_before: set[str] = set()
    started = time.monotonic()
    while kills < KILLS and time.monotonic() - started < TIME_BUDGET:
        window = "4" if (kills + completed) % 2 else "5"  # a changed setting: everything is work again
        proc = subprocess.Popen(
            [exe, "index", str(library), "--data", str(data), "--no-speech", "--window-length", window],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=rng.uniform(1.0, 9.0))
            completed += 1
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        check_consistent(data)
        # Finished work is never lost: a video done before a kill is still indexed (done or redone) after it.
        with sqlite3.connect(data / "vidsearch.db") as conn:
            indexed = {
                p
                for (p,) in conn.execute(
                    "SELECT v.path FROM videos v WHERE EXISTS (SELECT 1 FROM windows w WHERE w.video_id = v.id)"
                )
            }
        assert done_before <= indexed
        done_before = indexed
    assert kills >= KILLS, f"only {kills} kills in {TIME_BUDGET} s"

    final = subprocess.run(
        [exe, "index", str(library), "--data", str(data), "--no-speech", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert final.returncode == 0, final.stderr
    check_consistent(data)
    db = Database(Settings(data_dir=data).resolved_database_url)
    assert db.status_counts() == {"done": 16}
    index = load_generation(data / "vectors")
    assert index.size == db.count_texts() == index.manifest.vector_count
    ids = index.index.id_map if hasattr(index.index, "id_map") else None
    import faiss

    stored = faiss.vector_to_array(ids) if ids is not None else []
    assert len(db.text_hits(list(map(int, stored)))) == index.size  # every vector resolves to a stored text
    assert not list((data / "vectors").glob(".*.tmp"))
