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
    report = json.loads(result.stdout)
    assert set(report["sets"]["seg"]) >= KEYS and report["mean"]["r1_iou50"] == report["sets"]["seg"]["r1_iou50"]


def test_cli_eval_compares_variants_and_counts_nonsense_answered_empty(tiny_set, tmp_path):
    seg, qry = tiny_set
    variants = tmp_path / "variants.json"
    variants.write_text(json.dumps({"default": {}, "lenient": {"min_relevance": 0}, "strict": {"min_relevance": 5.0}}))
    nonsense = tmp_path / "nonsense.txt"
    nonsense.write_text("qzx vlorp trindle\nthe orbit of jupiter's moons\n")
    args = ["eval", "--segments", str(seg), "--queries", str(qry), "--variants", str(variants)]
    result = CliRunner().invoke(app, [*args, "--nonsense", str(nonsense), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # The default minimum relevance answers both nonsense queries empty and keeps every right answer.
    assert report["default"]["sets"]["seg"]["r1_iou50"] == 1.0 and report["default"]["mean"]["nonsense_empty"] == 1.0
    assert report["lenient"]["mean"]["nonsense_empty"] == 0.0
    strict = report["strict"]["sets"]["seg"]
    assert strict["empty"] == 1.0 and strict["r1_iou50"] == 0.0 and strict["nonsense_empty"] == 1.0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--segments", "SEG"], "--segments and --queries go together"),
        (["--sets", "NOWHERE"], "holds no NAME_segments.jsonl"),
        (["--segments", "SEG", "--queries", "NOWHERE/q.jsonl"], "no such file: NOWHERE/q.jsonl"),
        ([], "give --sets DIR"),
        (["--segments", "SEG", "--queries", "QRY", "--variants", "BAD"], "unknown settings no_such_setting"),
    ],
)
def test_cli_eval_refuses_bad_input_in_one_line(tiny_set, tmp_path, args, message):
    seg, qry = tiny_set
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x": {"no_such_setting": 1}}))
    nowhere = str(tmp_path / "nowhere")
    swap = {"SEG": str(seg), "QRY": str(qry), "NOWHERE": nowhere, "BAD": str(bad)}
    args = [next((a.replace(k, v) for k, v in swap.items() if k in a), a) for a in args]
    result = CliRunner().invoke(app, ["eval", *args])
    assert result.exit_code != 0
    assert message.replace("NOWHERE", nowhere) in result.output.replace("\n", "")


@pytest.mark.skipif(not DEV.exists(), reason="the shared dev set (../shared/eval) is not beside this checkout")
def test_both_dev_sets_are_scored_in_one_run_with_their_mean():
    result = CliRunner().invoke(app, ["eval", "--sets", str(DEV), "--limit", "100", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["sets"]) == {"anet_dev", "tacos_dev"}
    tacos, anet = report["sets"]["tacos_dev"], report["sets"]["anet_dev"]
    assert tacos["queries"] == anet["queries"] == 100
    assert report["mean"]["r5_iou50"] == round((tacos["r5_iou50"] + anet["r5_iou50"]) / 2, 4)


@pytest.mark.skipif(not DEV.exists(), reason="the shared dev set (../shared/eval) is not beside this checkout")
def test_dev_set_runs_end_to_end(real_models):
    metrics = evaluate(
        DEV / "tacos_dev_segments.jsonl", DEV / "tacos_dev_queries.jsonl", Settings(), real_models.embedder, limit=300
    )
    assert metrics["queries"] == 300 and metrics["segments"] == 3123
    assert 0.2 < metrics["r5_iou50"] <= 1.0  # sanity, not a target: the full-set figures are in docs/evaluation.md
