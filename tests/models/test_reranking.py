"""The re-ranker seam with a real sentence-transformers CrossEncoder: a tiny BERT with random weights
built offline (no cross-encoder ships inside a PyPI package). Random weights say nothing about
quality; the test checks that search hands the re-ranker the moments' texts and orders by its scores."""

import pytest
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from vidsearch.config import Settings
from vidsearch.errors import ModelLoadError
from vidsearch.indexer.generations import rebuild_vector_index
from vidsearch.models.loader import ModelSet
from vidsearch.models.reranking import CrossEncoderReranker
from vidsearch.search import Searcher
from vidsearch.storage.database import FileState, NewText

pytestmark = pytest.mark.models

WORDS = [
    "the",
    "a",
    "storm",
    "rain",
    "wind",
    "budget",
    "council",
    "onions",
    "fry",
    "bread",
    "soup",
    "rocket",
    "launch",
    "pad",
    "cat",
    "sofa",
]


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_scores_pairs_and_records_what_it_is(tiny_cross_encoder):
    reranker = CrossEncoderReranker(str(tiny_cross_encoder), device="cpu")
    scores = reranker.score("storm", ["rain and wind", "onions in the pan"])
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)
    assert reranker.spec.kind == "reranker" and reranker.spec.model_id == tiny_cross_encoder.name
    assert reranker.score("storm", []) == []


def test_search_orders_the_best_moments_by_the_rerankers_scores(tiny_cross_encoder, tmp_path, real_models):
    settings = Settings(
        data_dir=tmp_path / "data",
        reranker="cross-encoder",
        reranker_model=str(tiny_cross_encoder),
        rerank_depth=4,
        min_relevance=0,  # every moment, so that four are re-ranked
    )
    from vidsearch.storage.database import Database

    db = Database(settings.resolved_database_url)
    texts = ["storm and rain", "the council budget", "fry the onions", "bread and soup", "rocket on the launch pad"]
    for n, body in enumerate(texts):
        video_id = db.begin_video(FileState(f"/lib/{n}.mp4", 1, 1.0), str(n))
        probe = {"duration": 10.0, "start_time": 0.0, "fps": 25.0, "width": 64, "height": 64}
        embedder = real_models.embedder
        db.store_video(
            video_id,
            probe=probe,
            windows=[(0, 10)],
            texts=[NewText(0, "speech", body, None)],
            vectors=embedder.embed([body]),
            embedder_id=db.model_record(embedder.spec),
            pipeline_fingerprint="fp",
            pipeline_settings={},
        )
    rebuild_vector_index(db, real_models.embedder, settings.vector_dir)
    searcher = Searcher(settings, db, real_models.embedder)
    results = searcher.search("storm", 5).results
    reranker = searcher.reranker
    assert isinstance(reranker, CrossEncoderReranker)
    head = results[:4]
    assert len(head) == 4
    expected = reranker.score("storm", [m.texts["speech"] for m in head])
    # fp32 inference: two calls over the same pair agree to ~1e-5 on a CPU (the kernels chosen can differ).
    assert [m.score for m in head] == pytest.approx(expected, abs=1e-4)
    assert [m.score for m in head] == sorted((m.score for m in head), reverse=True)
    db.close()


def test_a_missing_reranker_model_is_a_clear_error(tmp_path):
    settings = Settings(data_dir=tmp_path, reranker="cross-encoder", reranker_model=str(tmp_path / "nowhere"))
    with pytest.raises(ModelLoadError, match="does not exist"):
        _ = ModelSet(settings).reranker
