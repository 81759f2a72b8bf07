"""GET /metrics over the indexed demo library, parsed with prometheus-client's own parser."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from vidsearch.api import create_app
from vidsearch.api.security import ApiKeyStore
from vidsearch.indexer import totals as index_totals
from vidsearch.search import Searcher
from vidsearch.storage import Database

pytestmark = pytest.mark.models


def scrape(client: TestClient, **headers: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples, name: str, **labels: str) -> float:
    return sum(v for found, v in samples.get(name, []) if all(found.get(k) == w for k, w in labels.items()))


def test_metrics_scrape_counts_requests_latency_and_the_library(indexed_demo, real_models):
    settings = indexed_demo.settings
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        before = scrape(client)
        for query in ("harbor bridge closed", "a cat on a sofa"):
            assert client.get("/search", params={"q": query}).status_code == 200
        assert client.post("/ask", json={"question": "what is closed?", "k": 2}).status_code == 200
        assert client.get("/videos/999999").status_code == 404
        assert client.get("/no/such/route").status_code == 404
        after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("vidsearch_http_requests_total", route="/search", method="GET", status="200") == 2
    assert grew("vidsearch_http_requests_total", route="/ask", method="POST", status="200") == 1
    # The route's template, never the id: ids would make a label per video.
    assert grew("vidsearch_http_requests_total", route="/videos/{video_id}", status="404") == 1
    assert grew("vidsearch_http_requests_total", route="unmatched", status="404") == 1
    assert grew("vidsearch_http_request_duration_seconds_count", route="/search") == 2
    assert grew("vidsearch_http_request_duration_seconds_count", route="/ask") == 1
    assert grew("vidsearch_http_request_duration_seconds_sum", route="/search") > 0
    infinite = value(after, "vidsearch_http_request_duration_seconds_bucket", route="/search", le="+Inf")
    assert infinite == value(after, "vidsearch_http_request_duration_seconds_count", route="/search")

    # The library as the data folder says, at the time of the scrape.
    db = Database(settings.resolved_database_url)
    assert value(after, "vidsearch_videos", status="done") == db.status_counts()["done"] == 3
    assert value(after, "vidsearch_index_generation") >= 1
    assert value(after, "vidsearch_index_vectors") == db.count_texts()
    assert value(after, "vidsearch_windows") == sum(n for _, n in db.list_videos())
    # The session's index run, added up by the indexer itself.
    totals = index_totals.read(settings.data_dir)
    assert totals.files_indexed >= 3
    assert value(after, "vidsearch_index_files_total", outcome="indexed") == totals.files_indexed
    assert value(after, "vidsearch_index_video_seconds_total") == pytest.approx(totals.video_seconds)
    assert value(after, "vidsearch_index_video_seconds_total") >= indexed_demo.report.media_seconds > 0
    assert value(after, "vidsearch_index_failures_total", reason="not_video") == totals.failures.get("not_video", 0)
    assert value(after, "vidsearch_index_job_running") == 0


def test_metrics_need_a_key_once_keys_exist(tmp_path, indexed_demo, real_models):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(indexed_demo.settings.data_dir, data)
    settings = indexed_demo.settings.model_copy(update={"data_dir": data})
    token = ApiKeyStore(data).create("prometheus")
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        assert client.get("/metrics").status_code == 401
        samples = scrape(client, Authorization=f"Bearer {token}")
        assert value(samples, "vidsearch_http_requests_total", route="/metrics", status="401") == 1


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("not a readable media container (Invalid data found when processing input)", "not_video"),
        ("file is empty (0 bytes)", "not_video"),
        ("video data is damaged or truncated: near 3.0s", "damaged"),
        ("cannot read file: Permission denied", "unreadable"),
        ("file changed while it was being indexed; it will be retried next run", "changed_while_indexing"),
        ("internal error: ValueError: boom", "internal"),
        ("something new", "other"),
    ],
)
def test_failure_reasons_fall_into_a_few_kinds(reason, kind):
    assert index_totals.failure_kind(reason) == kind
