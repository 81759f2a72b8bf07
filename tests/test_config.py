import os

import pytest
from pydantic import ValidationError

from vidsearch.config import Settings, fingerprint


def test_environment_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDSEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VIDSEARCH_WINDOW_LENGTH", "6")
    monkeypatch.setenv("VIDSEARCH_WINDOW_STRIDE", "3")
    settings = Settings()
    assert settings.data_dir == tmp_path and settings.window_length == 6 and settings.stride == 3
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'vidsearch.db'}"
    assert settings.vector_dir == tmp_path / "vectors"


def test_database_url_overrides_sqlite(monkeypatch):
    monkeypatch.setenv("VIDSEARCH_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert Settings().resolved_database_url == "postgresql+psycopg://u@h/db"


def test_stride_defaults_to_the_window_length():
    assert Settings(window_length=5).stride == 5


def test_stride_longer_than_window_is_refused():
    with pytest.raises(ValidationError, match="window_stride"):
        Settings(window_length=5, window_stride=6)


def test_pipeline_fingerprint_changes_with_output_settings_only():
    base = Settings()
    assert fingerprint(base.pipeline_settings()) == fingerprint(Settings().pipeline_settings())
    assert fingerprint(Settings(window_length=5).pipeline_settings()) != fingerprint(base.pipeline_settings())
    assert fingerprint(Settings(port=9000).pipeline_settings()) == fingerprint(base.pipeline_settings())


def test_settings_travel_through_the_environment_to_server_workers(tmp_path, monkeypatch):
    settings = Settings(
        data_dir=tmp_path, port=8123, kind_weights={"ocr": 0.5}, dev=True, keyword_max_df=0.1, api_workers=2
    )
    environment = settings.as_environment()
    assert environment["VIDSEARCH_PORT"] == "8123" and environment["VIDSEARCH_DATA_DIR"] == str(tmp_path)
    for name in [n for n in os.environ if n.startswith("VIDSEARCH_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings
