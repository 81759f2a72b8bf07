"""Text embedders. The default is sentence-transformers with all-MiniLM-L6-v2, from an explicit path,
a hub id, or the copy packaged on PyPI (works offline)."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidsearch.config import Settings
from vidsearch.errors import ModelError, ModelNotFoundError
from vidsearch.models.base import ModelSpec, embedder_registry
from vidsearch.models.device import resolve_device
from vidsearch.models.query_encoder import (
    EMBEDDER_NAME,
    INPUT_NAMES,
    ONNX_MAX_TEXTS,
    onnx_directory,
    onnx_session,
    run_onnx,
    write_descriptor,
    x86_without_vnni,
)
from vidsearch.models.resolve import PACKAGED_EMBEDDER, hub_revision, resolve

log = logging.getLogger(__name__)

__all__ = ["ONNX_MAX_TEXTS", "OnnxEncoder", "SentenceTransformerEmbedder"]


class SentenceTransformerEmbedder:
    def __init__(
        self,
        model: str = "",
        *,
        device: str = "auto",
        batch_size: int = 64,
        runtime: str = "torch",
        onnx_dir: Path | None = None,
        query_precision: str = "fp32",
    ) -> None:
        from sentence_transformers import SentenceTransformer

        resolved = resolve(model, PACKAGED_EMBEDDER)
        self._configured = (model, query_precision)
        self._resolved = resolved
        self.device = resolve_device(device)
        self.batch_size = batch_size
        try:
            self._model = SentenceTransformer(resolved.location, device=self.device, local_files_only=resolved.is_local)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(
                f"cannot load embedder {resolved.location!r}: {exc}. Give a local folder, a hub id that "
                "is cached or reachable, or leave it empty for the packaged all-MiniLM-L6-v2."
            ) from exc
        revision = resolved.revision
        if not resolved.is_local:
            revision = hub_revision(self._model.tokenizer.name_or_path) or _hub_commit(self._model) or "hub"
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ModelError(f"embedder {resolved.model_id!r} does not report its output dimension")
        self.spec = ModelSpec(
            kind="embedder",
            name="sentence-transformers",
            model_id=resolved.model_id,
            revision=revision,
            dimension=int(dimension),
            settings={"normalized": True, "max_seq_length": self._model.max_seq_length},
        )
        log.info("embedder %s (%s) on %s, %d dims", self.spec.model_id, revision, self.device, dimension)
        self._onnx: OnnxEncoder | None = None
        if runtime == "onnx" or (runtime == "auto" and self.device == "cpu"):
            self._onnx = OnnxEncoder.for_model(self._model, self.spec, onnx_dir, int8=query_precision == "int8")

    def describe_query_encoder(self, settings: Settings) -> Path | None:
        """Write the descriptor that lets a later process with these settings embed queries without
        torch (models/query_encoder.py), when queries run on ONNX Runtime here and the settings are the
        ones this embedder was made with; returns its path, or None where there is none to write."""
        onnx = self._onnx
        made_with = (settings.embedder_model, settings.query_precision)
        if onnx is None or onnx.backend is None or not self._resolved.is_local or made_with != self._configured:
            return None
        if settings.embedder != EMBEDDER_NAME:
            return None
        try:
            return write_descriptor(
                onnx_directory(settings),
                embedder_model=settings.embedder_model,
                query_precision=settings.query_precision,
                resolved=self._resolved,
                spec=self.spec,
                onnx_file=onnx.path,
                inputs=onnx.inputs,
                tokenizer=onnx.backend,
                reduce_range=onnx.reduce_range,
            )
        except Exception as exc:  # a faster start only: the next process loads torch as this one did
            log.warning("cannot describe the query encoder for loading without torch: %s", exc)
            return None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.spec.dimension or 0), dtype=np.float32)
        if self._onnx is not None and len(texts) <= ONNX_MAX_TEXTS:
            return self._onnx.encode(texts)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class OnnxEncoder:
    """The same network (transformer, mean pooling, normalisation) exported once to ONNX and run by ONNX
    Runtime on one thread: a short query in about a third of torch's time on a CPU, where a search
    spends most of its time embedding the query. Vectors match torch's to about 1e-7.

    With `int8`, the matrix products run on 8-bit weights (ONNX Runtime's dynamic quantization, one
    scale per output channel; 7-bit weights on x86 CPUs without VNNI, whose 8-bit products can
    overflow): another 2.5-3x faster, with query vectors at cosine ~0.99 to the exact ones. Only
    queries are encoded so; stored texts keep the exact vectors (docs/evaluation.md has what it costs
    in retrieval quality)."""

    def __init__(self, model: Any, path: Path, *, reduce_range: bool = False) -> None:
        self.path = path
        self.reduce_range = reduce_range  # 7-bit weights (an x86 CPU without VNNI)
        self._session = onnx_session(path)
        self._tokenizer = model.tokenizer
        self._max_length = model.max_seq_length
        self.inputs = [i.name for i in self._session.get_inputs()]
        self.backend = _backend_tokenizer(model.tokenizer, model.max_seq_length)

    @classmethod
    def for_model(
        cls, model: Any, spec: ModelSpec, directory: Path | None, *, int8: bool = False
    ) -> OnnxEncoder | None:
        """The encoder for this model, exported on first use into `directory` (a cache keyed by the
        model's fingerprint); None, and torch does the work, where the model is not a plain mean-pooled
        one or the export fails."""
        if directory is None or not _plain_mean_pooled(model):
            return None
        import torch

        path = directory / f"{spec.fingerprint}-torch{torch.__version__}.onnx"
        seven_bit = False
        try:
            if not path.exists():
                _export(model, path)
            if int8:
                seven_bit = x86_without_vnni()
                exact, path = path, path.with_name(f"{path.stem}-int8w{7 if seven_bit else 8}.onnx")
                if not path.exists():
                    _quantize(exact, path, seven_bit)
            return cls(model, path, reduce_range=seven_bit)
        except Exception as exc:  # a faster path only: torch still gives the same vectors
            log.warning("query embedding stays on torch: the ONNX export of %s failed: %s", spec.model_id, exc)
            return None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.backend is not None:
            return run_onnx(self._session, self.inputs, self.backend, texts)
        batch = self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=self._max_length, return_tensors="np"
        )
        [vectors] = self._session.run(None, {name: batch[name].astype(np.int64) for name in self.inputs})
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _backend_tokenizer(tokenizer: Any, max_length: int) -> Any | None:
    """A copy of a fast tokenizer's Rust tokenizer that truncates and pads as the model's own call
    does, for a third of its cost on one short query (45 vs 140 us); None where the model's inputs are
    not the plain BERT-style three or the tokenizer is not a fast one."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not set(tokenizer.model_input_names) <= INPUT_NAMES:
        return None
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())  # the model's own tokenizer keeps its settings
    copy.enable_truncation(max_length)
    copy.enable_padding(pad_id=tokenizer.pad_token_id, pad_token=tokenizer.pad_token)
    return copy


