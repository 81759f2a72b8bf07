import json

import faiss
import numpy as np
import pytest

from vidsearch.errors import IndexMismatchError, IndexNotReadyError
from vidsearch.models.base import ModelSpec
from vidsearch.storage.vectors import MANIFEST, build_index, load_generation, read_manifest, write_generation

SPEC = ModelSpec("embedder", "test", "unit/embedder", "r1", 8, {"normalized": True})


def _index(n: int = 10) -> faiss.Index:
    v = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return build_index(8, [(np.arange(100, 100 + n), v)])


def test_write_then_load_round_trip(tmp_path):
    index = _index()
    manifest = write_generation(tmp_path, 1, index, SPEC)
    assert manifest.vector_count == 10 and manifest.dimension == 8
    assert manifest.embedder_model_id == "unit/embedder" and manifest.embedder_revision == "r1"
    loaded = load_generation(tmp_path, SPEC)
    scores, ids = loaded.search(index.reconstruct(103)[None, :], 3)
    assert ids[0][0] == 103 and scores[0][0] == pytest.approx(1.0, abs=1e-5)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


def test_no_index_yet(tmp_path):
    assert read_manifest(tmp_path) is None
    with pytest.raises(IndexNotReadyError):
        load_generation(tmp_path)


def test_damaged_file_is_refused_with_the_fix(tmp_path):
    manifest = write_generation(tmp_path, 1, _index(), SPEC)
    path = tmp_path / manifest.file
    path.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(IndexMismatchError, match="vidsearch reindex"):
        load_generation(tmp_path, SPEC)


def test_other_embedder_is_refused(tmp_path):
    write_generation(tmp_path, 1, _index(), SPEC)
    other = ModelSpec("embedder", "test", "unit/embedder", "r2", 8, {"normalized": True})
    with pytest.raises(IndexMismatchError, match="configured embedder"):
        load_generation(tmp_path, other)


def test_manifest_count_mismatch_is_refused(tmp_path):
    write_generation(tmp_path, 1, _index(), SPEC)
    data = json.loads((tmp_path / MANIFEST).read_text())
    data["vector_count"] = 11
    (tmp_path / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="manifest says"):
        load_generation(tmp_path, SPEC)


def test_garbled_manifest_is_refused(tmp_path):
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(IndexMismatchError, match="unreadable"):
        read_manifest(tmp_path)


def test_a_new_generation_replaces_the_old_and_old_files_are_pruned(tmp_path):
    for generation in (1, 2, 3):
        write_generation(tmp_path, generation, _index(generation * 2), SPEC)
    assert load_generation(tmp_path, SPEC).manifest.generation == 3
    assert load_generation(tmp_path, SPEC).size == 6
    assert sorted(p.name for p in tmp_path.glob("gen-*.faiss")) == ["gen-000002.faiss", "gen-000003.faiss"]


def test_failed_write_leaves_the_previous_generation(tmp_path, monkeypatch):
    write_generation(tmp_path, 1, _index(), SPEC)

    def disk_full(*_args):
        raise RuntimeError("No space left on device")

    monkeypatch.setattr(faiss, "write_index", disk_full)
    with pytest.raises(RuntimeError):
        write_generation(tmp_path, 2, _index(4), SPEC)
    assert load_generation(tmp_path, SPEC).manifest.generation == 1
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("step", ["write_index", "fsync", "replace", "manifest"])
def test_disk_full_at_any_step_leaves_the_previous_generation(tmp_path, monkeypatch, step):
    """ENOSPC injected at each step of publishing a generation: the previous one stays loadable."""
    import errno
    import os

    import vidsearch.storage.vectors as vectors

    write_generation(tmp_path, 1, _index(), SPEC)

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if step == "write_index":
        monkeypatch.setattr(faiss, "write_index", full)
    elif step == "fsync":
        monkeypatch.setattr(vectors.os, "fsync", full)
    elif step == "replace":
        monkeypatch.setattr(vectors.os, "replace", full)
    else:
        real_replace = os.replace

        def replace_index_only(src, dst):
            if str(dst).endswith("current.json"):
                full()
            real_replace(src, dst)

        monkeypatch.setattr(vectors.os, "replace", replace_index_only)
    with pytest.raises(OSError, match="No space left"):
        write_generation(tmp_path, 2, _index(4), SPEC)
    monkeypatch.undo()
    loaded = load_generation(tmp_path, SPEC)
    assert loaded.manifest.generation == 1 and loaded.size == 10


