"""Queries embedded without torch: the sentence-transformers embedder's ONNX export, run by ONNX Runtime
and tokenised by the model's own Rust tokenizer, and nothing else.

The full embedder (`embedders.SentenceTransformerEmbedder`) loads the model with torch (seconds, and
~400 MB) and, on a CPU, exports it once to ONNX for short inputs. Beside that export it writes a
descriptor: what the export was made for (the configured model and query precision), what it is (the
embedder's ModelSpec, the resolved model's location and revision, the versions of torch, transformers
and sentence-transformers), the tokenizer as the model's own call sets it up, the export saved again
with its weights in a file of their own (which ONNX Runtime maps instead of parsing), and a checksum of
each file. A later process whose settings the descriptor matches builds the query encoder from those
files alone: a one-shot `vidsearch search` starts in a fraction of a second instead of ten, with the
same vectors.

Anything that does not match (the configured model, the packaged model's version or a local folder's
contents, a library's version, the CPU's 8-bit support, a file's checksum, the format) sends the caller to
the full loader, which writes the descriptor afresh. This module imports neither torch nor
transformers; it must stay so (tests/test_cli.py checks the search command's imports)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from vidsearch.config import Settings, fingerprint
from vidsearch.errors import VidsearchError
from vidsearch.models.base import Embedder, ModelSpec
from vidsearch.models.resolve import PACKAGED_EMBEDDER, ResolvedModel, resolve

log = logging.getLogger(__name__)

# Up to this many texts go through ONNX Runtime (a query, a few); bulk batches stay on torch.
ONNX_MAX_TEXTS = 8
EMBEDDER_NAME = "sentence-transformers"  # the registry name whose exports this module reads
FORMAT = 1  # of the descriptor; another value is stale
INPUT_NAMES = frozenset({"input_ids", "attention_mask", "token_type_ids"})
_FULL_LOADER_LIBRARIES = ("torch", "transformers", "sentence-transformers")


def onnx_directory(settings: Settings) -> Path:
    """Where the query encoder's files live: the data folder's model cache."""
    return settings.data_dir / "models" / "onnx"


def descriptor_path(directory: Path, embedder_model: str, query_precision: str) -> Path:
    """The descriptor for one configuration (the model as configured, and the query precision)."""
    key = fingerprint({"embedder": EMBEDDER_NAME, "embedder_model": embedder_model, "precision": query_precision})
    return directory / f"query-{key}.json"


def onnx_session(path: Path) -> Any:
    """An ONNX Runtime session on one thread: a server answers many queries at once, one per core."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, inputs: Sequence[str], tokenizer: Any, texts: Sequence[str]) -> np.ndarray:
    """Normalised vectors of the texts: the Rust tokenizer (truncating and padding as the model's own
    call does) feeding the exported network (transformer, mean pooling, normalisation)."""
    encodings = tokenizer.encode_batch(list(texts))
    columns = {
        "input_ids": [e.ids for e in encodings],
        "attention_mask": [e.attention_mask for e in encodings],
        "token_type_ids": [e.type_ids for e in encodings],
    }
    feeds = {name: np.array(columns[name], dtype=np.int64) for name in inputs}
    [vectors] = session.run(None, feeds)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def x86_without_vnni() -> bool:
    """An x86 CPU lacking the VNNI dot-product instructions (from /proc/cpuinfo; elsewhere: assume so
    on x86, the safe side). Its 8-bit products can overflow, so its query weights get 7 bits."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return not any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def runs_queries_on_onnx(settings: Settings) -> bool:
    """Whether the full embedder would embed queries on ONNX Runtime with these settings, decided
    without torch: "onnx" always; "auto" on a CPU, and with device "auto" where no NVIDIA GPU shows
    (torch would look for CUDA; where it finds none though a GPU shows, the full loader runs and still
    picks ONNX: slower to start, the same vectors)."""
    if settings.embedder != EMBEDDER_NAME or settings.embedder_runtime == "torch":
        return False
    if settings.embedder_runtime == "onnx" or settings.device == "cpu":
        return True
    return settings.device == "auto" and not _nvidia_gpu_visible()


def _nvidia_gpu_visible() -> bool:
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia/gpus").exists()


class QueryEncoder:
    """The Embedder for queries, built from an export's descriptor without torch. Up to ONNX_MAX_TEXTS
    texts run on ONNX Runtime exactly as the full embedder runs them; more (an extractive answer's
    sentences) go to the full embedder, loaded on first need by `full`."""

    def __init__(
        self, spec: ModelSpec, session: Any, inputs: Sequence[str], tokenizer: Any, full: Callable[[], Embedder]
    ) -> None:
        self.spec = spec
        self._session = session
        self._inputs = list(inputs)
        self._tokenizer = tokenizer
        self._full = full

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.spec.dimension or 0), dtype=np.float32)
        if len(texts) > ONNX_MAX_TEXTS:
            return self._full().embed(texts)
        return run_onnx(self._session, self._inputs, self._tokenizer, texts)


class StaleDescriptor(Exception):
    """The descriptor does not describe what the full loader would load now."""


def load_query_encoder(settings: Settings, full: Callable[[], Embedder]) -> QueryEncoder | None:
    """The query encoder these settings' descriptor describes, or None (then the full embedder serves
    queries): no descriptor, or one that is stale or broken."""
    if not runs_queries_on_onnx(settings):
        return None
    path = descriptor_path(onnx_directory(settings), settings.embedder_model, settings.query_precision)
    if not path.exists():
        log.info("no query encoder descriptor at %s: loading the embedder with torch", path)
        return None
    try:
        return _load(path, settings, full)
    except StaleDescriptor as exc:
        log.info("the query encoder descriptor %s is stale (%s): loading the embedder with torch", path, exc)
    except (OSError, ValueError, KeyError, TypeError, VidsearchError) as exc:
        log.warning("the query encoder descriptor %s is unreadable (%s): loading the embedder with torch", path, exc)
    except Exception as exc:  # ONNX Runtime or the tokenizer refusing a file: the full loader still works
        log.warning("cannot build the query encoder from %s (%s): loading the embedder with torch", path, exc)
    return None


def _load(path: Path, settings: Settings, full: Callable[[], Embedder]) -> QueryEncoder:
    described = json.loads(path.read_text())
    if described.get("format") != FORMAT:
        raise StaleDescriptor(f"format {described.get('format')!r}, this vidsearch reads {FORMAT}")
    made_for = {"embedder_model": settings.embedder_model, "query_precision": settings.query_precision}
    if described["made_for"] != made_for:
        raise StaleDescriptor(f"made for {described['made_for']}, configured {made_for}")
    resolved = resolve(settings.embedder_model, PACKAGED_EMBEDDER)
    if not resolved.is_local or _model_identity(resolved) != described["model"]:
        raise StaleDescriptor(f"made from {described['model']}, the model is now {_model_identity(resolved)}")
    installed = _library_versions()
    if described["libraries"] != installed:
        raise StaleDescriptor(f"made under {described['libraries']}, installed now: {installed}")
    if described["reduce_range"] != (settings.query_precision == "int8" and x86_without_vnni()):
        raise StaleDescriptor("quantized for another CPU's 8-bit instructions")
    directory = path.parent
    onnx_file = _checked(directory, described["onnx"])
    weights_file = _checked(directory, described["onnx_weights"])
    if weights_file.name != f"{onnx_file.name}.data":
        raise ValueError(f"{onnx_file.name} is described with the weights of another file")
    tokenizer_file = _checked(directory, described["tokenizer"])
    inputs = list(described["inputs"])
    if not inputs or not set(inputs) <= INPUT_NAMES:
        raise ValueError(f"inputs {inputs} are not the plain BERT-style ones")
    spec = ModelSpec(**described["spec"])
    if spec.kind != "embedder" or spec.name != EMBEDDER_NAME or not spec.dimension:
        raise ValueError(f"not a sentence-transformers embedder's spec: {described['spec']}")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    session = onnx_session(onnx_file)
    if [i.name for i in session.get_inputs()] != inputs:
        raise ValueError(f"{onnx_file.name} takes other inputs than the descriptor says")
    log.info("query encoder for %s (%s) from %s, without torch", spec.model_id, spec.revision, onnx_file.name)
    return QueryEncoder(spec, session, inputs, tokenizer, full)


def _checked(directory: Path, entry: dict[str, Any]) -> Path:
    """A file the descriptor names, in its folder, with the size and checksum it recorded; the checksum
    is computed only where the file is no longer the one described (another inode or modification
    time: rewritten, replaced, copied), which spares a start reading the 58 MB model whole."""
    name = str(entry["file"])
    if Path(name).name != name:
        raise ValueError(f"{name!r} is not a file name")
    path = directory / name
    stat = path.stat()
    if stat.st_size != entry["bytes"]:
        raise ValueError(f"{name} is not the size recorded")
    described = (stat.st_ino, stat.st_mtime_ns) == (entry.get("inode"), entry.get("mtime_ns"))
    if not described and _sha256(path) != entry["sha256"]:
        raise ValueError(f"{name} does not match its recorded checksum")
    return path


def write_descriptor(
    directory: Path,
    *,
    embedder_model: str,
    query_precision: str,
    resolved: ResolvedModel,
    spec: ModelSpec,
    onnx_file: Path,
    inputs: Sequence[str],
    tokenizer: Any,
    reduce_range: bool,
) -> Path:
    """Describe an export for one configuration, so a later process can load it without torch.

    The export is saved again beside the descriptor with its weights in a file of their own (ONNX's
    external data): ONNX Runtime maps such a file where it parses weights held inside the model's
    protobuf, and a session starts in half the time (the same graph and weights, the same vectors). It is
    saved once per export (named by the export's checksum), also when the export lives in another data
    folder (a model shared between them). Each file reaches its name by a rename, the descriptor last."""
    path = descriptor_path(directory, embedder_model, query_precision)
    directory.mkdir(parents=True, exist_ok=True)
    source = _sha256(onnx_file)
    stem = f"{path.stem}-{source[:12]}"
    graph, weights = directory / f"{stem}.onnx", directory / f"{stem}.onnx.data"
    if not (graph.exists() and weights.exists() and _describes(path, graph, weights)):
        _save_with_external_weights(onnx_file, graph, weights)
    for old in directory.glob(f"{path.stem}-*.onnx*"):  # saved from an earlier export
        if old not in (graph, weights):
            old.unlink(missing_ok=True)
    tokenizer_bytes = tokenizer.to_str().encode()
    tokenizer_file = path.with_suffix(".tokenizer.json")
    if not tokenizer_file.exists() or tokenizer_file.read_bytes() != tokenizer_bytes:
        _write_atomic(tokenizer_file, tokenizer_bytes)
    described = {
        "format": FORMAT,
        "made_for": {"embedder_model": embedder_model, "query_precision": query_precision},
        "model": _model_identity(resolved),
        "libraries": _library_versions(),
        "reduce_range": reduce_range,
        "spec": asdict(spec),
        "inputs": list(inputs),
        "export": {"file": onnx_file.name, "sha256": source},  # what the two files below were saved from
        "onnx": _entry(graph),
        "onnx_weights": _entry(weights),
        "tokenizer": _entry(tokenizer_file),
    }
    text = json.dumps(described, indent=2, sort_keys=True)
    if not path.exists() or path.read_text() != text:
        _write_atomic(path, text.encode())
        log.info("described the query encoder for loading without torch: %s", path)
    return path


def _describes(path: Path, graph: Path, weights: Path) -> bool:
    """Whether the descriptor at `path` already names these files as they are (a later full load of the
    same export: nothing to save again)."""
    try:
        described = json.loads(path.read_text())
        _checked(path.parent, described["onnx"])
        _checked(path.parent, described["onnx_weights"])
        return bool(described["onnx"]["file"] == graph.name and described["onnx_weights"]["file"] == weights.name)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _save_with_external_weights(source: Path, graph: Path, weights: Path) -> None:
    import onnx

    model = onnx.load(str(source))
    partial = Path(tempfile.mkdtemp(prefix=f".{graph.stem}-", suffix=".partial", dir=graph.parent))
    try:
        onnx.save_model(
            model,
            str(partial / graph.name),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=weights.name,  # beside the graph, by this name
            size_threshold=1024,
        )
        shutil.copymode(partial / graph.name, partial / weights.name)  # ONNX writes the weights owner-only
        (partial / weights.name).replace(weights)
        (partial / graph.name).replace(graph)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _library_versions() -> dict[str, str]:
    """The versions of the libraries the full loader would load and export with (torch names its ONNX
    file; transformers and sentence-transformers set up the tokenizer and pooling), read from their
    installed metadata: without importing them."""
    return {name: importlib.metadata.version(name) for name in _FULL_LOADER_LIBRARIES}


def _model_identity(resolved: ResolvedModel) -> dict[str, str]:
    return {"location": resolved.location, "model_id": resolved.model_id, "revision": resolved.revision}


def _entry(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {
        "file": path.name,
        "bytes": stat.st_size,
        "sha256": _sha256(path),
        "inode": stat.st_ino,
        "mtime_ns": stat.st_mtime_ns,
    }


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    # Several server workers may write at once: each its own temporary file, the last rename wins.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    partial.replace(path)
