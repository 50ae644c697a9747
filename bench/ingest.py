"""Feature-pipeline benchmarks (not tests). Every figure is measured side by side in one run.

1. pipeline chunks/s / the bare embedder's chunks/s on the same chunks (goal >= 0.85); and both
   against a bare SentenceTransformer.encode (torch), what the embedder ran before ONNX Runtime
2. search p50/p99 at 100,000 chunks, embedding excluded: Qdrant Edge vs qdrant-client local mode
   (goal: Edge p99 <= 5 ms and >= 100x faster)
3. hit@3 of hybrid vs dense-only (and sparse-only, and each fusion) on bench/questions.jsonl
4. formats and filings (bench/documents.py): throughput per format, and passage retrieval on
   real SEC filings: before, with table-aware chunking, with the fleet's title rules too, and
   with each question searched as the assistant searches it (the fleet's glossary)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from microfleet.config import Settings
from microfleet.features.ingest import load_context, run_ingest
from microfleet.features.pipeline import embedding_input
from microfleet.features.sources import resolve_inputs
from microfleet.knowledge.store import ChunkPoint, Fusion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from report import print_report  # noqa: E402

CORPUS = REPO / "fleets" / "finance" / "corpus"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bench_throughput(
    work: Path, copies: int, models_dir: Path, rounds: int = 2
) -> dict[str, float]:
    """Same documents, same chunks: the whole pipeline against a bare encode() of its inputs."""
    from microfleet.documents.parse import RawRecord, parse_record

    docs = [json.loads(line) for line in (CORPUS / "news.jsonl").read_text().splitlines()]
    vat = parse_record(RawRecord(ref="v", path=CORPUS / "vat_rates_eu.md"), 10**7)
    docs.append({"id": "vat", "title": vat.title, "text": vat.text})
    corpus = work / "bench_corpus.jsonl"
    with corpus.open("w") as fh:
        for c in range(copies):
            for d in docs:
                fh.write(
                    json.dumps({**d, "id": f"{d['id']}#{c}", "text": f"(Copy {c}.) {d['text']}"})
                    + "\n"
                )
    settings = Settings(home=work / "home", models_dir=models_dir)
    ctx = load_context(settings)
    ctx.store.close()
    lines = [json.loads(line) for line in corpus.read_text().splitlines()]
    from microfleet.documents.schema import Document

    inputs = []
    for d in lines:
        doc = Document.model_validate(d)
        inputs.extend(embedding_input(doc, ch) for ch in ctx.chunker.chunk_document(doc))
    ctx.embedder.embed(inputs[:64])  # warm up both paths alike
    log(
        f"throughput: {len(lines)} documents, {len(inputs)} chunks, "
        f"best of {rounds} alternating rounds"
    )
    bare, torch, pipeline = [], [], []
    for r in range(rounds):
        t0 = time.perf_counter()
        ctx.embedder.embed(inputs)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ctx.embedder.model.encode(
            inputs,
            batch_size=settings.embed_batch_size,  # type: ignore[attr-defined]
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        torch.append(time.perf_counter() - t0)
        fresh = Settings(home=work / f"home{r}", models_dir=models_dir)
        round_ctx = load_context(fresh)  # a new, empty shard: every round writes everything
        t0 = time.perf_counter()
        stats = run_ingest(resolve_inputs([str(corpus)]), fresh, round_ctx).stats
        pipeline.append(time.perf_counter() - t0)
        round_ctx.store.close()
        assert stats.chunks == len(inputs), (stats.chunks, len(inputs))
    best_bare, best_pipeline = len(inputs) / min(bare), len(inputs) / min(pipeline)
    best_torch = len(inputs) / min(torch)
    return {
        "chunks": len(inputs),
        "bare_chunks_per_s": best_bare,
        "pipeline_chunks_per_s": best_pipeline,
        "ratio": best_pipeline / best_bare,
        "bare_torch_encode_chunks_per_s": best_torch,
        "pipeline_over_torch_encode": best_pipeline / best_torch,
    }


def _synthetic_points(n: int, dim: int, seed: int) -> list[ChunkPoint]:
    from microfleet.knowledge.sparse import Bm25Encoder

    rng = np.random.default_rng(seed)
    vocab = [f"term{i}" for i in range(5000)]
    bm25 = Bm25Encoder()
    dense = rng.standard_normal((n, dim)).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    points = []
    for i in range(n):
        words = " ".join(vocab[j] for j in rng.zipf(1.3, 40) % len(vocab))
        sparse = bm25.embed_documents([words])[0]
        points.append(
            ChunkPoint(
                f"00000000-0000-0000-0000-{i:012d}",
                dense[i].tolist(),
                sparse,
                {"doc_id": f"d{i}", "chunk_index": 0, "text": words[:80]},
            )
        )
    return points


def _latencies(
    store: object, queries: list[tuple[list[float], object]], k: int
) -> tuple[float, float]:
    times = []
    for dense, sparse in queries:
        t0 = time.perf_counter()
        store.query(dense, sparse, k, fusion=Fusion())  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def bench_search(work: Path, n: int, n_queries: int) -> dict[str, float]:
    from qdrant_client import QdrantClient

    from microfleet.knowledge.edge import EdgeVectorStore
    from microfleet.knowledge.remote import QdrantServerStore
    from microfleet.knowledge.sparse import Bm25Encoder

    log(f"search: building {n} synthetic points (random 384-d vectors, BM25 of zipf text)")
    points = _synthetic_points(n, 384, seed=1)
    rng = np.random.default_rng(2)
    bm25 = Bm25Encoder()
    queries = []
    for _ in range(n_queries):
        q = rng.standard_normal(384).astype(np.float32)
        words = " ".join(f"term{j % 5000}" for j in rng.zipf(1.3, 4))
        queries.append(((q / np.linalg.norm(q)).tolist(), bm25.embed_query(words)))
    edge = EdgeVectorStore(work / "edge_shard", 384)
    t0 = time.perf_counter()
    for i in range(0, n, 2000):
        edge.upsert(points[i : i + 2000])
    upsert_edge = time.perf_counter() - t0
    log(f"search: edge upsert {n / upsert_edge:,.0f} points/s; building HNSW (optimize)...")
    t0 = time.perf_counter()
    edge.optimize()
    optimize_s = time.perf_counter() - t0
    _latencies(edge, queries[:20], 5)
    edge_p50, edge_p99 = _latencies(edge, queries, 5)
    edge.close()
    log("search: qdrant-client local mode (in memory) upsert + queries...")
    local = QdrantServerStore(QdrantClient(":memory:"), "bench", 384)
    t0 = time.perf_counter()
    for i in range(0, n, 2000):
        local.upsert(points[i : i + 2000])
    upsert_local = time.perf_counter() - t0
    local_p50, local_p99 = _latencies(local, queries, 5)
    return {
        "points": n,
        "queries": n_queries,
        "edge_upsert_per_s": n / upsert_edge,
        "edge_optimize_s": optimize_s,
        "local_upsert_per_s": n / upsert_local,
        "edge_p50_ms": edge_p50,
        "edge_p99_ms": edge_p99,
        "local_p50_ms": local_p50,
        "local_p99_ms": local_p99,
        "speedup_p50": local_p50 / edge_p50,
        "speedup_p99": local_p99 / edge_p99,
    }


def bench_quality(work: Path, models_dir: Path) -> dict[str, float]:
    from microfleet.knowledge.search import KnowledgeSearch

    os.chdir(REPO)  # file ids are paths relative to the working directory
    settings = Settings(home=work / "quality_home", models_dir=models_dir)
    ctx = load_context(settings)
    run_ingest(resolve_inputs([str(CORPUS.relative_to(REPO))]), settings, ctx)
    questions = [
        json.loads(line) for line in (REPO / "bench" / "questions.jsonl").read_text().splitlines()
    ]
    variants: dict[str, tuple[str, Fusion]] = {
        "dense": ("dense", Fusion()),
        "sparse": ("sparse", Fusion()),
        "hybrid_rrf": ("hybrid", Fusion("rrf")),
        "hybrid_weighted_rrf_dense2": ("hybrid", Fusion("weighted_rrf", weights=(2.0, 1.0))),
        "hybrid_weighted_rrf_sparse2": ("hybrid", Fusion("weighted_rrf", weights=(1.0, 2.0))),
        "hybrid_dbsf": ("hybrid", Fusion("dbsf")),
    }
    results = {}
    for name, (mode, fusion) in variants.items():
        search = KnowledgeSearch(ctx.store, ctx.embedder, ctx.sparse, fusion)
        ranks = []
        for q in questions:
            found = [h.doc_id for h in search.search(q["question"], k=10, mode=mode)]  # type: ignore[arg-type]
            wanted = q.get("doc_ids") or [q["doc_id"]]
            positions = [found.index(d) + 1 for d in wanted if d in found]
            ranks.append(min(positions) if positions else None)
        results[f"{name}_hit@1"] = sum(r == 1 for r in ranks) / len(ranks)
        results[f"{name}_hit@3"] = sum(r is not None and r <= 3 for r in ranks) / len(ranks)
        results[f"{name}_mrr@10"] = sum(1 / r for r in ranks if r) / len(ranks)
    results["questions"] = len(questions)
    ctx.store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--copies", type=int, default=12, help="copies of the corpus for throughput"
    )
    parser.add_argument(
        "--points", type=int, default=100_000, help="points for the search benchmark"
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-search", action="store_true", help="skip the 100k-point benchmark")
    parser.add_argument("--format-copies", type=int, default=20, help="files of each format")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="microfleet-bench-") as tmp:
        work = Path(tmp)
        models = work / "models"
        report: dict[str, dict[str, float]] = {"quality": bench_quality(work, models)}
        report["throughput"] = bench_throughput(work, args.copies, models)
        if not args.skip_search:
            report["search"] = bench_search(work, args.points, args.queries)
        from documents import bench_filings, bench_formats

        report["formats"] = bench_formats(work, models, args.format_copies)
        report["filings"] = bench_filings(work, models)
    print_report(report, args.json)


if __name__ == "__main__":
    main()
