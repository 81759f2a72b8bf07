"""The CLIP and SigLIP adapters on tiny random-weight checkpoints, loaded by path through the real
loading code: vectors, spec, the ONNX Runtime path against torch, and the errors a user meets."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.models.tiny_image_text import CORPUS, TINY_TEXT_LENGTH, build_clip, build_siglip
from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelLoadError, ModelNotFoundError
from vidsearch.models import ImageTextEmbedder, image_text_embedders
from vidsearch.models.image_text import TransformersImageTextEmbedder
from vidsearch.models.loader import ModelSet

FAMILIES = ["clip", "siglip"]
DIMENSIONS = {"clip": 16, "siglip": 32}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("image-text")
    return {"clip": build_clip(root / "tiny-clip"), "siglip": build_siglip(root / "tiny-siglip")}


def frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """Distinct RGB frames of several sizes and aspect ratios: noise over a coloured gradient."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        height, width = [(48, 64), (90, 160), (64, 64), (120, 80)][i % 4]
        ramp = np.linspace(0, 1, width)[None, :, None] * rng.integers(0, 256, 3)[None, None, :]
        noise = rng.integers(0, 256, (height, width, 3))
        out.append(np.clip(0.5 * ramp + 0.5 * noise, 0, 255).astype(np.uint8))
    return out


def embedder(folder: Path, family: str, runtime: str, onnx_dir: Path | None = None, **kwargs) -> ImageTextEmbedder:
    return TransformersImageTextEmbedder(
        str(folder), family=family, device="cpu", runtime=runtime, onnx_dir=onnx_dir, **kwargs
    )


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("family", FAMILIES)
def test_loads_by_path_and_its_spec_says_what_made_the_vectors(folders, family):
    model = embedder(folders[family], family, "torch")
    assert isinstance(model, ImageTextEmbedder)
    spec = model.spec
    assert (spec.kind, spec.name, spec.model_id) == ("image-text embedder", family, f"tiny-{family}")
    assert spec.revision.startswith("local:") and spec.dimension == DIMENSIONS[family]
    assert spec.settings["normalized"] and spec.settings["precision"] == "fp32"
    assert spec.settings["text_max_length"] == TINY_TEXT_LENGTH
    assert spec.settings["text_padding"] == ("max_length" if family == "siglip" else "longest")


@pytest.mark.parametrize("family", FAMILIES)
def test_vectors_have_the_shape_are_normalised_and_repeat(folders, family):
    model = embedder(folders[family], family, "torch", batch_size=3)  # 7 frames: batches of 3, 3, 1
    images = model.embed_images(frames(7))
    texts = model.embed_texts(CORPUS[:3])
    dimension = DIMENSIONS[family]
    assert images.shape == (7, dimension) and texts.shape == (3, dimension)
    assert images.dtype == np.float32 and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(model.embed_images(frames(7)), images)
    np.testing.assert_array_equal(model.embed_texts(CORPUS[:3]), texts)
    assert model.embed_images([]).shape == (0, dimension) and model.embed_texts([]).shape == (0, dimension)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_texts_vector_does_not_depend_on_the_others_in_its_batch(folders, family):
    model = embedder(folders[family], family, "torch")
    short = "a cat"
    alone = model.embed_texts([short])
    beside_a_longer_one = model.embed_texts([short, CORPUS[2]])[:1]
    np.testing.assert_allclose(alone, beside_a_longer_one, atol=1e-5)


def test_siglip_texts_are_padded_to_max_length_without_a_mask_and_clip_texts_to_the_longest(folders):
    siglip = TransformersImageTextEmbedder(str(folders["siglip"]), family="siglip", device="cpu", runtime="torch")
    tokens = siglip._tokens(["a cat", CORPUS[2]])
    assert list(tokens) == ["input_ids"] and tokens["input_ids"].shape == (2, TINY_TEXT_LENGTH)
    clip = TransformersImageTextEmbedder(str(folders["clip"]), family="clip", device="cpu", runtime="torch")
    tokens = clip._tokens(["a cat", "a dog"])
    assert list(tokens) == ["input_ids", "attention_mask"] and tokens["input_ids"].shape[1] < TINY_TEXT_LENGTH
    assert clip._tokens(["word " * 100])["input_ids"].shape == (1, TINY_TEXT_LENGTH)  # truncated, not an error


