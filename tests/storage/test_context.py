"""Each video part's mean text vector, built as a generation reads its vectors."""

import numpy as np
import pytest

from vidsearch.errors import IndexMismatchError
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.storage.context import ContextBuilder, VideoContext, context_file_name, part_keys
from vidsearch.storage.database import FileState, NewText
from vidsearch.storage.locations import TextLocations
from vidsearch.storage.vectors import read_manifest

PROBE = {"duration": 30.0, "start_time": 0.0, "fps": 25.0, "width": 640, "height": 360}


def _store(db, embedder, path: str, texts: list[NewText]) -> None:
    video_id = db.begin_video(FileState(path, 1, 1.0), path)
    db.store_video(
        video_id,
        probe=PROBE,
        windows=[(0.0, 10.0), (10.0, 20.0)],
        texts=texts,
        vectors=embedder.embed([t.text for t in texts]),
        embedder_id=db.model_record(embedder.spec),
        pipeline_fingerprint="fp",
        pipeline_settings={},
    )


def _unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_parts_follow_the_window_middles():
    keys = part_keys(
        np.array([1, 1, 1, 2]), np.array([0.0, 590.0, 1300.0, 0.0]), np.array([10.0, 620.0, 1310.0, 5.0]), 600
    )
    # the second window's middle (605 s) lies in the second part; video 2 has its own keys
    assert [int(k) >> 20 for k in keys] == [1, 1, 1, 2]
    assert [int(k) & 0xFFFFF for k in keys] == [0, 1, 2, 0]


def test_means_per_video_part_counting_each_vector_once_over_several_passes():
    locations = TextLocations(
        [
            [
                (1, 10, 1, 0.0, 10.0, "speech", ""),
                (2, 11, 1, 10.0, 20.0, "ocr", ""),
                (3, 12, 1, 700.0, 710.0, "speech", ""),
            ],
            [(4, 13, 2, 0.0, 10.0, "speech", "")],
        ]
    )
    vectors = {1: _unit(1, 0, 0), 2: _unit(0, 1, 0), 3: _unit(0, 0, 1), 4: _unit(1, 1, 0), 9: _unit(1, 1, 1)}
    batches = [
        (np.array([1, 2]), np.stack([vectors[1], vectors[2]])),
        (np.array([3, 4, 9]), np.stack([vectors[i] for i in (3, 4, 9)])),
    ]
    builder = ContextBuilder(batches, locations, part_seconds=600)
    for _ in range(2):  # an IVF build reads its vectors twice: summed once
        assert [ids.tolist() for ids, _ in builder] == [[1, 2], [3, 4, 9]]
    context = builder.context(3)
    assert len(context) == 3  # video 1 part 0, video 1 part 1, video 2 part 0; text 9 has no place and is left out
    query = _unit(1, 0, 0)
    found = context.similarities(
        query, np.array([1, 1, 2, 3]), np.array([5.0, 650.0, 0.0, 0.0]), np.array([6.0, 660.0, 1.0, 1.0])
    )
    assert found[0] == pytest.approx(float(((vectors[1] + vectors[2]) / 2) @ query))
    assert found[1] == pytest.approx(0.0)
    assert found[2] == pytest.approx(float(vectors[4] @ query))
    assert np.isnan(found[3])  # a video the generation does not know


def test_a_context_file_round_trips_and_a_wrong_one_is_refused(tmp_path):
    context = VideoContext(np.array([5, 9], dtype=np.int64), np.eye(2, 4, dtype=np.float32), 300.0)
    path = tmp_path / context_file_name(3)
    context.save(path)
    loaded = VideoContext.load(path, 4)
    assert loaded.keys.tolist() == [5, 9] and loaded.part_seconds == 300.0
    assert np.array_equal(loaded.means, context.means)
    with pytest.raises(IndexMismatchError, match="reindex"):
        VideoContext.load(path, 8)
    path.write_bytes(b"not numpy")
    with pytest.raises(IndexMismatchError, match="unreadable"):
        VideoContext.load(path, 4)


def test_each_text_generation_writes_its_context_and_old_ones_are_pruned(db, tmp_path, real_models):
    embedder = real_models.embedder
    _store(
        db,
        embedder,
        "/videos/a.mp4",
        [NewText(0, "speech", "a boat on the sea", None), NewText(1, "ocr", "HARBOUR", None)],
    )
    _store(db, embedder, "/videos/b.mp4", [NewText(0, "speech", "a cake in the oven", None)])
    directory = tmp_path / "vectors"
    for _ in range(3):
        manifest = rebuild_vector_index(db, embedder, directory, context_seconds=120)
    assert manifest.context_file == context_file_name(manifest.generation)
    assert read_manifest(directory) == manifest
    assert sorted(p.name for p in directory.glob("*.context.npz")) == [
        context_file_name(manifest.generation - 1),
        context_file_name(manifest.generation),
    ]
    context = VideoContext.load(directory / manifest.context_file, manifest.dimension)
    assert len(context) == 2 and context.part_seconds == 120
    query = embedder.embed(["sailing"])[0]
    hits = db.text_hits(db.text_locations().text_ids.tolist())
    by_video: dict[int, list[int]] = {}
    for text_id, hit in hits.items():
        by_video.setdefault(hit.video_id, []).append(text_id)
    stored = db.text_vectors(db.model_record(embedder.spec), list(hits), manifest.dimension)
    for video_id, text_ids in by_video.items():
        expected = np.mean([stored[t] for t in text_ids], axis=0) @ query
        found = context.similarities(query, np.array([video_id]), np.array([0.0]), np.array([10.0]))
        assert found[0] == pytest.approx(float(expected), abs=1e-5)
