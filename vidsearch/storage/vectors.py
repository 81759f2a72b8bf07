"""FAISS vector index generations, derived from SQL and rebuildable from it.

A generation is written to a temporary file, fsynced and renamed into place; the manifest
(current.json) is switched last, so a reader sees the old generation or the new one, never half of
one. Loading checks the manifest against the file and the configured embedder."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from vidsearch.errors import IndexMismatchError, IndexNotReadyError
from vidsearch.models.base import ModelSpec

log = logging.getLogger(__name__)

MANIFEST = "current.json"
# Inner product over L2-normalised vectors = cosine. Exact (flat) while a scan is fast enough; beyond,
# an HNSW graph by default, or an inverted file (IVF: k-means cells, a query scans the vectors of its
# `nprobe` nearest cells) when asked for. On real sentence embeddings at 1M vectors HNSW reaches
# recall@10 0.96 in 1 ms a query where IVF stays under 0.9 at 9 ms; on strongly clustered synthetic
# data it is the other way round (benchmarks/vector_benchmark.py, docs/benchmarks.md).
FLAT = "IDMap2,Flat,IP"
HNSW = "IDMap2,HNSW32,Flat,IP"
IVF_PREFIX = "IVF"
FAMILIES = ("auto", "flat", "hnsw", "ivf")
INDEX_TYPE = FLAT  # the type of small libraries (kept for callers that record one type)
HNSW_M = 32  # graph degree
HNSW_EF_CONSTRUCTION = 80
# HNSW search breadth (at least the k asked for): recall@10 0.984 at 100k and 0.962 at 1M real sentence
# vectors (256: 0.992 and 0.976 for twice the time); a filter passing a share of the texts widens it as
# much, up to HNSW_EF_SEARCH_MAX.
HNSW_EF_SEARCH = 128
HNSW_EF_SEARCH_MAX = 4096
# IVF: about 4 x sqrt(n) cells (a power of two), trained on at most this many vectors a cell
# (faiss's k-means wants 39 at least), and a query scans IVF_NPROBE cells (docs/benchmarks.md).
IVF_TRAIN_PER_LIST = 40
IVF_NPROBE = 64
# A filter passing at most this many texts is searched exactly, among those texts alone (~2 ms).
FILTERED_EXACT_MAX = 20_000
GPU_MAX_K = 2048  # faiss GPU indexes answer at most this many neighbours a query
_KEEP_GENERATIONS = 2  # the current one and the one before, for readers that have not switched yet


@dataclass(frozen=True)
class IndexManifest:
    generation: int
    index_type: str
    file: str
    checksum: str  # sha256 of the index file
    vector_count: int
    row_count: int  # SQL texts the generation was built from: equal to vector_count, checked at build
    dimension: int
    embedder_fingerprint: str
    embedder_model_id: str
    embedder_revision: str
    created_at: str
    # Each video part's mean text vector (storage/context.py), beside the index; "" for a space
    # without one (the visual space, and generations written before it existed).
    context_file: str = ""


class VectorIndex:
    """A loaded generation: search returns (scores, text ids), best first; id -1 marks no result.
    With faiss-gpu and a GPU, an exact index is also copied to the GPUs and unfiltered searches run
    there; filtered ones (an id selector) and graph indexes stay on the CPU copy."""

    def __init__(
        self,
        index: faiss.Index,
        manifest: IndexManifest,
        *,
        use_gpu: bool = False,
        ef_search: int = 0,
        nprobe: int = 0,
    ) -> None:
        self.index = index
        self.manifest = manifest
        self.ef_search = ef_search or HNSW_EF_SEARCH
        self.nprobe = nprobe or IVF_NPROBE
        self._ids: np.ndarray | None = None
        self._lookup_lock = threading.Lock()
        # Unfiltered searches ask the index inside the id map and map its positions to text ids here:
        # IndexIDMap maps its k labels in an OpenMP parallel region, which woke (and spun) a thread on
        # every core for each query.
        self._inner: faiss.Index | None = None
        self._positions: np.ndarray | None = None
        if isinstance(index, faiss.IndexIDMap2):
            self._inner = faiss.downcast_index(index.index)
            self._positions = faiss.vector_to_array(index.id_map).astype(np.int64)
        self.gpu_index: faiss.Index | None = None
        if use_gpu and manifest.index_type == FLAT and gpu_count() > 0:
            try:
                self.gpu_index = faiss.index_cpu_to_all_gpus(index)
                log.info("vector index generation %d on %d GPU(s)", manifest.generation, gpu_count())
            except (RuntimeError, AttributeError) as exc:  # out of GPU memory, say: the CPU copy serves
                log.warning("vector index stays on the CPU: %s", exc)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def _stored_ids(self) -> np.ndarray:
        """The ids this generation holds, sorted; made ready, once, to look vectors up by id."""
        with self._lookup_lock:
            if self._ids is None:
                if is_ivf(self.manifest.index_type):
                    ivf = faiss.extract_index_ivf(self.index)
                    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]  # IVF looks up by id only with it
                    lists: Any = ivf.invlists
                    sizes = [lists.list_size(i) for i in range(ivf.nlist)]
                    parts = [faiss.rev_swig_ptr(lists.get_ids(i), n).copy() for i, n in enumerate(sizes) if n]
                    ids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
                else:
                    assert self._positions is not None  # flat and HNSW generations are IDMap2s
                    ids = self._positions
                self._ids = np.sort(ids.astype(np.int64))
            return self._ids

    def sample(self, count: int) -> np.ndarray:
        """Up to `count` stored vectors spread evenly over the ids: a background of what the library
        holds, against which a query's scores can be told apart from chance (search calibration)."""
        ids = self._stored_ids()
        if ids.size == 0:
            return np.zeros((0, self.manifest.dimension), dtype=np.float32)
        picked = ids[np.unique(np.linspace(0, ids.size - 1, min(count, ids.size)).round().astype(np.int64))]
        return np.asarray(self.index.reconstruct_batch(picked), dtype=np.float32)

    def search(self, vectors: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest texts; with `allowed`, only among those text ids (a filtered search)."""
        k = max(1, min(k, self.size))
        query = np.ascontiguousarray(vectors, dtype=np.float32)
        if allowed is None and self.gpu_index is not None:
            return self.gpu_index.search(query, min(k, GPU_MAX_K))
        if allowed is not None and allowed.size <= FILTERED_EXACT_MAX:
            # A narrow filter: an approximate index would find few of the allowed texts near the query
            # (IVF probes only a few cells), while comparing with each of them is cheap.
            return self._search_among(query, k, allowed)
        # A filter passing a share of the texts widens the search as much (more graph nodes, more cells),
        # so that about as many allowed texts are compared as an unfiltered search compares.
        share = 1.0 if allowed is None else max(allowed.size / max(1, self.size), 1e-9)
        if self.manifest.index_type == HNSW:
            params: faiss.SearchParameters = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # not in the stubs
            breadth = min(HNSW_EF_SEARCH_MAX, math.ceil(self.ef_search / share))
            params.efSearch = max(breadth, k)  # type: ignore[attr-defined]
        elif is_ivf(self.manifest.index_type):
            params = faiss.SearchParametersIVF()
            params.nprobe = min(ivf_lists(self.manifest.index_type), math.ceil(self.nprobe / share))
        else:
            params = faiss.SearchParameters()
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            params.sel = selector  # kept alive by this frame until the search returns
        elif self._inner is not None and self._positions is not None:
            scores, positions = self._inner.search(query, k, params=params)
            if self._positions.size == 0:  # an empty generation (every video gone): nothing found
                return scores, np.full_like(positions, -1)
            return scores, np.where(positions >= 0, self._positions[positions], -1)
        return self.index.search(query, k, params=params)

    def similarities(self, query: np.ndarray, ids: Sequence[int]) -> dict[int, float]:
        """The query's exact similarity with each of these texts that this generation holds."""
        if not ids:
            return {}
        vector = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        scores, found = self._search_among(vector, len(ids), np.asarray(ids, dtype=np.int64))
        return {int(i): float(score) for score, i in zip(scores[0], found[0], strict=True) if i >= 0}

    def _search_among(self, query: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over the allowed ids alone."""
        scores = np.full((len(query), k), -np.inf, dtype=np.float32)
        found = np.full((len(query), k), -1, dtype=np.int64)
        ids = np.unique(np.asarray(allowed, dtype=np.int64))
        if ids.size == 0:
            return scores, found
        ids = ids[np.isin(ids, self._stored_ids(), assume_unique=True)]  # texts stored after this generation
        if ids.size == 0:
            return scores, found
        similarity = query @ self.index.reconstruct_batch(ids).T
        take = min(k, ids.size)
        best = np.argpartition(-similarity, take - 1, axis=1)[:, :take]
        for row in range(len(query)):
            order = best[row][np.argsort(-similarity[row, best[row]], kind="stable")]
            scores[row, :take], found[row, :take] = similarity[row, order], ids[order]
        return scores, found


def index_type_for(count: int, flat_max_vectors: int, family: str = "auto") -> str:
    """The index for a corpus of `count` vectors: exact up to `flat_max_vectors` (or always, with family
    "flat"); beyond, the HNSW graph ("auto", "hnsw") or IVF with about 4 x sqrt(count) cells ("ivf")."""
    if family not in FAMILIES:
        raise ValueError(f"unknown vector index family {family!r}: one of {', '.join(FAMILIES)}")
    if count <= flat_max_vectors or family == "flat":
        return FLAT
    if family == "ivf":
        lists = 2 ** round(math.log2(4 * math.sqrt(count)))
        return f"{IVF_PREFIX}{lists},Flat,IP"
    return HNSW


def is_ivf(index_type: str) -> bool:
    return index_type.startswith(IVF_PREFIX)


def ivf_lists(index_type: str) -> int:
    return int(index_type[len(IVF_PREFIX) :].split(",", 1)[0])


def build_index(
    dimension: int,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    index_type: str = FLAT,
    *,
    count: int | None = None,
    centroids: np.ndarray | None = None,
) -> faiss.Index:
    """An index of the (ids, vectors) batches. IVF reads them twice, first for a training sample (every
    n-th vector of the `count`), unless `centroids` of the same number of cells are given (a previous
    generation's: training is most of the build)."""
    if is_ivf(index_type):
        return _build_ivf(dimension, batches, ivf_lists(index_type), count, centroids)
    if index_type == FLAT:
        inner: faiss.Index = faiss.IndexFlatIP(dimension)
    elif index_type == HNSW:
        graph = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner = graph
    else:
        raise ValueError(f"unknown index type {index_type!r}")
    index = faiss.IndexIDMap2(inner)
    for ids, vectors in batches:
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def _build_ivf(
    dimension: int,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    lists: int,
    count: int | None,
    centroids: np.ndarray | None,
) -> faiss.Index:
    quantizer = faiss.IndexFlatIP(dimension)
    # faiss trains inner-product IVF with spherical k-means: unit-length cells, ranked by angle as texts are.
    index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    if centroids is not None and centroids.shape == (lists, dimension):
        quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
        index.is_trained = True
    else:
        index.train(_training_sample(batches, lists * IVF_TRAIN_PER_LIST, count))
    for ids, vectors in batches:
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def _training_sample(batches: Iterable[tuple[np.ndarray, np.ndarray]], size: int, count: int | None) -> np.ndarray:
    """Every n-th vector, spread over the whole corpus (its stored order follows the videos)."""
    step = max(1, (count or size) // size)
    picked = [np.asarray(vectors[(-offset) % step :: step]) for offset, (_, vectors) in _offsets(batches)]
    sample = np.ascontiguousarray(np.concatenate(picked), dtype=np.float32)
    if sample.shape[0] == 0:
        raise ValueError("no vectors to train the index on")
    return sample[:size]


def _offsets(batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    offset = 0
    for batch in batches:
        yield offset, batch
        offset += len(batch[0])


def ivf_centroids(path: Path, index_type: str) -> np.ndarray | None:
    """The cells of a stored IVF generation of this type (its vectors mapped, not read), or None."""
    if not is_ivf(index_type) or not path.exists():
        return None
    try:
        stored = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        ivf = faiss.extract_index_ivf(stored)  # a view: `stored` owns it and must outlive it
        return np.asarray(ivf.quantizer.reconstruct_n(0, ivf.nlist), dtype=np.float32)
    except (RuntimeError, AttributeError) as exc:  # damaged or not IVF: train afresh
        log.warning("cannot reuse the cells of %s: %s", path, exc)
        return None


def index_type_of(index: faiss.Index) -> str:
    if isinstance(index, faiss.IndexIVF):
        return f"{IVF_PREFIX}{index.nlist},Flat,IP"
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    return HNSW if isinstance(inner, faiss.IndexHNSWFlat) else FLAT


def write_generation(
    directory: Path,
    generation: int,
    index: faiss.Index,
    embedder: ModelSpec,
    row_count: int | None = None,
    context_file: str = "",
) -> IndexManifest:
    """Write the index file, then switch the manifest to it. Either step failing leaves the old one.
    `context_file`: a file of the generation already written beside it, named in the manifest."""
    rows = int(index.ntotal) if row_count is None else row_count
    if rows != index.ntotal:
        raise IndexMismatchError(f"generation {generation} has {index.ntotal} vectors for {rows} rows: not published")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(".*.tmp"):  # left by a writer that was killed mid-write
        stale.unlink(missing_ok=True)
    name = f"gen-{generation:06d}.faiss"
    final = directory / name
    tmp = directory / f".{name}.tmp"
    try:
        faiss.write_index(index, str(tmp))
        _fsync(tmp)
        checksum = _sha256(tmp)
        os.replace(tmp, final)
        _fsync_dir(directory)
    finally:
        tmp.unlink(missing_ok=True)
    _record_written(final, checksum)
    manifest = IndexManifest(
        generation=generation,
        index_type=index_type_of(index),
        file=name,
        checksum=checksum,
        vector_count=int(index.ntotal),
        row_count=rows,
        dimension=int(index.d),
        embedder_fingerprint=embedder.fingerprint,
        embedder_model_id=embedder.model_id,
        embedder_revision=embedder.revision,
        created_at=datetime.now(UTC).isoformat(),
        context_file=context_file,
    )
    _write_atomic(directory / MANIFEST, json.dumps(asdict(manifest), indent=2).encode())
    _prune(directory, keep=manifest.generation)
    log.info("vector index generation %d: %d vectors", generation, manifest.vector_count)
    return manifest


def read_manifest(directory: Path) -> IndexManifest | None:
    path = directory / MANIFEST
    if not path.exists():
        return None
    try:
        return IndexManifest(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise IndexMismatchError(f"{path} is unreadable ({exc}); run `vidsearch reindex` to rebuild it") from exc


def gpu_count() -> int:
    """GPUs faiss can use: 0 with faiss-cpu, which has no GPU functions at all."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def skip_interrupt_checks() -> None:
    """Stop FAISS asking Python whether Ctrl-C was pressed during each search. The check takes the GIL
    from inside the search, so under load a query waited for other threads' Python to get past it; a
    search takes milliseconds, and Python sees the signal as soon as it returns anyway. For serving
    processes: long builds in the same process lose their way to be interrupted mid-call."""
    faiss.InterruptCallback.clear_instance()  # type: ignore[attr-defined]  # not in the stubs


def current_manifest(directory: Path) -> IndexManifest:
    """The manifest of the generation to serve; IndexNotReadyError where nothing was indexed yet."""
    manifest = read_manifest(directory)
    if manifest is None:
        raise IndexNotReadyError(f"no vector index in {directory}: index some videos first")
    return manifest


def load_generation(
    directory: Path,
    embedder: ModelSpec | None = None,
    *,
    use_gpu: bool = False,
    ef_search: int = 0,
    nprobe: int = 0,
    mapped: bool = False,
) -> VectorIndex:
    """The generation the manifest names, checked against it (checksum, count, dimension, embedder).
    The checksum is computed again unless the file is still the one its writer recorded (same inode,
    size and modification time: rewriting it in place, truncating it or replacing it changes them),
    which spares every process's start a read of the whole file (0.12 s at 100k vectors, ten times that
    at 1M). With `mapped`, its vectors and graph are mapped from the file (read-only) rather than copied into
    memory: for a process that searches once or twice (0.1 s less at 100k vectors), where a server reads
    them in whole once."""
    manifest = current_manifest(directory)
    path = directory / manifest.file
    rebuild = "run `vidsearch reindex` to rebuild it from the database"
    if not path.exists():
        raise IndexMismatchError(f"{path} is missing; {rebuild}")
    if not _unchanged_since_written(path, manifest.checksum) and _sha256(path) != manifest.checksum:
        raise IndexMismatchError(f"{path} does not match its checksum (damaged); {rebuild}")
    if embedder is not None and embedder.fingerprint != manifest.embedder_fingerprint:
        raise IndexMismatchError(
            f"the index was built with {manifest.embedder_model_id} ({manifest.embedder_revision}) but the "
            f"configured embedder is {embedder.model_id} ({embedder.revision}); {rebuild}"
        )
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mapped else 0)
    if index.ntotal != manifest.vector_count or index.d != manifest.dimension:
        raise IndexMismatchError(
            f"{path} holds {index.ntotal}x{index.d} vectors, the manifest says "
            f"{manifest.vector_count}x{manifest.dimension}; {rebuild}"
        )
    return VectorIndex(index, manifest, use_gpu=use_gpu, ef_search=ef_search, nprobe=nprobe)


def _prune(directory: Path, keep: int) -> None:
    files = sorted(directory.glob("gen-*.faiss"))
    for old in files[:-_KEEP_GENERATIONS]:
        if old.name != f"gen-{keep:06d}.faiss":
            old.unlink(missing_ok=True)
            _written_record(old).unlink(missing_ok=True)
            old.with_name(old.name.replace(".faiss", ".context.npz")).unlink(missing_ok=True)


def _written_record(path: Path) -> Path:
    return path.with_name(f"{path.name}.json")


def _file_state(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"inode": stat.st_ino, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _record_written(path: Path, checksum: str) -> None:
    """Beside a generation file its writer just checksummed: the checksum and the file's state (inode,
    size, modification time), so readers can tell it is still that file without hashing it. Not fsynced
    and not required: a reader without it (lost in a crash, or a generation from before) hashes the file."""
    record = _written_record(path)
    try:
        _replace_quietly(record, json.dumps({"checksum": checksum, **_file_state(path)}).encode())
    except OSError as exc:
        log.warning("cannot record %s as written (%s): readers will checksum it in full", path.name, exc)


def _unchanged_since_written(path: Path, checksum: str) -> bool:
    try:
        record = json.loads(_written_record(path).read_text())
        return bool(record.pop("checksum") == checksum and record == _file_state(path))
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return False


def _replace_quietly(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
