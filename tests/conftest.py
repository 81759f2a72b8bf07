"""Shared fixtures. Real packaged models are loaded once per session; the demo library is made
(ffmpeg + espeak-ng) and indexed once per session. Storage tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from vidsearch.config import Settings
from vidsearch.demo import build_demo_library
from vidsearch.indexer import Indexer, IndexReport
from vidsearch.media.synthesize import SceneSpan
from vidsearch.models.loader import ModelSet
from vidsearch.storage import Database

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the tests must never reach a model hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

POSTGRES_URL = os.environ.get("VIDSEARCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except (OperationalError, ImportError) as exc:
        return f"PostgreSQL at {POSTGRES_URL} unavailable: {str(exc).splitlines()[0]}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL whose connections use a fresh schema, dropped at the end of the session."""
    problem = _postgres_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem + " (CI must run the PostgreSQL tests)")
        pytest.skip(problem)
    schema = f"vidsearch_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each storage test runs once per backend; PostgreSQL tables are emptied between tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE text_embeddings, window_texts, windows, videos, index_generations, model_records, "
                "library_roots, window_tags, window_vectors RESTART IDENTITY CASCADE"
            )
        )
    engine.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def real_models() -> ModelSet:
    """The real packaged models (MiniLM, Whisper tiny.en, RapidOCR, EfficientNet-Lite0), loaded once per session."""
    models = ModelSet(Settings())
    _ = models.embedder, models.speech, models.ocr, models.labeler
    return models


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[SceneSpan]]]:
    folder = tmp_path_factory.mktemp("demo-library")
    return folder, build_demo_library(folder)


@dataclass
class IndexedLibrary:
    folder: Path
    truth: dict[str, list[SceneSpan]]
    settings: Settings
    report: IndexReport

    def path(self, name: str) -> str:
        return str((self.folder / name).resolve())


@pytest.fixture(scope="session")
def indexed_demo(tmp_path_factory: pytest.TempPathFactory, demo_dir, real_models: ModelSet) -> IndexedLibrary:
    """The demo library indexed once with the real models (SQLite, local FAISS: the embedded default)."""
    folder, truth = demo_dir
    settings = Settings(data_dir=tmp_path_factory.mktemp("demo-data"))
    report = Indexer(settings, models=sharing_models(settings, real_models)).run([folder])
    return IndexedLibrary(folder, truth, settings, report)


def sharing_models(settings: Settings, real_models: ModelSet) -> ModelSet:
    """A ModelSet for these settings that reuses the session's loaded real models."""
    models = ModelSet(settings)
    models.embedder, models.speech, models.ocr = real_models.embedder, real_models.speech, real_models.ocr
    if settings.visual_labels == real_models.settings.visual_labels:  # a test that turns labels off gets none
        models.labeler = real_models.labeler
    return models


# A silent video with no text of three things, scene by scene (what the picture-search tests look for).
SILENT_SCENES = (("chelsea", 0.0), ("coffee", 6.0), ("rocket", 12.0))


@pytest.fixture(scope="session")
def silent_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vidsearch.media.synthesize import Scene, make_video

    folder = tmp_path_factory.mktemp("silent-library")
    make_video([Scene(name, 6) for name, _ in SILENT_SCENES], folder / "three things.mp4", audio=False, subtitles=False)
    return folder


@pytest.fixture(scope="session")
def clip_library(tmp_path_factory: pytest.TempPathFactory, silent_library: Path, real_models: ModelSet) -> Settings:
    """The silent library indexed with labels and a RANDOM-WEIGHT tiny CLIP (real classes and loading
    code; its vectors mean nothing: tests on it check paths, not quality)."""
    from tests.models.tiny_image_text import build_clip

    root = tmp_path_factory.mktemp("clip-library")
    settings = Settings(
        data_dir=root / "data",
        speech="none",
        window_length=6,
        visual_embedder="clip",
        visual_embedder_model=str(build_clip(root / "tiny-clip")),
    )
    Indexer(settings, models=sharing_models(settings, real_models)).run([silent_library])
    return settings


@pytest.fixture(scope="session")
def labelled_library(tmp_path_factory: pytest.TempPathFactory, silent_library: Path, real_models: ModelSet) -> Settings:
    """The silent library indexed with the default settings (no image-text model: the frame labels)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("labelled-library") / "data", window_length=6)
    Indexer(settings, models=sharing_models(settings, real_models)).run([silent_library])
    return settings
