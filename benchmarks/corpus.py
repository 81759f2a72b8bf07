"""Real English text for the scale benchmarks, without downloading anything.

- The dev set's moment descriptions and queries (cooking: `../shared/eval`).
- The sentences of the docstrings of the Python packages installed beside vidsearch: about 120k
  distinct ones in its test environment, on every subject those packages cover, with the long tail of
  rare words a real archive's speech and on-screen text has (a library built from the dev set alone
  repeats each of its 3,123 sentences hundreds of times at scale).

Sentence vectors come from the packaged MiniLM and are cached under benchmarks/results/."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np


def _eval_dir() -> Path:
    """`shared/eval` beside the checkout, or beside a folder above it (a git worktree kept deeper)."""
    checkout = Path(__file__).resolve().parents[1]
    for folder in checkout.parents:
        if (folder / "shared" / "eval").is_dir():
            return folder / "shared" / "eval"
    return checkout.parent / "shared" / "eval"


EVAL_DIR = _eval_dir()
RESULTS = Path(__file__).resolve().parent / "results"
_CODE = re.compile(r"[{}<>=_\[\]()`]|\bself\b|::|>>>")


def eval_texts(name: str, field: str) -> list[str]:
    with open(EVAL_DIR / name, encoding="utf-8") as f:
        return [json.loads(line)[field] for line in f if line.strip()]


def docstring_sentences() -> list[str]:
    """Sentences of the installed packages' docstrings, in a stable order."""
    site = Path(faiss.__file__).resolve().parents[1]
    found: set[str] = set()
    for path in sorted(site.rglob("*.py")):
        source = path.read_text(errors="ignore")
        for block in re.findall(r'"""(.*?)"""', source, re.S):
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(block.split())):
                if 30 <= len(sentence) <= 200 and re.match(r"[A-Z][a-z]", sentence) and not _CODE.search(sentence):
                    found.add(sentence)
    return sorted(found)


@dataclass
class Sentences:
    texts: list[str]
    vectors: np.ndarray  # one L2-normalised MiniLM vector per text


def embedded(name: str, texts: list[str]) -> Sentences:
    """The texts with their vectors, embedded once and cached (again when the texts change)."""
    cache = RESULTS / f"{name}_minilm.npz"
    if cache.exists():
        stored = np.load(cache, allow_pickle=False)
        if stored["texts"].tolist() == texts:
            return Sentences(texts, stored["vectors"])
    from vidsearch.config import Settings
    from vidsearch.models.loader import ModelSet

    print(f"embedding {len(texts)} sentences once (cached in {cache})", flush=True)
    vectors = ModelSet(Settings()).embedder.embed(texts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, texts=np.array(texts), vectors=vectors)
    return Sentences(texts, vectors)


def split(sentences: Sentences, held_out: int, seed: int) -> tuple[Sentences, Sentences]:
    """(library pool, held-out queries): `held_out` sentences chosen at random never enter the library."""
    order = np.random.default_rng(seed).permutation(len(sentences.texts))
    out, kept = order[:held_out], order[held_out:]
    pick = lambda rows: Sentences([sentences.texts[i] for i in rows], sentences.vectors[rows])  # noqa: E731
    return pick(kept), pick(out)
