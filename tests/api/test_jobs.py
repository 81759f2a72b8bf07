"""Library folders and index jobs over HTTP, with the real things: jobs run in their own processes with
the real packaged models over synthesised videos; admin and reading keys; allowed roots and attempts to
leave them; a job cancelled while it reads a file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vidsearch.api import create_app
from vidsearch.api.security import ApiKeyStore
from vidsearch.config import Settings
from vidsearch.media.synthesize import Scene, make_video
from vidsearch.search import Searcher
from vidsearch.storage import Database

pytestmark = pytest.mark.models

JOB_SECONDS = 240  # a job's process loads its models and indexes a few short videos within this


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("job-videos")
    made = {
        "short": folder / "a_short.mp4",
        "long": folder / "b_long.mp4",
    }
    make_video([Scene("rocket", 2, subtitle="Lift off at dawn")], made["short"], audio=False)
    # 24 s of changing titles: read frame by frame (ocr_dedup_threshold 0), several seconds of work.
    scenes = [Scene(name, 4, title=f"SCENE {i} {name.upper()}") for i, name in enumerate(("coffee", "chelsea") * 3)]
    make_video(scenes, made["long"], audio=False)
    return made


def job_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "speech": "none",
        "visual_labels": "none",
        "ocr_dedup_threshold": 0.0,
        "ocr_fps": 2.0,
        "library_allowed_roots": [tmp_path / "allowed"],
        "rate_limit": "10000/minute",  # the tests poll
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture
def setup(tmp_path: Path, real_models) -> Iterator[tuple[TestClient, Settings]]:
    (tmp_path / "allowed").mkdir()
    settings = job_settings(tmp_path)
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        yield client, settings


def wait_job(client: TestClient, job_id: str, until: set[str], seconds: float = JOB_SECONDS, **headers: str) -> dict:
    started = time.monotonic()
    while True:
        job = client.get(f"/jobs/{job_id}", headers=headers).json()
        if job["state"] in until:
            return job
        assert job["state"] in {"queued", "waiting", "running"}, job
        assert time.monotonic() - started < seconds, job
        time.sleep(0.2)


def test_folder_registration_stays_inside_the_allowed_roots(setup, tmp_path):
    client, _ = setup
    allowed = tmp_path / "allowed"
    (allowed / "cameras" / "front").mkdir(parents=True)
    outside = tmp_path / "private"
    outside.mkdir()
    (allowed / "escape").symlink_to(outside, target_is_directory=True)
    (allowed / "note.txt").write_text("not a folder")

    refused = {
        str(outside): 403,
        str(allowed / ".." / "private"): 403,  # traversal, resolved before the check
        str(allowed / "escape"): 403,  # a symlink out of the root
        "/etc": 403,
        "/": 403,
        "cameras/front": 422,  # relative: no base to resolve it against
        str(allowed / "no-such"): 404,
        str(allowed / "note.txt"): 422,
        str(allowed) + "/\x00etc": 422,
    }
    for path, code in refused.items():
        response = client.post("/folders", json={"path": path})
        assert response.status_code == code, (path, response.json())
        assert set(response.json()) == {"detail"}

    added = client.post("/folders", json={"path": str(allowed / "cameras" / ".." / "cameras" / "front")})
    assert added.status_code == 201
    assert added.json() == {"path": str((allowed / "cameras" / "front").resolve()), "videos": 0}
    listed = client.get("/folders").json()
    assert listed["allowed_roots"] == [str(allowed.resolve())]
    assert [f["path"] for f in listed["folders"]] == [str((allowed / "cameras" / "front").resolve())]
    assert client.get("/folders").status_code == 200

    # A folder never registered cannot be scanned; a malformed or unknown job id names nothing.
    assert client.post("/jobs", json={"folder": str(outside)}).status_code == 404
    assert client.get("/jobs/..%2F..%2Fapi_keys").status_code in (404, 422)
    assert client.get("/jobs/not-a-job-id").status_code == 422
    assert client.get("/jobs/0123456789ab").status_code == 404


def test_no_allowed_roots_means_no_folder_over_http(tmp_path, real_models):
    settings = job_settings(tmp_path, library_allowed_roots=[])
    searcher = Searcher(settings, Database(settings.resolved_database_url), real_models.embedder)
    with TestClient(create_app(settings, searcher=searcher)) as client:
        response = client.post("/folders", json={"path": str(tmp_path)})
        assert response.status_code == 403 and "library_allowed_roots" in response.json()["detail"]
        assert client.get("/folders").json()["allowed_roots"] == []


def test_the_routes_need_an_admin_key_once_keys_exist(setup):
    client, settings = setup
    keys = ApiKeyStore(settings.data_dir)
    reader = keys.create("reader")
    admin = keys.create("ops", admin=True)
    assert keys.roles() == {"reader": "read", "ops": "admin"}
    for method, url, body in [
        ("GET", "/folders", None),
        ("POST", "/folders", {"path": str(settings.library_allowed_roots[0])}),
        ("GET", "/jobs", None),
        ("POST", "/jobs", {}),
        ("GET", "/jobs/0123456789ab", None),
        ("POST", "/jobs/0123456789ab/cancel", None),
    ]:
        assert client.request(method, url, json=body).status_code == 401, url
        assert client.request(method, url, json=body, headers={"X-API-Key": "vs_wrong"}).status_code == 401, url
        assert client.request(method, url, json=body, headers={"X-API-Key": reader}).status_code == 403, url
    # A reading key still searches; the admin key does everything.
    assert client.get("/videos", headers={"X-API-Key": reader}).status_code == 200
    assert client.get("/folders", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    assert client.get("/jobs", headers={"X-API-Key": admin}).json() == []


def test_a_scan_started_over_http_indexes_the_folder_and_reports_progress(setup, videos, tmp_path):
    client, _ = setup
    folder = tmp_path / "allowed" / "launches"
    folder.mkdir()
    (folder / "launch.mp4").write_bytes(videos["short"].read_bytes())
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    assert client.post("/folders", json={"path": str(folder)}).status_code == 201

    started = client.post("/jobs", json={"folder": str(folder)})
    assert started.status_code == 202, started.json()
    job = started.json()
    assert job["state"] in {"queued", "waiting", "running"} and job["folders"] == [str(folder.resolve())]
    done = wait_job(client, job["id"], {"done", "failed"})
    assert done["state"] == "done", done
    assert (done["indexed"], done["files_total"], done["files_done"]) == (1, 2, 2)
    assert done["failed"] == [{"path": str((folder / "broken.mp4").resolve()), "reason": done["failed"][0]["reason"]}]
    assert "not a readable media container" in done["failed"][0]["reason"]
    assert done["media_seconds"] == pytest.approx(2.0, abs=0.2) and done["realtime"] > 0
    assert done["generation"] >= 1 and done["finished_at"]
    assert [j["id"] for j in client.get("/jobs").json()] == [job["id"]]
    assert client.get("/jobs", params={"active": True}).json() == []

    results = client.get("/search", params={"q": "lift off at dawn"}).json()["results"]
    assert results and results[0]["path"] == str((folder / "launch.mp4").resolve())
    # Scanning every library folder (no folder named) finds nothing new.
    again = wait_job(client, client.post("/jobs", json={}).json()["id"], {"done", "failed"})
    assert (again["state"], again["indexed"], again["skipped"]) == ("done", 0, 1)


def test_a_job_cancelled_mid_file_loses_nothing(setup, videos, tmp_path):
    client, settings = setup
    folder = tmp_path / "allowed" / "archive"
    folder.mkdir()
    for video in videos.values():
        (folder / video.name).write_bytes(video.read_bytes())
    assert client.post("/folders", json={"path": str(folder)}).status_code == 201
    job_id = client.post("/jobs", json={"folder": str(folder)}).json()["id"]

    long_one = str((folder / "b_long.mp4").resolve())
    deadline = time.monotonic() + JOB_SECONDS
    while True:  # the short video stored, the long one being read
        view = client.get(f"/jobs/{job_id}").json()
        assert view["state"] in {"queued", "waiting", "running"}, view
        if view["current"] == long_one and view["files_done"] == 1:
            break
        assert time.monotonic() < deadline, view
        time.sleep(0.05)
    assert view["files_total"] == 2 and view["eta_seconds"] is not None
    cancelled = client.post(f"/jobs/{job_id}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["cancel_requested"]
    final = wait_job(client, job_id, {"cancelled", "done", "failed"}, 60)
    assert final["state"] == "cancelled", final
    assert (final["files_done"], final["indexed"]) == (1, 1)  # the short video, stored before the cancel

    db = Database(settings.resolved_database_url)
    short = db.video_by_path(str((folder / "a_short.mp4").resolve()))
    assert short is not None and short.status == "done"
    long_video = db.video_by_path(long_one)
    assert long_video is None or long_video.status != "done"
    # What was stored before the cancel is served: the job published a generation for it.
    results = client.get("/search", params={"q": "lift off at dawn"}).json()["results"]
    assert [r["path"] for r in results][:1] == [short.path]
    assert client.post(f"/jobs/{job_id}/cancel").json()["state"] == "cancelled"  # finished: left alone

    # The next scan takes up the long video and leaves the short one as it was.
    windows_before = len(db.video_detail(short.id).windows)
    again = wait_job(client, client.post("/jobs", json={"folder": str(folder)}).json()["id"], {"done", "failed"})
    assert (again["state"], again["indexed"], again["skipped"]) == ("done", 1, 1), again
    assert db.video_by_path(long_one).status == "done"
    assert len(db.video_detail(short.id).windows) == windows_before
    found = client.get("/search", params={"q": "scene 3 chelsea"}).json()["results"]
    assert found and found[0]["path"] == long_one


def test_old_job_records_are_pruned_but_never_an_active_one(tmp_path, monkeypatch):
    from vidsearch.indexer import jobs

    monkeypatch.setattr(jobs, "JOBS_KEPT", 3)
    store = jobs.JobStore(tmp_path)
    active = store.create(["/media"])  # queued: kept however old
    finished = []
    for _ in range(4):
        job = store.create(["/media"])
        job.state = jobs.DONE
        store.save(job)
        (store.folder / f"{job.id}.log").write_text("a log")
        finished.append(job.id)
        time.sleep(0.02)  # distinct modification times
    store.create(["/media"])
    kept = {p.stem for p in store.folder.glob("*.json")}
    assert active.id in kept and finished[-1] in kept and finished[0] not in kept
    assert not (store.folder / f"{finished[0]}.log").exists()
