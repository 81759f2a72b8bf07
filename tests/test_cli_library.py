"""The command line on bad input and library changes: one clear line and a non-zero exit, never a
traceback; imports that publish a generation only when they change something."""

import json

import pytest
from typer.testing import CliRunner

from vidsearch.cli import app
from vidsearch.storage.vectors import read_manifest

pytestmark = pytest.mark.models
runner = CliRunner()


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_importing_a_file_that_does_not_exist_is_one_clear_line(tmp_path):
    result = runner.invoke(app, ["import", str(tmp_path / "does-not-exist.jsonl"), "--data", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert _lines(result.output) == [
        f"not imported {tmp_path / 'does-not-exist.jsonl'}: no such file",
        "imported 0 descriptions of 0 videos from 0 files; 0 new, 0 changed, 0 unchanged, 0 removed",
        "nothing changed: no new index generation",
    ]


def test_import_reports_each_bad_line_once_and_publishes_only_what_changed(tmp_path):
    data = tmp_path / "data"
    notes = tmp_path / "notes.jsonl"
    notes.write_text(
        json.dumps({"video": "reel-1", "start": 0, "end": 4, "text": "A barn burns"})
        + "\n"
        + json.dumps({"video": "reel-1", "start": 4, "text": "no end"})
        + "\n"
    )
    first = runner.invoke(app, ["import", str(notes), "--data", str(data)])
    assert first.exit_code == 0, first.output
    assert first.output.count("missing 'end'") == 1  # printed once, not by the library's log as well
    assert f"skipped {notes}:2: missing 'end' (seconds, a number)" in first.output
    assert "imported 1 description of 1 video from 1 file; 1 new, 0 changed, 0 unchanged, 0 removed" in first.output
    assert "known only by key (no file): reel-1" in first.output
    generation = read_manifest(data / "vectors").generation

    again = runner.invoke(app, ["import", str(notes), "--data", str(data)])
    assert again.exit_code == 0 and "0 new, 0 changed, 1 unchanged, 0 removed" in again.output
    assert "nothing changed: no new index generation" in again.output
    assert read_manifest(data / "vectors").generation == generation

    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_text('{"video": "x", "start": "soon", "end": 1, "text": "t"}\n')
    bad = runner.invoke(app, ["import", str(only_bad), "--data", str(data), "--source", "other"])
    assert bad.exit_code == 0 and "nothing changed" in bad.output
    assert read_manifest(data / "vectors").generation == generation

    listed = runner.invoke(app, ["import", "--list", "--data", str(data)])
    assert _lines(listed.output) == [f"       1  {notes.resolve()}"]
    removed = runner.invoke(app, ["import", "--remove", str(notes), "--data", str(data)])
    assert removed.exit_code == 0 and f"removed 1 imported row of {notes}" in removed.output
    assert read_manifest(data / "vectors").vector_count == 0
    unknown = runner.invoke(app, ["import", "--remove", "nothing.jsonl", "--data", str(data)])
    assert unknown.exit_code == 1 and "no import named 'nothing.jsonl'" in unknown.output


def test_index_of_a_path_that_does_not_exist_fails_with_one_line(tmp_path):
    result = runner.invoke(app, ["index", "/nosuchdir", "--data", str(tmp_path / "d")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert _lines(result.output) == ["error: no such file or folder: /nosuchdir"]
