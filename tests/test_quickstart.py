"""scripts/quickstart.sh with a folder of one's own, end to end with the real CLI and models: it indexes
the folder into a data folder apart from the demo's and prints searches drawn from what was indexed.

The script runs from a copy of the repository's scripts with the setup step stubbed (it would install
system packages and a virtual environment) and .venv/bin/vidsearch running the code under test."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import vidsearch
from vidsearch.media.synthesize import Scene, make_video

pytestmark = pytest.mark.models

ROOT = Path(__file__).resolve().parents[1]
CODE = Path(vidsearch.__file__).resolve().parents[1]  # the vidsearch being tested


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository checkout as far as quickstart.sh is concerned."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    script = repo / "scripts" / "quickstart.sh"
    script.write_text((ROOT / "scripts" / "quickstart.sh").read_text())
    setup = repo / "scripts" / "setup.sh"
    setup.write_text("#!/bin/sh\necho 'setup: nothing to do (test)'\n")
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    launcher = venv_bin / "vidsearch"
    cli = "from vidsearch.cli import app; app(prog_name='vidsearch')"
    launcher.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(CODE))} exec {shlex.quote(sys.executable)} -c {shlex.quote(cli)} "
        '"$@"\n'
    )
    for path in (script, setup, launcher):
        path.chmod(0o755)
    return repo


def test_quickstart_with_a_folder_prints_searches_from_it_and_keeps_its_own_data(repo, tmp_path):
    videos = tmp_path / "my videos"
    make_video(
        [
            Scene(
                "rocket",
                6,
                title="LIGHTHOUSE OPEN DAY",
                subtitle="The keeper repaints the lantern room every spring",
            )
        ],
        videos / "lighthouse.mp4",
    )
    env = {k: v for k, v in os.environ.items() if k != "VIDSEARCH_DATA_DIR"}
    done = subprocess.run(
        [str(repo / "scripts" / "quickstart.sh"), "my videos", "--no-serve"],
        cwd=tmp_path,  # a folder given relative to where the script is started
        env=env | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    library = repo / "vidsearch-data" / "library"
    assert (library / "vidsearch.db").exists() and not (repo / "vidsearch-data" / "demo").exists()
    out = done.stdout
    # Searches drawn from the video itself, each finding it.
    assert "a few searches" in out
    searches = [line for line in out.splitlines() if line.startswith("“")]
    assert searches, out
    assert out.count("lighthouse.mp4") >= len(searches)
    assert any(word in " ".join(searches).lower() for word in ("keeper", "lantern", "lighthouse", "repaints"))
    # And the hints name the data folder the library is in.
    assert f'suggest --data "{library}"' in out and f'export VIDSEARCH_DATA_DIR="{library}"' in out