@pytest.mark.parametrize("family", FAMILIES)
def test_the_model_uses_its_slow_pil_image_processor_without_torchvision(folders, family):
    model = TransformersImageTextEmbedder(str(folders[family]), family=family, device="cpu", runtime="torch")
    assert type(model._image_processor).__name__.endswith("Pil")
    assert "torchvision" not in sys.modules


@pytest.mark.parametrize("family", FAMILIES)
def test_onnx_runtime_gives_torchs_vectors_and_is_exported_once(folders, family, tmp_path, caplog):
    images, texts = frames(5, seed=1), [*CORPUS[:4], "a cat"]
    exact = embedder(folders[family], family, "torch")
    caplog.set_level(logging.INFO, logger="vidsearch.models.image_text")
    fast = embedder(folders[family], family, "onnx", tmp_path)
    assert fast.spec == exact.spec and fast.spec.fingerprint == exact.spec.fingerprint
    exported = sorted(p.name for p in tmp_path.iterdir())
    assert exported == sorted(f"{exact.spec.fingerprint}-{t}-torch{_torch()}.onnx" for t in ("image", "text"))
    assert cosines(fast.embed_images(images), exact.embed_images(images)).min() > 0.999
    assert cosines(fast.embed_texts(texts), exact.embed_texts(texts)).min() > 0.999
    assert fast._model is None  # both towers on ONNX Runtime: the torch weights are let go

    caplog.clear()
    again = embedder(folders[family], family, "auto", tmp_path)  # "auto" on a CPU is ONNX Runtime
    assert not any("exported" in r.getMessage() for r in caplog.records)
    assert again._model is None and set(again._sessions) == {"image", "text"}
    np.testing.assert_allclose(again.embed_images(images), fast.embed_images(images), atol=1e-6)


def test_a_failed_export_leaves_the_tower_on_torch_with_a_warning(folders, tmp_path, monkeypatch, caplog):
    import torch

    def broken(*args, **kwargs):
        raise RuntimeError("exporter says no")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with caplog.at_level(logging.WARNING, logger="vidsearch.models.image_text"):
        model = embedder(folders["clip"], "clip", "onnx", tmp_path)
    assert model._sessions == {} and model._model is not None
    assert sum("exporter says no" in r.getMessage() for r in caplog.records) == 2
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob("*.partial"))  # no half-written file
    assert model.embed_images(frames(2)).shape == (2, DIMENSIONS["clip"])


def photos() -> list[np.ndarray]:
    """Scikit-image's sample photos as RGB frames (the demo library's pictures)."""
    import skimage.data

    out = []
    for name in ["rocket", "astronaut", "coffee", "chelsea", "camera", "coins", "page"]:
        image = np.asarray(getattr(skimage.data, name)())
        out.append((np.stack([image] * 3, axis=-1) if image.ndim == 2 else image)[..., :3].astype(np.uint8))
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_a_frame_is_nearest_to_itself_among_a_few(folders, family):
    model = embedder(folders[family], family, "torch")
    library = photos()
    stored = model.embed_images(library)
    # The same frames again, slightly changed (brightness and a few pixels), as a later decode might be.
    rng = np.random.default_rng(3)
    queries = [np.clip(f.astype(int) + 6 + rng.integers(-3, 4, f.shape), 0, 255).astype(np.uint8) for f in library]
    similarity = model.embed_images(queries) @ stored.T
    assert list(similarity.argmax(axis=1)) == list(range(len(library)))


