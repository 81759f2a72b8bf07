"""Image-text embedders: CLIP and SigLIP through transformers, frames and text queries in one space.

A model is given by local folder (loaded with local_files_only) or hub id, with the family's base
model as the default (`openai/clip-vit-base-patch32`, `google/siglip-base-patch16-224`). Frames go
through the model's own image processor on its PIL backend (transformers' "slow" processors: no
torchvision), texts through its tokenizer as the model was trained (CLIP: padded to the longest, EOS
pooling inside the model; SigLIP: padded to max_length, no attention mask), then the model's own
`get_image_features` / `get_text_features`, L2-normalised.

On a CPU both towers run on ONNX Runtime: each is exported once into `<data_dir>/models/onnx/`, keyed
by the model's fingerprint and the torch version, as the text embedder's query encoder is; a failed
export leaves that tower on torch, with a warning. Once both towers are exported the torch weights are
not even loaded again."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vidsearch.config import Settings
from vidsearch.errors import ConfigError, ModelError, ModelNotFoundError
from vidsearch.models.base import ImageTextEmbedder, ModelSpec, image_text_embedders
from vidsearch.models.device import cpu_threads, resolve_device
from vidsearch.models.embedders import _quantize
from vidsearch.models.query_encoder import x86_without_vnni
from vidsearch.models.resolve import resolve

log = logging.getLogger(__name__)

IMAGE = "image"
TEXT = "text"


@dataclass(frozen=True)
class Family:
    """What differs between CLIP and SigLIP for this adapter."""

    name: str  # the registry name users type in VIDSEARCH_VISUAL_EMBEDDER
    model_type: str  # config.model_type of its checkpoints
    model_class: str  # the transformers class that loads them
    default_model: str  # the hub id used when no model is given
    # Texts are padded as the model was trained: CLIP to the longest text (its causal mask and EOS
    # pooling make padding irrelevant); SigLIP to max_length, with no attention mask, because its
    # text tower pools the last position and attended to the padding during training.
    pad_to_max_length: bool
    text_inputs: tuple[str, ...]
    dimension: Callable[[Any], int]  # the shared space's dimension, from the model's config


CLIP = Family(
    name="clip",
    model_type="clip",
    model_class="CLIPModel",
    default_model="openai/clip-vit-base-patch32",
    pad_to_max_length=False,
    text_inputs=("input_ids", "attention_mask"),
    dimension=lambda config: int(config.projection_dim),
)
SIGLIP = Family(
    name="siglip",
    model_type="siglip",
    model_class="SiglipModel",
    default_model="google/siglip-base-patch16-224",
    pad_to_max_length=True,
    text_inputs=("input_ids",),
    # The vision tower's attention-pooling head outputs its hidden size; the text head projects to it.
    dimension=lambda config: int(config.vision_config.hidden_size),
)
FAMILIES = {family.name: family for family in (CLIP, SIGLIP)}


def _pil_processor_option() -> dict[str, Any]:
    """The argument that picks the PIL ("slow") image processor: transformers 5 names the backend
    (`use_fast` is deprecated there), 4.x takes `use_fast=False`. Neither needs torchvision."""
    if importlib.util.find_spec("transformers.image_processing_backends") is not None:
        return {"backend": "pil"}
    return {"use_fast": False}


def _features(output: Any) -> Any:
    """`get_*_features` returns the projected embeddings as a tensor in transformers 4.x, and as a
    model output whose `pooler_output` holds them in 5.x."""
    return output if hasattr(output, "dim") else output.pooler_output


class TransformersImageTextEmbedder:
    """A CLIP or SigLIP checkpoint as an ImageTextEmbedder.

    `embed_images` takes RGB frames (H, W, 3 uint8) of any size, `batch_size` at a time; on ONNX
    Runtime it uses `threads` threads (0: one per core), since frames are embedded in bulk while
    indexing. `embed_texts` runs on one thread: it embeds queries, and a server answers one query per
    core at a time. With `precision="int8"` both towers' matrix products run on 8-bit weights (ONNX
    Runtime only); the spec records it, because it changes the stored frame vectors."""

    def __init__(
        self,
        model: str = "",
        *,
        family: str = "clip",
        device: str = "auto",
        runtime: str = "auto",
        onnx_dir: Path | None = None,
        batch_size: int = 8,
        threads: int = 0,
        precision: str = "fp32",
    ) -> None:
        if family not in FAMILIES:
            raise ConfigError(f"unknown image-text family {family!r}; known: {', '.join(FAMILIES)}")
        if precision not in ("fp32", "int8"):
            raise ConfigError(f"image-text precision must be fp32 or int8, not {precision!r}")
        self.family = FAMILIES[family]
        self.device = resolve_device(device)
        self.batch_size = batch_size
        resolved = resolve(model or self.family.default_model)
        self._location, self._local = resolved.location, resolved.is_local
        config = self._load_config()
        self._image_processor, self._tokenizer = self._load_processors()
        self._max_length = int(config.text_config.max_position_embeddings)
        revision = resolved.revision if self._local else str(getattr(config, "_commit_hash", None) or "hub")
        exact = ModelSpec(
            kind="image-text embedder",
            name=self.family.name,
            model_id=resolved.model_id,
            revision=revision,
            dimension=self.family.dimension(config),
            settings={
                "normalized": True,
                "image_size": int(config.vision_config.image_size),
                "text_max_length": self._max_length,
                "text_padding": "max_length" if self.family.pad_to_max_length else "longest",
                "precision": "fp32",
            },
        )
        # ONNX files are keyed by the exact model; int8 ones are derived from them.
        self.spec = (
            exact if precision == "fp32" else replace(exact, settings={**exact.settings, "precision": precision})
        )
        self._model: Any = None
        self._sessions: dict[str, _TowerSession] = {}
        if runtime == "onnx" or (runtime == "auto" and self.device == "cpu"):
            if onnx_dir is None:
                log.warning("image-text model %s stays on torch: no folder for its ONNX export", exact.model_id)
            else:
                self._sessions = self._onnx_towers(exact, onnx_dir, int8=precision == "int8", threads=threads)
        elif precision == "int8":
            raise ConfigError("int8 image-text embedding runs on ONNX Runtime only: set the runtime to auto or onnx")
        if precision == "int8" and IMAGE not in self._sessions:
            log.warning(
                "image-text model %s embeds frames exactly: its int8 image tower is unavailable", exact.model_id
            )
            self.spec = exact  # the stored vectors are the exact ones, and say so
        if len(self._sessions) == 2:
            self._model = None  # exported: ONNX Runtime holds its own copy of the weights
        else:
            self._torch_model()
        log.info(
            "image-text embedder %s (%s), %d dims, images on %s, texts on %s",
            self.spec.model_id,
            revision,
            self.spec.dimension,
            "onnx" if IMAGE in self._sessions else self.device,
            "onnx" if TEXT in self._sessions else self.device,
        )

    # Loading.

    def _load_config(self) -> Any:
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(self._location, local_files_only=self._local)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(
                f"cannot load image-text model {self._location!r}: {exc}. Give a local folder saved by "
                f"transformers, or a hub id that is cached or reachable (e.g. {self.family.default_model})."
            ) from exc
        if config.model_type != self.family.model_type:
            other = next((f.name for f in FAMILIES.values() if f.model_type == config.model_type), None)
            hint = f"set the visual embedder to {other!r}" if other else "CLIP and SigLIP checkpoints are supported"
            raise ConfigError(
                f"{self._location!r} is a {config.model_type!r} model, not a {self.family.name} one: {hint}"
            )
        return config

    def _load_processors(self) -> tuple[Any, Any]:
        from transformers import AutoImageProcessor, AutoTokenizer

        try:
            images = AutoImageProcessor.from_pretrained(
                self._location, local_files_only=self._local, **_pil_processor_option()
            )
            tokenizer = AutoTokenizer.from_pretrained(self._location, local_files_only=self._local)
        except ImportError as exc:  # SigLIP's SentencePiece tokenizer without the sentencepiece package
            raise ModelError(
                f"cannot build the tokenizer of {self._location!r}: {exc}. pip install sentencepiece"
            ) from exc
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(
                f"cannot load the image processor or tokenizer of {self._location!r}: {exc}"
            ) from exc
        return images, tokenizer

    def _torch_model(self) -> Any:
        if self._model is None:
            import transformers

            model_class = getattr(transformers, self.family.model_class)
            try:
                model = model_class.from_pretrained(self._location, local_files_only=self._local)
            except (OSError, ValueError) as exc:
                raise ModelNotFoundError(f"cannot load image-text model {self._location!r}: {exc}") from exc
            self._model = model.to(self.device).eval()
        return self._model

    def _onnx_towers(self, exact: ModelSpec, directory: Path, *, int8: bool, threads: int) -> dict[str, _TowerSession]:
        """Both towers on ONNX Runtime, each exported on first use (and quantized with `int8`); a tower
        whose export fails stays on torch."""
        import torch

        sessions: dict[str, _TowerSession] = {}
        seven_bit = int8 and x86_without_vnni()
        for tower in (IMAGE, TEXT):
            path = directory / f"{exact.fingerprint}-{tower}-torch{torch.__version__}.onnx"
            try:
                if not path.exists():
                    self._export(tower, path)
                if int8:
                    exact_path, path = path, path.with_name(f"{path.stem}-int8w{7 if seven_bit else 8}.onnx")
                    if not path.exists():
                        _quantize(exact_path, path, seven_bit)
                sessions[tower] = _TowerSession(path, threads=cpu_threads(threads) if tower == IMAGE else 1)
            except Exception as exc:  # a faster path only: torch gives the same vectors
                log.warning("the %s tower of %s stays on torch: its ONNX export failed: %s", tower, exact.model_id, exc)
        return sessions

    def _export(self, tower: str, path: Path) -> None:
        import torch

        model = self._torch_model()
        if tower == IMAGE:
            module = _tower(model, IMAGE, ())
            sample = self._pixels([np.zeros((64, 64, 3), dtype=np.uint8)])
            names = ["pixel_values"]
            inputs: tuple[torch.Tensor, ...] = (torch.from_numpy(sample).to(self.device),)
            axes = {"pixel_values": {0: "batch"}}
        else:
            module = _tower(model, TEXT, self.family.text_inputs)
            batch = self._tokens(["an example query", "a second, longer example query"])
            names = list(self.family.text_inputs)
            inputs = tuple(torch.from_numpy(batch[n]).to(self.device) for n in names)
            axes = {n: {0: "batch", 1: "tokens"} for n in names}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it takes as constants
            torch.onnx.export(
                module.eval(),
                inputs,
                str(partial),
                input_names=names,
                output_names=["embedding"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        partial.replace(path)  # processes exporting at once: the last rename wins, all equal
        log.info("exported the %s tower of %s to ONNX: %s", tower, self.spec.model_id, path)

    # Inputs.

    def _pixels(self, images: Sequence[np.ndarray]) -> np.ndarray:
        frames = [np.asarray(image) for image in images]
        for frame in frames:
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise ValueError(f"frames must be RGB (H, W, 3) uint8 arrays, not {frame.dtype} {frame.shape}")
        batch = self._image_processor(images=frames, return_tensors="np", input_data_format="channels_last")
        return np.ascontiguousarray(batch["pixel_values"], dtype=np.float32)

    def _tokens(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        batch = self._tokenizer(
            list(texts),
            padding="max_length" if self.family.pad_to_max_length else True,
            truncation=True,
            max_length=self._max_length,
            return_tensors="np",
        )
        return {name: np.asarray(batch[name], dtype=np.int64) for name in self.family.text_inputs}

    # Embedding.

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        out = [
            self._run(IMAGE, {"pixel_values": self._pixels(images[i : i + self.batch_size])})
            for i in range(0, len(images), self.batch_size)
        ]
        return self._stack(out)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = [self._run(TEXT, self._tokens(texts[i : i + 64])) for i in range(0, len(texts), 64)]
        return self._stack(out)

    def _run(self, tower: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        session = self._sessions.get(tower)
        if session is not None:
            return session.run(feeds)
        import torch

        model = self._torch_model()
        module = _tower(model, tower, self.family.text_inputs)
        with torch.inference_mode():
            vectors = module(*(torch.from_numpy(array).to(self.device) for array in feeds.values()))
        return vectors.float().cpu().numpy()

    def _stack(self, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.zeros((0, self.spec.dimension or 0), dtype=np.float32)
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


@functools.cache
def _tower_classes() -> tuple[type, type]:
    """The two towers as torch modules, defined on first use: torch loads only when a model does."""
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model  # a submodule, so its weights export as weights

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            features = _features(self.model.get_image_features(pixel_values=pixel_values))
            return torch.nn.functional.normalize(features, dim=-1)

    class TextTower(torch.nn.Module):
        def __init__(self, model: Any, names: Sequence[str]) -> None:
            super().__init__()
            self.model = model
            self.names = list(names)

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            given = dict(zip(self.names, inputs, strict=True))
            return torch.nn.functional.normalize(_features(self.model.get_text_features(**given)), dim=-1)

    return ImageTower, TextTower


def _tower(model: Any, tower: str, text_inputs: Sequence[str]) -> Any:
    """One tower of `model` as a module: input arrays in, L2-normalised embeddings out."""
    image_tower, text_tower = _tower_classes()
    return image_tower(model) if tower == IMAGE else text_tower(model, text_inputs)


class _TowerSession:
    """One exported tower on ONNX Runtime's CPU provider."""

    def __init__(self, path: Path, *, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        [vectors] = self._session.run(None, {name: feeds[name] for name in self._inputs})
        return np.asarray(vectors, dtype=np.float32)


def _from_settings(family: str, settings: Settings) -> ImageTextEmbedder:
    return TransformersImageTextEmbedder(
        settings.visual_embedder_model,
        family=family,
        device=settings.device,
        runtime=settings.visual_embedder_runtime,
        onnx_dir=settings.data_dir / "models" / "onnx",
        batch_size=settings.visual_embed_batch_size,
        threads=settings.threads,
        precision=settings.visual_embedder_precision,
    )


@image_text_embedders.register("clip")
def _clip(settings: Settings) -> ImageTextEmbedder:
    return _from_settings("clip", settings)


@image_text_embedders.register("siglip")
def _siglip(settings: Settings) -> ImageTextEmbedder:
    return _from_settings("siglip", settings)
