"""The command line, in process (typer's runner) and once through the installed console script."""

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from vidsearch.cli import app
from vidsearch.config import Settings

pytestmark = pytest.mark.models
runner = CliRunner()


def test_search_json_is_the_public_shape(indexed_demo):
    result = runner.invoke(
        app, ["search", "grandma's apple pie", "-k", "2", "--json", "--data", str(indexed_demo.settings.data_dir)]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["query"] == "grandma's apple pie" and 1 <= len(body["results"]) <= 2 and body["note"] is None
    assert body["results"][0]["path"] == indexed_demo.path("home/kitchen.mp4")
    assert all(m["score"] >= Settings().min_relevance for m in body["results"])  # the default minimum
    assert "subtitle" in body["results"][0]["texts"]


def test_search_filters_and_pages_from_the_command_line(indexed_demo):
    data = str(indexed_demo.settings.data_dir)

    def run(*args):
        # Paging and filters over every moment, however weak: no minimum relevance.
        result = runner.invoke(
            app,
            ["search", "the rocket on the launch pad", "--json", "--data", data, *args],
            env={"VIDSEARCH_MIN_RELEVANCE": "0"},
        )
        assert result.exit_code == (0 if json.loads(result.stdout)["results"] else 1), result.output
        return json.loads(result.stdout)

    first_two = [(m["path"], m["start"]) for m in run("--limit", "2")["results"]]
    second = run("--limit", "1", "--offset", "1")
    assert second["offset"] == 1 and [(m["path"], m["start"]) for m in second["results"]] == first_two[1:]
    home = indexed_demo.path("home") + "/"
    body = run("--path", home, "--kind", "speech", "--min-duration", "1")
    assert body["filters"] == {"path_prefix": home, "kinds": ["speech"], "min_duration": 1.0}
    assert body["results"] and all(m["path"].startswith(home) and m["matched"] == ["speech"] for m in body["results"])
    assert run("--modified-before", "1990-01-01")["results"] == []
    bad = runner.invoke(app, ["search", "x", "--offset", "-3", "--data", data])
    assert bad.exit_code != 0 and "offset" in bad.output


def test_human_search_output_is_a_table(indexed_demo):
    result = runner.invoke(app, ["search", "launch pad", "--data", str(indexed_demo.settings.data_dir)])
    assert result.exit_code == 0 and "launch_day.mp4" in result.stdout and "0:00" in result.stdout


def test_index_rerun_is_all_skipped_and_status_reports(indexed_demo):
    data = str(indexed_demo.settings.data_dir)
    result = runner.invoke(app, ["index", str(indexed_demo.folder), "--data", data, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["indexed"] == [] and len(report["skipped"]) == 3 and report["generation"] is None
    status = json.loads(runner.invoke(app, ["status", "--data", data, "--json"]).stdout)
    assert status["videos"] == {"done": 3} and status["index"]["generation"] == 1
    assert status["index"]["embedder"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert status["job"]["running"] is False and status["job"]["files_total"] == 3


def test_index_reports_failures_by_file_and_reason(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "broken.mkv").write_bytes(b"\x1a\x45\xdf\xa3 definitely not matroska")
    args = ["index", str(tmp_path / "lib"), "--data", str(tmp_path / "data")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "failed 1" in result.stdout and "Not indexed" in result.stdout and "not a readable media" in result.stdout
    report = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    [failure] = report["failed"]
    assert failure["path"].endswith("broken.mkv") and "not a readable media container" in failure["reason"]


def test_search_with_nothing_indexed_explains(tmp_path):
    result = runner.invoke(app, ["search", "anything", "--data", str(tmp_path / "data")])
    assert result.exit_code == 1 and "index videos with `vidsearch index FOLDER`" in result.stderr
    assert "./vidsearch-data/library" in result.stderr  # where the quick start keeps its library
    assert not (tmp_path / "data").exists()  # a read made no empty library


@pytest.mark.parametrize("command", [["status"], ["suggest"], ["ask", "what?"], ["search", "x"], ["reindex"]])
def test_reading_commands_make_no_library_where_there_is_none(tmp_path, command):
    result = runner.invoke(app, [*command, "--data", str(tmp_path / "data")])
    assert result.exit_code == 1 and "no library in" in result.stderr
    assert not (tmp_path / "data").exists()


def test_console_script_end_to_end(indexed_demo):
    # The console script installed beside the interpreter running the tests (the venv need not be on PATH).
    exe = Path(sys.executable).parent / "vidsearch"
    assert exe.exists(), f"the vidsearch console script is not installed at {exe}"
    done = subprocess.run(
        [exe, "search", "LAUNCH PAD 39A", "--json", "-k", "1", "--data", str(indexed_demo.settings.data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [top] = json.loads(done.stdout)["results"]
    assert top["path"] == indexed_demo.path("space/launch_day.mp4") and top["start"] == 0


# Runs the command line in a fresh interpreter, then says which heavy libraries it imported.
IMPORTS_SCRIPT = """
import sys
from vidsearch.cli import app
from vidsearch.config import Settings
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = ("torch", "transformers", "sentence_transformers", "alembic", "av", "PIL", "fastapi")
print("IMPORTED", *[m for m in heavy if m in sys.modules], file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["search", "LAUNCH PAD 39A", "--json", "-k", "1"],
        ["status"],
        ["api-key", "list"],
        ["--help"],
        ["search", "--help"],
    ],
    ids=["search", "status", "api-key", "help", "search-help"],
)
def test_search_status_and_help_import_no_model_library(indexed_demo, args):
    """Indexing leaves what a search needs to embed its query without torch (models/query_encoder.py):
    a search imports neither torch, transformers nor sentence-transformers, and no command imports what
    it does not use: model libraries, Alembic (the database is at the newest schema), PyAV and Pillow
    (media), FastAPI (the server)."""
    data = ["--data", str(indexed_demo.settings.data_dir)] if args[-1] != "--help" else []
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_SCRIPT, *args, *data], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "IMPORTED", done.stderr
    if args[0] == "search" and "--help" not in args:
        [top] = json.loads(done.stdout)["results"]
        assert top["path"] == indexed_demo.path("space/launch_day.mp4") and top["start"] == 0


@pytest.fixture
def demo_data_copy(indexed_demo, tmp_path):
    """A private copy of the indexed demo's data folder, safe to damage."""
    copy = tmp_path / "data"
    shutil.copytree(indexed_demo.settings.data_dir, copy)
    return copy


def test_damaged_index_is_refused_then_rebuilt_by_reindex(demo_data_copy):
    manifest = json.loads((demo_data_copy / "vectors" / "current.json").read_text())
    index_file = demo_data_copy / "vectors" / manifest["file"]
    index_file.write_bytes(index_file.read_bytes()[:100])
    broken = runner.invoke(app, ["search", "launch pad", "--data", str(demo_data_copy)])
    assert broken.exit_code == 1 and "vidsearch reindex" in broken.stderr

    rebuilt = runner.invoke(app, ["reindex", "--data", str(demo_data_copy)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"{manifest['vector_count']} vectors" in rebuilt.stdout
    found = json.loads(runner.invoke(app, ["search", "launch pad", "--json", "--data", str(demo_data_copy)]).stdout)
    assert found["results"][0]["path"].endswith("launch_day.mp4")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_over_http(demo_data_copy, workers):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "vidsearch"
    server = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--data", str(demo_data_copy), "--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not start in 90 s"
                time.sleep(0.5)
        assert health.json()["videos"] == {"done": 3}
        body = httpx.get(f"{base}/search", params={"q": "harbor bridge closed", "limit": 1}, timeout=30).json()
        assert body["results"][0]["texts"]["ocr"] == "HARBOR BRIDGE CLOSED"
    finally:
        server.terminate()
        server.wait(timeout=30)
    # Each worker is its own process with the command line's settings (here, its data folder).
    log = server.stdout.read() if server.stdout else ""
    assert len(set(re.findall(r"Started server process \[(\d+)\]", log))) == workers, log


def test_ask_json(indexed_demo):
    result = runner.invoke(
        app, ["ask", "where does the cat watch birds?", "--json", "--data", str(indexed_demo.settings.data_dir)]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["mode"] == "extractive" and "birds" in body["answer"].lower()
    assert body["citations"][0]["path"] == indexed_demo.path("home/kitchen.mp4")


def test_index_with_a_broken_model_exits_with_one_clear_error(tmp_path, demo_dir):
    folder, _ = demo_dir
    result = runner.invoke(
        app,
        [
            "index",
            str(folder),
            "--data",
            str(tmp_path / "data"),
            "--captioner",
            "apollo",
            "--captioner-model",
            str(tmp_path / "no-snapshot"),
        ],
    )
    assert result.exit_code == 1
    assert "cannot load the captioner" in result.stderr and "Not indexed" not in result.stdout


def test_a_second_indexer_fails_fast_while_one_is_writing(tmp_path, demo_dir):
    from vidsearch.indexer.pipeline import writer_lock

    folder, _ = demo_dir
    data = tmp_path / "data"
    exe = str(Path(sys.executable).parent / "vidsearch")
    with writer_lock(data):  # this test process plays the running indexer
        started = time.monotonic()
        second = subprocess.run(
            [exe, "index", str(folder / "home"), "--data", str(data)], capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 1 and "another vidsearch indexer is writing" in second.stderr
        assert time.monotonic() - started < 60  # it did not wait for the lock
        reindex = subprocess.run([exe, "reindex", "--data", str(data)], capture_output=True, text=True, timeout=120)
        assert reindex.returncode == 1 and "another vidsearch indexer" in reindex.stderr
    after = subprocess.run(
        [exe, "index", str(folder / "home"), "--data", str(data), "--no-speech", "--no-ocr"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert after.returncode == 0, after.stderr


def test_serve_refuses_a_public_address_without_a_key(tmp_path):
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--data", str(tmp_path)])
    assert result.exit_code == 1 and "refusing to listen on 0.0.0.0 without an API key" in result.stderr


def test_api_key_commands(tmp_path):
    data = ["--data", str(tmp_path)]
    created = runner.invoke(app, ["api-key", "create", "desk", *data])
    assert created.exit_code == 0 and created.stdout.strip().startswith("vs_")
    assert runner.invoke(app, ["api-key", "list", *data]).stdout.split() == ["desk"]
    assert runner.invoke(app, ["api-key", "create", "desk", *data]).exit_code == 1
    admin = runner.invoke(app, ["api-key", "create", "ops", "--admin", *data])
    assert admin.exit_code == 0 and admin.stdout.strip().startswith("vs_")
    assert runner.invoke(app, ["api-key", "list", *data]).stdout.splitlines() == ["desk", "ops (admin)"]
    assert runner.invoke(app, ["api-key", "revoke", "desk", *data]).exit_code == 0
    assert runner.invoke(app, ["api-key", "revoke", "desk", *data]).exit_code == 1


def test_search_refuses_a_kind_that_does_not_exist(indexed_demo):
    result = runner.invoke(app, ["search", "rocket", "--kind", "video", "--data", str(indexed_demo.settings.data_dir)])
    assert result.exit_code == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()  # one line, however narrow the terminal
    assert "unknown kind of text 'video'" in line and "speech, ocr, subtitle, caption, annotation" in line


def test_a_relative_path_is_taken_from_the_current_folder(indexed_demo, monkeypatch):
    monkeypatch.chdir(indexed_demo.folder)
    args = ["search", "the rocket on the launch pad", "--json", "--data", str(indexed_demo.settings.data_dir)]
    # The home folder holds no rocket: every moment, however weak, so that the filter is what is tested.
    inside = json.loads(runner.invoke(app, [*args, "--path", "home/"], env={"VIDSEARCH_MIN_RELEVANCE": "0"}).stdout)
    home = indexed_demo.path("home") + "/"  # absolute, as the indexer stores it, and still a folder
    assert inside["filters"] == {"path_prefix": home}
    assert inside["results"] and all(m["path"].startswith(home) for m in inside["results"])
    monkeypatch.chdir(indexed_demo.folder / "space")
    here = json.loads(runner.invoke(app, [*args, "--path", "."]).stdout)
    assert {m["path"] for m in here["results"]} == {indexed_demo.path("space/launch_day.mp4")}


def test_an_empty_filtered_search_says_which_filter_emptied_it(indexed_demo):
    data = ["--data", str(indexed_demo.settings.data_dir)]
    nowhere = runner.invoke(app, ["search", "rocket", "--path", "/no/such/folder/", *data])
    # Exit 1 when nothing is found, as grep does: a script can tell "no match" from a match and an error.
    assert nowhere.exit_code == 1 and nowhere.stdout.strip() == "no results: no video path starts with /no/such/folder/"
    untagged = runner.invoke(app, ["search", "rocket", "--tag", "holiday", "--json", *data])
    assert untagged.exit_code == 1  # stdout stays JSON, with the reason in it
    assert json.loads(untagged.stdout)["results"] == []
    assert json.loads(untagged.stdout)["note"] == "no window is tagged 'holiday'"
    assert "no results: no window is tagged 'holiday'" in untagged.stderr


def test_a_query_with_nothing_close_enough_answers_no_results(indexed_demo):
    data = ["--data", str(indexed_demo.settings.data_dir)]
    # No text holds every word (a text that does is a result whatever its score: a description quoting
    # "rocket" and "LAUNCH PAD" would be).
    query = "a rocket over the harbor bridge"
    strict = runner.invoke(app, ["search", query, *data], env={"VIDSEARCH_MIN_RELEVANCE": "9"})
    assert strict.exit_code == 1
    assert strict.stdout.startswith("no results: nothing in the library is close to this query (the closest scored")
    assert "below the minimum relevance 9; VIDSEARCH_MIN_RELEVANCE sets it" in " ".join(strict.stdout.split())


def test_suggest_prints_searches_that_find_their_videos(indexed_demo):
    data = ["--data", str(indexed_demo.settings.data_dir)]
    suggested = runner.invoke(app, ["suggest", "--count", "3", "--json", *data])
    assert suggested.exit_code == 0, suggested.output
    suggestions = json.loads(suggested.stdout)
    assert len(suggestions) == 3 and len({s["path"] for s in suggestions}) == 3  # one per video
    plain = runner.invoke(app, ["suggest", "-n", "3", *data]).stdout
    assert plain.splitlines() == [s["query"] for s in suggestions]
    for suggestion in suggestions:
        assert 2 <= len(suggestion["query"].split()) <= 4
        found = json.loads(runner.invoke(app, ["search", suggestion["query"], "-k", "3", "--json", *data]).stdout)
        assert suggestion["path"] in [m["path"] for m in found["results"]], suggestion


def test_suggest_on_an_empty_library_says_there_is_nothing_yet(tmp_path):
    from vidsearch.storage import Database

    Database(f"sqlite:///{tmp_path / 'data' / 'vidsearch.db'}").close()  # a library with nothing in it
    result = runner.invoke(app, ["suggest", "--data", str(tmp_path / "data")])
    assert result.exit_code == 0 and result.stdout == "" and "nothing to suggest" in result.stderr


def _commands(group, path=()):
    import typer.main

    command = typer.main.get_command(group) if not path else group
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name), sub
        yield from _commands(sub, (*path, name))


def test_every_command_help_reads_well():
    commands = list(_commands(app))
    assert {("search",), ("suggest",), ("index",), ("api-key", "revoke")} <= {p for p, _ in commands}
    for path, command in [((), None), *commands]:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        # No Python types (<list[Path]>, <bool>) nor strptime formats: metavars a person can read.
        assert not re.search(r"<[a-z]+(\[\w+\])?>|%Y", result.stdout), (path, result.stdout)
        for param in getattr(command, "params", []):
            assert param.help, f"{' '.join(path)}: {param.name} has no help text"
    search_help = runner.invoke(app, ["search", "--help"], env={"COLUMNS": "200"}).stdout
    assert "--recorded-after" in search_help and "YYYY-MM-DD" in search_help
    assert "speech, ocr, subtitle, caption, annotation" in search_help


def test_index_writes_plain_progress_lines_when_stderr_is_not_a_terminal(tmp_path):
    from vidsearch.media.synthesize import Scene, make_video

    make_video([Scene("rocket", 2, subtitle="Countdown begins")], tmp_path / "lib" / "tiny.mp4", audio=False)
    args = ["index", str(tmp_path / "lib"), "--data", str(tmp_path / "data"), "--no-speech", "--no-ocr", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["indexed"]  # stdout is the JSON report alone
    assert re.search(r"^videos · tiny\.mp4: 1/1 \(\d+s elapsed\)$", result.stderr, re.MULTILINE), result.stderr


def test_a_relative_path_that_only_an_imported_key_matches_is_taken_as_written(demo_data_copy, tmp_path, monkeypatch):
    notes = tmp_path / "notes.jsonl"
    notes.write_text(json.dumps({"video": "reel-7", "start": 0, "end": 5, "text": "A barn burns at dusk"}) + "\n")
    assert runner.invoke(app, ["import", str(notes), "--data", str(demo_data_copy)]).exit_code == 0
    monkeypatch.chdir(tmp_path)  # no reel-* here: the words can only be the start of a key
    args = ["search", "fire on a farm", "--path", "reel-", "--json", "--data", str(demo_data_copy)]
    body = json.loads(runner.invoke(app, args).stdout)
    assert body["filters"] == {"path_prefix": "reel-"} and [m["path"] for m in body["results"]] == ["reel-7"]


def test_a_list_setting_that_is_not_json_is_one_clear_line(tmp_path):
    env = {"VIDSEARCH_LIBRARY_ALLOWED_ROOTS": "/media"}
    result = runner.invoke(app, ["status", "--data", str(tmp_path)], env=env)
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "library_allowed_roots" in said and "written as JSON" in said and "Traceback" not in said
