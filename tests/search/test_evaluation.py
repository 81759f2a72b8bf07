"""The evaluation harness, on a tiny labelled set and on the shared TACoS dev set."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidsearch.cli import app
from vidsearch.config import Settings
from vidsearch.search.evaluation import evaluate

pytestmark = pytest.mark.models
KEYS = {"r1_iou50", "r5_iou50", "r10_iou50", "r1_iou70", "r5_iou70", "video_r1", "miou", "p50_ms", "p95_ms", "queries"}
DEV = Path(__file__).resolve().parents[2].parent / "shared" / "eval"


@pytest.fixture
def tiny_set(tmp_path):
    segments = [
        ("cook", 0, 10, "She takes a knife out of the drawer"),
        ("cook", 10, 20, "She slices the onion"),
        ("cook", 20, 30, "She fries the onion in a pan"),
        ("yard", 0, 15, "A dog runs across the lawn"),
    ]
    queries = [
        ("The woman gets a knife", "cook", 0, 10),
        ("onions are cut into slices", "cook", 10, 20),
        ("a puppy running on grass", "yard", 0, 15),
        ("cooking onions in oil", "cook", 20, 30),
    ]
    seg = tmp_path / "seg.jsonl"
    seg.write_text("\n".join(json.dumps({"video": v, "start": s, "end": e, "text": t}) for v, s, e, t in segments))
    qry = tmp_path / "q.jsonl"
    qry.write_text("\n".join(json.dumps({"query": q, "video": v, "start": s, "end": e}) for q, v, s, e in queries))
    return seg, qry


def test_metrics_on_a_tiny_set(tiny_set, real_models):
    metrics = evaluate(*tiny_set, Settings(), real_models.embedder)
    assert set(metrics) >= KEYS and metrics["queries"] == 4
    assert metrics["r1_iou50"] == 1.0 and metrics["video_r1"] == 1.0
    assert metrics["r1_iou50"] <= metrics["r5_iou50"] <= metrics["r10_iou50"]


def test_cli_eval_json(tiny_set):
    seg, qry = tiny_set
    result = CliRunner().invoke(app, ["eval", "--segments", str(seg), "--queries", str(qry), "--json"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) >= KEYS


@pytest.mark.skipif(not DEV.exists(), reason="the shared dev set (../shared/eval) is not beside this checkout")
def test_dev_set_runs_end_to_end(real_models):
    metrics = evaluate(
        DEV / "tacos_dev_segments.jsonl", DEV / "tacos_dev_queries.jsonl", Settings(), real_models.embedder, limit=300
    )
    assert metrics["queries"] == 300 and metrics["segments"] == 3123
    assert 0.2 < metrics["r5_iou50"] <= 1.0  # sanity, not a target: the full-set figures are in docs/evaluation.md