def _plain_mean_pooled(model: Any) -> bool:
    from sentence_transformers.models import Normalize, Pooling

    modules = list(model)
    if len(modules) != 3 or not isinstance(modules[1], Pooling) or not isinstance(modules[2], Normalize):
        return False
    return modules[1].get_config_dict().get("pooling_mode") == "mean" and hasattr(modules[0], "auto_model")


def _export(model: Any, path: Path) -> None:
    import torch

    names = list(model.tokenizer.model_input_names)
    transformer = model[0].auto_model.eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer  # a submodule, so its weights export as weights

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            given = dict(zip(names, inputs, strict=True))
            hidden = self.transformer(**given).last_hidden_state
            mask = given["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    sample = model.tokenizer(["an example query"], return_tensors="pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on opsets and tracing
        torch.onnx.export(
            MeanPooled(),
            tuple(sample[n] for n in names),
            str(partial),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names},
            opset_version=17,
            dynamo=False,
        )
    partial.replace(path)  # several server workers may export at once: the last rename wins, all equal
    log.info("exported %s to ONNX for query embedding: %s", type(transformer).__name__, path)


def _quantize(exact: Path, path: Path, seven_bit: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = path.with_suffix(f".{os.getpid()}.partial")
    # The quantizer advises "pre-processing" on the root logger; its shape inference cannot follow
    # this graph, and the model quantizes well without it.
    advice = _Dropping("pre-processing before quantization")
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(
            exact,
            partial,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=seven_bit,
            op_types_to_quantize=["MatMul"],  # the projections; attention's own products stay exact
        )
    finally:
        logging.getLogger().removeFilter(advice)
    partial.replace(path)
    log.info("quantized the query encoder to 8-bit weights: %s", path)


class _Dropping(logging.Filter):
    """Drops log records that contain a phrase."""

    def __init__(self, phrase: str) -> None:
        super().__init__()
        self.phrase = phrase

    def filter(self, record: logging.LogRecord) -> bool:
        return self.phrase not in record.getMessage()


def _hub_commit(model: object) -> str | None:
    card = getattr(model, "model_card_data", None)
    return getattr(card, "base_model_revision", None) if card else None


@embedder_registry.register(EMBEDDER_NAME)
def _sentence_transformers(settings: Settings) -> SentenceTransformerEmbedder:
    embedder = SentenceTransformerEmbedder(
        settings.embedder_model,
        device=settings.device,
        batch_size=settings.embed_batch_size,
        runtime=settings.embedder_runtime,
        onnx_dir=onnx_directory(settings),
        query_precision=settings.query_precision,
    )
    # Indexing, reindexing and the first search of a data folder all come here: later searches with
    # these settings start without torch.
    embedder.describe_query_encoder(settings)
    return embedder
