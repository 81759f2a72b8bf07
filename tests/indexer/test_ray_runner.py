"""The Ray runner on a real local Ray instance (2 CPUs) with the real packaged models: it must write
what the local runner writes, keep going past bad files, and be reachable from the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import IndexedLibrary, sharing_models
from vidsearch.cli import app
from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.search import Searcher
from vidsearch.storage import Database
from vidsearch.storage.schema import ModelRecord, TextEmbedding, VideoRecord, WindowRecord

pytestmark = pytest.mark.models

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_ray():
    # The workers import the test captioner from this repository's tests package.
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}},
    )
    yield
    ray.shutdown()


def library_rows(settings: Settings) -> dict[str, Any]:
    """Everything indexing stored, keyed by what it is rather than by row id."""
    db = Database(settings.resolved_database_url)
    out: dict[str, Any] = {}
    with db.session() as s:
        for video in s.scalars(select(VideoRecord).order_by(VideoRecord.path)):
            windows = s.scalars(
                select(WindowRecord).where(WindowRecord.video_id == video.id).order_by(WindowRecord.idx)
            ).all()
            texts = []
            vectors = []
            for window in windows:
                for text in window.texts:
                    model = s.get(ModelRecord, text.model_id) if text.model_id else None
                    texts.append((window.idx, text.kind, text.text, text.source, model.fingerprint if model else None))
                    blob = s.scalar(select(TextEmbedding.vector).where(TextEmbedding.text_id == text.id))
                    vectors.append(np.frombuffer(blob, dtype=np.float32))
            out[video.path] = {
                "status": video.status,
                "error": video.error,
                "pipeline": video.pipeline_fingerprint,
                "windows": [(w.start, w.end, w.error) for w in windows],
                "texts": texts,
                "vectors": np.stack(vectors) if vectors else np.zeros((0, 0)),
            }
    return out


def assert_same_library(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert sorted(got) == sorted(want)
    for path in want:
        g, w = got[path], want[path]
        assert {k: g[k] for k in ("status", "error", "pipeline", "windows", "texts")} == {
            k: w[k] for k in ("status", "error", "pipeline", "windows", "texts")
        }, path
        # The same texts embedded in other batches and threads: equal up to float rounding. The texts
        # about the whole video (its name, its description) are embedded when they are written, the
        # names in one batch in the order the videos were stored, which differs between the runners; the
        # embedder's CPU kernels round a little differently by a text's place in a batch (about 0.02
        # per component): those are the same direction.
        whole = np.array([t[1] in ("name", "description") for t in w["texts"]], dtype=bool)
        if len(whole):
            np.testing.assert_allclose(g["vectors"][~whole], w["vectors"][~whole], atol=1e-5)
            cosines = np.sum(g["vectors"][whole] * w["vectors"][whole], axis=1)
            assert np.all(cosines > 0.99), cosines


def searcher(settings: Settings, real_models) -> Searcher:
    return Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)


def test_ray_runner_writes_what_the_local_runner_writes(local_ray, indexed_demo: IndexedLibrary, real_models, tmp_path):
    from vidsearch.indexer.ray_runner import RayIndexer

    settings = Settings(data_dir=tmp_path / "data")
    report = RayIndexer(settings).run([indexed_demo.folder])
    assert report.failed == [] and len(report.indexed) == 3
    assert report.windows == indexed_demo.report.windows
    assert report.stage_seconds["speech"] > 0 and report.stage_seconds["embed"] > 0  # the workers' clocks
    assert report.ocr_calls == indexed_demo.report.ocr_calls
    assert report.label_calls == indexed_demo.report.label_calls > 0 and report.stage_seconds["labels"] > 0

    want = library_rows(indexed_demo.settings)
    assert_same_library(library_rows(settings), want)
    assert sum(len(v["texts"]) for v in want.values()) > 10

    # And so the same search results, from the index the driver built.
    for query in ("the rocket on the launch pad", "where she explains the budget"):
        ray_hits = searcher(settings, real_models).search(query, limit=3).results
        local_hits = searcher(indexed_demo.settings, real_models).search(query, limit=3).results
        assert [(m.path, m.start, m.end) for m in ray_hits] == [(m.path, m.start, m.end) for m in local_hits]


def test_ray_runner_from_the_cli_goes_past_a_bad_file(local_ray, real_models, tmp_path):
    library = tmp_path / "lib"
    make_video([Scene("text", 4, title="Harbour cranes at dawn")], library / "good.mp4", audio=False)
    (library / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    data = tmp_path / "data"
    args = ["index", str(library), "--ray", "local", "--data", str(data), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["indexed"] == [str((library / "good.mp4").resolve())]
    [failed] = report["failed"]
    assert failed["path"].endswith("broken.mp4") and failed["reason"]
    hits = searcher(Settings(data_dir=data), real_models).search("harbour cranes", limit=1).results
    assert hits and hits[0].path.endswith("good.mp4")

    # Run again: nothing changed, so nothing is sent to Ray and nothing is lost.
    again = json.loads(
        CliRunner().invoke(app, ["index", str(library), "--ray", "local", "--data", str(data), "--json"]).stdout
    )
    assert again["skipped"] == report["indexed"] and again["indexed"] == []


def test_ray_runner_captions_on_the_model_workers_as_the_local_runner_does(local_ray, real_models, tmp_path):
    make_video([Scene("hubble_deep_field", 6), Scene("text", 6)], tmp_path / "lib" / "sky.mp4", audio=False)
    common = {
        "captioner": "tests.indexer.test_captioner_seam:RecordingCaptioner",
        "caption_fps": 2.0,
        "caption_batch_size": 1,  # two windows: two batches, joined again by the driver
        "window_length": 6,
        "ocr": "none",
        "speech": "none",
        "visual_labels": "none",
    }
    local = Settings(data_dir=tmp_path / "local", **common)
    models = sharing_models(local, real_models)
    del models.ocr, models.speech  # use the settings ("none") for these two
    Indexer(local, models=models).run([tmp_path / "lib"])

    from vidsearch.indexer.ray_runner import RayIndexer

    on_ray = Settings(data_dir=tmp_path / "ray", **common)
    report = RayIndexer(on_ray).run([tmp_path / "lib"])
    assert report.failed == [] and report.windows == 2
    got, want = library_rows(on_ray), library_rows(local)
    assert_same_library(got, want)
    [video] = want.values()
    # Both windows captioned on the caption worker, each text tied to the captioner's model record.
    kinds = [(t[0], t[1]) for t in video["texts"] if t[1] not in ("name", "description")]
    assert kinds == [(0, "caption"), (1, "caption")]
    assert video["texts"][0][2] == "a dark night sky full of stars" and video["texts"][0][4] is not None


def test_cli_says_what_ray_takes_when_it_is_given_a_path(tmp_path):
    (tmp_path / "a").mkdir()
    result = CliRunner().invoke(app, ["index", "--ray", str(tmp_path / "a"), str(tmp_path), "--data", str(tmp_path)])
    assert result.exit_code != 0
    assert "--ray takes a Ray address" in result.output and "local, auto" in result.output


def test_a_model_that_cannot_load_on_the_workers_stops_the_run_and_touches_nothing(local_ray, tmp_path):
    from vidsearch.errors import ModelLoadError
    from vidsearch.indexer.ray_runner import RayIndexer

    make_video([Scene("rocket", 3)], tmp_path / "lib" / "a.mp4", audio=False)
    settings = Settings(
        data_dir=tmp_path / "data", captioner="apollo", captioner_model=str(tmp_path / "missing"), speech="none"
    )
    with pytest.raises(ModelLoadError, match=r"cannot load the captioner: Apollo snapshot .* does not exist"):
        RayIndexer(settings).run([tmp_path / "lib"])
    db = Database(settings.resolved_database_url)
    assert db.status_counts() == {} and db.failed_videos() == []