def test_a_generation_whose_vectors_and_rows_disagree_is_not_published(tmp_path):
    write_generation(tmp_path, 1, _index(), SPEC, row_count=10)
    assert read_manifest(tmp_path).row_count == 10
    with pytest.raises(IndexMismatchError, match="9 rows: not published"):
        write_generation(tmp_path, 2, _index(), SPEC, row_count=9)
    assert load_generation(tmp_path, SPEC).manifest.generation == 1


def _clustered(n: int, d: int = 32, seed: int = 1) -> np.ndarray:
    """Vectors around 50 centres, like texts about a few dozen topics: what ANN indexes are built for."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, d))
    v = centres[rng.integers(0, 50, n)] + 0.35 * rng.normal(size=(n, d))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float32)


def test_the_index_family_follows_corpus_size_and_the_setting():
    from vidsearch.storage.vectors import FLAT, HNSW, index_type_for, ivf_lists

    assert index_type_for(10, 100) == FLAT and index_type_for(101, 100) == HNSW
    assert index_type_for(10**6, 100, "hnsw") == HNSW and index_type_for(10**6, 100, "flat") == FLAT
    # IVF: about 4 x sqrt(n) cells, a power of two: 1,024 at 100k vectors, 4,096 at 1M.
    assert index_type_for(100_000, 20_000, "ivf") == "IVF1024,Flat,IP" and ivf_lists("IVF1024,Flat,IP") == 1024
    assert index_type_for(1_000_000, 20_000, "ivf") == "IVF4096,Flat,IP"
    assert index_type_for(10, 20_000, "ivf") == FLAT
    with pytest.raises(ValueError, match="one of auto, flat, hnsw, ivf"):
        index_type_for(10, 100, "lsh")


def _exact_and_served(tmp_path, index_type, n=5000):
    from vidsearch.storage.vectors import FLAT

    vectors = _clustered(n)
    ids = np.arange(1, n + 1)
    exact = build_index(32, [(ids, vectors)], FLAT)
    batches = [(ids[: n // 2], vectors[: n // 2]), (ids[n // 2 :], vectors[n // 2 :])]
    write_generation(tmp_path, 1, build_index(32, batches, index_type, count=n), SPEC32)
    return ids, exact, load_generation(tmp_path, SPEC32)


def _recall(truth, found):
    return np.mean([len(set(t) & set(f)) / len(t) for t, f in zip(truth, found, strict=True)])


def test_ivf_generation_finds_what_exact_search_finds_and_honours_filters(tmp_path):
    from vidsearch.storage.vectors import index_type_for

    index_type = index_type_for(5000, 100, "ivf")
    _, exact, served = _exact_and_served(tmp_path, index_type)
    assert served.manifest.index_type == index_type == "IVF256,Flat,IP" and served.size == 5000
    queries = _clustered(100, seed=7)
    _, truth = exact.search(queries, 10)
    _, found = served.search(queries, 10)
    assert _recall(truth, found) >= 0.95
    # More candidates than one cell holds still come back in full.
    _, many = served.search(queries[:1], 300)
    assert (many[0] >= 0).sum() == 300


def test_a_narrow_filter_on_ivf_is_searched_exactly_among_the_allowed_texts(tmp_path):
    from vidsearch.storage.vectors import index_type_for

    ids, exact, served = _exact_and_served(tmp_path, index_type_for(5000, 100, "ivf"))
    allowed = ids[ids % 97 == 0]  # 51 texts, scattered over the cells
    queries = _clustered(20, seed=3)
    scores, found = served.search(queries, 10, np.append(allowed, 10**9))  # an id this generation lacks
    among = build_index(32, [(allowed, exact.reconstruct_batch(allowed))])
    truth_scores, truth = among.search(queries, 10)
    assert found.tolist() == truth.tolist() and np.allclose(scores, truth_scores, atol=1e-5)
    # Fewer allowed texts than asked for: the rest of the row is empty.
    scores, found = served.search(queries[:1], 10, allowed[:3])
    assert sorted(found[0][:3]) == sorted(allowed[:3]) and found[0][3:].tolist() == [-1] * 7


def test_a_wide_filter_on_ivf_probes_more_cells_and_keeps_recall(tmp_path, monkeypatch):
    import vidsearch.storage.vectors as vectors

    monkeypatch.setattr(vectors, "FILTERED_EXACT_MAX", 100)  # this small index stands for a large one
    ids, exact, served = _exact_and_served(tmp_path, vectors.index_type_for(5000, 100, "ivf"))
    allowed = ids[ids % 4 == 0]  # a quarter of the texts: four times the cells
    queries = _clustered(50, seed=5)
    _, found = served.search(queries, 10, allowed)
    assert all(i % 4 == 0 for row in found for i in row)
    truth = build_index(32, [(allowed, exact.reconstruct_batch(allowed))]).search(queries, 10)[1]
    assert _recall(truth, found) >= 0.95


def test_a_rebuild_of_the_same_size_reuses_the_served_cells(tmp_path):
    from vidsearch.indexer.generations import _reusable_centroids
    from vidsearch.storage.vectors import index_type_for, ivf_centroids

    index_type = index_type_for(5000, 100, "ivf")
    _, _, served = _exact_and_served(tmp_path, index_type)
    cells = ivf_centroids(tmp_path / served.manifest.file, index_type)
    assert cells.shape == (256, 32)
    assert np.array_equal(_reusable_centroids(tmp_path, SPEC32, index_type), cells)
    assert _reusable_centroids(tmp_path, SPEC32, "IVF512,Flat,IP") is None  # grown: train afresh
    other = ModelSpec("embedder", "test", "unit/embedder", "r2", 32, {"normalized": True})
    assert _reusable_centroids(tmp_path, other, index_type) is None
    vectors = _clustered(5000, seed=9)
    rebuilt = build_index(32, [(np.arange(1, 5001), vectors)], index_type, centroids=cells)
    assert np.array_equal(ivf_centroids_of(rebuilt), cells) and rebuilt.ntotal == 5000


def ivf_centroids_of(index):
    return index.quantizer.reconstruct_n(0, index.nlist)


def test_hnsw_generation_finds_what_exact_search_finds_and_honours_filters(tmp_path):
    from vidsearch.storage.vectors import HNSW

    ids, exact, graph = _exact_and_served(tmp_path, HNSW)
    assert graph.manifest.index_type == HNSW and graph.size == 5000
    queries = _clustered(100, seed=7)
    _, truth = exact.search(queries, 10)
    _, found = graph.search(queries, 10)
    assert _recall(truth, found) >= 0.95
    # Positions are mapped to text ids outside FAISS's id map, to the same ids.
    params = faiss.SearchParametersHNSW()
    params.efSearch = graph.ef_search
    np.testing.assert_array_equal(found, graph.index.search(queries, 10, params=params)[1])
    allowed = ids[ids % 7 == 0]
    _, filtered = graph.search(queries[:5], 10, allowed)
    assert all(i % 7 == 0 for row in filtered for i in row if i >= 0)
    _, many = graph.search(queries[:1], 300)
    assert (many[0] >= 0).sum() == 300


SPEC32 = ModelSpec("embedder", "test", "unit/embedder", "r1", 32, {"normalized": True})


def test_asking_for_the_gpu_without_one_serves_from_the_cpu_copy(tmp_path):
    from vidsearch.storage.vectors import gpu_count

    index = _index()
    write_generation(tmp_path, 1, index, SPEC)
    loaded = load_generation(tmp_path, SPEC, use_gpu=True)
    if gpu_count() == 0:  # faiss-cpu, or faiss-gpu on a machine without a GPU
        assert loaded.gpu_index is None
    else:  # faiss-gpu with a GPU: unfiltered searches run there and agree with the CPU copy
        assert loaded.gpu_index is not None
    query = index.reconstruct(104)[None, :]
    scores, ids = loaded.search(query, 3)
    cpu_scores, cpu_ids = load_generation(tmp_path, SPEC).search(query, 3)
    assert ids.tolist() == cpu_ids.tolist() and np.allclose(scores, cpu_scores, atol=1e-5)
    _, filtered = loaded.search(query, 3, np.array([100, 101], dtype=np.int64))  # filters: the CPU copy
    assert set(filtered[0].tolist()) - {-1} == {100, 101}


def test_a_wide_filter_on_hnsw_searches_wider_and_keeps_recall(tmp_path, monkeypatch):
    import vidsearch.storage.vectors as vectors

    monkeypatch.setattr(vectors, "FILTERED_EXACT_MAX", 100)  # this small index stands for a large one
    ids, exact, graph = _exact_and_served(tmp_path, vectors.HNSW)
    allowed = ids[ids % 8 == 0]  # an eighth of the texts: eight times the breadth
    queries = _clustered(50, seed=5)
    graph.ef_search = 16
    _, found = graph.search(queries, 10, allowed)
    assert all(i % 8 == 0 for row in found for i in row)
    truth = build_index(32, [(allowed, exact.reconstruct_batch(allowed))]).search(queries, 10)[1]
    assert _recall(truth, found) >= 0.95


@pytest.mark.parametrize("family", ["flat", "hnsw", "ivf"])
def test_a_mapped_generation_answers_as_a_loaded_one(tmp_path, family):
    """A one-shot searcher maps the generation's file instead of reading it in: the same answers,
    unfiltered, filtered through the index, and among a few allowed texts; damage is still refused."""
    from vidsearch.storage.vectors import index_type_for

    n = 3000
    vectors = _clustered(n)
    ids = np.arange(1, n + 1)
    manifest = write_generation(
        tmp_path, 1, build_index(32, [(ids, vectors)], index_type_for(n, 100, family), count=n), SPEC32
    )
    loaded, mapped = load_generation(tmp_path, SPEC32), load_generation(tmp_path, SPEC32, mapped=True)
    assert mapped.manifest == loaded.manifest and mapped.size == n
    queries = _clustered(20, seed=9)
    for allowed in (None, ids[ids % 3 == 0], ids[ids % 97 == 0]):
        expected_scores, expected = loaded.search(queries, 10, allowed)
        scores, found = mapped.search(queries, 10, allowed)
        assert found.tolist() == expected.tolist() and np.array_equal(scores, expected_scores)
    path = tmp_path / manifest.file
    path.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(IndexMismatchError, match="vidsearch reindex"):
        load_generation(tmp_path, SPEC32, mapped=True)


def test_a_file_its_writer_recorded_is_not_hashed_again_until_it_changes(tmp_path, monkeypatch):
    """The writer records the file it checksummed (inode, size, modification time): a reader finding
    the file unchanged skips reading it whole; any change to the file (rewritten in place, even with the
    same size) or a missing record means the full checksum again."""
    import os

    import vidsearch.storage.vectors as vectors

    manifest = write_generation(tmp_path, 1, _index(), SPEC)
    path = tmp_path / manifest.file
    hashed = []
    real_sha256 = vectors._sha256
    monkeypatch.setattr(vectors, "_sha256", lambda p: hashed.append(p) or real_sha256(p))
    load_generation(tmp_path, SPEC)
    assert hashed == []
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, one byte changed
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    with pytest.raises(IndexMismatchError, match="checksum"):
        load_generation(tmp_path, SPEC)
    assert hashed == [path]
    path.write_bytes(bytes(data[:-1]) + bytes([data[-1] ^ 0xFF]))  # the original bytes, a new modification time
    load_generation(tmp_path, SPEC)
    (tmp_path / f"{manifest.file}.json").unlink()
    load_generation(tmp_path, SPEC)
    assert len(hashed) == 3


def test_records_of_pruned_generations_go_with_them(tmp_path):
    for generation in (1, 2, 3):
        write_generation(tmp_path, generation, _index(), SPEC)
    assert sorted(p.name for p in tmp_path.glob("gen-*")) == [
        "gen-000002.faiss",
        "gen-000002.faiss.json",
        "gen-000003.faiss",
        "gen-000003.faiss.json",
    ]


@pytest.mark.parametrize("mapped", [False, True])
def test_an_empty_generation_finds_nothing(tmp_path, mapped):
    """Every video gone (deleted from a watched folder, say): the generation published holds no vector,
    and a search through it finds nothing rather than failing."""
    write_generation(tmp_path, 1, build_index(8, [], count=0), SPEC)
    loaded = load_generation(tmp_path, SPEC, mapped=mapped)
    assert loaded.size == 0
    query = np.ones((1, 8), dtype=np.float32) / np.sqrt(8)
    _, ids = loaded.search(query, 5)
    assert (ids < 0).all()