@pytest.mark.parametrize("family", FAMILIES)
def test_int8_stays_close_to_the_exact_vectors_and_is_recorded(folders, family, tmp_path):
    images = frames(4, seed=4)
    exact = embedder(folders[family], family, "onnx", tmp_path)
    quantized = embedder(folders[family], family, "onnx", tmp_path, precision="int8")
    assert quantized.spec.settings["precision"] == "int8" and quantized.spec.fingerprint != exact.spec.fingerprint
    assert len(list(tmp_path.glob("*int8w*.onnx"))) == 2  # derived from the same exact export
    assert cosines(quantized.embed_images(images), exact.embed_images(images)).min() > 0.99
    assert cosines(quantized.embed_texts(CORPUS), exact.embed_texts(CORPUS)).min() > 0.99


def test_int8_needs_onnx_runtime(folders):
    with pytest.raises(ConfigError, match="ONNX Runtime only"):
        embedder(folders["clip"], "clip", "torch", precision="int8")


def test_bad_locations_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        TransformersImageTextEmbedder("./no/such/model", family="clip", runtime="torch")
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match=r"cannot load image-text model .*not-a-model"):
        TransformersImageTextEmbedder(str(empty), family="clip", runtime="torch")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotFoundError, match="openai/clip-vit-base-patch32"):
        TransformersImageTextEmbedder("", family="clip", runtime="torch")  # the default: a hub id, not cached


def test_a_checkpoint_of_the_other_family_names_the_right_setting(folders):
    with pytest.raises(ConfigError, match="'siglip' model, not a clip one: set the visual embedder to 'siglip'"):
        TransformersImageTextEmbedder(str(folders["siglip"]), family="clip", runtime="torch")


def test_settings_registry_and_model_set(folders, tmp_path):
    assert {"clip", "siglip"} <= set(image_text_embedders.names())
    assert ModelSet(Settings(data_dir=tmp_path)).visual_embedder is None  # off by default
    settings = Settings(
        data_dir=tmp_path,
        visual_embedder="siglip",
        visual_embedder_model=str(folders["siglip"]),
        visual_embed_batch_size=2,
        device="cpu",
    )
    model = ModelSet(settings).visual_embedder
    assert isinstance(model, TransformersImageTextEmbedder) and model.batch_size == 2
    assert set(model._sessions) == {"image", "text"}  # auto on a CPU: ONNX Runtime, exported into the data folder
    assert len(list((tmp_path / "models" / "onnx").glob("*.onnx"))) == 2
    broken = Settings(data_dir=tmp_path, visual_embedder="clip", visual_embedder_model=str(tmp_path / "missing"))
    with pytest.raises(ModelLoadError, match="cannot load the image-text embedder"):
        _ = ModelSet(broken).visual_embedder


def test_a_real_sentencepiece_siglip_tokenizer_loads_and_pads(tmp_path):
    """The tokenizer class google/siglip-* checkpoints ship (SentencePiece), trained on a few sentences."""
    spm = pytest.importorskip("sentencepiece")
    import io

    from transformers import SiglipTokenizer

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 10),
        model_writer=model,
        vocab_size=60,
        hard_vocab_limit=False,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
    )
    (tmp_path / "spiece.model").write_bytes(model.getvalue())
    tokenizer = SiglipTokenizer(vocab_file=str(tmp_path / "spiece.model"), model_max_length=TINY_TEXT_LENGTH)
    folder = build_siglip(tmp_path / "siglip-spm", tokenizer=tokenizer)
    loaded = TransformersImageTextEmbedder(str(folder), family="siglip", device="cpu", runtime="torch")
    assert type(loaded._tokenizer).__name__ == "SiglipTokenizer"
    assert loaded.embed_texts(["A photo, of a CAT!"]).shape == (1, DIMENSIONS["siglip"])


def _torch() -> str:
    import torch

    return torch.__version__
