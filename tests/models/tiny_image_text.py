"""RANDOM-WEIGHT CLIP and SigLIP checkpoints built offline: the real model classes, their real PIL image
processors and tokenizers the processors accept, saved with save_pretrained so the adapter's real
loading code reads them by path. Tiny by default (for tests); `real_size=True` gives the architecture
of openai/clip-vit-base-patch32 or google/siglip-base-patch16-224 (the config classes' defaults), whose
cost per frame is that of the trained model. Their vectors mean nothing; what they prove is the code."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPProcessor,
    CLIPTokenizer,
    PreTrainedTokenizerFast,
    SiglipConfig,
    SiglipImageProcessorPil,
    SiglipModel,
    SiglipProcessor,
)

CORPUS = [
    "a photo of a cat",
    "a photo of a dog on the grass",
    "a red car parked on a street at night",
    "a man running in the park",
    "two women talking at a table",
    "a blue sky over the sea",
    "people walking in the city",
    "a slide with a chart and some text",
]
TINY_TOWER = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
TINY_IMAGE = 32
TINY_TEXT_LENGTH = 16


def clip_tokenizer(max_length: int) -> CLIPTokenizer:
    """CLIP's own tokenizer class over a byte-level vocabulary with no merges (one token per byte):
    it encodes any text, with CLIP's normalisation, start and end tokens."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for char in alphabet:
            vocab[char + suffix] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def siglip_tokenizer(max_length: int) -> PreTrainedTokenizerFast:
    """A SentencePiece-style unigram tokenizer (lower case, "▁" word starts, "</s>" appended and used as
    padding, as SigLIP's is) trained on a few sentences: the real one needs a 32k-piece model file."""
    core = Tokenizer(models.Unigram())
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=120, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False
    )
    core.train_from_iterator(CORPUS * 4, trainer)
    core.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", core.token_to_id("</s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="</s>", pad_token="</s>", unk_token="<unk>", model_max_length=max_length
    )


def build_clip(folder: Path, *, real_size: bool = False, seed: int = 0) -> Path:
    text_length = 77 if real_size else TINY_TEXT_LENGTH
    tokenizer = clip_tokenizer(text_length)
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if real_size:  # CLIPConfig's defaults are openai/clip-vit-base-patch32's
        config = CLIPConfig(text_config=ids)
        images = CLIPImageProcessorPil()
    else:
        config = CLIPConfig(
            text_config={**TINY_TOWER, **ids, "vocab_size": len(tokenizer), "max_position_embeddings": text_length},
            vision_config={**TINY_TOWER, "image_size": TINY_IMAGE, "patch_size": 8},
            projection_dim=16,
        )
        images = CLIPImageProcessorPil(
            size={"shortest_edge": TINY_IMAGE}, crop_size={"height": TINY_IMAGE, "width": TINY_IMAGE}
        )
    torch.manual_seed(seed)
    model = CLIPModel(config)
    return _save(folder, model, CLIPProcessor(image_processor=images, tokenizer=tokenizer))


def build_siglip(folder: Path, *, real_size: bool = False, seed: int = 0, tokenizer: object = None) -> Path:
    text_length = 64 if real_size else TINY_TEXT_LENGTH
    tokenizer = tokenizer or siglip_tokenizer(text_length)
    ids = {
        "bos_token_id": tokenizer.eos_token_id,  # type: ignore[attr-defined]  # SigLIP has none; unused
        "eos_token_id": tokenizer.eos_token_id,  # type: ignore[attr-defined]
        "pad_token_id": tokenizer.pad_token_id,  # type: ignore[attr-defined]
    }
    if real_size:  # SiglipConfig's defaults are google/siglip-base-patch16-224's
        config = SiglipConfig(text_config=ids)
        images = SiglipImageProcessorPil()
    else:
        config = SiglipConfig(
            text_config={
                **TINY_TOWER,
                **ids,
                "vocab_size": len(tokenizer),  # type: ignore[arg-type]
                "max_position_embeddings": text_length,
            },
            vision_config={**TINY_TOWER, "image_size": TINY_IMAGE, "patch_size": 8},
        )
        images = SiglipImageProcessorPil(size={"height": TINY_IMAGE, "width": TINY_IMAGE})
    torch.manual_seed(seed)
    model = SiglipModel(config)
    return _save(folder, model, SiglipProcessor(image_processor=images, tokenizer=tokenizer))


def _save(folder: Path, model: torch.nn.Module, processor: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # type: ignore[operator]
    processor.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder
