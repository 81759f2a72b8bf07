"""Schemathesis generates requests from the OpenAPI schema (deterministically: derandomized, a fixed
seed) and checks every answer: no server error, only documented status codes and content types,
bodies that match their schema. Runs against the real app over a small indexed library."""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance, response_schema_conformance

from tests.conftest import sharing_models
from vidsearch.api import create_app
from vidsearch.config import Settings
from vidsearch.indexer import Indexer
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.search import Searcher
from vidsearch.storage import Database

pytestmark = pytest.mark.models
PICTURE_UPLOADS = {"POST /search/image"}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, real_models):
    root = tmp_path_factory.mktemp("fuzz")
    make_video([Scene("rocket", 3, title="FUZZ", subtitle="a subtitle")], root / "lib" / "a.mp4")
    config = Settings(data_dir=root / "data", speech="none", ocr="none", rate_limit="100000/minute")
    Indexer(config, models=sharing_models(config, real_models)).run([root / "lib"])
    app = create_app(config, searcher=Searcher(config, Database(config.resolved_database_url), real_models.embedder))
    with TestClient(app):  # runs the lifespan: the app's state is ready for schemathesis' own calls
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_route_answers_as_documented(api_schema):
    # schemathesis' pytest plugin does not run on pytest 9, so each operation's strategy is driven
    # by hypothesis directly; the checks are the same.
    checked = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            # A schema can say "a file" but not "a picture that decodes": an upload of arbitrary bytes is
            # valid to the schema and rightly refused (422 with the reason), so acceptance is not checked
            # there; every other check is.
            excluded = [positive_data_acceptance] if case.operation.label in PICTURE_UPLOADS else []
            case.call_and_validate(excluded_checks=excluded)

        check()
        checked.append(operation.label)
    assert {"GET /search", "POST /ask", "GET /videos/{video_id}/media", "GET /healthz", *PICTURE_UPLOADS} <= set(
        checked
    )


def test_invalid_requests_get_the_documented_error_shape(api_schema):
    """Requests that break the schema (schemathesis' negative mode) get 4xx answers whose bodies match
    the documented error schema, {"detail": "..."}, as every other error does."""
    checked = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.label not in {"GET /search", "POST /ask", "GET /videos/{video_id}"}:
            continue

        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @settings(
            max_examples=30, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            response = case.call()
            if response.status_code == 422:
                body = response.json()
                assert set(body) == {"detail"} and isinstance(body["detail"], str), body
            case.validate_response(response, checks=[response_schema_conformance])

        check()
        checked.append(operation.label)
    assert len(checked) == 3
