"""`python -m vidsearch`: the command line (how the server starts its watcher and index jobs)."""

from vidsearch.cli import app

app()
