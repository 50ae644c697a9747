"""MiniLM on ONNX Runtime: the same vectors as torch, the graph exported once and kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from microfleet.knowledge.embedding import SentenceTransformerEmbedder, bundled_minilm_path

TEXTS = [
    "What is the standard VAT rate in Germany?",
    "hi",
    "Österreich: Mehrwertsteuer 20 % (€)",
    "A long passage about tax. " * 120,  # past the model's 256 tokens: truncated alike
    *[f"Passage {i} on rates " * (i % 7 + 1) for i in range(40)],  # batches with padding
]


def test_onnx_vectors_are_torch_vectors(tmp_path: Path) -> None:
    path = bundled_minilm_path()
    onnx = SentenceTransformerEmbedder(path, batch_size=16, runtime="onnx", cache=tmp_path)
    torch = SentenceTransformerEmbedder(path, batch_size=16, runtime="torch")
    assert onnx.onnx is not None and torch.onnx is None
    ours, theirs = onnx.embed(TEXTS), torch.embed(TEXTS)
    assert ours.shape == theirs.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_the_export_is_kept_and_reused(tmp_path: Path) -> None:
    path = bundled_minilm_path()
    SentenceTransformerEmbedder(path, runtime="onnx", cache=tmp_path)
    graphs = list(tmp_path.glob("*.onnx"))
    assert len(graphs) == 1 and not list(tmp_path.glob("*.part"))
    assert graphs[0].stat().st_mode & 0o044  # others may read it, as the rest of the dir
    kept = graphs[0].stat().st_mtime_ns
    again = SentenceTransformerEmbedder(path, runtime="onnx", cache=tmp_path)
    assert graphs[0].stat().st_mtime_ns == kept  # read, not exported again
    assert again.embed(["VAT"]).shape == (1, 384)


def test_an_unusable_cache_falls_back_to_torch(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache folder would be")
    embedder = SentenceTransformerEmbedder(bundled_minilm_path(), runtime="onnx", cache=blocked)
    assert embedder.onnx is None  # a warning in the log; the vectors come from torch
    assert embedder.embed(["VAT"]).shape == (1, 384)
