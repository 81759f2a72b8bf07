"""Building a new vector index generation from what SQL holds."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from rich.progress import Progress

from vidsearch.config import Settings
from vidsearch.models.base import Embedder, ModelSpec
from vidsearch.models.loader import ModelSet
from vidsearch.storage.context import ContextBuilder, context_file_name
from vidsearch.storage.database import Database
from vidsearch.storage.schema import TEXT_SPACE, VISUAL_SPACE
from vidsearch.storage.thumbnails import ThumbnailStore
from vidsearch.storage.vectors import (
    IndexManifest,
    build_index,
    index_type_for,
    ivf_centroids,
    read_manifest,
    write_generation,
)

# Exact search up to this many vectors, IVF beyond. Exact search costs about 2 ms a query per 10k
# vectors at 384 dimensions on one core (20 ms at 100k), IVF about 1 ms at 100k with recall@10 0.95+
# (docs/benchmarks.md), so the switch comes early.
FLAT_MAX_VECTORS = 20_000
CONTEXT_PART_SECONDS = 600.0  # the default of `Settings.video_context_seconds`

log = logging.getLogger(__name__)

_EMBED_CHUNK = 2048


def embed_missing(db: Database, embedder: Embedder, progress: Progress | None = None) -> int:
    """Give every stored text a vector under this embedder (after an embedder change, say)."""
    embedder_id = db.model_record(embedder.spec)
    task = None
    if progress is not None:
        task = progress.add_task("embedding texts", total=db.count_texts_without_embedding(embedder_id))
    done = 0
    while batch := db.texts_without_embedding(embedder_id, _EMBED_CHUNK):
        ids, texts = zip(*batch, strict=True)
        db.add_embeddings(embedder_id, ids, embedder.embed(texts))
        done += len(batch)
        if progress is not None and task is not None:
            progress.advance(task, len(batch))
    if done:
        log.info("embedded %d texts that had no vector under %s", done, embedder.spec.model_id)
    return done


def rebuild_vector_index(
    db: Database,
    embedder: Embedder,
    directory: Path,
    progress: Progress | None = None,
    thumbnails: ThumbnailStore | None = None,
    flat_max_vectors: int = FLAT_MAX_VECTORS,
    family: str = "auto",
    context_seconds: float = CONTEXT_PART_SECONDS,
) -> IndexManifest:
    """A new generation of the text space holding every stored vector of this embedder (texts without
    one are embedded first), with each video part's mean vector (`context_seconds` long parts); the old
    one serves until it is done. Then the rows no generation needs any more are deleted: build the other
    spaces' generations before this one."""
    embed_missing(db, embedder, progress)
    manifest = _rebuild_space(
        db,
        TEXT_SPACE,
        embedder.spec,
        directory,
        db.count_texts(),
        flat_max_vectors=flat_max_vectors,
        family=family,
        context_seconds=context_seconds,
    )
    # Readers switch to the new generation on their next query; the rows it replaced can go.
    purged = db.purge_retired()
    if purged:
        log.info("purged %d windows replaced by re-indexing, re-importing or removal", len(purged))
        if thumbnails is not None:
            thumbnails.remove(purged)
    removed = db.purge_removed_videos()
    if removed:
        log.info("deleted %d removed videos", removed)
    return manifest


def publish_generations(
    db: Database,
    models: ModelSet,
    settings: Settings,
    progress: Progress | None = None,
    thumbnails: ThumbnailStore | None = None,
) -> IndexManifest:
    """New generations of every configured space from what SQL holds: the visual one first (when an
    image-text model is configured), then the text one, after which replaced rows are purged.
    Returns the text space's manifest."""
    visual = models.visual_embedder
    if visual is not None:
        rebuild_visual_index(db, visual.spec, settings.visual_vector_dir, family=settings.vector_index)
    return rebuild_vector_index(
        db,
        models.embedder,
        settings.vector_dir,
        progress,
        thumbnails,
        family=settings.vector_index,
        context_seconds=settings.video_context_seconds,
    )


def rebuild_visual_index(
    db: Database,
    spec: ModelSpec,
    directory: Path,
    flat_max_vectors: int = FLAT_MAX_VECTORS,
    family: str = "auto",
) -> IndexManifest | None:
    """A new generation of the visual space: every live window's frame vector under this image-text
    model (stored at index time: frames are not decoded again). None when no window has one."""
    embedder_id = db.model_record(spec)
    rows = db.count_vectors(VISUAL_SPACE, embedder_id)
    if rows == 0 and read_manifest(directory) is None:
        return None
    return _rebuild_space(db, VISUAL_SPACE, spec, directory, rows, flat_max_vectors=flat_max_vectors, family=family)


def _rebuild_space(
    db: Database,
    space: str,
    spec: ModelSpec,
    directory: Path,
    rows: int,
    *,
    flat_max_vectors: int,
    family: str,
    context_seconds: float | None = None,
) -> IndexManifest:
    """Build, write and record a generation of one space from the vectors SQL holds; with
    `context_seconds`, its video parts' mean vectors too, summed as the build reads the vectors."""
    if spec.dimension is None:
        raise ValueError(f"embedder {spec.model_id} has no dimension")
    embedder_id = db.model_record(spec)
    index_type = index_type_for(rows, flat_max_vectors, family)
    generation = db.create_generation(embedder_id, index_type, spec.dimension, space)
    try:
        batches: Iterable[tuple[np.ndarray, np.ndarray]] = _StoredVectors(db, space, embedder_id, spec.dimension)
        context = None
        if context_seconds is not None:
            batches = context = ContextBuilder(batches, db.text_locations(), context_seconds)
        centroids = _reusable_centroids(directory, spec, index_type)
        index = build_index(spec.dimension, batches, index_type, count=rows, centroids=centroids)
        context_file = ""
        if context is not None:
            directory.mkdir(parents=True, exist_ok=True)
            context_file = context_file_name(generation)
            context.context(spec.dimension).save(directory / context_file)
        manifest = write_generation(directory, generation, index, spec, row_count=rows, context_file=context_file)
    except BaseException:
        db.fail_generation(generation)
        raise
    db.finish_generation(
        generation, vector_count=manifest.vector_count, file_name=manifest.file, checksum=manifest.checksum
    )
    return manifest


class _StoredVectors:
    """A space's stored vectors in batches, read afresh each time they are iterated (IVF reads them twice)."""

    def __init__(self, db: Database, space: str, embedder_id: int, dimension: int) -> None:
        self.db, self.space, self.embedder_id, self.dimension = db, space, embedder_id, dimension

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.db.iter_vectors(self.space, self.embedder_id, self.dimension)


def _reusable_centroids(directory: Path, spec: ModelSpec, index_type: str) -> np.ndarray | None:
    """The served generation's IVF cells when the new one has as many under the same embedder: the
    library grew or changed a little, and training (most of an IVF build) can be skipped. The number of
    cells follows the library's size, so a library that has grown a lot gets freshly trained cells."""
    served = read_manifest(directory)
    if served is None or served.index_type != index_type or served.embedder_fingerprint != spec.fingerprint:
        return None
    centroids = ivf_centroids(directory / served.file, index_type)
    if centroids is not None:
        log.info("reusing the %d IVF cells of generation %d", len(centroids), served.generation)
    return centroids
